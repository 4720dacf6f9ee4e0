"""The private path in the topology and permission rules (ADR 0080), without a broker."""
from __future__ import annotations

import re

import pytest
from bson import ObjectId

from shared import broker_security, topology
from shared.config import SERVICES, load
from shared.outbox import _sent_updates


def _reads(rules: dict, name: str) -> bool:
    return re.search(rules["read"], name) is not None


def test_a_private_event_is_bound_to_its_producers_private_exchange_and_never_to_a_public_one():
    queue = topology.consumer_queue("notification", "enrollment", "asn_contact")
    assert queue.name == "notification.enrollment.asn_contact"
    assert {(b.exchange.name, b.exchange.type, b.routing_key) for b in queue.bindings} == {
        ("enrollment.private", "topic", "asn_contact"),
        ("notification.requeue", "direct", "notification.enrollment.asn_contact")}
    public = topology.consumer_queue("notification", "enrollment", "completed")
    assert {b.exchange.name for b in public.bindings} == {"enrollment.events", "enrollment.replay",
                                                          "notification.requeue"}


def test_only_the_producer_of_private_events_declares_its_private_exchange():
    assert [s for s in SERVICES if topology.has_private_events(s)] == ["enrollment"]
    declared = {s: {e.name for e in topology.service_entities(load(s), [])} for s in SERVICES}
    assert "enrollment.private" in declared["enrollment"]
    assert not [s for s in SERVICES if s != "enrollment" and any(n.endswith(".private") for n in declared[s])]
    consumer = {e.name for e in topology.service_entities(load("certification"),
                                                          [("enrollment", "asn_contact")])}
    assert "enrollment.private" in consumer and "enrollment.events" not in consumer


def test_an_event_the_registry_does_not_know_is_public():
    assert topology.is_private("enrollment", "asn_contact") is True
    assert topology.is_private("enrollment", "completed") is False
    assert topology.is_private("somewhere", "else") is False


def test_only_a_service_consuming_a_private_event_may_read_the_private_exchange():
    with_contact = broker_security.service_permissions("notification", ["enrollment"], ["enrollment"])
    without = broker_security.service_permissions("certification", ["enrollment"])
    assert _reads(with_contact, "enrollment.private") and re.search(with_contact["configure"], "enrollment.private")
    assert not re.search(with_contact["write"], "enrollment.private")
    assert not _reads(without, "enrollment.private") and not re.search(without["configure"], "enrollment.private")
    assert _reads(without, "enrollment.events")
    # the producer writes its own private exchange as any of its exchanges
    producer = broker_security.service_permissions("enrollment", [])
    assert re.search(producer["write"], "enrollment.private")


def test_the_platforms_permissions_follow_the_subscription_tables():
    private = broker_security.service_private_sources()
    for service in SERVICES:
        consumes = any(topology.is_private(source, event) for source, event in topology.subscriptions_of(service))
        assert bool(private[service]) == consumes
        listed = [p for p in broker_security.definitions()["permissions"]
                  if p["user"] == broker_security.service_user(service)][0]
        assert _reads(listed, "enrollment.private") == ("enrollment" in private[service] or service == "enrollment")


@pytest.mark.parametrize("exchange", ["enrollment.private", "amq.topic", "nameko-rpc", "", "elsewhere.events"])
def test_a_subscriber_cannot_be_granted_anything_but_a_services_events_or_replay(exchange):
    with pytest.raises(ValueError, match="only a service's .events"):
        broker_security.subscriber_permissions("bkd-sumbar", ["enrollment.events", exchange])
    granted = broker_security.subscriber_permissions("bkd-sumbar", ["enrollment.events", "enrollment.replay"])
    assert _reads(granted, "enrollment.events") and not _reads(granted, "enrollment.private")


def _record(exchange: str, data: dict) -> dict:
    return {"_id": ObjectId(), "exchange": exchange, "event": {"data": data}}


def test_marking_sent_redacts_the_personal_fields_of_private_records_only():
    contact = _record("enrollment.private", {"nip": "198503122010011002", "email": "a@b.go.id",
                                             "phone": "+6281266001122", "version": 2,
                                             "changed_at": "2026-01-05T02:00:00Z"})
    public = _record("enrollment.events", {"asn": {"nip": "198503122010011002"}, "registered_at": "x"})
    updates = _sent_updates([contact, public], {"sent": True, "sent_at": 1.0})
    assert updates == [
        ([public["_id"]], {"sent": True, "sent_at": 1.0}),
        ([contact["_id"]], {"sent": True, "sent_at": 1.0, "redacted": True,
                            "event.data.email": None, "event.data.phone": None}),
    ]
    assert _sent_updates([], {"sent": True}) == []
