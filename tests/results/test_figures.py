"""Every figure proms-mcp derives is exact: the statistics of query_range summaries (every
format that has them) and of a cut query_instant's `values` are what exact arithmetic over
the points Prometheus returned gives, rounded once to float64, and printed as the shortest
decimal that reads back as the same float.

Random series (huge, tiny and subnormal, negative, integers beyond 2**53, NaN, ±Inf, gaps)
are served as Prometheus's raw JSON, values being strings as Prometheus and its kin write
them, by a small fake backend; proms-mcp is called through a real MCP client; the expected
figures are recomputed here from that raw JSON with `fractions.Fraction` (not our code).
The same comparison then runs against the real Prometheus, on live series whose sums and
means a 6-significant-digit rounding would visibly change.
"""

from __future__ import annotations

import datetime
import decimal
import itertools
import json
import math
import re
import threading
import time
import urllib.parse
from collections.abc import Iterator
from fractions import Fraction
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mcp_server.results import summaries
from tests.support import harness, prometheus_process
from tests.support.answers import direct
from tests.support.harness import McpClient, RunningServer
from tests.support.prometheus_process import (
    RunningPrometheus,
)

# --- the reference: exact arithmetic over the raw JSON ---------------------------------------

Json = int | float | str


def printed(value: float) -> Json:
    """How a figure must appear in an answer: an int below 2**53 when whole, the float
    itself otherwise (JSON writes its shortest round-trip form), non-finite as strings."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def rounded(exact: Fraction) -> float:
    """The float64 nearest an exact value; ±Inf beyond the range (IEEE round to nearest)."""
    try:
        return float(exact)
    except OverflowError:
        return math.inf if exact > 0 else -math.inf


def rfc3339(seconds: float) -> str:
    millis = round(seconds * 1000)
    whole = datetime.datetime.fromtimestamp(millis // 1000, tz=datetime.UTC)
    fraction = f".{millis % 1000:03d}" if millis % 1000 else ""
    return whole.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


def expected_summary(points: list[tuple[float, str]]) -> dict[str, Json]:
    """A query_range series summary from its raw [t, "value"] points."""
    parsed = [(t, float(v)) for t, v in points]
    finite = [(t, v) for t, v in parsed if math.isfinite(v)]
    want: dict[str, Json] = {"points": len(parsed)}
    if len(finite) < len(parsed):
        want["non_finite"] = len(parsed) - len(finite)
    if not finite:
        return want
    low = min(finite, key=lambda p: p[1])  # the first point holding the minimum
    high = max(finite, key=lambda p: p[1])
    (_, first), (_, last) = finite[0], finite[-1]
    exact_sum = sum((Fraction(v) for _, v in finite), Fraction(0))
    want.update(
        first=printed(first),
        last=printed(last),
        min=printed(low[1]),
        min_at=rfc3339(low[0]),
        max=printed(high[1]),
        max_at=rfc3339(high[0]),
        mean=printed(rounded(exact_sum / len(finite))),
        change=printed(rounded(Fraction(last) - Fraction(first))),
    )
    return want


def expected_values(raw: list[str]) -> dict[str, Json]:
    """A cut query_instant's `values` from the raw sample strings of every series."""
    parsed = [float(v) for v in raw]
    finite = [v for v in parsed if math.isfinite(v)]
    want: dict[str, Json] = {"count": len(parsed)}
    if len(finite) < len(parsed):
        want["non_finite"] = len(parsed) - len(finite)
    if finite:
        exact_sum = sum((Fraction(v) for v in finite), Fraction(0))
        want.update(
            min=printed(min(finite)),
            max=printed(max(finite)),
            mean=printed(rounded(exact_sum / len(finite))),
            sum=printed(rounded(exact_sum)),
        )
    return want


def same(got: Any, want: Any) -> bool:
    """Equal as JSON text: 3 and 3.0 differ, so do two floats one ulp apart."""
    return json.dumps(got, sort_keys=True) == json.dumps(want, sort_keys=True)


def shard_of(got: dict[str, Any], series: dict[str, Any], label: str = "s") -> str:
    """The value of `label` on a series of a range answer, in any format."""
    labels = {**got.get("common_labels", {}), **series.get("labels", {})}
    if label in labels:
        return str(labels[label])
    found = re.search(rf'\b{label}="([^"]+)"', series["line"])  # text: labels in the selector
    assert found, series
    return found.group(1)


def text_figures(line: str) -> dict[str, str]:
    return dict(re.findall(r"\b(first|last|min|max)=(\S+)", line))


