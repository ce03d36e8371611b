# Two commands a new user needs: `make demo` and `make test`.
# Set-up is incremental: each step leaves a stamp in .venv/.stamps and is redone only
# when its inputs change.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMPS := $(VENV)/.stamps
TORCH_VERSION := 2.13.0
RASTER_SRC := $(shell find submodules/diff-gaussian-rasterization -type f \( -name '*.py' -o -name '*.h' -o -name '*.cpp' -o -name '*.cu' -o -name '*.cuh' \) -not -path '*/build/*' 2>/dev/null)
KNN_SRC := $(shell find submodules/simple-knn -type f \( -name '*.py' -o -name '*.h' -o -name '*.cpp' -o -name '*.cu' -o -name '*.cuh' \) -not -path '*/build/*' 2>/dev/null)
PYTEST_ARGS ?=

.PHONY: setup demo test test-slow bench-rasterizer bench-small bench-small-ablations bench-contact clean-ext help \
	cuda-build-check gpu-check gpu-check-dry-run gpu-wheels
help:
	@echo "make demo       set up, make a synthetic scene, train, render and evaluate (minutes on CPU)"
	@echo "make test       set up and run the fast test suite"
	@echo "make test-slow  also run the tests marked slow"
	@echo "make bench-rasterizer  rasterizer speed table (scripts/perf/bench_rasterizer.py)"
	@echo "make bench-small  segmentation benchmark: 3 synthetic scenes x {Gaussian Grouping, GradiSeg},"
	@echo "                  tables + plot in output/bench_small/results (under an hour on 2 cores; resumable)"
	@echo "make bench-small-ablations  the same plus w/o IGD and w/o LA-KNN (Table 4 rows)"
	@echo "make bench-contact  contact benchmark: 3 scenes of objects in contact at 320x240, the four"
	@echo "                  variants x 3 seeds, means with 95 % intervals (about 1 h on 2 cores; resumable)"
	@echo "make cuda-build-check  build both extensions WITH CUDA in .venv-cuda (torch 2.14.1, about 7 GB;"
	@echo "                  needs nvcc, no GPU), import them and run the extension tests there"
	@echo "make gpu-wheels   where a package index is reachable: the wheels an offline GPU machine lacks"
	@echo "                  (cp312 manylinux) and Gaussian Grouping's rasterizer source, in gpu_wheels/, with sizes"
	@echo "make gpu-check    on a GPU machine whose python3 has a CUDA torch: install what is missing from"
	@echo "                  gpu_wheels/, build for that GPU, CUDA parity tests, demo on cuda, ours vs Gaussian"
	@echo "                  Grouping's rasterizer; one table in output/gpu_check (docs/gpu.md)"
	@echo "make gpu-check-dry-run  the same steps on the CPU with .venv (checks the script; minutes)"

$(STAMPS)/venv:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	@mkdir -p $(STAMPS) && touch $@

# Never an unpinned torch: on a CPU machine it downloads a multi-GB CUDA build.
$(STAMPS)/torch: $(STAMPS)/venv
	@if $(PY) -c "import torch" 2>/dev/null; then \
	  echo "torch $$($(PY) -c 'import torch; print(torch.__version__)') already installed"; \
	else $(PIP) install "torch==$(TORCH_VERSION)"; fi
	@touch $@

$(STAMPS)/requirements: requirements.txt $(STAMPS)/torch
	$(PIP) install --quiet -r requirements.txt
	@touch $@

# --no-build-isolation: the extensions compile against the torch installed above.
$(STAMPS)/rasterizer: $(RASTER_SRC) $(STAMPS)/requirements
	@if [ -f submodules/diff-gaussian-rasterization/setup.py ]; then \
	  $(PIP) install --no-build-isolation ./submodules/diff-gaussian-rasterization; fi
	@touch $@

$(STAMPS)/knn: $(KNN_SRC) $(STAMPS)/requirements
	@if [ -f submodules/simple-knn/setup.py ]; then \
	  $(PIP) install --no-build-isolation ./submodules/simple-knn; fi
	@touch $@

setup: $(STAMPS)/rasterizer $(STAMPS)/knn

