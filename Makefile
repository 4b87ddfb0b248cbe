# vidlib: the book and its checks. Every target installs what it needs into .venv
# (created with $(PYTHON); reinstalled only when requirements.txt or pyproject.toml
# change), so on a fresh clone `make test` or `make book` is the only command.
#
#   make book    run every notebook with the cpu profile, JOBS (default 2) chapters
#                at a time, build _build/html (FRESH=1: first retrain the committed
#                reference runs, about an hour each on two CPU cores; see
#                vidlib/committed.py)
#   make test    ruff, pytest (unit + notebook smoke runs), nbval, smoke book build
#   make lab     JupyterLab on notebooks/ (MyST .md files open as notebooks)
#   make lint    ruff check + ruff format --check
#   make clean   remove _build, _runs and book/generated

PYTHON ?= python3
JOBS ?= 2
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LINT_PATHS := $(wildcard vidlib tests benchmarks)
SLUGS = $(basename $(notdir $(wildcard notebooks/*.md)))
SMOKE_NOTEBOOKS = $(foreach s,$(SLUGS),_runs/smoke/$(s)/$(s).ipynb)
REFERENCE_SLUGS = $(patsubst notebooks/params/%.reference.yaml,%,\
	$(wildcard notebooks/params/*.reference.yaml))
OFFLINE := .ci/offline
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: venv book test crash-test smoke-runs nbval smoke-book lint lab clean

venv: $(STAMP)

# --no-compile: bytecode is written on first import instead of for every installed file
# (torch's included), about 35 s off a fresh install on 2 cores.
$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --no-compile -r requirements.txt
	$(PY) -m pip install -e . --no-deps
	touch $@

book: $(STAMP)
	$(if $(FRESH),$(PY) -m vidlib.committed $(REFERENCE_SLUGS))
	$(PY) -m vidlib.runner run --all --profile cpu --jobs $(JOBS)
	$(PY) -m vidlib.runner build --profile cpu
	@echo "open _build/html/index.html"

# Order, each step stopping the target on failure:
# 1. ruff (seconds);
# 2. pytest: unit tests, and tests/test_notebooks.py, whose smoke runs go through
#    vidlib.runner.run_all into _runs/smoke/ (cached by inputs hash);
# 3. smoke-runs: `run --all --profile smoke` makes sure every executed smoke notebook
#    exists; it only reports "up to date" when step 2 already ran them;
# 4. nbval re-executes those notebooks (cells marked NBVAL_CHECK_OUTPUT must match);
#    VIDLIB_OUT_ROOT sends their outputs to _build/nbval, so the runner's cache in
#    _runs/smoke stays valid (see vidlib.results.resolve_out_dir);
# 5. the smoke book, warnings as errors, into _build/smoke/_build/html.
# Steps 2-5 run with no network (.ci/offline: a network namespace with only the
# loopback); only the install above reaches the package index.
test: $(STAMP)
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(OFFLINE) $(PY) -m pytest -q
	$(OFFLINE) $(MAKE) --no-print-directory nbval smoke-book

# 20 SIGKILLs per model family, each run compared with an uninterrupted one
# (tests/test_crash.py; about 20 minutes on two cores)
crash-test: $(STAMP)
	$(OFFLINE) $(PY) -m pytest -q -m crash -s tests/test_crash.py

smoke-runs: $(STAMP)
	$(PY) -m vidlib.runner run --all --profile smoke

nbval: smoke-runs
	VIDLIB_OUT_ROOT=$(CURDIR)/_build/nbval $(PY) -m pytest -q -p no:cacheprovider \
		--nbval-lax --nbval-current-env $(SMOKE_NOTEBOOKS)

smoke-book: smoke-runs
	$(PY) -m vidlib.runner build --profile smoke --out _build/smoke

lint: $(STAMP)
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)

# jupytext bundles its JupyterLab extension; this checks it is enabled and makes MyST
# .md files open as notebooks by default (a setting kept inside .venv).
lab: $(STAMP)
	$(VENV)/bin/jupyter labextension list 2>&1 | grep -q "jupyterlab-jupytext.*enabled"
	$(VENV)/bin/jupytext-config \
		--settings-file $(VENV)/etc/jupyter/labconfig/default_setting_overrides.json \
		set-default-viewer markdown myst
	$(VENV)/bin/jupyter lab $(ALLOW_ROOT) notebooks

clean:
	rm -rf _build _runs book/generated
