// The wmr dashboard: a page per view (jobs, one job, nodes, datasets),
// drawn from the node's JSON API with the tab's token and redrawn on a
// timer. Every text from the cluster (names, errors, log lines) goes into
// the page as text, never as markup.
"use strict";

const POLL_MS = 2000;        // while something runs
const POLL_IDLE_MS = 10000;  // when the view shows only ended work
const SVG = "http://www.w3.org/2000/svg";

let timer = null;
let identity = null;

// ---- building the page ----

// h makes an element: h("td", {class: "num"}, "12", otherNode).
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  setAttrs(el, attrs);
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "onclick") el.addEventListener("click", v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
}

function bar(fraction, cls) {
  const inner = h("span");
  inner.style.width = (Math.max(0, Math.min(1, fraction || 0)) * 100).toFixed(1) + "%";
  return h("span", { class: "bar " + (cls || "") }, inner);
}

function stateBadge(state) {
  return h("span", { class: "state " + state, "data-state": state }, state);
}

function table(headers, rows) {
  return h("table", {},
    h("thead", {}, h("tr", {}, headers.map(([label, cls]) => h("th", { class: cls || "" }, label)))),
    h("tbody", {}, rows));
}

// ---- formatting ----

function fmtBytes(n) {
  if (n === undefined || n === null) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}

function fmtNum(n) { return (n || 0).toLocaleString("en-US"); }

function fmtDur(ms) {
  if (!(ms >= 0)) return "";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const sec = ms / 1000;
  if (sec < 60) return `${sec.toFixed(1)} s`;
  const m = Math.floor(sec / 60);
  if (m < 60) return `${m}m${Math.round(sec % 60)}s`;
  return `${Math.floor(m / 60)}h${m % 60}m`;
}

