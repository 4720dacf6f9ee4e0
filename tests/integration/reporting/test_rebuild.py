"""Rebuilding the read models from the producers' event logs gives the live figures."""
from __future__ import annotations

import random
from dataclasses import replace

import requests
from kombu import Connection, Producer

from services.reporting import queries, usecases
from services.reporting.store import consumer_of, pointer
from shared import topology
from shared.broker_security import user_of
from shared.events import envelope
from shared.openapi import OpenApi
from shared.outbox import Relay
from shared.service_base import ServiceBase
from shared.store import OUTBOX, Mongo, Store, connect
from tests.integration.reporting import scenario
from tests.integration.reporting.conftest import figures, free_port, scenario_events, settled
from tests.support import auth_headers, wait_for
from tests.unit.reporting import factory as f


def producer_settings(settings, service):
    return replace(settings, service=service, db_name=settings.db_name.replace("reporting", service))


def emit_through_outboxes(settings, events: list[dict]) -> None:
    """Write events into the producers' outboxes and publish them with the real relay."""
    for service in ("enrollment", "certification"):
        mine = [e for e in events if e["source"] == f"/asn/{service}"]
        if not mine:
            continue
        s = producer_settings(settings, service)
        client = connect(s)
        try:
            def write(tx, mine=mine):
                for event in mine:
                    tx.db[OUTBOX].insert_one({"event": event, "exchange": f"{service}.events",
                                              "routing_key": event["type"].split(".")[-2], "sent": False,
                                              "created_at": 0.0}, session=tx.session)
            Store(client, s).transaction(write)
        finally:
            client.close()
        relay = Relay(s)
        assert relay.flush() == len(mine)
        relay.lease.release()
        relay.close()
        relay.client.close()


def replay_outboxes(settings, also=None):
    """What each producer's ``POST /admin/replay`` does: republish its sent log into the queue
    through its replay exchange (here shuffled across producers, which order-independent
    projections must not mind)."""
    def replay(queue: str) -> int:
        records = []
        for service in ("enrollment", "certification"):
            s = producer_settings(settings, service)
            client = connect(s)
            records += [(service, r["event"]) for r in client[s.db_name][OUTBOX].find({"sent": True}).sort("_id", 1)]
            client.close()
        random.Random(3).shuffle(records)
        with Connection(settings.amqp_uri) as conn:
            producer = Producer(conn.channel())
            for service, event in records:
                producer.publish(envelope.encode(event), exchange=topology.replay_exchange(service).name,
                                 routing_key=queue, content_type="application/json", content_encoding="utf-8",
                                 delivery_mode=2, user_id=user_of(settings.amqp_uri))
        if also:
            also()
        return len(records)
    return replay


def test_rebuilt_read_models_equal_the_live_ones_and_keep_events_arriving_during_the_rebuild(
        start, settings, store, cfg):
    start()
    events = scenario_events(scenario.with_roster())
    emit_through_outboxes(settings, events)
    wait_for(lambda: settled(store, len(events)), timeout=60, message="live projection, counters folded")
    live = figures(store, cfg)

    summary = usecases.rebuild(settings, replay_outboxes(settings), cfg, idle_timeout_s=10)
    assert (summary["generation"], summary["events"], summary["applied"]) == (2, len(events), len(events))
    assert pointer(store.db).current == 2 and pointer(store.db).building is None
    assert figures(store, cfg) == live

    # A live event published while the replay is running reaches the new generation too.
    newcomer = f.participant(99, "DISHUB")
    late = scenario_events([f.registered(f.roster_entry(newcomer), at="2026-07-01T02:00:00Z")])
    late[0]["time"] = "2026-07-01T02:00:00Z"
    second = usecases.rebuild(settings, replay_outboxes(settings, also=lambda: emit_through_outboxes(settings, late)),
                             cfg, idle_timeout_s=10)
    assert second["generation"] == 3
    wait_for(lambda: store.db.processed_events.count_documents(
        {"event_id": late[0]["id"], "consumer": consumer_of(3)}) == 1, message="the late event in the new generation")
    wait_for(lambda: queries.pending_deltas(store.db, 3) == 0, message="its counters folded")
    rows = {r["agency"]: r for r in figures(store, cfg)["compliance2026"]["agencies"]}
    assert rows["DISHUB"]["known_asn"] == 1
    # the generation before the previous one is dropped; the previous stays for a rollback
    names = store.db.list_collection_names()
    assert not any(n.startswith("rm1_") for n in names) and any(n.startswith("rm2_") for n in names)


class EnrollmentLog(ServiceBase):
    """Stands in for enrollment: its event log and the /admin/replay route every service has."""
    name = "enrollment"
    store = Mongo()
    openapi = OpenApi("enrollment stand-in")


class CertificationLog(ServiceBase):
    name = "certification"
    store = Mongo()
    openapi = OpenApi("certification stand-in")


def test_the_admin_rebuild_route_has_the_producers_replay_their_logs_and_gives_the_live_figures(
        start, settings, store, cfg, container_factory, monkeypatch):
    start()
    events = scenario_events(scenario.with_roster())
    emit_through_outboxes(settings, events)
    wait_for(lambda: settled(store, len(events)), timeout=60, message="live projection, counters folded")
    live = figures(store, cfg)
    for cls in (EnrollmentLog, CertificationLog):
        producer = replace(producer_settings(settings, cls.name), http_address=f"127.0.0.1:{free_port()}")
        monkeypatch.setenv(f"{cls.name.upper()}_URL", f"http://{producer.http_address}")
        container_factory(cls, producer.nameko_config()).start()

    url = f"http://{settings.http_address}/admin/rebuild"
    for role in ("operator", "asn"):  # only an admin rebuilds, and the producers replay only for one
        refused = requests.post(url, json={}, headers=auth_headers(role, agency="DISHUB", nip="1" * 18), timeout=30)
        assert refused.status_code == 403
    response = requests.post(url, json={"idle_timeout_s": 10}, headers=auth_headers("admin"), timeout=120)
    assert response.status_code == 200, response.text
    summary = response.json()
    assert (summary["events"], summary["applied"], summary["generation"]) == (len(events), len(events), 2)
    assert figures(store, cfg) == live
