"""`gostarter serve` as a process against clients that misbehave: workers that share no socket with
the server, clients that leave or dribble, a connection cap, SIGHUP and a second signal."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from bench.served import serve, wait_served
from generator import children
from tests.helpers.web import SlowUpload, http

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="reads Linux's /proc")


def _port(base: str) -> int:
    return int(urlsplit(base).port or 0)


def _connect(port: int, timeout: float = 10) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return conn


def _read_to_end(conn: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (socket.timeout if it never does)."""
    data = b""
    while True:
        try:
            chunk = conn.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[1])
    except OSError:
        return 0


def _workers(server: int) -> list[int]:
    """The render workers: the server's children that run no program of their own (forked), or
    the children of its fork server."""
    below = children.descendants(server)
    helpers = [  # the fork server and multiprocessing's resource tracker
        pid
        for pid in below
        if _parent(pid) == server
        and re.search(rb"forkserver|resource_tracker", Path(f"/proc/{pid}/cmdline").read_bytes())
    ]
    return [pid for pid in below if _parent(pid) in {server, *helpers} and pid not in helpers]


def _tcp_inodes() -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            inodes.add(line.split()[9])
    return inodes


def _tcp_sockets_held(pids: list[int]) -> set[str]:
    """The TCP sockets (listening or connected) that any of `pids` holds open."""
    tcp = _tcp_inodes()
    held = {os.readlink(f"/proc/{pid}/fd/{fd}") for pid in pids for fd in os.listdir(f"/proc/{pid}/fd")}
    return {link for link in held if link.startswith("socket:[") and link[8:-1] in tcp}


def _stop(process: subprocess.Popen[str], sig: int = signal.SIGTERM) -> str:
    process.send_signal(sig)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    return err


def test_a_worker_killed_mid_render_costs_one_503_and_holds_no_client_connection(tmp_path: Path) -> None:
    """A worker killed mid-render: that request is 503, the pool is renewed from a fork server, so
    no worker holds the listening socket or a client's connection (a keep-alive client opened
    before reads its last answer to the end at once), and the dead pool's directories are gone."""
    temp = tmp_path / "temp"
    process, base = serve(temp)
    try:
        wait_served(base, process)
        port = _port(base)
        keep_alive = _connect(port)
        keep_alive.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        first = b""
        while not first.endswith(b"}"):  # the whole answer: headers, then its JSON body
            first += keep_alive.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        statuses: list[int] = []
        render = threading.Thread(
            target=lambda: statuses.append(http(port, "GET", "/starter.zip?app_name=killed")[0])
        )
        render.start()
        time.sleep(0.3)
        old = _workers(process.pid)
        for pid in old:
            os.kill(pid, signal.SIGKILL)
        render.join(60)
        if statuses == [200]:  # it was done before the kill: the next render finds the pool dead
            statuses.append(http(port, "GET", "/starter.zip?app_name=next")[0])
        assert statuses[-1] == 503
        assert http(port, "GET", "/starter.zip?app_name=after")[0] == 200
        new = _workers(process.pid)
        assert new and not set(new) & set(old)
        assert not _tcp_sockets_held(new)
        keep_alive.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        keep_alive.settimeout(5)
        assert _read_to_end(keep_alive).startswith(b"HTTP/1.1 200")  # old: the worker held it open
        keep_alive.close()
        (serving,) = temp.glob("gostarter-serve-*")
        assert not (serving / "workers-0").exists()
        assert not [p for p in serving.rglob("*") if p.name.startswith(("job-", "gostarter-copier-"))]
        err = _stop(process)
        assert "Traceback" not in err
        assert not list(temp.iterdir())
    finally:
        process.kill()


