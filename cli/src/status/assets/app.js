// The status page: polls /api/status (what `crr status --json` prints) and draws
// one card per rule. Text goes in with textContent only: keys and messages are data.
"use strict";

const POLL_MS = 5000;
const SVG = "http://www.w3.org/2000/svg";

function el(tag, attrs, ...children) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.setAttribute("class", v);
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

// The same forms as the command line's text.
function fmtCount(n) { return Number(n).toLocaleString("en-US"); }
function fmtMs(ms) {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60000) {
    const tenths = Math.floor((ms + 50) / 100);
    return tenths % 10 === 0 ? `${tenths / 10} s` : `${Math.floor(tenths / 10)}.${tenths % 10} s`;
  }
  const s = Math.floor((ms + 500) / 1000);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  if (h > 0) return `${h} h ${m} min`;
  return r === 0 ? `${m} min` : `${m} min ${r} s`;
}
function fmtBytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n, u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}
function fmtSecs(s) {
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}
function fmtTime(iso) {
  const d = new Date(iso);
  // "2026-11-01 10:32:05", in the browser's time zone.
  return isNaN(d) ? iso : d.toLocaleString("sv-SE");
}

function objectiveBadge(r) {
  const o = r.objective;
  if (r.problems.some((x) => x.part === "activity" || x.part === "role")) {
    return el("span", { class: "badge no-data", "data-field": "objective-state", text: "lag unknown" });
  }
  const text = { met: "objective met", missed: `objective missed by ${fmtMs(o.overByMs)}`, "no-data": "no recent copies" }[o.state] || o.state;
  return el("span", { class: `badge ${o.state}`, "data-field": "objective-state", title: `p99 over the last ${o.windowMinutes} minutes: ${fmtMs(o.p99Ms)}`, text });
}

function card(r) {
  const prefixes = r.prefixes.length ? r.prefixes.map((p) => el("span", { class: "chip", text: p })) : [el("span", { text: "every object" })];
  const node = el("article", { class: "card", "data-rule": r.rule },
    el("div", { class: "card-head" },
      el("h2", { text: r.rule }),
      el("span", { class: "badge", "data-field": "action", text: r.action === "ALL" ? "ALL · creates and deletes" : "PUT · creates only" }),
      objectiveBadge(r)),
    el("div", { class: "route" },
      el("span", { "data-field": "route" }, el("b", { "data-field": "source", text: r.source }), el("span", { class: "arrow", text: "→" }), el("b", { "data-field": "destination", text: r.destination }),
        el("span", { text: ` (${r.destinationRegion})` })),
      el("span", { "data-field": "prefixes" }, "prefixes ", ...prefixes),
      el("span", {}, "historical ", el("b", { text: r.historical ? "on" : "off" })),
      el("span", { "data-field": "objective" }, "lag objective ", el("b", { text: fmtMs(r.lagObjectiveSeconds * 1000) }))),
    ...r.problems.map(problem),
    el("div", { class: "cols" }, backfill(r), incremental(r)),
    failures(r));
  return node;
}

function problem(p) {
  return el("div", { class: "problem", "data-field": "problem" },
    el("strong", { text: p.permission ? "Permission missing: " : "Cannot read: " }),
    `crr cannot show ${p.what}. ${p.reason}`,
    p.fix ? el("div", { class: "fix", text: `Fix: ${p.fix}` }) : null);
}

