"""Start a real Alertmanager for tests and benchmarks.

The binary is Debian's ``prometheus-alertmanager`` package (0.25; or ``$ALERTMANAGER_BIN``).
It runs on a loopback port with a private storage directory and no clustering (an empty
``--cluster.listen-address``, else it gossips on 0.0.0.0:9094), with receivers that notify
nobody, so nothing leaves the machine::

    with running_alertmanager(tmp_path) as am:
        httpx.get(f"{am.url}/api/v2/alerts")

The routing tree sends every alert to ``default``, and alerts with ``severity="critical"``
also to ``pager`` (``continue``), so an alert can have two receivers. Inhibition rules are
the caller's (:data:`INHIBIT_RULES` for the alerting fixture). Silences are made through the
API with :func:`create_silence`, as an operator would make them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import ssl
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support import ports, prometheus_process

START_TIMEOUT_S = 10.0
_PORT_ATTEMPTS = 3
_INSTALL_HINT = "apt-get install prometheus-alertmanager, or set ALERTMANAGER_BIN"


class AlertmanagerUnavailable(Exception):
    """No usable Alertmanager binary, or it failed to start."""


@dataclass(frozen=True)
class RunningAlertmanager:
    url: str
    port: int
    version: str
    pid: int


def find_binary() -> Path:
    """``$ALERTMANAGER_BIN``, else Debian's ``prometheus-alertmanager``, else ``alertmanager``."""
    configured = os.environ.get("ALERTMANAGER_BIN")
    if configured:
        path = Path(configured)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise AlertmanagerUnavailable(f"ALERTMANAGER_BIN={path} is not an executable file")
        return path
    for name in ("prometheus-alertmanager", "alertmanager"):
        found = shutil.which(name)
        if found:
            return Path(found)
    raise AlertmanagerUnavailable(f"no Alertmanager binary on PATH; {_INSTALL_HINT}")


def config(
    inhibit_rules: Sequence[Mapping[str, object]] = (), owner: str = "fixture"
) -> dict[str, object]:
    """Receivers without integrations: routing and grouping happen, notifying does not. The
    unused receiver `owner` tells this Alertmanager from another one on the same port."""
    return {
        "route": {
            "receiver": "default",
            "group_by": ["alertname"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
            "routes": [
                {"matchers": ['severity="critical"'], "receiver": "pager", "continue": True},
                {"matchers": ['severity="critical"'], "receiver": "default"},
            ],
        },
        "receivers": [{"name": "default"}, {"name": "pager"}, {"name": owner}],
        "inhibit_rules": list(inhibit_rules),
    }


@contextlib.contextmanager
def running_alertmanager(
    workdir: Path,
    *,
    inhibit_rules: Sequence[Mapping[str, object]] = (),
    web: WebSecurity | None = None,
) -> Iterator[RunningAlertmanager]:
    """Start Alertmanager on 127.0.0.1 with ``inhibit_rules``; stopped when the block exits.
    With ``web``, it serves HTTPS and asks for basic auth (and a client certificate).

    Raises AlertmanagerUnavailable when the binary is missing or it does not come up.
    """
    binary = find_binary()
    workdir = Path(workdir).resolve()
    storage = workdir / "alertmanager-data"
    storage.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "alertmanager.yml"
    owner = f"fixture-{uuid.uuid4().hex}"
    config_path.write_text(json.dumps(config(inhibit_rules, owner), indent=2))  # JSON is YAML
    log_path = workdir / "alertmanager.log"
    flags, scheme, client_options = _web(workdir, web)
    with httpx.Client(timeout=2.0, trust_env=False, **client_options) as client:
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            port = ports.free_port()
            url = f"{scheme}://127.0.0.1:{port}"
            argv = [
                str(binary),
                f"--config.file={config_path}",
                f"--storage.path={storage}",
                f"--web.listen-address=127.0.0.1:{port}",
                f"--web.external-url={url}",
                "--cluster.listen-address=",
                "--log.level=warn",
                *flags,
            ]
            process, _ = prometheus_process.started(
                argv, workdir, log_path, f"attempt {attempt} on port {port}"
            )
            try:
                if not _wait_ready(client, url, process, owner):
                    if attempt < _PORT_ATTEMPTS:
                        continue
                    raise AlertmanagerUnavailable(
                        f"alertmanager did not start; log:\n{prometheus_process._tail(log_path)}"
                    )
                status = client.get(f"{url}/api/v2/status").json()
                yield RunningAlertmanager(
                    url=url,
                    port=port,
                    version=str(status["versionInfo"]["version"]),
                    pid=process.pid,
                )
                return
            finally:
                prometheus_process._stop(process)
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True)
class WebSecurity:
    """Alertmanager's own web configuration (`--web.config.file`): TLS with this certificate,
    basic auth for `username` (its bcrypt `password_hash`), client certificates signed by
    `client_ca` when set. The readiness checks use `ca`, the password and `client_cert`."""

    cert_file: Path
    key_file: Path
    ca_file: Path
    username: str
    password: str
    password_hash: str
    client_ca_file: Path | None = None
    client_cert: tuple[Path, Path] | None = None


