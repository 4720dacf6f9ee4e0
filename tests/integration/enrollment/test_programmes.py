"""Programmes: create, validate, publish, update, cancel; events on the wire; OpenAPI."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from cloudevents.v1.http import from_json

from shared.events import registry
from tests.integration.enrollment.factories import participant, programme, ts, upcoming


def test_a_programme_starts_as_a_draft_and_publishing_announces_it_once(enrollment):
    created = enrollment.post("/programmes", programme("pkp-20", capacity=25))
    assert created.status_code == 201
    assert (created.json()["code"], created.json()["status"]) == ("PKP-20", "draft")
    assert enrollment.raw_events(1, timeout=0.5) == []  # a draft is not announced

    published = enrollment.post("/programmes/PKP-20/publish")
    assert published.json()["status"] == "published" and published.json()["enrolment_open"] is True
    assert enrollment.post("/programmes/PKP-20/publish").status_code == 200  # a retry
    [event] = enrollment.events(1)
    assert event.name == "programme_published" and event.subject == "PKP-20"
    assert event.data["capacity"] == 25 and event.data["programme"]["organisers"] == ["BKN", "PEMKOT_BUKITTINGGI"]
    assert enrollment.raw_events(1, timeout=0.5) == []


def test_creating_the_same_programme_again_returns_it_and_another_under_its_code_is_a_conflict(enrollment):
    body = programme("PKP-21")
    assert enrollment.post("/programmes", body).status_code == 201
    assert enrollment.post("/programmes", body).status_code == 200
    other = enrollment.post("/programmes", {**body, "title": "Pelatihan Lain Sama Sekali"})
    assert other.status_code == 409 and other.json()["field"] == "code"


@pytest.mark.parametrize("kind, duration, jp", [
    ("seminar", {"duration_days": 1}, 4),
    ("lokakarya", {"duration_days": 2}, 10),
    ("pelatihan", {"duration_minutes": 900}, 20),
    ("e-learning", {"duration_minutes": 100}, 2),
])
def test_jp_is_derived_from_the_duration_by_the_conversion_rules(enrollment, kind, duration, jp):
    extra = {"speakers": ["Prof. Rina"]} if kind in ("seminar", "lokakarya") else {}
    created = enrollment.post("/programmes", programme(f"JP-{kind}", kind=kind, jp=None, **duration, **extra))
    assert created.status_code == 201, created.text
    assert (created.json()["jp"], created.json()["jp_source"]) == (jp, "derived")


NOW = datetime.now(timezone.utc)


@pytest.mark.parametrize("change, field", [
    ({"kind": "kursus"}, "kind"),
    ({"competency_type": "umum"}, "competency_type"),
    ({"organisers": ["KEMENDAGRI"]}, "organisers"),
    ({"organisers": []}, "organisers"),
    ({"capacity": 0}, "capacity"),
    ({"passing_score": 120}, "passing_score"),
    ({"starts_at": "2026-03-02T08:00:00"}, "starts_at"),  # no timezone
    ({"code": "bad code!"}, "code"),
    ({"title": None}, "title"),
    ({"unknown": 1}, "unknown"),
    ({"ends_at": ts(NOW - timedelta(days=2))}, "ends_at"),
    ({"enrolment_closes_at": ts(NOW + timedelta(days=30))}, "enrolment_closes_at"),
    ({"enrolment_opens_at": ts(NOW + timedelta(days=6, hours=1))}, "enrolment_closes_at"),
    ({"speakers": ["Dr. X"]}, "speakers"),  # a pelatihan has no narasumber list
    ({"jp": None}, "jp"),  # neither JP nor a duration
    ({"jp": None, "duration_minutes": 90, "duration_days": 1}, "duration_days"),
    ({"certificate_validity_months": 36, "grants_certificate": False}, "certificate_validity_months"),
])
def test_each_invalid_programme_field_is_answered_with_422_naming_it(enrollment, change, field):
    response = enrollment.post("/programmes", {**programme("BAD-1"), **change})
    assert response.status_code == 422, response.text
    error = response.json()
    assert field in error.get("errors", {}) or error.get("field") == field


def test_a_body_that_is_not_json_is_a_400(enrollment):
    response = enrollment.post("/programmes", data=b"{code:", headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and "not valid JSON" in response.json()["message"]


def test_a_seminar_lists_its_speakers_and_a_certification_its_passing_score_before_publication(enrollment):
    enrollment.post("/programmes", programme("SEM-20", kind="seminar", passing_score=None))
    refused = enrollment.post("/programmes/SEM-20/publish")
    assert refused.status_code == 422 and refused.json()["field"] == "speakers"
    enrollment.post("/programmes", programme("SERT-20", kind="sertifikasi", passing_score=None))
    assert enrollment.post("/programmes/SERT-20/publish").json()["field"] == "passing_score"
    certification = enrollment.get("/programmes/SERT-20").json()
    assert certification["grants_certificate"] is True  # the default for a sertifikasi


def test_more_capacity_on_a_published_programme_seats_the_waitlist_and_announces_the_change(enrollment):
    enrollment.create_published(upcoming("PKP-22", capacity=1))  # not started: the waitlist moves by itself
    ids = [enrollment.post("/programmes/PKP-22/enrolments", participant(i)).json()["id"] for i in range(3)]
    enrollment.events(4)

    updated = enrollment.patch("/programmes/PKP-22", {"capacity": 2, "location": "Gedung Bung Hatta"})

    assert updated.status_code == 200
    assert (updated.json()["capacity"], updated.json()["seats_taken"], updated.json()["waitlisted"]) == (2, 2, 1)
    promotion, change = enrollment.events(2)
    assert (promotion.name, promotion.subject, promotion.data["promoted_from_waitlist"]) == ("enrolled", ids[1], True)
    assert change.name == "programme_updated" and change.data["capacity"] == 2
    assert change.data["programme"]["location"] == "Gedung Bung Hatta"
    # the same change again is no change: no event
    assert enrollment.patch("/programmes/PKP-22", {"capacity": 2}).status_code == 200
    assert enrollment.raw_events(1, timeout=0.5) == []
    too_small = enrollment.patch("/programmes/PKP-22", {"capacity": 1})
    assert too_small.status_code == 422 and too_small.json()["field"] == "capacity"
    assert enrollment.patch("/programmes/PKP-22", {"code": "X"}).status_code == 422


def test_cancelling_a_programme_cancels_every_enrolment_each_with_its_event(enrollment):
    enrollment.create_published(programme("PKP-23", capacity=2))
    ids = {enrollment.post("/programmes/PKP-23/enrolments", participant(i)).json()["id"] for i in range(3)}
    enrollment.events(4)

    cancelled = enrollment.post("/programmes/PKP-23/cancel", {"reason": "Narasumber berhalangan"})

    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert (cancelled.json()["seats_taken"], cancelled.json()["waitlisted"]) == (0, 0)
    events = enrollment.events(4)
    assert events[0].name == "programme_cancelled" and events[0].data["reason"] == "Narasumber berhalangan"
    assert {e.subject for e in events[1:]} == ids
    assert {e.data["cancelled_by"] for e in events[1:]} == {"programme_cancelled"}
    assert sorted(e.data["previous_status"] for e in events[1:]) == ["enrolled", "enrolled", "waitlisted"]
    assert enrollment.post("/programmes/PKP-23/cancel", {"reason": "lagi"}).status_code == 200  # a retry
    assert enrollment.raw_events(1, timeout=0.5) == []
    assert enrollment.post("/programmes/PKP-23/enrolments", participant(9)).status_code == 409
    assert enrollment.patch("/programmes/PKP-23", {"capacity": 5}).status_code == 409


def test_an_interrupted_cancellation_is_finished_by_the_sweep(enrollment):
    from services.enrollment import usecases
    from shared.store import Store, connect

    enrollment.create_published(programme("PKP-24", capacity=5))
    for i in range(3):
        enrollment.post("/programmes/PKP-24/enrolments", participant(i))
    # the state a crash right after the programme's own transaction leaves behind
    enrollment.db.programmes.update_one({"_id": "PKP-24"}, {"$set": {
        "status": "cancelled", "cancel_reason": "Force majeure", "cascade_pending": True}})
    enrollment.events(4)
    client = connect(enrollment.settings)
    try:  # what the periodic sweep of any replica runs
        usecases.sweep_cascades(Store(client, enrollment.settings), datetime.now(timezone.utc))
    finally:
        client.close()
    assert enrollment.get("/enrolments", params={"programme": "PKP-24", "status": "cancelled"}).json()["total"] == 3
    assert enrollment.db.programmes.find_one({"_id": "PKP-24"})["cascade_pending"] is False
    events = enrollment.events(3)
    assert {(e.name, e.data["cancelled_by"], e.data["reason"]) for e in events} == \
        {("cancelled", "programme_cancelled", "Force majeure")}


def test_programmes_are_listed_by_status_kind_and_organiser_a_page_at_a_time(isolated_enrollment):
    enrollment = isolated_enrollment
    enrollment.create_published(programme("LST-1", organisers=["BKN"]))
    enrollment.post("/programmes", programme("LST-2", organisers=["PEMKOT_BUKITTINGGI"]))
    enrollment.post("/programmes", programme("LST-3", kind="coaching", organisers=["BKN"]))
    assert [p["code"] for p in enrollment.get("/programmes", params={"status": "draft"}).json()["items"]] == \
        ["LST-2", "LST-3"]
    assert enrollment.get("/programmes", params={"organiser": "BKN"}).json()["total"] == 2
    assert enrollment.get("/programmes", params={"kind": "coaching"}).json()["items"][0]["code"] == "LST-3"
    page = enrollment.get("/programmes", params={"limit": 2}).json()
    rest = enrollment.get("/programmes", params={"limit": 2, "cursor": page["next_cursor"]}).json()
    assert [p["code"] for p in page["items"] + rest["items"]] == ["LST-1", "LST-2", "LST-3"]
    assert enrollment.get("/programmes/NOPE").status_code == 404


def test_every_event_on_the_wire_parses_with_the_cloudevents_sdk_and_matches_its_schema(enrollment):
    enrollment.create_published(programme("EVT-1", capacity=1))
    seat = enrollment.post("/programmes/EVT-1/enrolments", participant(1)).json()
    enrollment.post("/programmes/EVT-1/enrolments", participant(2))
    enrollment.after_end(programme("EVT-1"))
    enrollment.post(f"/enrolments/{seat['id']}/completion", {"score": 95})
    enrollment.patch("/programmes/EVT-1", {"title": "Pelatihan Analisis Kebijakan Publik Angkatan II"})
    enrollment.post("/programmes/EVT-1/cancel", {"reason": "Peserta kurang"})
    messages = enrollment.raw_events(7)

    names = []
    for message in messages:
        event = from_json(message.body)
        definition = registry.by_type(event["type"])
        assert definition is not None and event["source"] == "/asn/enrollment"
        definition.validate_outgoing(event.data)  # strict: no field outside the schema
        assert message.delivery_info["routing_key"] == definition.name
        names.append(definition.name)
    assert names == ["programme_published", "enrolled", "waitlisted", "completed", "programme_updated",
                     "programme_cancelled", "cancelled"]


def test_the_openapi_document_describes_every_route_from_the_schemas(enrollment):
    document = enrollment.get("/openapi.json").json()
    paths = document["paths"]
    assert {"post", "get"} <= set(paths["/programmes"])
    assert "patch" in paths["/programmes/{code}"]
    for path in ("/programmes/{code}/enrolments", "/programmes/{code}/enrolments/bulk",
                 "/programmes/{code}/completions/bulk", "/enrolments/{id}/cancel", "/enrolments/{id}/attendance",
                 "/enrolments/{id}/completion", "/programmes/{code}/publish", "/programmes/{code}/cancel"):
        assert "post" in paths[path], path
    schemas = document["components"]["schemas"]
    assert "capacity" in schemas["ProgrammeCreate"]["properties"]
    assert "waitlist_position" in schemas["Enrolment"]["properties"]
    assert "text/csv" in paths["/programmes/{code}/enrolments/bulk"]["post"]["requestBody"]["content"]
