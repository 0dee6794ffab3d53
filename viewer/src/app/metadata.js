// The metric's metadata (type, help, unit), asked through the host from the model-visible
// tool get_metric_metadata after the chart is drawn: its unit relabels the axis, its type
// and help go in the header. Asked once per datasource and metric; a failed or denied call
// is no metadata (the chart stays as drawn).

import { describedMetric } from "./units.js";

export const METADATA_TOOL = "get_metric_metadata";

const asked = new Map(); // "datasource\0metric" -> Promise<{type, help, unit} | null>

function text(value) {
  return typeof value === "string" ? value : "";
}

/** The datasource to ask: the one the answer came from, or a fleet's first. */
function datasourceOf(model, target) {
  if (target?.datasource_id) return target.datasource_id;
  if (Array.isArray(target?.datasources) && target.datasources.length) return target.datasources[0];
  const single = model.datasource;
  return single && !single.includes("=") ? single : null;
}

async function ask(app, datasource, metric) {
  try {
    const result = await app.callServerTool({
      name: METADATA_TOOL,
      arguments: { datasource_id: datasource, metric_name: metric },
    });
    const first = !result.isError && result.structuredContent?.metadata?.[0];
    if (!first) return null;
    return { type: text(first.type), help: text(first.help), unit: text(first.unit) };
  } catch {
    return null;
  }
}

/** The metadata of the one metric the model's query reads ({metric, type, help, unit}), or
 * null: no single metric, no datasource, none published, or the call failed. */
export async function metadataOf(app, model, query, labelSets, target) {
  const metric = describedMetric(query, labelSets);
  const datasource = datasourceOf(model, target);
  if (!metric || !datasource) return null;
  const key = `${datasource}\u0000${metric}`;
  if (!asked.has(key)) asked.set(key, ask(app, datasource, metric));
  const meta = await asked.get(key);
  return meta ? { metric, ...meta } : null;
}
