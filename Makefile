# AuditLens: `make run` starts it, `make test` checks everything. Both set up .venv first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: install run test lint typecheck pytest format bench clean

# Python keeps the bytecode of what it imports, as by default: where PYTHONDONTWRITEBYTECODE is
# set, each test worker and each server or command a test starts would compile the project and
# its libraries again (compiling every library at install instead costs four times as much).
unexport PYTHONDONTWRITEBYTECODE

# uv installs what pip would, in seconds rather than minutes; its wheels stay in uv's cache per
# user (~/.cache/uv), so a fresh clone on the same machine downloads nothing.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[test]' \
		--config-settings editable_mode=compat
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

run: install
	$(BIN)/auditlens run

test: install lint typecheck pytest

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy's cache is kept per user, not per checkout: every entry is checked against the hash of
# its source file, so a fresh clone reuses what any earlier run analysed (the installed
# libraries above all) and re-checks only what changed.
MYPY_CACHE_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/auditlens/mypy

typecheck:
	MYPY_CACHE_DIR=$(MYPY_CACHE_DIR) $(BIN)/mypy

# Tests run in parallel, one pytest-xdist worker per core; each test has its own database,
# and tests that must not overlap share an xdist_group (see tests/conftest.py).
PYTEST_WORKERS ?= auto

pytest:
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Benchmarks print ratios against baselines measured in the same run; they are never tests.
# Defaults are modest sizes; each script's --help shows the flags for the full-size runs.
bench: install
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
