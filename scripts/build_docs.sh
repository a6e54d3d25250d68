#!/usr/bin/env bash
# The documentation site (mkdocs-material): every demo notebook executed offline against the bundled
# model and rendered with its outputs, the pages in docs/, the API reference from the docstrings.
# The build is strict: a broken link or reference fails it. Output: site/.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
$PY scripts/run_demo.py notebooks/*.ipynb > /dev/null
rm -rf docs/notebooks
mkdir -p docs/notebooks
cp notebooks/executed/*.ipynb docs/notebooks/
$PY -m mkdocs build --strict --quiet
echo "docs: site/index.html ($(find site -name '*.html' | wc -l) pages)"
