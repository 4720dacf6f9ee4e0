# make run   - the whole platform locally (RabbitMQ, SecantusDB, the four services)
# make test  - every test, against a real RabbitMQ and SecantusDB
#
# Both need only Python 3.11, Node.js (npm) and RabbitMQ on the machine: the virtualenv,
# its packages and the Node tools are installed on first use and again when their
# manifests change.

SHELL := bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PY_STAMP := $(VENV)/.installed
# The official AsyncAPI parser, which the contract tests run on docs/asyncapi.yaml.
ASYNCAPI_STAMP := tools/asyncapi/node_modules/.installed
# Debian's Chromium and ChromeDriver: the dashboard is tested in a real headless browser.
BROWSER := /usr/bin/chromium /usr/bin/chromedriver
PYTEST_ARGS ?=
RUN_ARGS ?=

.PHONY: run test deps clean-data

run: deps
	$(PY) -m deploy.launcher run $(RUN_ARGS)

test: deps $(BROWSER)
	$(PY) -m deploy.rabbit ensure --management
	$(PY) -m pytest $(PYTEST_ARGS)

# Everything the project installs, one stamp per manifest; a new npm package goes here
# like $(ASYNCAPI_STAMP).
deps: $(PY_STAMP) $(ASYNCAPI_STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

$(PY_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --disable-pip-version-check -e '.[test]'
	touch $@

$(ASYNCAPI_STAMP): tools/asyncapi/package.json tools/asyncapi/package-lock.json
	npm ci --prefix tools/asyncapi --no-audit --no-fund
	touch $@

$(BROWSER):
	@command -v apt-get >/dev/null || { echo "install chromium and chromedriver (needed by the dashboard test)"; exit 1; }
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y --no-install-recommends chromium chromium-driver \
	  || { $(if $(filter 0,$(shell id -u)),,sudo) apt-get update && $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y --no-install-recommends chromium chromium-driver; }

# Forget the local stack's data (SecantusDB files and logs under .data/).
clean-data:
	rm -rf .data
