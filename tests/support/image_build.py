"""The proms-mcp image for tests/image/test_image.py and `make bench`: a base to build on, the CA
certificates the build needs, and `make image`.

    base = image_build.python_base(engine)
    built = image_build.build(engine, base, workdir)

The base is $PYTHON_IMAGE when it is set (the official `python:3.11-slim` where a registry is
reachable). Otherwise it is a stand-in made here from Debian packages, since no registry is
reachable on our CI machines: `mmdebstrap` makes a bookworm root filesystem with Debian's
Python 3.11 (the version python:3.11-slim has) and pip, trimmed as the slim images are (no
documentation, manuals or locales; the standard library without bytecode), and `docker
import` turns it into an image whose tag is a hash of this recipe. An engine that has that
tag already (the private engine keeps its images between runs) reuses it.

The build may need CA certificates the base does not have (a TLS-intercepting egress proxy's):
those the machine trusts beyond the base's bundle are handed to `make image` as BUILD_CA_FILE,
which only the builder stage sees.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import re
import ssl
import subprocess
import time
from dataclasses import dataclass

from tests.support import docker_engine

__all__ = [
    "BUNDLE",
    "Built",
    "base_ca_bundle",
    "build",
    "certificates",
    "extra_certificates",
    "python_base",
    "stand_in_tag",
]

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
"""Where Debian (and so python:3.11-slim) keeps the CA bundle."""

BUILD_TIMEOUT_S = 900.0

_SUITE = "bookworm"
_SOURCES = (
    "deb http://deb.debian.org/debian bookworm main",
    "deb http://deb.debian.org/debian bookworm-updates main",
    "deb http://deb.debian.org/debian-security bookworm-security main",
)
_STDLIB = "/usr/lib/python3.11"
_MMDEBSTRAP_OPTIONS = (
    "--variant=minbase",
    "--aptopt=APT::Install-Recommends false",
    # merged /usr the debootstrap way: the usrmerge package would bring perl (40 MB)
    "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
    # what Debian's slim images leave out
    *(f"--dpkgopt=path-exclude=/usr/share/{folder}/*" for folder in ("doc", "man", "info")),
    *(f"--dpkgopt=path-exclude=/usr/share/{folder}/*" for folder in ("locale", "lintian")),
    "--dpkgopt=path-include=/usr/share/doc/*/copyright",
    "--include=python3,python3-pip,ca-certificates",
    # what python:3.11-slim has or lacks: `python` on PATH, pip allowed to install into the
    # system, and no bytecode for the standard library
    '--customize-hook=ln -s /usr/bin/python3 "$1/usr/local/bin/python"',
    f'--customize-hook=rm -f "$1{_STDLIB}/EXTERNALLY-MANAGED"',
    f'--customize-hook=find "$1{_STDLIB}" "$1/usr/lib/python3/dist-packages" -depth '
    "-name __pycache__ -exec rm -rf {} +",
)
_IMPORT_CHANGES = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    'CMD ["python3"]',
)


@dataclass(frozen=True)
class Built:
    tag: str
    base: str
    seconds: float
    size_bytes: int
    extra_certificates: int
    """How many CA certificates the builder stage trusted beyond the base's."""


def stand_in_tag() -> str:
    """The stand-in base's tag: a hash of its recipe, so a changed recipe builds anew."""
    recipe = json.dumps([_SUITE, _SOURCES, _MMDEBSTRAP_OPTIONS, _IMPORT_CHANGES])
    return f"proms-mcp-base/python:3.11-slim-{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"


def python_base(engine: docker_engine.Engine) -> str:
    """$PYTHON_IMAGE, or the stand-in (made now unless the engine has it)."""
    chosen = os.environ.get("PYTHON_IMAGE", "").strip()
    if chosen:
        return chosen
    tag = stand_in_tag()
    if engine.docker("image", "inspect", tag, check=False).returncode == 0:
        return tag
    _make_stand_in(engine, tag)
    return tag


