"""The app's pure parts (units, legend, colours, grid, notice, firing runs, what to ask
chart_series), tested in Node without a browser: `node --test viewer/test/`."""

from __future__ import annotations

import pathlib
import shutil
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_the_apps_shaping_passes_its_node_tests() -> None:
    node = shutil.which("node") or shutil.which("nodejs")
    assert node, "node is installed with npm (make prerequisites)"
    ran = subprocess.run(
        [node, "--test", "viewer/test/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout[-4000:] + ran.stderr[-2000:]
    assert "# fail 0" in ran.stdout
