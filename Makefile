# halign_widgets — the lab's commands. Every target sets itself up first (tools/setup.sh is
# idempotent and takes about a second once the .venv exists).
#
#   make lab      JupyterLab on the start chapter
#   make test     the whole test suite: unit + widget + notebooks (papermill, nbval) + browser
#   make course   execute every chapter with default parameters and export HTML handouts to handouts/
#   make bench    time / memory benchmarks (prints tables, never fails on time)
#   make gpu-check  on a CUDA machine: methods, trainings and DDP vs the CPU, with timings (docs/scale.md)
#   make clean    remove build outputs and caches (keeps .venv; `make distclean` removes it too)

SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
# extra options for `make lab`, e.g. LAB_ARGS="--ip=0.0.0.0 --port=8890" (the token stays on)
LAB_ARGS ?=

# `make gpu-check` runs with the machine's own python and its CUDA build of torch (not .venv, whose torch
# is the CPU build): GPU_PYTHON=/path/to/python, GPU_CHECK_ARGS="--wheels wheels/" to install the lab's
# pure-Python needs from a wheel folder first (`python tools/gpu_check.py --print-download` shows how).
GPU_PYTHON ?= python3
GPU_CHECK_ARGS ?=

.PHONY: setup setup-browser lab test test-fast course bench gpu-check clean distclean

setup:
	bash tools/setup.sh

setup-browser:
	bash tools/setup.sh --browser

# JupyterLab on notebooks/, opening chapter 00 (tools/lab.sh; the browser tests start it the same way)
lab: setup
	bash tools/lab.sh $(LAB_ARGS)

# The README's test command (CI: .ci/run calls it). One pytest run, all four tiers.
test: setup-browser
	$(PY) -m pytest -q --timeout=900 $(PYTEST_ARGS)

# Everything but the notebook and browser tiers (quick feedback while coding).
test-fast: setup
	$(PY) -m pytest -q --timeout=300 -m "not browser and not notebook" $(PYTEST_ARGS)

course: setup
	$(PY) tools/nb_tool.py course --out handouts

bench: setup
	$(PY) benchmarks/run_all.py

# Without CUDA it says so and exits 0; with CUDA, exit status 1 means a row disagrees with the CPU.
gpu-check:
	$(GPU_PYTHON) tools/gpu_check.py $(GPU_CHECK_ARGS)

clean:
	rm -rf build handouts .pytest_cache .jupyter_test checkpoints
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
	find . -path ./$(VENV) -prune -o -name .ipynb_checkpoints -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) *.egg-info
