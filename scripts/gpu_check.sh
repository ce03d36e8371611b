#!/usr/bin/env bash
# The GPU check, for a lent machine with an NVIDIA GPU, a CUDA toolkit and no internet:
#   1. builds both extensions with their CUDA path (in .venv-gpu, torch from carried wheels);
#   2. runs the CUDA-vs-CPU parity tests on the device (tests/test_cuda_emulated.py's "cuda"
#      cases, test_rasterizer_cpp.py, test_knn.py) and measures the parity errors;
#   3. trains the demo scene (config/gradiseg/demo.json, 2000 iterations) on cuda, and a short
#      run on the CPU for its time per iteration;
#   4. renders and evaluates the GPU model (PSNR, mIoU);
#   5. prints one table. Budget: under 8 minutes on a 16-core machine with a recent GPU.
#
#   scripts/gpu_check.sh --wheels DIR      on the GPU machine; DIR holds the wheels of torch, setuptools
#                                          and requirements.txt (made where there is a package index:
#                                          pip download -d DIR torch==2.14.1 setuptools -r requirements.txt)
#   scripts/gpu_check.sh --venv PATH       use an existing venv with a CUDA torch instead of --wheels
#   scripts/gpu_check.sh --cpu-dry-run     every step on the CPU with the make setup venv (no build,
#                                          no GPU): checks the script itself; ITERATIONS defaults to 200
# Environment: ITERATIONS (GPU run, default 2000), CPU_ITERATIONS (CPU timing run, default 200),
# TORCH_VERSION (default 2.14.1), TORCH_CUDA_ARCH_LIST (default: the GPU's), GPU_CHECK_OUT
# (default output/gpu_check), DEVICE (default cuda).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
MODE=gpu
WHEELS=""
VENV=""
while [ $# -gt 0 ]; do
  case "$1" in
    --cpu-dry-run) MODE=dry-run ;;
    --wheels) WHEELS="$2"; shift ;;
    --venv) VENV="$2"; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "gpu_check: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

OUT="${GPU_CHECK_OUT:-output/gpu_check}"
TORCH_VERSION="${TORCH_VERSION:-2.14.1}"
CONFIG=config/gradiseg/demo.json
CPU_ITERATIONS="${CPU_ITERATIONS:-200}"
if [ "$MODE" = gpu ]; then
  DEVICE="${DEVICE:-cuda}"
  ITERATIONS="${ITERATIONS:-2000}"
  VENV="${VENV:-$ROOT/.venv-gpu}"
else
  DEVICE=cpu
  ITERATIONS="${ITERATIONS:-200}"
  VENV="${VENV:-$ROOT/.venv}"
fi
PY="$VENV/bin/python"
START=$(date +%s)
mkdir -p "$OUT"
LOG="$OUT/log.txt"
: > "$LOG"

step() { printf '\n== [%4ds] %s\n' "$(( $(date +%s) - START ))" "$*" | tee -a "$LOG"; }
fail() { echo "gpu_check: $*" >&2; exit 1; }
# Runs a command with its output in the log (and its tail on the screen if it fails).
run() {
  echo "\$ $*" >> "$LOG"
  if ! "$@" >> "$LOG" 2>&1; then
    tail -n 40 "$LOG" >&2
    fail "failed: $* (full log: $LOG)"
  fi
}

