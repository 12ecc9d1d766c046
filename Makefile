# The two commands of README.md: `make book` and `make test`. Both create .venv when it is
# missing and (re)install the locked versions (requirements.lock) and the package when
# pyproject.toml or the lock changes.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
JUPYTER_BOOK := $(BIN)/jupyter-book
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with tests/notebooks/sanitize.cfg
# One pytest worker a core (pytest-xdist); loadscope keeps each notebook's cells, and each test
# module, on one worker and in order.
PARALLEL := -n auto --dist loadscope

.PHONY: book test notebooks reproduce gpu-check clean help

help:
	@echo "make book       execute every chapter and build the website into _build/html"
	@echo "make test       unit tests, nbval on the stored notebooks, sync checks, strict build"
	@echo "make notebooks  (authors) re-execute the chapters into their .ipynb, refresh the scorecard"
	@echo "make reproduce  (authors) nbval under last-bit perturbation and other BLAS kernels, a line each"
	@echo "make gpu-check  (on an NVIDIA GPU machine) NVRTC, gpu tests, memcheck, a chapter on the GPU, kernel benchmark: one JSON"
	@echo "make clean      remove _build"

$(INSTALLED): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $@

# Executes every chapter (jupyter-book's cache re-runs only what changed) and builds the site.
# It edits no tracked file: the committed scorecard changes only through `make notebooks`; the
# build's own claims are compared with it, and any row that differs is listed.
book: $(INSTALLED)
	$(JUPYTER_BOOK) build .
	$(BIN)/python -m memopt.book scorecard --from-cache --compare
	@echo
	@echo "The book is built. Open file://$(CURDIR)/_build/html/index.html"

# nbval executes the stored notebooks and compares their outputs, then once more with every
# drawn input moved by one unit in its last bit (MEMOPT_PERTURB=ulp): a stored output must
# survive another machine's rounding, and this exposes the same fragility on any CPU without
# touching the BLAS settings. The strict build then renders the checked outputs (seeded into the
# execution cache) instead of executing the chapters again, and a headless Chromium opens every
# page of that site from file:// (tests/browser).
test: $(INSTALLED)
	$(BIN)/python -m pytest tests book $(NBVAL) $(PARALLEL) --ignore=tests/browser
	MEMOPT_PERTURB=ulp $(BIN)/python -m pytest book $(NBVAL) $(PARALLEL) -p no:cacheprovider
	$(BIN)/python -m memopt.book seed-cache
	$(JUPYTER_BOOK) build . -W -n --keep-going
	$(BIN)/python -m pytest tests/browser -p no:cacheprovider

notebooks: $(INSTALLED)
	$(BIN)/python -m memopt.book execute

# The authors' diagnostic (never part of `make test`): nbval under the perturbation and the BLAS
# kernels that are safe on this machine, one line per configuration and notebook.
reproduce: $(INSTALLED)
	$(BIN)/python tests/reproduce.py $(NOTEBOOKS)

# On a machine with an NVIDIA GPU: installs CuPy when it is missing (GPU_EXTRA=gpu for CUDA 12,
# gpu-cuda13 for CUDA 13), then checks the GPU path in under 5 minutes and writes
# benchmarks/results/gpu_check.json (tests/gpu_check.py says what it runs).
GPU_EXTRA ?= gpu
gpu-check: $(INSTALLED)
	@$(BIN)/python -c "import cupy" 2>/dev/null || $(BIN)/python -m pip install --quiet -e ".[$(GPU_EXTRA)]"
	$(BIN)/python tests/gpu_check.py

clean:
	rm -rf _build
