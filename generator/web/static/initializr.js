// The initializr's page, on top of a plain HTML form that works without this script:
// live validation through the server (Copier's own validators), fields that follow their
// defaults until edited, explore, share, and Ctrl/Cmd+Enter to download.
"use strict";

(function () {
  const form = document.getElementById("starter");
  if (!form) return;
  const fields = Array.from(form.querySelectorAll("[data-field]"));
  const downloads = Array.from(form.querySelectorAll('[data-action^="download"]'));
  const edited = new Set((form.dataset.edited || "").split(" ").filter(Boolean));
  let generation = 0;
  let timer = null;

  const control = (name) => form.querySelector(`[name="${name}"]:not([type=hidden])`);

  function valueOf(name) {
    const input = control(name);
    if (input.type === "checkbox") return input.checked ? "true" : "false";
    return input.value;
  }

  function setValue(name, value) {
    const input = control(name);
    if (input.type === "checkbox") input.checked = value === true;
    else input.value = value === null || value === undefined ? "" : String(value);
  }

  // Only the answers the user gave: the others keep following their defaults.
  function answers() {
    const params = new URLSearchParams();
    for (const field of fields) {
      const name = field.dataset.field;
      if (edited.has(name) && !field.hidden) params.set(name, valueOf(name));
    }
    return params;
  }

  function showErrors(errors) {
    for (const field of fields) {
      const name = field.dataset.field;
      const message = errors[name] || "";
      form.querySelector(`[data-error-for="${name}"]`).textContent = message;
      const input = control(name);
      if (message) input.setAttribute("aria-invalid", "true");
      else input.removeAttribute("aria-invalid");
    }
    const refused = Object.keys(errors).length > 0;
    for (const button of downloads) button.disabled = refused;
    form.dataset.state = refused ? "invalid" : "valid";
  }

  function shareUrl() {
    const query = answers().toString();
    return `${location.origin}${location.pathname}${query ? "?" + query : ""}`;
  }

  async function validate() {
    const mine = ++generation;
    form.dataset.state = "checking";
    let verdict;
    try {
      const response = await fetch("/api/validate", { method: "POST", body: answers() });
      verdict = await response.json();
      if (!response.ok) verdict = { errors: [{ field: verdict.field || fields[0].dataset.field, message: verdict.message }] };
    } catch (error) {
      verdict = { errors: [] };
    }
    if (mine !== generation) return; // a newer answer is being judged
    for (const field of fields) {
      const name = field.dataset.field;
      if (verdict.answers && !edited.has(name) && name in verdict.answers) setValue(name, verdict.answers[name]);
      if (verdict.hidden) {
        field.hidden = verdict.hidden.includes(name);
        for (const input of field.querySelectorAll("[name]")) input.disabled = field.hidden;
      }
    }
    showErrors(Object.fromEntries((verdict.errors || []).map((error) => [error.field, error.message])));
    history.replaceState(null, "", shareUrl());
  }

  function changed(event) {
    const name = event.target.name;
    if (!name) return;
    edited.add(name);
    const field = event.target.closest("[data-field]");
    if (field) field.dataset.edited = "";
    clearTimeout(timer);
    form.dataset.state = "checking";
    timer = setTimeout(validate, 250);
  }

  form.addEventListener("input", changed);
  form.addEventListener("change", changed);

  // Explore: the files these answers produce, before download.
  const explore = document.querySelector("[data-explore]");
  const tree = explore.querySelector("[data-tree]");
  const viewer = explore.querySelector("[data-viewer]");
  const viewerPath = explore.querySelector("[data-viewer-path]");

  function show(file, button) {
    for (const other of tree.querySelectorAll("button")) other.removeAttribute("aria-current");
    button.setAttribute("aria-current", "true");
    viewerPath.textContent = file.path;
    viewer.textContent = file.text === null ? `(${file.size} bytes, not shown)` : file.text;
  }

  async function exploreFiles() {
    const response = await fetch("/api/preview", { method: "POST", body: answers() });
    const body = await response.json();
    if (!response.ok) {
      showErrors({ [body.field || fields[0].dataset.field]: body.message });
      return;
    }
    tree.replaceChildren();
    let first = null;
    for (const file of body.files) {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.file = file.path;
      button.textContent = file.path + (file.mode === "0755" ? " *" : "");
      button.addEventListener("click", () => show(file, button));
      item.append(button);
      tree.append(item);
      if (first === null || file.path === "main.go") first = { file, button };
    }
    explore.hidden = false;
    if (first) show(first.file, first.button);
    explore.scrollIntoView({ block: "start" }); // below the form: bring it into view
    explore.dataset.state = "shown";
  }

  // Share: a link whose query holds the answers given; it reproduces the form.
  const sharePanel = form.querySelector("[data-share]");
  const shareLink = form.querySelector("[data-share-link]");
  async function share() {
    shareLink.value = shareUrl();
    sharePanel.hidden = false;
    shareLink.focus();
    shareLink.select();
    try {
      await navigator.clipboard.writeText(shareLink.value);
    } catch (error) {
      // not a secure context or no permission: the selected link is there to copy
    }
  }

  for (const element of form.querySelectorAll("[data-action=explore], [data-action=share], [data-js-only]")) {
    element.hidden = false;
  }
  form.querySelector("[data-action=explore]").addEventListener("click", exploreFiles);
  form.querySelector("[data-action=share]").addEventListener("click", share);

  async function downloadWhenJudged() {
    if (form.dataset.state === "checking") {
      clearTimeout(timer);
      await validate();
    }
    if (!downloads[0].disabled) form.requestSubmit(downloads[0]);
  }

  document.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      downloadWhenJudged();
    }
  });

  const refusedAtLoad = Array.from(form.querySelectorAll("[data-error-for]")).some((error) => error.textContent);
  for (const button of downloads) button.disabled = refusedAtLoad;
  form.dataset.state = refusedAtLoad ? "invalid" : "valid";
  form.dataset.ready = "true";
})();
