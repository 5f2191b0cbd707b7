# Two commands from nothing: `make train` and `make test` each set up .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_VERSION ?= 2.13.0
# Extras installed by setup; `make setup EXTRAS=dev` for a lighter install.
EXTRAS ?= dev,sweep,export,tracking,postgres
PYTEST_ARGS ?=
# One tier of marked tests; pytest's exit code 5 (it collected no test) passes.
run_tier = $(PY) -m pytest $(1) $(PYTEST_ARGS) || { rc=$$?; [ $$rc -eq 5 ] || exit $$rc; echo "(no tests in this tier)"; }

.PHONY: setup train test test-slow test-slurm test-postgres test-browser test-all lint tensorboard mlflow bench clean-logs

setup: $(VENV)/.installed

# torch first: a CUDA build from PyPI where nvidia-smi answers, otherwise the CPU
# build (a local +cpu wheel when pip can find one, else PyTorch's CPU index).
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@if $(PY) -c "import torch" 2>/dev/null; then \
	  echo "torch already installed: $$($(PY) -c 'import torch; print(torch.__version__)')"; \
	elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then \
	  $(PY) -m pip install "torch==$(TORCH_VERSION)"; \
	else \
	  $(PY) -m pip install "torch==$(TORCH_VERSION)+cpu" 2>/dev/null || \
	  $(PY) -m pip install "torch==$(TORCH_VERSION)" --index-url https://download.pytorch.org/whl/cpu; \
	fi
	$(PY) -m pip install -e ".[$(EXTRAS)]"
	touch $@

train: setup
	$(PY) train.py experiment=two_layer

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

# the slow tier without the tiers that need services (they have targets of their own)
test-slow: setup
	$(call run_tier,-m "slow and not slurm and not postgres")

# Against the local SLURM cluster and PostgreSQL server: `scripts/local_slurm.sh up`,
# `scripts/local_postgres.sh up` first (root; .ci/run does both, and takes them down).
test-slurm: setup
	$(call run_tier,-m slurm)

test-postgres: setup
	$(call run_tier,-m postgres)

# The dashboard screenshot in headless Chromium; installs Debian's chromium if missing (root).
test-browser: setup
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
	$(call run_tier,-m browser)

test-all: test test-slow test-slurm test-postgres test-browser

lint: setup
	$(PY) -m ruff check src tests scripts train.py eval.py predict.py export.py

tensorboard: setup
	bash scripts/tensorboard.sh

mlflow: setup
	bash scripts/mlflow_ui.sh

bench: setup
	$(PY) scripts/benchmark.py

clean-logs:
	find logs -mindepth 1 ! -name .gitkeep -exec rm -rf {} +
