# The two commands of README.md: `make demo` (set up, run the quickstart offline) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

# One venv; each extra is installed once (a stamp file per extra).
$(VENV)/.installed-%: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[$*]"
	touch $@

.PHONY: demo demos test lab lint bench browser clean

demo: $(VENV)/.installed-demo
	$(BIN)/python scripts/run_demo.py notebooks/quickstart.ipynb

demos: $(VENV)/.installed-demo
	$(BIN)/python scripts/run_demo.py notebooks/*.ipynb

lab: $(VENV)/.installed-demo
	$(BIN)/jupyter lab --ip=127.0.0.1 notebooks/

browser:
	bash scripts/install_browser.sh

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .

test: $(VENV)/.installed-test browser lint
	$(BIN)/python -m pytest -q

bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/compile_bind.py
	$(BIN)/python benchmarks/cancellation.py
	$(BIN)/python benchmarks/map.py

clean:
	rm -rf $(VENV) notebooks/executed tests/artifacts
