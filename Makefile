# edgeconv: two commands on a fresh Debian/Ubuntu machine.
#
#   make demo   set up, then compress, build and verify the bundled demo model for rpi4
#   make test   set up, then run the whole test suite (slow end-to-end tests included);
#               `make test TESTS=tests/unit/test_cli.py` runs a part of it
#
# Setup is done once and remembered: system packages are checked (and installed with apt-get
# when missing), .venv is created with torch pinned and edgeconv installed in editable mode.
# Python packages are installed at the exact versions of constraints.txt. The stamp
# .venv/.installed is renewed when pyproject.toml, setup.py or constraints.txt changes.

SHELL := /bin/bash
PYTHON ?= python3
TORCH_VERSION := 2.13.0
VENV := .venv
VENV_PYTHON := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
PYTEST_WORKERS ?= 2
TESTS ?= tests/

# Quiet, reproducible, single-threaded numerics per test worker (2 workers on 2 cores).
export OMP_NUM_THREADS := 1
export PYTHONHASHSEED := 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export TF_CPP_MIN_LOG_LEVEL := 2
export COLUMNS := 120

.PHONY: demo test setup system-deps wheel clean

demo: setup
	$(VENV_PYTHON) -m edgeconv.zoo.demo

test: setup
	$(VENV_PYTHON) -m pytest -n $(PYTEST_WORKERS) --durations=15 $(TESTS)

setup: system-deps $(INSTALLED)

system-deps:
	@bash scripts/install_system_deps.sh

$(INSTALLED): pyproject.toml setup.py constraints.txt
	test -x $(VENV_PYTHON) || $(PYTHON) -m venv $(VENV)
	$(VENV_PYTHON) -m pip install "torch==$(TORCH_VERSION)"
	$(VENV_PYTHON) -m pip install -c constraints.txt -e ".[test,zig]"
	touch $@

wheel: setup
	$(VENV_PYTHON) -m pip wheel --no-deps --wheel-dir dist .

clean:
	rm -rf build dist edgeconv.egg-info .pytest_cache
