# make run   - the whole platform locally (RabbitMQ, SecantusDB, the four services)
# make test  - every test, against a real RabbitMQ and SecantusDB
#
# Both need only Python 3.11 and RabbitMQ on the machine: the virtualenv and its
# packages are made on first use and remade when pyproject.toml changes.

SHELL := bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PY_STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
RUN_ARGS ?=

.PHONY: run test deps clean-data

run: deps
	$(PY) -m deploy.launcher run $(RUN_ARGS)

test: deps
	$(PY) -m deploy.rabbit ensure --management
	$(PY) -m pytest $(PYTEST_ARGS)

# Everything the project installs. A front-end's `npm ci` goes here as one more
# stamp target (made from package-lock.json) beside $(PY_STAMP).
deps: $(PY_STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

$(PY_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --disable-pip-version-check -e '.[test]'
	touch $@

# Forget the local stack's data (SecantusDB files and logs under .data/).
clean-data:
	rm -rf .data