# ----------------------------------------------------------------------------- 1. build
if [ "$MODE" = gpu ]; then
  step "GPU and toolkit"
  command -v nvidia-smi >/dev/null || fail "nvidia-smi not found: no NVIDIA driver on this machine"
  nvidia-smi --query-gpu=name,memory.total,compute_cap --format=csv,noheader | tee -a "$LOG"
  if [ -z "${TORCH_CUDA_ARCH_LIST:-}" ]; then
    TORCH_CUDA_ARCH_LIST="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -n 1 | tr -d ' ')"
  fi
  export TORCH_CUDA_ARCH_LIST
  # The toolkit: CUDA_HOME, else /usr/local/cuda, else the folder above the nvcc on PATH (which may
  # be a wrapper script elsewhere, as /usr/local/bin/nvcc is on some machines).
  if [ -z "${CUDA_HOME:-}" ]; then
    if [ -x /usr/local/cuda/bin/nvcc ]; then CUDA_HOME=/usr/local/cuda
    elif command -v nvcc >/dev/null; then CUDA_HOME="$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")"
    else CUDA_HOME=/usr/local/cuda
    fi
  fi
  export CUDA_HOME PATH="$CUDA_HOME/bin:$PATH"
  [ -x "$CUDA_HOME/bin/nvcc" ] || fail "no nvcc under CUDA_HOME=$CUDA_HOME"
  "$CUDA_HOME/bin/nvcc" --version | tail -n 2 | tee -a "$LOG"

  step "venv $VENV"
  [ -x "$PY" ] || run python3 -m venv "$VENV"
  if ! "$PY" -c "import torch, sys; sys.exit(torch.version.cuda is None)" 2>/dev/null; then
    [ -n "$WHEELS" ] || fail "$VENV has no CUDA torch: pass --wheels DIR" \
      "(wheels of torch==$TORCH_VERSION, setuptools and requirements.txt)"
    run "$PY" -m pip install --no-index --find-links "$WHEELS" "torch==$TORCH_VERSION" setuptools -r requirements.txt
  fi
  "$PY" -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda)" | tee -a "$LOG"

  step "build both extensions with CUDA (TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST)"
  # The two builds side by side, each with half the cores: the slowest objects (CUB's sort,
  # the torch bindings) then overlap.
  pids=()
  for module in diff-gaussian-rasterization simple-knn; do
    env FORCE_CUDA=1 MAX_JOBS="$(( ($(nproc) + 1) / 2 ))" "$PY" -m pip install --no-build-isolation --no-index \
      "./submodules/$module" > "$OUT/build_$module.log" 2>&1 &
    pids+=("$!")
  done
  for pid in "${pids[@]}"; do
    wait "$pid" || { tail -n 40 "$OUT"/build_*.log >&2; fail "an extension failed to build (logs: $OUT/build_*.log)"; }
  done
  "$PY" -c "
import diff_gaussian_rasterization as d, simple_knn._C as k, torch
assert d._C.with_cuda and k.with_cuda(), 'an extension was built without CUDA'
assert torch.cuda.is_available(), 'torch sees no GPU'
print('extensions built with CUDA; device', torch.cuda.get_device_name(0))" 2>&1 | tee -a "$LOG" ||
    fail "the CUDA build cannot run here (see above)"
else
  step "CPU dry run: the make setup venv, device $DEVICE"
  [ -x "$PY" ] || fail "no $PY: run make setup first"
  run make setup
fi
BUILT=$(( $(date +%s) - START ))

# The device flag of an entry script (train.py, render.py): `--device DEVICE`. A CPU dry run on a
# checkout whose scripts do not take --device yet runs them without it.
device_flag() {   # script device: sets FLAG
  FLAG=()
  if "$PY" "$1" --help 2>/dev/null | grep -q -- "--device"; then FLAG=(--device "$2")
  elif [ "$MODE" = gpu ]; then fail "$1 has no --device flag: this checkout cannot run it on the GPU"
  fi
}
device_flag train.py "$DEVICE"; DEVICE_FLAG=("${FLAG[@]}")
device_flag train.py cpu; CPU_FLAG=("${FLAG[@]}")
device_flag render.py "$DEVICE"; RENDER_FLAG=("${FLAG[@]}")

# ----------------------------------------------------------------------------- 2. parity
step "parity tests (CUDA kernels vs the CPU path$([ "$MODE" = gpu ] && echo ', on the GPU'))"
run "$PY" -m pytest -q -p no:cacheprovider -rs --junitxml="$OUT/parity_tests.xml" \
  tests/test_cuda_emulated.py tests/test_rasterizer_cpp.py tests/test_knn.py -k "not training"
TESTS="$("$PY" - "$OUT/parity_tests.xml" <<'EOF'
import sys, xml.etree.ElementTree as ET
suite = ET.parse(sys.argv[1]).getroot().find("testsuite")
cuda = [c for c in suite.iter("testcase") if "cuda]" in c.get("name")]
ran = [c for c in cuda if c.find("skipped") is None]
print(f"{suite.get('tests')} tests, {suite.get('failures')} failed, {suite.get('skipped')} skipped; "
      f"cuda cases run: {len(ran)} of {len(cuda)}")
EOF
)"
echo "$TESTS" | tee -a "$LOG"
if [ "$MODE" = gpu ] && ! echo "$TESTS" | grep -Eq "cuda cases run: ([1-9][0-9]*) of \1$"; then
  fail "some CUDA parity tests were skipped on the GPU machine: $TESTS (see $LOG)"
fi
KERNELS=$([ "$MODE" = gpu ] && echo cuda || echo emulated)
"$PY" -m tests.test_cuda_emulated > "$OUT/parity.md"
cat "$OUT/parity.md" >> "$LOG"
PARITY_ROW="$(grep "^| worst | $KERNELS |" "$OUT/parity.md")" || fail "no parity summary for $KERNELS"
PARITY_IMAGES="$(echo "$PARITY_ROW" | cut -d'|' -f4 | tr -d ' ')"
PARITY_GRADS="$(echo "$PARITY_ROW" | cut -d'|' -f5 | tr -d ' ')"
PARITY_RADII="$(echo "$PARITY_ROW" | cut -d'|' -f6 | tr -d ' ')"

