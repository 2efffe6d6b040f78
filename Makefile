# make setup | run | test | lint | bench | docs.  setup is a dependency of the rest and a no-op when
# .venv is newer than pyproject.toml and constraints.txt.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Chainer 7.8.1 and onnx-chainer 1.6.0 ship as sdists only, and Chainer's setup.py needs
# pkg_resources (setuptools < 70): their wheels are built once in a separate build
# environment with pinned setuptools, then installed from WHEELS like any other package.
# onnx-chainer's metadata asks for chainer<7 and onnx<1.7 (2019 pins; it runs on Chainer 7.8.1
# and onnx 1.23 with triptych's cures), so it goes in last with --no-deps.
WHEELS := $(VENV)/wheels
BUILD_VENV := $(VENV)/chainer-build
export PYTHONWARNINGS ?= ignore::DeprecationWarning

.PHONY: setup run test test-sweep lint bench docs clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	test -x $(BUILD_VENV)/bin/python || $(PYTHON) -m venv $(BUILD_VENV)
	$(BUILD_VENV)/bin/python -m pip install --quiet -r build-constraints.txt
	$(BUILD_VENV)/bin/python -m pip wheel --quiet --no-deps --no-build-isolation \
		-c constraints.txt -w $(WHEELS) chainer onnx-chainer
	$(BIN)/python -m pip install --quiet -c constraints.txt --find-links $(WHEELS) -e ".[all,dev]"
	$(BIN)/python -m pip install --quiet --no-deps -c constraints.txt --find-links $(WHEELS) \
		onnx-chainer
	touch $(STAMP)

run: setup
	$(BIN)/triptych run

# --timeout: a test that hangs fails, naming itself, instead of stalling the run
test: setup
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup --timeout 900 --durations 25 -m "not sweep"

# the heavy tier CI runs after make test: every zoo model through full-length parity, every
# torchvision family and Keras application through the importer (one worker: see that test)
test-sweep: setup
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup --timeout 1200 --durations 25 -m sweep

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# every published table, plot and the README headline, from one run (about an hour here);
# an interrupted run continues where it stopped
bench: setup
	$(BIN)/triptych bench --suite publish --resume --out benchmarks/results \
		--headline-into README.md docs/index.md

docs: setup
	$(BIN)/mkdocs build --strict -d site

clean:
	rm -rf $(VENV) runs .pytest_cache
