#!/usr/bin/env bash
# The GPU check, for an offline machine with one NVIDIA GPU whose Python already has a CUDA torch
# (and nvcc, ninja, pytest, numpy, scipy, OpenCV, Pillow, tqdm, matplotlib, tensorboard), in one
# run of a few minutes. Its steps, each under its own time limit:
#   environment  the GPU and its architecture, nvcc and torch (their CUDA major versions must agree)
#   packages     imports each module of scripts/gpu_wheels.txt and installs only those that fail,
#                from the wheels folder, into BUILD/site (on PYTHONPATH: the Python is not changed)
#   build        both extensions with CUDA for this GPU's architecture only, MAX_JOBS = the cores,
#                into BUILD/ext; Gaussian Grouping's rasterizer (renamed) is built at the same time
#   parity       the CUDA-vs-CPU parity tests on the device, and the parity error table
#   train        the demo scene: ITERATIONS on cuda, CPU_ITERATIONS on cpu (time per iteration)
#   render       render.py, eval_lerf_mask.py and metrics.py on the GPU model
#   peer         scripts/perf/compare_peer_rasterizer.py: ours against Gaussian Grouping's rasterizer
# A failed step does not stop the steps that do not need it; the table (summary.md), the log
# (log.txt) and the parity and peer tables are written to the out folder in every case.
#
#   scripts/gpu_check.sh --python python3 --wheels gpu_wheels --out DIR     on the GPU machine
#   scripts/gpu_check.sh --cpu-dry-run --python .venv/bin/python --out DIR  every step on the CPU
# Options: --build DIR (scratch, default /tmp/gradiseg_gpu_check), --peer DIR (Gaussian Grouping's
# rasterizer source folder; default WHEELS/peer-rasterizer, else ../shared/peers/gaussian-grouping/
# diff-gaussian-rasterization), --steps a,b,c (only these), --no-peer.
# Environment: ITERATIONS (default 2000; dry run 200), CPU_ITERATIONS (200), PEER_ARGS (more
# options for the peer comparison), TORCH_CUDA_ARCH_LIST (default: this GPU's), GPU_WHEELS_LIST
# (default scripts/gpu_wheels.txt), CUDA_HOME, GPU_CHECK_LIMIT (seconds for the whole check, after
# which every step stops: default 540 on the GPU, 3600 for a dry run).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
MODE=gpu
PYTHON=python3
WHEELS=""
OUT=output/gpu_check
BUILD=/tmp/gradiseg_gpu_check
PEER=""
PEER_WANTED=1
ALL_STEPS=environment,packages,build,parity,train,render,peer
STEPS=$ALL_STEPS
usage() { sed -n '2,25p' "$0"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --cpu-dry-run) MODE=dry-run ;;
    --python|--wheels|--out|--build|--peer|--steps)
      [ $# -ge 2 ] || { echo "gpu_check: $1 needs a value (see --help)" >&2; exit 2; }
      case "$1" in
        --python) PYTHON="$2" ;; --wheels) WHEELS="$2" ;; --out) OUT="$2" ;; --build) BUILD="$2" ;;
        --peer) PEER="$2" ;; --steps) STEPS="$2" ;;
      esac
      shift ;;
    --no-peer) PEER_WANTED=0 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "gpu_check: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
