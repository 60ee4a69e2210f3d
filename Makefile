# Two commands a fresh machine needs:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: demo test install lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(BIN)/.installed

## install, then run the whole launch on one laptop (embedded defaults: SQLite, in-memory limiter)
demo: install
	$(BIN)/launch-control demo $(DEMO_ARGS)

## install, start the services the tests need, lint, type-check the core, run the whole suite
test: install
	bash scripts/test-services.sh
	$(BIN)/ruff check .
	$(BIN)/mypy  # launch_control/, configured in pyproject.toml [tool.mypy]
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check . || true

bench: install
	for f in bench/*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache
