# Two commands do everything from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install demo test test-node lint typecheck bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	-$(BIN)/python -m pip uninstall --quiet --yes pytest-codex 2>/dev/null  # this project's former name
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

lint: $(STAMP)
	$(BIN)/ruff check pytest_codex guardrails tests bench examples conftest.py
	$(BIN)/ruff format --check pytest_codex guardrails tests bench examples conftest.py

typecheck: $(STAMP)
	$(BIN)/mypy --strict pytest_codex guardrails tests conftest.py

test: lint typecheck
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	@if command -v node >/dev/null 2>&1; then \
	  echo "== node SDK: node --test sdk/node/test/*.test.js (node $$(node --version))"; \
	  CODEX_ORCHESTRATOR_BIN="$(CURDIR)/$(BIN)/codex-orchestrator" node --test sdk/node/test/*.test.js; \
	else \
	  echo "== node SDK tests SKIPPED: node is not installed (.ci/run installs it)"; \
	fi

test-node: $(STAMP)
	CODEX_ORCHESTRATOR_BIN="$(CURDIR)/$(BIN)/codex-orchestrator" node --test sdk/node/test/*.test.js

bench: $(STAMP)
	for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .demo .runs out .pytest_cache .mypy_cache .ruff_cache
