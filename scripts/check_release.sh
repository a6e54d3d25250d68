#!/usr/bin/env bash
# The release as a user gets it: build the wheel and sdist, check them, install the wheel (not the source
# tree) into a fresh venv, run the quickstart with it, and find the editor extension in JupyterLab.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
$PY -m build --outdir "$work/dist" . > "$work/build.log" 2>&1 || { tail -20 "$work/build.log"; exit 1; }
$PY -m twine check --strict "$work"/dist/*
wheel=$(ls "$work"/dist/*.whl)
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --upgrade pip
"$work/venv/bin/pip" install --quiet "${wheel}[demo]"
# The quickstart, run from a folder of its own: the installed package, never this checkout, is imported
mkdir -p "$work/run/notebooks"
cp notebooks/quickstart.ipynb "$work/run/notebooks/"
cp -r baml_src "$work/run/baml_src"
cp scripts/run_demo.py "$work/run/"
(cd "$work/run" && "$work/venv/bin/python" run_demo.py notebooks/quickstart.ipynb > run.log 2>&1) \
    || { tail -20 "$work/run/run.log"; exit 1; }
location=$(cd "$work/run" && "$work/venv/bin/python" -c "import baml_magic; print(baml_magic.__file__)")
case "$location" in "$work/venv/"*) ;; *) echo "imported baml_magic from $location, not the wheel"; exit 1;; esac
errors=$("$work/venv/bin/python" -c "
import json, sys
nb = json.load(open(sys.argv[1]))
print(sum(o.get('output_type') == 'error' for c in nb['cells'] for o in c.get('outputs', [])))" \
    "$work/run/notebooks/executed/quickstart.ipynb")
[ "$errors" = "0" ] || { echo "the quickstart raised $errors errors from the wheel"; exit 1; }
"$work/venv/bin/jupyter" labextension list 2>&1 | grep -q "baml-magic-editor.*enabled.*OK" \
    || { "$work/venv/bin/jupyter" labextension list; echo "the editor extension is not listed"; exit 1; }
echo "release: $(basename "$wheel") and its sdist build, pass twine check, install, run the quickstart, and list the editor extension"
