"""What a smoke container's state tells when it does not answer: how it ended, whether it is
paused, where it listens, and its last output. Each function reads the engine and returns words.
"""

from __future__ import annotations

import contextlib
import re
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generator.verify.limits import shown_bytes

if TYPE_CHECKING:
    from docker.models.containers import Container


def _last_output(container: Container, lines: int = 15) -> str:
    return str(container.logs(tail=lines).decode("utf-8", "replace").strip())


def _ended(state: dict[str, Any], memory: int) -> str:
    """How a container that is no longer running ended: exit code, signal, out of memory."""
    code = state.get("ExitCode")
    if state.get("OOMKilled"):
        return (
            f"was killed: out of memory (limit {shown_bytes(memory)})"
            if memory
            else "was killed: out of memory"
        )
    if isinstance(code, int) and code > 128:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(code - 128).name} (exit code {code})"
    return f"exited with code {code}"


def container_exited(container: Container, when: str = "before answering") -> str | None:
    """Why the container cannot answer (it ended, or it is paused), with its last output; None
    while it runs. The first line is the reason, the rest the output."""
    container.reload()
    if container.status == "paused":
        return f"the container was paused from outside (docker pause) {when}"
    if container.status in {"exited", "dead"}:
        ended = _ended(container.attrs["State"], int(container.attrs["HostConfig"].get("Memory") or 0))
        logs = _last_output(container)
        return f"the container {ended} {when}" + (f"; its last output:\n{logs}" if logs else "")
    return None


def _listening(container: Container) -> list[tuple[str, int]] | None:
    """The container's listening TCP sockets as (address, port), read from /proc/PID/net/tcp
    where the engine runs on this machine; None where they cannot be read from here."""
    pid = int(container.attrs["State"].get("Pid") or 0)
    found: list[tuple[str, int]] = []
    try:
        if not pid or container.id not in Path(f"/proc/{pid}/cgroup").read_text():
            return None  # not this machine's process (a remote engine, another pid namespace)
        for table in ("tcp", "tcp6"):
            for row in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
                fields = row.split()
                if len(fields) > 3 and fields[3] == "0A":  # LISTEN
                    address, _, port = fields[1].partition(":")
                    found.append((_address(address), int(port, 16)))
    except (OSError, ValueError):
        return None
    return found


def _address(hex_address: str) -> str:
    """An address of /proc/net/tcp (hexadecimal, little-endian) as the kinds that matter here."""
    if set(hex_address) == {"0"}:
        return "all interfaces"
    if hex_address.endswith("7F"):  # 127.x.x.x, or IPv4-mapped in tcp6
        return "127.0.0.1"
    if hex_address == "0" * 24 + "01000000":
        return "::1"
    return "one address"


_LOG_PORT = re.compile(r"listen\w*\W.*?(?:\[[^\]]*\]|[\w.-]*):(\d{1,5})\b", re.IGNORECASE)


def not_answering(container: Container, port: int) -> tuple[str, str]:
    """What is known about a running container that never answered: where it listens
    (its /proc/net/tcp, else its log), and its last output."""
    container.reload()
    logs = _last_output(container)
    sockets = _listening(container)
    if sockets is None:  # the engine is elsewhere: what the log says
        sockets = [("", int(match.group(1))) for match in _LOG_PORT.finditer(logs)]
    ours = [address for address, listened in sockets if listened == port]
    others = sorted({listened for _, listened in sockets if listened != port})
    if ours and all(address in {"127.0.0.1", "::1"} for address in ours):
        known = (
            f"it listens on {ours[0]}:{port} only, which the published port cannot reach: "
            f"listen on all interfaces (:{port})"
        )
    elif ours:
        known = f"it listens on port {port}"
    elif others:
        shown = ", ".join(str(other) for other in others)
        known = f"it listens on port {shown}, not on {port}, the port the image is run and published with"
    else:
        known = "nothing listens in the container (it is still running)"
    return known, logs
