"""Fixtures of the operations tests: one environment shared by the services under test
and the `asn` CLI, exactly as an operator's shell and the deployed services share it."""
from __future__ import annotations

from deploy.processes import free_port  # noqa: F401 - re-exported for the tests

import uuid
from urllib.parse import quote

import pytest

from shared import topology
from shared.config import SERVICES, load

FAST = {"RETRY_DELAYS_MS": "50,100", "RETRY_MAX_ATTEMPTS": "2", "RELAY_POLL_INTERVAL_S": "0.1",
        "MAX_WORKERS": "10"}



def fresh_env(service_env: dict) -> dict:
    """The module's vhost and store with a fresh database prefix and free HTTP ports."""
    env = {**service_env, **FAST, "MONGO_DB_PREFIX": f"{service_env['MONGO_DB_PREFIX']}{uuid.uuid4().hex[:6]}_"}
    for service in SERVICES:  # never the default ports: other test runs use them
        env[f"{service.upper()}_HTTP_ADDRESS"] = f"127.0.0.1:{free_port()}"
    return env


@pytest.fixture
def ops_env(service_env, monkeypatch) -> dict:
    """The test's environment, set in os.environ for the services and the CLI alike."""
    env = fresh_env(service_env)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    _delete_queues(env["AMQP_URI"])  # the vhost is shared by the module's tests: start empty
    return env


def _delete_queues(amqp_uri: str) -> None:
    from kombu import Connection

    from shared.cli import management_get, vhost_of

    names = [q["name"] for q in management_get(amqp_uri, f"queues/{quote(vhost_of(amqp_uri), safe='')}")]
    with Connection(amqp_uri) as conn:
        for name in names:
            conn.channel().queue_delete(name)


@pytest.fixture
def start(container_factory, ops_env):
    """Start a service class in-process, its broker topology declared first."""
    def start(cls):
        settings = load(cls.name)
        topology.declare_service(settings, topology.subscriptions_of(cls.name, cls.__module__))
        container = container_factory(cls, settings.nameko_config())
        container.start()
        return container
    return start


def url(service: str, path: str, env: dict | None = None) -> str:
    address = env[f"{service.upper()}_HTTP_ADDRESS"] if env else load(service).http_address
    return f"http://{address}{path}"
