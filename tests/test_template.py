"""Rendering the template: every variant is valid Go, lint-clean, tested, and consistent."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.template import write_provenance
from tests.helpers.backstage import backstage_problems
from tests.helpers.repos import render_project
from tests.helpers.running import run

MAKE_TARGETS = (
    "help", "build", "run", "test", "lint", "fmt", "policy", "docker-build", "docker-run", "smoke", "clean",
)  # fmt: skip
LONGEST_NAME = "a" + "b" * 61 + "c"  # 63 characters, the most a Kubernetes name takes

# Every Go line the validator accepts appears at least once; boundary answers too.
VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "v2-module-other-port": {
        "app_name": "payments-api",
        "module_path": "github.com/acme-corp/payments-api/v2",
        "port": 9090,
        "maintainer": "Payments Core Team <payments@example.com>",
        "description": "Takes payments; says 'hello' first",
        "with_k8s": True,
        "with_backstage": True,
        "owner": "group:default/payments",
        "platforms": "linux/amd64,linux/arm64",
    },
    "scratch-go1.22-port1": {"runtime_base": "scratch", "go_version": "1.22", "port": 1, "with_k8s": True},
    "alpine-go1.23-port65535": {
        "runtime_base": "alpine",
        "go_version": "1.23",
        "port": 65535,
        "with_k8s": True,
    },
    "go1.24": {"go_version": "1.24", "with_k8s": True},
    "go1.25": {"go_version": "1.25", "with_renovate": True, "platforms": "linux/arm64"},
    "distroless-base-go1.26": {"runtime_base": "distroless-base", "go_version": "1.26"},
    "no-extras": {"with_compose": False, "with_github_actions": False, "app_name": "bare"},
    "longest-name-go1.27.3": {"app_name": LONGEST_NAME, "go_version": "1.27.3", "with_k8s": True},
}


def test_the_matrix_covers_every_accepted_go_line() -> None:
    """1.22 (the floor) up to the default line each render in some variant."""
    lines = {str(v.get("go_version", "1.27"))[:4] for v in VARIANTS.values()}
    assert lines >= {"1.22", "1.23", "1.24", "1.25", "1.26", "1.27"}


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
    assert (root / ".github/workflows/ci.yml").exists() == answers["with_github_actions"]
    readme = (root / "README.md").read_text()
    assert f"default {port}" in readme and "/healthz" in readme and f"Go {go_version}" in readme
    assert "65532" in readme


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
        "scripts/smoke.sh",
    ):
        assert (root / name).is_file(), name
    ignored = (root / ".dockerignore").read_text().split()
    assert {".git", "**/.env", "**/*.pem", "**/*.key", "bin/", answers["app_name"]} <= set(ignored)
    assert "verify" not in answers, "the hidden verification switch is not a recorded answer"


def test_every_file_passes_its_ecosystems_linter(project: tuple[Path, dict[str, Any]]) -> None:
    """zizmor, the workflow and compose schemas, shellcheck, the Kubernetes schemas: zero findings."""
    root, answers = project
    checks = [["shellcheck", "--severity=style", "scripts/smoke.sh"]]
    if answers["with_github_actions"]:
        checks += [
            ["zizmor", "--offline", "--persona=pedantic", ".github/workflows"],
            ["check-jsonschema", "--builtin-schema", "vendor.github-workflows",
             *sorted(str(p.relative_to(root)) for p in (root / ".github/workflows").glob("*.yml"))],
        ]  # fmt: skip
    if answers["with_compose"]:
        checks.append(["check-jsonschema", "--builtin-schema", "vendor.compose-spec", "compose.yaml"])
    if answers["with_k8s"]:
        checks.append(["make", "k8s-validate"])
    if answers["with_renovate"]:
        checks.append(["check-jsonschema", "--builtin-schema", "vendor.renovate", "renovate.json"])
    catalog = root / "catalog-info.yaml"
    assert catalog.exists() == answers["with_backstage"]
    if answers["with_backstage"]:
        assert backstage_problems(yaml.safe_load(catalog.read_text())) == []
    assert (root / "renovate.json").exists() == answers["with_renovate"]
    scheduled = root / ".github/workflows/template-check.yml"
    assert scheduled.exists() == (answers["with_github_actions"] and not answers["with_renovate"])
    for argv in checks:
        done = run(argv, root)
        assert done.returncode == 0, f"{' '.join(argv)}:\n{done.stdout}{done.stderr}"
        assert "No findings" in done.stdout + done.stderr or argv[0] != "zizmor"


def test_the_makefile_is_strict(project: tuple[Path, dict[str, Any]]) -> None:
    """bash with errexit/nounset/pipefail, no built-in rules, no undefined variable used."""
    root, _ = project
    makefile = (root / "Makefile").read_text()
    for line in (
        "SHELL := bash",
        ".SHELLFLAGS := -euo pipefail -c",
        "--no-builtin-rules",
        "--warn-undefined-variables",
    ):
        assert line in makefile, line
    done = run(["make", "--warn-undefined-variables", "-n", "build", "docker-build", "smoke"], root)
    assert done.returncode == 0 and "undefined variable" not in done.stderr, done.stderr


def test_kubernetes_manifests_agree_with_the_image(project: tuple[Path, dict[str, Any]]) -> None:
    """Port, probes, user, read-only root, dropped capabilities and the grace period match the image."""
    root, answers = project
    deploy = root / "deploy"
    assert deploy.is_dir() == answers["with_k8s"]
    if not answers["with_k8s"]:
        return
    app, port = answers["app_name"], answers["port"]
    deployment = yaml.safe_load((deploy / "deployment.yaml").read_text())
    service = yaml.safe_load((deploy / "service.yaml").read_text())
    kustomization = yaml.safe_load((deploy / "kustomization.yaml").read_text())
    assert kustomization["resources"] == ["deployment.yaml", "service.yaml", "networkpolicy.yaml"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    assert {"name": "PORT", "value": str(port)} in container["env"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    security = container["securityContext"]
    assert security["runAsUser"] == security["runAsGroup"] == 65532 and security["runAsNonRoot"]
    assert security["readOnlyRootFilesystem"] and not security["allowPrivilegeEscalation"]
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert pod["terminationGracePeriodSeconds"] > drain_seconds(container, root / "main.go")
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert "USER 65532:65532" in (root / "Dockerfile").read_text()
    low_port = any(
        s["name"] == "net.ipv4.ip_unprivileged_port_start" for s in pod["securityContext"].get("sysctls", [])
    )
    assert low_port == (port < 1024)
    assert container["name"] == app and len(app) <= 63


def drain_seconds(container: dict[str, Any], main_go: Path) -> float:
    """SHUTDOWN_DELAY of the container plus the server's shutdown timeout: the longest a stop takes."""
    shutdown = re.search(r"shutdownTimeout = (\d+) \* time.Second", main_go.read_text())
    assert shutdown, "main.go states its shutdown timeout"
    (delay,) = [env["value"] for env in container["env"] if env["name"] == "SHUTDOWN_DELAY"]
    seconds = re.fullmatch(r"(\d+)s", delay)
    assert seconds, f"SHUTDOWN_DELAY={delay!r}: write it in whole seconds"
    assert int(seconds.group(1)) > 0, "without a delay, a rolling update drops requests"
    return int(seconds.group(1)) + int(shutdown.group(1))


