"""Which platforms a verification runs on, and whether this machine can run each of them.

A platform is what BuildKit's `--platform` and the engine name: `linux/amd64`,
`linux/arm64`, `linux/arm/v7`. The service is verified on the platforms the
command line names (`--platform`), else on those its answers name (the
`platforms` question), else on the engine's own. A platform other than the
machine's own runs under emulation (QEMU's user mode, registered with the
kernel's binfmt_misc): that is looked up before anything is built, never
assumed, and a platform it is missing for fails with one line on how to enable it.

Emulation translates every instruction, so the service starts and answers
several times slower: the first-answer and health deadlines of an emulated
platform are EMULATION_FACTOR times the native ones.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from generator.errors import UsageError

if TYPE_CHECKING:
    import docker

# Go's GOARCH (and the OCI architecture) -> QEMU's name for it (its binfmt entry, qemu-<name>-static).
QEMU_ARCH = {
    "amd64": "x86_64",
    "arm64": "aarch64",
    "arm": "arm",
    "386": "i386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}
# What the kernel reports (uname -m) -> GOARCH.
_MACHINE = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64", "i686": "386", "armv7l": "arm"}
_PLATFORM = re.compile(r"linux/(amd64|arm64|arm/v[5-7]|386|ppc64le|s390x|riscv64)")
# How many times the native deadlines an emulated platform's first answer and health get. Measured
# on a 2-core amd64 machine (README, "Every platform"): the arm64 service answered 1.8-2.3x later
# than the native one and turned healthy 1.7-2.2x later (each HEALTHCHECK probe starts a Go process
# under QEMU); 5x leaves room for a loaded machine and bigger services, and a service that never
# answers still fails within 150 s.
EMULATION_FACTOR = 5.0
BINFMT = Path("/proc/sys/fs/binfmt_misc")


def parse(text: str, source: str) -> tuple[str, ...]:
    """A comma-separated list of platforms (linux/amd64,linux/arm64), each once, in order; empty
    text is no list. A platform gostarter cannot verify is a UsageError naming `source`."""
    names: list[str] = []
    for item in text.split(","):
        name = item.strip()
        if not name:
            continue
        if not _PLATFORM.fullmatch(name):
            raise UsageError(
                f"{source}: {name!r} is not a platform gostarter can verify",
                hint="name Linux platforms as Docker does, e.g. linux/amd64,linux/arm64",
            )
        if name not in names:
            names.append(name)
    return tuple(names)


def arch(platform: str) -> str:
    """GOARCH of `platform`: linux/arm/v7 -> arm."""
    return platform.split("/")[1]


def host_platform() -> str:
    """This machine's own platform, as its kernel reports it."""
    machine = os.uname().machine
    return f"linux/{_MACHINE.get(machine, machine)}"


def engine_platform(client: docker.DockerClient) -> str:
    """The platform the engine's containers run on natively (its own report)."""
    version = client.version()
    os_name, architecture = version.get("Os") or "linux", version.get("Arch") or ""
    return f"{os_name}/{_MACHINE.get(architecture, architecture)}" if architecture else host_platform()


def runs_natively(platform: str, native: str) -> bool:
    """Whether `platform` runs on a machine of platform `native` without emulation."""
    return arch(platform) == arch(native) or (arch(platform) == "386" and arch(native) == "amd64")


def how_to_enable(platform: str) -> str:
    """The one line on enabling emulation of `platform`."""
    qemu = QEMU_ARCH.get(arch(platform), arch(platform))
    return (
        f"enable emulation of {platform}: on Debian/Ubuntu `apt-get install qemu-user-static binfmt-support` "
        f"(it registers qemu-{qemu} with flag F), on Docker Desktop it is built in, elsewhere "
        f"`docker run --privileged --rm tonistiigi/binfmt --install {arch(platform)}`"
    )


def binfmt_problem(platform: str, root: Path = BINFMT) -> str | None:
    """Why this kernel cannot run `platform`'s binaries in containers, or None when it can: a
    binfmt_misc handler for its QEMU must be registered, enabled and fixed (flag F: the kernel
    opens the interpreter at registration, so containers, which do not have it, use it too)."""
    qemu = QEMU_ARCH.get(arch(platform), arch(platform))
    entry = root / f"qemu-{qemu}"
    try:
        text = entry.read_text()
    except FileNotFoundError:
        where = (
            "is registered"
            if (root / "register").exists()
            else f"can be (binfmt_misc is not mounted on {root})"
        )
        return f"no emulator for {platform} {where}: {entry} does not exist"
    except OSError as err:
        return f"cannot read {entry}: {err.strerror}"
    lines = text.splitlines()
    if not lines or lines[0].strip() != "enabled":
        said = lines[0] if lines else "nothing"
        return f"the emulator for {platform} is registered but disabled ({entry} says {said})"
    flags = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("flags:")), "")
    if "F" not in flags:
        return f"the emulator for {platform} ({entry}) lacks flag F, so containers cannot use it"
    return None


def _local_engine() -> bool:
    host = os.environ.get("DOCKER_HOST", "")
    return not host or host.startswith("unix://")


def emulation_problem(platform: str, native: str, client: docker.DockerClient) -> str | None:
    """Why the engine cannot run `platform`, or None when it can (natively or emulated).

    Found, not assumed: Docker Desktop says so in its own report (emulation is built in); a
    local Linux engine shares this kernel, whose binfmt_misc entry is read; of any other engine
    nothing can be known, and the platform fails rather than being guessed to work.
    """
    if runs_natively(platform, native):
        return None
    info = client.info()
    if "docker desktop" in str(info.get("OperatingSystem", "")).lower():
        return None
    if _local_engine():
        problem = binfmt_problem(platform)
        return None if problem is None else f"{problem}; {how_to_enable(platform)}"
    return (
        f"cannot tell whether the engine at {os.environ.get('DOCKER_HOST')} can run {platform} "
        f"(it is not on this machine); {how_to_enable(platform)} on the engine's machine"
    )


@dataclass(frozen=True)
class NativeRunner:
    """How a binary of a platform runs on this machine: directly, or through qemu-<arch>-static."""

    prefix: tuple[str, ...]
    emulated: bool


def native_runner(platform: str, paths: Iterable[str] | None = None) -> NativeRunner | str:
    """How native mode runs a `platform` binary here, or the one line on why it cannot."""
    if runs_natively(platform, host_platform()):
        return NativeRunner((), emulated=False)
    qemu = f"qemu-{QEMU_ARCH.get(arch(platform), arch(platform))}-static"
    found = shutil.which(qemu, path=os.pathsep.join(paths) if paths is not None else None)
    if found is None:
        return (
            f"cannot run a {platform} binary on this {host_platform()} machine: no {qemu} on PATH "
            "(Debian/Ubuntu: apt-get install qemu-user-static)"
        )
    return NativeRunner((found,), emulated=True)


def deadline_factor(emulated: bool) -> float:
    return EMULATION_FACTOR if emulated else 1.0
