"""Which sources `proms-mcp` runs: files only, or files plus the Kubernetes operator."""

from __future__ import annotations

import pathlib

import pytest
from proms_operator import main, runtime

from mcp_server.core import errors, settings


def config(**operator: object) -> settings.Settings:
    return settings.Settings.model_validate({"operator": operator})


def test_auto_mode_without_a_cluster_runs_standalone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert main.extensions(config()) == ()


def test_auto_mode_with_a_kubeconfig_runs_the_operator(tmp_path: pathlib.Path) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    (extension,) = main.extensions(config(kubeconfig=kubeconfig))
    assert isinstance(extension, runtime.KubernetesSources)


def test_standalone_mode_ignores_a_kubeconfig(tmp_path: pathlib.Path) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    assert main.extensions(config(kubeconfig=kubeconfig, mode="standalone")) == ()


def test_operator_mode_without_a_cluster_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(errors.ConfigurationError, match="KUBECONFIG"):
        main.extensions(config(mode="operator", kubeconfig=pathlib.Path("/nonexistent")))
