# halign_widgets — the lab's commands. Every target sets itself up first (tools/setup.sh is
# idempotent and takes about a second once the .venv exists).
#
#   make lab      JupyterLab on the start chapter (`make notebook`: the same in Notebook 7)
#   make voila CHAPTER=04_causality_maps   one chapter as an app page (Voilà; code hidden)
#   make test     lint, then the whole test suite: unit + widget + notebooks (papermill, nbval) + browser
#   make lint     ruff (package, tools, benchmarks, tests) and mypy (package); configured in pyproject.toml
#   make student  student copies (solutions replaced by stubs) and teacher copies in build/
#   make course   both copies of every chapter executed (default parameters) + offline HTML in handouts/
#   make binder-check  build the Binder environment afresh, run every chapter in 2 GB and one CPU
#   make bench    time / memory benchmarks (prints tables, never fails on time)
#   make gpu-check  on a CUDA machine: methods, trainings and DDP vs the CPU, with timings (docs/scale.md)
#   make clean    remove build outputs and caches (keeps .venv; `make distclean` removes it too)

SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
# extra options for `make lab`, e.g. LAB_ARGS="--ip=0.0.0.0 --port=8890" (the token stays on)
LAB_ARGS ?=
# `make voila CHAPTER=04_causality_maps [VOILA_ARGS="--port=8867"]`
CHAPTER ?=
VOILA_ARGS ?=
# `make binder-check [BINDER_ARGS="--smoke" | "--reuse" | "04_causality_maps"]`
BINDER_ARGS ?=

# `make gpu-check` runs with the machine's own python and its CUDA build of torch (not .venv, whose torch
# is the CPU build): GPU_PYTHON=/path/to/python, GPU_CHECK_ARGS="--wheels wheels/" to install the lab's
# pure-Python needs from a wheel folder first (`python tools/gpu_check.py --print-download` shows how).
GPU_PYTHON ?= python3
GPU_CHECK_ARGS ?=

.PHONY: setup setup-browser lab notebook voila lint test test-fast student course binder-check bench gpu-check clean distclean

setup:
	bash tools/setup.sh

setup-browser:
	bash tools/setup.sh --browser

# JupyterLab on notebooks/, opening chapter 00 (tools/lab.sh; the browser tests start it the same way)
lab: setup
	bash tools/lab.sh $(LAB_ARGS)

# The same in Notebook 7 (the apps render there too; tests/browser/test_notebook7.py)
notebook: setup
	HALIGN_LAB_APP=notebook bash tools/lab.sh $(LAB_ARGS)

# One chapter as an app page: Voilà on 127.0.0.1 with a token (tools/voila.sh)
voila: setup
	bash tools/voila.sh "$(CHAPTER)" $(VOILA_ARGS)

# ruff and mypy, as configured in pyproject.toml ([tool.ruff], [tool.mypy])
LINT_PATHS := halign_widgets tools benchmarks tests
lint: setup
	$(PY) -m ruff check $(LINT_PATHS)
	$(PY) -m mypy

# The README's test command (CI: .ci/run calls it). Lint first, then one pytest run, all four tiers.
test: setup-browser
	$(PY) -m ruff check $(LINT_PATHS)
	$(PY) -m mypy
	$(PY) -m pytest -q --timeout=900 --durations=25 $(PYTEST_ARGS)

# Everything but the notebook and browser tiers (quick feedback while coding).
test-fast: setup
	$(PY) -m pytest -q --timeout=300 -m "not browser and not notebook" $(PYTEST_ARGS)

student: setup
	$(PY) tools/nb_tool.py student --out build

course: setup
	$(PY) tools/nb_tool.py course --out handouts

# Rehearse a Binder launch (tools/binder_check.py): a fresh venv from binder/ as repo2docker builds
# it, then every chapter's default run on one CPU under a 2 GB memory cap; prints a table
binder-check: setup
	$(PY) tools/binder_check.py --fresh $(BINDER_ARGS)

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
