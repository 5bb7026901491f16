// The operator page of iu-cutter serve: runs, live progress, and the review of a held run.
// Plain DOM, no build step. Every text from the server goes in through textContent.
"use strict";

const PHASES = ["backup", "cut-leg-a", "leg-b-record", "write-verify", "lifecycle-enact"];
// The runs the table lists: the most recent, as `GET /runs?limit=` reads them.
const RUNS_SHOWN = 100;
const $ = (id) => document.getElementById(id);
const state = { run: null, detail: null, source: null, document: null, switch: null };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child == null) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

async function getJson(path) {
  return (await getJsonAndHeaders(path)).body;
}

async function getJsonAndHeaders(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || response.statusText);
  return { body, headers: response.headers };
}

function token() { return sessionStorage.getItem("iu-cutter-token") || ""; }

async function post(path) {
  const response = await fetch(path, {
    method: "POST",
    headers: { Authorization: "Bearer " + token(), "Content-Type": "application/json" },
    body: "{}",
  });
  const body = await response.json().catch(() => ({}));
  if (response.status === 401) sessionStorage.removeItem("iu-cutter-token");
  if (!response.ok) {
    throw new Error((body.error || response.statusText) + (body.next ? " — " + body.next : ""));
  }
  return body;
}

// ---- kill switch -------------------------------------------------------------------------

async function loadSwitch() {
  try {
    state.switch = await getJson("/killswitch");
  } catch (error) {
    state.switch = { open: false, switch: "unknown", how_to_open: error.message };
  }
  const node = $("switch");
  node.className = "switch " + (state.switch.open ? "open" : "closed");
  node.textContent = state.switch.open ? "kill switch: open" : "kill switch: closed";
  node.title = state.switch.open
    ? "Live execution is allowed"
    : `Closed by ${state.switch.switch}. To open: ${state.switch.how_to_open}`;
  renderActions();
}

// ---- runs table --------------------------------------------------------------------------

// The journal's status first: a run held on purpose ends its invocation PASS but is HELD.
// The journal's status, unless the store says more: a rollback that did not finish, or a run
// the journal shows running that nobody runs (its runner killed, or stopped and released).
function statusOf(row) {
  if (row.rolled_back_in_part) return "ROLLED_BACK_IN_PART";
  if (row.liveness && row.liveness !== "running") return row.liveness.toUpperCase();
  return row.status || row.outcome || "?";
}

function phaseStrip(phases) {
  const byName = Object.fromEntries((phases || []).map((p) => [p.name, p]));
  const names = PHASES.concat((phases || []).map((p) => p.name).filter((n) => !PHASES.includes(n)));
  return el("div", { class: "phases" }, ...names.map((name) => {
    const phase = byName[name];
    const status = phase ? String(phase.status).toLowerCase() : "";
    return el("span", { class: status, title: name + (phase ? ": " + status : ": not started") });
  }));
}

async function loadRuns() {
  const body = $("runs").tBodies[0];
  try {
    const { body: runs, headers } = await getJsonAndHeaders("/runs?limit=" + RUNS_SHOWN);
    $("runs-error").hidden = true;
    const total = Number(headers.get("X-Total-Count"));
    $("runs-more").hidden = !(total > runs.length);
    $("runs-more").textContent = "The " + runs.length + " most recent of " + total + " runs.";
    body.replaceChildren(...runs.map((row) => {
      const status = statusOf(row);
      const tr = el("tr", { "data-run": row.run, onclick: () => openRun(row.run) },
        el("td", { class: "run-id" }, row.run),
        el("td", {}, el("span", { class: "badge mode" }, row.mode)),
        el("td", {}, el("span", { class: "badge " + status }, row.active ? row.active + "…" : status)),
        el("td", {}, phaseStrip(row.phases)));
      if (row.run === state.run) tr.classList.add("selected");
      return tr;
    }));
    if (!runs.length) body.replaceChildren(el("tr", {}, el("td", { colspan: 4, class: "muted" }, "No runs yet.")));
  } catch (error) {
    $("runs-error").hidden = false;
    $("runs-error").textContent = "Cannot list the runs: " + error.message;
  }
}

// ---- one run -----------------------------------------------------------------------------

