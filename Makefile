# Two commands do all set-up on a fresh machine with Python 3.11 and make:
#   make demo   materialize the simulated platform's history and print the latest weekly growth
#   make test   run the test suite
# and `make ui` starts the Dagster UI on http://127.0.0.1:3000 over the same data and instance.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 3000
export DAGSTER_HOME := $(CURDIR)/.dagster_home

.PHONY: install demo test ui backfill show dashboard benchmark

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

demo: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/growth-pipeline demo

test: install
	$(BIN)/ruff check growth_pipeline growth_pipeline_tests benchmarks
	$(BIN)/ruff format --check growth_pipeline growth_pipeline_tests benchmarks
	$(BIN)/pytest

ui: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -h 127.0.0.1 -p $(PORT) -w workspace.yaml

# make backfill FROM=2026-01-01 TO=2026-01-31
backfill: install $(DAGSTER_HOME)/dagster.yaml
	@test -n "$(FROM)" -a -n "$(TO)" || { echo "usage: make backfill FROM=YYYY-MM-DD TO=YYYY-MM-DD"; exit 2; }
	$(BIN)/growth-pipeline backfill $(FROM) $(TO)

show: install
	$(BIN)/growth-pipeline show

# make dashboard: write data/product_metrics_dashboard.html (the latest week, with the alerts raised so far)
# and print its path; `make dashboard SERVE=8000` also serves it on http://127.0.0.1:8000 until Ctrl-C.
dashboard: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/growth-pipeline dashboard $(if $(SERVE),--serve $(SERVE))

# make benchmark: the backfill benchmark, a table of figures (see BENCHMARKS.md; about 13 minutes on 2 cores,
# the first time 5 more to write its snapshot archive). QUICK=1 checks the script at small sizes in 2 minutes.
benchmark: install
	$(BIN)/python -m benchmarks.run $(if $(QUICK),--quick)
