# `make test` and `make report` do all set-up themselves: a .venv with the project, every
# backend extra and the test tools, installed under constraints.txt (the versions we test).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup test test-numpy-only report lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		-c constraints.txt -e '.[all,plot,test,dev]' -e examples/tape-autodiff
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest

# the suite with no framework installed (tox env numpy-only): every torch/jax test must skip
test-numpy-only: $(STAMP)
	$(BIN)/tox -e numpy-only

report: $(STAMP)
	$(BIN)/crosscheck report

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .tox .pytest_cache .hypothesis