async function openRun(run) {
  state.run = run;
  state.document = null;
  for (const tr of $("runs").tBodies[0].rows) tr.classList.toggle("selected", tr.dataset.run === run);
  $("detail").hidden = false;
  $("events").replaceChildren();
  listen(run);
  await loadRun();
}

async function loadRun() {
  const run = state.run;
  const detail = await getJson("/runs/" + encodeURIComponent(run));
  if (run !== state.run) return;
  state.detail = detail;
  const record = detail.record || {};
  $("run-title").textContent = run;
  const live = detail.liveness && detail.liveness.state !== "running" ? detail.liveness.state.toUpperCase() : null;
  const status = detail.rolled_back_in_part ? "ROLLED_BACK_IN_PART" : live || record.status;
  $("run-meta").textContent = [detail.mode, status, scopeText(record.scope)].filter(Boolean).join(" · ");
  renderOutcome(detail);
  renderTimeline(record.phases || []);
  renderActions();
  renderReview(detail);
}

function scopeText(scope) {
  if (!scope) return "";
  if (scope.kind === "all") return "all documents";
  if (scope.kind === "prefix") return "prefix " + scope.value;
  if (scope.kind === "ids") return scope.value.length + " document(s)";
  return scope.kind;
}

function renderOutcome(detail) {
  const node = $("outcome");
  const report = detail.report;
  if (detail.active) {
    node.hidden = false;
    node.className = "outcome";
    node.textContent = detail.active + " in progress…";
    return;
  }
  if (!report) { node.hidden = !detail.last_error; node.textContent = detail.last_error || ""; return; }
  const outcome = report.outcome || {};
  node.hidden = false;
  node.className = "outcome " + outcome.name;
  const why = outcome.reason || outcome.error || (outcome.gap && (outcome.gap.detail || JSON.stringify(outcome.gap))) || "";
  const held = report.held_after ? `held after ${report.held_after}` : "";
  node.replaceChildren(`${report.command || ""} → ${outcome.name}`,
    el("span", { class: "detail" }, [held, why, outcome.how_to_open].filter(Boolean).join(" · ")));
}

function renderTimeline(phases) {
  const byName = Object.fromEntries(phases.map((p) => [p.name, p]));
  const names = PHASES.concat(phases.map((p) => p.name).filter((n) => !PHASES.includes(n)));
  $("timeline").replaceChildren(...names.map((name) => {
    const phase = byName[name];
    if (!phase) return el("li", { class: "pending" }, name);
    const status = String(phase.status).toLowerCase();
    const took = phase.started_at && phase.finished_at
      ? " · " + seconds(Date.parse(phase.finished_at) - Date.parse(phase.started_at)) : "";
    return el("li", { class: status, title: (phase.started_at || "") + (phase.detail ? "\n" + phase.detail : "") },
      el("strong", {}, name), " ", el("span", { class: "muted" }, status + took));
  }));
}

function seconds(ms) { return isFinite(ms) ? (ms / 1000).toFixed(ms < 10000 ? 2 : 0) + " s" : ""; }

function isHeld(detail) { return detail && detail.record && detail.record.status === "HELD"; }

function renderActions() {
  const detail = state.detail;
  const enact = $("enact");
  const rollback = $("rollback");
  const note = $("switch-note");
  if (!detail || !detail.record) { enact.hidden = rollback.hidden = true; note.hidden = true; return; }
  const status = detail.record.status;
  const live = detail.mode === "live";
  const closed = live && state.switch && !state.switch.open;
  enact.hidden = !isHeld(detail);
  rollback.hidden = status === "ROLLED_BACK";
  enact.disabled = rollback.disabled = Boolean(closed || detail.active);
  note.hidden = !closed;
  if (closed) {
    note.textContent = `The kill switch is closed by ${state.switch.switch}, so this run cannot be enacted or rolled back. To open it: ${state.switch.how_to_open}`;
  }
}

// ---- live progress -----------------------------------------------------------------------

