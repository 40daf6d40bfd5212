"""The worker processes and the renders that wait for them: bounded, cancellable, shared.

At most two renders per worker are handed to the pool (one running, one
ready) and at most `queue` more wait; beyond them a request is refused at once (`Busy`: 503 with
Retry-After) instead of queueing without bound. Identical requests in flight
(the same job with the same arguments: format and answers) share one render.
A render that has not started is cancelled once every request waiting for it
has gone (a closed tab, an abandoned download), so abandoned work costs no
worker time. The workers are started by a fork server that holds none of the
server's sockets; when one dies (killed, out of memory) its pool is replaced
and the dead pool's temporary directory (its `job-*` and `gostarter-copier-*`
directories) is removed at once, not at shutdown.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import itertools
import shutil
from collections.abc import Awaitable, Callable, Hashable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator import children

# What a worker imports before it is forked: a render in a new worker starts warm.
PRELOAD = ("generator.web.jobs",)
# Renders handed to the pool at once, per worker: one running and one ready, so that a worker never
# waits for the event loop between two renders. Only what has not been handed over can be cancelled.
HANDED_PER_WORKER = 2
RETRY_AFTER = 2  # seconds a refused request is told to wait: a render takes about half a second


class Busy(Exception):
    """Every worker is busy and the queue is full: try again in `retry_after` seconds."""

    def __init__(self, running: int, waiting: int, retry_after: int) -> None:
        super().__init__(f"{running} renders running and {waiting} waiting, the most this server queues")
        self.retry_after = retry_after


class TooSlow(Exception):
    """A render took longer than the server's limit."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"rendering took longer than {seconds:g} s")


class WorkerDied(Exception):
    """The worker running a render stopped (killed, out of memory); the pool has been replaced."""

    def __init__(self) -> None:
        super().__init__("a worker process stopped; try again")


class ClientGone(Exception):
    """The client closed its connection before its answer was ready."""


@dataclass(eq=False)
class _Shared:
    """One render and the requests waiting for it."""

    task: asyncio.Task[Any] | None = None
    waiters: int = 0
    started: bool = False


@dataclass(eq=False)
class Renders:
    """The pool of worker processes and what waits for it (state.Ready.renders)."""

    workers: int
    queue: int
    seconds: float
    work: Path  # each pool's temporary files go in a directory of their own under it
    pool: ProcessPoolExecutor = field(init=False)
    tmp: Path = field(init=False)  # the pool's temporary directory
    waiting: int = field(default=0, init=False)
    _generation: itertools.count[int] = field(default_factory=itertools.count, init=False)
    _shared: dict[Hashable, _Shared] = field(default_factory=dict, init=False)
    _slots: asyncio.Semaphore | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        self.tmp = self.work / f"workers-{next(self._generation)}"
        self.tmp.mkdir()
        return children.workers(self.workers, self.tmp, preload=PRELOAD)

    @property
    def running(self) -> int:
        return sum(1 for shared in self._shared.values() if shared.started)

    async def call(self, job: Callable[..., Any], *args: Any) -> Any:
        """`job(*args)` in a worker, now, outside the queue (start-up's own calls)."""
        return await asyncio.get_running_loop().run_in_executor(self.pool, functools.partial(job, *args))

    async def run(
        self, key: Hashable, job: Callable[..., Any], *args: Any, gone: Callable[[], Awaitable[None]]
    ) -> Any:
        """`job(*args)` in a worker, shared with every identical request (`key`) in flight; raises
        Busy when the queue is full, ClientGone once `gone()` returns (the client left)."""
        shared = self._shared.get(key)
        if shared is None:
            if self._slots is None:
                self._slots = asyncio.Semaphore(self.workers * HANDED_PER_WORKER)
            if len(self._shared) >= self.workers * HANDED_PER_WORKER + self.queue:  # admitted, not done
                raise Busy(self.running, len(self._shared) - self.running, retry_after=RETRY_AFTER)
            shared = _Shared()
            shared.task = asyncio.ensure_future(self._render(shared, functools.partial(job, *args)))
            shared.task.add_done_callback(functools.partial(self._finished, key, shared))
            self._shared[key] = shared
        assert shared.task is not None
        shared.waiters += 1
        watch = asyncio.ensure_future(gone())
        try:
            await asyncio.wait({shared.task, watch}, return_when=asyncio.FIRST_COMPLETED)
            if shared.task.done():  # each its own copy: a view may reshape what it was given
                return copy.deepcopy(shared.task.result())
            raise ClientGone
        finally:
            watch.cancel()
            shared.waiters -= 1
            if shared.waiters == 0 and not shared.started:
                shared.task.cancel()  # nobody waits for it and no worker has it yet

    def _finished(self, key: Hashable, shared: _Shared, task: asyncio.Task[Any]) -> None:
        if self._shared.get(key) is shared:
            del self._shared[key]
        if not task.cancelled():
            task.exception()  # retrieved: an error nobody waited for is not logged as unretrieved

    async def _render(self, shared: _Shared, call: Callable[[], Any]) -> Any:
        assert self._slots is not None
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        shared.started = True
        try:
            pool = self.pool
            loop = asyncio.get_running_loop()
            try:
                return await asyncio.wait_for(loop.run_in_executor(pool, call), self.seconds)
            except TimeoutError:
                raise TooSlow(self.seconds) from None
            except BrokenProcessPool:
                await self._renew(pool)
                raise WorkerDied from None
        finally:
            self._slots.release()

    async def _renew(self, broken: ProcessPoolExecutor) -> None:
        """Replace a pool whose worker died, so that later requests render, and remove what its
        workers left (a killed render cannot remove its own directories)."""
        if self.pool is not broken:
            return  # another request has renewed it already
        left = self.tmp
        self.pool = self._new_pool()
        await asyncio.to_thread(children.stop, broken)
        await asyncio.to_thread(shutil.rmtree, left, ignore_errors=True)

    def close(self) -> None:
        """End the workers now (what they have not finished, nobody waits for any more)."""
        children.stop(self.pool)
        shutil.rmtree(self.tmp, ignore_errors=True)
