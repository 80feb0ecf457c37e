# tate — every target explains itself with `make help`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

export TATE_HOME ?= $(CURDIR)/var
export PREFECT_SERVER_ANALYTICS_ENABLED = false
export GX_ANALYTICS_ENABLED = false
export DO_NOT_TRACK = 1
export MLFLOW_ALLOW_PICKLE_DESERIALIZATION = false

.PHONY: help venv demo test lint types bench lock clean

help:  ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

$(STAMP): requirements.lock pyproject.toml
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	test -x $(BIN)/python || uv venv --python $(PYTHON) $(VENV)
	uv pip sync --python $(BIN)/python --require-hashes requirements.lock
	uv pip install --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)  ## create .venv from requirements.lock (hash-checked), then install tate editable

demo: $(STAMP)  ## the main job: data → validate → train → serve → drift, on embedded defaults
	$(BIN)/tate demo

test: $(STAMP)  ## system packages (.ci/system-setup), lint, types, then every test (real servers on loopback)
	.ci/system-setup
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

bench: $(STAMP)  ## benchmarks under bench/, each against a baseline measured in the same run → bench/results.json
	for script in bench/[!_]*.py; do $(BIN)/python $$script || exit 1; done

lint: $(STAMP)  ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)  ## mypy: strict on serving/ models/ data_contracts/, default on flows/ bench/ (pyproject [tool.mypy])
	$(BIN)/mypy

lock:  ## re-resolve requirements.lock from pyproject.toml (no download addresses recorded)
	uv pip compile pyproject.toml --extra test --extra bench --generate-hashes --python-version 3.11 -o requirements.lock

clean:  ## remove the virtual environment and everything under TATE_HOME
	rm -rf $(VENV) $(TATE_HOME)
