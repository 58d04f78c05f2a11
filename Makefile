# Two commands do everything on a fresh machine with Python 3.11 and pip:
#   make lab    set up .venv and open the tutorials in JupyterLab
#   make test   set up .venv and run every test (unit tests + every notebook under nbval)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Silence TensorFlow's start-up lines in every process and kernel started from here.
export TF_CPP_MIN_LOG_LEVEL := 3
export TF_ENABLE_ONEDNN_OPTS := 0
export PYTHONHASHSEED := 0

# JupyterLab refuses to run as root unless told (containers, CI machines).
LAB_FLAGS := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: lab test test-robust unit lint notebooks data figures benchmark benchmark-full clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

# JupyterLab's defaults for this project only (.jupyter/overrides.json, copied into the
# virtual environment, where JupyterLab reads them; a user's own settings still win): no
# news or update pop-up. The notebooks folder is the file browser's root.
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.json

$(LAB_OVERRIDES): .jupyter/overrides.json $(STAMP)
	@mkdir -p $(dir $@)
	cp .jupyter/overrides.json $@

lab: $(STAMP) $(LAB_OVERRIDES)
	$(BIN)/jupyter lab $(LAB_FLAGS) --ServerApp.root_dir=notebooks

# Tests run in JOBS processes, a notebook or a test file each (pytest-xdist): a notebook
# keeps about one core busy, so on 2 cores two at a time finish sooner.
JOBS ?= 2

# The notebooks run with oneDNN's kernels on and one intra-op thread (conftest.py): a float
# path other than the one that wrote their outputs, so every claim they assert is checked
# against last-bit noise. Files are handed out in the order conftest.py collects them: the
# longest tutorials first (`runtimes.json`), so that 08 does not start last.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n $(JOBS) --dist loadfile --no-loadscope-reorder

# Another perturbation, for changed notebooks before they are committed (about an hour):
# every notebook re-executed in a temporary copy with oneDNN on and TensorFlow's default
# threads (`make test` runs one thread; one thread without oneDNN leaves small models,
# 05's, on the reference bits); prints the cells that raised and each notebook's largest
# shift of a printed number.
test-robust: $(STAMP)
	$(BIN)/python scripts/run_robust.py --perturb onednn --jobs $(JOBS)

# `make unit FAST=1` skips the tests marked slow (they start fresh processes or worker pools).
unit: $(STAMP)
	$(BIN)/python -m pytest -n $(JOBS) --dist loadfile tests $(if $(FAST),-m "not slow")

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check mtl_lib tests scripts benchmarks

notebooks: $(STAMP)
	$(BIN)/python scripts/run_notebooks.py

data: $(STAMP)
	$(BIN)/python scripts/make_data.py

figures: $(STAMP)
	$(BIN)/python scripts/make_figures.py

benchmark: $(STAMP)
	$(BIN)/python benchmarks/reader.py
	$(BIN)/python benchmarks/pipeline.py
	$(BIN)/python benchmarks/pipeline.py --peak

# One epoch of ESMM streamed from 1M and 5M rows in the converted Ali-CCP layout (minutes).
benchmark-full: $(STAMP)
	$(BIN)/python benchmarks/full_size.py

clean:
	rm -rf $(VENV) build *.egg-info

# mtl_lib against DeepCTR (benchmarks/deepctr.py). DeepCTR needs the legacy Keras 2
# (tf_keras), so it gets its own venv, installed from a complete lock with --no-deps.
DEEPCTR_VENV := benchmarks/.venv-deepctr
DEEPCTR_STAMP := $(DEEPCTR_VENV)/.installed

.PHONY: benchmark-deepctr

$(DEEPCTR_STAMP): benchmarks/requirements-deepctr.txt
	@test -x $(DEEPCTR_VENV)/bin/python || $(PYTHON) -m venv $(DEEPCTR_VENV)
	$(DEEPCTR_VENV)/bin/python -m pip install --quiet --no-deps -r benchmarks/requirements-deepctr.txt
	@touch $(DEEPCTR_STAMP)

# The default a user gets (no XLA), then both libraries with XLA (jit_compile=True).
benchmark-deepctr: $(STAMP) $(DEEPCTR_STAMP)
	$(BIN)/python benchmarks/deepctr.py --deepctr-python $(DEEPCTR_VENV)/bin/python
	$(BIN)/python benchmarks/deepctr.py --deepctr-python $(DEEPCTR_VENV)/bin/python --xla
