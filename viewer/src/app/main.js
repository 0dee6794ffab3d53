// The proms-mcp chart: an MCP App (ext-apps) that draws the answer of the tool it is linked
// from. The host sends the tool's arguments and result; the chart draws `structuredContent`,
// and loads points through the host (the app-only tool chart_series) when the model's
// answer was summarised or cut, when the person zooms, and for an investigation's condition.
// Once drawn, it asks the metric's metadata (get_metric_metadata) and relabels the axis.
//
// Tests read `window.__chartState` (and `data-state`/`data-kind` on <body>): what was drawn,
// from the data, not from pixels.

import { App, applyDocumentTheme, applyHostStyleVariables } from "@modelcontextprotocol/ext-apps";
import * as shape from "./shape.js";
import * as render from "./render.js";
import { loadSeries, targetOf } from "./loading.js";
import { metadataOf } from "./metadata.js";
import { unitFromMetadata } from "./units.js";

const root = document.getElementById("root");
const app = new App({ name: "proms-mcp chart", version: "0.1.0" }, {}, { autoResize: true });

let input = {};
let view = null; // {model, plot}
let renders = 0;
let loads = 0;
let resultAt = null; // when the latest tool result arrived: its first drawing is timed
let drawMs = null;

/** uPlot drew: the first drawing after a tool result gives the render time. */
function drawn() {
  if (resultAt === null) return;
  drawMs = performance.now() - resultAt;
  resultAt = null;
  if (window.__chartState) window.__chartState = { ...window.__chartState, drawMs };
}

function publish(state) {
  renders += 1;
  window.__chartState = {
    ...state,
    renders,
    loads,
    drawMs,
    theme: document.documentElement.dataset.theme || "light",
  };
  document.body.dataset.state = state.status;
  document.body.dataset.kind = state.kind || "";
  document.body.dataset.renders = String(renders);
}

function reset(...children) {
  view?.plot?.destroy();
  view = null;
  root.replaceChildren(...children);
}

function width() {
  return Math.max(320, (root.clientWidth || 640) - 24);
}

function showError(error, kind = null) {
  reset(render.errorView(error));
  publish({ status: "error", kind, error, notice: null, seriesCount: 0 });
}

function showEmpty(model) {
  reset(render.header(model, model.datasource || ""), render.emptyView(model.hint, model.query));
  publish({ status: "empty", kind: model.kind, hint: model.hint, notice: null, seriesCount: 0 });
}

function drawnExtents(xs, lines) {
  const xsWithValue = [];
  for (const line of lines) {
    line.values.forEach((value, i) => value !== null && xsWithValue.push(xs[i]));
  }
  const [xMin, xMax] = render.extent([xsWithValue]);
  const [yMin, yMax] = render.extent(lines.map((line) => line.values));
  return { xMin, xMax, yMin, yMax, points: xsWithValue.length };
}

function unitState(model) {
  return { unit: model.unit, unitSource: model.unitSource, metadata: model.meta };
}

function seriesState(lines) {
  return lines.map(({ name, datasource, color, hue, values }) => ({
    name,
    datasource,
    color,
    hue,
    points: values.filter((v) => v !== null).length,
  }));
}

/** Whether the full series can be asked for: the query and a datasource id to ask. */
function canLoad(model) {
  return Boolean(model.query) && targetOf(model, input) !== null;
}

function showRange(model, { loading = false, loadError = null } = {}) {
  if (model.series.length === 0) return showEmpty(model);
  const subtitle = `${model.datasource} · step ${model.step}s · ${model.series.length} series`;
  const parts = [render.header(model, subtitle)];
  const noticeText = loadError ? `${model.notice}; loading failed: ${loadError}` : model.notice;
  if (model.notice && model.loaded) {
    parts.push(render.noticeView(`Capped by the chart's own limit — ${noticeText}`, null, false));
  } else if (model.notice) {
    const load = canLoad(model) ? () => loadFull(model) : null;
    parts.push(render.noticeView(`Summarised — ${noticeText}`, load, loading));
  }
  const chart = render.el("div", { class: "chart" });
  parts.push(chart);
  reset(...parts);
  const plot = model.xs.length
    ? render.lineChart(chart, model.xs, model.series, {
        unit: model.unit,
        width: width(),
        onZoom: canLoad(model) ? (min, max) => zoom(model, min, max) : null,
        onDraw: drawn,
      })
    : null;
  if (!plot) chart.append(render.summaryTable(model.series, model.unit));
  view = { model, plot, again: () => showRange(model, { loading, loadError }) };
  publish({
    status: "ready",
    kind: "range",
    seriesCount: model.series.length,
    ...drawnExtents(model.xs, model.series),
    ...unitState(model),
    notice: model.notice,
    loadError,
    loaded: Boolean(model.loaded),
    window: { start: model.start, end: model.end, step: model.step },
    differing: model.differing,
    series: seriesState(model.series),
  });
}