# ----------------------------------------------------------------------------- 3. train
SCENE="$OUT/scene"
MODEL="$OUT/model_$DEVICE"
CPU_MODEL="$OUT/model_cpu_timing"
step "demo scene"
[ -d "$SCENE" ] || run "$PY" scripts/make_synthetic_scene.py "$SCENE" --seed 0 --mask_jitter 1

# s/iteration as the trainer logs it (optimisation only, per 100 iterations), averaged.
seconds_per_iteration() {
  "$PY" - "$1/metrics.csv" <<'EOF'
import csv, sys
rows = [float(r["value"]) for r in csv.DictReader(open(sys.argv[1])) if r["name"] == "train/seconds_per_iteration"]
print(f"{sum(rows) / len(rows):.4f}" if rows else "n/a")
EOF
}

step "train $ITERATIONS iterations on $DEVICE"
rm -rf "$MODEL"
run "$PY" train.py -s "$SCENE" -m "$MODEL" --config_file "$CONFIG" --eval --seed 0 --iterations "$ITERATIONS" \
  --quiet "${DEVICE_FLAG[@]}"
TRAIN_SPI="$(seconds_per_iteration "$MODEL")"
if [ "$MODE" = gpu ]; then
  step "train $CPU_ITERATIONS iterations on cpu (timing)"
  rm -rf "$CPU_MODEL"
  run "$PY" train.py -s "$SCENE" -m "$CPU_MODEL" --config_file "$CONFIG" --eval --seed 0 \
    --iterations "$CPU_ITERATIONS" --test_iterations --save_iterations --quiet "${CPU_FLAG[@]}"
  CPU_SPI="$(seconds_per_iteration "$CPU_MODEL")"
  CPU_RUN_ITERATIONS="$CPU_ITERATIONS"
  GPU_SPI="$TRAIN_SPI"
else
  CPU_SPI="$TRAIN_SPI"
  CPU_RUN_ITERATIONS="$ITERATIONS"
  GPU_SPI="n/a (dry run)"
fi

# ----------------------------------------------------------------------------- 4. render, evaluate
step "render and evaluate the test views"
run "$PY" render.py -m "$MODEL" --iteration "$ITERATIONS" --skip_train --prompt_ids "$SCENE/prompts.json" --quiet \
  "${RENDER_FLAG[@]}"
RESULT="$MODEL/test/ours_$ITERATIONS"
run "$PY" eval_lerf_mask.py --gt "$SCENE/test_mask" --pred "$RESULT/test_mask" --out "$RESULT/eval.json" \
  --scene synthetic --method "gpu_check $DEVICE"
run "$PY" metrics.py -m "$MODEL" --iteration "$ITERATIONS"
read -r PSNR MIOU < <("$PY" - "$MODEL/results.json" "$RESULT/eval.json" "ours_$ITERATIONS" <<'EOF'
import json, sys
recon, seg = json.load(open(sys.argv[1]))[sys.argv[3]], json.load(open(sys.argv[2]))
print(f"{recon['PSNR']:.2f} {100 * seg['miou']:.1f}")
EOF
)

# ----------------------------------------------------------------------------- 5. table
TOTAL=$(( $(date +%s) - START ))
SPEEDUP="n/a"
if [ "$MODE" = gpu ]; then
  SPEEDUP="$("$PY" -c "print(f'{$CPU_SPI / $GPU_SPI:.1f}x')" 2>/dev/null || echo n/a)"
fi
{
  echo
  echo "GPU check ($MODE, device $DEVICE, $(date -u +%Y-%m-%d), $(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
  echo
  echo "| check | result |"
  echo "|:--|:--|"
  echo "| parity, $KERNELS kernels vs the CPU path: largest relative error, images | $PARITY_IMAGES |"
  echo "| parity, $KERNELS kernels vs the CPU path: largest relative error, gradients | $PARITY_GRADS |"
  echo "| parity: radii equal in every scene | $PARITY_RADII |"
  echo "| parity tests | $TESTS |"
  echo "| s/iteration, CPU (demo config, $CPU_RUN_ITERATIONS iterations) | $CPU_SPI |"
  echo "| s/iteration, GPU ($ITERATIONS iterations) | $GPU_SPI |"
  echo "| GPU speed-up | $SPEEDUP |"
  echo "| test PSNR (dB), $DEVICE model at $ITERATIONS iterations | $PSNR |"
  echo "| test mIoU (%) | $MIOU |"
  echo "| build / total time (s) | $BUILT / $TOTAL |"
} | tee "$OUT/summary.md"
echo
echo "per-scene parity: $OUT/parity.md; log: $LOG"
