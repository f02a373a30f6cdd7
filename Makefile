# Two commands on a fresh machine with only python3:  make demo   make test
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
PY := .venv/bin/python

.PHONY: setup demo test test-slow test-loaded bench lint clean

setup: .venv/.synced

.venv/.synced: pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen
	@touch $@

demo: setup
	$(PY) -m workbench.demo

test: setup
	$(PY) -m pytest -q

test-slow: setup
	WORKBENCH_SEARCH_SEEDS=5000 $(PY) -m pytest -q -m "slow or not slow"

# The suite with 4 busy CPU burners alongside: tests must hold on a loaded machine
# (Ray runs assert safety always, liveness only when their timers kept time). The
# burners are this recipe's own children, ended by pid. TESTS= narrows the run.
test-loaded: setup
	@pids=""; for i in 1 2 3 4; do ( while :; do :; done ) & pids="$$pids $$!"; done; \
	trap 'kill $$pids 2>/dev/null' EXIT; echo "CPU burners: $$pids"; \
	$(PY) -m pytest -q $(TESTS)

# Every script in benchmarks/ (not benchmarks/baselines/: runners other Pythons execute).
bench: setup
	@for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

lint: setup
	.venv/bin/ruff check workbench tests benchmarks
	.venv/bin/lint-imports

clean:
	rm -rf .venv data/runs data/sweeps
