"""Verified before download: `gostarter serve --verify docker` streams a real verification of the
project for the given answers as server-sent events, within limits (slots, queue, deadline), and
nothing it starts (build client, container, image tag, temporary directory) outlives the request:
not on success, failure, disconnect, deadline or SIGTERM. A real server process, the real engine,
the stand-in base images through the server's preset."""

from __future__ import annotations

import hashlib
import signal
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.engine import app_name, until_nothing_left
from tests.helpers.repos import commit_all, copy_template
from tests.helpers.web import Served, http, initializr, post_stream, sse_events

pytestmark = pytest.mark.docker
PHASES = ["render", "build", "start", "first response", "healthy", "stop"]


def _until_phase(events: Iterator[tuple[str, dict[str, Any]]], name: str) -> None:
    for event, data in events:
        if event == "phase" and data["name"] == name:
            return
        assert event != "result", data
    raise AssertionError(f"the stream ended before the {name} phase")


def test_the_stream_shows_each_phase_in_order_then_the_result_and_report(
    docker_client: Any, verifying_server: Callable[..., Served]
) -> None:
    """Good answers: render, build (with its log lines), start, first response, healthy, stop, each
    with its elapsed time, then a pass with the figures and a TOML report; nothing is left, not even
    the run's own image tag, and no APP:dev."""
    server, app = verifying_server(), app_name()
    response = post_stream(server.port, "/api/verify", f"app_name={app}&port=9090")
    assert response.status == 200
    assert response.getheader("Content-Type").startswith("text/event-stream")
    events = list(sse_events(response))
    response.connection.close()
    names = [data["name"] for event, data in events if event == "phase"]
    assert names == PHASES
    times = [data["t"] for event, data in events if "t" in data]
    assert times == sorted(times)
    assert any(event == "log" and "exporting to image" in data["line"] for event, data in events)
    event, result = events[-1]
    assert event == "result" and result["result"] == "passed", result
    assert result["figures"]["image_size_bytes"] > 0 and result["figures"]["stop_exit_code"] == 0
    assert result["figures"]["first_response_seconds"] > 0
    report = tomllib.loads(result["report"])
    assert report["result"] == "passed" and report["mode"] == "docker" and report["project"] == app
    assert str(server.temp) not in result["report"]  # the server's paths are its own
    until_nothing_left(docker_client, app, server.temp, 0)


def test_a_fork_whose_main_go_does_not_compile_shows_the_compilers_line(
    docker_client: Any, verifying_server: Callable[..., Served], tmp_path: Path
) -> None:
    """A template whose main.go does not compile: the stream ends failed, naming main.go's line."""
    fork = copy_template(tmp_path / "fork")
    main_go = fork / "template" / "main.go.jinja"
    main_go.write_text(main_go.read_text() + "\nfunc broken() string { return undefinedThing }\n")
    commit_all(fork, "broken")
    server, app = verifying_server(template=fork), app_name()
    response = post_stream(server.port, "/api/verify", f"app_name={app}")
    *_, (event, result) = sse_events(response)
    response.connection.close()
    assert event == "result" and result["result"] == "failed", result
    assert "main.go:" in result["reason"] and "undefinedThing" in result["reason"], result["reason"]
    assert "undefinedThing" in result["log_tail"]
    assert "report" not in result
    until_nothing_left(docker_client, app, server.temp, 0)


def test_a_smoke_step_that_fails_is_named_as_the_cli_names_it(
    docker_client: Any, verifying_server: Callable[..., Served], tmp_path: Path
) -> None:
    """The image builds but its ENTRYPOINT names a file it lacks: the stream's result says
    "starting the container failed", the CLI's words (it said "smoke-testing the container" for
    every step of the smoke phase: the stream's progress never recorded its phase)."""
    fork = copy_template(tmp_path / "fork")
    dockerfile = fork / "template" / "Dockerfile.jinja"
    dockerfile.write_text(
        dockerfile.read_text().replace(
            'ENTRYPOINT ["/usr/local/bin/{{ app_name }}"]', 'ENTRYPOINT ["/usr/local/bin/start.sh"]'
        )
    )
    commit_all(fork, "an entrypoint the image lacks")
    server, app = verifying_server(template=fork), app_name()
    response = post_stream(server.port, "/api/verify", f"app_name={app}")
    *_, (event, result) = sse_events(response)
    response.connection.close()
    assert event == "result" and result["result"] == "failed", result
    assert result["reason"].startswith("starting the container failed: /usr/local/bin/start.sh"), result
    until_nothing_left(docker_client, app, server.temp, 0)


def test_a_client_that_disconnects_mid_build_leaves_nothing_within_5_s(
    docker_client: Any, verifying_server: Callable[..., Served], slow_fork: Path
) -> None:
    """Closing the stream during the build stops the build client and removes the container, the
    run's image tag and the job's temporary directory within 5 s; the server keeps serving."""
    server, app = verifying_server(template=slow_fork), app_name()
    response = post_stream(server.port, "/api/verify", f"app_name={app}")
    _until_phase(sse_events(response), "build")
    response.connection.sock.close()
    response.connection.close()
    until_nothing_left(docker_client, app, server.temp, 5)
    assert http(server.port, "GET", "/readyz")[0] == 200


