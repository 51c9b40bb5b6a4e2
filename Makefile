# Talking Head for Blender: one Makefile for set-up, demo, tests and tools.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export NUMBA_CACHE_DIR := $(CURDIR)/.cache/numba
export MPLBACKEND := Agg

.PHONY: venv demo test test-all test-gpu lint extension bench eval general-model clean

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null || { echo "error: $(PY) not found; install Python 3.11 or run make PY=/path/to/python3.11"; exit 1; }
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "torch==2.13.0" || $(BIN)/python -m pip install -q "torch>=2.4"
	$(BIN)/python -m pip install -q -e ".[blender,dev]"
	@# face-alignment (optional landmark backend) pulls opencv-python, which would clash with
	@# opencv-contrib-python over cv2: install it without dependencies (the rest are already here).
	$(BIN)/python -m pip install -q --no-deps "face-alignment>=1.4"
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	@$(BIN)/talking-head demo $(if $(CLIP),--clip "$(CLIP)") $(if $(AUDIO),--audio "$(AUDIO)") $(if $(OUT),-o "$(OUT)")

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-gpu: $(STAMP)
	$(BIN)/python -m pytest -m gpu $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/pyright

extension: $(STAMP)
	$(BIN)/python tools/build_extension.py

bench: $(STAMP)
	$(BIN)/talking-head bench -o bench.json

eval: $(STAMP)
	$(BIN)/python benchmarks/eval_all.py

# re-train the shipped general motion model from its data list (models/README.md; about 6 min of analysis on 2 cores the first time, cached after)
general-model: $(STAMP)
	data="$$($(BIN)/python tools/general_model_data.py)" && $(BIN)/talking-head train-general "$$data" --steps 3000 -o models/motion.pt

clean:
	rm -rf dist .cache .pytest_cache
