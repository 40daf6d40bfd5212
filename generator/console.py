"""Progress and diagnostics on stderr: one live line on a terminal, plain lines otherwise."""

from __future__ import annotations

import shutil
import sys
import threading
import time
from typing import TextIO

from generator.reporting import Phase

HEARTBEAT_SECONDS = 10.0


class Progress:
    """Shows the current phase and its elapsed time (a reporting.Reporter, for the terminal).

    On a terminal, one line is redrawn in place (a ticker keeps the elapsed
    time moving through silent build steps); elsewhere, each new phase or
    step is printed once as a plain line, and the line again (with "still
    waiting") when nothing was printed for HEARTBEAT_SECONDS, so that a log
    shows a wait is alive. `quiet` shows nothing; `verbose` passes every raw
    log line through.
    """

    def __init__(self, *, stream: TextIO | None = None, quiet: bool = False, verbose: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.verbose = verbose
        self.live = not quiet and not verbose and self.stream.isatty()
        self._phase: str | None = None
        self._detail = ""
        # The platform whose phases follow, when a verification runs on several ("" otherwise).
        self.platform = ""
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._printed = time.monotonic()

    def phase(self, name: str, detail: str = "") -> None:
        """Enter a new phase: build, start, smoke, stop (healthy is a step of smoke here), or
        any other a caller names (the benchmark's)."""
        if name is Phase.HEALTHY:  # one line per container phase: its clock keeps running
            self.step(detail)
            return
        with self._lock:
            self._phase, self._detail = name, detail
            self._started = time.monotonic()
            if self.live:
                self._draw()
            elif not self.quiet:
                self._print("gostarter: " + self._text())
            if not self.quiet and self._ticker is None:
                self._ticker = threading.Thread(target=self._tick, daemon=True)
                self._ticker.start()

    def step(self, detail: str) -> None:
        """A new step inside the phase (a build instruction, a check)."""
        with self._lock:
            if detail == self._detail:
                return
            self._detail = detail
            if self.live:
                self._draw()
            elif not self.quiet and not self.verbose:
                self._print("gostarter: " + self._text())

    def raw(self, line: str) -> None:
        """A raw log line: shown only with --verbose."""
        if self.verbose:
            with self._lock:
                self._print(line)

    def note(self, message: str) -> None:
        """A message that stays on screen, whatever the mode but quiet."""
        if not self.quiet:
            with self._lock:
                self._clear()
                self._print(f"gostarter: {message}")
                if self.live and self._phase is not None:
                    self._draw()

    def close(self) -> None:
        """Stop the ticker and clear the live line."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=1)
            self._ticker = None
        self._stop.clear()  # a later phase may start a new ticker
        with self._lock:
            self._clear()
            self._phase = None

    def _tick(self) -> None:
        while not self._stop.wait(0.25):
            with self._lock:
                if self._phase is None:
                    continue
                if self.live:
                    self._draw()
                elif time.monotonic() - self._printed >= HEARTBEAT_SECONDS:
                    self._print(f"gostarter: {self._text()} (still waiting)")

    def _text(self) -> str:
        elapsed = time.monotonic() - self._started
        shown = str(self._phase or "")
        phase = f"{shown} {self.platform}" if self.platform else shown
        return f"[{elapsed:5.1f}s] {phase}" + (f": {self._detail}" if self._detail else "")

    def _draw(self) -> None:
        width = shutil.get_terminal_size((80, 24)).columns - 1
        self.stream.write("\r\x1b[K" + self._text()[:width])
        self.stream.flush()

    def _clear(self) -> None:
        if self.live:
            self.stream.write("\r\x1b[K")
            self.stream.flush()

    def _print(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()
        self._printed = time.monotonic()
