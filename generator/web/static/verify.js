// Verify on the page (served only with `gostarter serve --verify docker`): POST the form's answers to
// /api/verify and show the verification's server-sent events as they arrive: each phase with its
// elapsed time, then the result in one sentence (its figures are in it) and the report, or the
// reason and the log tail; the build's log lines stay folded below. Closing the page closes the stream, and the server stops the verification.
"use strict";

(function () {
  const form = document.getElementById("starter");
  const button = form && form.querySelector('[data-action="verify"]');
  const section = document.querySelector("[data-verify]");
  if (!button || !section) return;
  const status = section.querySelector("[data-verify-status]");
  const phases = section.querySelector("[data-verify-phases]");
  const log = section.querySelector("[data-verify-log]");
  const result = section.querySelector("[data-verify-result]");
  const tail = section.querySelector("[data-verify-tail]");
  const report = section.querySelector("[data-verify-report]");
  const LOG_LINES = 200;
  let current = null; // the phase item running now: {item, started}
  let reportUrl = null;

  function reset() {
    phases.replaceChildren();
    log.textContent = "";
    result.textContent = "";
    tail.textContent = "";
    tail.hidden = true;
    report.hidden = true;
    if (reportUrl) URL.revokeObjectURL(reportUrl);
    reportUrl = null;
    current = null;
  }

  function finishPhase(t) {
    if (!current) return;
    const seconds = (t - current.started).toFixed(2);
    current.item.querySelector("[data-elapsed]").textContent = `${seconds} s`;
    current.item.dataset.done = "true";
    current = null;
  }

  function onPhase(data) {
    finishPhase(data.t);
    const item = document.createElement("li");
    item.dataset.phase = data.name;
    const name = document.createElement("strong");
    name.textContent = data.name;
    if (data.platform) {
      // Verified on several platforms: each phase says which one it belongs to.
      item.dataset.platform = data.platform;
      name.textContent = `${data.name} (${data.platform})`;
    }
    const detail = document.createElement("span");
    detail.textContent = data.detail ? ` ${data.detail} ` : " ";
    const elapsed = document.createElement("span");
    elapsed.dataset.elapsed = "";
    elapsed.textContent = `at ${data.t.toFixed(2)} s`;
    item.append(name, detail, elapsed);
    phases.append(item);
    current = { item, started: data.t };
    status.textContent = `${data.name}…`;
  }

  function onLog(line) {
    const lines = (log.textContent ? log.textContent.split("\n") : []).concat(line);
    log.textContent = lines.slice(-LOG_LINES).join("\n");
    log.scrollTop = log.scrollHeight;
  }

  function onResult(data) {
    finishPhase(data.t || 0);
    section.dataset.state = data.result;
    status.textContent = ""; // the result below says it, once
    result.textContent = data.summary || data.reason || ""; // the summary already names every figure
    if (data.log_tail) {
      tail.textContent = data.log_tail;
      tail.hidden = false;
    }
    if (data.report) {
      reportUrl = URL.createObjectURL(new Blob([data.report], { type: "application/toml" }));
      report.href = reportUrl;
      report.hidden = false;
    }
  }

  function dispatch(event, data) {
    if (event === "queued") {
      status.textContent = data.ahead ? `Waiting: ${data.ahead} verification(s) ahead.` : "Starting…";
    } else if (event === "phase") onPhase(data);
    else if (event === "step") status.textContent = `${current ? current.item.dataset.phase : ""}: ${data.detail}`;
    else if (event === "log") onLog(data.line);
    else if (event === "note") onLog(data.message);
    else if (event === "result") onResult(data);
    else if (event === "cancelled") onResult({ result: "cancelled", summary: "The verification was cancelled." });
  }

  async function verify() {
    reset();
    section.hidden = false;
    section.dataset.state = "running";
    button.disabled = true;
    status.textContent = "Sending the answers…";
    try {
      const response = await fetch("/api/verify", {
        method: "POST",
        // JSON, which no other site's form can send: the server refuses any other body here.
        body: JSON.stringify(Object.fromEntries(new FormData(form))),
        headers: { Accept: "text/event-stream", "Content-Type": "application/json" },
      });
      if (!response.ok) {
        const problem = await response.json().catch(() => ({ message: response.statusText }));
        section.dataset.state = response.status === 503 ? "busy" : "refused";
        status.textContent = problem.message;
        return;
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let event = "message";
          let data = "";
          for (const line of block.split("\n")) {
            if (line.startsWith("event: ")) event = line.slice(7);
            else if (line.startsWith("data: ")) data += line.slice(6);
          }
          if (data) dispatch(event, JSON.parse(data));
        }
      }
      if (section.dataset.state === "running") {
        section.dataset.state = "failed";
        status.textContent = "The stream ended without a result.";
      }
    } catch (error) {
      section.dataset.state = "failed";
      status.textContent = `The verification stream failed: ${error}`;
    } finally {
      button.disabled = false;
    }
  }

  button.hidden = false;
  button.addEventListener("click", verify);
  // The answers are being refused: verifying them would be refused too.
  new MutationObserver(() => {
    button.disabled = form.dataset.state === "invalid" || section.dataset.state === "running";
  }).observe(form, { attributes: true, attributeFilter: ["data-state"] });
})();
