// Axis units. Our answers carry no metric metadata (Prometheus' `unit` is rarely set, and
// backfilled series have none), so the unit comes from the metric name's suffix, as the
// Prometheus naming conventions define them: _seconds, _bytes, _ratio, _percent, _celsius,
// and _total (a counter: per second once rate()/irate() is applied). _bucket, _sum and
// _count of a histogram or summary are looked through (_count stays a count).

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
    default:
      return trimmed(value);
  }
}
