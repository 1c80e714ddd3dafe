"""The explain page's style sheet and script, inlined into every page (explain_page.py).

Plain script, no library: the page's data is a list of frames, one per beat; showing frame i
resets the diagram's labels to what the page was written with, applies the label texts of
frames 0..i in order, lights the beat's neurons and edges, and draws the loss curve up to the
losses known by then. Text goes in through textContent only, never as markup.
"""

STYLE = """
:root { --ink: #1b1f24; --muted: #5b6470; --lit: #d9770b; --path: #f0b35a; --off: #c62828;
  --ok: #2e7d32; --node: #e8f0fe; --line: #3366aa; }
* { box-sizing: border-box; }
body { font: 16px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink);
  margin: 0 auto; padding: 0.75rem; max-width: 78rem; }
h1 { font-size: 1.3rem; margin: 0.2rem 0; }
h2 { font-size: 1.05rem; margin: 0.6rem 0 0.3rem; }
.about, .keys { color: var(--muted); font-size: 0.9rem; overflow-wrap: anywhere; }
.stage { display: grid; grid-template-columns: minmax(0, 1.4fr) minmax(0, 1fr); gap: 1rem; }
.pictures { overflow-x: auto; }
.pictures svg { width: 100%; height: auto; display: block; }
#curve { max-width: 26rem; margin-top: 0.5rem; }
nav { display: flex; align-items: center; gap: 0.4rem; flex-wrap: wrap; }
nav button { font-size: 1.3rem; min-width: 2.75rem; min-height: 2.75rem; border-radius: 6px;
  border: 1px solid #98a2b3; background: #f6f8fa; cursor: pointer; }
nav button:disabled { opacity: 0.4; cursor: default; }
#counter { font-variant-numeric: tabular-nums; color: var(--muted); padding: 0 0.3rem; }
#lines div { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; font-size: 0.95rem;
  white-space: pre-wrap; overflow-wrap: anywhere; background: #f6f8fa; border-radius: 4px;
  padding: 0.3rem 0.5rem; margin: 0.25rem 0; }
#checks table { border-collapse: collapse; width: 100%; font-size: 0.85rem; margin-top: 0.5rem;
  table-layout: auto; }
#checks th { white-space: nowrap; }
#checks th, #checks td { text-align: left; padding: 0.2rem 0.3rem; border-bottom: 1px solid #e3e6ea;
  overflow-wrap: break-word; vertical-align: top; }
#checks { overflow-x: auto; }
#checks td.n { white-space: nowrap; font-variant-numeric: tabular-nums; }
#checks tr.off td { color: var(--off); font-weight: 600; }
#checks .why, #checks .note { font-size: 0.85rem; overflow-wrap: anywhere; }
#checks .why { color: var(--off); }
#checks .note { color: var(--muted); }
.backends ul { padding-left: 1.2rem; margin: 0.2rem 0; font-size: 0.9rem; }
.backends li { overflow-wrap: anywhere; }
.backends li.fail, .backends li.error { color: var(--off); }
.backends li.pass { color: var(--ok); }
svg text { font-family: system-ui, "DejaVu Sans", sans-serif; }
.edge { stroke: #9aa3ad; stroke-width: 2; }
.edge.path { stroke: var(--path); stroke-width: 4; }
.edge.lit { stroke: var(--lit); stroke-width: 5; }
.edge.off { stroke: var(--off); }
.neuron circle, .neuron rect { fill: var(--node); stroke: var(--line); stroke-width: 2; }
.neuron.lit circle, .neuron.lit rect { fill: #fff1dc; stroke: var(--lit); stroke-width: 4; }
.neuron.off circle, .neuron.off rect { stroke: var(--off); fill: #fde8e8; }
.name { font-size: 17px; font-weight: 600; text-anchor: middle; }
.name.long { font-size: 11px; }
.label { font-size: 15px; paint-order: stroke; stroke: #fff; stroke-width: 4px; }
.label.value { font-size: 16px; }
.label.grad { fill: #8a4b08; }
.label.error { font-size: 16px; font-weight: 600; }
.tick { font-size: 11px; fill: var(--muted); }
.axis { stroke: #98a2b3; stroke-width: 1; }
#loss-line { fill: none; stroke: var(--line); stroke-width: 2; }
#loss-dot { fill: var(--lit); }
@media (max-width: 760px) {
  .stage { grid-template-columns: minmax(0, 1fr); }
  #network { min-width: 34rem; }  /* legible labels; the diagram scrolls sideways instead */
  #curve { max-width: 20rem; }
  #checks table, #checks tbody { display: block; width: auto; }
  #checks tr:first-child { display: none; }
  #checks tr { display: block; padding: 0.3rem 0; border-bottom: 1px solid #e3e6ea; }
  #checks td { display: inline; border: 0; padding: 0 0.4rem 0 0; }
  #checks td.verdict { display: block; }
  #checks td.n::before { content: attr(data-h) " "; font-weight: 400; color: var(--muted); }
}
"""

