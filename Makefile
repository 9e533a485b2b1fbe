# The README's two commands: `make figures` and `make test` (and `make docs`). All create .venv on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

DOCS_STAMP := $(VENV)/.docs-installed

.PHONY: figures figures-long test test-slow bench setup data docs clean FORCE

$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,dask,data]'
	@touch $(STAMP)

setup: $(STAMP)

## A data set for the network recipes: MNIST by the pinned-hash download when the network is reachable,
## else Fashion-MNIST from the Debian package when it can be installed (root with apt-get). Never fails:
## without either, `make figures` reports the network recipes as skipped and everything else runs.
data: $(STAMP)
	@st=$$($(PY) -m convergence data status); \
	if echo "$$st" | grep -q '^mnist: not found'; then \
	  timeout 300 $(PY) -m convergence data fetch-mnist >/dev/null 2>&1 \
	    || echo "note: MNIST download not possible here (offline?)"; \
	  st=$$($(PY) -m convergence data status); \
	fi; \
	if echo "$$st" | grep -q '^mnist: not found' && echo "$$st" | grep -q '^fashion-mnist: not found'; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null) \
	      || echo "note: could not install dataset-fashion-mnist"; \
	  else echo "note: no data set; as root: apt-get install dataset-fashion-mnist"; fi; \
	fi
	@$(PY) -m convergence data status

## Regenerate the figures (only those whose inputs changed) and the verification report build/REPORT.md.
figures: $(STAMP) data
	$(PY) -m convergence figures --scale default

## One figure and its report entries, e.g. `make build/figures/p1_fig3.png` (the recipe's NAME; SCALE=quick for a
## smoke test). The runner decides what to recompute, so the rule always hands over to it.
SCALE ?= default
build/figures/%.png build/figures/%.pdf: $(STAMP) FORCE
	$(PY) -m convergence figures $* --scale $(SCALE)

FORCE:

## The network orderings that need more training than the main job allows (the recipes with an
## optional `long` scale; on 2 cores P2 Fig. 4 took 20 minutes, the Swin study 36). Report: build/long/REPORT.md.
figures-long: $(STAMP)
	$(PY) -m convergence figures --scale long --out build/long

## The test suite, one pytest-xdist worker per core, at most 4 (several tests start worker pools of their own): the
## tests are independent (each writes under its own tmp_path). About 6 minutes with set-up on a 2-core machine (one
## worker would take about 12); the budget is under 15 minutes.
test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider -n auto --maxprocesses 4

## Paper-scale checks (slow marker).
test-slow: $(STAMP)
	CONVERGENCE_SLOW=1 $(PY) -m pytest -q -p no:cacheprovider -n auto --maxprocesses 4 -m slow

## The documentation (Sphinx, furo theme): API reference, tutorials, theory guide, with every notebook
## executed; warnings are errors. Output: build/docs/html/index.html.
$(DOCS_STAMP): $(STAMP) pyproject.toml Makefile
	$(PY) -m pip install --quiet -e '.[test,dask,data,docs]'
	@touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	$(PY) -m sphinx -b html -W --keep-going docs build/docs/html

## Benchmarks: every benchmarks/bench_*.py in one run, one table of ratios against baselines measured in
## the same run (PyTorch rows only when TORCH_PYTHON names an interpreter with torch; aihwkit's P1 Fig. 3 runs
## measured when AIHWKIT_PYTHON names one with aihwkit, else its stated time). Three rounds in turn: each row
## shows the median ratio and its range, and "met" only when every round meets the target (one round's ratios
## moved by 10-25 % between runs on a shared 2-core machine). BENCH_ARGS=--quick: seconds, one round.
BENCH_ARGS ?= --rounds 3
bench: $(STAMP)
	$(PY) benchmarks/bench_all.py $(BENCH_ARGS)

clean:
	rm -rf build data/cache .pytest_cache
