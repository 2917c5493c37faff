# Quick start: `make run` (a small real training run, default settings) and `make test`.
# Both create ./.venv and install the project into it on first use.
VENV      ?= .venv
PY        := $(VENV)/bin/python
# A CPU build of torch; on a CUDA machine use e.g. `make TORCH=torch install`.
TORCH     ?= torch==2.13.0
# Extra arguments for `make run`, e.g. ARGS="--oracle-path /path/to/target_params_py3.pkl"
ARGS      ?=

.PHONY: install run test lint bench clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

install: $(VENV)/.installed

# Without the paper's oracle (not found, offline) the quick start says so in one line and trains on a
# seeded random oracle of the same shape, labelled as such; `seqgan-gym train` alone stops instead.
run: install
	$(VENV)/bin/seqgan-gym train --oracle-fallback random $(ARGS)

test: install
	$(VENV)/bin/ruff check seqgan_gym envs agents benchmarks tests examples
	$(VENV)/bin/pytest -q

bench: install
	$(PY) -m pip install -q -e ".[bench]"
	$(PY) benchmarks/foundation_speed.py
	$(PY) benchmarks/rollout_speed.py
	$(PY) benchmarks/bleu_speed.py

clean:
	rm -rf $(VENV) build *.egg-info
