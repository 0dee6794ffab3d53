"""The Alertmanager the alerting tests start: a missing binary is a failure that says how
to install one, never a skip."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import alertmanager_process


def test_alertmanager_bin_pointing_at_a_missing_file_raises_a_helpful_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALERTMANAGER_BIN", str(tmp_path / "nope"))
    with pytest.raises(alertmanager_process.AlertmanagerUnavailable, match="ALERTMANAGER_BIN"):
        alertmanager_process.find_binary()


def test_no_alertmanager_on_path_names_the_package_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("ALERTMANAGER_BIN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(
        alertmanager_process.AlertmanagerUnavailable, match="prometheus-alertmanager"
    ):
        alertmanager_process.find_binary()
