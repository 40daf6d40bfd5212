"""The web initializr's HTTP side (`gostarter serve`), in process through Starlette's TestClient:
the page, the API, its errors, archives, provenance, a fork's extra question, and a real process."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import tarfile
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench.served import serve, wait_served
from generator import presets
from tests.helpers.checkout import ROOT
from tests.helpers.repos import commit_all, copy_template
from tests.helpers.web import initializr

QUESTIONS = {
    name: details
    for name, details in yaml.safe_load((ROOT / "copier.yml").read_text()).items()
    if not name.startswith("_") and details.get("when") is not False
}
JSON_ERROR_KEYS = {"status", "error", "message"}


def _is_json_error(response: Any, status: int) -> bool:
    body = response.json()
    return response.status_code == status and set(body) >= JSON_ERROR_KEYS and body["status"] == status


def _zip_names(data: bytes) -> dict[str, zipfile.ZipInfo]:
    return {info.filename: info for info in zipfile.ZipFile(io.BytesIO(data)).infolist()}


def _answers_in_zip(data: bytes, app: str) -> dict[str, Any]:
    answers = yaml.safe_load(zipfile.ZipFile(io.BytesIO(data)).read(f"{app}/.copier-answers.yml"))
    assert isinstance(answers, dict)
    return answers


# ---------------------------------------------------------------- questions


def test_every_question_is_a_field_of_the_page_and_the_metadata(web: Any) -> None:
    """Each question copier.yml asks has a labelled input named after it; hidden ones have none."""
    page = web.get("/", headers={"accept": "text/html"}).text
    for name in QUESTIONS:
        assert re.search(rf'<label for="q-{name}">', page), name
        assert f'name="{name}"' in page, name
        assert f'data-error-for="{name}"' in page, name
    for hidden in ("verify", "module_prefix"):
        assert f'name="{hidden}"' not in page
    metadata = web.get("/metadata").json()
    assert [q["name"] for q in metadata["questions"]] == list(QUESTIONS)
    runtime = next(q for q in metadata["questions"] if q["name"] == "runtime_base")
    assert [c["value"] for c in runtime["choices"]] == list(QUESTIONS["runtime_base"]["choices"].values())
    port = next(q for q in metadata["questions"] if q["name"] == "port")
    assert port == {**port, "type": "int", "default": 8080, "required": False}


def test_the_page_uses_each_questions_kind_of_control(web: Any) -> None:
    """Choices are a select, booleans a checkbox (with a false fallback), ints a number field."""
    page = web.get("/").text
    assert '<select id="q-runtime_base" name="runtime_base"' in page
    assert re.search(r'<input type="checkbox" id="q-with_compose" name="with_compose" value="true"\s', page)
    assert '<input type="hidden" name="with_compose" value="false"' in page
    assert re.search(r'id="q-port" name="port"\s+type="number"\s+value="8080"', page)
    assert (
        'data-action="download"' in page and 'data-action="explore"' in page and 'data-action="share"' in page
    )


def test_validate_computes_the_other_defaults_through_copier(web: Any) -> None:
    """The builder image follows go_version and module_path follows app_name, as Copier computes them."""
    verdict = web.post("/api/validate", data={"go_version": "1.26", "app_name": "payments"}).json()
    assert verdict["valid"] is True and verdict["errors"] == []
    assert verdict["answers"]["builder_image"] == "golang:1.26"
    assert verdict["answers"]["module_path"] == "payments"
    assert "verify" not in verdict["answers"] and "module_prefix" not in verdict["answers"]


def test_validate_reports_every_refused_answer_with_its_validators_message(web: Any) -> None:
    """Two bad answers, two messages, each the validator's own; the good answers still count."""
    verdict = web.get(
        "/api/validate", params={"app_name": "Pay_ments", "port": "70000", "go_version": "1.26"}
    ).json()
    assert verdict["valid"] is False
    errors = {error["field"]: error["message"] for error in verdict["errors"]}
    assert errors["app_name"].startswith("must be lowercase letters, digits and '-'")
    assert errors["port"] == "must be between 1 and 65535"
    assert verdict["answers"]["builder_image"] == "golang:1.26"


