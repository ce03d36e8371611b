#!/usr/bin/env bash
# `make cuda-build-check`: builds both extensions WITH their CUDA path, in a separate venv
# against a CUDA build of torch, imports them and runs the CPU tests there. Needs nvcc, no GPU
# (FORCE_CUDA=1). It proves the CUDA sources compile and link with torch's CUDA headers and
# that the CUDA build still passes the CPU tests; running the kernels needs a GPU
# (scripts/gpu_check.sh).
#
# Disk: the venv holds torch with its CUDA libraries, about 7 GB (.venv-cuda/, ignored by git).
# Environment: CUDA_VENV (venv path), TORCH_CUDA_VERSION (torch release with CUDA; on x86_64
# torch==2.14.1 installs a CUDA 13 build from this machine's local package index),
# CUDA_HOME (toolkit, default: the one holding nvcc on PATH or /usr/local/cuda),
# TORCH_CUDA_ARCH_LIST (default 9.0: one architecture keeps the check short),
# PYTEST_ARGS (default: the extension tests).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CUDA_VENV:-$ROOT/.venv-cuda}"
TORCH_CUDA_VERSION="${TORCH_CUDA_VERSION:-2.14.1}"
export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}"
DEFAULT_TESTS="tests/test_rasterizer_cpp.py tests/test_cuda_emulated.py tests/test_knn.py tests/test_render.py"
PYTEST_ARGS="${PYTEST_ARGS:-$DEFAULT_TESTS tests/test_cuda_compile.py}"
PY="$VENV/bin/python"

step() { printf '\n== %s\n' "$*"; }

# The toolkit: CUDA_HOME, else /usr/local/cuda, else the folder above the nvcc on PATH (which may
# be a wrapper script elsewhere, as /usr/local/bin/nvcc is on some machines).
if [ -z "${CUDA_HOME:-}" ]; then
  if [ -x /usr/local/cuda/bin/nvcc ]; then CUDA_HOME=/usr/local/cuda
  elif command -v nvcc >/dev/null; then CUDA_HOME="$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")"
  else CUDA_HOME=/usr/local/cuda
  fi
fi
export CUDA_HOME
NVCC="$CUDA_HOME/bin/nvcc"
[ -x "$NVCC" ] || { echo "cuda_build_check: no nvcc at $NVCC (set CUDA_HOME)" >&2; exit 1; }
export PATH="$CUDA_HOME/bin:$PATH"

step "venv $VENV with torch==$TORCH_CUDA_VERSION (CUDA build)"
[ -x "$PY" ] || python3 -m venv "$VENV"
if ! "$PY" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_CUDA_VERSION')" 2>/dev/null; then
  "$PY" -m pip install --quiet "torch==$TORCH_CUDA_VERSION"
fi
"$PY" -m pip install --quiet -r "$ROOT/requirements.txt"

step "CUDA versions"
TORCH_CUDA="$("$PY" -c 'import torch; print(torch.version.cuda or "")')"
NVCC_CUDA="$("$NVCC" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')"
TORCH_RELEASE="$("$PY" -c 'import torch; print(torch.__version__)')"
echo "torch $TORCH_RELEASE built with CUDA ${TORCH_CUDA:-none}; nvcc $NVCC_CUDA at $NVCC"
[ -n "$TORCH_CUDA" ] || { echo "cuda_build_check: torch==$TORCH_CUDA_VERSION has no CUDA" >&2; exit 1; }
if [ "${TORCH_CUDA%%.*}" != "${NVCC_CUDA%%.*}" ]; then
  echo "cuda_build_check: torch's CUDA $TORCH_CUDA and nvcc $NVCC_CUDA differ in major version;" \
       "torch.utils.cpp_extension refuses that. Point CUDA_HOME at a matching toolkit." >&2
  exit 1
fi

# Build from a copy, so that the CPU venv's in-tree build/ folders are left alone.
step "build both extensions with CUDA (TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST)"
SRC="$VENV/src"
rm -rf "$SRC" && mkdir -p "$SRC"
for module in diff-gaussian-rasterization simple-knn; do
  tar -C "$ROOT/submodules" --exclude=build --exclude='*.egg-info' -cf - "$module" | tar -C "$SRC" -xf -
done
start=$(date +%s)
for module in diff-gaussian-rasterization simple-knn; do
  FORCE_CUDA=1 MAX_JOBS="${MAX_JOBS:-2}" "$PY" -m pip install --no-build-isolation "$SRC/$module"
done
echo "built in $(( $(date +%s) - start )) s"

step "import"
"$PY" - <<'EOF'
import torch
import diff_gaussian_rasterization as dgr
import simple_knn._C as knn
import simple_knn._C_emulated as knn_emulated
assert dgr._C.with_cuda, "diff_gaussian_rasterization._C was built without its CUDA path"
assert knn.with_cuda(), "simple_knn._C was built without its CUDA path"
assert dgr._C_emulated.emulated and knn_emulated.emulated
print(f"diff_gaussian_rasterization._C with_cuda={dgr._C.with_cuda}, simple_knn._C with_cuda={knn.with_cuda()}, "
      f"emulated modules present; torch.cuda.is_available()={torch.cuda.is_available()}")
EOF

step "CPU tests in the CUDA build: pytest $PYTEST_ARGS"
cd "$ROOT"
# shellcheck disable=SC2086
"$PY" -m pytest -q $PYTEST_ARGS
