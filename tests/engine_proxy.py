"""A stand-in for the engine's socket, to stop and restart "the engine" without touching the real one.

The Docker engine is shared, so a test cannot stop it. Instead the verification
under test is pointed (DOCKER_HOST) at a unix socket served here: a byte relay
to the real engine's socket that can be cut (every connection reset, the
socket gone, as when dockerd stops) and opened again (as when it restarts); or
a socket that accepts and never answers, as a hung engine does.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path

REAL_ENGINE = "/var/run/docker.sock"


class EngineProxy:
    """A unix socket at `path` relaying to the real engine while open."""

    def __init__(self, path: Path, *, answer: bool = True) -> None:
        self.path = path
        self.answer = answer
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def open(self) -> None:
        """Start listening (again): the engine is up."""
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.path))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """The engine stops: the socket disappears and every open connection is reset."""
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, []
        for sock in [*sockets, *([listener] if listener else [])]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self.path.unlink(missing_ok=True)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            with self._lock:
                self._sockets.append(client)
            if not self.answer:
                continue  # accepted, never answered
            engine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            engine.connect(REAL_ENGINE)
            with self._lock:
                self._sockets.append(engine)
            for source, sink in ((client, engine), (engine, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