for s in ${STEPS//,/ }; do
  [[ ",$ALL_STEPS," == *",$s,"* ]] || { echo "gpu_check: unknown step $s (steps: $ALL_STEPS)" >&2; exit 2; }
done
PY="$(command -v "$PYTHON" || true)"
[ -n "$PY" ] && [ -x "$PY" ] || { echo "gpu_check: no Python at $PYTHON" >&2; exit 2; }
[ -z "$WHEELS" ] || [ -d "$WHEELS" ] || { echo "gpu_check: no wheels folder $WHEELS" >&2; exit 2; }
if [ -z "$PEER" ]; then
  if [ -n "$WHEELS" ] && [ -d "$WHEELS/peer-rasterizer" ]; then PEER="$WHEELS/peer-rasterizer"
  else PEER="$ROOT/../shared/peers/gaussian-grouping/diff-gaussian-rasterization"; fi
fi
WHEELS_LIST="${GPU_WHEELS_LIST:-scripts/gpu_wheels.txt}"
CPU_ITERATIONS="${CPU_ITERATIONS:-200}"
CONFIG=config/gradiseg/short_2k.json
NPROC="$(nproc)"
if [ "$MODE" = gpu ]; then DEVICE=cuda; ITERATIONS="${ITERATIONS:-2000}"; TOTAL_LIMIT="${GPU_CHECK_LIMIT:-540}"; LIMIT_SCALE=1
# A dry run does the GPU's work on the CPU: each step gets five times as long.
else DEVICE=cpu; ITERATIONS="${ITERATIONS:-200}"; TOTAL_LIMIT="${GPU_CHECK_LIMIT:-3600}"; LIMIT_SCALE=5; fi

mkdir -p "$OUT" "$BUILD" || exit 2
OUT="$(cd "$OUT" && pwd)"; BUILD="$(cd "$BUILD" && pwd)"
LOG="$OUT/log.txt"
: > "$LOG"
rm -f "$OUT"/summary.md "$OUT"/parity.md "$OUT"/parity_tests.xml "$OUT"/peer.md "$OUT"/peer.json
# Packages from the wheels and our extensions go to scratch folders on PYTHONPATH, fresh each run.
SITE="$BUILD/site"
EXT="$BUILD/ext"
WORK="$BUILD/work"
rm -rf "$SITE" "$EXT" "$WORK"
mkdir -p "$SITE" "$EXT/rasterizer" "$EXT/knn" "$WORK"
export PYTHONPATH="$SITE:$EXT/rasterizer:$EXT/knn${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
# ninja (torch's extension builds) sits beside the Python when that Python is a venv's.
export PATH="$(dirname "$PY"):$PATH"
START=$(date +%s)

# ----------------------------------------------------------------------------- bookkeeping
declare -A STATUS SECS LIMIT
declare -A R   # results for the table
PEER_BUILD_PID=""
STEP_DEADLINE=0
FAILED=0
log() { echo "$*" | tee -a "$LOG"; }
# A command with its output in the log, under what is left of the step's time limit.
run() {
  local left=$(( STEP_DEADLINE - $(date +%s) ))
  [ "$left" -gt 0 ] || { log "   the step's time limit was reached before: $*"; return 124; }
  echo "\$ $*" >> "$LOG"
  timeout --kill-after=10 "$left" "$@" >> "$LOG" 2>&1
  local rc=$?
  if [ $rc -ne 0 ]; then
    log "   exit $rc$([ $rc -eq 124 ] || [ $rc -eq 137 ] && echo ' (time limit)'): $*"
  fi
  return $rc
}
# The same, its standard output into a file.
run_into() {
  local file=$1; shift
  local left=$(( STEP_DEADLINE - $(date +%s) ))
  [ "$left" -gt 0 ] || { log "   the step's time limit was reached before: $*"; return 124; }
  echo "\$ $* > $file" >> "$LOG"
  timeout --kill-after=10 "$left" "$@" > "$file" 2>> "$LOG" || { local rc=$?; log "   exit $rc: $*"; return $rc; }
}
wanted() { [[ ",$STEPS," == *",$1,"* ]]; }
# step NAME LIMIT_S FUNCTION [NEEDED_STEP...]: runs FUNCTION unless a needed step failed.
step() {
  local name=$1 limit=$(( $2 * LIMIT_SCALE )) fn=$3; shift 3
  LIMIT[$name]=$limit
  if ! wanted "$name"; then STATUS[$name]="not run (--steps)"; return; fi
  local need
  for need in "$@"; do
    case "${STATUS[$need]:-}" in
      ok|"not run (--steps)") ;;
      *) STATUS[$name]="skipped: $need ${STATUS[$need]:-not run}"; log "== $name skipped: $need did not succeed"; return ;;
    esac
  done
  printf '\n== [%4ds] %s (limit %ss)\n' "$(( $(date +%s) - START ))" "$name" "$limit" | tee -a "$LOG"
  local t0; t0=$(date +%s)
  STEP_DEADLINE=$(( t0 + limit ))
  # ... and never past the whole check's limit, so that the table is still written.
  [ "$STEP_DEADLINE" -le "$(( START + TOTAL_LIMIT ))" ] || STEP_DEADLINE=$(( START + TOTAL_LIMIT ))
  "$fn"
  local rc=$?
  SECS[$name]=$(( $(date +%s) - t0 ))
  case $rc in
    0) STATUS[$name]=ok ;;
    124|137) STATUS[$name]="timed out"; FAILED=1 ;;
    *) STATUS[$name]="failed (exit $rc)"; FAILED=1 ;;
  esac
}