def expected_text_figures(summary: dict[str, Json]) -> dict[str, str]:
    """A format=text line's figures: first, last, min and max of the summary, as printed."""
    return {k: str(summary[k]) for k in ("first", "last", "min", "max") if k in summary}


async def answer(mcp: McpClient, tool: str, **arguments: Any) -> dict[str, Any]:
    """The structured answer, after checking its text is exactly Python's compact JSON of it
    (so every float is printed as its shortest round-trip repr)."""
    result = await mcp.call_tool(tool, arguments, raise_on_error=False)
    assert not result.is_error, result.content
    text: str = result.content[0].text  # type: ignore[union-attr]
    data = json.loads(text)
    assert data == result.structured_content
    assert json.dumps(data, ensure_ascii=False, separators=(",", ":")) == text
    assert isinstance(data, dict)
    return data


# --- values as Prometheus writes them --------------------------------------------------------


def go_f(value: float) -> str:
    """Go's strconv.FormatFloat(v, 'f', -1, 64), Prometheus's encoding of sample values."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return format(decimal.Decimal(repr(value)), "f")


def go_g(value: float) -> str:
    """Shortest form with an exponent (`1e+308`), as other backends write it."""
    return go_f(value) if not math.isfinite(value) else repr(value).replace("inf", "Inf")


EXTREMES = [
    1e308,
    -1e308,
    1.7976931348623157e308,
    -1.7976931348623157e308,
    1e300,
    1e-300,
    5e-324,
    -5e-324,
    2.2250738585072014e-308,
    float(2**53 + 1),
    float(2**63),
    81093.91167,
    0.1,
    -0.0,
]
finite_values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-(2**64), 2**64).map(float),
    st.sampled_from(EXTREMES),
    st.floats(1e290, 1.7976931348623157e308),
    st.floats(-1e-300, 1e-300),
    st.decimals(-(10**6), 10**6, places=5).map(float),
)
values = st.one_of(finite_values, st.sampled_from([math.nan, math.inf, -math.inf]))
encoded = st.tuples(values, st.sampled_from([go_f, go_g])).map(lambda p: p[1](p[0]))
"""A sample value as a Prometheus JSON string."""


def raw_points(grid: list[str | None], start_ms: int, step_ms: int) -> list[Any]:
    """[t, "value"] as in a matrix answer: the grid's points that have a sample."""
    return [((start_ms + i * step_ms) / 1000, v) for i, v in enumerate(grid) if v is not None]


T0 = 1_700_000_000_000
"""Unix milliseconds, for fixed examples."""

# --- a fake backend that answers with the raw JSON of the current example ---------------------


class Backend(harness.Handler):
    """Answers query_range with `grids` (one list per series, a value string or None per
    grid point, timestamps on the grid the request asked for) and query with `samples`."""

    grids: ClassVar[list[list[str | None]]] = []
    samples: ClassVar[list[str]] = []
    lock = threading.Lock()

    def do_POST(self) -> None:
        form = dict(urllib.parse.parse_qsl(self.rfile.read(int(self.headers["Content-Length"]))))
        with self.lock:
            if urllib.parse.urlsplit(self.path).path == "/api/v1/query_range":
                start_ms = round(float(form[b"start"]) * 1000)
                step_ms = round(float(form[b"step"]) * 1000)
                result = [
                    {
                        "metric": {"__name__": "m", "s": str(n)},
                        "values": raw_points(g, start_ms, step_ms),
                    }
                    for n, g in enumerate(self.grids)
                ]
                data: dict[str, Any] = {"resultType": "matrix", "result": result}
            else:
                at = float(form[b"time"])
                result = [
                    {"metric": {"__name__": "m", "s": str(n)}, "value": [at, v]}
                    for n, v in enumerate(self.samples)
                ]
                data = {"resultType": "vector", "result": result}
        answer = json.dumps({"status": "success", "data": data}).encode()
        self.reply(answer)


@pytest.fixture(scope="module")
def fake_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with harness.http_server(Backend) as url:
        source = {"name": "fake", "type": "prometheus", "url": url}
        with harness.serving_datasources(tmp_path_factory.mktemp("figures"), source) as running:
            yield running


fake = harness.client_of("fake_server")


# --- query_range: every format with summaries -------------------------------------------------

