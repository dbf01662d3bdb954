# pconv: two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.pconv-installed

.PHONY: setup test demo lab bench lint format clean help

help:
	@echo "make demo   set up, then run notebooks/00_quickstart.ipynb headless (offline) into outputs/"
	@echo "make test   set up, then run every test (notebooks included, smoke mode)"
	@echo "make lab    JupyterLab on notebooks/"
	@echo "make lint   ruff check and ruff format --check (configured in pyproject.toml)"
	@echo "make bench  the benchmarks in benchmarks/ (small CPU configurations)"
	@echo "make setup  create .venv/ and install pconv with its notebook and test extras"

# Re-installs only when the dependency lists change (the stamp is newer otherwise).
$(STAMP): pyproject.toml requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -e '.[test,notebook]'
	@touch $(STAMP)

setup: $(STAMP)

test: setup
	$(PY) -m pytest

demo: setup
	$(PY) -m pconv.nbrun notebooks/00_quickstart.ipynb

# JupyterLab refuses to start as root (containers, cloud machines, CI) unless told it may.
USER_ID ?= $(shell id -u)
lab: setup
	$(VENV)/bin/jupyter lab notebooks/$(if $(filter 0,$(USER_ID)), --allow-root)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: setup
	$(PY) benchmarks/bench_pconv.py
	$(PY) benchmarks/bench_masks.py
	$(PY) benchmarks/bench_unet.py

clean:
	rm -rf $(VENV) outputs .pytest_cache
