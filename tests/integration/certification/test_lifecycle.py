"""Expiry scan and recertification against the real broker and store."""
from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timezone

import eventlet
import pytest

from services.certification import config as certification_config
from services.certification.usecases import run_expiry_scan
from shared.store import Store, connect
from tests.integration.certification.helpers import free_port, issue, set_clock
from tests.support import wait_for


@pytest.fixture
def replicas(settings):
    """Two independent store connections scanning at the same time, like two replicas."""
    clients = [connect(settings) for _ in range(2)]
    yield [Store(c, settings) for c in clients]
    for c in clients:
        c.close()


def scan_concurrently(replicas, now: datetime, rounds: int = 3) -> int:
    config = certification_config.load()
    pool = eventlet.GreenPool()
    results = [pool.spawn(run_expiry_scan, store, config, now) for _ in range(rounds) for store in replicas]
    return sum(sum(r.wait().values()) for r in results)


def events_by_type(messages) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {}
    for message in messages:
        body = json.loads(message.body)
        grouped.setdefault(body["type"].split(".")[-2], []).append(body["data"])
    return grouped


def test_expiry_events_fire_once_each_while_two_replicas_scan_at_once(start, settings, db, probe, replicas):
    start(max_workers=1)  # issues the certificates; its relay publishes what the scans emit
    first = issue(settings, db, "a", certificate_validity_months=12)  # valid until 2027-03-05
    second = issue(settings, db, "b", certification_line="K3", completed_at="2026-03-20T03:00:00Z",
                   certificate_validity_months=12)  # valid until 2027-03-20
    issue(settings, db, "c", certification_line="ARSIP", certificate_validity_months=36)  # 2029
    issue(settings, db, "d", certification_line="SEM", certificate_validity_months=None)  # never expires
    probe.take(4)  # certified

    # 20 Feb 2027: both of the first two are within the 30-day notice period
    assert scan_concurrently(replicas, datetime(2027, 2, 20, 5, 0, tzinfo=timezone.utc)) == 2
    # 21 Mar 2027 (WIB): both have passed their last day
    assert scan_concurrently(replicas, datetime(2027, 3, 21, 1, 0, tzinfo=timezone.utc)) == 2
    # later scans find nothing new
    assert scan_concurrently(replicas, datetime(2027, 4, 1, tzinfo=timezone.utc)) == 0

    events = events_by_type(probe.take(4))
    assert Counter(e["certificate_id"] for e in events["expiring"]) == Counter({first["_id"]: 1, second["_id"]: 1})
    assert Counter(e["certificate_id"] for e in events["expired"]) == Counter({first["_id"]: 1, second["_id"]: 1})
    assert {e["certificate_id"]: e["days_left"] for e in events["expiring"]} == {first["_id"]: 13, second["_id"]: 28}
    assert wait_for(lambda: db.outbox.count_documents({"sent": False}) == 0)
    assert probe.pending() == 0


def test_a_certificate_found_already_past_its_date_gets_expired_without_a_late_expiring(
        start, settings, db, probe, replicas):
    start()
    certificate = issue(settings, db, "a", certificate_validity_months=12)
    probe.take(1)
    assert scan_concurrently(replicas, datetime(2027, 6, 1, tzinfo=timezone.utc), rounds=1) == 1
    [expired] = probe.take(1)
    assert json.loads(expired.body)["type"].endswith(".expired.v1")
    assert json.loads(expired.body)["data"]["certificate_id"] == certificate["_id"]
    assert scan_concurrently(replicas, datetime(2027, 6, 2, tzinfo=timezone.utc), rounds=1) == 0


def test_the_scheduled_scan_runs_by_itself_on_every_replica_with_the_injected_clock(
        start, settings, db, probe, api, monkeypatch):
    monkeypatch.setenv("CERTIFICATION_EXPIRY_SCAN_INTERVAL_S", "0.1")
    monkeypatch.setenv("CERTIFICATION_EXPIRY_NOTICE_DAYS", "60")
    one, two = start(), start(http_address=f"127.0.0.1:{free_port()}")
    certificate = issue(settings, db, "a", certificate_validity_months=12)  # valid until 2027-03-05
    probe.take(1)

    late_january = datetime(2027, 1, 25, tzinfo=timezone.utc)  # 39 days left: inside the 60-day notice
    set_clock(one, late_january)
    set_clock(two, late_january)
    [expiring] = probe.take(1)
    data = json.loads(expiring.body)["data"]
    assert (data["certificate_id"], data["days_left"], data["valid_until"]) == (certificate["_id"], 39, "2027-03-05")
    after = datetime(2027, 3, 6, tzinfo=timezone.utc)
    set_clock(one, after)
    set_clock(two, after)
    [expired] = probe.take(1)
    assert json.loads(expired.body)["type"].endswith(".expired.v1")
    view = api.get(f"/verify/{certificate['verification_code']}", headers={"Accept": "application/json"}).json()
    assert view["status"] == "expired"
    # both replicas keep scanning every 0.1 s while another certificate is issued; the next
    # event out is that certificate, not a repeated expiry announcement
    issue(settings, db, "marker", certification_line="OTHER")
    [next_event] = probe.take(1)
    assert json.loads(next_event.body)["type"].endswith(".certified.v1")
    assert probe.pending() == 0


def test_passing_a_recertification_supersedes_the_older_certificate(start, settings, db, probe, api):
    start(max_workers=1)
    old = issue(settings, db, "pbj-2026", certificate_validity_months=36)
    new = issue(settings, db, "pbj-2029", code="PBJ-2029-01", completed_at="2029-02-01T08:00:00Z",
                certificate_validity_months=36)
    certified = [json.loads(m.body)["data"] for m in probe.take(2)]
    assert [c["supersedes"] for c in certified] == [None, old["_id"]]
    assert new["number"] == "0001/BKN-BKT/SERT-PBJ/2029"

    view = api.get(f"/verify/{old['verification_code']}", headers={"Accept": "application/json"}).json()
    assert view["status"] == "superseded"
    assert view["superseded_by"]["number"] == new["number"]
    assert view["superseded_by"]["verification_url"].endswith(f"/verify/{new['verification_code']}")
    page = api.get(f"/verify/{old['verification_code']}").text
    assert "Digantikan" in page and new["number"] in page
    assert api.get(f"/verify/{new['verification_code']}", headers={"Accept": "application/json"}).json()["status"] == "valid"
    # another competency line of the same ASN is untouched
    other = issue(settings, db, "k3", certification_line="K3")
    assert api.get(f"/certificates/{other['_id']}").json()["status"] == "valid"
    assert api.get(f"/certificates/{new['_id']}").json()["status"] == "valid"


def test_an_older_completion_arriving_late_is_issued_already_superseded(start, settings, db, probe):
    start(max_workers=1)
    new = issue(settings, db, "pbj-2029", code="PBJ-2029-01", completed_at="2029-02-01T08:00:00Z")
    late = issue(settings, db, "pbj-2026")
    assert late["superseded_by"] == new["_id"]
    assert db.certificates.find_one({"_id": new["_id"]})["superseded_by"] is None
