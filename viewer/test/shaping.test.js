// The app's pure parts, without a browser: `node --test viewer/test/` (tests/viewer/test_shaping.py).
import assert from "node:assert/strict";
import { test } from "node:test";

import { familyColors } from "../src/app/colors.js";
import { targetOf } from "../src/app/loading.js";
import { metadataOf } from "../src/app/metadata.js";
import { differingLabels, firingRuns, legendName, noticeOf, rangeModel } from "../src/app/shape.js";
import {
  describedMetric,
  formatValue,
  metricNames,
  unitFromMetadata,
  unitOf,
} from "../src/app/units.js";

test("units come from the metric name's suffix, a counter per second only inside rate()", () => {
  assert.equal(unitOf("x", [{ __name__: "http_request_duration_seconds" }]), "seconds");
  assert.equal(unitOf("histogram_quantile(0.9, rate(req_seconds_bucket[5m]))", []), "seconds");
  assert.equal(unitOf("rate(requests_total[5m])", []), "per-second");
  assert.equal(unitOf("requests_total", []), "count");
  assert.equal(unitOf("rate(req_seconds_count[5m])", []), "count");
  assert.equal(unitOf("node_memory_bytes", []), "bytes");
  assert.equal(unitOf("cache_hit_ratio", []), "ratio");
  assert.equal(unitOf("up", [{ __name__: "up" }]), "");
});

test("the metric names a query reads: not functions, keywords, labels, strings or durations", () => {
  assert.deepEqual(metricNames("process_resident_memory_bytes"), ["process_resident_memory_bytes"]);
  assert.deepEqual(
    metricNames('sum by (job, le) (rate(req_seconds_bucket{job="api", path=~"a b"}[5m] offset 1h))'),
    ["req_seconds_bucket"],
  );
  assert.deepEqual(metricNames('label_replace(up, "x", "$1", "job", "(.*)") > bool 0.5'), ["up"]);
  assert.deepEqual(metricNames("a_bytes / on (instance) group_left (pod) b_bytes"), ["a_bytes", "b_bytes"]);
  assert.deepEqual(metricNames("max_over_time(x[1h:5m]) @ end()"), ["x"]);
  assert.deepEqual(metricNames("vector(1) + 2e3 + 0x1f + Inf"), []);
  assert.deepEqual(metricNames('{__name__="up"}'), []);
  assert.deepEqual(metricNames("x and x unless x"), ["x"]);
});

test("metadata is asked for one metric only: the series' own name, else the one the query reads", () => {
  assert.equal(describedMetric("rate(x_total[5m])", [{ job: "a" }]), "x_total");
  assert.equal(describedMetric("q", [{ __name__: "y" }, { __name__: "y" }]), "y");
  assert.equal(describedMetric("a / b", []), null);
  assert.equal(describedMetric("a", [{ __name__: "a" }, { __name__: "b" }]), null);
  assert.equal(describedMetric("vector(1)", []), null);
});

test("metadata's unit decides when it has one, else the name's unit stays", () => {
  const meters = { type: "gauge", help: "h", unit: "meters" };
  assert.deepEqual(unitFromMetadata(meters, "cable_length", ""), { unit: "meters", source: "metadata" });
  assert.deepEqual(unitFromMetadata({ ...meters, unit: "seconds" }, "job_latency", ""), {
    unit: "seconds",
    source: "metadata",
  });
  const counter = { type: "counter", help: "", unit: "joules" };
  assert.deepEqual(unitFromMetadata(counter, "rate(energy_total[5m])", "per-second"), {
    unit: "joules/s",
    source: "metadata",
  });
  const none = { type: "gauge", help: "Resident memory size in bytes.", unit: "" };
  assert.deepEqual(unitFromMetadata(none, "m_bytes", "bytes"), { unit: "bytes", source: "name" });
  assert.deepEqual(unitFromMetadata(none, "up", ""), { unit: "", source: null });
  const markup = { type: "gauge", help: "", unit: "<img src=x onerror=alert(1)>" };
  assert.deepEqual(unitFromMetadata(markup, "x_bytes", "bytes"), { unit: "bytes", source: "name" });
  assert.equal(formatValue(2.5, "meters"), "2.5 meters");
  assert.equal(formatValue(2.5, "count"), "2.5");
});

test("values are shown in their unit", () => {
  assert.equal(formatValue(0.25, "seconds"), "250 ms");
  assert.equal(formatValue(90, "seconds"), "90 s");
  assert.equal(formatValue(3 * 1024 * 1024, "bytes"), "3 MiB");
  assert.equal(formatValue(0.5, "ratio"), "50%");
  assert.equal(formatValue(12.5, "per-second"), "12.5/s");
  assert.equal(formatValue(null, "seconds"), "–");
});