# The table, written to OUT/summary.md whatever happened (also on Ctrl+C or a killed step).
summary() {
  local total=$(( $(date +%s) - START )) s
  # A peer build still running (its step was skipped or cut short) ends with the check.
  if [ -n "$PEER_BUILD_PID" ] && kill -0 "$PEER_BUILD_PID" 2>/dev/null; then kill "$PEER_BUILD_PID"; fi
  {
    echo "GPU check ($MODE, device $DEVICE${R[gpu]:+, ${R[gpu]}}, $(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
    echo
    echo "| step | status | s | limit s |"
    echo "|:--|:--|--:|--:|"
    for s in ${ALL_STEPS//,/ }; do
      echo "| $s | ${STATUS[$s]:-not reached} | ${SECS[$s]:--} | ${LIMIT[$s]:--} |"
    done
    echo "| **total** | $([ "$FAILED" = 0 ] && echo ok || echo FAILED) | $total | $TOTAL_LIMIT |"
    echo
    echo "| check | result |"
    echo "|:--|:--|"
    echo "| Python, torch | ${R[torch]:-n/a} |"
    echo "| packages installed from wheels | ${R[installed]:-n/a} |"
    echo "| extensions | ${R[extensions]:-n/a} |"
    echo "| parity, ${R[kernels]:-?} kernels vs the CPU path: largest relative error, images | ${R[parity_images]:-n/a} |"
    echo "| parity: largest relative error, gradients | ${R[parity_grads]:-n/a} |"
    echo "| parity: radii equal in every scene | ${R[parity_radii]:-n/a} |"
    echo "| parity tests | ${R[tests]:-n/a} |"
    echo "| s/iteration, $DEVICE (demo config, $ITERATIONS iterations) | ${R[spi]:-n/a} |"
    echo "| s/iteration, cpu ($CPU_ITERATIONS iterations) | ${R[cpu_spi]:-n/a} |"
    echo "| speed-up of $DEVICE over cpu | ${R[speedup]:-n/a} |"
    echo "| test PSNR (dB), $DEVICE model at $ITERATIONS iterations | ${R[psnr]:-n/a} |"
    echo "| test mIoU (%) | ${R[miou]:-n/a} |"
    if [ -s "$OUT/peer.md" ]; then echo; cat "$OUT/peer.md"; fi
  } > "$OUT/summary.md.partial" && mv "$OUT/summary.md.partial" "$OUT/summary.md"
  echo
  cat "$OUT/summary.md"
  echo
  echo "table: $OUT/summary.md; log: $LOG"
}
trap summary EXIT
trap 'exit 130' INT TERM

# ----------------------------------------------------------------------------- environment
step_environment() {
  R[torch]="$("$PY" -c "import sys, torch; print(f'Python {sys.version.split()[0]}, torch {torch.__version__} (CUDA {torch.version.cuda})')" 2>>"$LOG")" ||
    { log "   $PY cannot import torch"; return 1; }
  log "${R[torch]}"
  [ "$MODE" = gpu ] || return 0
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,memory.total,compute_cap,driver_version --format=csv,noheader 2>&1 | tee -a "$LOG"
  fi
  local info
  info="$("$PY" -c "
import torch
assert torch.version.cuda, 'this torch is a CPU build'
assert torch.cuda.is_available(), 'torch sees no GPU'
p = torch.cuda.get_device_properties(0)
print(f'{p.major}.{p.minor}|{p.name}, {p.total_memory / 2**30:.0f} GiB|{torch.version.cuda}')" 2>>"$LOG")" ||
    { log "   no usable GPU through $PY (see the log)"; return 1; }
  local arch="${info%%|*}" rest="${info#*|}"
  R[gpu]="${rest%%|*}"
  local torch_cuda="${rest#*|}"
  export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-$arch}"
  log "GPU ${R[gpu]}, compute capability $arch; building for TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST"
  # The toolkit: CUDA_HOME, else /usr/local/cuda, else the folder above the real nvcc on PATH
  # (/usr/local/bin/nvcc may be a wrapper script).
  if [ -z "${CUDA_HOME:-}" ]; then
    if [ -x /usr/local/cuda/bin/nvcc ]; then CUDA_HOME=/usr/local/cuda
    elif command -v nvcc >/dev/null; then
      CUDA_HOME="$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")"
      if [ ! -x "$CUDA_HOME/bin/nvcc" ] || ! grep -qs . "$CUDA_HOME/include/cuda_runtime.h"; then
        local real; real="$(grep -o '/[^ "]*/bin/nvcc' "$(command -v nvcc)" 2>/dev/null | head -n 1)"
        [ -n "$real" ] && CUDA_HOME="$(dirname "$(dirname "$real")")"
      fi
    fi
  fi
  [ -n "${CUDA_HOME:-}" ] && [ -x "$CUDA_HOME/bin/nvcc" ] || { log "   no nvcc (set CUDA_HOME)"; return 1; }
  export CUDA_HOME PATH="$CUDA_HOME/bin:$PATH"
  local nvcc_version
  nvcc_version="$("$CUDA_HOME/bin/nvcc" --version | grep -o 'release [0-9.]*' | cut -d' ' -f2)"
  log "nvcc $nvcc_version at $CUDA_HOME"
  if [ "${nvcc_version%%.*}" != "${torch_cuda%%.*}" ]; then
    log "   nvcc $nvcc_version and torch's CUDA $torch_cuda differ in major version: torch refuses to build"
    return 1
  fi
}

