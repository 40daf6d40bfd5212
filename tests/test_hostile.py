"""Hostile files, hostile paths, hostile timing, by class.

Each test hands gostarter something an attacker or an unlucky user would, and
asserts the documented exit code, one or two lines on stderr, no traceback,
nothing executed, nothing outside the project touched (and the project itself
unchanged where the command refused), and no process left.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import subprocess
import sys
import tarfile
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator import lifecycle, sources
from generator.errors import UsageError
from tests.helpers import (
    OWNER_MAIN,
    answers,
    assert_clean_error,
    commit_all,
    generate,
    git,
    gostarter,
    gostarter_process,
    release_1_1,
    snapshot,
)

ANSWERS = ".copier-answers.yml"


def work_tree(project: Path) -> dict[str, str]:
    """The project's files (not its repository's bookkeeping, which `git status` may refresh)."""
    return {name: digest for name, digest in snapshot(project).items() if not name.startswith(".git/")}


def set_answers(project: Path, **changes: object) -> None:
    """Rewrite the project's answers file with `changes` (None removes a key), and commit it."""
    data = answers(project)
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    (project / ANSWERS).write_text(yaml.safe_dump(data, allow_unicode=False), encoding="utf-8")
    if (project / ".git").exists():
        git(project, "commit", "-qam", "answers changed", "--allow-empty")


@pytest.fixture
def project(template_repo: Path, tmp_path: Path) -> Path:
    """A project of the 1.0.0 template, committed."""
    return generate(template_repo, tmp_path / "svc")


@pytest.fixture
def canary(tmp_path: Path) -> Iterator[Path]:
    """A file that only an executed payload would create."""
    path = tmp_path / "CANARY"
    yield path
    assert not path.exists(), "a value from a file was executed"


def payloads(canary: Path) -> list[str]:
    return [
        f"--upload-pack=touch {canary} #",
        f"--exec=touch {canary}",
        f"-u touch {canary}",
        f"ext::sh -c touch% {canary}",
        f"git+ext::sh -c touch% {canary}",
        f"fd::0,1/{canary}",
    ]


# ---------------------------------------------------------------- 1. values from files are data


@pytest.mark.parametrize("command", [("check",), ("update", "--dry-run", "--verify", "none")])
def test_an_answers_file_never_passes_options_or_transports_to_git(
    project: Path, canary: Path, command: tuple[str, ...]
) -> None:
    """A `_src_path` that git would read as an option or a command-running transport is refused
    before git runs: exit 2, one line, and the payload never runs (the project's repository has a
    local-path remote, which is what let `git ls-remote --upload-pack=...` run it before)."""
    git(project, "remote", "add", "origin", str(project))
    for payload in payloads(canary):
        set_answers(project, _src_path=payload)
        before = work_tree(project)
        done = gostarter_process(*command[:1], str(project), *command[1:], cwd=project)
        assert_clean_error(done, 2, "_src_path")
        assert work_tree(project) == before


def test_git_refuses_ext_whatever_the_users_git_config_says(tmp_path: Path, canary: Path) -> None:
    """The transport allow-list holds even where the user's git config allows ext::."""
    config = tmp_path / "gitconfig"
    config.write_text('[protocol "ext"]\n\tallow = always\n[protocol]\n\tallow = always\n')
    os.environ["GIT_CONFIG_GLOBAL"] = str(config)
    try:
        done = sources.run_git(
            ["git", "ls-remote", "--", f"ext::sh -c touch% {canary}"], source="ext::sh", cwd=tmp_path
        )
    finally:
        del os.environ["GIT_CONFIG_GLOBAL"]
    assert done.returncode != 0
    assert "transport 'ext' not allowed" in done.stderr


@pytest.mark.parametrize(
    "commit",
    ["--output=/tmp/x", "1.0.0\x00", "a..b", "1.0.0 ", "x" * 300, "@{-1}", "a/.hidden", "v1.lock"],
)
def test_a_recorded_commit_must_be_a_git_ref(project: Path, commit: str) -> None:
    """`_commit` is refused unless it is a valid git ref name (a tag, a describe, a commit id)."""
    set_answers(project, _commit=commit)
    done = gostarter_process("check", str(project))
    assert_clean_error(done, 2, "_commit")


