# proms-mcp: the MCP server with its Kubernetes controller (`python -m proms_operator`).
#
#   make image                     # proms-mcp:<version>; PYTHON_IMAGE=... picks another base
#   make image-check               # build it and run it as the Helm chart does (tests/image/test_image.py)
#
# Serve the example datasources (a Prometheus on this machine's 127.0.0.1:9090, and a Thanos
# that is reported as a problem until THANOS_TOKEN is set) with the host's network:
#
#   docker run --rm --network host -e HOST=127.0.0.1 -e AUTH_MODE=none \
#     -v "$PWD/local_config/datasources-example.yaml:/etc/grafana/provisioning/datasources/datasources.yaml:ro" \
#     proms-mcp:0.1.0
#   curl -s localhost:8080/ready       # lists the datasources served; MCP is at localhost:8000/mcp/
#
# HOST is 0.0.0.0 in the image, so proms-mcp refuses to start on it until AUTH_MODE is chosen
# explicitly and ALLOWED_HOSTS names the hosts clients use (docs/security.md). The image runs as UID/GID 10001 (any UID with GID 0 works too) and needs nothing
# writable but /tmp: it runs with a read-only root filesystem and all of its bytecode, the
# standard library's included, is compiled here.

ARG PYTHON_IMAGE=docker.io/library/python:3.11-slim

# --- viewer: the MCP App's one HTML file, built from the locked npm packages in viewer/ -----
# Debian's node and npm on the same base (no node image can be pulled where we build); only
# the built chart.html leaves this stage.
FROM ${PYTHON_IMAGE} AS viewer

