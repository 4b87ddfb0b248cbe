# vidlib: the book and its checks. Every target installs what it needs into .venv
# (created with $(PYTHON); reinstalled only when requirements.txt or pyproject.toml
# change; npm fetches the widget JS the book serves), so on a fresh clone `make test`
# or `make book` is the only command.
#
#   make book    run every notebook with the cpu profile, JOBS (default 2) chapters
#                at a time, build _build/html (FRESH=1: first retrain the committed
#                reference runs, about an hour each on two CPU cores; see
#                vidlib/committed.py)
#   make test    ruff; side by side, pytest's unit tests and the smoke runs of every
#                notebook followed by nbval and the smoke book with every page
#                checked in headless Chromium; then the smoke runs' own tests
#   make check-pages-cpu   the same page check on make book's _build/html
#   make lab     JupyterLab on notebooks/ (MyST .md files open as notebooks)
#   make publish commit the book in _build/html (make book's) as one new commit on
#                branch gh-pages, touching nothing else; then git push origin gh-pages
#   make lint    ruff check + ruff format --check
#   make clean   remove _build, _runs and book/generated

PYTHON ?= python3
JOBS ?= 2
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NPM_PACKS := $(VENV)/npm/.fetched
LINT_PATHS := $(wildcard vidlib tests benchmarks)
SLUGS = $(basename $(notdir $(wildcard notebooks/*.md)))
SMOKE_NOTEBOOKS = $(foreach s,$(SLUGS),_runs/smoke/$(s)/$(s).ipynb)
REFERENCE_SLUGS = $(patsubst notebooks/params/%.reference.yaml,%,\
	$(wildcard notebooks/params/*.reference.yaml))
# variant reference runs, <slug>/<variant> from <slug>.reference-<variant>.yaml
REFERENCE_SLUGS += $(subst .reference-,/,$(patsubst notebooks/params/%.yaml,%,\
	$(wildcard notebooks/params/*.reference-*.yaml)))
OFFLINE := .ci/offline
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: venv book test unit-tests crash-test smoke-runs nbval smoke-book check-pages \
	check-pages-cpu lint lab publish clean

venv: $(STAMP)

# --no-compile: bytecode is written on first import instead of for every installed file
# (torch's included), about 35 s off a fresh install on 2 cores. That needs Python to
# write it: where the environment sets PYTHONDONTWRITEBYTECODE (this project's
# machines do), every process would compile torch from source again, 2 s for `import
# torch` and 4 s more for the torch._dynamo that each optimizer imports.
unexport PYTHONDONTWRITEBYTECODE
$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --no-compile -r requirements.txt
	$(PY) -m pip install -e . --no-deps
	touch $@

# the ipywidgets HTML manager and require.js, pinned npm tarballs the book serves
# itself (vidlib/runner/vendor.py); fetched here, while the network is there
$(NPM_PACKS): $(STAMP) vidlib/runner/vendor.py
	$(PY) -m vidlib.runner.vendor
	touch $@

book: $(STAMP) $(NPM_PACKS)
	$(if $(FRESH),$(PY) -m vidlib.committed $(REFERENCE_SLUGS))
	$(PY) -m vidlib.runner run --all --profile cpu --jobs $(JOBS)
	$(PY) -m vidlib.runner build --profile cpu
	@echo "open _build/html/index.html"

# Order, each step stopping the target on failure:
# 1. ruff (seconds);
# 2. side by side (make -j2, each one's output kept together), as two cores allow:
#    - unit-tests: pytest on every test file but tests/test_notebooks.py;
#    - smoke-runs: `run --all --profile smoke --jobs 2` runs every chapter, two at a
#      time, into _runs/smoke (cached by inputs hash); once they exist, and as the
#      unit tests free a slot, nbval re-executes them (cells marked
#      NBVAL_CHECK_OUTPUT must match; VIDLIB_OUT_ROOT sends their outputs to
#      _build/nbval, so the runner's cache in _runs/smoke stays valid, see
#      vidlib.results.resolve_out_dir), and check-pages builds the smoke book,
#      warnings as errors, into _build/smoke/_build/html and checks every page of it
#      in headless Chromium (/usr/bin/chromium);
# 3. tests/test_notebooks.py, alone: it checks the smoke runs of step 2 (its fixture
#    finds them up to date; same jobs, so same threads per kernel) and reruns the
#    MoCoGAN chapter while watching that nothing else in the repository changes,
#    which the other steps' files would break.
# Steps 2-3 run with no network (.ci/offline: a network namespace with only the
# loopback); only the install above reaches the package index.
test: $(STAMP) $(NPM_PACKS)
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(OFFLINE) $(MAKE) --no-print-directory -j2 --output-sync=target \
		unit-tests nbval check-pages
	$(OFFLINE) $(PY) -m pytest -q tests/test_notebooks.py

unit-tests: $(STAMP)
	$(PY) -m pytest -q --ignore=tests/test_notebooks.py

# 20 SIGKILLs per model family, each run compared with an uninterrupted one
# (tests/test_crash.py; about 20 minutes on two cores)
crash-test: $(STAMP)
	$(OFFLINE) $(PY) -m pytest -q -m crash -s tests/test_crash.py

# two at a time, as tests/test_notebooks.py's fixture (SMOKE_JOBS)
smoke-runs: $(STAMP)
	$(PY) -m vidlib.runner run --all --profile smoke --jobs 2

nbval: smoke-runs
	VIDLIB_OUT_ROOT=$(CURDIR)/_build/nbval $(PY) -m pytest -q -p no:cacheprovider \
		--nbval-lax --nbval-current-env $(SMOKE_NOTEBOOKS)

smoke-book: smoke-runs $(NPM_PACKS)
	$(PY) -m vidlib.runner build --profile smoke --out _build/smoke

# vidlib/runner/pages.py: links, outside URLs and requests, console errors, images,
# videos, math, explorers. The smoke book's screenshots add a third to the check's
# time and no reader looks through them: SHOTS=1 saves them (check-pages-cpu always
# saves them, in <html>/_screenshots)
check-pages: smoke-book
	$(PY) -m vidlib.runner check-pages --profile smoke $(if $(SHOTS),,--no-screenshots)

# the cpu book as make book left it (no rebuild)
check-pages-cpu: $(STAMP)
	$(PY) -m vidlib.runner check-pages --profile cpu

lint: $(STAMP)
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)

# jupytext bundles its JupyterLab extension; this checks it is enabled and makes MyST
# .md files open as notebooks by default (a setting kept inside .venv). Its server
# extension (enabled by .venv/etc/jupyter/jupyter_server_config.d/jupytext.json) makes
# the contents manager jupytext's. That manager reads jupytext settings only from files
# inside the server's root, so it does not see pyproject.toml's: LAB_JUPYTEXT gives it
# the same filter, without which saving a chapter would drop its `vidlib: needs` and
# add jupytext's version numbers (tests/test_lab.py starts the server with it).
LAB_JUPYTEXT := --JupytextConfiguration.notebook_metadata_filter=mystnb,vidlib,-jupytext.text_representation.jupytext_version,-jupytext.text_representation.format_version
lab: $(STAMP)
	$(VENV)/bin/jupyter labextension list 2>&1 | grep -q "jupyterlab-jupytext.*enabled"
	$(VENV)/bin/jupytext-config \
		--settings-file $(VENV)/etc/jupyter/labconfig/default_setting_overrides.json \
		set-default-viewer markdown myst
	$(VENV)/bin/jupyter lab $(ALLOW_ROOT) $(LAB_JUPYTEXT) notebooks

# git plumbing with a temporary index (vidlib/runner/publish.py): HEAD, the index and
# the working tree stay as they are; no rebuild, it refuses a folder with no index.html
publish: $(STAMP)
	$(PY) -m vidlib.runner publish

clean:
	rm -rf _build _runs book/generated