@pytest.mark.parametrize("source", ["x" * 200_000, "/tmp/a\x00b", "/tmp/a\nb", "/tmp/a\u0085b", "  "])
def test_a_recorded_source_is_bounded_and_plain(project: Path, source: str) -> None:
    """A huge `_src_path`, or one with a NUL or another control character, is one line, exit 2."""
    set_answers(project, _src_path=source)
    done = gostarter_process("check", str(project))
    assert_clean_error(done, 2, "_src_path")


def test_credentials_in_a_url_are_never_printed(project: Path, tmp_path: Path) -> None:
    """`https://user:secret@host/x.git` is shown as `https://user:***@host/x.git` by check,
    update --dry-run and update, including what they relay from git and Copier."""
    with silent_server() as port:
        set_answers(project, _src_path=f"https://deploy:s3cr3t-token@127.0.0.1:{port}/acme/tpl.git")
        env = {sources.TIMEOUT_VAR: "3"}
        for command in (
            ("check", str(project)),
            ("update", str(project), "--dry-run", "--verify", "none"),
            ("update", str(project), "--defaults", "--verify", "none"),
        ):
            report = tmp_path / "report.toml"
            extra = ("--report", str(report)) if command[0] == "check" else ()
            done = gostarter_process(*command, *extra, env=env)
            assert done.returncode == 2, done.stderr
            assert "Traceback" not in done.stderr
            assert "s3cr3t" not in done.stdout + done.stderr, done.stderr
            assert "deploy:***@127.0.0.1" in done.stderr, done.stderr
            if extra:
                assert "s3cr3t" not in report.read_text()


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("https://u:p@h/x", "https://u:***@h/x"),
        ("git+https://tok@h/x", "git+https://***@h/x"),
        ("ssh://git@h/x", "ssh://git@h/x"),
        ("cannot reach http://a:b@h and https://c:d@i/", "cannot reach http://a:***@h and https://c:***@i/"),
        ("/plain/path", "/plain/path"),
    ],
)
def test_redaction(text: str, shown: str) -> None:
    """A password, or a token alone, is hidden; an ssh user name is not a secret."""
    assert sources.redact(text) == shown


# ---------------------------------------------------------------- 2. trust is decided per project


def add_migration(repo: Path, version: str, canary: Path) -> None:
    """A `_migrations` entry at `version` that would create `canary` if it ever ran."""
    config = repo / "copier.yml"
    text = config.read_text()
    entry = (
        f'  - version: "{version}"\n'
        f'    command: ["{sys.executable}", "-c", "open({str(canary)!r}, \\"w\\").close()"]\n'
    )
    marker = "_migrations:\n"
    assert marker in text
    config.write_text(text.replace(marker, marker + entry, 1))


def test_trust_learnt_for_one_project_never_runs_anothers_migrations(
    template_repo: Path, tmp_path: Path, canary: Path
) -> None:
    """Two dry runs in one process: the first template preview (tasks only) must not let the
    second project's migration run; it is refused, exactly as when it runs alone."""
    old = generate(template_repo, tmp_path / "old")  # at 1.0.0
    add_migration(template_repo, "1.1.0", canary)
    release_1_1(template_repo)
    recent = generate(template_repo, tmp_path / "recent")  # at 1.1.0, past the migration
    (template_repo / "template" / "CONTRIBUTING.md").write_text("Open a pull request.\n")
    commit_all(template_repo, "1.2.0", tag="1.2.0")

    first = gostarter("update", str(recent), "--dry-run", "--verify", "none")
    assert first.returncode == 0, first.stderr
    before = work_tree(old)
    second = gostarter("update", str(old), "--dry-run", "--verify", "none")
    assert_clean_error(second, 2, "migrations", "trust")
    third = gostarter("check", str(recent), str(old))
    assert third.returncode == 2, third.stderr
    assert "migrations" in third.stderr
    assert work_tree(old) == before


# ---------------------------------------------------------------- 4. the dry run shares nothing