function backfill(r) {
  const p = r.backfillProgress;
  const box = el("section", { class: "backfill", "data-field": "backfill" }, el("h3", { text: "Historical data (backfill)" }));
  if (!p && r.problems.some((x) => x.part === "backfill" || x.part === "role")) {
    box.append(el("p", { class: "empty", text: "Cannot be read with these credentials (see above)." }));
    return box;
  }
  if (!p) {
    box.append(el("p", { class: "empty", text: r.historical ? "Never run. The backfill function's timer (or crr backfill) copies the objects that existed before the rule." : "Historical replication is off for this rule." }));
    return box;
  }
  const known = p.percent !== undefined && p.percent !== null;
  const bar = el("div", { class: `bar${known ? "" : " indeterminate"}${p.phase === "done" ? " done" : ""}`, role: "progressbar",
    "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": known ? p.percent : undefined,
    "data-percent": known ? p.percent : "", "data-phase": p.phase, "data-scanned": p.scanned, "data-copied": p.copied,
    "data-bytes": p.bytes, "data-total": p.total ?? "" }, el("div", { class: "fill" }));
  if (known) bar.firstChild.style.width = `${Math.min(100, p.percent)}%`;
  const of = known ? `${fmtCount(p.scanned)} of ${fmtCount(p.total)} keys` : `${fmtCount(p.scanned)} keys scanned · total known after the first complete pass`;
  box.append(bar, el("div", { class: "bar-label" },
    el("span", { class: "pct", "data-field": "percent", text: known ? `${Math.round(p.percent)}% · ${p.phase}` : p.phase }),
    el("span", { text: of })));
  const eta = p.phase === "done" ? "done" : p.etaSeconds !== undefined && p.etaSeconds !== null ? fmtSecs(p.etaSeconds) : "—";
  box.append(el("dl", { class: "figures" },
    figure("scanned", fmtCount(p.scanned), "scanned"), figure("copied", fmtCount(p.copied), "copied"), figure("bytes", fmtBytes(p.bytes), "bytes"),
    figure("rate", `${fmtCount(Math.round(p.rate))} keys/s`, "rate"), figure("time left", eta, "eta"),
    figure("ranges", `${p.rangesDone} of ${p.ranges} done`, "ranges")));
  if (p.failed > 0) box.append(el("p", { class: "empty", text: `${fmtCount(p.failed)} ${p.failed === 1 ? "key" : "keys"} failed in this pass; the next pass retries them.` }));
  const rows = r.backfill.map((s) => {
    const pr = s.progress;
    const pct = pr.percent ?? null;
    const mini = el("div", { class: `mini${pr.phase === "done" ? " done" : ""}` }, el("span"));
    mini.firstChild.style.width = `${pct === null ? 0 : Math.min(100, pct)}%`;
    return el("tr", { "data-scope": s.scope },
      el("td", {}, el("code", { text: s.scope })), el("td", { text: s.checkpoint ? s.checkpoint.mode : "" }),
      el("td", { text: pr.phase }), el("td", {}, mini),
      el("td", { text: `${fmtCount(pr.scanned)} scanned, ${fmtCount(pr.copied)} copied` }));
  });
  box.append(el("div", { class: "ranges" }, el("table", {}, el("tbody", {}, rows))));
  return box;
}

function figure(label, value, field) {
  return el("div", {}, el("dt", { text: label }), el("dd", { "data-field": field, text: value }));
}

function incremental(r) {
  const a = r.activity;
  const box = el("section", { class: "incremental", "data-field": "incremental" }, el("h3", { text: "Incremental data (event path)" }));
  if (r.problems.some((x) => x.part === "activity" || x.part === "role")) {
    box.append(el("p", { class: "empty", text: "Cannot be read with these credentials (see above)." }));
    return box;
  }
  const last = r.lag ? `${r.lag.lastKey}${r.lag.lastLagMs !== null && r.lag.lastLagMs !== undefined ? ` · ${fmtMs(r.lag.lastLagMs)}` : ""}` : "none yet";
  box.append(el("dl", { class: "figures lag-figures" },
    figure("p50 · 10 min", a.recent.count ? fmtMs(a.recent.p50Ms) : "—", "p50"),
    figure("p99 · 10 min", a.recent.count ? fmtMs(a.recent.p99Ms) : "—", "p99"),
    figure("copies · 1 h", fmtCount(a.copiesLastHour), "copies-hour"),
    figure("failures · 1 h", fmtCount(a.failuresLastHour), "failures-hour")));
  box.append(el("p", { class: "empty" }, "last replica: ", el("span", { class: "key", "data-field": "last", text: last })));
  box.append(chart(a.minutes, r.lagObjectiveSeconds * 1000));
  box.append(el("div", { class: "legend" },
    el("span", {}, el("i", { class: "l50" }), "p50"), el("span", {}, el("i", { class: "l99" }), "p99"),
    el("span", {}, el("i", { class: "lobj" }), `objective ${fmtMs(r.lagObjectiveSeconds * 1000)}`),
    el("span", { text: "per minute, last 60 minutes, log scale" })));
  return box;
}

