"""Every validator in copier.yml, with good and bad input, judged through Copier itself."""

from __future__ import annotations

import errno
import pickle

import pytest

from generator.errors import InvalidAnswerError, RenderError, UnknownQuestionsError
from generator.render import check_answers
from generator.template import Template

TEMPLATE = Template.resolve()

GOOD = {
    "app_name": ["myapp", "payments-api", "a", "svc2", "a" * 63, "auxiliary", "com10"],
    "description": ["Payments", "x: 'quoted' text, <html> & more", "Zahlungen für Händler, עברית, 支付"],
    "maintainer": ["", "Payments Team <payments@example.com>", "O'Brien"],
    "module_prefix": ["", "github.com/acme-corp", "example.com", "gitlab.example.com/group/sub"],
    "module_path": [
        "myapp",
        "github.com/acme-corp/payments-api/v2",
        "example.com/x/y",
        "gopkg.in/yaml.v3",
        "go.example.com/Mixed_Case~ok",
        "example.com/auxiliary",
        "example.com/x~y",
    ],
    "go_version": ["1.22", "1.27", "1.27.3", "1.30"],
    "port": ["1", "8080", "65535"],
    "runtime_base": ["distroless-static", "scratch", "alpine", "distroless-base"],
    "builder_image": [
        "golang:1.27",
        "registry.example.com:5000/mirror/golang:1.27-bookworm",
        "golang@sha256:" + "a" * 64,
        "localhost:5000/golang:1.27",
        "gostarter.test/golang:1.27",
        "my-registry.example.com/team__x/go-lang:1.27.3@sha256:" + "0" * 64,
    ],
    "runtime_image": [
        "scratch",
        "gcr.io/distroless/static-debian12:nonroot",
        "alpine:3.22",
        "alpine@sha256:" + "b" * 64,
        "localhost:5000/latest:1",
    ],
    "with_compose": ["true", "false", "yes", "no"],
    "with_github_actions": ["true", "0"],
    "verify": ["auto", "docker", "native", "none"],
    "platforms": ["", "linux/amd64", "linux/amd64,linux/arm64", "linux/arm/v7, linux/riscv64"],
    "owner": [
        "",
        "team-payments",
        "group:default/payments",
        "User:default/jane.doe",
        "a" * 63,
        "group:" + "n" * 63 + "/x",
        "Team_Payments.EU",
    ],
    "with_backstage": ["false", "no"],
}

BAD = {
    "app_name": [
        "MyApp",
        "1app",
        "my_app",
        "my app",
        "-app",
        "app-",
        "",
        "a" * 64,
        "app/evil",
        "myapp\n",
        "aux",
        "con",
        "lpt1",
        "yes",
        "null",
        "off",
        "n",
    ],
    "description": [
        "",
        "   ",
        'say "hi"',
        "costs $5",
        "back\\slash",
        "two\nlines",
        "bell\x07",
        "tab\there",
        "ends\n",
        "next line\x85(C1, a line break to YAML)",
        "c1 \x80",
        "c1 \x9f",
        "line\u2028separator",
        "paragraph\u2029separator",
        # Trojan Source: bidirectional controls, and zero-width characters.
        "rlo\u202eevil",
        "lre\u202a",
        "pdf\u202c",
        "lri\u2066x\u2069",
        "pdi\u2069",
        "zwsp\u200b",
        "zwj\u200d",
        "\ufeffbom",
    ],
    "maintainer": [
        'The "A" Team',
        "$USER",
        "a\\b",
        "esc\x1b[31m",
        "x\n",
        "csi\x9b31m",
        "nel\x85",
        "Payments\u202e Team",
        "zw\u200cnj",
    ],
    "module_prefix": [
        "GitHub.com/acme",
        "acme corp",
        "example.com/",
        "example.com/acme\n",
        "example.com/nul",
    ],
    "module_path": [
        "",
        "GitHub.com/acme/x",
        "example.com//x",
        "example.com/x/",
        "/abs/path",
        "example.com/.hidden",
        "example.com/x y",
        "example.com/x/v1",
        "example.com/x/v0",
        "example.com/x\n",
        "aux",
        "example.com/aux.v2",
        "example.com/foo~1",
        "example.com/-x",
        "example.com/x.",
        "-lead",
        "a.b-c/~",
        "example.com/~x",
    ],
    "go_version": ["1.21", "2.0", "go1.27", "1.27rc1", "latest", "", "1.27\n"],
    "port": ["0", "65536", "-1", "http", "80.5"],
    "platforms": ["linux", "darwin/arm64", "linux/arm64,windows/amd64", "linux/arm64\n", "linux/amd64;id"],
    "runtime_base": ["ubuntu", ""],
    "builder_image": [
        "golang 1.27",
        "Golang:1.27",
        "",
        "golang:1.27 ; rm -rf /",
        "golang:1.27\n",
        "golang::1.27",
        "golang:-x",
        "golang@sha256:abc",
        "example.com//golang",
        "golang",
        "golang:latest",
        "localhost:5000/golang",
    ],
    "runtime_image": [
        "",
        "alpine:3.22 && sh",
        "-alpine",
        "scratch\n",
        "alpine:3.22\nRUN id",
        "alpine",
        "alpine:latest",
    ],
    "with_compose": ["maybe"],
    "with_github_actions": ["sometimes"],
    "verify": ["always", ""],
    "owner": [
        "component:default/x",
        "group:",
        "group:default/",
        "Default/payments",
        "a--b/x",
        "a/b/c",
        "-team",
        "team-",
        "a" * 64,
        "group:" + "n" * 64 + "/x",
        "team payments",
        "team-payments\n",
        "group:default/payments\x85",
    ],
}