def test_network_policy_admits_only_the_service_port(project: tuple[Path, dict[str, Any]]) -> None:
    """The NetworkPolicy selects the Deployment's pods and admits ingress to the container port only."""
    root, answers = project
    if not answers["with_k8s"]:
        return
    deploy = root / "deploy"
    policy = yaml.safe_load((deploy / "networkpolicy.yaml").read_text())
    deployment = yaml.safe_load((deploy / "deployment.yaml").read_text())
    assert policy["kind"] == "NetworkPolicy"
    assert policy["spec"]["podSelector"] == {"matchLabels": deployment["spec"]["selector"]["matchLabels"]}
    assert policy["spec"]["policyTypes"] == ["Ingress"], "egress stays open"
    (rule,) = policy["spec"]["ingress"]
    assert rule["from"] == [{"podSelector": {}}], "from the pods of the namespace by default"
    assert rule["ports"] == [{"port": answers["port"], "protocol": "TCP"}]


def checkov_reports(root: Path) -> list[dict[str, Any]]:
    """checkov's JSON report on `root`, run by the project's own `make policy` (offline, as its CI
    runs it): one entry per framework that found files."""
    done = run(["make", "--silent", "policy", "CHECKOV=checkov --output json"], root)
    assert done.returncode in (0, 1) and done.stdout.lstrip().startswith(("[", "{")), (
        done.stdout + done.stderr
    )
    reports = json.loads(done.stdout)
    return reports if isinstance(reports, list) else [reports]


