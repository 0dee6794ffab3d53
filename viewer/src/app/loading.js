// Points for the chart, through the host: the app-only tool chart_series answers like
// query_range with format "points", at about one point per pixel of `width` under its own,
// larger cap, with the same access control as every tool. It takes the datasource as
// query_range does: `datasource_id`, or `datasources`/`labels` for a fleet.

export const CHART_TOOL = "chart_series";

/** The datasource arguments to ask again: the tool call's own selector when it had one,
 * else the datasources the answer's series came from, else its one datasource. */
export function targetOf(model, input) {
  if (input.datasources || input.labels) {
    const target = {};
    if (input.datasources) target.datasources = input.datasources;
    if (input.labels) target.labels = input.labels;
    return target;
  }
  const tagged = [...new Set((model.series || []).map((s) => s.datasource).filter(Boolean))];
  if (tagged.length > 1) return { datasources: tagged };
  const single = input.datasource_id || tagged[0] || model.datasource;
  return single && !single.includes("=") ? { datasource_id: single } : null;
}

function iso(time) {
  return new Date(Math.round(time) * 1000).toISOString().replace(".000Z", "Z");
}

function failure(result) {
  const text = (result.content || []).find((c) => c.type === "text")?.text || "failed";
  try {
    const { error } = JSON.parse(text);
    return `${error.code}: ${error.message}`;
  } catch {
    return text;
  }
}

/** query_range's answer (format "points") for [start, end] at `width` pixels. */
export async function loadSeries(app, model, input, start, end, width) {
  const target = targetOf(model, input);
  if (!target) throw new Error("no datasource to ask");
  const result = await app.callServerTool({
    name: CHART_TOOL,
    arguments: {
      promql: model.query,
      start: iso(start),
      end: iso(end),
      width: Math.round(width),
      ...target,
    },
  });
  if (result.isError) throw new Error(failure(result));
  return result.structuredContent;
}