def _make_stand_in(engine: docker_engine.Engine, tag: str) -> None:
    """mmdebstrap's tarball streamed straight into `docker import`."""
    changes = [arg for change in _IMPORT_CHANGES for arg in ("--change", change)]
    label = "LABEL org.opencontainers.image.description=" + json.dumps(
        "stand-in for python:3.11-slim made from Debian packages (tests/support/image_build.py)"
    )
    with subprocess.Popen(
        ["mmdebstrap", "--quiet", *_MMDEBSTRAP_OPTIONS, _SUITE, "-", *_SOURCES],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as strap:
        assert strap.stdout is not None and strap.stderr is not None
        imported = subprocess.run(
            [engine.cli, "import", *changes, "--change", label, "-", tag],
            stdin=strap.stdout,
            capture_output=True,
            text=True,
            env=engine.environ,
            timeout=BUILD_TIMEOUT_S,
            check=False,
        )
        strap.stdout.close()
        strap_errors = strap.stderr.read().decode(errors="replace")
        strap.wait(timeout=60)
    if strap.returncode != 0 or imported.returncode != 0:
        engine.docker("image", "rm", tag, check=False)
        raise RuntimeError(
            f"the stand-in base {tag} could not be made: mmdebstrap exited {strap.returncode}, "
            f"docker import {imported.returncode}:\n{strap_errors[-2000:]}\n{imported.stderr}"
        )


_CERTIFICATE = re.compile(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.S)


def certificates(pem: str) -> dict[str, str]:
    """Each certificate of a PEM bundle, by its base64 body without whitespace."""
    return {
        "".join(body.split()): f"-----BEGIN CERTIFICATE-----{body}-----END CERTIFICATE-----"
        for body in _CERTIFICATE.findall(pem)
    }


def base_ca_bundle(engine: docker_engine.Engine, image: str) -> str:
    """The CA bundle inside `image` (empty when it has none)."""
    shown = engine.docker(
        "run", "--rm", "--network", "none", "--entrypoint", "cat", image, BUNDLE, check=False
    )
    return shown.stdout if shown.returncode == 0 else ""


def _host_ca_bundle() -> pathlib.Path | None:
    paths = ssl.get_default_verify_paths()
    for candidate in (os.environ.get("SSL_CERT_FILE"), paths.cafile, paths.openssl_cafile, BUNDLE):
        if candidate and pathlib.Path(candidate).is_file():
            return pathlib.Path(candidate)
    return None


def extra_certificates(engine: docker_engine.Engine, base: str) -> list[str]:
    """The certificates this machine trusts that `base` does not, as PEM blocks."""
    host = _host_ca_bundle()
    if host is None:
        return []
    known = certificates(base_ca_bundle(engine, base))
    return [pem for body, pem in certificates(host.read_text()).items() if body not in known]


def build(
    engine: docker_engine.Engine, base: str, workdir: pathlib.Path, *, tag: str = "proms-mcp:check"
) -> Built:
    """`make image` on `base`, tagged `tag`; its output is in workdir/build.log."""
    workdir.mkdir(parents=True, exist_ok=True)
    extra = extra_certificates(engine, base)
    ca_file = workdir / "build-ca.pem"
    ca_file.write_text("\n".join(extra) + "\n")
    log_path = workdir / "build.log"
    started = time.monotonic()
    made = _make_image(engine, tag, base, ca_file if extra else None, log_path)
    seconds = time.monotonic() - started
    if made != 0:
        raise RuntimeError(
            f"make image failed ({made}); {log_path}:\n{log_path.read_text()[-4000:]}"
        )
    # The builder stage's layers are the next build's cache: tag them (all cached, about a
    # second), then drop the images no tag reaches any more, so that the engine's data root
    # does not grow with every change.
    builder = _make_image(
        engine, f"{tag}-builder", base, ca_file if extra else None, log_path, "--target builder"
    )
    if builder == 0:
        engine.docker("image", "prune", "--force", check=False)
    size = int(engine.docker("image", "inspect", "--format", "{{.Size}}", tag).stdout)
    return Built(
        tag=tag, base=base, seconds=seconds, size_bytes=size, extra_certificates=len(extra)
    )


def _make_image(
    engine: docker_engine.Engine,
    tag: str,
    base: str,
    ca_file: pathlib.Path | None,
    log_path: pathlib.Path,
    *flags: str,
) -> int:
    """`make image` with this engine's build flags; its exit status, output appended to log."""
    command = [
        "make",
        "--no-print-directory",
        "-C",
        str(ROOT),
        "image",
        f"IMAGE={tag}",
        f"PYTHON_IMAGE={base}",
        f"DOCKER_BUILD_FLAGS={' '.join((*engine.build_flags, *flags))}",
    ]
    if ca_file is not None:
        command.append(f"BUILD_CA_FILE={ca_file}")
    with log_path.open("a") as log:
        log.write(f"$ {' '.join(command)}\n")
        log.flush()
        made = subprocess.run(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=engine.environ,
            timeout=BUILD_TIMEOUT_S,
            check=False,
        )
    return made.returncode