def test_clients_that_leave_are_one_line_each_and_no_error(tmp_path: Path) -> None:
    """A client gone mid-body and clients gone before their download: an info line each, no
    traceback, no 5xx; the server then serves and stops as usual."""
    temp = tmp_path / "temp"
    process, base = serve(temp)
    try:
        wait_served(base, process)
        port = _port(base)
        mid_body = _connect(port)
        mid_body.sendall(
            b"POST /starter.zip HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 150\r\n\r\napp_name=le"
        )
        time.sleep(0.3)
        mid_body.close()
        for n in range(5):
            gone = _connect(port)
            gone.sendall(f"GET /starter.zip?app_name=gone{n} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            gone.close()
        time.sleep(2)
        assert http(port, "GET", "/starter.zip?app_name=stays")[0] == 200
        err = _stop(process)
        assert "Traceback" not in err and "unexpected error" not in err, err
        left = [line for line in err.splitlines() if "left before the answer" in line]
        assert 1 <= len(left) <= 6, err
        assert not list(temp.iterdir())
    finally:
        process.kill()


def test_identical_and_excess_requests_share_a_render_or_are_refused(tmp_path: Path) -> None:
    """With no queue: 12 identical downloads at once all get the archive (one render); 12 different
    ones get it or 503 with Retry-After, never anything else."""
    process, base = serve(tmp_path / "temp", "--render-queue", "0")
    try:
        wait_served(base, process)
        port = _port(base)

        def many(paths: list[str]) -> list[tuple[int, dict[str, str]]]:
            results: list[tuple[int, dict[str, str]]] = []
            threads = [
                threading.Thread(target=lambda p=path: results.append(http(port, "GET", p)[:2]))
                for path in paths
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(120)
            return results

        same = many(["/starter.zip?app_name=same"] * 12)
        assert [status for status, _ in same] == [200] * 12
        different = many([f"/starter.zip?app_name=different{n}" for n in range(12)])
        statuses = sorted(status for status, _ in different)
        assert set(statuses) == {200, 503} and statuses.count(200) >= 2
        assert all(headers.get("retry-after", "").isdigit() for status, headers in different if status == 503)
        _stop(process)
    finally:
        process.kill()


def test_slow_heads_and_bodies_are_cut_and_connections_are_capped(tmp_path: Path) -> None:
    """A head not complete within 5 s gets 408 and is closed (an idle connection is closed without a
    word); a body slower than the floor is cut;
    beyond --max-connections a new connection is closed at once, not queued."""
    process, base = serve(tmp_path / "temp", "--max-connections", "4")
    try:
        wait_served(base, process)
        port = _port(base)
        head = _connect(port, timeout=15)
        head.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        body = _connect(port, timeout=15)
        body.sendall(
            b"POST /starter.zip HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 4000\r\n\r\n"
        )
        idle = [_connect(port), _connect(port)]
        began = time.monotonic()
        refused = _connect(port, timeout=5)
        assert _read_to_end(refused) == b"" and time.monotonic() - began < 2
        cut: dict[str, float] = {}

        def dribble(name: str, conn: socket.socket, data: bytes) -> None:
            try:
                while time.monotonic() - began < 14:
                    conn.sendall(data)
                    time.sleep(0.5)
            except OSError:
                cut[name] = time.monotonic() - began

        threads = [
            threading.Thread(target=dribble, args=("head", head, b"X-Slow: 1\r\n")),
            threading.Thread(target=dribble, args=("body", body, b"a")),
        ]
        for thread in threads:
            thread.start()
        answer = _read_to_end(head)
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert _read_to_end(body) == b""
        for thread in threads:
            thread.join(20)
        assert set(cut) == {"head", "body"} and max(cut.values()) < 9, cut
        assert _read_to_end(idle[0]) == b""  # an idle connection: closed without a word
        for conn in [head, body, refused, *idle]:
            conn.close()
        assert http(port, "GET", "/healthz")[0] == 200
        err = _stop(process)
        assert "Traceback" not in err, err
    finally:
        process.kill()


def test_sighup_drains_like_sigterm(tmp_path: Path) -> None:
    """SIGHUP: the upload in flight still gets its archive, then exit 0 (it was 500s and exit 129)."""
    process, base = serve(tmp_path / "temp", "--drain-seconds", "30")
    try:
        wait_served(base, process)
        port = _port(base)
        upload = SlowUpload(port, "/starter.zip", "app_name=hangup&port=9090")
        upload.start()
        process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while http(port, "GET", "/readyz")[0] != 503:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        status, _, _ = upload.finish()
        assert status == 200
        _, err = process.communicate(timeout=30)
        assert process.returncode == 0, err
        assert not list((tmp_path / "temp").iterdir())
    finally:
        process.kill()


@pytest.mark.parametrize("second", [signal.SIGTERM, signal.SIGINT])
def test_a_second_signal_stops_within_a_second(tmp_path: Path, second: int) -> None:
    """A request in flight holds the drain; a second signal ends the server within 1 s, exit 0: the
    request's connection is closed, which its handler logs in one line, no traceback."""
    process, base = serve(tmp_path / "temp", "--drain-seconds", "30")
    try:
        wait_served(base, process)
        upload = SlowUpload(_port(base), "/starter.zip", "app_name=stuck")
        upload.start()
        process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert process.poll() is None
        began = time.monotonic()
        process.send_signal(second)
        _, err = process.communicate(timeout=30)
        # The server's bound is 1 s (README); measured 0.2-0.9 s here at a load average of 11 on
        # 2 cores, so the test allows half a second for the machine (it took 5.5 s before).
        assert time.monotonic() - began < 1.5
        assert process.returncode == 0
        assert "Traceback" not in err and "left before the answer" in err, err
        upload.conn.close()
        assert not list((tmp_path / "temp").iterdir())
    finally:
        process.kill()
