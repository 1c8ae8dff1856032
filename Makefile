# Set-up and entry points. Everything installs from the package registries into .venv;
# real data is read from $(BIASBENCH_DATA) (default ../shared/data).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
BIASBENCH_DATA ?= $(abspath ../shared/data)
export BIASBENCH_DATA
export HF_HUB_OFFLINE := 1
DEMO_OUT ?= demo-results

.PHONY: venv demo demo-full test lint clean

$(BIN)/biasbench: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip >/dev/null
	$(BIN)/pip install -c constraints.txt torch==2.13.0
	$(BIN)/pip install -c constraints.txt -e ".[bundled,tflite,ray,clip,factors,dev]"
	# torchattacks (reference PGD in the tests, AutoAttack preset) pins requests~=2.25, which pip cannot
	# reconcile with the rest; it needs only torch, torchvision, scipy, tqdm and numpy (installed above).
	$(BIN)/pip install --no-deps "torchattacks==3.5.1"
	touch $@

venv: $(BIN)/biasbench

demo: venv
	$(BIN)/python -m biasbench.demo --out $(DEMO_OUT)

demo-full: venv
	$(BIN)/python -m biasbench.demo --full --out $(DEMO_OUT)

test: venv
	$(BIN)/python -m pytest -q

lint: venv
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