def test_beyond_the_slots_and_the_queue_is_503_with_retry_after(
    docker_client: Any, verifying_server: Callable[..., Served]
) -> None:
    """One slot and a queue of one: a third verification at once is refused with 503, Retry-After
    and a JSON message saying how busy the server is; the second waits its turn and passes."""
    server, first_app, second_app = (
        verifying_server("--max-verifications", "1", "--verify-queue", "1"),
        app_name(),
        app_name(),
    )
    first = post_stream(server.port, "/api/verify", f"app_name={first_app}")
    first_events = sse_events(first)
    _until_phase(first_events, "build")
    second = post_stream(server.port, "/api/verify", f"app_name={second_app}")
    second_events = sse_events(second)
    event, queued = next(second_events)
    assert (event, queued["ahead"], queued["running"]) == ("queued", 1, 1)
    status, headers, body = http(
        server.port, "POST", "/api/verify", f'{{"app_name": "{app_name()}"}}'.encode(),
        **{"Content-Type": "application/json"},
    )  # fmt: skip
    assert status == 503, body
    assert headers["retry-after"].isdigit() and int(headers["retry-after"]) >= 1
    assert b"1 verification(s) running, 1 waiting" in body
    for done, events in ((first, first_events), (second, second_events)):
        *_, (event, result) = events
        done.connection.close()
        assert event == "result" and result["result"] == "passed", result
    for app in (first_app, second_app):
        until_nothing_left(docker_client, app, server.temp, 0)


def test_the_deadline_stops_a_verification_and_fails_it(
    docker_client: Any, verifying_server: Callable[..., Served], slow_fork: Path
) -> None:
    """--verify-timeout 3 with a two-minute build: the verification is stopped, the result says
    why, and nothing is left."""
    server, app = verifying_server("--verify-timeout", "3", template=slow_fork), app_name()
    response = post_stream(server.port, "/api/verify", f"app_name={app}")
    *_, (event, result) = sse_events(response)
    response.connection.close()
    assert event == "result" and result["result"] == "failed"
    assert "longer than 3 s" in result["reason"]
    until_nothing_left(docker_client, app, server.temp, 5)


def test_sigterm_cancels_running_and_queued_verifications_and_exits_0(
    docker_client: Any, verifying_server: Callable[..., Served], slow_fork: Path
) -> None:
    """SIGTERM with one verification in its build and one queued: both streams end 'cancelled', the
    server exits 0 within the drain, and no container, image tag or temporary file is left."""
    server, app, queued_app = verifying_server(template=slow_fork), app_name(), app_name()
    running = post_stream(server.port, "/api/verify", f"app_name={app}")
    running_events = sse_events(running)
    _until_phase(running_events, "build")
    queued = post_stream(server.port, "/api/verify", f"app_name={queued_app}")
    queued_events = sse_events(queued)
    assert next(queued_events)[0] == "queued"
    server.process.send_signal(signal.SIGTERM)
    for response, events in ((running, running_events), (queued, queued_events)):
        *_, (event, result) = events
        response.connection.close()
        assert event == "result" and result["result"] == "cancelled", result
    _, err = server.process.communicate(timeout=30)
    assert server.process.returncode == 0, err
    assert "Traceback" not in err
    assert not list(server.temp.iterdir())
    until_nothing_left(docker_client, app, server.temp, 0)


def test_two_replicas_give_identical_archives(verifying_server: Callable[..., Served]) -> None:
    """Two server processes behind one client, requests alternating: the same bytes every time."""
    replicas = [verifying_server(), verifying_server()]
    digests = []
    for turn in range(6):
        status, headers, body = http(replicas[turn % 2].port, "GET", "/starter.zip?app_name=replicated")
        assert status == 200
        digests.append((hashlib.sha256(body).hexdigest(), headers["etag"]))
    assert len(set(digests)) == 1, digests


def test_verification_is_off_by_default_and_the_page_has_no_verify_control(web: Any) -> None:
    """Without --verify docker: /api/verify is 404 in the API's JSON shape, and no Verify control."""
    response = web.post("/api/verify", data={"app_name": "payments"})
    assert response.status_code == 404
    assert "verify docker" in response.json()["message"]
    assert 'data-action="verify"' not in web.get("/", headers={"Accept": "text/html"}).text


def test_a_refused_answer_is_400_before_anything_runs(tmp_path: Path) -> None:
    """With verification on, answers are judged first: a refused one is 400 naming the field."""
    with initializr(tmp_path / "temp", verify="docker") as client:
        response = client.post("/api/verify", json={"app_name": "Pay_ments"})
        assert response.status_code == 400
        assert response.json()["field"] == "app_name"
        assert 'data-action="verify"' in client.get("/", headers={"Accept": "text/html"}).text