def _web(workdir: Path, web: WebSecurity | None) -> tuple[list[str], str, dict[str, Any]]:
    """Extra flags, the URL scheme and the readiness client's options."""
    if web is None:
        return [], "http", {}
    tls: dict[str, str] = {"cert_file": str(web.cert_file), "key_file": str(web.key_file)}
    if web.client_ca_file is not None:
        tls |= {"client_ca_file": str(web.client_ca_file)}
        tls |= {"client_auth_type": "RequireAndVerifyClientCert"}
    document = {"tls_server_config": tls, "basic_auth_users": {web.username: web.password_hash}}
    path = workdir / "web.yml"
    path.write_text(json.dumps(document))
    context = ssl.create_default_context(cafile=str(web.ca_file))
    if web.client_cert is not None:
        context.load_cert_chain(*web.client_cert)
    options = {"verify": context, "auth": (web.username, web.password)}
    return [f"--web.config.file={path}"], "https", options


def _wait_ready(
    client: httpx.Client, url: str, process: subprocess.Popen[bytes], owner: str
) -> bool:
    """True once our Alertmanager answers (its configuration names `owner`); False when it
    exited (its port was taken) or another server answers on the port."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            if client.get(f"{url}/-/ready", timeout=0.5).status_code == 200:
                original = client.get(f"{url}/api/v2/status").json()["config"]["original"]
                return owner in str(original)
        except (httpx.TransportError, ValueError, KeyError, TypeError):
            pass
        time.sleep(0.02)
    raise AlertmanagerUnavailable(f"{url}/-/ready not 200 within {START_TIMEOUT_S}s")


def create_silence(
    alertmanager: RunningAlertmanager,
    matchers: Sequence[Mapping[str, object]],
    *,
    comment: str,
    created_by: str = "on-call",
    starts_in: float = -60.0,
    lasts: float = 3600.0,
) -> str:
    """A silence made through the API, as an operator makes one; returns its id.
    ``starts_in`` > 0 makes a pending silence."""
    now = time.time()
    body = {
        "matchers": [{"isRegex": False, "isEqual": True, **m} for m in matchers],
        "startsAt": _rfc3339(now + starts_in),
        "endsAt": _rfc3339(now + starts_in + lasts),
        "createdBy": created_by,
        "comment": comment,
    }
    response = httpx.post(
        f"{alertmanager.url}/api/v2/silences", json=body, trust_env=False, timeout=5
    )
    response.raise_for_status()
    return str(response.json()["silenceID"])


def expire_silence(alertmanager: RunningAlertmanager, silence_id: str) -> None:
    response = httpx.delete(
        f"{alertmanager.url}/api/v2/silence/{silence_id}", trust_env=False, timeout=5
    )
    response.raise_for_status()


def _rfc3339(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + (
        f".{int(seconds % 1 * 1000):03d}Z"
    )