function listen(run) {
  if (state.source) state.source.close();
  const source = new EventSource("/runs/" + encodeURIComponent(run) + "/events");
  state.source = source;
  source.onmessage = (message) => {
    let event;
    try { event = JSON.parse(message.data); } catch { return; }
    const line = [event.event, event.phase, event.status || event.outcome,
      event.total ? `${event.done}/${event.total}` : ""].filter(Boolean).join(" ");
    $("events").append(el("li", {}, line));
    const progress = $("progress");
    if (event.event === "phase_started" || event.event === "progress") {
      progress.hidden = false;
      $("progress-phase").textContent = event.phase;
      $("progress-count").textContent = event.total ? `${event.done} / ${event.total}` : "";
      $("progress-bar").style.width = event.total ? (100 * event.done / event.total) + "%" : "5%";
    }
    if (event.event === "phase_finished" || event.event === "run_finished") {
      if (event.event === "run_finished") progress.hidden = true;
      // The journal has moved on: show it (a short delay lets the report be journaled).
      setTimeout(() => { loadRun().catch(() => {}); loadRuns(); }, event.event === "run_finished" ? 300 : 0);
    }
  };
}

// ---- review of a held run ----------------------------------------------------------------

function renderReview(detail) {
  const documents = detail.documents || [];
  $("review").hidden = !documents.length;
  $("doc-count").textContent = documents.length ? `(${documents.length})` : "";
  $("documents").replaceChildren(...documents.map((doc) =>
    el("button", { type: "button", "data-document": doc, onclick: () => openDocument(doc) }, doc)));
  if (documents.length && !documents.includes(state.document)) openDocument(documents[0]);
}

async function openDocument(doc) {
  state.document = doc;
  for (const b of $("documents").children) b.classList.toggle("selected", b.dataset.document === doc);
  const run = encodeURIComponent(state.run);
  const base = "/documents/" + encodeURIComponent(doc);
  const [units, diff] = await Promise.all([
    getJson(`${base}/units?run=${run}`).catch((e) => ({ units: [], error: e.message })),
    getJson(`${base}/diff?run=${run}`).catch((e) => ({ units: [], texts: {}, error: e.message })),
  ]);
  if (doc !== state.document) return;
  renderTree(units.units || []);
  renderDiff(diff);
}

function renderTree(units) {
  const root = { children: new Map(), unit: null };
  for (const unit of units) {
    let node = root;
    for (const part of (unit.path || "(preamble)").split("/")) {
      if (!node.children.has(part)) node.children.set(part, { children: new Map(), unit: null });
      node = node.children.get(part);
    }
    if (node.unit) {
      // A split unit's parts share a path: each part is its own leaf.
      node.children.set(`part ${unit.part ?? unit.ordinal}`, { children: new Map(), unit });
    } else node.unit = unit;
  }
  const build = (node) => [...node.children.entries()].map(([name, child]) => {
    const label = el("span", { class: child.unit ? "node" : "node group", title: name }, name);
    if (child.unit) {
      label.dataset.unit = child.unit.unit_id;
      label.addEventListener("click", () => selectUnit(child.unit, label));
    }
    const item = el("li", {}, label);
    if (child.children.size) item.append(el("ul", {}, ...build(child)));
    return item;
  });
  $("unit-tree").replaceChildren(...build(root));
  const first = $("unit-tree").querySelector(".node[data-unit]");
  if (first) first.click();
  else { $("unit-title").textContent = "Unit text"; $("unit-text").textContent = "No units."; }
}

function selectUnit(unit, label) {
  for (const n of $("unit-tree").querySelectorAll(".node.selected")) n.classList.remove("selected");
  label.classList.add("selected");
  $("unit-title").textContent = `${unit.path || "(preamble)"} · ${unit.end - unit.start} bytes`;
  $("unit-text").classList.remove("muted");
  $("unit-text").textContent = unit.body;
}

function renderDiff(diff) {
  const target = $("diff");
  if (diff.error) { target.replaceChildren(el("p", { class: "error" }, diff.error)); $("diff-summary").textContent = ""; return; }
  $("diff-summary").textContent =
    `(${diff.generation_a || "none"} → ${diff.generation_b}: ${diff.added} added, ${diff.removed} removed, ${diff.changed} changed, ${diff.unchanged} unchanged)`;
  const entries = (diff.units || []).filter((u) => u.change !== "unchanged");
  if (!entries.length) { target.replaceChildren(el("p", { class: "muted" }, "No unit changes.")); return; }
  target.replaceChildren(...entries.map((entry) => {
    const texts = (diff.texts || {})[entry.unit_id] || {};
    const body = entry.change === "changed"
      ? wordDiff(texts.before || "", texts.after || "")
      : el(entry.change === "added" ? "ins" : "del", {}, (entry.change === "added" ? texts.after : texts.before) || "");
    return el("div", { class: "diff-entry " + entry.change, "data-change": entry.change },
      el("div", { class: "diff-head" },
        el("span", { class: "change " + entry.change }, entry.change),
        el("span", { class: "path" }, entry.path || entry.unit_id),
        el("span", { class: "muted" }, `${entry.bytes_a ?? "–"} → ${entry.bytes_b ?? "–"} bytes`)),
      el("pre", {}, body));
  }));
}

