"""The initializr's render queue (generator/web/renders.py): bounded, cancelled when nobody waits,
shared between identical requests; its workers hold no socket of the server's."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from generator.web.renders import Busy, ClientGone, Renders


def note_and_sleep(log: str, name: str, seconds: float) -> str:
    """A job: append `name` to `log`, then take `seconds`."""
    with open(log, "a") as out:
        out.write(name + "\n")
    time.sleep(seconds)
    return name


async def _never() -> None:
    await asyncio.Event().wait()


async def _now() -> None:
    return None


def _renders(tmp_path: Path, queue: int) -> Renders:
    work = tmp_path / "work"
    work.mkdir()
    return Renders(workers=2, queue=queue, seconds=60, work=work)


def test_identical_requests_in_flight_share_one_render(tmp_path: Path) -> None:
    """Twenty identical requests at once: one render, twenty answers."""
    log = tmp_path / "log"
    renders = _renders(tmp_path, queue=0)

    async def main() -> list[str]:
        calls = [renders.run("same", note_and_sleep, str(log), "a", 0.5, gone=_never) for _ in range(20)]
        return list(await asyncio.gather(*calls))

    try:
        assert asyncio.run(main()) == ["a"] * 20
    finally:
        renders.close()
    assert log.read_text().splitlines() == ["a"]


def test_beyond_the_queue_a_render_is_refused_at_once(tmp_path: Path) -> None:
    """Two workers (two renders handed to each) and a queue of one: of eight different renders, five
    run or wait, three are Busy."""
    log = tmp_path / "log"
    renders = _renders(tmp_path, queue=1)

    async def main() -> list[object]:
        calls = [renders.run(n, note_and_sleep, str(log), str(n), 0.5, gone=_never) for n in range(8)]
        return list(await asyncio.gather(*calls, return_exceptions=True))

    try:
        results = asyncio.run(main())
    finally:
        renders.close()
    assert results[:5] == ["0", "1", "2", "3", "4"]
    assert all(isinstance(result, Busy) and result.retry_after >= 1 for result in results[5:])
    assert sorted(log.read_text().splitlines()) == ["0", "1", "2", "3", "4"]


def test_a_render_nobody_waits_for_any_more_never_starts(tmp_path: Path) -> None:
    """Renders waiting for a worker whose clients have gone are cancelled: they never run."""
    log = tmp_path / "log"
    renders = _renders(tmp_path, queue=10)

    async def main() -> list[object]:
        busy = [renders.run(n, note_and_sleep, str(log), f"busy{n}", 1.0, gone=_never) for n in range(4)]
        running = [asyncio.ensure_future(call) for call in busy]
        await asyncio.sleep(0.2)  # both workers taken, and one more render handed to each
        left = [renders.run(n, note_and_sleep, str(log), f"left{n}", 0.1, gone=_now) for n in range(4, 10)]
        outcomes = await asyncio.gather(*left, return_exceptions=True)
        await asyncio.gather(*running)
        await asyncio.sleep(0.5)
        return list(outcomes)

    try:
        outcomes = asyncio.run(main())
    finally:
        renders.close()
    assert all(isinstance(outcome, ClientGone) for outcome in outcomes)
    assert sorted(log.read_text().splitlines()) == ["busy0", "busy1", "busy2", "busy3"]
    assert renders.waiting == 0


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="reads Linux's /proc")
def test_workers_hold_none_of_the_servers_descriptors(tmp_path: Path) -> None:
    """A pool made while a socket is open (as one renewed during a request is) does not inherit it."""
    import socket

    listener = socket.create_server(("127.0.0.1", 0))
    renders = _renders(tmp_path, queue=0)
    try:

        async def pids() -> set[int]:
            return set(await asyncio.gather(*(renders.call(os.getpid) for _ in range(4))))

        inode = os.stat(listener.fileno()).st_ino
        for pid in asyncio.run(pids()):
            held = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
            assert f"socket:[{inode}]" not in held
    finally:
        renders.close()
        listener.close()


def a_verdict(log: str, seconds: float) -> dict[str, list[str]]:
    """A job whose answer is mutable, as a validation's is."""
    note_and_sleep(log, "verdict", seconds)
    return {"errors": []}


def test_requests_that_share_a_render_each_get_their_own_answer(tmp_path: Path) -> None:
    """A view that reshapes the answer it was given does not change another request's."""
    log = tmp_path / "log"
    renders = _renders(tmp_path, queue=0)

    async def main() -> list[dict[str, list[str]]]:
        calls = [renders.run("same", a_verdict, str(log), 0.5, gone=_never) for _ in range(3)]
        return list(await asyncio.gather(*calls))

    try:
        first, *others = asyncio.run(main())
    finally:
        renders.close()
    first["errors"].append("reshaped")
    assert others == [{"errors": []}] * 2
    assert log.read_text().splitlines() == ["verdict"]