// fmtTime shows a time as YYYY-MM-DD HH:MM:SS in the browser's zone.
function fmtTime(t) {
  if (!t) return "";
  const d = new Date(t);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

const ended = (t) => t && !t.startsWith("0001-");
function jobDuration(j) {
  const end = ended(j.finished) ? Date.parse(j.finished) : Date.now();
  return end - Date.parse(j.created);
}

// ---- talking to the node ----

class AuthError extends Error {}

async function api(path, opts) {
  const headers = {};
  const token = sessionStorage.getItem("wmr-token");
  if (token) headers["Authorization"] = "Bearer " + token;
  const resp = await fetch(path, Object.assign({ headers, cache: "no-store" }, opts || {}));
  let body = null;
  try { body = await resp.json(); } catch (e) { body = null; }
  if (resp.status === 401) throw new AuthError((body && body.error) || "a token is needed");
  if (!resp.ok) throw new Error((body && body.error) || `${resp.status} ${resp.statusText}`);
  return body;
}

// ---- views ----

async function viewJobs(view) {
  const jobs = (await api("/v1/jobs")) || [];
  jobs.sort((a, b) => Date.parse(b.created) - Date.parse(a.created));
  const running = jobs.filter((j) => j.state === "running").length;
  const rows = jobs.map((j) => h("tr", { "data-job": j.id, class: j.state === "failed" ? "bad" : "" },
    h("td", {}, h("a", { href: "#/jobs/" + encodeURIComponent(j.id) }, j.id)),
    h("td", { class: "state-cell" }, stateBadge(j.state)),
    h("td", {}, j.phase),
    h("td", { class: "maps" }, bar(j.maps ? j.maps_done / j.maps : 0), ` ${j.maps_done}/${j.maps}`),
    h("td", { class: "reduces" }, bar(j.reduces ? j.reduces_done / j.reduces : 0, "reduce"), ` ${j.reduces_done}/${j.reduces}`),
    h("td", { class: "wrap" }, j.request.input, " → ", j.request.output),
    h("td", {}, j.request.module_name || ""),
    h("td", { class: "tenant" }, j.tenant),
    h("td", {}, fmtTime(j.created)),
    h("td", { class: "num" }, fmtDur(jobDuration(j))),
  ));
  view.replaceChildren(
    h("h1", {}, "Jobs"),
    h("p", { class: "muted" }, `${jobs.length} jobs, ${running} running`),
    jobs.length === 0 ? h("p", { id: "no-jobs" }, "No jobs yet. Submit one with ", h("code", {}, "wmr submit"), ".") :
      table([["Job"], ["State"], ["Phase"], ["Maps"], ["Reduces"], ["Input → output"], ["Module"], ["Tenant"], ["Submitted"], ["Duration", "num"]], rows),
  );
  return running > 0;
}

async function viewJob(view, id) {
  const [j, logs] = await Promise.all([
    api("/v1/jobs/" + encodeURIComponent(id)),
    api("/v1/jobs/" + encodeURIComponent(id) + "/logs").catch(() => null),
  ]);
  const attempts = j.attempts || [];
  const failed = attempts.filter((a) => a.outcome !== "running" && a.outcome !== "succeeded");
  const cards = [
    ["State", stateBadge(j.state)], ["Phase", j.phase], ["Tenant", j.tenant], ["Coordinator", j.coordinator],
    ["Input", j.request.input], ["Output", j.request.output], ["Module", j.request.module_name || ""],
    ["Duration", fmtDur(jobDuration(j))], ["Records in", fmtNum(j.records_in)], ["Records out", fmtNum(j.records_out)],
    ["Bytes read", fmtBytes(j.bytes_in) + (j.input_bytes ? " of " + fmtBytes(j.input_bytes) : "")],
    ["Attempts", `${j.started}` + (j.attempts_dropped ? ` (${j.attempts_dropped} older not kept)` : "")],
  ].map(([label, value]) => h("div", { class: "card", "data-card": label.toLowerCase().replace(/ /g, "-") },
    h("div", { class: "label" }, label), h("div", { class: "value" }, value)));

  const counters = Object.entries(j.counters || {}).sort(([a], [b]) => (a < b ? -1 : 1));
  const parts = [
    h("h1", {}, "Job ", h("span", { id: "job-id" }, j.id)),
    j.state === "running" ? h("p", {}, h("button", { id: "cancel", onclick: () => cancelJob(j.id) }, "Cancel job")) : null,
    j.error ? h("pre", { class: "err", id: "job-error" }, j.error) : null,
    h("div", { class: "cards" }, cards),
    h("h2", {}, "Progress"),
    h("div", { class: "phase", id: "progress-map" }, h("span", { class: "label" }, "map"),
      bar(j.maps ? j.maps_done / j.maps : 0), ` ${j.maps_done} of ${j.maps} maps`),
    j.combines ? h("div", { class: "phase", id: "progress-combine" }, h("span", { class: "label" }, "combine"),
      bar(j.combines_done / j.combines, "combine"),
      ` ${j.combines_done} of ${j.combines} combines in the reduce tree (` +
      (j.tree || []).map((l) => `level ${l.level}: ${l.done}/${l.tasks}, at most ${l.max_inputs} inputs each`).join("; ") + ")") : null,
    h("div", { class: "phase", id: "progress-reduce" }, h("span", { class: "label" }, "reduce"),
      bar(j.reduces ? j.reduces_done / j.reduces : 0, "reduce"), ` ${j.reduces_done} of ${j.reduces} reduces`),
    h("h2", {}, "Timeline"),
    legend(),
    gantt(j, attempts),
    h("h2", {}, `Counters (${counters.length})`),
    counters.length === 0 ? h("p", { class: "muted" }, "No counters.") :
      table([["Counter"], ["Value", "num"]], counters.map(([k, v]) => h("tr", { "data-counter": k }, h("td", {}, k), h("td", { class: "num" }, fmtNum(v))))),
    h("h2", {}, `Attempts (${attempts.length}` + (failed.length ? `, ${failed.length} did not succeed` : "") + ")"),
    attemptsTable(attempts),
    h("h2", {}, "Module logs"),
    moduleLogs(logs),
  ];
  if ((j.skipped || []).length) {
    parts.push(h("h2", {}, `Skipped bad records (${j.skipped.length})`),
      h("pre", { class: "logs" }, j.skipped.map((r) => JSON.stringify(r)).join("\n")));
  }
  view.replaceChildren(...parts.filter((p) => p));
  return j.state === "running";
}

async function cancelJob(id) {
  if (!confirm(`Cancel job ${id}? Its running attempts are stopped and it publishes no output.`)) return;
  try {
    await api("/v1/jobs/" + encodeURIComponent(id), { method: "DELETE" });
  } catch (e) {
    problem(e.message);
  }
  route();
}

function legend() {
  return h("div", { class: "legend" },
    ...[["map", "map"], ["combine", "combine"], ["reduce", "reduce"], ["sample", "sample"], ["running", "running"],
      ["failed", "failed"], ["lost", "lost / output lost"], ["cancelled", "cancelled"], ["backup", "backup attempt"]]
      .map(([cls, label]) => h("span", {}, h("i", { class: cls }), label)));
}

function attemptClass(a) {
  const o = a.outcome || "";
  if (o === "running") return "running";
  if (o.startsWith("lost") || o.startsWith("output lost")) return "lost";
  if (o.startsWith("cancelled")) return "cancelled"; // stopped: its job ended, or a backup won
  if (o !== "succeeded") return "failed";
  return a.kind;
}

const colours = {
  map: "var(--map)", combine: "var(--combine)", reduce: "var(--reduce)", sample: "var(--sample)", running: "var(--running)",
  failed: "var(--failed)", lost: "var(--lost)", cancelled: "var(--cancelled)",
};

// gantt draws every attempt as a bar on its node's rows, over the job's
// time: concurrent attempts on one node go to separate lanes.
function gantt(j, attempts) {
  const W = 1100, left = 90, right = 10, laneH = 14, gap = 3, top = 22;
  if (attempts.length === 0) return h("p", { class: "muted", id: "gantt-empty" }, "No attempt has started yet.");
  // The axis starts with the first attempt: before it the coordinator
  // planned the job (sampling, placing the module), said in the caption.
  const created = Date.parse(j.created);
  const t0 = Math.min(...attempts.map((a) => Date.parse(a.start)));
  const now = Date.now();
  const endOf = (a) => (ended(a.end) ? Date.parse(a.end) : (ended(j.finished) ? Date.parse(j.finished) : now));
  const t1 = Math.max(t0 + 1, ...attempts.map(endOf), ended(j.finished) ? Date.parse(j.finished) : 0);
  const x = (t) => left + ((t - t0) / (t1 - t0)) * (W - left - right);

  const byNode = new Map();
  for (const a of [...attempts].sort((p, q) => Date.parse(p.start) - Date.parse(q.start))) {
    if (!byNode.has(a.node)) byNode.set(a.node, []);
    byNode.get(a.node).push(a);
  }
  const nodes = [...byNode.keys()].sort();
  const shapes = [];
  let y = top;
  for (const node of nodes) {
    const lanes = []; // end time of the last bar in each lane
    const placed = [];
    for (const a of byNode.get(node)) {
      const st = Date.parse(a.start), en = endOf(a);
      let lane = lanes.findIndex((e) => e <= st);
      if (lane < 0) { lane = lanes.length; lanes.push(0); }
      lanes[lane] = en;
      placed.push([a, lane, st, en]);
    }
    const rowH = Math.max(1, lanes.length) * (laneH + gap);
    shapes.push(s("line", { class: "grid", x1: 0, x2: W, y1: y - gap / 2, y2: y - gap / 2 }));
    shapes.push(s("text", { x: 4, y: y + Math.min(rowH, laneH + gap) / 2 + 4, "data-gantt-node": node }, node));
    for (const [a, lane, st, en] of placed) {
      const cls = attemptClass(a);
      const w = Math.max(2, x(en) - x(st));
      const tip = `${a.task} attempt ${a.attempt}${a.backup ? " (backup)" : ""} on ${a.node}: ${a.outcome}\n` +
        `${a.kind} of ${a.input}, ${fmtDur(en - st)}, ${fmtNum(a.records_in)} records in, ${fmtNum(a.records_out)} out`;
      shapes.push(s("rect", {
        class: "attempt " + cls + (a.backup ? " backup" : ""), x: x(st).toFixed(1), y: y + lane * (laneH + gap),
        width: w.toFixed(1), height: laneH, fill: colours[cls] || colours.map,
        "data-task": a.task, "data-attempt": a.attempt, "data-node": a.node, "data-outcome": cls,
      }, s("title", {}, tip)));
    }
    y += rowH;
  }
  // Time axis: five ticks.
  for (let i = 0; i <= 4; i++) {
    const t = t0 + ((t1 - t0) * i) / 4;
    shapes.push(s("text", { x: Math.min(x(t), W - 40), y: 14 }, fmtDur(t - t0)));
  }
  return h("div", {},
    s("svg", { class: "gantt", id: "gantt", viewBox: `0 0 ${W} ${y + 4}`, preserveAspectRatio: "xMinYMin meet" }, shapes),
    h("p", { class: "muted" }, `Times from the first attempt, ${fmtDur(t0 - created)} after the job was submitted. ` +
      "Each node's row holds its attempts, one lane per concurrent attempt; hover a bar for its task, outcome and records."));
}

function attemptsTable(attempts) {
  const rows = [...attempts].sort((p, q) => Date.parse(p.start) - Date.parse(q.start)).map((a) => {
    const cls = attemptClass(a);
    const dur = (ended(a.end) ? Date.parse(a.end) : Date.now()) - Date.parse(a.start);
    return h("tr", { class: cls === "failed" ? "bad" : (cls === "lost" ? "warn" : ""), "data-attempt-row": `${a.task}.a${a.attempt}` },
      h("td", {}, a.task), h("td", {}, a.kind), h("td", {}, a.node + (a.local ? "" : a.kind === "map" ? " (remote read)" : "")),
      h("td", { class: "num" }, a.attempt + (a.backup ? " backup" : "")),
      h("td", { class: "wrap" }, a.input), h("td", {}, fmtTime(a.start)), h("td", { class: "num" }, fmtDur(dur)),
      h("td", { class: "num" }, fmtNum(a.records_in)), h("td", { class: "num" }, fmtNum(a.records_out)),
      h("td", { class: "outcome" }, a.outcome));
  });
  return table([["Task"], ["Kind"], ["Node"], ["Attempt", "num"], ["Input"], ["Started"], ["Took", "num"],
    ["Records in", "num"], ["Records out", "num"], ["Outcome"]], rows);
}

function moduleLogs(logs) {
  if (!logs) return h("p", { class: "muted" }, "The module logs are not available.");
  if (logs.logs.length === 0) return h("p", { class: "muted", id: "logs-empty" }, "The module logged nothing.");
  const lines = logs.logs.map((l) => h("div", { class: "lvl-" + l.level },
    `${l.attempt} ${l.node} ${l.level.padEnd(5)} ${l.msg}`));
  if (logs.dropped) lines.push(h("div", { class: "lvl-warn" }, `(${logs.dropped} more lines were not kept)`));
  return h("div", { class: "logs", id: "logs" }, lines);
}

async function viewNodes(view) {
  const nodes = (await api("/v1/nodes")) || [];
  let busy = 0;
  const rows = nodes.map((n) => {
    busy += n.busy || 0;
    const w = n.workers || { ended: {} };
    const endedBad = Object.values(w.ended || {}).reduce((a, b) => a + b, 0);
    const d = n.disk || {};
    return h("tr", { "data-node": n.name, class: n.state !== "alive" ? "bad" : (n.error ? "warn" : "") },
      h("td", {}, n.name), h("td", {}, stateBadge(n.state)), h("td", {}, n.http),
      h("td", { class: "slots" }, n.slots ? [bar(n.busy / n.slots, "slots"), ` ${n.busy}/${n.slots} busy`] : "", n.queued ? `, ${n.queued} queued` : ""),
      h("td", { class: "chips running-tasks" }, (n.running || []).map((t) => h("span", { title: `${t.tenant} since ${fmtTime(t.start)}` }, `${t.job} ${t.task}.a${t.attempt}`)),
        n.running_hidden ? h("span", {}, `+${n.running_hidden} of other tenants`) : null),
      h("td", { class: "num disk-shards" }, d.shards !== undefined ? fmtBytes(d.shards) : ""),
      h("td", { class: "num" }, d.jobs !== undefined ? fmtBytes(d.jobs) : ""),
      h("td", { class: "num" }, d.tmp !== undefined ? fmtBytes((d.tmp || 0) + (d.quarantine || 0)) : ""),
      h("td", { class: "num workers" }, n.state === "alive" && !n.error ? `${w.live} (${w.started} started)` : ""),
      h("td", { class: "num restarts" }, n.state === "alive" && !n.error ? String(endedBad) : ""),
      h("td", { class: "error" }, n.error || ""));
  });
  view.replaceChildren(
    h("h1", {}, "Nodes"),
    h("p", { class: "muted" }, `${nodes.filter((n) => n.state === "alive").length} of ${nodes.length} members alive, ${busy} task slots busy`),
    table([["Node"], ["State"], ["HTTP"], ["Slots"], ["Running"], ["Shards", "num"], ["Intermediate", "num"], ["Tmp", "num"],
      ["Workers", "num"], ["Worker restarts", "num"], [""]], rows),
    h("p", { class: "muted" }, "Worker restarts count worker processes that ended with their attempt: killed at the time limit, cancelled, crashed, out of memory or killed from outside."),
  );
  return true;
}

async function viewDatasets(view, name) {
  const [sets, members] = await Promise.all([api("/v1/datasets"), api("/v1/members")]);
  const alive = new Set((members || []).filter((m) => m.state === "alive").map((m) => m.name));
  const live = (shard) => shard.holders.filter((x) => alive.has(x)).length;
  const list = (sets || []).filter((d) => !d.deleted).sort((a, b) => (a.name < b.name ? -1 : 1));
  const rows = list.map((d) => {
    const size = d.shards.reduce((a, x) => a + x.size, 0);
    const below = d.shards.filter((x) => live(x) < d.replicas).length;
    return h("tr", { "data-dataset": d.name, class: below ? "warn" : "" },
      h("td", {}, h("a", { href: "#/datasets/" + encodeURIComponent(d.name) }, d.name)), h("td", {}, d.tenant),
      h("td", { class: "num shards" }, d.shards.length), h("td", { class: "num" }, fmtBytes(size)),
      h("td", { class: "num" }, d.replicas), h("td", { class: "num below" }, below ? `${below} below target` : "0"));
  });
  const parts = [h("h1", {}, "Datasets"),
    list.length === 0 ? h("p", { id: "no-datasets" }, "No datasets yet. Store one with ", h("code", {}, "wmr put"), ".") :
      table([["Dataset"], ["Tenant"], ["Shards", "num"], ["Size", "num"], ["Replicas", "num"], ["Under-replicated shards", "num"]], rows)];
  const d = list.find((x) => x.name === name);
  if (name && !d) parts.push(h("p", { class: "error" }, `No dataset ${name} is visible to you.`));
  if (d) {
    parts.push(h("h2", {}, `Shards of ${d.name}`), table([["Shard"], ["File"], ["Format"], ["Size", "num"], ["CRC-32C"], ["Holders"]],
      d.shards.map((x) => h("tr", { "data-shard": x.id, class: live(x) < d.replicas ? "warn" : "" },
        h("td", {}, x.id), h("td", {}, x.file), h("td", {}, x.format || "text"), h("td", { class: "num" }, fmtBytes(x.size)),
        h("td", {}, x.crc32c.toString(16).padStart(8, "0")),
        h("td", { class: "chips" }, x.holders.map((n) => h("span", { class: alive.has(n) ? "" : "error" }, n)),
          live(x) < d.replicas ? ` ${live(x)} of ${d.replicas} live` : "")))));
  }
  view.replaceChildren(...parts);
  return true;
}

// ---- routing, login, polling ----

function problem(msg) { document.getElementById("problem").textContent = msg || ""; }

function showLogin(msg) {
  clearTimeout(timer);
  document.getElementById("view").replaceChildren();
  document.getElementById("login").hidden = false;
  document.getElementById("login-error").textContent = msg || "";
  document.getElementById("logout").hidden = true;
  document.getElementById("who").textContent = "";
}

async function whoami() {
  identity = await api("/v1/whoami");
  document.getElementById("who").textContent = `tenant ${identity.tenant}${identity.admin ? " (admin)" : ""} · node ${identity.node}`;
  document.getElementById("logout").hidden = !identity.secure;
}

async function route() {
  clearTimeout(timer);
  const hash = location.hash.replace(/^#\/?/, "") || "jobs";
  const [page, ...rest] = hash.split("/");
  const arg = rest.length ? decodeURIComponent(rest.join("/")) : "";
  for (const a of document.querySelectorAll("[data-nav]")) a.classList.toggle("active", a.dataset.nav === page);
  const view = document.getElementById("view");
  let live = false;
  try {
    if (!identity) await whoami();
    document.getElementById("login").hidden = true;
    if (page === "jobs" && arg) live = await viewJob(view, arg);
    else if (page === "nodes") live = await viewNodes(view);
    else if (page === "datasets") live = await viewDatasets(view, arg);
    else live = await viewJobs(view);
    problem("");
    document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString("en-GB", { hour12: false });
    view.dataset.loaded = hash;
  } catch (e) {
    if (e instanceof AuthError) {
      identity = null;
      showLogin(sessionStorage.getItem("wmr-token") ? "That token was refused: " + e.message : "");
      return;
    }
    if (view.dataset.loaded !== hash) view.replaceChildren(h("p", { class: "error", id: "view-error" }, e.message));
    problem(e.message);
    view.dataset.loaded = "";
    live = true;
  }
  timer = setTimeout(route, live ? POLL_MS : POLL_IDLE_MS);
}

document.getElementById("login-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  sessionStorage.setItem("wmr-token", document.getElementById("token").value.trim());
  document.getElementById("token").value = "";
  identity = null;
  route();
});
document.getElementById("logout").addEventListener("click", () => {
  sessionStorage.removeItem("wmr-token");
  identity = null;
  showLogin("");
});
document.addEventListener("visibilitychange", () => { if (!document.hidden) route(); });
window.addEventListener("hashchange", route);
route();
