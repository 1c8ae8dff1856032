# Set-up and entry points. Everything installs from the package registries into .venv.
# Real data is read from the data root $(BIASBENCH_DATA): set it (`make demo BIASBENCH_DATA=/path/to/data`, or
# export it); unset, the first of ../shared/data (beside this checkout) and ~/.cache/biasbench/data that exists.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
BIASBENCH_DATA ?= $(firstword $(wildcard $(abspath ../shared/data) $(HOME)/.cache/biasbench/data))
ifneq ($(BIASBENCH_DATA),)
export BIASBENCH_DATA
endif
export HF_HUB_OFFLINE := 1
DEMO_OUT ?= demo-results

.PHONY: venv demo demo-full test lint clean data-root

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

# The demo needs real data: say clearly where to point the data root when there is none.
data-root:
	@test -n "$(BIASBENCH_DATA)" || { echo "No data root: neither ../shared/data nor ~/.cache/biasbench/data exists." \
	  "Run 'make demo BIASBENCH_DATA=/path/to/data' with the folder that holds imagenet-sample-images," \
	  "texture-vs-shape and coral-test-data (see README, Datasets)."; exit 2; }
	@test -d "$(BIASBENCH_DATA)" || { echo "BIASBENCH_DATA=$(BIASBENCH_DATA) is not a folder; point it at the data root."; exit 2; }

demo: venv data-root
	$(BIN)/python -m biasbench.demo --out $(DEMO_OUT)

demo-full: venv data-root
	$(BIN)/python -m biasbench.demo --full --out $(DEMO_OUT)

test: venv
	$(BIN)/python -m pytest -q

lint: venv
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
