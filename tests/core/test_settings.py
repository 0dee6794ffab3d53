"""Settings from the environment, with the seed project's variable names."""

from __future__ import annotations

import pathlib

import pytest

from mcp_server.core import errors, settings


def test_a_bare_environment_gives_loopback_defaults() -> None:
    config = settings.from_environ({})
    assert config.server.host == "127.0.0.1"
    assert (config.server.port, config.server.health_metrics_port) == (8000, 8080)
    assert config.auth.mode is settings.AuthMode.NONE and not config.auth.mode_explicit
    assert config.prometheus.query_timeout_seconds == 30


def test_the_seed_variable_names_are_read() -> None:
    config = settings.from_environ(
        {
            "PORT": "9000",
            "HEALTH_METRICS_PORT": "9001",
            "LOG_LEVEL": "debug",
            "GRAFANA_DATASOURCES_PATH": "/etc/ds.yaml",
            "QUERY_TIMEOUT": "12.5",
            "AUTH_MODE": "NONE",
            "OPENSHIFT_API_URL": "https://api.example:6443",
            "OPENSHIFT_CA_CERT_PATH": "/var/run/ca.crt",
        }
    )
    assert config.server.port == 9000 and config.server.health_metrics_port == 9001
    assert config.logging.level == "DEBUG"
    assert config.sources.datasources_path == pathlib.Path("/etc/ds.yaml")
    assert config.sources.path_explicit
    assert config.prometheus.query_timeout_seconds == 12.5
    assert config.auth.mode is settings.AuthMode.NONE and config.auth.mode_explicit
    assert config.auth.api_url == "https://api.example:6443"
    assert config.auth.ca_cert_path == pathlib.Path("/var/run/ca.crt")


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"PORT": "eighty"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"QUERY_TIMEOUT": "0"}, "QUERY_TIMEOUT"),
        ({"AUTH_MODE": "maybe"}, "AUTH_MODE"),
        ({"LOG_LEVEL": "chatty"}, "LOG_LEVEL"),
        ({"HOST": "0.0.0.0"}, "AUTH_MODE"),
        ({"HOST": "0.0.0.0", "AUTH_MODE": "active"}, "ALLOWED_HOSTS"),
        ({"ALLOWED_HOSTS": "https://mcp.example.com"}, "ALLOWED_HOSTS"),
        ({"ALLOWED_HOSTS": "mcp.example.com/mcp"}, "ALLOWED_HOSTS"),
        ({"ALLOWED_ORIGINS": "agents.example.com"}, "ALLOWED_ORIGINS"),
        ({"ALLOWED_ORIGINS": "https://agents.example.com/app"}, "ALLOWED_ORIGINS"),
        ({"MAX_CALLS_PER_CALLER": "0"}, "MAX_CALLS_PER_CALLER"),
        ({"PORT": "9000", "HEALTH_METRICS_PORT": "9000"}, "HEALTH_METRICS_PORT"),
        ({"EGRESS_ALLOW": "10.0.0.0/8, not a host"}, "EGRESS_ALLOW"),
        ({"EGRESS_DENY": "300.1.2.3/8"}, "EGRESS_DENY"),
        ({"FORWARD_TOKEN_ALLOWED_URLS": "ftp://thanos"}, "FORWARD_TOKEN_ALLOWED_URLS"),
        ({"FORWARD_TOKEN_ALLOWED_URLS": "https://u:p@thanos"}, "FORWARD_TOKEN_ALLOWED_URLS"),
    ],
)
def test_bad_settings_are_refused_naming_the_variable(environ: dict[str, str], named: str) -> None:
    with pytest.raises(errors.ConfigurationError) as caught:
        settings.from_environ(environ)
    assert named in str(caught.value)


def test_serving_the_network_without_auth_needs_an_explicit_auth_mode_none() -> None:
    config = settings.from_environ({"HOST": "0.0.0.0", "AUTH_MODE": "none", "ALLOWED_HOSTS": "*"})
    assert config.server.host == "0.0.0.0"


def test_a_wide_bind_without_allowed_hosts_is_refused_in_one_line_that_says_what_to_set() -> None:
    with pytest.raises(errors.ConfigurationError) as caught:
        settings.from_environ({"HOST": "0.0.0.0", "AUTH_MODE": "active"})
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("HOST=0.0.0.0 is not a loopback address and ALLOWED_HOSTS is unset")
    assert "ALLOWED_HOSTS=*" in message


def test_allowed_hosts_and_origins_are_comma_separated_lists() -> None:
    config = settings.from_environ(
        {
            "HOST": "0.0.0.0",
            "AUTH_MODE": "active",
            "ALLOWED_HOSTS": " proms-mcp.proms.svc, proms-mcp.proms.svc:8000,[fd00::1]:8000 ,",
            "ALLOWED_ORIGINS": "https://agents.example.com,http://localhost:6274",
        }
    )
    assert config.server.allowed_hosts == (
        "proms-mcp.proms.svc",
        "proms-mcp.proms.svc:8000",
        "[fd00::1]:8000",
    )
    assert config.server.allowed_origins == ("https://agents.example.com", "http://localhost:6274")
    assert settings.from_environ({}).server.allowed_hosts == ()


def test_a_caller_may_have_8_calls_in_flight_unless_set_otherwise() -> None:
    assert settings.from_environ({}).server.max_calls_per_caller == 8
    assert settings.from_environ({"MAX_CALLS_PER_CALLER": "32"}).server.max_calls_per_caller == 32


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_hosts_need_no_auth_decision(host: str) -> None:
    assert settings.from_environ({"HOST": host}).server.host == host


def test_the_result_budget_and_resync_interval_are_read() -> None:
    config = settings.from_environ({"MAX_RESULT_TOKENS": "4000", "RESYNC_INTERVAL": "15"})
    assert config.server.max_result_tokens == 4000
    assert config.operator.resync_interval_seconds == 15.0
    with pytest.raises(errors.ConfigurationError, match="MAX_RESULT_TOKENS"):
        settings.from_environ({"MAX_RESULT_TOKENS": "50"})


def test_mcp_fast_path_is_on_unless_set_off() -> None:
    assert settings.from_environ({}).server.fast_path is True
    assert settings.from_environ({"MCP_FAST_PATH": "OFF"}).server.fast_path is False
    assert settings.from_environ({"MCP_FAST_PATH": "on"}).server.fast_path is True
    with pytest.raises(errors.ConfigurationError, match="MCP_FAST_PATH"):
        settings.from_environ({"MCP_FAST_PATH": "sometimes"})
