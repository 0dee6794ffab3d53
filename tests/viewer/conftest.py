"""The MCP App in a real browser: Debian's headless Chromium, our ext-apps host page on a
local origin that proxies /mcp/ to proms-mcp, and the test Prometheus behind it.

A missing Chromium fails the run in CI (CI=1) and skips elsewhere with how to install it."""

from __future__ import annotations

import contextlib
import os
import pathlib
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.support import app_host, browser
from tests.support.harness import RunningServer

ARTIFACTS = pathlib.Path(__file__).parent / "artifacts"
"""Screenshots, one per case (gitignored; CI keeps them as artifacts)."""


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[browser.Chromium]:
    try:
        browser.find_chromium()
    except browser.ChromiumUnavailable as missing:
        if os.environ.get("CI"):
            pytest.fail(f"{missing} (CI=1: a missing browser is a failure)")
        pytest.skip(str(missing))
    app_host.built()
    with browser.running_chromium(tmp_path_factory.mktemp("chromium") / "profile") as running:
        yield running


@pytest.fixture(scope="module")
def host(server: RunningServer) -> Iterator[str]:
    with app_host.serving_host(server.mcp_url) as base:
        yield base


@contextlib.asynccontextmanager
async def host_tab(chromium: browser.Chromium, host: str) -> AsyncIterator[browser.Tab]:
    """A tab on the host page at `host`, once the page is ready to run tools."""
    async with await browser.Tab.open(chromium, host) as opened:
        await opened.until("document.body && document.body.dataset.host", bool)
        yield opened


@pytest.fixture
async def tab(chromium: browser.Chromium, host: str) -> AsyncIterator[browser.Tab]:
    async with host_tab(chromium, host) as opened:
        yield opened