grid_point = st.one_of(st.none(), encoded)
grid = st.tuples(st.lists(grid_point, max_size=49), encoded, st.integers(0, 49)).map(
    lambda p: [*p[0][: p[2]], p[1], *p[0][p[2] :]]  # at least one point, anywhere
)
grids = st.lists(grid, min_size=1, max_size=5)
PROPERTY = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@PROPERTY
@given(
    grids=grids,
    start_ms=st.integers(1_600_000_000_000, 1_800_000_000_000),
    step_ms=st.sampled_from([1000, 15000, 60000, 1500, 250]),
)
@example(grids=[["1e+308", "1e+308", "-1e+308"]], start_ms=T0, step_ms=60000)
@example(grids=[["1.7e308", "1.7e308", "-1.7e308"] * 16] * 2, start_ms=T0, step_ms=1000)
@example(grids=[["81093.91167", None, "NaN", "81093.91168", "+Inf"]], start_ms=T0 + 1, step_ms=1500)
@example(grids=[["9007199254740993", "5e-324", "-5e-324"]], start_ms=T0, step_ms=1000)
async def test_range_summaries_are_exact_in_every_format(
    fake: McpClient, grids: list[list[str | None]], start_ms: int, step_ms: int
) -> None:
    with Backend.lock:
        Backend.grids = grids
    count = max(len(g) for g in grids)
    window = {
        "datasource_id": "fake",
        "promql": "m",
        "start": start_ms / 1000,
        "end": (start_ms + (count - 1) * step_ms) / 1000,
        "step": step_ms / 1000,
        "limit": 10,
    }
    wanted = {
        str(n): expected_summary(raw_points(g, start_ms, step_ms)) for n, g in enumerate(grids)
    }
    grid_values = {
        str(n): [None if v is None else printed(float(v)) for v in g] + [None] * (count - len(g))
        for n, g in enumerate(grids)
    }
    for form in ("summary", "points+summary", "auto", "text"):
        extra = {"max_tokens": 600} if form == "auto" else {}  # often too small for points
        got = await answer(fake, "query_range", **window, format=form, **extra)
        assert got["step_seconds"] == step_ms / 1000, got
        for series in got.get("series", []):  # (all cut when one series alone is too big)
            shard = shard_of(got, series)
            if form == "text":
                assert text_figures(series["line"]) == expected_text_figures(wanted[shard])
                continue
            if "summary" in series:
                assert same(series["summary"], wanted[shard]), (series["summary"], wanted[shard])
            if "values" in series:
                assert same(series["values"], grid_values[shard])


# --- query_instant: the statistics of a cut answer -------------------------------------------


@PROPERTY
@given(samples=st.lists(encoded, min_size=2, max_size=300))
@example(samples=["1e+308", "1e+308", "-1e+308"])
@example(samples=["1.7976931348623157e+308", "1.7976931348623157e+308"])
@example(samples=["NaN", "+Inf", "-Inf"])
@example(samples=[f"{81093.91167 + n * 0.00001:.5f}" for n in range(600)])
async def test_the_values_of_a_cut_instant_answer_are_exact(
    fake: McpClient, samples: list[str]
) -> None:
    with Backend.lock:
        Backend.samples = samples
    got = await answer(
        fake, "query_instant", datasource_id="fake", promql="m", time=1_700_000_000, limit=1
    )
    assert got["total_series"] == len(samples) and len(got["series"]) == 1
    assert same(got["values"], expected_values(samples)), (got["values"], expected_values(samples))


async def test_summaries_an_over_budget_auto_answer_degrades_to_are_exact(
    fake: McpClient,
) -> None:
    sequence = (1.7e308, 1.7e308, -1.7e308, 81093.91167, 1e-300, -5e-324)
    grid: list[str | None] = [go_f(v) for v in sequence * 20]
    grids = [grid, [*grid[1:], None, "NaN"]]
    with Backend.lock:
        Backend.grids = grids
    start_ms, step_ms = T0, 15_000
    got = await answer(
        fake, "query_range", datasource_id="fake", promql="m", start=start_ms / 1000,
        end=(start_ms + 120 * step_ms) / 1000, step="15s", max_tokens=400,
    )  # fmt: skip
    assert got["format"] == "summary" and len(got["series"]) == 2, got
    assert got["summarized"]["actions"] == ["points replaced by per-series summaries"]
    for series in got["series"]:
        points = raw_points(grids[int(shard_of(got, series))], start_ms, step_ms)
        assert same(series["summary"], expected_summary(points))
    assert math.isfinite(got["series"][0]["summary"]["mean"])  # the sum overflows, not the mean


# --- the same, against the real Prometheus ----------------------------------------------------

GAUGES = 600