# ----------------------------------------------------------------------------- packages
step_packages() {
  local present=() missing=() line requirement module
  while read -r requirement module; do
    [ -n "$requirement" ] || continue
    [[ "$module" =~ ^[A-Za-z_][A-Za-z0-9_.]*$ ]] || { log "   bad module name '$module' in $WHEELS_LIST"; return 1; }
    if "$PY" -c "import $module" >/dev/null 2>&1; then present+=("$requirement"); else missing+=("$requirement"); fi
  done < <(sed -e 's/#.*//' "$WHEELS_LIST" | awk 'NF {print $1, ($2 == "" ? $1 : $2)}')
  log "already importable: ${present[*]:-none}"
  log "missing: ${missing[*]:-none}"
  if [ ${#missing[@]} -gt 0 ]; then
    [ -n "$WHEELS" ] || { log "   pass --wheels DIR with their wheels (scripts/gpu_wheels.sh makes it)"; return 1; }
    run "$PY" -m pip install --quiet --no-index --no-deps --no-compile --target "$SITE" --find-links "$WHEELS" \
      "${missing[@]}" || return 1
  fi
  R[installed]="$([ ${#missing[@]} -gt 0 ] && echo "${missing[*]}" || echo none)"
  R[installed]+=" (already there: ${present[*]:-none})"
  log "installed into $SITE: ${missing[*]:-none}"
  # Every start-up import of the entry scripts the check runs.
  local script
  for script in train.py render.py scripts/make_synthetic_scene.py; do
    run "$PY" "$script" --help > /dev/null || { log "   $script does not start (a missing import? see the log)"; return 1; }
  done
}

# ----------------------------------------------------------------------------- build
step_build() {
  # Gaussian Grouping's rasterizer builds in the background, beside ours (the peer step waits).
  if [ "$MODE" = gpu ] && wanted peer && [ "$PEER_WANTED" = 1 ] && [ -f "$PEER/setup.py" ]; then
    timeout --kill-after=10 "${LIMIT[build]}" "$PY" scripts/perf/compare_peer_rasterizer.py --build_only --peer_source "$PEER" \
      --peer_site "$BUILD/peer_site" --workdir "$BUILD/peer_work" --jobs "$NPROC" --rebuild \
      > "$BUILD/peer_build.out" 2>&1 &
    PEER_BUILD_PID=$!
    log "building Gaussian Grouping's rasterizer from $PEER in the background (pid $PEER_BUILD_PID)"
  fi
  local cuda_env=()
  if [ "$MODE" = gpu ]; then
    cuda_env=(FORCE_CUDA=1)
  elif "$PY" -c "import diff_gaussian_rasterization, simple_knn._C" 2>/dev/null; then
    R[extensions]="already importable (a dry run builds only what is missing)"
    log "${R[extensions]}"
    return 0
  fi
  local module pids=() dest rc=0
  for module in diff-gaussian-rasterization simple-knn; do
    rm -rf "$BUILD/src/$module"; mkdir -p "$BUILD/src"
    cp -r "submodules/$module" "$BUILD/src/$module" && rm -rf "$BUILD/src/$module/build" "$BUILD/src/$module"/*.egg-info
    dest="$EXT/$([ "$module" = simple-knn ] && echo knn || echo rasterizer)"
    run env "${cuda_env[@]}" MAX_JOBS="$NPROC" "$PY" -m pip install --no-build-isolation --no-index --no-deps \
      --no-compile --target "$dest" "$BUILD/src/$module" &
    pids+=("$!")
  done
  for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
  [ $rc = 0 ] || { log "   an extension failed to build (see the log)"; return 1; }
  local check="import diff_gaussian_rasterization as d, simple_knn._C as k; print('rasterizer', d.__file__)"
  if [ "$MODE" = gpu ]; then
    check+="; assert d._C.with_cuda and k.with_cuda(), 'an extension was built without CUDA'"
  fi
  run "$PY" -c "$check" || return 1
  R[extensions]="built ($([ "$MODE" = gpu ] && echo "CUDA, TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST" || echo CPU), MAX_JOBS=$NPROC)"
}

# ----------------------------------------------------------------------------- parity
step_parity() {
  R[kernels]=$([ "$MODE" = gpu ] && echo cuda || echo emulated)
  run "$PY" -m pytest -q -p no:cacheprovider -rs --junitxml="$OUT/parity_tests.xml" \
    tests/test_cuda_emulated.py tests/test_rasterizer_cpp.py tests/test_knn.py -k "not training"
  local rc=$?
  [ -s "$OUT/parity_tests.xml" ] && R[tests]="$("$PY" - "$OUT/parity_tests.xml" <<'EOF'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suite = root if root.tag == "testsuite" else root.find("testsuite")
cuda = [c for c in suite.iter("testcase") if "cuda]" in c.get("name", "")]
ran = [c for c in cuda if c.find("skipped") is None]
print(f"{suite.get('tests')} tests, {suite.get('failures')} failed, {suite.get('errors')} errors, "
      f"{suite.get('skipped')} skipped; cuda cases run: {len(ran)} of {len(cuda)}")
EOF
)"
  log "${R[tests]:-no test report}"
  [ $rc = 0 ] || return 1
  if [ "$MODE" = gpu ] && ! echo "${R[tests]:-}" | grep -Eq "cuda cases run: ([1-9][0-9]*) of \1$"; then
    log "   some CUDA parity tests were skipped on the GPU machine"; return 1
  fi
  run_into "$OUT/parity.md" "$PY" -m tests.test_cuda_emulated || return 1
  local row
  row="$(grep "^| worst | ${R[kernels]} |" "$OUT/parity.md")" || { log "   no parity summary for ${R[kernels]}"; return 1; }
  R[parity_images]="$(echo "$row" | cut -d'|' -f4 | tr -d ' ')"
  R[parity_grads]="$(echo "$row" | cut -d'|' -f5 | tr -d ' ')"
  R[parity_radii]="$(echo "$row" | cut -d'|' -f6 | tr -d ' ')"
}

# ----------------------------------------------------------------------------- train
SCENE="$WORK/scene"
MODEL="$WORK/model_$DEVICE"
# s/iteration as the trainer logs it (optimisation only, per 100 iterations), averaged.
seconds_per_iteration() {
  "$PY" - "$1/metrics.csv" <<'EOF'
import csv, sys
rows = [float(r["value"]) for r in csv.DictReader(open(sys.argv[1])) if r["name"] == "train/seconds_per_iteration"]
print(f"{sum(rows) / len(rows):.4f}" if rows else "n/a")
EOF
}
step_train() {
  run "$PY" scripts/make_synthetic_scene.py "$SCENE" --seed 0 --mask_jitter 1 --force || return 1
  run "$PY" train.py -s "$SCENE" -m "$MODEL" --config_file "$CONFIG" --eval --seed 0 --iterations "$ITERATIONS" \
    --quiet --overwrite --device "$DEVICE" || return 1
  R[spi]="$(seconds_per_iteration "$MODEL")"
  if [ "$MODE" = gpu ]; then
    run "$PY" train.py -s "$SCENE" -m "$WORK/model_cpu_timing" --config_file "$CONFIG" --eval --seed 0 \
      --iterations "$CPU_ITERATIONS" --test_iterations --save_iterations --quiet --overwrite --device cpu || return 1
    R[cpu_spi]="$(seconds_per_iteration "$WORK/model_cpu_timing")"
    R[speedup]="$("$PY" -c "print(f'{${R[cpu_spi]} / ${R[spi]}:.1f}x')" 2>/dev/null || echo n/a)"
  else
    R[cpu_spi]="${R[spi]} (the run above)"
  fi
}

# ----------------------------------------------------------------------------- render, evaluate
step_render() {
  run "$PY" render.py -m "$MODEL" --iteration "$ITERATIONS" --skip_train --prompt_ids "$SCENE/prompts.json" --quiet \
    --device "$DEVICE" || return 1
  local result="$MODEL/test/ours_$ITERATIONS"
  run "$PY" eval_lerf_mask.py --gt "$SCENE/test_mask" --pred "$result/test_mask" --out "$result/eval.json" \
    --scene synthetic --method "gpu_check $DEVICE" || return 1
  run "$PY" metrics.py -m "$MODEL" --iteration "$ITERATIONS" || return 1
  local scores
  scores="$("$PY" - "$MODEL/results.json" "$result/eval.json" "ours_$ITERATIONS" <<'EOF'
import json, sys
recon, seg = json.load(open(sys.argv[1]))[sys.argv[3]], json.load(open(sys.argv[2]))
print(f"{recon['PSNR']:.2f} {100 * seg['miou']:.1f}")
EOF
)" || return 1
  R[psnr]="${scores% *}"; R[miou]="${scores#* }"
}

# ----------------------------------------------------------------------------- peer
step_peer() {
  if [ "$PEER_WANTED" = 0 ]; then log "--no-peer: not run"; return 0; fi
  local args=(--workdir "$WORK/peer" --out "$OUT/peer.md" --json "$OUT/peer.json" --peer_site "$BUILD/peer_site")
  if [ "$MODE" = gpu ]; then
    [ -f "$PEER/setup.py" ] || { log "   no Gaussian Grouping rasterizer source at $PEER (--peer DIR)"; return 1; }
    if [ -n "$PEER_BUILD_PID" ]; then
      wait "$PEER_BUILD_PID"; local rc=$?
      cat "$BUILD/peer_build.out" >> "$LOG"
      [ -f "$BUILD/peer_work/peer_build.log" ] && cat "$BUILD/peer_work/peer_build.log" >> "$LOG"
      [ $rc = 0 ] || { log "   building Gaussian Grouping's rasterizer failed (exit $rc; see the log)"; return 1; }
    fi
    args+=(--peer_source "$PEER" --jobs "$NPROC")
  else
    # No CUDA: the script compares our C++ path with our emulated CUDA kernels, at a small size.
    args+=(--device cpu --gaussians 2000 --size 64 48 --train_gaussians 3000 --warmup 1 --repeats 3)
  fi
  # shellcheck disable=SC2086
  run "$PY" scripts/perf/compare_peer_rasterizer.py "${args[@]}" ${PEER_ARGS:-}
}

step environment 60 step_environment
step packages 90 step_packages
step build 300 step_build environment packages
step parity 180 step_parity build
step train 240 step_train build
step render 90 step_render train
step peer 240 step_peer build
[ "$FAILED" = 0 ]
