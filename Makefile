# `make test` and `make report` do all set-up themselves: a .venv with the project, every
# backend extra and the test tools, installed under constraints.txt (the versions we test).
# `make lint` and `make test-numpy-only` add the dev tools (ruff, tox) when first needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEV    := $(VENV)/.dev-installed
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: setup test test-numpy-only test-engines report scoreboard lint dist clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	@# torch and jax, most of the set-up's time, side by side (they share no dependency; pip
	@# uses one core); then the project, which finds them installed
	$(PIP) torch & torch=$$!; $(PIP) jax jaxlib && wait $$torch
	$(PIP) -e '.[all,plot,test,dask]' -e examples/tape-autodiff
	touch $(STAMP)

$(DEV): $(STAMP)
	$(PIP) -e '.[dev]'
	touch $(DEV)

test: $(STAMP)
	$(BIN)/python -m pytest

# the suite with no framework installed (tox env numpy-only): every torch/jax test must skip
test-numpy-only: $(DEV)
	$(BIN)/tox -e numpy-only

report: $(STAMP)
	$(BIN)/crosscheck report

# the other engines' conformance (keras-jax, keras-torch, mlx, tinygrad, torch-compile; tox env
# engines), TensorFlow's suite with keras-tensorflow (tox env tensorflow) and PaddlePaddle's
# conformance (tox env paddle: its own pins); tinygrad needs clang
test-engines: $(DEV)
	$(BIN)/tox -e engines,tensorflow,paddle

# docs/scoreboard.md: every engine in a venv of its own (.scoreboard/), ~10 minutes
scoreboard: $(STAMP)
	$(BIN)/python scripts/scoreboard

# the sdist and the wheel in dist/, checked as PyPI would check them (docs/release.md)
dist: $(DEV)
	rm -rf dist
	$(BIN)/python -m build --sdist --wheel --outdir dist .
	$(BIN)/twine check --strict dist/*

lint: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .tox .pytest_cache .hypothesis dist
