// Drawing: uPlot lines for range answers and investigations, sorted bars for instant
// vectors, and the states that are never a blank frame (error, empty, notice).

import uPlot from "uplot";
import { formatValue } from "./units.js";

const HEIGHT = 320;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function css(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

/** Smallest and largest of the finite numbers in `columns` (arrays of number|null). */
export function extent(columns) {
  let min = Infinity;
  let max = -Infinity;
  for (const column of columns) {
    for (const value of column) {
      if (value === null || value === undefined) continue;
      if (value < min) min = value;
      if (value > max) max = value;
    }
  }
  return min === Infinity ? [null, null] : [min, max];
}

/** The title, the subtitle and, once the metric's metadata came, its type and help text
 * (backend text: always text nodes and attributes, never HTML). */
export function header(model, subtitle) {
  const title = model.kind === "investigation" ? model.alert : model.query;
  const meta = model.meta;
  const described = meta ? [meta.metric, meta.type, meta.help].filter(Boolean).join(" · ") : "";
  return el(
    "header",
    {},
    el("div", { class: "title", title }, title),
    el("div", { class: "subtitle" }, subtitle),
    described ? el("div", { class: "metadata", title: described }, described) : null,
  );
}

export function errorView(error) {
  return el(
    "div",
    { class: "state error", role: "alert" },
    el("span", { class: "code" }, error.code),
    el("p", { class: "message" }, error.message),
    error.hint ? el("p", { class: "hint" }, error.hint) : null,
  );
}

export function emptyView(hint, query) {
  return el(
    "div",
    { class: "state empty" },
    el("p", { class: "message" }, "Nothing to draw"),
    el("p", { class: "hint" }, hint),
    query ? el("code", {}, query) : null,
  );
}

/** The budget notice: what the model's answer left out, and the button that loads it. */
export function noticeView(text, onLoad, loading) {
  const button = onLoad
    ? el("button", { type: "button", onclick: onLoad }, loading ? "Loading…" : "Load full series")
    : null;
  if (button && loading) button.disabled = true;
  return el("div", { class: "notice", role: "status" }, el("span", {}, text), button);
}

function bands(u, runs) {
  const { ctx, bbox } = u;
  ctx.save();
  ctx.fillStyle = css("--firing");
  for (const run of runs) {
    const x0 = u.valToPos(Math.max(run.start, u.scales.x.min), "x", true);
    const x1 = u.valToPos(Math.min(run.end ?? u.scales.x.max, u.scales.x.max), "x", true);
    if (x1 > x0) ctx.fillRect(x0, bbox.top, x1 - x0, bbox.height);
  }
  ctx.restore();
}

function thresholdLine(u, threshold) {
  const { ctx, bbox } = u;
  const y = u.valToPos(threshold, "y", true);
  ctx.save();
  ctx.strokeStyle = css("--threshold");
  ctx.lineWidth = 2 * devicePixelRatio;
  ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
  ctx.beginPath();
  ctx.moveTo(bbox.left, y);
  ctx.lineTo(bbox.left + bbox.width, y);
  ctx.stroke();
  ctx.restore();
}

/** The y axis' width: its longest tick label's (a unit from metadata can be long). */
function labelWidth(u, values, index, cycle) {
  const axis = u.axes[index];
  if (cycle > 1) return axis._size;
  const longest = (values ?? []).reduce((a, b) => (b.length > a.length ? b : a), "");
  u.ctx.font = axis.font[0];
  const text = longest ? u.ctx.measureText(longest).width / devicePixelRatio : 0;
  return Math.max(50, Math.ceil(axis.ticks.size + axis.gap + text + 4));
}

/** A uPlot chart of `xs` and `lines` ({name, color, values}); `marks` adds an investigation's
 * threshold and firing runs; `onZoom(min, max)` is called when the person drags a window,
 * `onDraw()` after each drawing. */
export function lineChart(root, xs, lines, { unit, width, marks, onZoom, onDraw }) {
  const axis = { stroke: css("--fg"), grid: { stroke: css("--grid") }, ticks: { stroke: css("--grid") } };
  const threshold = marks?.threshold ?? null;
  const options = {
    width,
    height: HEIGHT,
    series: [
      { value: (u, v) => (v === null ? "–" : new Date(v * 1000).toISOString().slice(0, 19) + "Z") },
      ...lines.map((line) => ({
        label: line.name,
        stroke: line.color,
        width: lines.length > 20 ? 1 : 1.5,
        points: { show: line.points ?? false, size: 7, fill: line.color },
        value: (u, v) => formatValue(v, unit),
      })),
    ],
    scales: {
      x: { time: true },
      y: {
        range: (u, min, max) => {
          const lo = threshold === null ? min : Math.min(min ?? threshold, threshold);
          const hi = threshold === null ? max : Math.max(max ?? threshold, threshold);
          return uPlot.rangeNum(lo ?? 0, hi ?? 1, 0.1, true);
        },
      },
    },
    axes: [axis, { ...axis, size: labelWidth, values: (u, ticks) => ticks.map((t) => formatValue(t, unit)) }],
    legend: { live: true },
    cursor: { drag: { x: true, y: false } },
    hooks: {
      drawClear: [(u) => marks?.firing && bands(u, marks.firing)],
      draw: [
        (u) => {
          if (threshold !== null) thresholdLine(u, threshold);
          onDraw?.();
        },
      ],
      setSelect: [
        (u) => {
          if (u.select.width < 2 || !onZoom) return;
          const min = u.posToVal(u.select.left, "x");
          const max = u.posToVal(u.select.left + u.select.width, "x");
          onZoom(min, max);
        },
      ],
    },
  };
  return new uPlot(options, [xs, ...lines.map((line) => line.values)], root);
}

/** Sorted bars with their values: an instant vector, largest first. */
export function barTable(bars, unit) {
  const numbers = bars.map((bar) => bar.number).filter((n) => n !== null);
  const top = Math.max(...numbers.map(Math.abs), 0) || 1;
  const rows = bars.map((bar) =>
    el(
      "tr",
      { class: "bar-row", "data-datasource": bar.datasource ?? "" },
      el("td", { class: "bar-name", title: bar.name }, bar.name),
      el(
        "td",
        { class: "bar-cell" },
        el("div", {
          class: "bar",
          style: `width:${(100 * Math.abs(bar.number ?? 0)) / top}%;background:${bar.color}`,
        }),
      ),
      el("td", { class: "bar-value" }, formatValue(bar.number ?? bar.value, unit)),
    ),
  );
  return el("table", { class: "bars" }, el("tbody", {}, ...rows));
}

/** Per-series statistics, when the model's answer held summaries instead of points. */
export function summaryTable(lines, unit) {
  const cell = (value) => el("td", { class: "bar-value" }, formatValue(value ?? null, unit));
  const head = el(
    "tr",
    {},
    ...["series", "min", "max", "mean", "last"].map((name) => el("th", {}, name)),
  );
  const rows = lines.map((line) => {
    const summary = line.summary || {};
    return el(
      "tr",
      {},
      el("td", { class: "bar-name", title: line.name, style: `color:${line.color}` }, line.name),
      cell(summary.min),
      cell(summary.max),
      cell(summary.mean),
      cell(summary.last),
    );
  });
  return el("table", { class: "bars summaries" }, el("thead", {}, head), el("tbody", {}, ...rows));
}

export function scalarView(value, unit) {
  const number = typeof value === "number" ? value : Number(value);
  return el("div", { class: "scalar" }, Number.isFinite(number) ? formatValue(number, unit) : String(value));
}

export { el };
