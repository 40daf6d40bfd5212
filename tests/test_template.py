"""Rendering the template: every variant is valid Go, lint-clean, tested, and consistent."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import render_project, run

MAKE_TARGETS = ("help", "build", "run", "test", "lint", "fmt", "docker-build", "docker-run", "smoke", "clean")

VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "v2-module-other-port": {
        "app_name": "payments-api",
        "module_path": "github.com/acme-corp/payments-api/v2",
        "port": 9090,
        "maintainer": "Payments Core Team <payments@example.com>",
        "description": "Takes payments; says 'hello' first",
    },
    "scratch": {"runtime_base": "scratch"},
    "alpine": {"runtime_base": "alpine"},
    "distroless-base": {"runtime_base": "distroless-base", "go_version": "1.26"},
    "no-extras": {"with_compose": False, "with_ci": False, "app_name": "bare"},
}


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def project(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any]]:
    dest = tmp_path_factory.mktemp(request.param) / "svc"
    render_project(dest, VARIANTS[request.param])
    answers = yaml.safe_load((dest / ".copier-answers.yml").read_text())
    return dest, answers


def test_no_template_syntax_left(project: tuple[Path, dict[str, Any]]) -> None:
    """No Jinja markers and no .jinja file survive rendering."""
    root, _ = project
    for path in root.rglob("*"):
        assert not path.name.endswith(".jinja"), path
        if path.is_file():
            text = path.read_text()
            # GitHub Actions' own ${{ ... }} is the one legitimate use of braces.
            text = re.sub(r"\$\{\{[^}]*\}\}", "", text)
            assert "{{" not in text and "{%" not in text, f"template syntax left in {path}"


def test_go_is_formatted_vetted_tested_and_builds(project: tuple[Path, dict[str, Any]]) -> None:
    """gofmt -l prints nothing; go vet, go test and go build pass, with no module proxy."""
    root, _ = project
    gofmt = run(["gofmt", "-l", "."], root)
    assert gofmt.returncode == 0 and gofmt.stdout == "", gofmt.stdout + gofmt.stderr
    for argv in (["go", "vet", "./..."], ["go", "test", "./..."], ["go", "build", "-o", "/dev/null", "."]):
        done = run(argv, root)
        assert done.returncode == 0, f"{' '.join(argv)}:\n{done.stdout}{done.stderr}"


def test_hadolint_reports_nothing(project: tuple[Path, dict[str, Any]]) -> None:
    """hadolint, at its strictest threshold, has nothing to say on the Dockerfile."""
    root, _ = project
    done = run(["hadolint", "--failure-threshold", "style", "Dockerfile"], root)
    assert done.returncode == 0 and done.stdout.strip() == "", done.stdout + done.stderr


def test_make_help_lists_every_target(project: tuple[Path, dict[str, Any]]) -> None:
    """`make` alone prints help, one described line per target."""
    root, _ = project
    done = run(["make"], root)
    assert done.returncode == 0, done.stderr
    for target in MAKE_TARGETS:
        assert re.search(rf"^  {re.escape(target)}\s+\S", done.stdout, re.M), (
            f"{target} missing:\n{done.stdout}"
        )


def test_make_lint_and_test_pass(project: tuple[Path, dict[str, Any]]) -> None:
    """The generated project's own lint and test targets pass."""
    root, _ = project
    done = run(["make", "lint", "test"], root)
    assert done.returncode == 0, done.stdout + done.stderr


def test_go_version_and_port_agree_everywhere(project: tuple[Path, dict[str, Any]]) -> None:
    """go.mod, the builder image, main.go, Dockerfile, compose and Makefile use the answers."""
    root, answers = project
    go_version, port = answers["go_version"], answers["port"]
    assert f"\ngo {go_version}\n" in (root / "go.mod").read_text()
    assert f"module {answers['module_path']}\n" in (root / "go.mod").read_text()
    dockerfile = (root / "Dockerfile").read_text()
    assert answers["builder_image"] == f"golang:{go_version}"
    assert f"FROM --platform=$BUILDPLATFORM golang:{go_version} AS build" in dockerfile
    assert f"EXPOSE {port}\n" in dockerfile and f"ENV PORT={port}\n" in dockerfile
    assert re.findall(r"EXPOSE (\d+)", dockerfile) == [str(port)]
    assert f'defaultPort = "{port}"' in (root / "main.go").read_text()
    assert f"PORT      ?= {port}\n" in (root / "Makefile").read_text()
    compose = root / "compose.yaml"
    if answers["with_compose"]:
        ports = yaml.safe_load(compose.read_text())["services"][answers["app_name"]]["ports"]
        assert ports == [f"127.0.0.1:{port}:{port}"]
    else:
        assert not compose.exists()
    assert (root / ".github/workflows/ci.yml").exists() == answers["with_ci"]


def test_dockerfile_shape(project: tuple[Path, dict[str, Any]]) -> None:
    """Multi-stage, cache mounts, cross-compilation, non-root, exec forms, OCI labels, no syntax line."""
    root, answers = project
    dockerfile = (root / "Dockerfile").read_text()
    app = answers["app_name"]
    assert not re.search(r"(?im)^#\s*syntax\s*=", dockerfile)
    assert len(re.findall(r"(?m)^FROM ", dockerfile)) == 2
    assert f"FROM {answers['runtime_image']}\n" in dockerfile
    for needle in (
        "--mount=type=cache,target=/go/pkg/mod",
        "--mount=type=cache,target=/root/.cache/go-build",
        "GOOS=$TARGETOS GOARCH=$TARGETARCH",
        "CGO_ENABLED=0",
        "-trimpath",
        '-ldflags="-s -w -X main.version=${VERSION}"',
        "USER 65532:65532",
        f'CMD ["/usr/local/bin/{app}", "-healthcheck"]',
        f'ENTRYPOINT ["/usr/local/bin/{app}"]',
        f'org.opencontainers.image.title="{app}"',
    ):
        assert needle in dockerfile, needle
    assert f'org.opencontainers.image.description="{answers["description"]}"' in dockerfile
    if answers["maintainer"]:
        assert f'org.opencontainers.image.authors="{answers["maintainer"]}"' in dockerfile
    scratch_certs = "COPY --from=build /etc/ssl/certs/ca-certificates.crt" in dockerfile
    assert scratch_certs == (answers["runtime_image"] == "scratch")


def test_runtime_choice_sets_runtime_image(project: tuple[Path, dict[str, Any]]) -> None:
    """Each runtime base maps to its image; the default is distroless static non-root."""
    _, answers = project
    expected = {
        "distroless-static": "gcr.io/distroless/static-debian12:nonroot",
        "scratch": "scratch",
        "alpine": "alpine:3.22",
        "distroless-base": "gcr.io/distroless/base-debian12:nonroot",
    }
    assert answers["runtime_image"] == expected[answers["runtime_base"]]


def test_service_files_present(project: tuple[Path, dict[str, Any]]) -> None:
    """What a team expects around the code is there."""
    root, answers = project
    for name in (
        "main.go",
        "main_test.go",
        "go.mod",
        "Dockerfile",
        "Makefile",
        ".dockerignore",
        ".gitignore",
        "README.md",
        ".copier-answers.yml",
    ):
        assert (root / name).is_file(), name
    ignored = (root / ".dockerignore").read_text().split()
    assert {".git", "**/.env", "**/*.pem", "**/*.key", "bin/", answers["app_name"]} <= set(ignored)
    assert "verify" not in answers, "the hidden verification switch is not a recorded answer"