# The checks that do not apply to a kustomize base, each skipped in the manifest with its reason.
CHECKOV_SKIPS = {
    "CKV_K8S_21": "namespace",  # the default namespace
    "CKV_K8S_43": "digest",  # the image by digest
    "CKV_K8S_15": "digest",  # imagePullPolicy Always
}


def test_checkov_finds_nothing_and_every_skip_says_why(project: tuple[Path, dict[str, Any]]) -> None:
    """Zero failed checkov checks on the Dockerfile, the workflows and the manifests; skips carry reasons."""
    root, answers = project
    reports = {report["check_type"]: report for report in checkov_reports(root)}
    optional = {"github_actions": answers["with_github_actions"], "kubernetes": answers["with_k8s"]}
    assert set(reports) == {"dockerfile"} | {kind for kind, present in optional.items() if present}
    for kind, report in reports.items():
        summary, results = report["summary"], report["results"]
        failed = [(c["check_id"], c["file_path"]) for c in results["failed_checks"]]
        assert summary["failed"] == 0 and not failed, f"{kind}: {failed}"
        assert summary["parsing_errors"] == 0 and summary["passed"] > 50, summary
        for skipped in results.get("skipped_checks", []):
            assert skipped["check_id"] in CHECKOV_SKIPS, skipped["check_id"]
            reason = skipped["check_result"]["suppress_comment"]
            assert CHECKOV_SKIPS[skipped["check_id"]] in reason, (skipped["check_id"], reason)
    if answers["with_k8s"]:
        passed = {c["check_id"] for c in reports["kubernetes"]["results"]["passed_checks"]}
        assert "CKV2_K8S_6" in passed, "every pod is selected by a NetworkPolicy"


def test_compose_runs_hardened(project: tuple[Path, dict[str, Any]]) -> None:
    """compose.yaml: read-only root, no capabilities, no-new-privileges, the image's user and healthcheck."""
    root, answers = project
    if not answers["with_compose"]:
        return
    service = yaml.safe_load((root / "compose.yaml").read_text())["services"][answers["app_name"]]
    assert service["read_only"] is True and service["cap_drop"] == ["ALL"]
    assert service["security_opt"] == ["no-new-privileges:true"] and service["user"] == "65532:65532"
    assert service["healthcheck"]["test"] == ["CMD", f"/usr/local/bin/{answers['app_name']}", "-healthcheck"]


def test_workflow_pins_actions_by_commit_and_grants_least(project: tuple[Path, dict[str, Any]]) -> None:
    root, answers = project
    if not answers["with_github_actions"]:
        return
    text = (root / ".github/workflows/ci.yml").read_text()
    workflow = yaml.safe_load(text)
    assert workflow["permissions"] == {} and workflow["concurrency"]["cancel-in-progress"] is True
    uses = re.findall(r"uses: (\S+)@(\S+) # (v\d+\.\d+\.\d+)", text)
    assert len(uses) == text.count("uses:") >= 3
    assert all(re.fullmatch(r"[0-9a-f]{40}", sha) for _, sha, _ in uses)
    for job in workflow["jobs"].values():
        assert job["permissions"] == {"contents": "read"}
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False
    assert "make smoke" in text and "shellcheck scripts/*.sh" in text
    assert 'make policy CHECKOV="pipx run checkov"' in text, "the lint job runs checkov as `make policy` does"


