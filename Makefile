# The README's two commands: `make figures` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: figures figures-long test test-slow bench setup clean

$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,dask]'
	@touch $(STAMP)

setup: $(STAMP)

## Regenerate the figures (only those whose inputs changed) and the verification report build/REPORT.md.
figures: $(STAMP)
	$(PY) -m convergence figures --scale default

## The network orderings that need more training than the main job allows (the recipes with an
## optional `long` scale; about 20 minutes on 2 cores). Report: build/long/REPORT.md.
figures-long: $(STAMP)
	$(PY) -m convergence figures --scale long --out build/long

## The test suite (under 15 minutes on 2 cores).
test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider

## Paper-scale checks (slow marker).
test-slow: $(STAMP)
	CONVERGENCE_SLOW=1 $(PY) -m pytest -q -p no:cacheprovider -m slow

## Benchmarks (print ratios against baselines measured in the same run).
bench: $(STAMP)
	$(PY) benchmarks/bench_steps.py

clean:
	rm -rf build data/cache .pytest_cache
