"""The README's picture of the app: `make run`'s demo (the synthetic shop, its checkout
incident under way) charted by the app in our ext-apps host page. The test takes it every
run (tests/viewer/artifacts/readme.png); UPDATE_SCREENSHOTS=1 also writes docs/img/app.png,
the committed copy."""

from __future__ import annotations

import os
import pathlib
import shutil

from tests.demo.test_demo import running_demo
from tests.support import app_host, browser
from tests.viewer.conftest import ARTIFACTS
from tests.viewer.showing import shown

DOCS_IMAGE = pathlib.Path(__file__).resolve().parents[2] / "docs" / "img" / "app.png"
P99 = (
    "histogram_quantile(0.99, sum by (le, service) "
    "(rate(http_request_duration_seconds_bucket[5m])))"
)


async def test_the_readmes_screenshot_is_the_app_drawing_the_demos_checkout_incident(
    chromium: browser.Chromium, tmp_path: pathlib.Path
) -> None:
    with running_demo(tmp_path) as demo, app_host.serving_host(demo.mcp_url) as base:
        async with await browser.Tab.open(chromium, base, width=820) as tab:
            await tab.until("document.body && document.body.dataset.host", bool)
            arguments = {"promql": P99, "datasource_id": "demo-prometheus", "start": "now-3h"}
            _, state = await shown(tab, "query_range", arguments)
            assert state["status"] == "ready"
            assert state["seriesCount"] == 3
            assert state["unit"] == "seconds"
            assert {s["name"] for s in state["series"]} == {
                'service="cart"',
                'service="catalog"',
                'service="checkout"',
            }
            shot = ARTIFACTS / "readme.png"
            await tab.screenshot(shot)
    if os.environ.get("UPDATE_SCREENSHOTS"):
        DOCS_IMAGE.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, DOCS_IMAGE)
    assert DOCS_IMAGE.is_file(), "UPDATE_SCREENSHOTS=1 writes the README's copy"
