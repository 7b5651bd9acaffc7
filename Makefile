# The two commands a fresh clone needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench emulator clean install completions

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/entra-bootstrap demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 tests

bench: $(STAMP)
	$(BIN)/python tests/benchmarks/bench.py

emulator: $(STAMP)
	$(BIN)/entra-bootstrap emulator --port 8443 --data-dir .emulator

completions: $(STAMP)
	ENTRA_BOOTSTRAP=$(BIN)/entra-bootstrap sh completions/generate.sh

clean:
	rm -rf $(VENV) .emulator build *.egg-info
