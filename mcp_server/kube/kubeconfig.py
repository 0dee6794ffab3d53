"""Where the Kubernetes API is, and who proms-mcp is to it: the pod's service account, or
the current context of a kubeconfig file.

Our own reader rather than kubernetes-asyncio's: importing any part of that package imports
its whole generated client (844 API and model modules), 66 MiB of memory and over a second
of start-up for a few fields of YAML, and kopf imports it too whenever it is installed.
What is read:

- in a pod: KUBERNETES_SERVICE_HOST/PORT, the service account's CA and token (read again
  every minute: the kubelet rotates it);
- a kubeconfig's current context. Cluster: `server`, `certificate-authority` or
  `certificate-authority-data`, `insecure-skip-tls-verify`, `tls-server-name`. User:
  `token`, `tokenFile` (read again every minute), `client-certificate`/`client-key` (or
  their `-data`), and `exec` credential plugins (client.authentication.k8s.io/v1 and
  v1beta1) returning a token, run again shortly before its `expirationTimestamp`.
  Relative paths are relative to the kubeconfig's folder, as kubectl reads them.

Refused with the reason (`Unusable`, naming the file): `auth-provider` (the removed gcp,
azure and oidc plugins, replaced by exec plugins), `username`/`password`, `proxy-url`, and
exec plugins that return a client certificate.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime
import json
import os
import pathlib
import ssl
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import certifi
import yaml

SERVICE_ACCOUNT = pathlib.Path("/var/run/secrets/kubernetes.io/serviceaccount")
DEFAULT_KUBECONFIG = "~/.kube/config"
TOKEN_FILE_SECONDS = 60.0
"""How long a token read from a file is used before the file is read again (client-go's
interval: the kubelet rotates projected tokens well before they expire)."""
EXEC_TIMEOUT_SECONDS = 60.0
EXEC_EARLY_SECONDS = 60.0
"""An exec credential is renewed this long before it expires, so no request carries a token
that expires on its way."""
EXEC_UNDATED_SECONDS = 300.0
"""How long an exec credential without `expirationTimestamp` is reused."""


class Unusable(Exception):
    """The configuration cannot be used; the message names the setting or file, and why."""


@dataclass(frozen=True, slots=True)
class Pem:
    """PEM text, and where it came from, for messages (`KUBECONFIG /x: client-key /y`)."""

    text: str
    source: str


class Tokens(Protocol):
    @property
    def rotating(self) -> bool:
        """Whether the token changes over time (the caller asks again before each use)."""
        ...

    async def token(self) -> str: ...


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """Everything a client of the API needs."""

    server: str
    origin: str
    """Where the address and credentials came from, for messages (a setting and a path)."""
    verify: bool = True
    ca: Pem | None = None
    """None: the usual public CAs (certifi's bundle)."""
    client_certificate: Pem | None = None
    client_key: Pem | None = None
    server_name: str | None = None
    """The name to verify the server's certificate against, if not the host of `server`."""
    tokens: Tokens | None = None

    @property
    def rotating(self) -> bool:
        return self.tokens is not None and self.tokens.rotating

    def ssl_context(self) -> ssl.SSLContext | bool:
        """httpx's `verify`; raises Unusable naming a certificate or key that is not one."""
        if not self.verify and self.client_certificate is None:
            return False
        try:
            if self.ca is not None:
                context = ssl.create_default_context(cadata=self.ca.text)
            else:
                context = ssl.create_default_context(cafile=certifi.where())
        except (ssl.SSLError, ValueError):
            source = self.ca.source if self.ca is not None else "certifi's CA bundle"
            raise Unusable(f"{source}: not a PEM certificate") from None
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.client_certificate is not None and self.client_key is not None:
            _load_client_pair(context, self.client_certificate, self.client_key)
        return context


def in_cluster() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and (SERVICE_ACCOUNT / "token").exists()


def pod_namespace() -> str | None:
    """The namespace of the pod we run in (its service account's), None outside a pod."""
    try:
        return (SERVICE_ACCOUNT / "namespace").read_text().strip() or None
    except OSError:
        return None


def load(kubeconfig: pathlib.Path | None) -> ClientConfig:
    """In a pod, the service account; else the kubeconfig (KUBECONFIG, or ~/.kube/config)."""
    if in_cluster():
        return _in_cluster()
    if kubeconfig is not None:
        return _from_file(kubeconfig, f"KUBECONFIG {kubeconfig}")
    default = pathlib.Path(DEFAULT_KUBECONFIG).expanduser()
    return _from_file(default, f"KUBECONFIG (unset, so {default})")


def read_pem(path: pathlib.Path, source: str, what: str = "certificate") -> Pem:
    """A PEM file named by a setting (`source`, such as "OPENSHIFT_CA_CERT_PATH /x")."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise Unusable(f"{source}: {_file_problem(exc)}") from None
    return _checked_pem(text, source, what)


# --- in a pod ----------------------------------------------------------------------------


def _in_cluster() -> ClientConfig:
    origin = "the in-cluster service account"
    host = os.environ["KUBERNETES_SERVICE_HOST"]
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    server = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
    ca = read_pem(SERVICE_ACCOUNT / "ca.crt", f"{origin}: {SERVICE_ACCOUNT / 'ca.crt'}")
    return ClientConfig(server, origin, ca=ca, tokens=FileToken(SERVICE_ACCOUNT / "token", origin))


# --- a kubeconfig file -------------------------------------------------------------------


def _from_file(path: pathlib.Path, origin: str) -> ClientConfig:
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise Unusable(f"{origin}: {_file_problem(exc)}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise Unusable(f"{origin}: not valid YAML{where}") from None
    if not isinstance(document, dict):
        raise Unusable(f"{origin}: not a kubeconfig (empty, or not a YAML mapping)")
    current = document.get("current-context")
    if not current:
        raise Unusable(f"{origin}: no current-context")
    context = _named(document, "contexts", current, origin)
    cluster = _named(document, "clusters", context.get("cluster"), origin)
    user = _named(document, "users", context.get("user"), origin) if context.get("user") else {}
    folder = path.parent
    server = cluster.get("server")
    if not isinstance(server, str) or not server.startswith(("https://", "http://")):
        raise Unusable(f"{origin}: cluster {context.get('cluster')!r} has no http(s) server")
    for refused, why in _REFUSED.items():
        if refused in cluster or refused in user:
            raise Unusable(f"{origin}: {refused} is not supported ({why})")
    return ClientConfig(
        server=server,
        origin=origin,
        verify=not cluster.get("insecure-skip-tls-verify", False),
        ca=_pem(cluster, "certificate-authority", folder, origin),
        client_certificate=_pem(user, "client-certificate", folder, origin),
        client_key=_pem(user, "client-key", folder, origin),
        server_name=cluster.get("tls-server-name") or None,
        tokens=_tokens(user, folder, origin),
    )


_REFUSED = {
    "auth-provider": "the gcp, azure and oidc auth providers are gone from kubectl too; "
    "use their exec plugins (gke-gcloud-auth-plugin, kubelogin)",
    "username": "basic authentication; use a token or a client certificate",
    "proxy-url": "proms-mcp connects to the API directly",
}


def _named(document: Mapping[str, Any], kind: str, name: object, origin: str) -> dict[str, Any]:
    for item in document.get(kind) or ():
        if isinstance(item, dict) and item.get("name") == name:
            section = item.get(kind.removesuffix("s"))
            return section if isinstance(section, dict) else {}
    raise Unusable(f"{origin}: no {kind.removesuffix('s')} named {name!r}")


def _pem(section: Mapping[str, Any], key: str, folder: pathlib.Path, origin: str) -> Pem | None:
    what = "private key" if key.endswith("-key") else "certificate"
    data = section.get(f"{key}-data")
    if data:
        source = f"{origin}: {key}-data"
        try:
            text = base64.b64decode(str(data), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise Unusable(f"{source}: not base64-encoded PEM") from None
        return _checked_pem(text, source, what)
    if section.get(key):
        path = folder / pathlib.Path(str(section[key])).expanduser()
        return read_pem(path, f"{origin}: {key} {path}", what)
    return None


def _checked_pem(text: str, source: str, what: str) -> Pem:
    if "-----BEGIN " not in text:
        raise Unusable(f"{source}: not a PEM {what}")
    return Pem(text.strip() + "\n", source)


def _tokens(user: Mapping[str, Any], folder: pathlib.Path, origin: str) -> Tokens | None:
    if user.get("token"):
        return StaticToken(str(user["token"]))
    if user.get("tokenFile"):
        return FileToken(folder / pathlib.Path(str(user["tokenFile"])).expanduser(), origin)
    if isinstance(user.get("exec"), dict):
        return ExecToken(user["exec"], folder, origin)
    return None


# --- tokens ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StaticToken:
    value: str
    rotating = False

    async def token(self) -> str:
        return self.value


class FileToken:
    """A token file, read again every TOKEN_FILE_SECONDS (the kubelet rotates it)."""

    rotating = True

    def __init__(self, path: pathlib.Path, origin: str) -> None:
        self._path = path
        self._origin = origin
        self._value = ""
        self._read_at = -TOKEN_FILE_SECONDS

    async def token(self) -> str:
        if time.monotonic() - self._read_at >= TOKEN_FILE_SECONDS:
            try:
                self._value = self._path.read_text().strip()
            except (OSError, UnicodeDecodeError) as exc:
                if not self._value:  # a token read before stays in use
                    raise Unusable(
                        f"{self._origin}: token file {self._path}: {_file_problem(exc)}"
                    ) from None
            self._read_at = time.monotonic()
        return self._value


class ExecToken:
    """A client.authentication.k8s.io exec plugin, run again before its token expires."""

    rotating = True

    def __init__(self, spec: Mapping[str, Any], folder: pathlib.Path, origin: str) -> None:
        command = str(spec.get("command") or "")
        if not command:
            raise Unusable(f"{origin}: exec has no command")
        # kubectl: a command with a path separator is relative to the kubeconfig's folder.
        self._command = str(folder / command) if os.sep in command else command
        self._arguments = [str(a) for a in spec.get("args") or ()]
        self._env = {
            str(e["name"]): str(e.get("value", ""))
            for e in spec.get("env") or ()
            if isinstance(e, dict) and "name" in e
        }
        self._api_version = str(spec.get("apiVersion") or "client.authentication.k8s.io/v1")
        self._origin = origin
        self._value = ""
        self._renew_at = 0.0
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        async with self._lock:
            if not self._value or time.time() >= self._renew_at:
                self._value, self._renew_at = await self._run()
            return self._value

    async def _run(self) -> tuple[str, float]:
        where = f"{self._origin}: exec plugin {self._command}"
        info = {
            "apiVersion": self._api_version,
            "kind": "ExecCredential",
            "spec": {"interactive": False},
        }
        environment = {**os.environ, **self._env, "KUBERNETES_EXEC_INFO": json.dumps(info)}
        try:
            process = await asyncio.create_subprocess_exec(
                self._command,
                *self._arguments,
                env=environment,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            output, errors = await asyncio.wait_for(process.communicate(), EXEC_TIMEOUT_SECONDS)
        except TimeoutError:
            process.kill()
            raise Unusable(f"{where}: no answer within {EXEC_TIMEOUT_SECONDS:g} s") from None
        except OSError as exc:
            raise Unusable(f"{where}: {_file_problem(exc)}") from None
        if process.returncode != 0:
            said = errors.decode(errors="replace").strip().splitlines()
            raise Unusable(f"{where}: exit code {process.returncode}: {said[-1] if said else ''}")
        try:
            status = json.loads(output)["status"]
            value = str(status["token"])
        except (ValueError, KeyError, TypeError):
            raise Unusable(f"{where}: the answer is not an ExecCredential with a token") from None
        expiry = status.get("expirationTimestamp")
        if expiry:
            moment = datetime.datetime.fromisoformat(str(expiry).replace("Z", "+00:00"))
            return value, moment.timestamp() - EXEC_EARLY_SECONDS
        return value, time.time() + EXEC_UNDATED_SECONDS


# --- certificates and files --------------------------------------------------------------


def _load_client_pair(context: ssl.SSLContext, certificate: Pem, key: Pem) -> None:
    """ssl loads key pairs only from files: a private file, removed at once."""
    with tempfile.TemporaryDirectory(prefix="proms-mcp-kube-") as folder:
        path = os.path.join(folder, "pair.pem")
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(certificate.text + key.text)
        try:
            context.load_cert_chain(path)
        except (ssl.SSLError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or str(exc)
            raise Unusable(
                f"{certificate.source} and {key.source.rpartition(': ')[2]}: not a usable "
                f"certificate and key ({reason})"
            ) from None


def _file_problem(exc: OSError | UnicodeDecodeError) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "not a text file"
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    return (exc.strerror or str(exc)).lower()
