"""The reporting service in-process against the test's RabbitMQ vhost and SecantusDB."""
from __future__ import annotations

from deploy.processes import free_port  # noqa: F401 - re-exported for the tests

import random
import uuid
from dataclasses import replace

import pytest
from kombu import Connection, Exchange, Queue

from services.reporting import config as reporting_config
from services.reporting import queries, schemas, usecases
from services.reporting.service import ReportingService
from services.reporting.store import consumer_of, create_indexes, current_models, pointer
from shared import topology
from shared.events import envelope
from shared.store import Store, connect
from tests.support import ApiClient, auth_headers, make_settings, publish_raw

ADMIN = auth_headers()
from tests.unit.reporting import factory as f



@pytest.fixture
def settings(service_env):
    env = {**service_env, "MONGO_DB_PREFIX": f"{service_env['MONGO_DB_PREFIX']}{uuid.uuid4().hex[:6]}_"}
    settings = make_settings("reporting", env, http_address=f"127.0.0.1:{free_port()}",
                             retry_delays_ms=(100, 300), retry_max_attempts=3, relay_poll_interval_s=0.1)
    topology.declare_service(settings)
    with Connection(settings.amqp_uri) as conn:  # nothing left over from an earlier test of the module
        channel = conn.channel()
        for source, event in topology.subscriptions_of("reporting"):
            channel.queue_purge(topology.consumer_queue_name("reporting", source, event))
    return settings


@pytest.fixture
def store(settings):
    client = connect(settings)
    store = Store(client, settings)
    create_indexes(store.db)
    yield store
    client.close()


@pytest.fixture
def fresh_store(settings):
    """A store on a database of the test's own (nothing from other tests of the module)."""
    client = connect(settings)
    s = Store(client, replace(settings, db_name=f"{settings.db_name}_{uuid.uuid4().hex[:6]}"))
    create_indexes(s.db)
    yield s
    client.close()


@pytest.fixture
def cfg():
    return reporting_config.load()


@pytest.fixture
def start(container_factory, settings):
    """Start a replica of the reporting service (optionally on an injected clock)."""
    def start(clock=None, **overrides):
        replica = replace(settings, **overrides)
        if clock is not None:
            replica = replace(replica, extra={**replica.extra, "clock": clock})
        container = container_factory(ReportingService, replica.nameko_config())
        container.start()
        return container
    return start


@pytest.fixture
def captured(settings) -> str:
    """An empty queue of our own receiving reporting's shortfall_detected events; its name."""
    name = "test.reporting.shortfall_detected"
    with Connection(settings.amqp_uri) as conn:
        queue = Queue(name, Exchange("reporting.events", "topic", durable=True),
                      routing_key="shortfall_detected", durable=True)(conn.channel())
        queue.declare()
        queue.purge()
    return name


@pytest.fixture
def api(settings):
    return ApiClient(f"http://{settings.http_address}", timeout=30)


def scenario_events(items, times: bool = True) -> list[dict]:
    """CloudEvents for (name, data) pairs, one second apart in event time, in list order."""
    return [f.cloud_event(name, data, time=f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}Z" if times else None)
            for i, (name, data) in enumerate(items)]


def publish(amqp_uri: str, events: list[dict]) -> None:
    for event in events:
        name = event["type"].split(".")[-2]
        service = event["source"].rsplit("/", 1)[-1]
        publish_raw(amqp_uri, f"{service}.events", name, envelope.encode(event))


def shuffled_with_duplicates(events: list[dict], seed: int) -> list[dict]:
    rng = random.Random(seed)
    copies = events + rng.sample(events, k=len(events) // 3)
    rng.shuffle(copies)
    return copies


def apply_directly(store: Store, events: list[dict], cfg) -> None:
    """Apply events through the projection code without the broker (seeding, comparisons),
    then fold their counter deltas as the service's folder would."""
    for event in events:
        usecases.apply_event(store, f.parsed(event), cfg)
    fold_now(store)


def fold_now(store: Store) -> None:
    for generation in pointer(store.db).active:
        usecases.fold_all(store, generation)


def processed_count(store: Store) -> int:
    return store.db.processed_events.count_documents({"consumer": consumer_of(pointer(store.db).current)})


def settled(store: Store, events: int) -> bool:
    """``events`` applied once each and their counter increments folded by the service."""
    return processed_count(store) == events and queries.pending_deltas(store.db) == 0


def figures(store: Store, cfg, years=(2025, 2026)) -> dict:
    """Everything a user can read, for comparing two builds of the read models."""
    rm = current_models(store.db)
    out = {}
    for year in years:
        out[f"compliance{year}"] = queries.compliance(rm, cfg, year)
        out[f"monthly{year}"] = queries.monthly(rm, year)
        out[f"certs{year}"] = queries.certificates_by_month(rm, year)
        out[f"programmes{year}"] = queries.programmes(rm, year, limit=1000)
        out[f"ledger_rows{year}"] = [{k: v for k, v in e.items()} for e in queries.ledger_rows(rm, year)]
        out[f"never_enrolled{year}"] = queries.never_enrolled(rm, year, limit=1000)
    for nip in sorted(a["_id"] for a in rm.asns.find({}, {"_id": 1})):
        out[f"ledger{nip}"] = schemas.LedgerResponse().dump(queries.ledger(rm, cfg, nip))
    return out
