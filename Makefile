# The two commands of README.md: `make demo` (set up, run the quickstart offline) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

# One venv; each extra is installed once (a stamp file per extra).
$(VENV)/.installed-%: pyproject.toml
	@echo "setting up $(VENV) with the '$*' extra (the first time takes a few minutes)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[$*]"
	touch $@

# The oldest baml-py the project supports (pyproject.toml's lower bound); the core tests run on it too.
BAML_OLDEST := 0.218.0
OLD := .venv-baml-$(BAML_OLDEST)
CORE_TESTS := tests/test_sources.py tests/test_compile_bind.py tests/test_streaming.py tests/test_real_projects.py

$(OLD)/.installed: pyproject.toml
	test -x $(OLD)/bin/python || $(PYTHON) -m venv $(OLD)
	$(OLD)/bin/pip install --quiet --upgrade pip
	$(OLD)/bin/pip install --quiet -e ".[test]" "baml-py==$(BAML_OLDEST)"
	touch $@

# Arize Phoenix, the tracing backend the trace tests export to and read back from, in a venv of its own
# (its many dependencies never meet the project's).
PHOENIX := .venv-phoenix
PHOENIX_VERSION := 20.26.1

$(PHOENIX)/.installed:
	test -x $(PHOENIX)/bin/python || $(PYTHON) -m venv $(PHOENIX)
	$(PHOENIX)/bin/pip install --quiet --upgrade pip
	$(PHOENIX)/bin/pip install --quiet "arize-phoenix==$(PHOENIX_VERSION)"
	touch $@

# Real servers nobody here wrote (llama.cpp's llama-server and llama-cpp-python's server, SmolLM2-135M), built once per
# version into a cache outside the checkout ($$XDG_CACHE_HOME or ~/.cache/baml_magic/real-servers), as pip caches wheels.
real-servers: $(VENV)/.installed-test
	PY=$(BIN)/python bash scripts/build_llama_server.sh

.PHONY: demo demos docs screenshots test test-fast test-oldest release-check lab lint bench browser editor clean \
	real-servers

demo: $(VENV)/.installed-demo
	$(BIN)/python scripts/run_demo.py notebooks/quickstart.ipynb

demos: $(VENV)/.installed-demo
	$(BIN)/python scripts/run_demo.py notebooks/*.ipynb

lab: $(VENV)/.installed-demo
	$(BIN)/jupyter lab --ip=127.0.0.1 $$([ "$$(id -u)" = 0 ] && echo --allow-root) notebooks/

browser:
	bash scripts/install_browser.sh

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/mypy baml_magic

# Both cores: a test file runs in one worker (its module's kernel and servers stay with it).
test: $(VENV)/.installed-test $(PHOENIX)/.installed browser real-servers lint test-oldest release-check docs
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

# The documentation site, built strictly into site/ (the demo notebooks executed and rendered, the API reference).
docs: $(VENV)/.installed-test
	NO_MKDOCS_2_WARNING=1 PY=$(BIN)/python bash scripts/build_docs.sh

# The pictures in the documentation, taken again by the browser tests that show those views.
screenshots: $(VENV)/.installed-test browser
	BAML_MAGIC_DOC_IMAGES=1 $(BIN)/python -m pytest -q tests/test_browser.py tests/test_editor.py \
		tests/test_browser_iterate.py -k "live_view_grows or playground_run_then_stop or evaluation_grid or \
		errors_show_as_you_type or v1_cell_streams or diff_and_the_optimizer"

# The wheel a user installs: built, checked, installed into a fresh venv, the quickstart run from it.
release-check: $(VENV)/.installed-test
	PY=$(BIN)/python bash scripts/check_release.sh

# The inner loop: everything that needs no kernel, no browser and no seconds (markers set in tests/conftest.py).
test-fast: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q -n 2 -m "not kernel and not browser and not slow"

# The core tests on the oldest supported baml-py (the main run above uses the newest).
test-oldest: $(OLD)/.installed
	$(OLD)/bin/python -m pytest -q -p no:cacheprovider $(CORE_TESTS)

bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/compile_bind.py
	$(BIN)/python benchmarks/cancellation.py
	$(BIN)/python benchmarks/map.py
	$(BIN)/python benchmarks/scale.py
	$(BIN)/python benchmarks/cache.py
	$(BIN)/python benchmarks/grid.py
	$(BIN)/python benchmarks/batch.py
	$(BIN)/python benchmarks/tracing.py
	$(BIN)/python benchmarks/v1.py
	$(BIN)/python benchmarks/call_hook.py
	$(BIN)/python benchmarks/runs_kept.py
	$(BIN)/python benchmarks/real_server.py
	$(BIN)/python benchmarks/made_tests.py
	$(BIN)/python benchmarks/stop_when.py

# The editor extension (js/) is shipped prebuilt in baml_magic/labextension: users need no Node.
# Rebuild it after changing js/src (needs Node 20 and npm); then reinstall (make test does).
editor: $(VENV)/.installed-test
	cd js && npm ci --no-audit --no-fund && npx tsc
	cd js && node node_modules/@jupyterlab/builder/lib/build-labextension.js \
		--core-path $$($(abspath $(BIN))/python -c "import jupyterlab, os; print(os.path.join(os.path.dirname(jupyterlab.__file__), 'staging'))") .
	$(BIN)/pip install --quiet -e ".[test]"

clean:
	rm -rf $(VENV) $(OLD) $(PHOENIX) notebooks/executed tests/artifacts site docs/notebooks
