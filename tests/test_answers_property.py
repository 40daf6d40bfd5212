"""Answers proven by property: every drawn set of answers is either refused in one line that names
a question, or renders a project that passes gofmt, go vet, go build, hadolint, the compose schema,
the Kubernetes schemas and Backstage's entity rules.

Free text (description, maintainer) is drawn with quotes, backslashes, Jinja and shell syntax,
YAML indicators, unicode and control characters; every other answer around its validator's edges.
The run is bounded and reproducible: a fixed number of examples, derandomised (the same examples
on every machine), no example database. GOSTARTER_PROPERTY_EXAMPLES=N explores N random examples
instead, locally; what it finds goes in below as an @example.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, Phase, event, example, given, settings
from hypothesis import strategies as st

from generator.errors import InvalidAnswerError
from generator.render import Template, check_answers
from tests.helpers.backstage import backstage_problems
from tests.helpers.checkout import IN_CI, ROOT
from tests.helpers.repos import render_project

TEMPLATE = Template.resolve()
EXPLORE = 0 if IN_CI else int(os.environ.get("GOSTARTER_PROPERTY_EXAMPLES", "0"))
BOUNDED = settings(
    max_examples=EXPLORE or 36,
    derandomize=not EXPLORE,
    database=None,
    deadline=None,
    print_blob=True,
    # Shrinking a failure re-renders and re-lints many times (minutes): only when exploring.
    phases=list(Phase) if EXPLORE else [Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# ---------------------------------------------------------------- strategies
# Each example is a set of answers that the validators should accept, with at most one answer
# replaced by a value at the edge of its validator (either side of it): a refusal must then
# name that question.

# Pieces of free text that something downstream could reinterpret: a Dockerfile's quotes and
# variables, a shell, Jinja (answers must never be rendered as templates), YAML, Markdown.
TRICKY = [
    "'", "{{", "}}", "{{ app_name }}", "{%", "%}", "{% raw %}", "{#", "`", "`id`", "#", ": ", "- ",
    "&a", "*a", "!!str", "|", ">", "%", "@", "<b>", "&amp;", " ", "null", "true", "~",
    "\u00a0", "\u00ad", "é", "日本語", "🚀",
]  # fmt: skip
# Text that reads differently from what it is: bidirectional controls and zero-width characters.
INVISIBLE = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200b\u200c\u200d\ufeff"
REFUSED_IN_TEXT = ['"', "\\", "$", "${HOME}", "$(id)", "\n", "\r", "\t", "\x00", "\x07", "\x1b[31m", "\x7f",
                   "\u2028", "\u202e", "\u2066", "\u200b", "\ufeff"]  # fmt: skip
printable = st.characters(
    codec="utf-8", exclude_categories=["Cc", "Cs"], exclude_characters='"\\$' + INVISIBLE
)
text = st.lists(st.one_of(st.sampled_from(TRICKY), printable), min_size=1, max_size=8).map("".join)
text_at_edges = st.lists(
    st.one_of(
        st.sampled_from(TRICKY + REFUSED_IN_TEXT), st.characters(codec="utf-8", exclude_categories=["Cs"])
    ),
    max_size=8,
).map("".join)

# Go refuses these as module path elements, and the app name is the default module path;
# YAML reads the others as true, false or null, and the app name goes into the manifests.
WINDOWS_NAMES = {"con", "prn", "aux", "nul", *(f"{port}{n}" for port in ("com", "lpt") for n in range(1, 10))}
YAML_WORDS = {"y", "n", "yes", "no", "true", "false", "on", "off", "null"}

VALID: dict[str, st.SearchStrategy[Any]] = {
    "app_name": st.from_regex(r"[a-z]([a-z0-9-]{0,61}[a-z0-9])?", fullmatch=True).filter(
        lambda name: name not in WINDOWS_NAMES | YAML_WORDS
    ),
    "description": text.filter(str.strip),
    "maintainer": text,
    "module_path": st.from_regex(r"(github\.com|example\.com|gopkg\.in)(/[a-z][a-z0-9-]{0,8}){1,2}(/v[2-9])?",
                                 fullmatch=True),
    # Up to the toolchain this machine has: go.mod's go line must not be newer (GOTOOLCHAIN=local).
    "go_version": st.sampled_from(["1.22", "1.22.0", "1.23", "1.24.5", "1.25", "1.26", "1.27", "1.27.3"]),
    "port": st.integers(1, 65535),
    "runtime_base": st.sampled_from(["distroless-static", "scratch", "alpine", "distroless-base"]),
    "builder_image": st.sampled_from(["golang:1.27", "registry.example.com:5000/mirror/golang:1.27-bookworm",
                                      "golang@sha256:" + "a" * 64]),
    # Not a host without a dot but with a port (localhost:5000/x:1): Docker takes it, hadolint's
    # parser cannot (hadolint/hadolint#355, open since 2019); 127.0.0.1:5000/x:1 it can.
    "runtime_image": st.sampled_from(["scratch", "alpine:3.22", "gcr.io/distroless/static-debian12:nonroot",
                                      "127.0.0.1:5000/team__x/run-time:v1.2_3"]),
    "with_compose": st.booleans(),
    "with_github_actions": st.booleans(),
    "with_k8s": st.booleans(),
    "with_renovate": st.booleans(),
    "with_backstage": st.booleans(),
    "owner": st.from_regex(r"((group|user|Group|User):)?([a-z0-9]{1,5}(-[a-z0-9]{1,4})?/)?"
                           r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,8}[A-Za-z0-9])?", fullmatch=True),
}  # fmt: skip

EDGES: dict[str, st.SearchStrategy[Any]] = {
    "app_name": st.sampled_from([
        "a", "z9", "a--b", "a-", "-a", "A", "1a", "a" * 63, "a" * 64, "aux", "con", "com1", "lpt9",
        "auxiliary", "yes", "no", "on", "off", "true", "false", "null", "y", "a\n", "",
    ]),
    "description": text_at_edges,
    "maintainer": text_at_edges,
    "module_path": st.sampled_from([
        "myapp", "github.com/acme/x/v1", "example.com/x/v0", "gopkg.in/yaml.v3", "gopkg.in/yaml",
        "example.com/x~1", "example.com/aux.v2", "example.com/.x", "example.com/x.", "example.com//x",
        "Example.com/x", "example.com/Mixed_Case~ok", "a.b-c/~", "example.com/x\n", "github.com/a",
        "github.com/Acme/Repo.go/v3",
    ]),
    "go_version": st.sampled_from(["1.21", "1.2", "1.220", "2.0", "go1.27", "1.27rc1", "1.27\n", ""]),
    "port": st.sampled_from([-1, 0, 1, 80, 1023, 1024, 65535, 65536, "http", "80.5", "08080", " 80", True]),
    "runtime_base": st.sampled_from(["ubuntu", ""]),
    "builder_image": st.sampled_from([
        "golang", "golang:latest", "Golang:1.27", "golang::1.27", "golang:1.27 AS x", "golang:-x",
        "xyz:" + "t" * 128, "xyz:" + "t" * 129, "golang@sha256:abc", "scratch", "localhost:5000/golang",
    ]),
    "runtime_image": st.sampled_from([
        "alpine", "alpine:latest", "alpine:3.22\nRUN id", "-alpine", "scratch\n", "alpine@sha256:" + "c" * 64,
    ]),
    "with_backstage": st.sampled_from(["maybe", "yes", "0"]),
    "owner": st.sampled_from([
        "", "component:x", "a--b", "a/b/c", "-team", "group:", "true", "null", "123", "1e3", "a" * 63,
        "a" * 64, "group:default/payments", "User:ns/a.b_c",
    ]),
}  # fmt: skip


@st.composite
def answer_sets(draw: st.DrawFn) -> tuple[dict[str, Any], str | None]:
    """Answers the validators should accept, and at most one (named) at an edge instead."""
    answers = draw(st.fixed_dictionaries({}, optional=VALID))
    if answers.get("with_backstage") and "owner" not in answers:
        answers["owner"] = draw(VALID["owner"])
    edge = draw(st.sampled_from([None, *sorted(EDGES)]))
    if edge is not None:
        answers[edge] = draw(EDGES[edge])
    return answers, edge


# ---------------------------------------------------------------- the property


def refused_in_one_line(err: InvalidAnswerError) -> str:
    """One printable line, `invalid QUESTION (from --data): why`, naming a question of the template."""
    match = re.match(r"invalid (?P<key>\w+) \(from --data\): \S", err.message)
    assert match, err.message
    questions = set(yaml.safe_load((ROOT / "copier.yml").read_text()))
    assert match["key"] in questions, err.message
    assert (err.key, err.source) == (match["key"], "from --data"), err.message  # the fields say the same
    for line in (err.message, err.hint or ""):
        assert line.isprintable(), f"not one printable line: {line!r}"
    return match["key"]


def lint(root: Path, answers: dict[str, Any]) -> list[str]:
    """Every linter on the rendered project; the failures, each with its output."""
    checks = [
        ["gofmt", "-l", "."],
        ["go", "vet", "./..."],
        ["go", "build", "-o", os.devnull, "."],
        ["hadolint", "--failure-threshold", "style", "Dockerfile"],
    ]
    if answers["with_compose"]:
        checks.append(["check-jsonschema", "--builtin-schema", "vendor.compose-spec", "compose.yaml"])
    if answers["with_k8s"]:
        manifests = sorted(p.name for p in (root / "deploy").glob("*.yaml") if p.name != "kustomization.yaml")
        checks.append(["kubernetes-validate", "--strict", *(f"deploy/{name}" for name in manifests)])
    # All at once: the machine's cores work while go vet compiles.
    started = [
        (argv, subprocess.Popen(argv, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        for argv in checks
    ]
    failures = []
    for argv, process in started:
        out, err = process.communicate()
        if process.returncode != 0 or (argv[0] in {"gofmt", "hadolint"} and out.strip()):
            failures.append(f"{' '.join(argv)}:\n{out}{err}")
    for path in sorted(root.rglob("*.y*ml")):
        try:
            list(yaml.safe_load_all(path.read_text()))
        except yaml.YAMLError as err:
            failures.append(f"{path.relative_to(root)} is not YAML: {err}")
    if answers["with_backstage"]:
        problems = backstage_problems(yaml.safe_load((root / "catalog-info.yaml").read_text()))
        failures += [f"catalog-info.yaml: {problem}" for problem in problems]
    return failures


@BOUNDED
@given(drawn=answer_sets())
# Found by this test: an untagged image passed the validator, and hadolint refused the Dockerfile (DL3006).
@example(drawn=({"builder_image": "golang"}, "builder_image"))
# Found by this test: an unparsable answer beside with_backstage=true was blamed on owner (each answer
# alone made the owner's validator refuse its empty default).
@example(drawn=({"with_backstage": True, "owner": "HW", "runtime_base": ""}, "runtime_base"))
# Found by this test (exploring): go build refuses a main package whose last path element starts with ~.
@example(drawn=({"module_path": "a.b-c/~"}, "module_path"))
# Found by this test: the owner 0 (a valid Backstage name) was the number 0 in catalog-info.yaml.
@example(drawn=({"with_backstage": True, "owner": "0"}, None))
# The same for app_name, which goes into every manifest: null, yes, on... are refused.
@example(drawn=({"app_name": "null", "with_k8s": True}, "app_name"))
# Trojan Source: a bidirectional control in free text is refused by the template's own validator.
@example(drawn=({"maintainer": "Pay\u202ements"}, "maintainer"))
def test_every_answer_is_refused_in_one_line_or_renders_a_clean_project(
    drawn: tuple[dict[str, Any], str | None],
) -> None:
    """Refused in one line naming the question at the edge, or a project every linter passes."""
    answers, edge = drawn
    try:
        accepted = check_answers(TEMPLATE, answers, source="from --data")
    except InvalidAnswerError as err:
        key = refused_in_one_line(err)
        # with_backstage switched on at its edge makes the owner the answer that is missing.
        assert key == edge or (edge == "with_backstage" and key == "owner"), (edge, err.message)
        event(f"refused: {key}")
        return
    event("rendered and linted")
    with tempfile.TemporaryDirectory(prefix="gostarter-property-") as tmp:
        root = render_project(Path(tmp) / "svc", answers)
        failures = lint(root, accepted)
    assert not failures, "\n".join(failures)
