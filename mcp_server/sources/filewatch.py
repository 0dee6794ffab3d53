"""Serves a Grafana provisioning file or directory and reloads it when its content changes.

Polling the content (not inotify) is deliberate: Kubernetes updates mounted ConfigMaps by
swapping a symlink, which inotify watches on the file miss, and a few small files are cheap
to re-read. A document that cannot be parsed at all keeps the last good datasources in
service and is reported in logs, metrics and `/ready` (with the problems of the
configuration still served); at a cold start there is nothing to keep, and the source stays
not ready until a document parses. A bad entry in an otherwise good document is skipped and
reported while the rest load.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import pathlib
from collections.abc import Mapping

from ..core import errors, observability
from . import datasources, provisioning, readiness, registry

logger = logging.getLogger(__name__)

READINESS_NAME = "file"


class FileSource:
    def __init__(
        self,
        path: pathlib.Path,
        live: registry.Registry,
        status: readiness.Readiness,
        *,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.path = path
        self._registry = live
        self._status = status
        self._env = dict(os.environ if env is None else env)
        self._source = datasources.Source(datasources.SourceKind.FILE, str(path))
        self._fingerprint: str | None = None
        self._last_good: registry.Contribution | None = None
        status.register(READINESS_NAME)

    def check_readable(self) -> None:
        """Refuse a start whose GRAFANA_DATASOURCES_PATH cannot be read at all.

        Only at start-up: later, a path that becomes unreadable keeps the last good
        datasources in service (and /ready says why), as a broken edit does.
        """
        try:
            self.path.stat()
            self._fingerprint_now()
        except FileNotFoundError as exc:
            missing = "" if exc.filename in (None, str(self.path)) else f" ({exc.filename})"
            raise errors.ConfigurationError(
                f"GRAFANA_DATASOURCES_PATH {self.path} does not exist{missing}"
            ) from None
        except OSError as exc:
            where = "" if exc.filename in (None, str(self.path)) else f" ({exc.filename})"
            reason = (exc.strerror or str(exc)).lower()
            raise errors.ConfigurationError(
                f"GRAFANA_DATASOURCES_PATH {self.path} cannot be read{where}: {reason}"
            ) from None

    def reload(self) -> bool:
        """Re-read the path; True when something new was applied."""
        try:
            fingerprint = self._fingerprint_now()
        except OSError as exc:
            return self._fail(f"cannot read {self.path}: {exc.strerror or exc}")
        if fingerprint == self._fingerprint:
            return False
        try:
            loaded = provisioning.load_path(self.path, self._env)
        except provisioning.ProvisioningError as exc:
            return self._fail(str(exc), fingerprint=fingerprint)
        self._fingerprint = fingerprint
        fresh = registry.Contribution(
            source=self._source, datasources=loaded.datasources, problems=loaded.problems
        )
        contribution = registry.keep_last_good(self._last_good, fresh)
        self._registry.put(contribution)
        if registry.broken(fresh):
            message = "; ".join(str(p) for p in loaded.problems if p.entry is None)
            if contribution is not fresh:
                return self._fail(f"kept the last good configuration: {message}", counted=True)
            # No good configuration yet: serve what there is, say what is wrong, and stay
            # not ready, so a rollout with a broken file stops instead of serving nothing.
            return self._fail(f"no valid configuration yet: {message}", counted=True)
        self._last_good = contribution
        for problem in loaded.problems:
            logger.error("datasource not served: %s", problem)
        logger.info(
            "loaded datasources from %s",
            self.path,
            extra={"datasources": len(loaded.datasources), "problems": len(loaded.problems)},
        )
        observability.CONFIG_RELOADS.labels("file", "success").inc()
        self._status.succeeded(READINESS_NAME)
        return True

    def _fail(self, message: str, *, fingerprint: str | None = None, counted: bool = False) -> bool:
        if fingerprint is not None:
            self._fingerprint = fingerprint
        logger.error("datasource configuration not applied: %s", message)
        observability.CONFIG_RELOADS.labels("file", "failure").inc()
        self._status.failed(READINESS_NAME, message)
        return counted

    def _fingerprint_now(self) -> str:
        digest = hashlib.sha256()
        paths = sorted(self.path.iterdir()) if self.path.is_dir() else [self.path]
        for item in paths:
            if item.is_file():
                digest.update(str(item).encode())
                digest.update(item.read_bytes())
        return digest.hexdigest()

    async def watch(self, interval: float) -> None:
        """Poll until cancelled at shutdown."""
        while True:
            await asyncio.sleep(interval)
            self._check_quietly()  # in the loop: a few small files, and publishing wants the loop

    def _check_quietly(self) -> None:
        try:
            self.reload()
        except Exception:  # a reload bug must not stop future reloads
            logger.exception("reloading %s failed unexpectedly", self.path)
