#!/usr/bin/env bash
# The release as a user gets it: build the wheel and sdist and check them; install as docs/install.md says (its
# commands, run as written, in a fresh venv), run the quickstart with it, and find the editor extension in JupyterLab.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
$PY -m build --outdir "$work/dist" . > "$work/build.log" 2>&1 || { tail -20 "$work/build.log"; exit 1; }
$PY -m twine check --strict "$work"/dist/*
wheel=$(ls "$work"/dist/*.whl)
# docs/install.md, word for word: its shell blocks (but those it marks "not run"), in order, in one shell, inside a
# copy of this checkout, as the page assumes, with a home folder of its own (the page's venv goes under ~).
mkdir -p "$work/user/baml_magic" "$work/home"
git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$work/user/baml_magic"
$PY - docs/install.md > "$work/install.sh" <<'PYTHON'
import re, sys
page = open(sys.argv[1]).read()
fence = re.compile(r"(<!-- not run: [^>]*-->\n)?^```bash\n(.*?)^```", re.S | re.M)
print("\n".join(code for skipped, code in fence.findall(page) if not skipped))
PYTHON
(cd "$work/user/baml_magic" && PIP_CACHE_DIR="${PIP_CACHE_DIR:-$HOME/.cache/pip}" HOME="$work/home" bash -euo pipefail "$work/install.sh" > "$work/install.log" 2>&1) \
    || { tail -30 "$work/install.log"; echo "docs/install.md's commands failed (above)"; exit 1; }
{ grep -q "^baml_magic [0-9][^ ]* · baml-py" "$work/install.log" && grep -q "^editor extension: installed" \
    "$work/install.log"; } || { cat "$work/install.log"; echo "the install page's check did not find it all"; exit 1; }
venv="$work/home/.venvs/baml-notebooks"
# The quickstart, run from a folder of its own: the installed package, never this checkout, is imported
mkdir -p "$work/run/notebooks"
cp notebooks/quickstart.ipynb "$work/run/notebooks/"
cp -r baml_src "$work/run/baml_src"
cp scripts/run_demo.py "$work/run/"
(cd "$work/run" && "$venv/bin/python" run_demo.py notebooks/quickstart.ipynb > run.log 2>&1) \
    || { tail -20 "$work/run/run.log"; exit 1; }
location=$(cd "$work/run" && "$venv/bin/python" -c "import baml_magic; print(baml_magic.__file__)")
case "$location" in "$venv/"*) ;; *) echo "imported baml_magic from $location, not the wheel"; exit 1;; esac
errors=$("$venv/bin/python" -c "
import json, sys
nb = json.load(open(sys.argv[1]))
print(sum(o.get('output_type') == 'error' for c in nb['cells'] for o in c.get('outputs', [])))" \
    "$work/run/notebooks/executed/quickstart.ipynb")
[ "$errors" = "0" ] || { echo "the quickstart raised $errors errors from the wheel"; exit 1; }
"$venv/bin/jupyter" labextension list 2>&1 | grep -q "baml-magic-editor.*enabled.*OK" \
    || { "$venv/bin/jupyter" labextension list; echo "the editor extension is not listed"; exit 1; }
echo "release: $(basename "$wheel") and its sdist build and pass twine check; docs/install.md's commands install it; it runs the quickstart and lists the editor extension"
