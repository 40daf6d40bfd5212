"""Verified before download: `POST /api/verify` streams one verification's events as they happen.

The stream is the request itself (server-sent events), so no job state lives
between requests and any replica can serve it. Each verification runs in a
process of its own (`verify_process.py`), which calls the same verification as
`gostarter new`; this module admits it (at most `max_verifications` at once,
`verify_queue` more waiting, beyond that 503 with Retry-After), feeds its
events to the client, and stops it, whatever ends the request first: the
result, the deadline, the client going away, or the server stopping. Stopping
is SIGTERM to the process (the CLI's Ctrl-C path: build client stopped,
containers and the run's image tag removed), SIGKILL if it has not finished
within STOP_SECONDS; its temporary directory is removed either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from generator.reporting import Outcome
from generator.web.drain import Drain
from generator.web.jobs import Job
from generator.web.verify_process import Event

STOP_SECONDS = 4.0  # SIGTERM, then SIGKILL: cancelled work is gone within 5 s
POLL_SECONDS = 0.2


class Busy(Exception):
    """Every verification slot and every place in the queue is taken."""

    def __init__(self, running: int, waiting: int, retry_after: int) -> None:
        super().__init__(f"the server is busy: {running} verification(s) running, {waiting} waiting")
        self.running, self.waiting, self.retry_after = running, waiting, retry_after


@dataclass
class Verifications:
    """The server's verification slots and queue (one per application, in its state.State)."""

    running_limit: int = 1
    queue_limit: int = 4
    timeout: float = 300.0
    running: int = 0
    waiting: int = 0
    typical_seconds: float = 30.0  # the last verifications' duration, for Retry-After

    def __post_init__(self) -> None:
        self._slots = asyncio.Semaphore(self.running_limit)

    def admit(self) -> int:
        """Take a place in the queue, or Busy; returns how many are ahead."""
        ahead = self.running + self.waiting
        if ahead >= self.running_limit + self.queue_limit:
            turns = math.ceil((self.waiting + 1) / self.running_limit)
            raise Busy(self.running, self.waiting, max(1, math.ceil(turns * self.typical_seconds)))
        self.waiting += 1
        return max(0, ahead - self.running_limit + 1) if ahead >= self.running_limit else 0

    async def wait_turn(self, drain: Drain) -> bool:
        """Leave the queue for a slot (admitted first): True holding it (give it back with
        `holding`), False when the server began to stop first."""
        try:
            while not drain.stopping:
                try:
                    await asyncio.wait_for(self._slots.acquire(), POLL_SECONDS)
                except TimeoutError:
                    continue
                self.running += 1
                return True
            return False
        finally:
            self.waiting -= 1

    @contextlib.asynccontextmanager
    async def holding(self) -> AsyncIterator[None]:
        """Hold the slot `wait_turn` gave, and give it back on the way out."""
        began = asyncio.get_running_loop().time()
        try:
            yield
        finally:
            self.running -= 1
            self._slots.release()
            spent = asyncio.get_running_loop().time() - began
            self.typical_seconds = 0.7 * self.typical_seconds + 0.3 * spent

    def leave(self) -> None:
        """Give up a place in the queue that was never waited for (the client left at once)."""
        self.waiting -= 1


def sse(event: Event, data: Mapping[str, Any]) -> bytes:
    """One server-sent event."""
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


async def _stop(process: asyncio.subprocess.Process) -> None:
    """SIGTERM (the verification cleans up as for Ctrl-C), SIGKILL after STOP_SECONDS."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), STOP_SECONDS)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


async def _lines(process: asyncio.subprocess.Process, queue: asyncio.Queue[bytes]) -> None:
    assert process.stdout is not None
    while line := await process.stdout.readline():
        await queue.put(line)
    await queue.put(b"")


def _ended(why: Outcome, reason: str) -> tuple[Event, dict[str, Any]]:
    return Event.RESULT, {"result": why, "summary": f"verification {why}: {reason}", "reason": reason}


async def _events(
    process: asyncio.subprocess.Process, deadline: float, drain: Drain, timeout: float
) -> AsyncIterator[tuple[Event, dict[str, Any]]]:
    """The verification's events until its result, the deadline, or the server stopping."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    reader = asyncio.create_task(_lines(process, queue))
    loop = asyncio.get_running_loop()
    try:
        while True:
            if drain.stopping:
                yield _ended(Outcome.CANCELLED, "the server is stopping")
                return
            if loop.time() >= deadline:
                took = f"the verification took longer than {timeout:g} s (--verify-timeout)"
                yield _ended(Outcome.FAILED, took)
                return
            try:
                line = await asyncio.wait_for(queue.get(), POLL_SECONDS)
            except TimeoutError:
                continue
            if not line:
                return
            record = json.loads(line)
            yield Event(record.pop("event")), record
    finally:
        reader.cancel()


async def stream(
    verifications: Verifications, drain: Drain, job: Job, answers: dict[str, str], work: Path, ahead: int
) -> AsyncIterator[bytes]:
    """The response body of one admitted verification (see the module's docstring). The caller
    takes its first event at once, so that the place in the queue is always given back."""
    try:
        yield sse(Event.QUEUED, {"ahead": ahead, "running": verifications.running})
    except BaseException:
        verifications.leave()
        raise
    if not await verifications.wait_turn(drain):
        yield sse(*_ended(Outcome.CANCELLED, "the server is stopping"))
        return
    async with verifications.holding():
        job_dir = Path(tempfile.mkdtemp(prefix="verify-", dir=work))
        log = job_dir / "verifier.log"
        process = None
        try:
            request = {
                "tree": str(job.prepared.tree), "version": job.prepared.version,
                "source": job.prepared.source, "preset": dict(job.preset),
                "preset_source": job.preset_source, "answers": answers,
            }  # fmt: skip
            with log.open("wb") as errors:
                process = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "generator.web.verify_process",
                    stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=errors,
                    env={**os.environ, "TMPDIR": str(job_dir)},
                    start_new_session=True,  # a Ctrl-C at the server's terminal is the server's to handle
                )  # fmt: skip
            assert process.stdin is not None
            process.stdin.write(json.dumps(request).encode())
            await process.stdin.drain()
            process.stdin.close()
            deadline = asyncio.get_running_loop().time() + verifications.timeout
            last: tuple[Event, dict[str, Any]] | None = None
            async for event, data in _events(process, deadline, drain, verifications.timeout):
                if event in {Event.RESULT, Event.CANCELLED}:
                    last = last or (event, data)
                else:
                    yield sse(event, data)
            if last is None:
                await process.wait()
                tail = log.read_text(errors="replace").strip().splitlines()[-15:]
                event, data = _ended(Outcome.FAILED, f"the verification process exited {process.returncode}")
                last = event, {**data, "log_tail": "\n".join(tail)}
            # The last word comes after the clean-up, so that a client reading it finds nothing left
            # (the verification process says its result once its containers and images are gone, then exits).
            await _stop(process)
            shutil.rmtree(job_dir, ignore_errors=True)
            yield sse(*last)
        finally:
            with anyio.CancelScope(shield=True):
                if process is not None:
                    await _stop(process)
                shutil.rmtree(job_dir, ignore_errors=True)
