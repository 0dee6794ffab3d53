"""Our reader of in-cluster configuration and kubeconfig files: what kubectl reads, against
real TLS servers (trustme) where certificates are involved, and refusals that say why."""

from __future__ import annotations

import base64
import contextlib
import datetime
import json
import pathlib
import ssl
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import trustme
import yaml

from mcp_server.kube import kubeclient, kubeconfig
from tests.support import harness


def write(path: pathlib.Path, cluster: dict[str, Any], user: dict[str, Any]) -> pathlib.Path:
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "c",
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
        "clusters": [{"name": "k", "cluster": cluster}],
        "users": [{"name": "u", "user": user}],
    }
    path.write_text(yaml.safe_dump(document))
    return path


@contextlib.contextmanager
def https_api(ca: trustme.CA, *names: str, client_ca: trustme.CA | None = None) -> Iterator[str]:
    """An HTTPS server with a certificate for `names`; with `client_ca`, it requires a client
    certificate issued by it."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    if client_ca is not None:
        client_ca.configure_trust(context)
        context.verify_mode = ssl.CERT_REQUIRED
    with harness.http_server(harness.ScalarBackend, tls=context) as url:
        yield url


async def reachable(path: pathlib.Path) -> None:
    api = kubeclient.KubeApi.connect(path)
    try:
        await api.check_reachable()
    finally:
        await api.aclose()


async def test_a_token_is_sent_as_a_bearer_token(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path / "kubeconfig", {"server": "https://api.test:6443"}, {"token": "t-1"})
    api = kubeclient.KubeApi.connect(path)
    assert (api.server, await api.token(), api.config.rotating) == (
        "https://api.test:6443",
        "t-1",
        False,
    )
    await api.aclose()


async def test_a_token_file_relative_to_the_kubeconfig_is_read_again_after_a_minute(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "token").write_text("first\n")
    path = write(tmp_path / "kubeconfig", {"server": "https://api.test"}, {"tokenFile": "token"})
    config = kubeconfig.load(path)
    assert config.tokens is not None and config.rotating
    assert await config.tokens.token() == "first"
    (tmp_path / "token").write_text("second\n")
    assert await config.tokens.token() == "first"  # within the minute
    monkeypatch.setattr(kubeconfig, "TOKEN_FILE_SECONDS", 0.0)
    assert await config.tokens.token() == "second"


def plugin(tmp_path: pathlib.Path, answer: dict[str, Any] | None, *, exit_code: int = 0) -> str:
    """An exec credential plugin script that counts its runs and records what it was given."""
    script = tmp_path / "bin" / "credentials"
    script.parent.mkdir(exist_ok=True)
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, pathlib, sys\n"
        f"runs = pathlib.Path({str(tmp_path / 'runs')!r})\n"
        "runs.write_text(str(int(runs.read_text() or 0) + 1) if runs.exists() else '1')\n"
        f"pathlib.Path({str(tmp_path / 'seen.json')!r}).write_text(json.dumps("
        "{'info': json.loads(os.environ['KUBERNETES_EXEC_INFO']), 'arg': sys.argv[1:], "
        "'team': os.environ.get('TEAM')}))\n"
        "print('plugin says no', file=sys.stderr)\n"
        f"print({json.dumps(json.dumps(answer))})\n"
        f"sys.exit({exit_code})\n"
    )
    script.chmod(0o755)
    return "bin/credentials"  # relative to the kubeconfig's folder, as kubectl reads it


async def test_an_exec_plugin_gives_the_token_and_runs_again_before_it_expires(
    tmp_path: pathlib.Path,
) -> None:
    soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=30)
    answer = {
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "status": {"token": "exec-token", "expirationTimestamp": soon.isoformat()},
    }
    exec_spec = {
        "apiVersion": "client.authentication.k8s.io/v1",
        "command": plugin(tmp_path, answer),
        "args": ["--cluster", "prod"],
        "env": [{"name": "TEAM", "value": "sre"}],
    }
    path = write(tmp_path / "kubeconfig", {"server": "https://api.test"}, {"exec": exec_spec})
    config = kubeconfig.load(path)
    assert config.tokens is not None and config.rotating
    assert await config.tokens.token() == "exec-token"
    assert await config.tokens.token() == "exec-token"
    # It expires within EXEC_EARLY_SECONDS: every use runs the plugin again.
    assert (tmp_path / "runs").read_text() == "2"
    seen = json.loads((tmp_path / "seen.json").read_text())
    assert seen["info"]["kind"] == "ExecCredential" and seen["info"]["spec"]["interactive"] is False
    assert (seen["arg"], seen["team"]) == (["--cluster", "prod"], "sre")


async def test_a_failing_exec_plugin_is_an_api_error_with_its_message(
    tmp_path: pathlib.Path,
) -> None:
    exec_spec = {"command": plugin(tmp_path, None, exit_code=1)}
    path = write(tmp_path / "kubeconfig", {"server": "https://api.test"}, {"exec": exec_spec})
    api = kubeclient.KubeApi.connect(path)
    with pytest.raises(kubeclient.ApiError, match="exit code 1: plugin says no"):
        await api.check_reachable()
    await api.aclose()


async def test_client_certificates_and_the_ca_are_used_from_files_or_data(
    tmp_path: pathlib.Path,
) -> None:
    ca, clients = trustme.CA(), trustme.CA()
    client = clients.issue_cert("proms-mcp")
    (tmp_path / "ca.crt").write_bytes(ca.cert_pem.bytes())
    (tmp_path / "client.crt").write_bytes(client.cert_chain_pems[0].bytes())
    (tmp_path / "client.key").write_bytes(client.private_key_pem.bytes())

    def data(pem: bytes) -> str:
        return base64.b64encode(pem).decode()

    with https_api(ca, "127.0.0.1", client_ca=clients) as url:
        files = {"client-certificate": "client.crt", "client-key": "client.key"}
        await reachable(
            write(tmp_path / "files", {"server": url, "certificate-authority": "ca.crt"}, files)
        )
        inline = {
            "client-certificate-data": data(client.cert_chain_pems[0].bytes()),
            "client-key-data": data(client.private_key_pem.bytes()),
        }
        cluster = {"server": url, "certificate-authority-data": data(ca.cert_pem.bytes())}
        await reachable(write(tmp_path / "inline", cluster, inline))
        # TLS 1.3 sends the server's refusal after the handshake (a bare ssl error), unless
        # its reset of the connection arrives first: either way an ApiError that says so.
        refused = "the server wants a client certificate and got none|the connection was reset"
        with pytest.raises(kubeclient.ApiError, match=f"cannot reach .*: ({refused})$"):
            await reachable(
                write(
                    tmp_path / "no-client", {"server": url, "certificate-authority": "ca.crt"}, {}
                )
            )


async def test_tls_server_name_is_the_name_the_certificate_is_checked_against(
    tmp_path: pathlib.Path,
) -> None:
    ca = trustme.CA()
    (tmp_path / "ca.crt").write_bytes(ca.cert_pem.bytes())
    with https_api(ca, "kubernetes.test") as url:
        cluster = {"server": url, "certificate-authority": "ca.crt"}
        with pytest.raises(
            kubeclient.ApiError, match="TLS: the server's certificate is not trusted"
        ):
            await reachable(write(tmp_path / "by-address", cluster, {}))
        await reachable(
            write(tmp_path / "by-name", cluster | {"tls-server-name": "kubernetes.test"}, {})
        )


def test_in_a_pod_the_service_account_is_used(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "token").write_text("pod-token")
    (tmp_path / "ca.crt").write_bytes(trustme.CA().cert_pem.bytes())
    monkeypatch.setattr(kubeconfig, "SERVICE_ACCOUNT", tmp_path)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "fd00::1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "6443")
    config = kubeconfig.load(pathlib.Path("/ignored/in/a/pod"))
    assert (config.server, config.origin) == (
        "https://[fd00::1]:6443",
        "the in-cluster service account",
    )
    assert config.ca is not None and config.rotating


@pytest.mark.parametrize(
    ("user", "refused"),
    [
        ({"auth-provider": {"name": "oidc"}}, "auth-provider is not supported"),
        ({"username": "admin", "password": "x"}, "username is not supported"),
        ({"client-key-data": "not base64!"}, "client-key-data: not base64-encoded PEM"),
        ({"client-certificate": "missing.crt"}, "missing.crt: no such file"),
    ],
)
def test_what_cannot_be_used_is_refused_naming_the_file_and_the_field(
    tmp_path: pathlib.Path, user: dict[str, Any], refused: str
) -> None:
    path = write(tmp_path / "kubeconfig", {"server": "https://api.test"}, user)
    with pytest.raises(kubeconfig.Unusable) as caught:
        kubeconfig.load(path)
    assert str(caught.value).startswith(f"KUBECONFIG {path}: ") and refused in str(caught.value)
