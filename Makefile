# The two commands of the README: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint format bench clean

$(BIN)/tui-monitor: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

demo: $(BIN)/tui-monitor
	$(BIN)/tui-monitor demo

test: $(BIN)/tui-monitor
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -n auto

lint: $(BIN)/tui-monitor
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(BIN)/tui-monitor
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(BIN)/tui-monitor
	$(BIN)/pip install --quiet -e '.[test,bench]'
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache
