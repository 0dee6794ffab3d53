// Points for the chart, through the host: the app-only tool chart_series answers like
// query_range with format "points", at about one point per pixel of `width` under its own,
// larger cap, with the same access control as every tool. A fleet answer is asked again per
// datasource it drew, and the answers are merged onto one time grid.

import { TAG, seconds } from "./shape.js";

export const CHART_TOOL = "chart_series";

/** The datasource ids to ask: those a fleet answer's series came from, else the one id. */
export function windowOf(model, input) {
  const tagged = [...new Set((model.series || []).map((s) => s.datasource).filter(Boolean))];
  if (tagged.length) return { datasources: tagged };
  const single = input.datasource_id || (model.datasource && !model.datasource.includes("=") ? model.datasource : null);
  return { datasources: single ? [single] : [] };
}

function iso(time) {
  return new Date(time * 1000).toISOString().replace(".000Z", "Z");
}

async function one(app, promql, datasource, start, end, width) {
  const result = await app.callServerTool({
    name: CHART_TOOL,
    arguments: { promql, start: iso(start), end: iso(end), datasource, width: Math.round(width) },
  });
  if (result.isError) {
    const text = (result.content || []).find((c) => c.type === "text")?.text || "failed";
    let message = text;
    try {
      const { error } = JSON.parse(text);
      message = `${error.code}: ${error.message}`;
    } catch {
      // plain text
    }
    throw new Error(message);
  }
  return result.structuredContent;
}

/** Full label sets, tagged with their datasource when several were asked. */
function tagged(content, datasource, fleet) {
  return (content.series || []).map((series) => ({
    labels: {
      ...(content.common_labels || {}),
      ...(series.labels || {}),
      ...(fleet ? { [TAG]: datasource } : {}),
    },
    times: (series.values || []).map((_, i) => seconds(content.start) + i * content.step_seconds),
    values: series.values || [],
  }));
}

/** One RangeResult-shaped answer for the window [start, end] from every datasource asked. */
export async function loadSeries(app, model, input, start, end, width) {
  const { datasources } = windowOf(model, input);
  const answers = await Promise.all(
    datasources.map((id) => one(app, model.query, id, start, end, width)),
  );
  const fleet = datasources.length > 1 || (model.series || []).some((s) => s.datasource);
  const rows = answers.flatMap((content, i) => tagged(content, datasources[i], fleet));
  const grid = [...new Set(rows.flatMap((row) => row.times))].sort((a, b) => a - b);
  const index = new Map(grid.map((t, i) => [t, i]));
  const series = rows.map((row) => {
    const values = new Array(grid.length).fill(null);
    row.times.forEach((t, i) => {
      values[index.get(t)] = row.values[i];
    });
    return { labels: row.labels, values };
  });
  const first = answers[0] || {};
  const step = grid.length > 1 ? grid[1] - grid[0] : first.step_seconds || 0;
  return {
    datasource: fleet ? datasources.join(", ") : datasources[0],
    query: model.query,
    start: grid.length ? iso(grid[0]) : iso(start),
    end: grid.length ? iso(grid[grid.length - 1]) : iso(end),
    step_seconds: step,
    result_type: "matrix",
    format: "points",
    series,
    total_series: series.length,
    truncated: answers.find((a) => a.truncated)?.truncated,
    hint: answers.find((a) => a.hint)?.hint,
  };
}