// A word-level diff (longest common subsequence over words and spaces); long texts fall back
// to the whole text removed and added.
function wordDiff(before, after) {
  const a = before.split(/(\s+)/);
  const b = after.split(/(\s+)/);
  const fragment = document.createDocumentFragment();
  if (a.length * b.length > 4e6) {
    fragment.append(el("del", {}, before), el("ins", {}, after));
    return fragment;
  }
  const rows = a.length + 1, cols = b.length + 1;
  const table = new Uint32Array(rows * cols);
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      table[i * cols + j] = a[i] === b[j] ? table[(i + 1) * cols + j + 1] + 1
        : Math.max(table[(i + 1) * cols + j], table[i * cols + j + 1]);
    }
  }
  let i = 0, j = 0;
  const push = (tag, text) => {
    const last = fragment.lastChild;
    if (tag && last && last.nodeName.toLowerCase() === tag) last.textContent += text;
    else fragment.append(tag ? el(tag, {}, text) : text);
  };
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) { push(null, a[i]); i++; j++; }
    else if (table[(i + 1) * cols + j] >= table[i * cols + j + 1]) push("del", a[i++]);
    else push("ins", b[j++]);
  }
  while (i < a.length) push("del", a[i++]);
  while (j < b.length) push("ins", b[j++]);
  return fragment;
}

// ---- enact and rollback ------------------------------------------------------------------

function confirmAction(title, text) {
  return new Promise((resolve) => {
    const dialog = $("confirm");
    $("confirm-title").textContent = title;
    $("confirm-text").textContent = text;
    $("confirm-token-row").hidden = Boolean(token());
    $("confirm-token").value = "";
    dialog.onclose = () => {
      const typed = $("confirm-token").value.trim();
      if (dialog.returnValue === "ok" && typed) sessionStorage.setItem("iu-cutter-token", typed);
      resolve(dialog.returnValue === "ok" && Boolean(token()));
    };
    dialog.returnValue = "";
    dialog.showModal();
  });
}

async function act(command, title, text) {
  const run = state.run;
  if (!(await confirmAction(title, text))) return;
  const node = $("outcome");
  node.hidden = false;
  node.className = "outcome";
  node.textContent = command + " requested…";
  try {
    await post(`/runs/${encodeURIComponent(run)}/${command}`);
    await loadRun();
  } catch (error) {
    node.className = "outcome FAILED";
    node.textContent = `${command} refused: ${error.message}`;
  }
}

$("enact").addEventListener("click", () => act("enact", "Enact this run?",
  `Run ${state.run} is verified again, then its units become the active ones of its documents. ` +
  "A rollback can restore the previous state."));
$("rollback").addEventListener("click", () => act("rollback", "Roll this run back?",
  `The documents of run ${state.run} are restored to their exact pre-run state from its backup.`));
$("token-button").addEventListener("click", async () => {
  sessionStorage.removeItem("iu-cutter-token");
  const dialog = $("confirm");
  $("confirm-title").textContent = "Bearer token";
  $("confirm-text").textContent = "Kept in this tab only (sessionStorage), sent with Enact and Roll back.";
  $("confirm-token-row").hidden = false;
  dialog.onclose = () => {
    const typed = $("confirm-token").value.trim();
    if (dialog.returnValue === "ok" && typed) sessionStorage.setItem("iu-cutter-token", typed);
  };
  dialog.showModal();
});
$("refresh").addEventListener("click", () => { loadRuns(); loadSwitch(); });

loadSwitch();
loadRuns();
setInterval(loadSwitch, 10000);
setInterval(loadRuns, 15000);
