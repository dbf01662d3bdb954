# pconv: two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.pconv-installed
PYTEST_ARGS ?=
# Test processes (pytest-xdist): one per core, at most 4; TEST_JOBS=0 runs the suite in this process.
TEST_JOBS ?= auto --maxprocesses=4

.PHONY: setup check-python test test-browser demo lab bench lint format clean help gallery

help:
	@echo "make demo   set up, then run notebooks/00_quickstart.ipynb headless (offline) into outputs/"
	@echo "make test   set up, then run every test (notebooks included, smoke mode; TEST_JOBS=0: one process)"
	@echo "make test-browser  the notebooks' widgets in Chromium through JupyterLab (needs Debian's chromium)"
	@echo "make lab    JupyterLab on notebooks/"
	@echo "make lint   ruff check, ruff format --check and the import rule (lint-imports; all in pyproject.toml)"
	@echo "make bench  the benchmarks in benchmarks/ (small CPU configurations)"
	@echo "make gallery  run notebooks 00, 02-07 with their CPU defaults (50 min on two cores) and refresh docs/gallery/"
	@echo "            (PCONV_SMOKE=1: tiny, into a temporary folder; GALLERY_DIR=... picks the folder)"
	@echo "make setup  create .venv/ and install pconv with its notebook and test extras (Python >= 3.11;"
	@echo "            PYTHON=path picks the interpreter, VENV=dir the folder, PYTEST_ARGS=... narrows make test)"

# Refuse a Python older than pyproject.toml's requires-python before anything is created or
# installed: the one in an existing $(VENV), else $(PYTHON). Plain Python 2/3 syntax, so that
# any old interpreter gets to print the message; no dollar sign (make would expand it).
define CHECK_PYTHON
import re, sys
venv = sys.argv[1]
spec = re.search(r'requires-python *= *">= *([0-9]+)[.]([0-9]+)', open("pyproject.toml").read())
need, found = tuple(int(n) for n in spec.groups()), tuple(sys.version_info[:2])
if found < need:
    if venv:
        was, fix = "%s was made with" % venv, "rm -rf %s, then run" % venv
    else:
        was, fix = "PYTHON=%s is" % sys.argv[2], "install Python %d.%d or newer and run" % need
    sys.exit("pconv needs Python >= %d.%d, but %s Python %d.%d (%s).\nTo fix: %s `make setup PYTHON=/path/to/python3`."
             % (need + (was,) + found + (sys.executable, fix)))
endef
export CHECK_PYTHON

check-python:
	@if [ -x $(PY) ]; then $(PY) -c "$$CHECK_PYTHON" $(VENV); \
	elif command -v $(PYTHON) >/dev/null; then $(PYTHON) -c "$$CHECK_PYTHON" "" $(PYTHON); \
	else echo "make: PYTHON=$(PYTHON) not found; pass the path of a newer Python: make setup PYTHON=..." >&2; exit 1; fi

# Re-installs only when the dependency lists change (the stamp is newer otherwise); checks the Python every time.
$(STAMP): pyproject.toml requirements.txt | check-python
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -e '.[test,notebook]'
	@touch $(STAMP)

setup: $(STAMP)

# --durations: the slowest tests, in CI's log too, to keep the suite's time in view
test: setup
	$(PY) -m pytest -n $(TEST_JOBS) --durations=25 $(PYTEST_ARGS)

# Playwright drives Debian's /usr/bin/chromium (apt-get install chromium); its own browser download is not used.
$(VENV)/.pconv-browser: $(STAMP)
	$(PY) -m pip install --quiet -e '.[browser]'
	@touch $@

# The gallery's studio photograph (tests/test_browser_gallery.py) runs in `make gallery`, not here.
test-browser: $(VENV)/.pconv-browser
	$(PY) -m pytest -m browser $(filter-out tests/test_browser_gallery.py,$(wildcard tests/test_browser*.py))

# The README's figures: each notebook's cells tagged gallery:NAME give NAME.png (pconv/notebook/gallery.py),
# then Chromium photographs the studio on the runs the notebooks trained; the PNGs together stay under 3 MB.
GALLERY_SMOKE := $(filter 1,$(PCONV_SMOKE))
GALLERY_TMP   := $(or $(TMPDIR),/tmp)/pconv-gallery-smoke
GALLERY_DIR   ?= $(if $(GALLERY_SMOKE),$(GALLERY_TMP)/gallery,docs/gallery)
GALLERY_WORK  ?= $(if $(GALLERY_SMOKE),$(GALLERY_TMP)/work,outputs/gallery)
GALLERY_ARGS  ?=# e.g. GALLERY_ARGS="--only 07_ablations": redo one notebook, keeping the others' runs
gallery: $(VENV)/.pconv-browser
	$(PY) -m pconv.notebook.gallery --out $(GALLERY_DIR) --work $(GALLERY_WORK) $(GALLERY_ARGS)
	PCONV_GALLERY_DIR=$(abspath $(GALLERY_DIR)) PCONV_GALLERY_WORK=$(abspath $(GALLERY_WORK)) $(PY) -m pytest -m browser tests/test_browser_gallery.py
	$(PY) -m pconv.notebook.gallery --check $(GALLERY_DIR)

demo: setup
	$(PY) -m pconv.notebook.runner notebooks/00_quickstart.ipynb

# JupyterLab refuses to start as root (containers, cloud machines, CI) unless told it may.
USER_ID ?= $(shell id -u)
lab: setup
	$(VENV)/bin/jupyter lab notebooks/$(if $(filter 0,$(USER_ID)), --allow-root)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: setup
	$(PY) benchmarks/bench_pconv.py
	$(PY) benchmarks/bench_masks.py
	$(PY) benchmarks/bench_unet.py
	$(PY) benchmarks/bench_fills.py

clean:
	rm -rf $(VENV) outputs .pytest_cache
