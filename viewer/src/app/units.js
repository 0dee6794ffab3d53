// Axis units. The chart draws at once with the unit of the metric name's suffix, as the
// Prometheus naming conventions define them: _seconds, _bytes, _ratio, _percent, _celsius,
// and _total (a counter: per second once rate()/irate() is applied). _bucket, _sum and
// _count of a histogram or summary are looked through (_count stays a count).
// Then, when the query names one metric, its metadata (get_metric_metadata, through the
// host) may bring a `unit`: it relabels the axis. Exporters rarely set one (empty: the
// suffix rule stays).

const SUFFIXES = [
  ["_seconds", "seconds"],
  ["_bytes", "bytes"],
  ["_ratio", "ratio"],
  ["_percent", "percent"],
  ["_celsius", "celsius"],
];

const METRIC = /[a-zA-Z_:][a-zA-Z0-9_:]*/g;
const FUNCTIONS = /\b(rate|irate)\s*\(/;

/** The metric a query reads: `__name__` when every series has the same, else the first
 * identifier of the query with a known suffix. */
function metricName(query, labelSets) {
  const names = new Set(labelSets.map((labels) => labels.__name__).filter(Boolean));
  if (names.size === 1) return [...names][0];
  const found = (query || "").match(METRIC) || [];
  return found.find((word) => /_(seconds|bytes|ratio|percent|celsius|total)(_|$)/.test(word)) || "";
}

const KEYWORDS = new Set(
  "by without on ignoring group_left group_right bool and or unless offset start end inf nan"
    .split(" "),
);
const TOKEN = /[0-9.][0-9a-zA-Z_.+]*|[a-zA-Z_:][a-zA-Z0-9_:]*/g;

/** The metric names a PromQL text reads, once each: identifiers that are not functions,
 * keywords, numbers or durations, outside strings, label matchers, ranges and label lists. */
export function metricNames(query) {
  const bare = String(query || "")
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, " ")
    .replace(/\{[^{}]*\}|\[[^\[\]]*\]/g, " ")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)/gi, " ");
  const names = [];
  for (const match of bare.matchAll(TOKEN)) {
    const word = match[0];
    const after = bare.slice(match.index + word.length);
    if (/^[0-9.]/.test(word) || KEYWORDS.has(word.toLowerCase()) || /^\s*\(/.test(after)) continue;
    if (!names.includes(word)) names.push(word);
  }
  return names;
}

/** The one metric whose metadata to ask: the series' shared `__name__`, else the one name
 * the query reads; null when there are several or none (the suffix rule stays). */
export function describedMetric(query, labelSets) {
  const names = new Set(labelSets.map((labels) => labels.__name__).filter(Boolean));
  if (names.size === 1) return [...names][0];
  if (names.size > 1) return null;
  const read = metricNames(query);
  return read.length === 1 ? read[0] : null;
}

/** The unit once the metric's metadata ({type, help, unit}) is known: its `unit` when set
 * (per second for a counter inside rate()/irate()), else `fallback` (the suffix rule's).
 * Backend text: only a plain word is taken as a unit. */
export function unitFromMetadata(meta, query, fallback) {
  const unit = typeof meta?.unit === "string" ? meta.unit.trim() : "";
  if (!/^[a-zA-Z][a-zA-Z_]{0,31}$/.test(unit)) return { unit: fallback, source: fallback ? "name" : null };
  const perSecond = meta.type === "counter" && FUNCTIONS.test(query || "");
  if (perSecond) return { unit: `${unit}/s`, source: "metadata" };
  return { unit, source: "metadata" };
}

/** The unit of a query's values: seconds, bytes, ratio, percent, celsius, per-second,
 * count or "" (unknown: plain numbers). */
export function unitOf(query, labelSets) {
  const name = metricName(query, labelSets).replace(/_(bucket|sum)$/, "");
  if (name.endsWith("_count")) return "count";
  for (const [suffix, unit] of SUFFIXES) {
    if (name.endsWith(suffix)) return unit;
  }
  if (name.endsWith("_total")) return FUNCTIONS.test(query || "") ? "per-second" : "count";
  return "";
}

const BYTES = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

function trimmed(value) {
  const abs = Math.abs(value);
  if (abs === 0) return "0";
  if (abs >= 1000 || abs < 0.01) return value.toPrecision(3).replace(/\.?0+e/, "e");
  return String(Number(value.toPrecision(4)));
}

/** A value in its unit, short enough for an axis tick. */
export function formatValue(value, unit) {
  if (value === null || value === undefined) return "–";
  if (typeof value !== "number") return String(value);
  switch (unit) {
    case "seconds": {
      const abs = Math.abs(value);
      if (abs === 0) return "0 s";
      if (abs < 1e-3) return `${trimmed(value * 1e6)} µs`;
      if (abs < 1) return `${trimmed(value * 1e3)} ms`;
      if (abs < 120) return `${trimmed(value)} s`;
      if (abs < 7200) return `${trimmed(value / 60)} min`;
      return `${trimmed(value / 3600)} h`;
    }
    case "bytes": {
      let scaled = value;
      let i = 0;
      while (Math.abs(scaled) >= 1024 && i < BYTES.length - 1) {
        scaled /= 1024;
        i += 1;
      }
      return `${trimmed(scaled)} ${BYTES[i]}`;
    }
    case "ratio":
      return `${trimmed(value * 100)}%`;
    case "percent":
      return `${trimmed(value)}%`;
    case "celsius":
      return `${trimmed(value)} °C`;
    case "per-second":
      return `${trimmed(value)}/s`;
    case "":
    case "count":
    case undefined:
    case null:
      return trimmed(value);
    default: // a unit from metadata the suffix rule does not know: shown as it is
      return `${trimmed(value)} ${unit}`;
  }
}
