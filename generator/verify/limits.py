"""The deadlines and resource limits a verification runs under.

The smoke container runs with the limits it is deployed with: the memory limit
and CPU of the project's Deployment (deploy/deployment.yaml) when it has one,
else 256 MiB; `--memory-limit` or GOSTARTER_MEMORY_LIMIT overrides either. The
build has a deadline too: `--build-timeout`, GOSTARTER_BUILD_TIMEOUT, 900 s.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.errors import UsageError
from generator.verify.modes import BUILD_TIMEOUT_ENV, DEFAULT_BUILD_TIMEOUT_SECONDS, MEMORY_ENV

DEFAULT_MEMORY_BYTES = 256 << 20
PIDS_LIMIT = 256  # far above what a Go service needs (a thread counts), far below a fork bomb's
MIN_MEMORY_BYTES = 6 << 20  # the least the engine accepts
DEPLOYMENT = Path("deploy") / "deployment.yaml"

# Kubernetes resource quantities: 128Mi, 1Gi, 500M, 1e9, 268435456.
_QUANTITY = re.compile(r"(\d+(?:\.\d+)?(?:[eE]\d+)?)(Ki|Mi|Gi|Ti|k|K|M|G|T)?")
_SUFFIXES = {
    "": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
    "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40,
}  # fmt: skip
_CPU = re.compile(r"(\d+(?:\.\d+)?)(m)?")


def memory_bytes(text: str, source: str) -> int:
    """A memory quantity (Kubernetes' notation: 128Mi, 1Gi, 512M, or bytes) in bytes."""
    match = _QUANTITY.fullmatch(text.strip())
    if match is None:
        raise UsageError(
            f"{source}: {text!r} is not a memory size", hint="write it as Kubernetes does, e.g. 128Mi or 1Gi"
        )
    value = math.ceil(float(match.group(1)) * _SUFFIXES[match.group(2) or ""])
    if value < MIN_MEMORY_BYTES:
        raise UsageError(f"{source}: {text!r} is below the {MIN_MEMORY_BYTES >> 20} MiB the engine accepts")
    return value


def millicores(text: str) -> int | None:
    """A CPU quantity (500m, 0.5, 2) in thousandths of a CPU; None when it is not one."""
    match = _CPU.fullmatch(str(text).strip())
    if match is None:
        return None
    value = float(match.group(1))
    return round(value if match.group(2) else value * 1000)


def shown_bytes(value: int) -> str:
    """256 MiB, 1.5 GiB: as the limit is written back to a person."""
    if value >= 1 << 30:
        return f"{value / (1 << 30):g} GiB"
    return f"{value / (1 << 20):g} MiB"


@dataclass(frozen=True)
class Limits:
    """How the smoke container is confined, and where each figure came from."""

    memory_bytes: int = DEFAULT_MEMORY_BYTES
    memory_source: str = "the default"
    pids: int = PIDS_LIMIT
    cpu_request_millicores: int | None = None
    cpu_limit_millicores: int | None = None

    def create_options(self) -> dict[str, Any]:
        """The engine's options for them (as the kubelet sets a container's cgroup)."""
        options: dict[str, Any] = {
            "mem_limit": self.memory_bytes,
            "memswap_limit": self.memory_bytes,  # no swap: a pod has none
            "pids_limit": self.pids,
        }
        if self.cpu_request_millicores:
            options["cpu_shares"] = max(2, self.cpu_request_millicores * 1024 // 1000)
        if self.cpu_limit_millicores:
            options["nano_cpus"] = self.cpu_limit_millicores * 1_000_000
        return options

    @property
    def memory(self) -> str:
        return shown_bytes(self.memory_bytes)

    def check(self) -> str:
        """The line the report's checks carry."""
        cpu = ""
        if self.cpu_request_millicores:
            cpu += f", cpu request {self.cpu_request_millicores}m"
        if self.cpu_limit_millicores:
            cpu += f", cpu limit {self.cpu_limit_millicores}m"
        return (
            f"ran with memory limit {self.memory} ({self.memory_source}), at most {self.pids} processes{cpu}"
        )


def _deployment_resources(project: Path) -> dict[str, Any]:
    """resources of the first container of the project's Deployment; {} without one."""
    try:
        import yaml  # only for a project that has manifests

        documents = list(yaml.safe_load_all((project / DEPLOYMENT).read_text()))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    for document in documents:
        if isinstance(document, dict) and document.get("kind") == "Deployment":
            spec = ((document.get("spec") or {}).get("template") or {}).get("spec") or {}
            containers = spec.get("containers") or [{}]
            resources = containers[0].get("resources") if isinstance(containers[0], dict) else None
            return resources if isinstance(resources, dict) else {}
    return {}


def for_project(project: Path, memory: str | None = None) -> Limits:
    """The limits for `project`: `memory` (from --memory-limit), else $GOSTARTER_MEMORY_LIMIT,
    else the Deployment's limit, else 256 MiB; the CPU the Deployment requests and limits."""
    resources = _deployment_resources(project)
    limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
    request, limit = millicores(requests.get("cpu", "")), millicores(limits.get("cpu", ""))
    if memory is not None:
        amount, source = memory_bytes(memory, "--memory-limit"), "--memory-limit"
    elif os.environ.get(MEMORY_ENV, "").strip():
        amount, source = memory_bytes(os.environ[MEMORY_ENV], MEMORY_ENV), MEMORY_ENV
    elif limits.get("memory"):
        amount, source = memory_bytes(str(limits["memory"]), str(DEPLOYMENT)), str(DEPLOYMENT)
    else:
        amount, source = DEFAULT_MEMORY_BYTES, "the default"
    return Limits(amount, source, PIDS_LIMIT, request, limit)


def seconds(text: str, source: str) -> float:
    """A positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value <= 0:
        raise UsageError(f"{source}: {text!r} is not a positive number of seconds")
    return value


def build_timeout(value: float | None = None) -> float:
    """The build's deadline: `value` (from --build-timeout), else $GOSTARTER_BUILD_TIMEOUT, else 900 s."""
    if value is not None:
        return value
    from_env = os.environ.get(BUILD_TIMEOUT_ENV, "").strip()
    return seconds(from_env, BUILD_TIMEOUT_ENV) if from_env else DEFAULT_BUILD_TIMEOUT_SECONDS