SCRIPT = """
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("walk-data").textContent);
  const frames = data.frames;
  const written = new Map();
  document.querySelectorAll("[data-label]").forEach((el) => written.set(el, el.textContent));
  const byId = (id) => document.getElementById(id);
  const make = (tag, text, cls) => {
    const el = document.createElement(tag);
    if (text !== undefined) el.textContent = text;
    if (cls) el.className = cls;
    return el;
  };
  let at = 0;

  function mark(ids, cls) {
    for (const id of ids) {
      const el = byId(id);
      if (el) el.classList.add(cls);
    }
  }

  function checksTable(frame) {
    const box = byId("checks");
    box.replaceChildren();
    if (!("checks" in frame)) return false;
    if (frame.checks.length === 0) {
      if (frame.note) box.append(make("p", frame.note, "note"));
      return false;
    }
    const table = make("table");
    const head = make("tr");
    for (const h of ["backend", "number", "its value", "reference", "off by", "verdict"]) {
      head.append(make("th", h));
    }
    table.append(head);
    let bad = false;
    for (const row of frame.checks) {
      const tr = make("tr", undefined, row.bad ? "off" : "ok");
      const verdict = (row.bad ? "OFF: " : "ok: ") + row.ratio + "× the allowed " + row.allowed;
      for (const cell of [row.who, row.what]) tr.append(make("td", cell));
      const heads = ["its value", "reference", "off by"];
      [row.got, row.want, row.off].forEach((cell, k) => {
        const td = make("td", cell, "n");
        td.dataset.h = heads[k];
        tr.append(td);
      });
      tr.append(make("td", verdict, "verdict"));
      table.append(tr);
      bad = bad || row.bad;
    }
    box.append(table);
    const seen = new Set();
    for (const row of frame.checks) {
      if (row.why && !seen.has(row.who)) {
        seen.add(row.who);
        box.append(make("p", row.who + ": " + row.why, "why"));
      }
    }
    return bad;
  }

  function show(i) {
    at = Math.max(0, Math.min(frames.length - 1, i));
    const frame = frames[at];
    written.forEach((text, el) => { el.textContent = text; });
    for (let k = 0; k <= at; k++) {
      for (const [id, text] of frames[k].shows) {
        const el = byId(id);
        if (el) el.textContent = text;
      }
    }
    document.querySelectorAll(".lit, .path, .off").forEach((el) => {
      el.classList.remove("lit", "path", "off");
    });
    mark(frame.path, "path");
    mark(frame.focus, "lit");
    if (checksTable(frame)) mark(frame.focus, "off");
    byId("title").textContent = frame.title;
    const lines = byId("lines");
    lines.replaceChildren(...frame.lines.map((line) => make("div", line)));
    byId("counter").textContent = (at + 1) + " / " + frames.length;
    const known = data.curve.slice(0, frame.known);
    byId("loss-line").setAttribute("points", known.map((p) => p.join(",")).join(" "));
    const dot = byId("loss-dot");
    const last = known.length ? known[known.length - 1] : [-10, -10];
    dot.setAttribute("cx", last[0]);
    dot.setAttribute("cy", last[1]);
    byId("first").disabled = byId("prev").disabled = at === 0;
    byId("last").disabled = byId("next").disabled = at === frames.length - 1;
    document.body.dataset.frame = String(at);
    document.body.dataset.stage = frame.stage;
  }

  byId("first").addEventListener("click", () => show(0));
  byId("prev").addEventListener("click", () => show(at - 1));
  byId("next").addEventListener("click", () => show(at + 1));
  byId("last").addEventListener("click", () => show(frames.length - 1));
  document.addEventListener("keydown", (e) => {
    const to = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: frames.length - 1 }[e.key];
    if (to === undefined || e.altKey || e.ctrlKey || e.metaKey) return;
    e.preventDefault();
    show(to);
  });
  show(0);
})();
"""
