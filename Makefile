# Two commands from nothing: `make train` and `make test` each set up .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The torch release setup installs; `make setup TORCH_VERSION=...` replaces a different one
# in an existing .venv. TORCH_INDEX: a package index to take torch from (e.g. one of
# PyTorch's CUDA indexes); empty = your own pip configuration. TORCH_DEVICE: auto (cuda
# where nvidia-smi answers, else cpu), cpu or cuda.
TORCH_VERSION ?= 2.13.0
TORCH_INDEX ?=
TORCH_DEVICE ?= auto
# Extras installed by setup; `make setup EXTRAS=dev` for a lighter install.
EXTRAS ?= dev,sweep,export,tracking,postgres,baselines,panel,serve
# The versions of every other package, fixed so that two set-ups resolve the same
# (`make lock` regenerates it); torch is not in it: the lines above choose the build.
CONSTRAINTS ?= constraints.txt
# Every extra, so that the lock file fixes the versions of all of them.
LOCK_EXTRAS ?= dev,sweep,export,tracking,postgres,baselines,panel,serve
PYTEST_ARGS ?=
# One tier of marked tests; pytest's exit code 5 (it collected no test) passes.
run_tier = $(PY) -m pytest -n 0 $(1) $(PYTEST_ARGS) || { rc=$$?; [ $$rc -eq 5 ] || exit $$rc; echo "(no tests in this tier)"; }

.PHONY: setup torch lock train test test-slow test-slurm test-postgres test-browser test-all lint \
	tensorboard mlflow bench clean-logs

setup: $(VENV)/.installed

# torch first, so that the package's `torch>=...` never pulls another build: see
# scripts/setup_torch.py (what it installs, from where, and the device check after it).
# It runs on every setup and only says "kept" when nothing changed.
torch:
	@test -x $(PY) || { echo "setup: creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	@$(PYTHON) scripts/setup_torch.py $(PY) --version "$(TORCH_VERSION)" \
	  --index "$(TORCH_INDEX)" --device "$(TORCH_DEVICE)" --constraints "$(CONSTRAINTS)"

$(VENV)/.installed: pyproject.toml $(CONSTRAINTS) | torch
	$(PY) -m pip install -c $(CONSTRAINTS) -e ".[$(EXTRAS)]"
	@echo "setup: fivestep[$(EXTRAS)] installed with the versions of $(CONSTRAINTS)"
	touch $@

# Resolve the newest versions pyproject.toml allows in a scratch venv (with the same torch)
# and write them to constraints.txt; review the diff, run the tests, commit.
lock:
	rm -rf $(VENV)-lock && $(PYTHON) -m venv $(VENV)-lock
	$(PYTHON) scripts/setup_torch.py $(VENV)-lock/bin/python --version "$(TORCH_VERSION)" \
	  --index "$(TORCH_INDEX)" --device cpu
	$(VENV)-lock/bin/python -m pip install -e ".[$(LOCK_EXTRAS)]"
	{ echo "# The versions \`make setup\` installs (pip install -c constraints.txt)."; \
	  echo "# Written by \`make lock\` from the newest that pyproject.toml allows; torch is"; \
	  echo "# left out on purpose (the Makefile picks its build: TORCH_VERSION, TORCH_INDEX)."; \
	  $(VENV)-lock/bin/python -m pip freeze --exclude-editable \
	    | grep -viE '^(torch|triton|nvidia-[a-z0-9-]*|cuda-[a-z0-9-]*|fivestep)=='; } > $(CONSTRAINTS)
	rm -rf $(VENV)-lock
	@echo "lock: wrote $(CONSTRAINTS); review it with git diff"

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
	$(PY) -m ruff check src tests scripts train.py eval.py predict.py export.py serve.py

tensorboard: setup
	bash scripts/tensorboard.sh

mlflow: setup
	bash scripts/mlflow_ui.sh

bench: setup
	$(PY) scripts/benchmark.py

clean-logs:
	find logs -mindepth 1 ! -name .gitkeep -exec rm -rf {} +