test("the legend names a series by the labels that differ, @datasource first", () => {
  const sets = [
    { job: "a", instance: "1", "@datasource": "x" },
    { job: "a", instance: "2", "@datasource": "y" },
  ];
  const differing = differingLabels(sets);
  assert.deepEqual(differing, ["@datasource", "instance"]);
  assert.equal(legendName(sets[0], differing, "q"), '@datasource="x", instance="1"');
  assert.equal(legendName({ job: "a" }, [], "up"), "up");
});

test("a fleet's datasources get one hue each, their series shades of it", () => {
  const colours = familyColors(["a", "a", "b", "a"]);
  assert.equal(new Set([0, 1, 3].map((i) => colours[i].hue)).size, 1);
  assert.notEqual(colours[0].hue, colours[2].hue);
  assert.equal(new Set(colours.map((c) => c.color)).size, 4);
  const single = familyColors([null, null, null]);
  assert.equal(new Set(single.map((c) => c.hue)).size, 3);
});

test("a range answer's grid becomes times, gaps and non-finite values become nulls", () => {
  const model = rangeModel({
    query: "q",
    datasource: "d",
    start: "2026-01-01T00:00:00Z",
    end: "2026-01-01T00:02:00Z",
    step_seconds: 60,
    format: "points",
    common_labels: { __name__: "q" },
    series: [{ labels: { a: "1" }, values: [1, null, "NaN"] }],
  });
  assert.deepEqual(model.xs, [1767225600, 1767225660, 1767225720]);
  assert.deepEqual(model.series[0].values, [1, null, null]);
  assert.equal(model.notice, null);
});

test("the notice says what the model's answer left out", () => {
  const notice = noticeOf({
    format: "summary",
    series: [{}],
    summarized: { budget_tokens: 600 },
    truncated: { returned: 5, total: 500 },
  });
  assert.equal(notice, "summarised to fit 600 tokens; 5 of 500 series shown; the model got summary, not points");
});

test("firing runs: the latest, and those its gaps separate", () => {
  const runs = firingRuns(
    {
      start: "2026-01-01T00:00:00Z",
      latest_run: { start: "2026-01-01T00:50:00Z", end: "2026-01-01T01:00:00Z" },
      gaps: [
        { last_firing: "2026-01-01T00:40:00Z", fired_again: "2026-01-01T00:50:00Z" },
        { last_firing: "2026-01-01T00:20:00Z", fired_again: "2026-01-01T00:30:00Z" },
      ],
    },
    {},
  );
  const minutes = runs.map((r) => [(r.start - 1767225600) / 60, (r.end - 1767225600) / 60]);
  assert.deepEqual(minutes, [[0, 20], [30, 40], [50, 60]]);
});

test("chart_series is asked with the call's own selector, else the answer's datasources", () => {
  const fleet = { series: [{ datasource: "a" }, { datasource: "b" }] };
  assert.deepEqual(targetOf(fleet, { labels: "env=prod" }), { labels: "env=prod" });
  assert.deepEqual(targetOf(fleet, {}), { datasources: ["a", "b"] });
  assert.deepEqual(targetOf({ series: [], datasource: "p" }, {}), { datasource_id: "p" });
  assert.equal(targetOf({ series: [], datasource: 'datasources="x"' }, {}), null);
});

test("metadata is asked once per datasource and metric; a failed or denied call is none", async () => {
  const calls = [];
  const answering = (answer) => ({
    callServerTool: async (request) => {
      calls.push(request);
      if (answer instanceof Error) throw answer;
      return answer;
    },
  });
  const meta = { type: "gauge", help: "Size.", unit: "" };
  const ok = answering({ structuredContent: { metadata: [meta] } });
  const model = { datasource: "p" };
  const target = { datasource_id: "p" };
  assert.deepEqual(await metadataOf(ok, model, "rate(m_bytes[5m])", [], target), { metric: "m_bytes", ...meta });
  await metadataOf(ok, model, "m_bytes", [], target);
  assert.deepEqual(calls, [
    { name: "get_metric_metadata", arguments: { datasource_id: "p", metric_name: "m_bytes" } },
  ]);
  const denied = answering({ isError: true, content: [{ type: "text", text: "{}" }] });
  assert.equal(await metadataOf(denied, model, "denied_metric", [], target), null);
  assert.equal(await metadataOf(answering(new Error("gone")), model, "gone_metric", [], target), null);
  assert.equal(await metadataOf(ok, model, "a / b", [], target), null);
  assert.equal(calls.length, 3, "nothing asked for a query of two metrics");
});
