"""TLS towards backends: one SSL context per distinct TLS setting of a datasource.

Creating a context costs tens of milliseconds (loading CA bundles), so the common case, a
datasource with default TLS settings, shares one context verified against certifi's bundle.
"""

from __future__ import annotations

import functools
import os
import ssl
import tempfile
from dataclasses import replace

import certifi
import pydantic

from ..core import errors
from ..sources import datasources


def context(tls: datasources.TLSSettings) -> ssl.SSLContext:
    """The shared default context unless something differs from it (creating one costs
    tens of milliseconds). `serverName` is applied per request (`server_hostname`)."""
    if replace(tls, server_name=None) == datasources.TLSSettings():
        return _default_ssl_context()
    if tls.insecure_skip_verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif tls.ca_pem is not None:
        context = ssl.create_default_context(cadata=tls.ca_pem.get_secret_value())
    else:
        context = ssl.create_default_context()
    if tls.client_cert_pem is not None and tls.client_key_pem is not None:
        _load_client_pair(context, tls.client_cert_pem.get_secret_value(), tls.client_key_pem)
    return context


def _load_client_pair(context: ssl.SSLContext, cert_pem: str, key_pem: pydantic.SecretStr) -> None:
    """ssl only loads key pairs from files: write them to a private file and remove it at once."""
    with tempfile.TemporaryDirectory(prefix="proms-mcp-tls-") as folder:
        path = os.path.join(folder, "pair.pem")
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(cert_pem.strip() + "\n" + key_pem.get_secret_value().strip() + "\n")
        try:
            context.load_cert_chain(path)
        except (ssl.SSLError, ValueError) as exc:
            raise errors.ConfigurationError(
                "the TLS client certificate and key do not form a valid pair"
            ) from exc


@functools.cache
def _default_ssl_context() -> ssl.SSLContext:
    """Verification against certifi's CA bundle, as httpx did: not every image has one."""
    return ssl.create_default_context(cafile=certifi.where())
