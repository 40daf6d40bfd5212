"""Nothing outlives a dead run: labels that name the run, and the reaper that reads them.

Every container and image a verification creates carries labels naming its run:
the run id, the process, the process's start time and the host. A run removes
its own on the way out; one that died (killed, its machine or its engine
restarted) cannot, so each verification first removes the labelled containers
and `verify-*` image tags of runs whose process is gone, as testcontainers'
reaper does for the containers of test runs that died. A process is judged
only on the host and in the process namespace where it ran: a run elsewhere
is never touched, and neither is any live run.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import docker

CONTAINER_LABEL = "dev.gostarter.verify"  # on containers: the run id, as before
# On images; a key of their own, because containers inherit their image's labels:
# a container someone starts from APP:dev later must not look like a run's.
IMAGE_LABEL = "dev.gostarter.verify-image"
OWN_TAG = ":verify-"


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _start_ticks(pid: int) -> str:
    """When process `pid` started, in clock ticks since boot (field 22 of /proc/PID/stat); "" if gone."""
    stat = _read(f"/proc/{pid}/stat")
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else ""


def _host() -> str:
    """This host and process namespace: where a run's pid means that run."""
    namespace = ""
    with contextlib.suppress(OSError):
        namespace = os.readlink("/proc/self/ns/pid")
    return f"{socket.gethostname()} {namespace}".strip()


@dataclass(frozen=True)
class Owner:
    """Who a verification run is: its id and the process that owns it."""

    id: str
    pid: int
    started: str  # "BOOT-ID:TICKS", or "" where /proc cannot tell
    host: str

    @classmethod
    def new(cls) -> Owner:
        pid = os.getpid()
        boot, ticks = _read("/proc/sys/kernel/random/boot_id"), _start_ticks(pid)
        return cls(uuid.uuid4().hex[:12], pid, f"{boot}:{ticks}" if boot and ticks else "", _host())

    def labels(self, key: str) -> dict[str, str]:
        """The labels naming this run, under `key` (CONTAINER_LABEL or IMAGE_LABEL)."""
        return {
            key: self.id,
            f"{key}.pid": str(self.pid),
            f"{key}.started": self.started,
            f"{key}.host": self.host,
        }

    @classmethod
    def of(cls, labels: Mapping[str, str], key: str) -> Owner | None:
        """The run named by `labels`; None when they do not name one fully (another tool's, an old run's)."""
        try:
            return cls(
                labels[key], int(labels[f"{key}.pid"]), labels[f"{key}.started"], labels[f"{key}.host"]
            )
        except (KeyError, ValueError):
            return None

    def dead(self) -> bool:
        """True only when this run's process is known to be gone (or its pid now names another)."""
        if self.host != _host():
            return False  # another machine or namespace: its pid means nothing here
        boot, _, ticks = self.started.partition(":")
        if boot and boot != _read("/proc/sys/kernel/random/boot_id"):
            return True  # the machine restarted since
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass  # alive, another user's
        return bool(ticks) and _start_ticks(self.pid) not in {"", ticks}


def reap(client: docker.DockerClient) -> str:
    """Remove the containers and `verify-*` tags of runs that died; one line saying so, or ""."""
    import docker

    # The engine's listings as they come (the SDK's models would inspect every labelled image
    # once more: every APP:dev a verification tagged carries the labels).
    containers, tags, pids = 0, [], set()
    for container in client.api.containers(all=True, filters={"label": f"{CONTAINER_LABEL}.pid"}):
        run = Owner.of(container.get("Labels") or {}, CONTAINER_LABEL)
        if run is not None and run.dead():
            with contextlib.suppress(docker.errors.APIError):  # gone already: another run reaped it
                client.api.remove_container(container["Id"], force=True)
                containers += 1
            pids.add(run.pid)
    for image in client.api.images(filters={"label": f"{IMAGE_LABEL}.pid"}):
        run = Owner.of(image.get("Labels") or {}, IMAGE_LABEL)
        if run is None or not run.dead():
            continue
        for tag in (t for t in image.get("RepoTags") or [] if OWN_TAG in t):
            with contextlib.suppress(docker.errors.APIError):
                client.images.remove(tag, force=True)
                tags.append(tag)
            pids.add(run.pid)
    if not containers and not tags:
        return ""
    what = [f"{containers} container{'s' * (containers != 1)}"] if containers else []
    what += [f"image tag{'s' * (len(tags) != 1)} {', '.join(sorted(tags))}"] if tags else []
    runs = ", ".join(str(pid) for pid in sorted(pids))
    whose = (
        f"a verification that died (pid {runs})"
        if len(pids) == 1
        else f"verifications that died (pids {runs})"
    )
    return f"removed {' and '.join(what)} left by {whose}"