@pytest.mark.parametrize(("key", "value"), [(k, v) for k, vs in GOOD.items() for v in vs])
def test_accepts_good_answers(key: str, value: str) -> None:
    """A valid answer passes its validator and is what the template uses."""
    answers = check_answers(TEMPLATE, {key: value})
    assert key in answers


@pytest.mark.parametrize(("key", "value"), [(k, v) for k, vs in BAD.items() for v in vs])
def test_rejects_bad_answers(key: str, value: str) -> None:
    """An invalid answer is refused with a one-line message naming the question."""
    with pytest.raises(InvalidAnswerError) as caught:
        check_answers(TEMPLATE, {key: value}, source="from --data")
    message = caught.value.message
    assert message.startswith(f"invalid {key} (from --data): ")
    assert "\n" not in message.strip()


def test_every_question_has_good_and_bad_cases() -> None:
    """No question with a validator escapes this file."""
    import yaml

    from generator.template import PACKAGE_DIR

    config = yaml.safe_load((PACKAGE_DIR.parent / "copier.yml").read_text())
    with_validator = {
        k for k, v in config.items() if isinstance(v, dict) and ("validator" in v or "choices" in v)
    }
    assert with_validator <= set(BAD), with_validator - set(BAD)
    assert with_validator <= set(GOOD)


def test_unknown_question_is_named() -> None:
    """An answer to a question the template does not ask is an error listing the real ones."""
    with pytest.raises(InvalidAnswerError) as caught:
        check_answers(TEMPLATE, {"prot": "8080"}, source="from --data")
    assert caught.value.message == "unknown question prot (from --data)"
    assert "port" in caught.value.hint


def test_module_path_defaults_from_prefix_and_name() -> None:
    """A preset's module prefix and the app name make the default module path."""
    answers = check_answers(TEMPLATE, {"module_prefix": "github.com/acme-corp", "app_name": "billing"})
    assert answers["module_path"] == "github.com/acme-corp/billing"
    assert check_answers(TEMPLATE, {"app_name": "billing"})["module_path"] == "billing"


def test_builder_image_follows_go_version() -> None:
    """The builder image default is derived from go_version, the one source of truth."""
    assert check_answers(TEMPLATE, {"go_version": "1.26"})["builder_image"] == "golang:1.26"


def test_unparsable_answer_is_named_among_several() -> None:
    """A value Copier cannot parse is blamed on its own question, even among valid ones."""
    with pytest.raises(InvalidAnswerError) as caught:
        check_answers(TEMPLATE, {"app_name": "ok", "port": "http"}, source="from --data")
    assert caught.value.message.startswith("invalid port (from --data): ")


def test_an_answer_error_carries_its_question_detail_and_source_across_a_process_pool() -> None:
    """The error's data are fields, its message is made from them (nobody parses it back), and they
    survive pickling, as a fleet check's worker sends an error back through its process pool."""
    with pytest.raises(InvalidAnswerError) as caught:
        check_answers(TEMPLATE, {"app_name": "ok", "port": "http"}, source="from --data")
    err = caught.value
    assert (err.key, err.source) == ("port", "from --data") and err.detail
    assert err.message == str(err) == f"invalid port (from --data): {err.detail}"
    with pytest.raises(UnknownQuestionsError) as unknown:
        check_answers(TEMPLATE, {"prot": "8080", "_src_path": "x"}, source="in preset.toml")
    assert unknown.value.keys == ("_src_path",) and unknown.value.key == ""
    disk_full = OSError(errno.ENOSPC, "No space left on device", "/x/f")
    for sent in (
        err,
        unknown.value,
        InvalidAnswerError(detail="bad"),
        RenderError("full", os_error=disk_full),
    ):
        back = pickle.loads(pickle.dumps(sent))
        assert type(back) is type(sent) and str(back) == str(sent) and vars(back).keys() == vars(sent).keys()
        assert {k: str(v) for k, v in vars(back).items()} == {k: str(v) for k, v in vars(sent).items()}
    assert pickle.loads(pickle.dumps(RenderError("full", os_error=disk_full))).os_error.errno == errno.ENOSPC


def test_the_web_form_blames_the_question_an_error_names_by_its_key() -> None:
    """web.fields.blame reads the error's fields: a source with ": " in it (an answers file in a
    directory named so) no longer cuts the message in the wrong place."""
    from generator.web.fields import blame

    err = InvalidAnswerError("port", "must be between 1 and 65535", "in /srv/a: b/.copier-answers.yml")
    assert blame(err) == ("port", "must be between 1 and 65535")
    assert blame(InvalidAnswerError(detail="cannot parse 'x'")) == (None, "invalid answer: cannot parse 'x'")
    unknown = UnknownQuestionsError(["prot"], "from --data")
    assert blame(unknown) == (None, "unknown question prot (from --data)")
