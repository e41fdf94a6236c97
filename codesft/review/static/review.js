// codesft review: keyboard shortcuts and the calls to the JSON API. Record text is only ever put into the
// page with textContent / value, never as HTML.
"use strict";

(function () {
  const body = document.body;
  const $ = (sel) => document.querySelector(sel);
  const reviewerInput = $("#reviewer");
  const STORAGE_KEY = "codesft-review-reviewer";

  // The reviewer's name: --reviewer on the server, else what this browser used last.
  if (reviewerInput) {
    reviewerInput.value = body.dataset.defaultReviewer || localStorage.getItem(STORAGE_KEY) || "";
    reviewerInput.addEventListener("input", () => localStorage.setItem(STORAGE_KEY, reviewerInput.value.trim()));
  }

  async function api(path, payload) {
    const resp = await fetch(path, {
      method: payload === undefined ? "GET" : "POST",
      headers: payload === undefined ? {} : { "Content-Type": "application/json" },
      body: payload === undefined ? undefined : JSON.stringify(payload),
      credentials: "same-origin",
    });
    let data = null;
    try { data = await resp.json(); } catch (e) { data = { error: "the server sent no JSON (HTTP " + resp.status + ")" }; }
    if (!resp.ok) throw new Error((data && data.error) || ("HTTP " + resp.status));
    return data;
  }

  function typing(target) {
    return target && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
  }

  if (body.dataset.page !== "record") return;

  const sampleId = body.dataset.sampleId;
  const status = $("#save-status");
  const rejectForm = $("#reject-form");
  const editForm = $("#edit-form");
  let busy = false;
  // The record as the API returns it (GET /api/records/{id}); an edit waits for it.
  const recordLoaded = api("/api/records/" + encodeURIComponent(sampleId)).then((d) => d.record);
  recordLoaded.catch((e) => say("could not load the record: " + e.message, true));

  function say(text, bad) {
    status.textContent = text;
    status.className = bad ? "error" : "saved";
  }

  function rubric() {
    const out = {};
    document.querySelectorAll("select[data-rubric]").forEach((s) => { if (s.value) out[s.dataset.rubric] = Number(s.value); });
    return Object.keys(out).length ? out : null;
  }

  function addHistory(d) {
    const li = document.createElement("li");
    li.textContent = d.decided_at + " · " + d.reviewer + " · " + d.decision + (d.reason ? " (" + d.reason + ")" : "")
      + (d.comment ? ": " + d.comment : "");
    $("#history").appendChild(li);
  }

  async function decide(decision, extra) {
    if (busy) return;
    const reviewer = reviewerInput.value.trim();
    if (!reviewer) { say("enter your name in the reviewer box first", true); reviewerInput.focus(); return; }
    localStorage.setItem(STORAGE_KEY, reviewer);
    const comment = $("#comment").value.trim();
    const payload = Object.assign({ sample_id: sampleId, decision: decision, reviewer: reviewer, rubric: rubric(),
      comment: comment || null }, extra || {});
    busy = true;
    say(decision === "edit" ? "verifying the edit in the sandbox…" : "saving…", false);
    try {
      const d = await api("/api/decisions", payload);
      say("saved #" + d.id + ": " + d.decision + " by " + d.reviewer + " at " + d.decided_at
        + (d.verification ? " (re-verified: " + d.verification.status + ")" : ""), false);
      const progress = $("#progress");
      const m = /^reviewed (\d+) \/ (\d+)$/.exec(progress.textContent.trim());
      if (m && $("#status").textContent === "unreviewed") progress.textContent = "reviewed " + (Number(m[1]) + 1) + " / " + m[2];
      $("#status").textContent = d.decision;
      addHistory(d);
      rejectForm.hidden = true;
      editForm.hidden = true;
    } catch (e) {
      say("not saved: " + e.message, true);
    } finally {
      busy = false;
    }
  }

  function openPanel(panel, focus) {
    rejectForm.hidden = panel !== rejectForm;
    editForm.hidden = panel !== editForm;
    const el = focus && panel.querySelector(focus);
    if (el) el.focus();
  }

  async function submitEdit() {
    let record;
    try { record = await recordLoaded; } catch (e) { return; }  // already reported
    const extra = {};
    let messagesChanged = false;
    const messages = record.messages.map((m) => Object.assign({}, m));
    editForm.querySelectorAll("textarea.edit-message").forEach((t) => {
      const i = Number(t.dataset.index);
      if (t.value !== messages[i].content) { messages[i].content = t.value; messagesChanged = true; }
    });
    if (messagesChanged) extra.edited_messages = messages;
    const sol = $("#edit-solution");
    if (sol && record.code && sol.value !== record.code.solution) extra.edited_solution = sol.value;
    if (!Object.keys(extra).length) { say("nothing was edited", true); return; }
    decide("edit", extra);
  }

  $("#approve").addEventListener("click", () => decide("approve"));
  $("#reject").addEventListener("click", () => openPanel(rejectForm, "#reject-reason"));
  $("#edit").addEventListener("click", () => openPanel(editForm, "textarea"));
  rejectForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const reason = $("#reject-reason").value;
    if (!reason) { say("choose a reason", true); return; }
    decide("reject", { reason: reason });
  });
  editForm.addEventListener("submit", (ev) => { ev.preventDefault(); submitEdit(); });

  $("#rerun").addEventListener("click", async () => {
    const out = $("#rerun-result");
    out.textContent = "running…";
    try {
      const d = await api("/api/verify", { sample_id: sampleId });
      const v = d.verification;
      out.textContent = v.status + ": " + v.passed + "/" + v.total + " passed" + (v.reason ? "\n" + v.reason : "");
    } catch (e) {
      out.textContent = "could not run: " + e.message;
    }
  });

  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") { rejectForm.hidden = true; editForm.hidden = true; document.activeElement.blur(); return; }
    if (ev.ctrlKey && ev.key === "Enter" && !editForm.hidden) { ev.preventDefault(); submitEdit(); return; }
    if (ev.ctrlKey || ev.metaKey || ev.altKey || typing(ev.target)) return;
    const go = (url) => { if (url) window.location.href = url; };
    switch (ev.key) {
      case "j": go(body.dataset.next); break;
      case "k": go(body.dataset.prev); break;
      case "a": decide("approve"); break;
      case "r": ev.preventDefault(); openPanel(rejectForm, "#reject-reason"); break;
      case "e": ev.preventDefault(); openPanel(editForm, "textarea"); break;
      default: return;
    }
  });
  body.dataset.ready = "1";  // handlers are in place (tests wait for this before pressing keys)
})();