# Headless Chromium for the viewer's browser test (tests/test_viewer_trained.py): Debian's
# `chromium` through apt-get when it is missing (Playwright, from requirements.txt, drives it and
# never downloads a browser of its own). Never fatal: without apt the test skips, saying why.
# The stamp is left only once chromium is there, so a later run tries again.
$(STAMPS)/chromium: $(STAMPS)/requirements
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then APT="apt-get"; \
	  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then APT="sudo -n apt-get"; fi; \
	  if [ -n "$$APT" ]; then \
	    $$APT update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $$APT install -y -qq chromium >/dev/null \
	      || echo "note: apt-get could not install chromium; the viewer's browser test will be skipped"; \
	  else echo "note: no apt-get as root here to install chromium; the viewer's browser test will be skipped"; fi; \
	fi
	@if command -v chromium >/dev/null 2>&1; then touch $@; fi

# Optional SAM / SAM 2 (requirements-sam.txt) for `prepare_masks.py --sam` and its tests, which skip,
# saying why, without them. Never fatal and never touches torch: the packages go in with --no-deps,
# and torchvision (it must match torch exactly) only in the build that fits the installed torch: from
# the package index for a CUDA torch, from PyTorch's CPU index for a CPU torch (the package index has
# only CUDA builds, which cannot load next to a CPU torch); one that does not load is removed again,
# and without a torchvision that loads the SAM packages are not installed at all (nothing to test).
# Redone when requirements-sam.txt changes or after `rm $(STAMPS)/sam`.
TORCHVISION_VERSION := 0.28.0
$(STAMPS)/sam: requirements-sam.txt $(STAMPS)/requirements
	@if ! $(PY) -c "import torchvision.ops" >/dev/null 2>&1; then \
	  if $(PY) -c "import sys, torch; sys.exit(torch.version.cuda is None)"; then INDEX=""; \
	  else INDEX="--index-url https://download.pytorch.org/whl/cpu"; fi; \
	  $(PIP) install --quiet --no-deps --retries 1 --timeout 20 $$INDEX "torchvision==$(TORCHVISION_VERSION)" >/dev/null 2>&1; \
	  $(PY) -c "import torchvision.ops" >/dev/null 2>&1 || $(PIP) uninstall --quiet -y torchvision >/dev/null 2>&1; \
	fi
	@if $(PY) -c "import torchvision.ops" >/dev/null 2>&1; then \
	  SAM2_BUILD_CUDA=0 $(PIP) install --quiet --no-deps --no-build-isolation -r requirements-sam.txt \
	    || echo "note: requirements-sam.txt could not be installed; the SAM / SAM 2 tests will be skipped"; \
	else echo "note: no torchvision $(TORCHVISION_VERSION) that loads with this torch could be installed, so SAM / SAM 2 are not installed; their tests will be skipped"; fi
	@touch $@

test: setup $(STAMPS)/chromium $(STAMPS)/sam
	$(PY) -m pytest -q $(PYTEST_ARGS)

test-slow: setup $(STAMPS)/chromium $(STAMPS)/sam
	$(PY) -m pytest -q -m "slow or not slow" $(PYTEST_ARGS)

demo: setup
	$(PY) scripts/demo.py

bench-rasterizer: setup
	$(PY) scripts/perf/bench_rasterizer.py

# Segmentation benchmark harness (scripts/run_benchmark.py); BENCH_ARGS="--jobs 2" etc. pass through.
BENCH_ARGS ?=
bench-small: setup
	$(PY) scripts/run_benchmark.py --preset small $(BENCH_ARGS)

bench-small-ablations: setup
	$(PY) scripts/run_benchmark.py --preset small --ablations $(BENCH_ARGS)

bench-contact: setup
	$(PY) scripts/run_benchmark.py --preset contact --ablations $(BENCH_ARGS)

# Not part of `make test`: a CUDA torch and an nvcc build take many minutes and gigabytes.
cuda-build-check:
	scripts/cuda_build_check.sh

# The GPU check (scripts/gpu_check.sh, docs/gpu.md) against an existing Python with a CUDA torch:
# it installs only what that Python lacks, from gpu_wheels/ (made by `make gpu-wheels`).
GPU_CHECK_ARGS ?=
gpu-check:
	scripts/gpu_check.sh --python $(PYTHON) $(if $(wildcard gpu_wheels),--wheels gpu_wheels) $(GPU_CHECK_ARGS)

gpu-check-dry-run: setup
	scripts/gpu_check.sh --cpu-dry-run --python $(PY) $(GPU_CHECK_ARGS)

# GPU_WHEELS_ARGS="--python-version 3.12 --platform manylinux_2_28_x86_64" are the defaults.
GPU_WHEELS_ARGS ?=
gpu-wheels:
	PYTHON=$(PYTHON) scripts/gpu_wheels.sh $(GPU_WHEELS_ARGS) gpu_wheels

clean-ext:
	rm -f $(STAMPS)/rasterizer $(STAMPS)/knn
