# The two commands of README.md: `make demo` (set up, run the quickstart offline) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lab lint bench browser clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python scripts/run_demo.py notebooks/quickstart.ipynb

lab: $(STAMP)
	$(BIN)/jupyter lab --ip=127.0.0.1 notebooks/

browser:
	bash scripts/install_browser.sh

lint: $(STAMP)
	$(BIN)/ruff check .

test: $(STAMP) browser lint
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/compile_bind.py
	$(BIN)/python benchmarks/cancellation.py
	$(BIN)/python benchmarks/map.py

clean:
	rm -rf $(VENV) notebooks/executed tests/artifacts