ARG BUILD_CA_CERTS=""
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/* \
    && { cat /etc/ssl/certs/ca-certificates.crt; printf '%s\n' "$BUILD_CA_CERTS"; } > /tmp/build-ca.pem
ENV NODE_EXTRA_CA_CERTS=/tmp/build-ca.pem \
    npm_config_cafile=/tmp/build-ca.pem \
    npm_config_update_notifier=false

WORKDIR /src/viewer
COPY viewer/package.json viewer/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY viewer/build.mjs ./
COPY viewer/src/ src/
RUN node build.mjs --app

# --- builder: the locked dependencies and the project, installed into /app/.venv ---------
FROM ${PYTHON_IMAGE} AS builder

# binutils for `strip` (below).
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends binutils \
    && rm -rf /var/lib/apt/lists/*

# Extra CA certificates (PEM text) trusted only by this stage's downloads (pip and uv), e.g.
# the CA of a TLS-intercepting egress proxy: `make image BUILD_CA_FILE=/path/ca.pem`. The
# runtime stage starts again from PYTHON_IMAGE, so none of it reaches the image.
ARG BUILD_CA_CERTS=""
RUN { cat /etc/ssl/certs/ca-certificates.crt; printf '%s\n' "$BUILD_CA_CERTS"; } > /tmp/build-ca.pem

ARG UV_VERSION=0.13.9
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_CERT=/tmp/build-ca.pem \
    SSL_CERT_FILE=/tmp/build-ca.pem \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv

RUN pip install --no-cache-dir "uv==${UV_VERSION}"

# The base (like the official slim images) ships the standard library without bytecode, and
# the image runs read-only without writing bytecode: compile it here, or every start compiles
# what it imports (about 0.5 s of CPU). Left out: what a server never imports (tests, GUI,
# 2to3, debuggers, mail and FTP clients, pure-Python twins of C modules). Only the .pyc files
# go to the runtime stage; they stay valid there because its sources are the same files of the
# same base.
RUN stdlib=$(python -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])') \
    && python -m compileall -q -j 0 \
         -x '/(test|tests|idlelib|tkinter|turtledemo|lib2to3|ensurepip|pydoc_data|distutils|unittest|xmlrpc|curses|dbm|site-packages|dist-packages)/|/(_pydecimal|_pyio|turtle|mailbox|doctest|pdb|imaplib|nntplib|smtplib|smtpd|ftplib|telnetlib)\.py$' \
         "$stdlib" \
    && mkdir /stdlib-bytecode \
    && find "$stdlib" -name '*.pyc' -print0 | tar --null -cf - -T - | tar -xf - -C /stdlib-bytecode

# Locked packages nothing in proms-mcp imports: fastmcp's command line (cyclopts, rich-rst,
# docstring-parser, pyperclip), its OAuth proxy and file store (authlib, aiofile, caio), its
# OpenAPI provider (openapi-pydantic, jsonschema-path, pathable) and pydantic's EmailStr
# validation (email-validator, dnspython). Each is imported only by the feature that needs it.
# (beartype stays: py-key-value-aio, fastmcp's session state on the 2025-06-18 protocol,
# imports it.) tests/image/test_image.py serves every tool on both protocols from the image, and
# runs the operator, without them.
ARG NOT_SHIPPED="cyclopts rich-rst docstring-parser pyperclip authlib aiofile caio openapi-pydantic jsonschema-path pathable email-validator dnspython"

WORKDIR /src

# Dependencies first: these layers are rebuilt only when the lock file changes.
COPY pyproject.toml uv.lock ./
RUN uv sync --locked --no-dev --no-editable --no-install-project \
      $(for p in $NOT_SHIPPED; do printf -- '--no-install-package %s ' "$p"; done)

# Ship only what runs: no test suites, type stubs, C/Cython sources or debug symbols (the
# extension modules' debug info is 27 of their 52 MB), and no pip or setuptools in the venv.
# No bytecode for what never runs here (the sources stay, so an import still works, compiling
# as it goes): pygments' lexers but Python's (rich only highlights tracebacks, and our logs are
# JSON), pydantic.v1, fastmcp's command line, contrib and OAuth providers; 5 MB.
RUN site=$(/app/.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') \
    && find "$site" -depth -type d \( -name tests -o -name test \) -exec rm -rf {} + \
    && find "$site" -type f \( -name '*.pyi' -o -name '*.pyx' -o -name '*.pxd' -o -name '*.pxi' \
         -o -name '*.c' -o -name '*.h' \) -delete \
    && rm -rf "$site"/pip "$site"/pip-* "$site"/setuptools "$site"/setuptools-* \
    && find "$site" -name '*.so' -exec strip --strip-unneeded {} + \
    && for tree in pygments/lexers pydantic/v1 fastmcp/cli fastmcp/contrib fastmcp/server/auth/providers; do \
         find "$site/$tree" -name '*.pyc' ! -name '__init__.*' ! -name '_mapping.*' ! -name 'python.*' -delete; \
       done

# py-key-value-aio has beartype rewrite its modules as they are imported (beartype.claw), and
# keeps that bytecode under its own name: import them all once here so that it exists.
RUN printf '%s\n' 'import importlib, pkgutil' 'import key_value.aio as kv' \
      'for found in pkgutil.walk_packages(kv.__path__, "key_value.aio.", onerror=print):' \
      '    try: importlib.import_module(found.name)' \
      '    except Exception: pass  # stores whose optional dependencies are not installed' \
    | /app/.venv/bin/python -W ignore -

# The project last: a change to it rebuilds only what follows.
COPY README.md ./
COPY mcp_server/ mcp_server/
COPY operator/ operator/
COPY crds/ crds/
COPY --from=viewer /src/mcp_server/tools/viewer/chart.html mcp_server/tools/viewer/chart.html
# (uv compiles the whole venv when it compiles: only the project's own bytecode is made here.)
RUN UV_COMPILE_BYTECODE=0 uv sync --locked --no-dev --no-editable \
      $(for p in $NOT_SHIPPED; do printf -- '--no-install-package %s ' "$p"; done) \
    && site=$(/app/.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') \
    && /app/.venv/bin/python -m compileall -q "$site/mcp_server" "$site/proms_operator" \
    && /app/.venv/bin/python -c "import mcp_server.app.assembly, proms_operator.main"

# --- runtime: Python and the virtual environment, nothing else ----------------------------
FROM ${PYTHON_IMAGE}

ARG PYTHON_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=https://github.com/proms-mcp/proms-mcp

LABEL org.opencontainers.image.title="proms-mcp" \
      org.opencontainers.image.description="MCP server and Kubernetes controller giving LLM agents safe, token-efficient read-only access to Prometheus-compatible backends" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.documentation="${SOURCE}#readme" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"

RUN groupadd --system --gid 10001 proms-mcp \
    && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home \
       --shell /usr/sbin/nologin proms-mcp

COPY --from=builder /stdlib-bytecode/ /
COPY --from=builder /app/.venv /app/.venv

ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    HOST=0.0.0.0 \
    PORT=8000 \
    HEALTH_METRICS_PORT=8080

WORKDIR /tmp
USER 10001:10001
EXPOSE 8000 8080

ENTRYPOINT ["python", "-m", "proms_operator"]
CMD ["serve"]
