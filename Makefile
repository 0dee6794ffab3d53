# proms-mcp developer commands. `make run` and `make test` work on a fresh Debian/Ubuntu
# machine: they install what they need first (uv from PyPI, prometheus from apt).
SHELL := /bin/bash
UV ?= uv
PYTEST_ARGS ?=

.PHONY: install prerequisites run test lint format typecheck bench e2e image clean

prerequisites:  ## uv and a prometheus binary (apt, when root or with sudo)
	@command -v $(UV) >/dev/null || python3 -m pip install --quiet uv
	@if [ -z "$$PROMETHEUS_BIN" ] && ! command -v prometheus >/dev/null; then \
	  if command -v apt-get >/dev/null; then \
	    SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq prometheus >/dev/null; \
	  else echo "install prometheus (or set PROMETHEUS_BIN) and retry" >&2; exit 1; fi; \
	fi

install: prerequisites  ## the locked environment in .venv
	$(UV) sync --locked --quiet

run: install  ## serve GRAFANA_DATASOURCES_PATH, local_config/datasources.yaml, or a demo Prometheus
	$(UV) run --locked proms-mcp demo

test: install  ## the fast suite: lint, types, import layers, then pytest against real Prometheus
	$(UV) run --locked ruff check .
	$(UV) run --locked ruff format --check .
	$(UV) run --locked mypy
	$(UV) run --locked lint-imports
	$(UV) run --locked pytest $(PYTEST_ARGS)

lint: install
	$(UV) run --locked ruff check .
	$(UV) run --locked ruff format --check .
	$(UV) run --locked mypy
	$(UV) run --locked lint-imports

format: install
	$(UV) run --locked ruff check --fix .
	$(UV) run --locked ruff format .

bench: install  ## benchmarks; results in bench/results/
	$(UV) run --locked python -m bench

clean:
	rm -rf .venv .mypy_cache .ruff_cache .pytest_cache bench/results
