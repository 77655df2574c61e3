# Two commands for a fresh machine: `make demo` and `make test`. Both create or update .venv idempotently.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= out/demo

.PHONY: demo test lint serve clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# The gpu extra pins torch==2.13.0: a CPU wheel of it is on the machines we develop on; see the README.
$(STAMP): pyproject.toml scripts/setup-system.sh | $(BIN)/python
	bash scripts/setup-system.sh
	$(BIN)/pip install -q -e ".[gpu,dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/strata decompose examples/poster.png --layers 6 --format png,tiff,psd,zip,ora,pptx,webp --out $(OUT)
	@echo "layers and exports written to $(OUT)/poster/"

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

serve: $(STAMP)
	$(BIN)/strata serve

clean:
	rm -rf $(VENV) out
