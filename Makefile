# Two commands on a fresh machine: `make demo` (install + train the built-in default) and
# `make test` (install + run the tests). Each creates its own virtual environment.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test test-fast install bench clean

$(BIN)/condense: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(BIN)/condense

install: $(BIN)/condense

demo: install
	mkdir -p demo
	$(BIN)/condense train --out demo/run.npz --force
	$(BIN)/condense analyze demo/run.npz --out-dir demo
	mkdir -p demo/epoch100   # the paper's moment for this figure (initial-condensation Fig. 2 caption: epoch 100)
	$(BIN)/condense analyze demo/run.npz --at 100 --out-dir demo/epoch100
	$(BIN)/condense train --act x2tanh --data sin1d --width 100 --lr 5e-4 --out demo/onedim.npz -q --force
	$(BIN)/condense analyze demo/onedim.npz --out-dir demo
	@echo "demo output: $$(ls demo | tr '\n' ' ') in ./demo/"

test: install   # the whole suite, the end-to-end tests marked slow included (CI runs this)
	$(BIN)/python -m pytest -m "slow or not slow"

test-fast: install   # what a plain `pytest` runs: the suite without the tests marked slow (about half the time)
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python benchmarks/bench_train.py --skip-memory
	$(BIN)/python benchmarks/bench_analyze.py

clean:
	rm -rf $(VENV) demo build *.egg-info