function showInstant(model) {
  if (model.hint) return showEmpty(model);
  const subtitle = `${model.datasource} · ${new Date(model.time * 1000).toISOString()}`;
  const parts = [render.header(model, subtitle)];
  if (model.notice) parts.push(render.noticeView(`Summarised — ${model.notice}`, null, false));
  parts.push(
    model.resultType === "vector"
      ? render.barTable(model.bars, model.unit)
      : render.scalarView(model.scalar, model.unit),
  );
  reset(...parts);
  view = { model, plot: null, again: () => showInstant(model) };
  const numbers = model.bars.map((bar) => bar.number);
  const [yMin, yMax] = render.extent([numbers]);
  publish({
    status: "ready",
    kind: "instant",
    resultType: model.resultType,
    seriesCount: model.bars.length,
    yMin,
    yMax,
    scalar: model.scalar,
    ...unitState(model),
    notice: model.notice,
    differing: model.differing,
    series: model.bars.map(({ name, datasource, color, hue, value }) => ({
      name,
      datasource,
      color,
      hue,
      value,
    })),
  });
}

function showInvestigation(model, condition = null, loadError = null) {
  const subtitle = `${model.state} · ${model.expression ?? ""} ${model.comparison ?? ""} ${model.threshold ?? ""}`;
  const parts = [render.header(model, subtitle)];
  if (loadError) parts.push(render.noticeView(`The condition's series could not be loaded: ${loadError}`, null, false));
  const chart = render.el("div", { class: "chart" });
  parts.push(chart);
  reset(...parts);
  let xs = model.readings.map((reading) => reading.time);
  let lines = [
    {
      name: "readings",
      color: "hsl(210, 70%, 50%)",
      values: model.readings.map((reading) => reading.value),
      points: true,
    },
  ];
  if (condition && condition.xs.length) {
    xs = condition.xs;
    lines = condition.series;
  }
  const plot = render.lineChart(chart, xs, lines, {
    unit: model.unit,
    width: width(),
    marks: { threshold: model.threshold, firing: model.firing },
    onDraw: drawn,
  });
  view = { model, plot, condition, again: () => showInvestigation(model, condition, loadError) };
  publish({
    status: "ready",
    kind: "investigation",
    seriesCount: lines.length,
    ...drawnExtents(xs, lines),
    threshold: model.threshold,
    comparison: model.comparison,
    firing: model.firing,
    readings: model.readings,
    conditionLoaded: Boolean(condition),
    loadError,
    notice: null,
    ...unitState(model),
    series: seriesState(lines),
  });
}

/** Ask the drawn model's metric metadata; when it comes and the model is still shown, take
 * its unit and help and draw again. Never an error state: no metadata leaves the chart. */
async function describe(model) {
  if (view?.model !== model) return;
  const investigation = model.kind === "investigation";
  const query = investigation ? model.expression : model.query;
  const labelSets = (model.series || model.bars || []).map((row) => row.labels || {});
  const target = investigation ? { datasource_id: model.datasource } : targetOf(model, input);
  const meta = await metadataOf(app, model, query, labelSets, target);
  if (!meta || view?.model !== model) return;
  const { unit, source } = unitFromMetadata(meta, query, model.unit);
  Object.assign(model, { meta, unit, unitSource: source });
  view.again();
}

async function loadFull(model) {
  showRange(model, { loading: true });
  await reload(model, model.start, model.end);
}

async function zoom(model, min, max) {
  await reload(model, min, max);
}

async function reload(model, start, end) {
  loads += 1;
  try {
    const content = await loadSeries(app, model, input, start, end, width());
    const loaded = { ...shape.rangeModel(content), loaded: true };
    showRange(loaded);
    describe(loaded);
  } catch (error) {
    showRange(model, { loadError: String(error.message || error) });
  }
}

async function investigate(model) {
  showInvestigation(model);
  describe(model);
  if (!model.expression || !model.datasource) return;
  loads += 1;
  const condition = { query: model.expression };
  const target = { datasource_id: model.datasource };
  try {
    const content = await loadSeries(app, condition, target, model.start, model.end, width());
    showInvestigation(model, shape.rangeModel(content));
  } catch (error) {
    showInvestigation(model, null, String(error.message || error));
  }
}

function drawThenDescribe(draw, model) {
  draw(model);
  describe(model);
}

function show(result) {
  if (result.isError) return showError(shape.errorOf(result));
  const content = result.structuredContent;
  const kind = shape.kindOf(content);
  if (kind === "range") return drawThenDescribe(showRange, shape.rangeModel(content));
  if (kind === "instant") return drawThenDescribe(showInstant, shape.instantModel(content));
  if (kind === "investigation") return investigate(shape.investigationModel(content));
  return showError({ code: "not_chartable", message: "this answer has nothing to chart", hint: null });
}

function theme(context) {
  if (!context) return;
  if (context.theme) applyDocumentTheme(context.theme);
  if (context.styles?.variables) applyHostStyleVariables(context.styles.variables);
  if (view?.plot && context.theme) {
    const { model } = view;
    if (model.kind === "range") showRange(model);
    else if (model.kind === "investigation") showInvestigation(model, view.condition);
  } else if (window.__chartState) {
    window.__chartState = { ...window.__chartState, theme: context.theme || "light" };
  }
}

app.ontoolinput = (params) => {
  input = params.arguments || {};
};
app.ontoolresult = (result) => {
  resultAt = performance.now();
  drawMs = null;
  show(result);
};
app.onhostcontextchanged = (context) => theme(context);
app.onteardown = async () => ({});

publish({ status: "waiting", kind: null, notice: null, seriesCount: 0 });
await app.connect();
theme(app.getHostContext());