# ---------------------------------------------------------------- errors


def test_a_refused_answer_is_400_with_the_validators_message_and_the_field(web: Any) -> None:
    response = web.post("/starter.zip", data={"app_name": "Payments"})
    assert _is_json_error(response, 400)
    body = response.json()
    assert body["error"] == "Bad Request" and body["field"] == "app_name"
    assert body["message"].startswith("invalid app_name: must be lowercase letters")


@pytest.mark.parametrize("name", ["verify", "module_prefix", "_src_path", "colour"])
def test_a_hidden_internal_or_unknown_parameter_is_400_naming_it(web: Any, name: str) -> None:
    """A request cannot set a hidden answer, one of Copier's own keys, or a question that does not exist."""
    response = web.get("/starter.tgz", params={name: "x"})
    assert _is_json_error(response, 400)
    assert response.json()["field"] == name and repr(name) in response.json()["message"]


def test_a_long_query_is_414_and_a_large_body_413(web: Any) -> None:
    long = "a" * 17 * 1024
    assert _is_json_error(web.get("/starter.zip", params={"description": long}), 414)
    assert _is_json_error(web.post("/starter.zip", data={"description": long}), 413)
    chunks = (b"description=" + b"a" * 4096 for _ in range(5))  # no Content-Length: counted as it comes
    response = web.post(
        "/api/validate", content=chunks, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert _is_json_error(response, 413)


def test_a_body_that_is_not_a_form_is_400_and_unknown_paths_404_as_json(web: Any) -> None:
    response = web.post(
        "/starter.zip", content=b'{"app_name": "x"}', headers={"content-type": "application/json"}
    )
    assert _is_json_error(response, 400)
    assert _is_json_error(web.get("/nothing-here"), 404)
    assert _is_json_error(web.delete("/starter.zip"), 405)


# ---------------------------------------------------------------- archives


def test_a_zip_has_one_top_folder_named_after_the_app_and_keeps_file_modes(web: Any) -> None:
    response = web.post("/starter.zip", data={"app_name": "payments", "port": "9090"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"] == 'attachment; filename="payments.zip"'
    names = _zip_names(response.content)
    assert {name.split("/")[0] for name in names} == {"payments"}
    assert {"payments/main.go", "payments/go.mod", "payments/Dockerfile"} <= set(names)
    assert names["payments/scripts/smoke.sh"].external_attr >> 16 & 0o777 == 0o755
    assert names["payments/main.go"].external_attr >> 16 & 0o777 == 0o644
    assert _answers_in_zip(response.content, "payments")["port"] == 9090


def test_a_tgz_keeps_the_same_files_and_modes(web: Any) -> None:
    response = web.get("/starter.tgz", params={"app_name": "payments"})
    assert response.headers["content-disposition"] == 'attachment; filename="payments.tgz"'
    with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as archive:
        members = {member.name: member for member in archive.getmembers()}
    zipped = set(_zip_names(web.get("/starter.zip", params={"app_name": "payments"}).content))
    assert set(members) == zipped
    assert members["payments/scripts/smoke.sh"].mode == 0o755
    assert all(m.mtime == 0 and m.uid == 0 and m.uname == "" for m in members.values())


def test_the_same_answers_give_byte_identical_archives_and_the_etag_revalidates(tmp_path: Path) -> None:
    """Two renders (no cache) of the same answers are the same bytes, so the ETag is stable;
    If-None-Match with it is 304; with the cache, a repeat comes from memory."""
    with initializr(tmp_path / "temp", cache_entries=0) as client:
        first = client.get("/starter.tgz", params={"app_name": "same", "with_k8s": "true"})
        second = client.post("/starter.tgz", data={"with_k8s": "true", "app_name": "same"})
    assert first.content == second.content and first.headers["etag"] == second.headers["etag"]
    with initializr(tmp_path / "temp2") as client:
        fresh = client.get("/starter.zip", params={"app_name": "same"})
        started = time.perf_counter()
        again = client.get("/starter.zip", params={"app_name": "same"})
        cached_seconds = time.perf_counter() - started
        revalidated = client.get(
            "/starter.zip", params={"app_name": "same"}, headers={"if-none-match": fresh.headers["etag"]}
        )
    assert again.content == fresh.content and cached_seconds < 0.2
    assert revalidated.status_code == 304 and not revalidated.content


def test_renders_run_off_the_event_loop_so_other_requests_are_answered_meanwhile(tmp_path: Path) -> None:
    """With every worker busy rendering, /healthz and the cached page parts still answer at once."""
    import threading

    with initializr(tmp_path / "temp", cache_entries=0) as client:
        done: list[float] = []

        def download(i: int) -> None:
            assert client.get("/starter.zip", params={"app_name": f"busy{i}"}).status_code == 200
            done.append(time.perf_counter())

        threads = [threading.Thread(target=download, args=(i,)) for i in range(6)]
        for thread in threads:
            thread.start()
        time.sleep(0.05)
        asked = time.perf_counter()
        assert client.get("/healthz").status_code == 200
        answered = time.perf_counter()
        for thread in threads:
            thread.join()
    assert len(done) == 6 and answered < max(done), "healthz waited for the renders"
    assert answered - asked < 1.0


def test_a_worker_that_dies_costs_one_503_and_the_server_renders_again(tmp_path: Path) -> None:
    from generator.web import jobs
    from generator.web.state import ready

    with initializr(tmp_path / "temp", cache_entries=0) as client:
        held = ready(client.app)
        os.kill(held.renders.pool.submit(jobs.warm_up).result(), signal.SIGKILL)
        time.sleep(1)
        failed = client.get("/starter.zip", params={"app_name": "after"})
        assert _is_json_error(failed, 503)
        assert client.get("/starter.zip", params={"app_name": "after"}).status_code == 200


# ---------------------------------------------------------------- provenance


def test_a_download_records_the_canonical_url_and_version_never_the_servers_path(tmp_path: Path) -> None:
    url = "https://git.example.com/platform/gostarter.git"
    with initializr(tmp_path / "temp", template_url=url) as client:
        data = client.get("/starter.zip", params={"app_name": "svc"}).content
        version = client.get("/metadata").json()["template"]
        page = client.get("/").text
    answers = _answers_in_zip(data, "svc")
    assert answers["_src_path"] == url and answers["_commit"] == version["version"]
    assert version["updatable"] is True and 'data-note="not-updatable"' not in page
    text = zipfile.ZipFile(io.BytesIO(data)).read("svc/.copier-answers.yml").decode()
    assert str(tmp_path) not in text and "/tmp" not in text


def test_without_a_canonical_url_downloads_work_and_say_they_cannot_be_updated(web: Any) -> None:
    data = web.get("/starter.zip", params={"app_name": "svc"}).content
    answers = _answers_in_zip(data, "svc")
    assert "_src_path" not in answers and answers["_commit"]
    assert 'data-note="not-updatable"' in web.get("/").text
    assert web.get("/metadata").json()["template"]["updatable"] is False


def test_a_git_template_is_served_at_its_newest_tag_and_downloads_name_it(tmp_path: Path) -> None:
    """`--template` a git repository: the newest release tag is served, and (as a git URL would) the
    archive records the `--template-url` given and that tag."""
    fork = copy_template(tmp_path / "fork")
    commit_all(fork, "fork", tag="7.1.0")
    (fork / "template" / "UNRELEASED.md").write_text("not released\n")
    commit_all(fork, "after the tag")
    with initializr(tmp_path / "temp", template=fork, template_url=str(fork)) as client:
        data = client.get("/starter.zip", params={"app_name": "svc"}).content
    answers = _answers_in_zip(data, "svc")
    assert answers["_commit"] == "7.1.0" and answers["_src_path"] == str(fork)
    assert "svc/UNRELEASED.md" not in _zip_names(data)


def test_the_presets_defaults_are_the_pages_and_still_follow_their_rules(tmp_path: Path) -> None:
    """`--preset`: its module_prefix (a hidden answer) and images are the defaults offered; a
    request still cannot set module_prefix itself."""
    path = tmp_path / "preset.toml"
    presets.write(path, {"module_prefix": "github.com/acme", "builder_image": "mirror.acme/golang:1.27"})
    with initializr(tmp_path / "temp", preset=presets.load(path)) as client:
        metadata = {q["name"]: q["default"] for q in client.get("/metadata").json()["questions"]}
        verdict = client.get("/api/validate", params={"app_name": "payments"}).json()
        refused = client.get("/starter.zip", params={"module_prefix": "evil.example"})
        data = client.get("/starter.zip", params={"app_name": "payments"}).content
    assert metadata["module_path"] == "github.com/acme/myapp"
    assert metadata["builder_image"] == "mirror.acme/golang:1.27"
    assert verdict["answers"]["module_path"] == "github.com/acme/payments"
    assert _is_json_error(refused, 400) and refused.json()["field"] == "module_prefix"
    assert _answers_in_zip(data, "payments")["module_path"] == "github.com/acme/payments"


# ---------------------------------------------------------------- a fork


def test_a_forks_extra_question_becomes_a_field_with_no_code_change(tmp_path: Path) -> None:
    fork = copy_template(tmp_path / "fork")
    config = fork / "copier.yml"
    config.write_text(
        config.read_text()
        + "\nteam:\n  type: str\n  help: Owning team\n  default: platform\n"
        + "  choices: [platform, payments, search]\n"
    )
    with initializr(tmp_path / "temp", template=fork) as client:
        page = client.get("/").text
        metadata = client.get("/metadata").json()
        refused = client.get("/starter.zip", params={"team": "marketing"})
        data = client.get("/starter.zip", params={"app_name": "svc", "team": "search"}).content
        help_text = client.get("/", headers={"accept": "text/plain"}).text
    assert '<select id="q-team" name="team"' in page
    assert metadata["questions"][-1]["name"] == "team"
    assert _is_json_error(refused, 400) and refused.json()["field"] == "team"
    assert _answers_in_zip(data, "svc")["team"] == "search"
    assert "team (str)" in help_text


# ---------------------------------------------------------------- the page, curl, OpenAPI


def test_curl_and_httpie_get_plain_text_help_with_every_parameter(web: Any) -> None:
    for headers in ({"user-agent": "curl/8.5.0"}, {"accept": "text/plain"}, {"user-agent": "HTTPie/3.2.2"}):
        response = web.get("/", headers=headers)
        assert response.headers["content-type"].startswith("text/plain"), headers
        for name, details in QUESTIONS.items():
            assert f"  {name} ({details['type']})  default: " in response.text
    assert (
        "curl -fsSL http://testserver/starter.tgz -d app_name=payments | tar xz"
        in web.get("/", headers={"user-agent": "curl/8.5.0"}).text
    )
    assert "one of: distroless-static, scratch, alpine, distroless-base" in response.text
    assert "http --form POST http://testserver/starter.tgz app_name=payments" in response.text
    assert web.get("/", headers={"accept": "application/json"}).json()["questions"]


def test_the_page_and_metadata_carry_the_security_and_cache_headers(web: Any) -> None:
    page = web.get("/")
    csp = page.headers["content-security-policy"]
    assert "'unsafe-inline'" not in csp and "script-src 'self'" in csp and "default-src 'none'" in csp
    assert (
        page.headers["x-content-type-options"] == "nosniff"
        and page.headers["referrer-policy"] == "no-referrer"
    )
    assert not re.search(r"<script(?![^>]*\bsrc=)", page.text), "no inline script"
    assert "<style" not in page.text and " style=" not in page.text, "no inline style"
    for url in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        assert url.startswith(("/", "http://testserver/")), url  # nothing from another host
    metadata = web.get("/metadata")
    assert metadata.headers["etag"] and "max-age" in metadata.headers["cache-control"]
    assert web.get("/metadata", headers={"if-none-match": metadata.headers["etag"]}).status_code == 304
    assert web.get("/static/initializr.js").headers["content-type"].startswith("text/javascript")


def test_a_share_link_fills_the_form_and_turns_problems_into_messages(web: Any) -> None:
    """Unknown parameters become a warning, a refused answer the validator's message beside its
    field and in the refusal notice: never an error page. Download stays a working submit button
    (with JavaScript off the corrected form must go); the script disables it while refused."""
    page = web.get("/", params={"app_name": "payments", "go_version": "1.26", "colour": "red"})
    assert page.status_code == 200
    assert re.search(r'id="q-app_name" name="app_name"\s+type="text"\s+value="payments"', page.text)
    assert re.search(
        r'id="q-builder_image" name="builder_image"\s+type="text"\s+value="golang:1.26"', page.text
    )
    assert "&#39;colour&#39;, which this template does not ask" in page.text
    refused = web.get("/", params={"app_name": "Bad"}).text
    assert re.search(r'data-error-for="app_name" aria-live="polite">must be lowercase', refused)
    assert "data-refused" in refused
    assert re.search(r'data-action="download" formaction="/starter.zip">', refused)


def test_preview_lists_every_file_with_its_content(web: Any) -> None:
    files = {f["path"]: f for f in web.post("/api/preview", data={"app_name": "payments"}).json()["files"]}
    assert files["scripts/smoke.sh"]["mode"] == "0755"
    assert "payments" in files["go.mod"]["text"] and "package main" in files["main.go"]["text"]
    assert set(files) == {
        name.split("/", 1)[1]
        for name in _zip_names(web.get("/starter.zip", params={"app_name": "payments"}).content)
    }


def test_openapi_describes_each_question_as_a_parameter(web: Any) -> None:
    document = web.get("/openapi.json").json()
    parameters = {p["name"]: p for p in document["paths"]["/starter.zip"]["get"]["parameters"]}
    assert list(parameters) == list(QUESTIONS)
    assert parameters["port"]["schema"] == {
        "type": "integer",
        "default": 8080,
        "title": "Port",
        "x-section": "Service",
    }
    assert parameters["with_k8s"]["schema"] == {
        "type": "boolean",
        "default": False,
        "title": "Kubernetes manifests",
        "x-section": "Deployment",
    }
    assert parameters["runtime_base"]["schema"]["enum"] == list(QUESTIONS["runtime_base"]["choices"].values())


def test_fuzzing_the_openapi_document_finds_no_server_error(web: Any) -> None:
    """schemathesis generates requests from /openapi.json (bounded: a few examples per operation):
    none is a 5xx, and every error is the JSON shape."""
    import hypothesis
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    schema = schemathesis.openapi.from_dict(web.get("/openapi.json").json())
    checked: list[int] = []
    for operation in schema.get_all_operations():
        api = operation.ok()

        @given(case=api.as_strategy())
        @settings(
            max_examples=8,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[hypothesis.Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def exercise(case: Any) -> None:
            kwargs = case.as_transport_kwargs(base_url="http://testserver")
            response = web.request(
                kwargs["method"],
                kwargs["url"],
                params=kwargs.get("params"),
                data=kwargs.get("data"),
                headers={k: v for k, v in (kwargs.get("headers") or {}).items() if k.lower() != "user-agent"},
            )
            checked.append(response.status_code)
            assert response.status_code < 500, (kwargs, response.text)
            if response.status_code >= 400:
                assert _is_json_error(response, response.status_code), response.text

        exercise()
    assert len(checked) >= 20 and any(code == 200 for code in checked)


# ---------------------------------------------------------------- the process


def _serve(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    return serve(tmp_path / "temp", *args)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_serve_stops_on_sigint_and_sigterm_with_exit_0_and_no_temporary_files(
    tmp_path: Path, signum: int
) -> None:
    import urllib.request

    process, base = _serve(tmp_path)
    try:
        wait_served(base, process)
        with urllib.request.urlopen(f"{base}/starter.zip?app_name=live", timeout=60) as response:
            assert zipfile.ZipFile(io.BytesIO(response.read())).namelist()
        process.send_signal(signum)
        _, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "Traceback" not in err and f"at {base}/" in err
    assert "cannot update them" in err  # no canonical URL: said once at start
    assert not list((tmp_path / "temp").iterdir())


def test_serve_refuses_a_missing_template_in_one_line(tmp_path: Path) -> None:
    process, _ = _serve(tmp_path, "--template", str(tmp_path / "nowhere"))
    _, err = process.communicate(timeout=60)
    assert process.returncode == 2 and "Traceback" not in err
    assert err.strip().splitlines() == [
        f"gostarter: error: template {tmp_path / 'nowhere'} does not exist or is not a directory"
    ]


def test_serve_reports_a_broken_template_in_one_line(tmp_path: Path) -> None:
    fork = copy_template(tmp_path / "fork")
    config = fork / "copier.yml"
    config.write_text(config.read_text().replace("default: myapp", "default: Not_Valid"))
    process, _ = _serve(tmp_path, "--template", str(fork))
    _, err = process.communicate(timeout=60)
    assert process.returncode == 2, err
    assert "Traceback" not in err and "invalid app_name" in err and len(err.strip().splitlines()) <= 2
    assert not list((tmp_path / "temp").iterdir())


# ---------------------------------------------------------------- labels, sections and the page's states


def _field_html(page: str, name: str) -> str:
    """The markup of one field's block (its control, help and message)."""
    start = page.index(f'data-field="{name}"')
    end = page.find('<div class="field', start)
    return page[start : end if end >= 0 else page.index("</form>")]


def _section_of(page: str, name: str) -> str:
    """The data-section of the fieldset a field sits in."""
    before = page[: page.index(f'data-field="{name}"')]
    found = re.findall(r'<fieldset class="section" data-section="([^"]*)">', before)
    assert found, name
    return found[-1]


def test_every_question_of_this_template_has_a_label_and_a_section() -> None:
    """A question added to copier.yml without them would land in "Other" under its key."""
    missing = [
        name for name, details in QUESTIONS.items() if not (details.get("label") and details.get("section"))
    ]
    assert missing == [], f"give these questions a label and a section in copier.yml: {missing}"


def test_labels_and_sections_come_from_copier_yml(web: Any) -> None:
    """Each field is labelled with copier.yml's `label` inside the fieldset of its `section`; /metadata
    and /openapi.json carry both."""
    page = web.get("/", headers={"accept": "text/html"}).text
    for name, details in QUESTIONS.items():
        assert f'<label for="q-{name}">{details["label"]}</label>' in page, name
        assert _section_of(page, name) == details["section"], name
        assert f'<p class="help" id="help-{name}">' in _field_html(page, name)
    sections = re.findall(r'data-section="([^"]*)"', page)
    assert sections == list(dict.fromkeys(details["section"] for details in QUESTIONS.values()))
    metadata = {q["name"]: q for q in web.get("/metadata").json()["questions"]}
    schema = web.get("/openapi.json").json()["paths"]["/starter.zip"]["get"]["parameters"]
    for name, details in QUESTIONS.items():
        assert (metadata[name]["label"], metadata[name]["section"]) == (details["label"], details["section"])
        parameter = next(p for p in schema if p["name"] == name)["schema"]
        assert (parameter["title"], parameter["x-section"]) == (details["label"], details["section"])


def test_a_forks_question_with_a_label_and_section_lands_in_that_section(tmp_path: Path) -> None:
    """A fork adds two questions and changes no code: one with label and section is shown under that
    label in that section (metadata agrees); one with neither is its key humanised, in "Other"."""
    fork = copy_template(tmp_path / "fork")
    config = fork / "copier.yml"
    config.write_text(
        config.read_text()
        + "\nregistry:\n  type: str\n  label: Image registry\n  section: Build\n"
        + "  help: Where CI pushes the image\n  default: registry.example.com\n"
        + "\ncost_centre:\n  type: str\n  help: Billing code\n  default: cc-1\n"
    )
    with initializr(tmp_path / "temp", template=fork) as client:
        page = client.get("/", headers={"accept": "text/html"}).text
        metadata = {q["name"]: q for q in client.get("/metadata").json()["questions"]}
    assert '<label for="q-registry">Image registry</label>' in page
    assert _section_of(page, "registry") == "Build" and _section_of(page, "runtime_image") == "Build"
    assert '<label for="q-cost_centre">Cost centre</label>' in page
    assert _section_of(page, "cost_centre") == "Other"
    assert (metadata["registry"]["label"], metadata["registry"]["section"]) == ("Image registry", "Build")
    assert (metadata["cost_centre"]["label"], metadata["cost_centre"]["section"]) == ("Cost centre", "Other")


def test_a_refused_form_without_javascript_answers_the_page_with_each_message_beside_its_field(
    web: Any,
) -> None:
    """A browser's form POST (Accept: text/html) with refused answers: status 400, the page, the
    validator's message in the refused field's block, every answer kept; curl still gets JSON."""
    answers = {"app_name": "Pay_ments", "port": "9090", "with_k8s": "true", "maintainer": "Team"}
    html = {"accept": "text/html,application/xhtml+xml"}
    refused = web.post("/starter.zip", data=answers, headers=html)
    assert refused.status_code == 400 and refused.headers["content-type"].startswith("text/html")
    page = refused.text
    assert "must be lowercase letters" in _field_html(page, "app_name")
    assert 'value="Pay_ments"' in _field_html(page, "app_name")
    assert 'aria-invalid="true"' in _field_html(page, "app_name")
    assert 'value="9090"' in _field_html(page, "port")
    assert re.search(r'name="with_k8s" value="true"\s+aria-describedby="[^"]*"\s+checked', page)
    assert "data-refused" in page and "data-from-link" not in page
    assert _is_json_error(web.post("/starter.zip", data=answers), 400)
    accepted = web.post("/starter.zip", data={**answers, "app_name": "payments"}, headers=html)
    assert accepted.status_code == 200 and accepted.headers["content-type"] == "application/zip"
    assert _answers_in_zip(accepted.content, "payments")["port"] == 9090


def test_a_link_with_a_refused_or_surprising_answer_is_the_page(web: Any) -> None:
    """`/?with_backstage=true` (whose owner then refuses its empty default) and a planted image are the
    page, never JSON: the banner lists every answer the link set, with its value."""
    html = {"accept": "text/html"}
    backstage = web.get("/", params={"with_backstage": "true"}, headers=html)
    assert backstage.status_code == 200 and backstage.headers["content-type"].startswith("text/html")
    assert "must name the owning team" in _field_html(backstage.text, "owner")
    assert re.search(
        r'name="with_backstage" value="true"\s+aria-describedby="[^"]*"\s+checked', backstage.text
    )
    planted = web.get(
        "/", params={"builder_image": "evil.example.com/golang:1.27", "port": "9090"}, headers=html
    )
    banner = planted.text[planted.text.index("data-from-link") : planted.text.index("</section>")]
    assert 'data-from-link-answer="builder_image"' in banner and "evil.example.com/golang:1.27" in banner
    assert 'data-from-link-answer="port"' in banner and "9090" in banner
    assert 'data-field="builder_image" data-edited' in planted.text
    assert "data-from-link" not in web.get("/", headers=html).text


def test_the_page_names_the_template_has_an_icon_and_keeps_operator_notes_below_the_form(web: Any) -> None:
    page = web.get("/", headers={"accept": "text/html"}).text
    assert re.search(r"<title>\S+ \S+ · gostarter initializr</title>", page)
    assert '<link rel="icon" href="/favicon.ico" type="image/svg+xml">' in page
    icon = web.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
    assert icon.content.startswith(b"<svg ")
    assert page.index('data-note="no-verify"') > page.index("</form>")
    assert page.index("data-action-bar") < page.index("</form>")
