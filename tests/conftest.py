"""Fixtures for every test level: a real SecantusDB and a real RabbitMQ, isolated per module.

- ``mongo_uri`` (session): SecantusDB on a free port, in memory; ``TEST_MONGO_URI`` points
  the suite at another MongoDB instead (a replica set, for transactions).
- ``mongo_client`` (session): a pymongo client on it.
- ``broker_uri`` (session): the local RabbitMQ (started if down), default vhost; test
  vhosts left behind by dead runs are deleted.
- ``amqp_uri`` (module): a fresh vhost on the local broker, deleted after the module.
- ``db_prefix`` (module): a database-name prefix of its own, e.g. ``t3f9a1c2e_``.
- ``service_env`` (module): the environment a service process or an in-process container
  uses with the three above; copy it before changing it.

Tests under tests/unit, tests/integration and tests/e2e get the marker of their folder.
"""
from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

import pytest

import services
from deploy import rabbit
from deploy.secantus import SecantusServer

# Every test sees the platform's topology as the launcher does: from the services' tables.
services.load_subscriptions()

TESTS = Path(__file__).parent
LEVELS = ("unit", "integration", "e2e")
VHOST_PREFIX = "pytest-"
_VHOST = re.compile(rf"^{VHOST_PREFIX}(\d+)-")


def pytest_collection_modifyitems(config, items):
    for item in items:
        try:
            level = Path(str(item.path)).relative_to(TESTS).parts[0]
        except ValueError:
            continue
        if level in LEVELS:
            item.add_marker(level)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@pytest.fixture(scope="session")
def broker_uri() -> str:
    """The broker's default vhost; test vhosts of runs that died are swept."""
    base = os.environ.get("AMQP_URI") or rabbit.DEFAULT_AMQP_URI
    rabbit.ensure_running(base)
    for vhost in rabbit.list_vhosts(base):
        match = _VHOST.match(vhost)
        if match and not _alive(int(match.group(1))):
            rabbit.delete_vhost(vhost, base)
    return rabbit.amqp_uri_for("/", base)


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory) -> str:
    external = os.environ.get("TEST_MONGO_URI")
    if external:
        yield external
        return
    server = SecantusServer(storage_path=":memory:", log_path=tmp_path_factory.mktemp("secantus") / "secantus.log")
    server.start()
    try:
        yield server.uri
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mongo_client(mongo_uri):
    import pymongo

    client = pymongo.MongoClient(mongo_uri)
    yield client
    client.close()


@pytest.fixture(scope="module")
def amqp_uri(broker_uri, request) -> str:
    module = re.sub(r"[^a-z0-9]+", "-", request.module.__name__.rsplit(".", 1)[-1].lower())
    vhost = f"{VHOST_PREFIX}{os.getpid()}-{module}-{secrets.token_hex(3)}"
    rabbit.create_vhost(vhost, broker_uri)
    yield rabbit.amqp_uri_for(vhost, broker_uri)
    rabbit.delete_vhost(vhost, broker_uri)


@pytest.fixture(scope="module")
def db_prefix() -> str:
    return f"t{secrets.token_hex(4)}_"


@pytest.fixture(scope="module")
def service_env(mongo_uri, amqp_uri, db_prefix) -> dict[str, str]:
    return {"AMQP_URI": amqp_uri, "MONGO_URI": mongo_uri, "MONGO_DB_PREFIX": db_prefix}