def test_the_template_check_workflow_reads_the_source_however_yaml_writes_it(tmp_path: Path) -> None:
    """The weekly workflow reads `_src_path` with sed: it gets the same URL whether the answers
    file writes it plain (Copier, gostarter) or quoted (YAML may quote any string)."""
    root = render_project(tmp_path / "svc", {"with_renovate": False})
    workflow = yaml.safe_load((root / ".github/workflows/template-check.yml").read_text())
    (step,) = [step for step in workflow["jobs"]["check"]["steps"] if step.get("id") == "check"]
    reading = next(line for line in step["run"].splitlines() if line.startswith("source="))
    url = "https://git.example.com/platform/gostarter.git"
    for written in (url, f'"{url}"', f"'{url}'", f"   {url}"):
        (root / ".copier-answers.yml").write_text(f"_commit: 1.0.0\n_src_path: {written}\napp_name: svc\n")
        assert yaml.safe_load((root / ".copier-answers.yml").read_text())["_src_path"] == url
        done = run(["bash", "-euo", "pipefail", "-c", f'{reading}\nprintf %s "$source"'], root)
        assert done.returncode == 0 and done.stdout == url, (written, done.stdout, done.stderr)
    # What gostarter itself writes for a template it knows by URL (a wheel's, a download's): plain.
    write_provenance(root, "1.0", url)
    assert f"_src_path: {url}\n" in (root / ".copier-answers.yml").read_text()
    assert yaml.safe_load((root / ".copier-answers.yml").read_text())["_commit"] == "1.0"


@pytest.mark.parametrize(
    "value",
    ["https://git.example.com/t.git", "git@host:org/t.git", "1.0", "1234567", "1e12345", "0o17", "true",
     "null", "~", "a: b #c", "-dash", "it's", "é/ü", "a\nb", "\x85", "x\u2028y", "1.2.3-4-gabc-dirty"],
)  # fmt: skip
def test_provenance_is_one_yaml_line_that_reads_back_as_written(tmp_path: Path, value: str) -> None:
    """`_src_path` and `_commit` stay one line each, read back as the same string by a YAML 1.1
    reader (PyYAML) and hold no plain scalar a YAML 1.2 reader takes for a number or a boolean."""
    (tmp_path / ".copier-answers.yml").write_text("# Changes here will be overwritten\napp_name: svc\n")
    write_provenance(tmp_path, value, value)
    lines = (tmp_path / ".copier-answers.yml").read_text().splitlines()
    assert len(lines) == 4, lines
    written = yaml.safe_load((tmp_path / ".copier-answers.yml").read_text())
    assert written["_commit"] == value and written["_src_path"] == value
    plain = next(line for line in lines if line.startswith("_commit:")).split(": ", 1)[1]
    if re.fullmatch(r"[-+]?[0-9][0-9eEoOxX.+-]*|true|false|null|~", plain):
        pytest.fail(f"{plain} is a number, a boolean or null to YAML 1.2")


def test_the_ci_builds_and_smoke_tests_every_platform_the_answers_name(
    project: tuple[Path, dict[str, Any]],
) -> None:
    """One image job per platform (a matrix), QEMU set up by its pinned action only for a foreign
    platform, Buildx always; without platforms, one job on the runner's own, as before."""
    root, answers = project
    if not answers["with_github_actions"]:
        return
    workflow = yaml.safe_load((root / ".github/workflows/ci.yml").read_text())
    job = workflow["jobs"]["image"]
    uses = [step.get("uses", "") for step in job["steps"]]
    named = [item for item in answers.get("platforms", "").split(",") if item]
    smoke = job["steps"][-1]
    if named:
        assert job["strategy"]["matrix"]["platform"] == named
        assert job["strategy"]["fail-fast"] is False
        assert smoke["env"] == {"PLATFORM": "${{ matrix.platform }}"}
        assert 'PLATFORM="${PLATFORM}"' in smoke["run"], "the platform reaches make as data, not as code"
    else:
        assert "strategy" not in job and "PLATFORM" not in smoke["run"]
    qemu = "docker/setup-qemu-action@96fe6ef7f33517b61c61be40b68a1882f3264fb8"
    foreign = [item.removeprefix("linux/") for item in named if item != "linux/amd64"]
    assert (qemu in uses) == bool(foreign)
    if foreign:
        assert job["steps"][uses.index(qemu)]["with"] == {"platforms": ",".join(foreign)}
    assert "docker/setup-buildx-action@37fe631027851001ddb9b187196cc803df7f5f0e" in uses
