"""Fixtures for running the certification service in-process against the real broker and store."""
from __future__ import annotations

import uuid
from dataclasses import replace

import pytest
from kombu import Connection, Exchange, Queue

from services.certification.service import CertificationService
from shared import topology
from shared.store import Store, connect
from tests.integration.certification.helpers import PUBLIC_BASE_URL, Clock, free_port
from tests.support import ApiClient, auth_headers, get_messages, make_settings

ADMIN = auth_headers()


@pytest.fixture
def settings(service_env):
    env = {**service_env, "MONGO_DB_PREFIX": f"{service_env['MONGO_DB_PREFIX']}{uuid.uuid4().hex[:6]}_"}
    settings = make_settings("certification", env, http_address=f"127.0.0.1:{free_port()}",
                             retry_delays_ms=(100, 300), retry_max_attempts=3, relay_poll_interval_s=0.1,
                             public_base_url=PUBLIC_BASE_URL)
    topology.declare_service(settings)
    with Connection(settings.amqp_uri) as conn:  # nothing left over from an earlier test
        conn.channel().queue_purge(topology.consumer_queue_name("certification", "enrollment", "completed"))
    return settings


@pytest.fixture
def db(settings):
    client = connect(settings)
    yield client[settings.db_name]
    client.close()


@pytest.fixture
def store(settings):
    client = connect(settings)
    yield Store(client, settings)
    client.close()


@pytest.fixture
def start(container_factory, settings):
    """Start a replica of the certification service, on a clock of its own (``set_clock``);
    returns its container."""
    def start(**overrides):
        replica_settings = replace(settings, **{"extra": {**settings.extra, "clock": Clock()}, **overrides})
        container = container_factory(CertificationService, replica_settings.nameko_config())
        container.start()
        return container
    return start


@pytest.fixture
def api(settings):
    return ApiClient(f"http://{settings.http_address}", timeout=10)


@pytest.fixture
def probe(settings):
    """An outside subscriber's queue on certification.events; ``take(n)`` returns n events."""
    name = f"probe.{uuid.uuid4().hex[:8]}"
    with Connection(settings.amqp_uri) as conn:
        Queue(name, Exchange("certification.events", "topic", durable=True), routing_key="#",
              durable=False, auto_delete=False)(conn.channel()).declare()

    class Probe:
        def take(self, n: int, timeout: float = 20.0) -> list:
            messages = get_messages(settings.amqp_uri, name, n, timeout=timeout)
            assert len(messages) == n, f"expected {n} events, got {len(messages)}"
            return messages

        def pending(self) -> int:
            with Connection(settings.amqp_uri) as conn:
                return conn.channel().queue_declare(name, passive=True).message_count
    yield Probe()
    with Connection(settings.amqp_uri) as conn:
        conn.channel().queue_delete(name)

