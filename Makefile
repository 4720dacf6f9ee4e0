# make run   - the whole platform locally (RabbitMQ, SecantusDB, the four services)
# make test  - every test, against a real RabbitMQ and SecantusDB
#
# make lock  - re-lock requirements/*.txt after editing the dependencies in pyproject.toml
#
# Both need only Python 3.11, Node.js (npm) and RabbitMQ on the machine: the virtualenv,
# its packages (from the hash-checked lock) and the Node tools are installed on first use
# and again when their manifests change.

SHELL := bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PY_STAMP := $(VENV)/.installed
# Hash-checked locks of the full dependency tree: the image installs the runtime one, the
# virtualenv the test one (runtime + the [test] extra). `make lock` remakes both.
RUNTIME_LOCK := requirements/runtime.txt
TEST_LOCK := requirements/test.txt
UV_VERSION := 0.13.10
# The official AsyncAPI parser, which the contract tests run on docs/asyncapi.yaml.
ASYNCAPI_STAMP := tools/asyncapi/node_modules/.installed
# A real OpenID provider (oidc-provider) and axe-core, which the portal's browser tests use.
OIDC_STAMP := tools/oidc/node_modules/.installed
# Debian's Chromium and ChromeDriver: the dashboard is tested in a real headless browser.
BROWSER := /usr/bin/chromium /usr/bin/chromedriver
# Debian's podman (with runc) and mmdebstrap: the image is built and run in the tests
# without a Docker engine or an image registry (deploy/image.py).
IMAGE_TOOLS := /usr/bin/podman /usr/bin/mmdebstrap /usr/sbin/runc
PYTEST_ARGS ?=
RUN_ARGS ?=

.PHONY: run test deps lock clean-data

run: deps
	$(PY) -m deploy.launcher run $(RUN_ARGS)

test: deps $(BROWSER) $(IMAGE_TOOLS)
	$(PY) -m deploy.rabbit ensure --management
	$(PY) -m pytest $(PYTEST_ARGS)

# Everything the project installs, one stamp per manifest; a new npm package goes here
# like $(ASYNCAPI_STAMP).
deps: $(PY_STAMP) $(ASYNCAPI_STAMP) $(OIDC_STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

# The whole tree from the test lock (hash-checked, nothing resolved here), then the project
# itself without dependencies (the console script `asn`, the packages editable).
$(PY_STAMP): pyproject.toml $(RUNTIME_LOCK) $(TEST_LOCK) | $(PY)
	$(PY) -m pip install --disable-pip-version-check --require-hashes -r $(TEST_LOCK)
	$(PY) -m pip install --disable-pip-version-check --no-deps -e .
	touch $@

# Re-lock after editing the dependencies in pyproject.toml (docs/decisions/0090): uv
# resolves and hashes the tree; it is needed only here, never to install.
lock: | $(PY)
	$(PY) -m pip install --disable-pip-version-check --quiet uv==$(UV_VERSION)
	$(PY) requirements/lock.py

$(ASYNCAPI_STAMP): tools/asyncapi/package.json tools/asyncapi/package-lock.json
	npm ci --prefix tools/asyncapi --no-audit --no-fund
	touch $@

$(OIDC_STAMP): tools/oidc/package.json tools/oidc/package-lock.json
	npm ci --prefix tools/oidc --no-audit --no-fund
	touch $@

$(BROWSER):
	@command -v apt-get >/dev/null || { echo "install chromium and chromedriver (needed by the dashboard test)"; exit 1; }
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y --no-install-recommends chromium chromium-driver \
	  || { $(if $(filter 0,$(shell id -u)),,sudo) apt-get update && $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y --no-install-recommends chromium chromium-driver; }

$(IMAGE_TOOLS):
	@command -v apt-get >/dev/null || { echo "install podman, runc and mmdebstrap (needed by the image test)"; exit 1; }
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y podman runc mmdebstrap uidmap \
	  || { $(if $(filter 0,$(shell id -u)),,sudo) apt-get update && $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y podman runc mmdebstrap uidmap; }

# Forget the local stack's data (SecantusDB files and logs under .data/).
clean-data:
	rm -rf .data
