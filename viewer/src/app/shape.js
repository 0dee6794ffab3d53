// From a tool's result to what the chart draws: pure functions, no DOM.
//
// proms-mcp's answers are compact for the model: labels every series shares are given once
// (`common_labels`), range values sit on a grid (`values[i]` at start + i*step, null: no
// sample) and non-finite samples are the strings "NaN", "+Inf", "-Inf". A fleet answer tags
// each series with the label `@datasource`.

import { unitOf } from "./units.js";
import { familyColors } from "./colors.js";

export const TAG = "@datasource";

/** Seconds since the epoch of an RFC 3339 time (or a number already in seconds). */
export function seconds(time) {
  if (typeof time === "number") return time;
  const ms = Date.parse(time);
  return Number.isNaN(ms) ? null : ms / 1000;
}

/** A sample value as a plottable number; non-finite or missing: null (a gap). */
export function plottable(value) {
  if (typeof value === "number" && Number.isFinite(value)) return value;
  return null;
}

/** The coded error of an `isError` result (its text is `{"error": {...}}`), else a plain one. */
export function errorOf(result) {
  const text = (result.content || []).find((c) => c.type === "text")?.text || "";
  try {
    const body = JSON.parse(text);
    if (body && body.error) {
      const { code, message, hint } = body.error;
      return { code: code || "error", message: message || text, hint: hint || null };
    }
  } catch {
    // not our JSON: shown as it is
  }
  return { code: "error", message: text || "the tool failed", hint: null };
}

/** What kind of answer a structuredContent is: range, instant, investigation or other. */
export function kindOf(content) {
  if (!content || typeof content !== "object") return "other";
  if (content.alert && typeof content.alert === "object") return "investigation";
  if (Array.isArray(content.series) && "step_seconds" in content) return "range";
  if ("result_type" in content && "time" in content) return "instant";
  return "other";
}

/** Label names whose values differ between series: all a legend needs to tell them apart. */
export function differingLabels(labelSets) {
  const names = new Set(labelSets.flatMap((labels) => Object.keys(labels)));
  return [...names]
    .filter((name) => new Set(labelSets.map((labels) => labels[name] ?? "")).size > 1)
    .sort((a, b) => (a === TAG ? -1 : b === TAG ? 1 : a.localeCompare(b)));
}

/** A series' legend name from the labels that differ; the query when none do. */
export function legendName(labels, differing, query) {
  if (differing.length === 0) return query;
  return differing.map((name) => `${name}=${JSON.stringify(labels[name] ?? "")}`).join(", ");
}

function fullLabels(content, series) {
  return { ...(content.common_labels || {}), ...(series.labels || {}) };
}

function colours(labelSets) {
  const datasources = labelSets.map((labels) => labels[TAG] ?? null);
  return familyColors(datasources);
}

/** Why the answer is not the whole picture (summarised, cut, or values left out), or null. */
export function noticeOf(content) {
  const parts = [];
  if (content.summarized) {
    parts.push(`summarised to fit ${content.summarized.budget_tokens} tokens`);
  }
  if (content.truncated) {
    const { returned, total } = content.truncated;
    parts.push(`${returned} of ${total} series shown`);
  }
  if (content.format && !String(content.format).includes("points") && content.series?.length) {
    parts.push(`the model got ${content.format}, not points`);
  }
  return parts.length ? parts.join("; ") : null;
}

/** A range answer as columns for the chart: x (seconds) and one y column per series. */
export function rangeModel(content) {
  const start = seconds(content.start);
  const end = seconds(content.end);
  const step = content.step_seconds;
  const rows = content.series || [];
  const labelSets = rows.map((series) => fullLabels(content, series));
  const differing = differingLabels(labelSets);
  const withValues = rows.some((series) => Array.isArray(series.values));
  const length = withValues ? Math.max(...rows.map((s) => (s.values || []).length)) : 0;
  const xs = Array.from({ length }, (_, i) => start + i * step);
  const palette = colours(labelSets);
  const series = rows.map((row, i) => {
    const ys = xs.map((_, j) => plottable((row.values || [])[j]));
    return {
      name: legendName(labelSets[i], differing, content.query),
      labels: labelSets[i],
      datasource: labelSets[i][TAG] ?? null,
      color: palette[i].color,
      hue: palette[i].hue,
      values: ys,
      summary: row.summary || null,
    };
  });
  return {
    kind: "range",
    query: content.query,
    datasource: content.datasource,
    start,
    end,
    step,
    xs,
    series,
    differing,
    ...unitByName(content.query, labelSets),
    notice: noticeOf(content),
    hint: rows.length === 0 ? emptyHint(content) : null,
  };
}

/** An instant vector as bars, largest first; a scalar as one value. */
export function instantModel(content) {
  const rows = content.series || [];
  const labelSets = rows.map((series) => fullLabels(content, series));
  const differing = differingLabels(labelSets);
  const palette = colours(labelSets);
  const bars = rows
    .map((row, i) => ({
      name: legendName(labelSets[i], differing, content.query),
      labels: labelSets[i],
      datasource: labelSets[i][TAG] ?? null,
      color: palette[i].color,
      hue: palette[i].hue,
      value: row.value,
      number: plottable(typeof row.value === "string" ? Number(row.value) : row.value),
    }))
    .sort((a, b) => (b.number ?? -Infinity) - (a.number ?? -Infinity));
  const empty = rows.length === 0 && (content.scalar === undefined || content.scalar === null);
  return {
    kind: "instant",
    query: content.query,
    datasource: content.datasource,
    time: seconds(content.time),
    resultType: content.result_type,
    scalar: content.scalar ?? null,
    bars,
    differing,
    ...unitByName(content.query, labelSets),
    notice: noticeOf(content),
    hint: empty ? emptyHint(content) : null,
  };
}

/** The unit the chart draws with first, from the metric name (metadata may relabel it). */
function unitByName(query, labelSets) {
  const unit = unitOf(query, labelSets);
  return { unit, unitSource: unit ? "name" : null, meta: null };
}

function emptyHint(content) {
  const tips = [content.hint, ...(content.suggestions || [])].filter(Boolean);
  return tips.length ? tips.join(" — ") : "no series matched";
}

/** The firing stretches of an investigation's history: the latest run and those its gaps
 * separate (gaps are latest first: each ends one run and starts the next). */
export function firingRuns(history, alert) {
  if (!history) {
    const start = seconds(alert?.starts_at || alert?.active_at || "");
    return start ? [{ start, end: null }] : [];
  }
  const runs = [];
  if (history.latest_run) {
    runs.push({ start: seconds(history.latest_run.start), end: seconds(history.latest_run.end) });
  }
  const gaps = history.gaps || [];
  gaps.forEach((gap, i) => {
    const previousStart = i + 1 < gaps.length ? seconds(gaps[i + 1].fired_again) : null;
    runs.push({ start: previousStart ?? seconds(history.start), end: seconds(gap.last_firing) });
  });
  return runs.sort((a, b) => a.start - b.start);
}

/** An investigation: the condition's readings, its threshold and the firing interval. */
export function investigationModel(content) {
  const condition = (content.conditions || [])[0] || {};
  const readings = (condition.readings || [])
    .map((reading) => ({
      at: reading.at,
      time: seconds(reading.time),
      value: plottable(reading.value),
    }))
    .filter((reading) => reading.time !== null)
    .sort((a, b) => a.time - b.time);
  const history = content.history || null;
  const times = readings.map((r) => r.time);
  const start = history ? seconds(history.start) : Math.min(...times);
  const end = history ? seconds(history.end) : Math.max(...times);
  return {
    kind: "investigation",
    alert: content.alert.name,
    state: content.alert.state,
    expression: condition.expression || null,
    comparison: condition.comparison || null,
    threshold: plottable(condition.threshold),
    datasource: content.prometheus || null,
    readings,
    firing: firingRuns(history, content.alert),
    start,
    end,
    ...unitByName(condition.expression || "", []),
    notice: null,
    hint: readings.length === 0 && !condition.expression ? "no condition to chart" : null,
  };
}
