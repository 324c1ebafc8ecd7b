# The two commands a newcomer needs: `make demo` and `make test`. Both bootstrap uv and the venv.
SHELL := /bin/bash
# uv from PATH, else the one pip installs as a module (works with or without --user).
UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
PY := .venv/bin/python

.PHONY: demo test lint typecheck setup bootstrap clean

bootstrap:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv

setup: bootstrap
	@$(UV) sync --frozen --compile-bytecode --quiet

## Run AdPilot on the embedded default (SQLite, sandbox ad platform, no services, no API key).
demo: setup
	@.venv/bin/adpilot demo

## Lint, type-check and run the whole test suite against real PostgreSQL and Redis: the ones on
## 127.0.0.1 when they answer, else throwaway servers it starts (tests/services.py); it fails,
## never skips, when neither is possible.
test: setup lint typecheck
	@.venv/bin/lint-imports --no-cache
	@$(PY) -m tests.services -- .venv/bin/pytest

lint: setup
	@.venv/bin/ruff check .
	@.venv/bin/ruff format --check .

typecheck: setup
	@.venv/bin/mypy .

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache adpilot.db