// Lag per minute over the last hour, p50 and p99, on a log scale that always
// shows the objective; minutes without copies leave a gap.
function chart(minutes, objectiveMs) {
  const W = 640, H = 200, L = 52, R = 10, T = 10, B = 24;
  const now = Math.floor(Date.now() / 60000) * 60;
  const start = now - 59 * 60;
  const measured = minutes.filter((m) => m.count > 0);
  const top = Math.max(objectiveMs, ...measured.map((m) => m.p99Ms), 1000) * 1.6;
  const bottom = Math.max(1, Math.min(10, ...measured.map((m) => Math.max(1, m.p50Ms))));
  const ly = (ms) => Math.log10(Math.max(ms, bottom));
  const y = (ms) => T + (H - T - B) * (1 - (ly(ms) - Math.log10(bottom)) / (Math.log10(top) - Math.log10(bottom)));
  const x = (startSecs) => L + (W - L - R) * ((startSecs - start) / (59 * 60));
  const svg = el("svg:svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "lag per minute, last hour", "data-field": "chart", "data-points": measured.length });
  const ticks = [1, 10, 100, 1000, 10000, 60000, 600000, 3600000, 86400000].filter((t) => t >= bottom && t <= top);
  for (const t of ticks) {
    svg.append(el("svg:line", { class: "grid", x1: L, x2: W - R, y1: y(t), y2: y(t) }));
    svg.append(el("svg:text", { class: "axis", x: L - 6, y: y(t) + 3, "text-anchor": "end", text: fmtMs(t) }));
  }
  for (const ago of [60, 45, 30, 15, 0]) {
    const xs = x(now - Math.min(ago, 59) * 60);
    svg.append(el("svg:text", { class: "axis", x: xs, y: H - 6, "text-anchor": ago === 60 ? "start" : ago === 0 ? "end" : "middle", text: ago === 0 ? "now" : `−${ago} min` }));
  }
  svg.append(el("svg:line", { class: "objective", x1: L, x2: W - R, y1: y(objectiveMs), y2: y(objectiveMs) }));
  svg.append(el("svg:text", { class: "objective-label", x: W - R - 2, y: y(objectiveMs) - 4, "text-anchor": "end", text: `objective ${fmtMs(objectiveMs)}` }));
  for (const [key, cls] of [["p50Ms", "p50"], ["p99Ms", "p99"]]) {
    let d = "", previous = null;
    for (const m of measured.filter((m) => m.start >= start)) {
      const joined = previous !== null && m.start - previous === 60;
      d += `${joined ? "L" : "M"}${x(m.start).toFixed(1)},${y(m[key]).toFixed(1)}`;
      previous = m.start;
    }
    if (d) svg.append(el("svg:path", { class: cls, d }));
  }
  for (const m of measured.filter((m) => m.start >= start)) {
    const label = `${fmtTime(m.time)} · ${m.copies} copies · p50 ${fmtMs(m.p50Ms)} · p99 ${fmtMs(m.p99Ms)} · max ${fmtMs(m.maxMs)}`;
    const g = el("svg:g", { class: "minute", "data-minute": m.start, "data-p50": m.p50Ms, "data-p99": m.p99Ms, "data-count": m.count },
      el("svg:title", { text: label }),
      el("svg:circle", { class: "dot50", cx: x(m.start), cy: y(m.p50Ms), r: 2.5 }),
      el("svg:circle", { class: "dot99", cx: x(m.start), cy: y(m.p99Ms), r: 3.5 }));
    // p50 on top: the smaller dot stays visible where both lags are the same.
    g.append(g.firstElementChild.nextElementSibling);
    svg.append(g);
  }
  if (!measured.length) {
    svg.append(el("svg:text", { class: "axis", x: (L + W - R) / 2, y: H / 2, "text-anchor": "middle", text: "no copies with a measured lag in the last hour" }));
  }
  return svg;
}

function failures(r) {
  const box = el("section", { class: "failures", "data-field": "failures" }, el("h3", { text: `Recent failures (${fmtCount(r.activity.failuresLastHour)} in the last hour)` }));
  const list = r.activity.failures;
  if (r.problems.some((x) => x.part === "activity" || x.part === "role")) {
    box.append(el("p", { class: "empty", text: "Cannot be read with these credentials (see above)." }));
    return box;
  }
  if (!list.length) {
    box.append(el("p", { class: "empty", text: "No failures recorded." }));
    return box;
  }
  const rows = list.map((f) => el("tr", { "data-key": f.key },
    el("td", { text: fmtTime(f.time) }), el("td", { class: "key", text: f.key }), el("td", { text: f.function }),
    el("td", { class: "type", text: f.errorType }),
    el("td", {}, el("div", { text: f.reason }), f.fix ? el("div", { class: "fix", text: f.fix }) : null)));
  box.append(el("table", {}, el("thead", {}, el("tr", {}, ["time", "key", "function", "error", "reason and fix"].map((h) => el("th", { text: h })))), el("tbody", {}, rows)));
  return box;
}

let failuresInARow = 0;

async function refresh() {
  const state = document.getElementById("state");
  const banner = document.getElementById("banner");
  try {
    const response = await fetch("/api/status", { cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}: ${(await response.text()).trim()}`);
    const rules = await response.json();
    document.getElementById("rules").replaceChildren(...rules.map(card));
    failuresInARow = 0;
    banner.hidden = true;
    state.className = "state";
    state.textContent = `${rules.length} rule${rules.length === 1 ? "" : "s"} · updated ${new Date().toLocaleTimeString("en-GB", { hour12: false })} · refreshes every ${POLL_MS / 1000} s`;
    document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
  } catch (e) {
    failuresInARow++;
    state.className = "state stale";
    state.textContent = "not updating";
    banner.hidden = false;
    banner.textContent = `Cannot read the status from crr status --serve (${e.message}); the figures below may be stale. Retrying every ${POLL_MS / 1000} s.`;
  } finally {
    setTimeout(refresh, POLL_MS);
  }
}

document.addEventListener("DOMContentLoaded", refresh);
