"""Issuing certificates from enrollment's `completed` events (real RabbitMQ and SecantusDB)."""
from __future__ import annotations

import json

from cloudevents.v1.http import from_json

from tests.integration.certification.helpers import PUBLIC_BASE_URL, completion, free_port
from tests.support import publish_event, publish_raw, wait_for


def test_a_passed_completion_issues_a_certificate_and_announces_it_as_a_cloudevent(start, settings, probe, api):
    start()
    publish_event(settings.amqp_uri, "enrollment", "completed", completion("enr-1"), subject="enr-1")

    [message] = probe.take(1)
    event = from_json(message.body)  # the official SDK parses what other systems receive
    assert event["type"] == "id.go.bkn.bangkom.certification.certified.v1"
    assert event["source"] == "/asn/certification"
    data = event.data
    assert data["number"] == "0001/BKN-BKT/SERT-PBJ/2026"
    assert data["enrolment_id"] == "enr-1" and data["jp"] == 32
    assert data["holder"]["nip"] == "198503122010011002"
    assert data["issued_on"] == "2026-03-05" and data["valid_until"] == "2029-03-05"
    assert data["verification_url"].startswith(f"{PUBLIC_BASE_URL}/verify/")
    assert len(data["verification_url"].rsplit("/", 1)[1]) == 18
    assert data["supersedes"] is None
    assert event["subject"] == data["certificate_id"]

    certificate = api.get(f"/certificates/{data['certificate_id']}").json()
    assert certificate["status"] == "valid" and certificate["number"] == data["number"]
    assert certificate["verification_url"] == data["verification_url"]
    listing = api.get("/certificates", params={"nip": "198503122010011002"}).json()
    assert listing["total"] == 1 and [c["id"] for c in listing["items"]] == [data["certificate_id"]]
    paths = api.get("/openapi.json").json()["paths"]
    assert {"/certificates/{certificate_id}/pdf", "/verify/{code}", "/credentials/verify"} <= set(paths)


def test_the_same_completion_delivered_three_times_issues_one_certificate(start, settings, db, probe):
    start(max_workers=1)  # one at a time, in order: the sentinel is handled after the copies
    event = publish_event(settings.amqp_uri, "enrollment", "completed", completion("enr-dup"))
    for _ in range(2):
        publish_raw(settings.amqp_uri, "enrollment.events", "completed", json.dumps(event).encode())
    # the enrolment completed again under a new event id (a replay after a correction)
    publish_event(settings.amqp_uri, "enrollment", "completed", completion("enr-dup"))
    publish_event(settings.amqp_uri, "enrollment", "completed", completion("sentinel", nip="199001012015032001"))

    wait_for(lambda: db.certificates.find_one({"enrolment_id": "sentinel"}), message="the sentinel certificate")
    assert db.certificates.count_documents({"enrolment_id": "enr-dup"}) == 1
    certified = [json.loads(m.body)["data"]["enrolment_id"] for m in probe.take(2)]
    assert sorted(certified) == ["enr-dup", "sentinel"]
    assert wait_for(lambda: db.outbox.count_documents({"sent": False}) == 0)
    assert probe.pending() == 0


def test_a_failed_completion_or_a_programme_without_certificate_issues_nothing(start, settings, db, probe):
    start(max_workers=1)
    amqp = settings.amqp_uri
    publish_event(amqp, "enrollment", "completed", completion("failed", result="failed"))
    publish_event(amqp, "enrollment", "completed", completion("no-show", result="no_show"))
    publish_event(amqp, "enrollment", "completed",
                  completion("seminar", kind="seminar", grants_certificate=False, code="SEM-2026-07"))
    publish_event(amqp, "enrollment", "completed", completion("sentinel"))

    wait_for(lambda: db.certificates.find_one({"enrolment_id": "sentinel"}), message="the sentinel certificate")
    assert [c["enrolment_id"] for c in db.certificates.find()] == ["sentinel"]
    [only] = probe.take(1)
    assert json.loads(only.body)["data"]["enrolment_id"] == "sentinel"
    assert wait_for(lambda: db.outbox.count_documents({"sent": False}) == 0)
    assert probe.pending() == 0
    # and the sequence was not consumed by the ones that earned nothing
    assert db.certificates.find_one({"enrolment_id": "sentinel"})["number"] == "0001/BKN-BKT/SERT-PBJ/2026"


def test_two_replicas_number_100_concurrent_completions_1_to_100_without_gap_or_duplicate(start, settings, db, probe):
    start()
    start(http_address=f"127.0.0.1:{free_port()}")
    for i in range(100):
        # different holders and lines, all completed in 2026; every 8th programme has no line
        line = {"code": f"SERT-PKI-2026-{i % 3:02d}", "certification_line": None} if i % 8 == 0 \
            else {"certification_line": f"L{i % 7}"}
        publish_event(settings.amqp_uri, "enrollment", "completed",
                      completion(f"enr-{i}", nip=f"19850312201001{i:04d}", **line))
    # and one completed in 2027 starts that year's own sequence
    publish_event(settings.amqp_uri, "enrollment", "completed",
                  completion("enr-2027", completed_at="2027-01-04T02:00:00Z"))

    wait_for(lambda: db.certificates.count_documents({}) == 101, timeout=60, message="101 certificates")
    issued_2026 = list(db.certificates.find({"year": 2026}))
    assert sorted(c["seq"] for c in issued_2026) == list(range(1, 101))
    assert len({c["number"] for c in issued_2026}) == 100
    unlined = db.certificates.find_one({"enrolment_id": "enr-8"})  # its programme's code is the line
    assert unlined["number"] == f"{unlined['seq']:04d}/BKN-BKT/SERT-PKI/2026"
    assert db.certificates.find_one({"year": 2027})["number"] == "0001/BKN-BKT/SERT-PBJ/2027"
    events = probe.take(101, timeout=30)
    numbers = sorted(json.loads(m.body)["data"]["number"] for m in events)
    assert numbers == sorted(c["number"] for c in db.certificates.find())
    # each event applied exactly once across the two replicas
    assert db.processed_events.count_documents({}) == 101
