"""`python -m generator` and the `gostarter` console script.

`run` is the entry point: it handles SIGINT, SIGTERM and SIGHUP from its
first line, before the heavy imports (Copier, the Docker SDK) that take most
of a second, so that an early Ctrl-C is exit 130 and one line, not a
traceback; and it leaves no child process behind on an interrupted run.
"""

import contextlib
import gc
import os
import signal
import sys


def _standard_streams() -> None:
    """A closed standard stream (`gostarter new d <&-`) becomes /dev/null, so that no file or pipe
    opened later takes its descriptor, and `sys.stdin` is never None."""
    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        try:
            os.fstat(fd)
        except OSError:
            opened = os.open(os.devnull, os.O_RDWR)
            if opened != fd:
                os.dup2(opened, fd)
                os.close(opened)
            setattr(sys, name, open(fd, mode, closefd=False))  # noqa: SIM115 - the process's own stream


def run() -> int:
    """The `gostarter` command, with the interrupt handling of `cli.main` from the first import on."""
    from generator.errors import interrupting_signal, terminations_interrupt

    try:
        with terminations_interrupt():
            _standard_streams()
            from generator import children

            children.adopt_orphans()
            from generator.cli import main

            code = main()
    except KeyboardInterrupt as interrupt:  # before main() handles them itself: while importing
        signum = interrupting_signal(interrupt)
        name = signal.Signals(signum).name
        with contextlib.suppress(OSError, ValueError):
            print(f"\ngostarter: interrupted ({name}) while starting; nothing was started", file=sys.stderr)
        code = 128 + signum
    from generator import children

    # Whatever a library or a background lookup started and left running (orphans included)
    # ends with gostarter, on every way out: nothing gostarter starts should outlive it.
    children.kill_strays()
    _flush_or_drop()
    # Exit without the interpreter's last full garbage collection: walking Copier's and pydantic's
    # objects costs about 0.2 s, and nothing of them needs finalising.
    gc.freeze()
    return code


def _flush_or_drop() -> None:
    """Flush stdout and stderr now; where they are gone (a closed terminal, a closed pipe), point
    them at /dev/null, so that the interpreter's own last flush cannot fail and change the exit code."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            with contextlib.suppress(OSError, ValueError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, stream.fileno())
                os.close(devnull)


if __name__ == "__main__":
    sys.exit(run())
