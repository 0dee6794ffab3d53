# syntax=docker/dockerfile:1
# proms-mcp: the MCP server with its Kubernetes controller (`python -m proms_operator`).
#
#   docker build -t proms-mcp:0.1.0 .
#   docker run --rm -p 8000:8000 -p 8080:8080 -e AUTH_MODE=none \
#     -v "$PWD/local_config:/etc/grafana/provisioning/datasources:ro" proms-mcp:0.1.0
#
# HOST is 0.0.0.0 here, so proms-mcp refuses to start until AUTH_MODE is chosen explicitly.
# The image runs as UID/GID 10001 and needs nothing writable but /tmp: it runs with a
# read-only root filesystem (bytecode is compiled at build time).

ARG PYTHON_IMAGE=python:3.11-slim

# --- builder: the locked dependencies and the project, installed into /app/.venv ---------
FROM ${PYTHON_IMAGE} AS builder

ARG UV_VERSION=0.13.9
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv

RUN pip install --no-cache-dir "uv==${UV_VERSION}"

WORKDIR /src

# Dependencies first: this layer is rebuilt only when the lock file changes.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --no-editable --no-install-project

COPY mcp_server/ mcp_server/
COPY operator/ operator/
COPY crds/ crds/
RUN uv sync --locked --no-dev --no-editable \
    && /app/.venv/bin/python -c "import mcp_server, proms_operator"

# --- runtime: Python and the virtual environment, nothing else ----------------------------
FROM ${PYTHON_IMAGE}

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
      org.opencontainers.image.base.name="docker.io/library/python:3.11-slim"

RUN groupadd --system --gid 10001 proms-mcp \
    && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home \
       --shell /usr/sbin/nologin proms-mcp

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
