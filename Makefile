# Two commands on a fresh machine: `make demo` (run the app on the embedded sandbox) and `make test`.
# Both create .venv and install the project with its pinned dependencies first (only when needed).

PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench

$(STAMP): pyproject.toml
	@$(PYTHON) -c "import sys; assert sys.version_info >= (3, 10), \"Python 3.10+ is required\""
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/flowlogs --demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# Tests run on every core (pytest-xdist); `pytest --snapshot-update` (one process) updates snapshots.
test: lint
	$(VENV)/bin/pytest -n auto --dist worksteal

bench: $(STAMP)
	$(VENV)/bin/python bench/run_all.py
