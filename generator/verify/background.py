"""Work that does not depend on each other, run side by side on daemon threads.

A verification waits on other processes most of the time (the engine, a docker
client, the container): looking up the engine while Copier renders, or checking
/healthz, the HEALTHCHECK and the user at once, costs the longest of them
instead of their sum. The threads are daemons, so a Ctrl-C in the main thread
is never held up by one; each piece of work keeps its own deadline.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, wait
from typing import Any, TypeVar

T = TypeVar("T")


def in_background(work: Callable[[], T], name: str) -> Future[T]:
    """Start `work` on a daemon thread; its Future holds what it returned or raised."""
    future: Future[T] = Future()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(work())
        except BaseException as err:  # noqa: BLE001 - handed to whoever asks for the result
            future.set_exception(err)

    threading.Thread(target=run, name=f"gostarter-{name}", daemon=True).start()
    return future


def first_failure(*futures: Future[Any]) -> None:
    """Wait until all are done or one has failed, and raise that failure.

    A failing check is reported at once instead of after the slowest of the
    others (when several have failed by then, the first of them as given).
    """
    done, _ = wait(futures, return_when=FIRST_EXCEPTION)
    for future in futures:
        failure = future.exception() if future in done else None
        if failure is not None:
            raise failure