def repository_state(git_dir: Path) -> dict[str, object]:
    """What a repository is: its refs, its index and its objects."""
    objects = sorted(str(p.relative_to(git_dir)) for p in (git_dir / "objects").rglob("*") if p.is_file())
    refs = subprocess.run(
        ["git", f"--git-dir={git_dir}", "for-each-ref", "--format=%(refname) %(objectname)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    indexes = {str(p.relative_to(git_dir)): p.read_bytes() for p in git_dir.rglob("index") if p.is_file()}
    head = (git_dir / "HEAD").read_text()
    return {"objects": objects, "refs": refs, "indexes": indexes, "head": head}


def test_a_dry_run_of_a_worktree_leaves_every_repository_unchanged(
    template_repo: Path, tmp_path: Path
) -> None:
    """A project that is a git worktree: its uncommitted edit stays uncommitted, and the main
    repository's refs, index and objects are unchanged."""
    main = generate(template_repo, tmp_path / "main")
    release_1_1(template_repo)
    worktree = tmp_path / "wt" / "svc"
    git(main, "worktree", "add", "-q", "-b", "feature", str(worktree))
    with (worktree / "main.go").open("a") as main_go:
        main_go.write(OWNER_MAIN)
    state = repository_state(main / ".git")
    files = snapshot(worktree)
    done = gostarter_process("update", str(worktree), "--dry-run", "--verify", "none")
    assert done.returncode == 0, done.stderr
    assert "SECURITY.md" in done.stdout
    assert repository_state(main / ".git") == state
    assert snapshot(worktree) == files
    assert "main.go" in git(worktree, "status", "--porcelain")


def test_a_dry_run_of_a_gitdir_file_leaves_the_other_repository_unchanged(
    template_repo: Path, tmp_path: Path
) -> None:
    """A project whose `.git` is a `gitdir:` file pointing at another repository."""
    other = generate(template_repo, tmp_path / "other")
    release_1_1(template_repo)
    project = tmp_path / "svc"
    project.mkdir()
    for entry in other.iterdir():
        if entry.name != ".git":
            subprocess.run(["cp", "-a", str(entry), str(project)], check=True)
    (project / ".git").write_text(f"gitdir: {other / '.git'}\n")
    (project / "notes.txt").write_text("mine\n")
    state = repository_state(other / ".git")
    files = snapshot(project)
    done = gostarter_process("update", str(project), "--dry-run", "--verify", "none")
    assert done.returncode == 0, done.stderr
    assert repository_state(other / ".git") == state
    assert snapshot(project) == files


# ---------------------------------------------------------------- 6. --allow-dirty puts changes back


def test_allow_dirty_on_a_clash_leaves_both_sides_in_the_work_tree(
    template_repo: Path, tmp_path: Path
) -> None:
    """An uncommitted edit that clashes with the update is in the file between git's markers;
    an unrelated edit and an untracked file are back as they were; the message names the file."""
    project = generate(template_repo, tmp_path / "svc")
    release_1_1(template_repo)
    with (project / "Makefile").open("a") as makefile:
        makefile.write("\nmine: # @HELP the owner's own target\n\t@echo mine\n")
    with (project / "main.go").open("a") as main_go:
        main_go.write(OWNER_MAIN)
    (project / "notes.txt").write_text("work in progress\n")
    done = gostarter_process(
        "update", str(project), "--defaults", "--trust", "--allow-dirty", "--verify", "none"
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "clash with the update in Makefile" in done.stderr, done.stderr
    makefile = (project / "Makefile").read_text()
    assert lifecycle.STASH_MARKERS[0] in makefile and lifecycle.STASH_MARKERS[1] in makefile
    assert "the owner's own target" in makefile and "print the version the binary would carry" in makefile
    assert OWNER_MAIN in (project / "main.go").read_text()
    assert (project / "notes.txt").read_text() == "work in progress\n"
    assert (project / "SECURITY.md").is_file()
    assert git(project, "stash", "list").count("gostarter update") == 1
    assert git(project, "log", "--format=%s", "-1").strip() == "generated", "no commit was left behind"


def test_allow_dirty_undoes_an_update_git_cannot_merge_with_your_changes(
    template_repo: Path, tmp_path: Path
) -> None:
    """Your untracked file where the update adds one: the update is undone and the work tree is
    exactly as it was, with a message that says so."""
    project = generate(template_repo, tmp_path / "svc")
    release_1_1(template_repo)
    (project / "SECURITY.md").write_text("my own policy\n")
    with (project / "main.go").open("a") as main_go:
        main_go.write(OWNER_MAIN)
    before = work_tree(project)
    done = gostarter_process(
        "update", str(project), "--defaults", "--trust", "--allow-dirty", "--verify", "none"
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "undone" in done.stderr and "exactly as it was" in done.stderr, done.stderr
    assert work_tree(project) == before
    assert answers(project)["_commit"] == "1.0.0"
    assert git(project, "stash", "list") == ""


# ---------------------------------------------------------------- 7. bounded reads and deadlines


def test_a_fifo_as_the_answers_file_or_the_preset_never_blocks(project: Path, tmp_path: Path) -> None:
    """A FIFO is refused at once: one line, exit 2."""
    (project / ANSWERS).unlink()
    os.mkfifo(project / ANSWERS)
    done = run_bounded(["check", str(project)])
    assert_clean_error(done, 2, "is a FIFO")
    fifo = tmp_path / "preset.fifo"
    os.mkfifo(fifo)
    done = run_bounded(["preset", "show"], env={"GOSTARTER_PRESET": str(fifo)})
    assert_clean_error(done, 2, "is a FIFO")


@pytest.mark.parametrize(
    ("preset", "needle"),
    [
        ("/dev/zero", "character device"),
        ("/", "is a directory"),
        ("huge", "larger than 1 MiB"),
        ("deep", "nested too deeply"),
    ],
)
def test_a_preset_is_read_only_when_it_is_a_small_regular_file(
    tmp_path: Path, preset: str, needle: str
) -> None:
    """/dev/zero, a directory, a 2 MiB file, a nesting TOML cannot parse: one line, exit 2."""
    if preset == "huge":
        preset = str(tmp_path / "huge.toml")
        Path(preset).write_text("[defaults]\n" + "# padding\n" * 250_000)
    elif preset == "deep":
        preset = str(tmp_path / "deep.toml")
        Path(preset).write_text("x = " + "[" * 10_000 + "]" * 10_000 + "\n")
    done = run_bounded(["preset", "show"], env={"GOSTARTER_PRESET": preset})
    assert_clean_error(done, 2, needle)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("a: " + "[" * 10_000 + "]" * 10_000 + "\n", "nested too deeply"),
        ("a: &a [x, x, x]\nb: &b [*a, *a, *a]\nc: [*b, *b, *b]\n", "aliases"),
        ("_src_path: /x\n" + "# padding\n" * 250_000, "larger than 1 MiB"),
        ("\xff\xfe", "not UTF-8"),
    ],
)
def test_an_answers_file_is_bounded(project: Path, content: str, needle: str) -> None:
    """Deep nesting, YAML aliases (a billion laughs), over 1 MiB, not UTF-8: one line, exit 2."""
    path = project / ANSWERS
    if content == "\xff\xfe":
        path.write_bytes(b"\xff\xfe")
    else:
        path.write_text(content)
    for command in (["check", str(project)], ["update", str(project), "--dry-run"]):
        done = run_bounded(command)
        assert_clean_error(done, 2, needle)


def test_a_template_host_that_never_answers_ends_in_one_line(project: Path) -> None:
    """check, update --dry-run and update against a host that accepts and never answers end at
    the deadline ($GOSTARTER_NETWORK_TIMEOUT), naming the template, with no git left running."""
    with silent_server() as port:
        set_answers(project, _src_path=f"https://127.0.0.1:{port}/acme/tpl.git")
        env = {sources.TIMEOUT_VAR: "2"}
        before = work_tree(project)
        for command in (
            ["check", str(project)],
            ["update", str(project), "--dry-run", "--verify", "none"],
            ["update", str(project), "--defaults", "--verify", "none"],
        ):
            started = time.monotonic()
            done = run_bounded(command, env=env)
            assert time.monotonic() - started < 20
            assert_clean_error(done, 2, "did not answer within 2 s", f"127.0.0.1:{port}")
        assert work_tree(project) == before
    assert not leftover_git(), "a git process outlived gostarter"


# ---------------------------------------------------------------- 8. a fleet check never aborts


def test_one_bad_project_never_aborts_a_fleet_check(template_repo: Path, tmp_path: Path) -> None:
    """Every project gets its row; the summary line and the report are written; exit 2."""
    good = generate(template_repo, tmp_path / "good")
    release_1_1(template_repo)
    branch_ref = generate(template_repo, tmp_path / "branch-ref")
    set_answers(branch_ref, _commit="release/1.0")
    long_source = generate(template_repo, tmp_path / "long-source")
    set_answers(long_source, _src_path="y" * 200_000)
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    report = tmp_path / "fleet.toml"
    done = gostarter_process(
        "check", str(good), str(branch_ref), str(loop), str(long_source), "--report", str(report)
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert f"{good}: behind, 1.0.0 -> 1.1.0" in done.stdout
    assert "1 checked: 1 behind, 0 current; 3 could not be checked" in done.stdout
    document = tomllib.loads(report.read_text())
    assert document["checked"] == 1 and document["unchecked"] == 3
    assert {Path(error["project"]).name for error in document["errors"]} == {
        "branch-ref",
        "loop",
        "long-source",
    }


# ---------------------------------------------------------------- 13. the Python floor


def tar_of(*members: tuple[str, str, str]) -> bytes:
    """A tar archive of (kind, name, content-or-link-target) members."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for kind, name, value in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                data = value.encode()
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.FIFOTYPE
                info.linkname = value
                tar.addfile(info)
    return buffer.getvalue()


@pytest.mark.parametrize("with_filter", [True, False], ids=["python-filter", "python-3.11.2"])
def test_template_archives_extract_safely_on_every_supported_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_filter: bool
) -> None:
    """Extraction works where tarfile has no `filter` (3.11.2), and refuses what escapes."""
    if not with_filter:
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    good = tar_of(("file", "copier.yml", "a: 1\n"), ("symlink", "link", "copier.yml"))
    lifecycle.extract_tar(good, tmp_path / "good")
    assert (tmp_path / "good" / "copier.yml").read_text() == "a: 1\n"
    for index, bad in enumerate(
        [
            tar_of(("file", "../escape", "x")),
            tar_of(("symlink", "link", "/etc/passwd")),
            tar_of(("symlink", "link", "../../outside")),
            tar_of(("fifo", "pipe", "")),
        ]
    ):
        target = tmp_path / f"bad{index}"
        target.mkdir()
        with pytest.raises((UsageError, tarfile.TarError)):
            lifecycle.extract_tar(bad, target)
    assert not (tmp_path / "escape").exists()


# ---------------------------------------------------------------- property: any answers-file value


HOSTILE = st.sampled_from(
    [
        "--upload-pack=touch {canary}",
        "--exec=touch {canary}",
        "ext::sh -c touch% {canary}",
        "-c core.sshCommand=touch {canary} ssh://h/x",
        "$(touch {canary})",
        "`touch {canary}`",
        "file:///{canary}/../../etc",
        "https://u:p@127.0.0.1:1/x.git",
        "{{ cycler.__init__.__globals__.os.system('touch {canary}') }}",
        "1.0.0",
        "HEAD",
        "@{-1}",
        "../../../..",
        "\x00",
        "\u2028",
    ]
)
VALUES = st.one_of(HOSTILE, st.text(max_size=40), st.integers(), st.booleans(), st.none())


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(src=VALUES, commit=VALUES, app_name=VALUES, dry_run=st.booleans())
def test_any_answers_file_value_is_data(
    project: Path, canary: Path, src: object, commit: object, app_name: object, dry_run: bool
) -> None:
    """Whatever `_src_path`, `_commit` and `app_name` hold, check and update --dry-run exit 0, 1
    or 2, run nothing, and write nothing outside their own throwaway directories."""

    def fill(value: object) -> object:
        return value.replace("{canary}", str(canary)) if isinstance(value, str) else value

    set_answers(project, _src_path=fill(src), _commit=fill(commit), app_name=fill(app_name))
    watched = project.parent
    before = sorted(p.name for p in watched.iterdir())
    command = (
        ["update", str(project), "--dry-run", "--verify", "none"] if dry_run else ["check", str(project)]
    )
    done = gostarter(*command, env={sources.TIMEOUT_VAR: "10"})
    assert done.returncode in {0, 1, 2}, done.stderr
    assert "Traceback" not in done.stderr
    assert not canary.exists()
    assert sorted(p.name for p in watched.iterdir()) == before


# ---------------------------------------------------------------- helpers


def run_bounded(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """gostarter as a process that must end within 30 s (a blocking read would not)."""
    return subprocess.run(
        [sys.executable, "-m", "generator", *args],
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


class _Silent:
    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.held.append(conn)  # accepted, and never answered

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        for conn in self.held:
            conn.close()
        self.sock.close()


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A loopback port that accepts connections and never says a word."""
    server = _Silent()
    try:
        yield server.port
    finally:
        server.close()


def leftover_git() -> list[str]:
    """git processes whose parent is this test process or its children (none should be)."""
    mine = {os.getpid()}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.find("(") + 1 : stat.rfind(")")]
        ppid = int(stat[stat.rfind(")") + 2 :].split()[1])
        if ppid in mine and name.startswith("git"):
            found.append(f"{entry.name} {name}")
    return found