class FiguresTarget(harness.MetricsTarget):
    """600 gauges near 81093.91167 (a 6-digit rounding of their sum or mean shows), and
    series of extremes; every value moves with each scrape, so summaries have work to do."""

    scrapes = itertools.count()

    def exposition(self) -> str:
        k = next(self.scrapes)
        lines = [
            f'figures_gauge{{i="{i}"}} {81093.91167 + i * 0.01371 + k * 0.00029:.5f}'
            for i in range(GAUGES)
        ]
        extremes = {
            "huge": "1.7e308" if k % 2 else "1.6e308",
            "huge_too": "1.7976931348623157e308",
            "negative_huge": f"-1.{k % 9 + 1}e308",
            "tiny": ("0", "5e-324", "1e-323")[k % 3],
            "beyond_2_53": str(2**53 + 1 + k),
            "nan": "NaN",
            "inf": "+Inf",
            "minus_inf": "-Inf",
            "sometimes_nan": "NaN" if k % 4 == 0 else f"{81093.91167 * k:.5f}",
        }
        lines += [f'figures_extreme{{case="{case}"}} {v}' for case, v in extremes.items()]
        return "".join(line + "\n" for line in lines)


@pytest.fixture(scope="module")
def figures_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPrometheus]:
    workdir = tmp_path_factory.mktemp("figures-prometheus")
    with prometheus_process.scraping(FiguresTarget, workdir) as prometheus:
        yield prometheus


real_server = harness.server_of("figures_prometheus", "real")


real = harness.client_of("real_server")


def settled_time(prometheus: RunningPrometheus, scrapes: int) -> int:
    """A whole second, 2 s past (what Prometheus holds up to it no longer changes), with at
    least `scrapes` scrapes of the target before it."""
    found: list[int] = []

    def enough() -> bool:
        at = int(time.time()) - 2
        query = 'count_over_time(figures_gauge{i="0"}[1m])'
        result = direct(prometheus, "/api/v1/query", query=query, time=at)["result"]
        found.append(at)
        return bool(result) and float(result[0]["value"][1]) >= scrapes

    harness.poll(enough, timeout=30)
    return found[-1]


async def test_a_cut_instant_answer_on_real_prometheus_has_exact_values(
    real: McpClient, figures_prometheus: RunningPrometheus
) -> None:
    at = settled_time(figures_prometheus, 3)
    for promql in ("figures_gauge", "figures_extreme"):
        raw = direct(figures_prometheus, "/api/v1/query", query=promql, time=at)["result"]
        got = await answer(
            real, "query_instant", datasource_id="real", promql=promql, time=at, limit=2
        )
        assert got["total_series"] == len(raw) > 2
        want = expected_values([s["value"][1] for s in raw])
        assert same(got["values"], want), (got["values"], want)


async def test_range_summaries_on_real_prometheus_are_exact_in_every_format(
    real: McpClient, figures_prometheus: RunningPrometheus
) -> None:
    end = settled_time(figures_prometheus, 8)
    window = {"start": end - 6, "end": end, "step": 1}
    for promql, label in (('figures_gauge{i=~"[0-9]"}', "i"), ("figures_extreme", "case")):
        raw = direct(figures_prometheus, "/api/v1/query_range", query=promql, **window)["result"]
        wanted = {s["metric"][label]: expected_summary(s["values"]) for s in raw}
        assert len(wanted) >= 9
        for form in ("summary", "points+summary", "text"):
            got = await answer(
                real, "query_range", datasource_id="real", promql=promql, format=form, **window
            )
            assert len(got["series"]) == len(wanted)
            for series in got["series"]:
                want = wanted[shard_of(got, series, label)]
                if form == "text":
                    assert text_figures(series["line"]) == expected_text_figures(want)
                else:
                    assert same(series["summary"], want), (series, want)
    raw = direct(figures_prometheus, "/api/v1/query_range", query="figures_gauge", **window)
    wanted = {s["metric"]["i"]: expected_summary(s["values"]) for s in raw["result"]}
    got = await answer(
        real, "query_range", datasource_id="real", promql="figures_gauge", limit=GAUGES,
        max_tokens=3000, **window,
    )  # fmt: skip
    assert got["format"] == "summary" and 1 < len(got["series"]) < GAUGES, got["summarized"]
    for series in got["series"]:
        assert same(series["summary"], wanted[series["labels"]["i"]])


def test_a_sparkline_of_values_whose_sum_overflows_is_drawn() -> None:
    assert summaries.sparkline([1.7e308, 1.7e308, -1.7e308, -1.7e308], width=2) == "█▁"
