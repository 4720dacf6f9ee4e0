"""/health/live, /health/ready and /metrics of a service, against the real broker and store."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from deploy.secantus import SecantusServer
from shared import topology
from shared.config import load
from tests.integration.ops.conftest import url
from tests.integration.ops.services_under_test import (COMPLETED, CERTIFIED, CertificationStandIn,
                                                       EnrollmentStandIn, completion)
from tests.support import get_messages, publish_raw, wait_for


def scrape(service: str) -> dict:
    """Every sample of /metrics as {(name, sorted labels): value}."""
    response = requests.get(url(service, "/metrics"), timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def delta(before: dict, after: dict, name: str, **labels) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_a_running_service_is_live_and_ready_with_store_broker_and_relay_ok(start):
    start(EnrollmentStandIn)

    live = requests.get(url("enrollment", "/health/live"), timeout=5)
    assert live.status_code == 200 and live.json() == {"status": "live", "service": "enrollment"}
    ready = wait_for(lambda: (r := requests.get(url("enrollment", "/health/ready"), timeout=5)).status_code == 200
                     and r, message="ready")
    assert ready.json() == {"status": "ready", "service": "enrollment",
                            "checks": {"store": True, "broker": True, "relay": True}}


def test_a_service_whose_store_went_down_stays_live_but_answers_not_ready(container_factory, ops_env):
    with SecantusServer(storage_path=":memory:") as own_store:
        settings = replace(load("enrollment"), mongo_uri=own_store.uri, extra={"mongo_timeout_ms": 500})
        topology.declare_service(settings, [])
        container_factory(EnrollmentStandIn, settings.nameko_config()).start()
        wait_for(lambda: requests.get(url("enrollment", "/health/ready"), timeout=5).status_code == 200,
                 message="ready while the store is up")
        own_store.stop()

        ready = requests.get(url("enrollment", "/health/ready"), timeout=10)
        assert ready.status_code == 503
        assert ready.json()["status"] == "not_ready"
        assert ready.json()["checks"]["store"] is False
        assert ready.json()["checks"]["broker"] is True
        assert requests.get(url("enrollment", "/health/live"), timeout=5).status_code == 200


def test_metrics_count_real_requests_and_events_by_type_route_and_status(start, ops_env):
    amqp = ops_env["AMQP_URI"]
    start(CertificationStandIn)
    start(EnrollmentStandIn)
    completed, certified = COMPLETED.type, CERTIFIED.type
    before = scrape("enrollment")

    ids = []
    for i, name in enumerate(["Siti Aminah", "Rahmat Hidayat", "Dewi Lestari", "always-fail"]):
        response = requests.post(url("enrollment", "/completions"), timeout=5,
                                 json={"enrolment_id": f"m{i}", "name": name})
        assert response.status_code == 201
        ids.append(response.json()["event_id"])
    assert requests.post(url("enrollment", "/completions"), data="{oops", timeout=5).status_code == 400
    # a redelivered copy of the first event, and a poison message
    publish_raw(amqp, "enrollment.events", "completed",
                json.dumps({"specversion": "1.0", "id": ids[0], "source": "/asn/enrollment", "type": completed,
                            "time": "2026-03-05T09:30:00Z", "subject": "m0", "data": completion("m0")}).encode())
    publish_raw(amqp, "enrollment.events", "completed", b"{not json")
    get_messages(amqp, "certification.dlq", 2)  # the failing one (after 2 attempts) and the poison

    def settled():
        after = scrape("certification")
        return after if delta(before, after, "asn_events_consumed_total", type=completed) >= 4 else None
    after = wait_for(settled, message="events handled")

    assert delta(before, after, "asn_http_requests_total", method="POST", route="/completions", status="201") == 4
    assert delta(before, after, "asn_http_requests_total", method="POST", route="/completions", status="400") == 1
    assert delta(before, after, "asn_http_request_seconds_count", method="POST", route="/completions") == 5
    assert delta(before, after, "asn_outbox_published_total", type=completed) == 4
    assert delta(before, after, "asn_events_consumed_total", type=completed) == 4  # 3 + the duplicate
    assert delta(before, after, "asn_events_duplicate_total", type=completed) == 1
    assert delta(before, after, "asn_events_failed_total", type=completed) == 2
    assert delta(before, after, "asn_events_retried_total", type=completed) == 1
    assert delta(before, after, "asn_events_dead_lettered_total", type=completed, reason="failed") == 1
    assert delta(before, after, "asn_events_dead_lettered_total", type="malformed", reason="malformed") == 1
    assert delta(before, after, "asn_handler_seconds_count", type=completed) == 6
    assert delta(before, after, "asn_handler_seconds_bucket", type=completed, le="+Inf") == 6
    # nobody subscribes to `certified` in this vhost: counted, not silently lost
    wait_for(lambda: delta(before, scrape("certification"), "asn_outbox_unroutable_total", type=certified) == 3,
             message="certified events returned as unroutable")
    assert after[("asn_outbox_backlog", ())] == 0
    assert after[("asn_outbox_oldest_unsent_seconds", ())] == 0
    assert after[("asn_outbox_relay_leader", ())] == 1


def test_metrics_report_the_outbox_backlog_and_its_age_while_the_relay_cannot_publish(start, ops_env):
    from shared.store import Store, connect

    container = start(EnrollmentStandIn)
    settings = load("enrollment")
    # The relay of this replica is parked: as if another replica held the lease and died.
    client = connect(settings)
    from datetime import datetime, timezone

    held_until = datetime(2100, 1, 1, tzinfo=timezone.utc)  # leases run on the store's clock
    client[settings.db_name].leases.update_one({"_id": "outbox-relay"},
                                               {"$set": {"holder": "a-dead-replica", "until": held_until}},
                                               upsert=True)
    store = Store(client, settings)
    for i in range(3):
        store.transaction(lambda tx: tx.emit("completed", f"b{i}", completion(f"b{i}")))
    samples = wait_for(lambda: (s := scrape("enrollment"))[("asn_outbox_relay_leader", ())] == 0 and s,
                       message="the relay sees it does not lead")
    assert samples[("asn_outbox_backlog", ())] == 3
    assert samples[("asn_outbox_oldest_unsent_seconds", ())] > 0
    client.close()
    container.stop()
