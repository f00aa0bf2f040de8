// app.js — the web view of engram serve (docs/SERVER.md, "Web view"): the
// store's streams and types, an event browser with the read filters, a live
// tail over Server-Sent Events, and a windows spec's figures as a chart with
// every revision visible.  Plain DOM, no framework; uPlot draws the chart.
"use strict";

const $ = (sel) => document.querySelector(sel);

function status(msg) {
  $("#status").textContent = msg || "";
}

// NDJSON from a GET or a JSON POST: the rows as objects.
async function ndjson(path, body) {
  const opts = body === undefined ? {} : {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  };
  const r = await fetch(path, opts);
  const text = await r.text();
  if (!r.ok) {
    let msg = text;
    try { msg = JSON.parse(text).error; } catch (e) { /* not JSON */ }
    throw new Error(path + ": " + r.status + " " + msg);
  }
  return text.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
}

function cell(tr, value, cls) {
  const td = document.createElement("td");
  td.textContent = typeof value === "object" && value !== null ? JSON.stringify(value) : String(value ?? "");
  if (cls) td.className = cls;
  tr.appendChild(td);
}

function fill(table, rows, columns) {
  const body = table.querySelector("tbody");
  body.replaceChildren();
  for (const row of rows) {
    const tr = document.createElement("tr");
    for (const [key, cls] of columns) cell(tr, row[key], cls);
    body.appendChild(tr);
  }
}

async function loadHead() {
  const [h] = await ndjson("/head");
  $("#head-pos").textContent = h.pos;
  $("#head-hash").textContent = h.hash.slice(0, 16);
  return h.pos;
}

async function loadOverview() {
  try {
    const streams = await ndjson("/streams");
    fill($("#streams"), streams, [["stream"], ["events", "num"], ["version", "num"]]);
    $("#streams-count").textContent = streams.length + " streams";
    const types = await ndjson("/types");
    fill($("#types"), types, [["type"], ["events", "num"]]);
    $("#types-count").textContent = types.length + " types";
  } catch (e) {
    status(e.message);
  }
}

async function readEvents(ev) {
  if (ev) ev.preventDefault();
  const form = new FormData($("#filters"));
  const q = new URLSearchParams();
  for (const name of ["stream", "type", "since", "until", "limit"]) {
    const v = (form.get(name) || "").trim();
    if (v) q.set(name, v);
  }
  if (form.get("reverse")) q.set("reverse", "true");
  try {
    const rows = await ndjson("/events?" + q);
    fill($("#events"), rows, [["pos", "num"], ["time"], ["stream"], ["type"], ["data", "data"]]);
    status("");
  } catch (e) {
    status(e.message);
  }
}

// The live tail: every event appended from now on, as the server sends it.
function tail(from) {
  const es = new EventSource("/subscribe?from=" + from);   // from: the first position to send
  es.onopen = () => { $("#tail-state").textContent = "live: the events from position " + from; };
  es.onerror = () => { $("#tail-state").textContent = "reconnecting…"; };
  es.onmessage = (m) => {
    let e;
    try { e = JSON.parse(m.data); } catch (err) { return; }
    const li = document.createElement("li");
    li.className = "new";
    li.dataset.pos = e.pos;
    li.textContent = e.pos + "  " + e.time + "  " + (e.stream || "") + "  " + e.type + "  " +
      JSON.stringify(e.data);
    $("#live").prepend(li);
    $("#head-pos").textContent = e.pos;
  };
}

// A windows spec's figures: the current value of each window as a line,
// and every earlier revision as a point, so that late data's corrections
// show.  The first aggregate of the spec is drawn.
let plot = null;

async function drawWindows(ev) {
  if (ev) ev.preventDefault();
  let spec;
  try {
    spec = JSON.parse($("#window-form textarea").value);
  } catch (e) {
    status("the spec is not JSON: " + e.message);
    return;
  }
  try {
    const rows = await ndjson("/windows", { spec: spec, changelog: true });
    const agg = Object.keys(spec.aggs || {})[0];
    const byStart = new Map();
    for (const r of rows) {
      const t = Date.parse(r.window_start) / 1000;
      if (!byStart.has(t)) byStart.set(t, []);
      byStart.get(t).push(r);
    }
    const xs = [...byStart.keys()].sort((a, b) => a - b);
    const current = [], earlier = [];
    let revisions = 0;
    for (const t of xs) {
      const revs = byStart.get(t).filter((r) => !r.retracted);
      const sum = (rs) => rs.reduce((a, r) => a + Number(r[agg] || 0), 0);
      // the latest revision of each group, summed over groups
      const latest = new Map();
      for (const r of revs) latest.set(JSON.stringify(groupOf(r, spec)), r);
      current.push(sum([...latest.values()]));
      const first = revs.filter((r) => r.revision === 1);
      earlier.push(revs.some((r) => r.revision > 1) ? sum(first) : null);
      revisions += revs.length;
    }
    $("#chart-note").textContent = xs.length + " windows, " + revisions + " revisions of " + agg +
      " (line: now; points: as first reported, where late events changed it)";
    $("#chart").dataset.points = String(xs.length);
    $("#chart").dataset.revisions = String(revisions);
    const opts = {
      width: Math.min(900, window.innerWidth - 40), height: 280,
      series: [
        {},
        { label: agg + " now", stroke: "#2a6fdb", width: 2 },
        { label: "first reported", stroke: "#e0712c", width: 0, points: { show: true, size: 7 } },
      ],
    };
    if (plot) plot.destroy();
    plot = new uPlot(opts, [xs, current, earlier], $("#chart"));
    status("");
  } catch (e) {
    status(e.message);
  }
}

function groupOf(r, spec) {
  return (spec.group_by || []).map((g) => r[g.replace(/^data\./, "")] ?? r[g]);
}

async function main() {
  $("#filters").addEventListener("submit", readEvents);
  $("#window-form").addEventListener("submit", drawWindows);
  let head = 0;
  try {
    head = await loadHead();
  } catch (e) {
    status(e.message);
  }
  await loadOverview();
  await readEvents();
  tail(head + 1);
  await drawWindows();
  document.body.dataset.ready = "1";
}

main();
