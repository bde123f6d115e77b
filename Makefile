# reload-chain: every target sets up what it needs; `make test` and `make demo` work from a clean clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint typecheck pytest demo run soak bench clean package-check docs

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

test: lint typecheck pytest

# 500 randomized runs with kill -9, 5xx and dropped connections (before or after the tenant
# acted), 429, duplicate and late events, failed settling checks, chains of up to 4 hops, events
# minutes late or stamped 2099, two sweepers without the lock file, the database emptied or
# restored, CR/LF API keys; alerts to a receiver that fails first (each failed start alerted
# exactly once). Planted bugs: python -m tests.chaos --report-plants (see docs/benchmarks.md).
soak: $(STAMP)
	mkdir -p benchmarks/results
	$(BIN)/python -m tests.chaos --runs 500 --workers 4 --json benchmarks/results/soak.json

# The real sweep against the simulator (50 ms latency) at 200, 2,000 and 20,000 events, beside
# the tight floor and the Automate template's per-event baseline; the 90-day catch-up; 200
# successors at once; two back-to-back `reload-chain sweep` processes and a third 5 minutes
# later; meanwhile chains under `reload-chain run` at 0.25, 0.5 and 2 minutes (about 15 min in
# all). Tables printed, JSON written; exit 1 if a bound is missed.
bench: $(STAMP)
	mkdir -p benchmarks/results
	$(BIN)/python -m benchmarks.bench --json benchmarks/results/bench.json

# The state database's size over a simulated year at 5,000 reloads a day: 35,040 synthetic
# sweeps through Store.commit_sweep (no HTTP), pruning and the daily vacuum as in production;
# a table of each month's end, benchmarks/results/year.json; exit 1 if over 200 MB or not flat
# (about 3 minutes).
.PHONY: year
year: $(STAMP)
	mkdir -p benchmarks/results
	$(BIN)/python -m benchmarks.year --json benchmarks/results/year.json

# `pip install .` (and `pipx install .` if pipx is on PATH) into a fresh virtual environment in a
# temporary directory: --version, --help, the simulator's data, no development dependency.
package-check:
	PYTHON=$(PYTHON) .ci/package-check

demo: $(STAMP)
	$(BIN)/reload-chain demo

# Re-capture every example output of README.md and docs/*.md by running the program (against the
# simulated tenant); only blocks whose behaviour changed are rewritten (about a minute).
# `$(BIN)/python docs/capture.py --check` lists the blocks that differ and exits 1.
docs: $(STAMP)
	$(BIN)/python docs/capture.py

run: $(STAMP)
	$(BIN)/reload-chain run

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
