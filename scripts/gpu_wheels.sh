#!/usr/bin/env bash
# Downloads, where a package index is reachable, the wheels that scripts/gpu_check.sh installs on
# an offline GPU machine (scripts/gpu_wheels.txt, without their dependencies: that machine's
# Python already has them), copies Gaussian Grouping's rasterizer source beside them for the
# side-by-side, and prints the sizes against the 64 MiB that can be carried with the repository.
#
#   scripts/gpu_wheels.sh [DIR]                       DIR defaults to gpu_wheels (git-ignored)
#   scripts/gpu_wheels.sh --python-version 3.12 --platform manylinux_2_28_x86_64 DIR
#   scripts/gpu_wheels.sh --peer SRC DIR              SRC: Gaussian Grouping's rasterizer source folder
#                                                     (default ../shared/peers/gaussian-grouping/
#                                                     diff-gaussian-rasterization; --peer '' for none)
# Environment: PYTHON (the pip to download with, default python3), GPU_CARRY_LIMIT_MIB (64).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY_VERSION=3.12
PLATFORM=manylinux_2_28_x86_64
PEER=../shared/peers/gaussian-grouping/diff-gaussian-rasterization
DIR=gpu_wheels
while [ $# -gt 0 ]; do
  case "$1" in
    --python-version) PY_VERSION="$2"; shift ;;
    --platform) PLATFORM="$2"; shift ;;
    --peer) PEER="$2"; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    -*) echo "gpu_wheels: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) DIR="$1" ;;
  esac
  shift
done
[[ "$PY_VERSION" =~ ^3\.[0-9]+$ ]] || { echo "gpu_wheels: --python-version takes 3.N, got $PY_VERSION" >&2; exit 2; }
LIMIT_MIB="${GPU_CARRY_LIMIT_MIB:-64}"

mapfile -t REQUIREMENTS < <(sed -e 's/#.*//' scripts/gpu_wheels.txt | awk 'NF {print $1}')
mkdir -p "$DIR"
# pip matches manylinux tags exactly: also name the older glibc levels most wheels are tagged with.
PLATFORMS=(--platform "$PLATFORM")
for arch in x86_64 aarch64; do
  if [[ "$PLATFORM" == *"$arch" ]]; then
    for tag in manylinux_2_17 manylinux2014; do PLATFORMS+=(--platform "${tag}_$arch"); done
  fi
done
"${PYTHON:-python3}" -m pip download --quiet --no-deps --only-binary=:all: --implementation cp \
  --python-version "$PY_VERSION" "${PLATFORMS[@]}" -d "$DIR" "${REQUIREMENTS[@]}"

if [ -n "$PEER" ]; then
  [ -f "$PEER/setup.py" ] || { echo "gpu_wheels: no setup.py in $PEER (Gaussian Grouping's rasterizer source)" >&2; exit 1; }
  rm -rf "$DIR/peer-rasterizer.partial"
  cp -r "$PEER" "$DIR/peer-rasterizer.partial"
  rm -rf "$DIR/peer-rasterizer.partial/build" "$DIR"/peer-rasterizer.partial/*.egg-info
  rm -rf "$DIR/peer-rasterizer" && mv "$DIR/peer-rasterizer.partial" "$DIR/peer-rasterizer"
fi

mib() { awk -v b="$1" 'BEGIN {printf "%.1f", b / 1048576}'; }
echo
echo "| carried | MiB |"
echo "|:--|--:|"
TOTAL=0
for wheel in "$DIR"/*.whl; do
  bytes=$(stat -c %s "$wheel"); TOTAL=$((TOTAL + bytes))
  echo "| $(basename "$wheel") | $(mib "$bytes") |"
done
if [ -d "$DIR/peer-rasterizer" ]; then
  bytes=$(du -sb "$DIR/peer-rasterizer" | cut -f1); TOTAL=$((TOTAL + bytes))
  echo "| peer-rasterizer/ (Gaussian Grouping's rasterizer source) | $(mib "$bytes") |"
fi
REPO=$(git archive HEAD | wc -c); TOTAL=$((TOTAL + REPO))
echo "| the repository (git archive HEAD) | $(mib "$REPO") |"
echo "| **total** | **$(mib "$TOTAL")** of $LIMIT_MIB |"
if [ "$TOTAL" -gt $((LIMIT_MIB * 1048576)) ]; then
  echo "gpu_wheels: $(mib "$TOTAL") MiB is over the $LIMIT_MIB MiB that can be carried" >&2
  exit 1
fi
