"""Enrolment lifecycle over HTTP, against the real broker and store."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.integration.enrollment.factories import nip, participant, programme, ts, upcoming
from tests.support import auth_headers


def test_enrolling_twice_returns_the_same_enrolment_and_emits_one_event(enrollment):
    enrollment.create_published(programme("PKP-01", capacity=5))
    [published] = enrollment.events(1)
    assert published.name == "programme_published"

    first = enrollment.post("/programmes/PKP-01/enrolments", participant(1))
    again = enrollment.post("/programmes/PKP-01/enrolments", participant(1))

    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert first.json()["status"] == "enrolled"
    [enrolled] = enrollment.events(1)
    assert enrolled.name == "enrolled" and enrolled.subject == first.json()["id"]
    assert enrolled.data["promoted_from_waitlist"] is False
    assert enrolled.data["participant"] == {
        "nip": nip(1), "id_kind": "nip", "name": "Peserta 1", "agency": "DISKOMINFO",
        "agency_name": "Dinas Komunikasi dan Informatika", "position": "Analis Kebijakan",
        # not on the roster: enrolled by an admin as unlisted (ENROLLMENT_UNLISTED=terima, issue 19)
        "golongan": None, "jenis_asn": "PNS", "listed": False}
    assert enrolled.data["programme"]["code"] == "PKP-01" and enrolled.data["programme"]["jp"] == 24
    assert enrollment.raw_events(1, timeout=0.5) == []  # the retry emitted nothing
    assert enrollment.get("/programmes/PKP-01").json()["seats_taken"] == 1


def test_full_programme_puts_the_3rd_asn_on_the_waitlist_with_position(enrollment):
    enrollment.create_published(programme("PKP-02", capacity=2))
    statuses = [enrollment.post("/programmes/PKP-02/enrolments", participant(i)).json() for i in range(4)]

    assert [s["status"] for s in statuses] == ["enrolled", "enrolled", "waitlisted", "waitlisted"]
    assert [s["waitlist_position"] for s in statuses[2:]] == [1, 2]
    events = enrollment.events(5)[1:]
    assert [e.name for e in events] == ["enrolled", "enrolled", "waitlisted", "waitlisted"]
    assert [e.data["position"] for e in events[2:]] == [1, 2]
    shown = enrollment.get("/programmes/PKP-02").json()
    assert (shown["seats_taken"], shown["seats_left"], shown["waitlisted"]) == (2, 0, 2)


def test_cancelling_a_seat_promotes_the_first_waitlisted_and_positions_move_up(enrollment):
    enrollment.create_published(upcoming("PKP-03", capacity=1))  # not started: the waitlist moves by itself
    seat, first, second = (enrollment.post("/programmes/PKP-03/enrolments", participant(i)).json()
                           for i in range(3))
    enrollment.events(4)

    cancelled = enrollment.post(f"/enrolments/{seat['id']}/cancel", {"reason": "Tugas dinas luar kota"},
                                headers=auth_headers("asn", nip=nip(0)))  # the ASN themself

    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    cancel_event, promotion = enrollment.events(2)
    assert cancel_event.name == "cancelled"
    assert cancel_event.data["previous_status"] == "enrolled"
    assert cancel_event.data["reason"] == "Tugas dinas luar kota"
    assert cancel_event.data["cancelled_by"] == "participant"
    assert promotion.name == "enrolled" and promotion.subject == first["id"]
    assert promotion.data["promoted_from_waitlist"] is True
    assert enrollment.get(f"/enrolments/{first['id']}").json()["status"] == "enrolled"
    assert enrollment.get(f"/enrolments/{second['id']}").json()["waitlist_position"] == 1
    assert "waitlist_note" not in cancelled.json()
    # a retried cancel changes nothing and emits nothing
    assert enrollment.post(f"/enrolments/{seat['id']}/cancel", {}).json()["status"] == "cancelled"
    assert enrollment.raw_events(1, timeout=0.5) == []


def test_a_seat_freed_in_a_started_programme_waits_for_an_operator_and_the_answer_says_so(enrollment):
    started = enrollment.create_published(programme("PKP-16", capacity=1))  # started an hour ago
    assert started["promotes_waitlist"] is False
    seat, first = (enrollment.post("/programmes/PKP-16/enrolments", participant(i)).json() for i in range(2))
    enrollment.events(3)

    cancelled = enrollment.post(f"/enrolments/{seat['id']}/cancel", {"reason": "Sakit"})
    assert cancelled.status_code == 200, cancelled.text
    assert "tidak otomatis" in cancelled.json()["waitlist_note"]
    [event] = enrollment.events(1)  # the cancellation only: nobody promoted
    assert event.name == "cancelled"
    assert enrollment.raw_events(1, timeout=1) == []
    assert enrollment.get(f"/enrolments/{first['id']}").json()["status"] == "waitlisted"
    shown = enrollment.get("/programmes/PKP-16").json()
    assert (shown["seats_taken"], shown["seats_left"], shown["waitlisted"]) == (0, 1, 1)

    # by hand it works: the operator moves the waitlisted ASN into the free seat
    promoted = enrollment.post(f"/enrolments/{first['id']}/promote")
    assert promoted.status_code == 200 and promoted.json()["status"] == "enrolled", promoted.text
    [event] = enrollment.events(1)
    assert (event.name, event.data["promoted_from_waitlist"]) == ("enrolled", True)


def test_more_capacity_in_a_started_programme_leaves_the_waitlist_to_the_operator(enrollment):
    enrollment.create_published(programme("PKP-17", capacity=1))
    _, waiting = (enrollment.post("/programmes/PKP-17/enrolments", participant(i)).json() for i in range(2))
    enrollment.events(3)
    changed = enrollment.patch("/programmes/PKP-17", {"capacity": 2})
    assert changed.status_code == 200 and (changed.json()["seats_left"], changed.json()["waitlisted"]) == (1, 1)
    [event] = enrollment.events(1)
    assert event.name == "programme_updated"
    assert enrollment.get(f"/enrolments/{waiting['id']}").json()["status"] == "waitlisted"


def test_cancelling_a_waitlist_place_frees_no_seat(enrollment):
    enrollment.create_published(programme("PKP-04", capacity=1))
    seat, waiting = (enrollment.post("/programmes/PKP-04/enrolments", participant(i)).json() for i in range(2))
    enrollment.events(3)
    enrollment.post(f"/enrolments/{waiting['id']}/cancel", {})
    [event] = enrollment.events(1)
    assert event.data["previous_status"] == "waitlisted" and event.data["cancelled_by"] == "operator"
    assert event.data["reason"] == "Dibatalkan oleh operator"
    shown = enrollment.get("/programmes/PKP-04").json()
    assert (shown["seats_taken"], shown["waitlisted"]) == (1, 0)


def test_an_asn_who_cancelled_can_enrol_again_at_the_end_of_the_queue(enrollment):
    enrollment.create_published(programme("PKP-05", capacity=1))
    mine = enrollment.post("/programmes/PKP-05/enrolments", participant(1), headers={"Idempotency-Key": "k1"}).json()
    enrollment.post(f"/enrolments/{mine['id']}/cancel", {})
    other = enrollment.post("/programmes/PKP-05/enrolments", participant(2)).json()

    late_retry = enrollment.post("/programmes/PKP-05/enrolments", participant(1), headers={"Idempotency-Key": "k1"})
    assert late_retry.status_code == 200 and late_retry.json()["status"] == "cancelled"
    again = enrollment.post("/programmes/PKP-05/enrolments", participant(1))
    assert again.status_code == 201
    assert again.json()["id"] == mine["id"]
    assert (again.json()["status"], again.json()["waitlist_position"]) == ("waitlisted", 1)
    assert other["status"] == "enrolled"


def test_a_known_asn_can_be_enrolled_by_nip_alone(enrollment):
    enrollment.create_published(programme("PKP-06"))
    enrollment.create_published(programme("PKP-07"))
    enrollment.post("/programmes/PKP-06/enrolments", participant(1, agency="BAPPELITBANGDA", position="Perencana"))
    second = enrollment.post("/programmes/PKP-07/enrolments", {"nip": nip(1)})
    assert second.status_code == 201
    assert second.json()["participant"]["agency"] == "BAPPELITBANGDA"
    assert second.json()["participant"]["position"] == "Perencana"


def test_an_ni_pppk_is_enrolled_as_its_own_kind(enrollment):
    enrollment.create_published(programme("PKP-08"))
    response = enrollment.post("/programmes/PKP-08/enrolments",
                               {"nip": "199305222022212012", "name": "Siti Aminah", "agency": "DINKES"})
    assert response.status_code == 201, response.text
    assert response.json()["participant"]["id_kind"] == "ni_pppk"


@pytest.mark.parametrize("body, field, part, words", [
    ({"nip": "19850312201001100", "name": "A", "agency": "DINKES"}, "nip", "length", "18 digits"),
    ({"nip": "198502302010011002", "name": "A", "agency": "DINKES"}, "nip", "birth_date", "not a real date"),
    ({"nip": "198503122010131002", "name": "A", "agency": "DINKES"}, "nip", "appointment_month", "01-12"),
    ({"nip": "198503121999011002", "name": "A", "agency": "DINKES"}, "nip", "appointment_date", "turned 18"),
    ({"nip": "198503122010013002", "name": "A", "agency": "DINKES"}, "nip", "gender", "gender digit"),
    ({"nip": "198503122010011000", "name": "A", "agency": "DINKES"}, "nip", "sequence", "001"),
    ({"nip": "198503122010011002", "name": "A", "agency": "DINAS-X"}, "agency", None, "not an OPD"),
    ({"nip": "198503122010011002", "agency": "DINKES"}, "name", None, "name is required"),
    ({"nip": "198503122010011002", "name": "A", "agency": "DINKES", "id_kind": "nik"}, "id_kind", None, "nip"),
], ids=["length", "birth-date", "appointment-month", "under-18", "gender", "sequence", "agency", "name", "kind"])
def test_an_invalid_participant_is_refused_with_the_field_and_reason(enrollment, request, body, field, part, words):
    code = f"INV-{request.node.callspec.id}"
    enrollment.create_published(programme(code))
    response = enrollment.post(f"/programmes/{code}/enrolments", body)
    assert response.status_code == 422
    error = response.json()
    if error["error"] == "validation_failed":
        assert field in error["errors"] and words in str(error["errors"][field])
    else:
        assert error["field"] == field and words in error["message"]
        assert error.get("part") == part


def test_enrolment_is_refused_before_publication_and_outside_the_window(enrollment):
    enrollment.post("/programmes", programme("PKP-10"))
    draft = enrollment.post("/programmes/PKP-10/enrolments", participant(1))
    assert draft.status_code == 409 and "draft" in draft.json()["message"]

    now = datetime.now(timezone.utc)
    enrollment.create_published(programme("PKP-11", enrolment_opens_at=ts(now + timedelta(days=1)),
                                           starts_at=ts(now + timedelta(days=3))))
    early = enrollment.post("/programmes/PKP-11/enrolments", participant(1))
    assert early.status_code == 409 and "opens at" in early.json()["message"]
    assert enrollment.post("/programmes/NOPE/enrolments", participant(1)).status_code == 404


def test_completion_with_the_passing_score_passes_and_credits_the_programme_jp(enrollment):
    enrollment.create_published(programme("PKP-12", jp=24, passing_score=70))
    ids = [enrollment.post("/programmes/PKP-12/enrolments", participant(i)).json()["id"] for i in range(3)]
    enrollment.events(4)
    enrollment.post(f"/enrolments/{ids[2]}/attendance", {"attended": False})  # during the programme
    enrollment.after_end(programme("PKP-12"))

    passed = enrollment.post(f"/enrolments/{ids[0]}/completion", {"score": 70})
    failed = enrollment.post(f"/enrolments/{ids[1]}/completion", {"score": 69.5})
    no_show = enrollment.post(f"/enrolments/{ids[2]}/completion", {})

    assert [r.json()["result"] for r in (passed, failed, no_show)] == ["passed", "failed", "no_show"]
    events = {e.subject: e.data for e in enrollment.events(3)}
    assert (events[ids[0]]["passed"], events[ids[0]]["jp_earned"], events[ids[0]]["score"]) == (True, 24, 70)
    assert (events[ids[1]]["passed"], events[ids[1]]["jp_earned"]) == (False, 0)
    assert (events[ids[2]]["result"], events[ids[2]]["attended"], events[ids[2]]["jp_earned"]) == ("no_show", False, 0)

    # the same completion again is a retry; a different one is a conflict
    assert enrollment.post(f"/enrolments/{ids[0]}/completion", {"score": 70}).status_code == 200
    changed = enrollment.post(f"/enrolments/{ids[0]}/completion", {"score": 40})
    assert changed.status_code == 409 and "already completed as passed" in changed.json()["message"]
    assert enrollment.raw_events(1, timeout=0.5) == []
    assert enrollment.post(f"/enrolments/{ids[0]}/cancel", {}).status_code == 409


def test_a_seminar_passes_on_attendance_without_a_score(enrollment):
    enrollment.create_published(programme("SEM-01", kind="seminar", jp=None, duration_days=1, passing_score=None,
                                           speakers=["Dr. Andalas Putra"], competency_type="pemerintahan"))
    eid = enrollment.post("/programmes/SEM-01/enrolments", participant(1)).json()["id"]
    enrollment.post(f"/enrolments/{eid}/attendance", {"attended": True})
    early = enrollment.post(f"/enrolments/{eid}/completion", {})
    assert early.status_code == 409 and early.json()["field"] == "programme", early.text
    enrollment.after_end(enrollment.get("/programmes/SEM-01").json())
    done = enrollment.post(f"/enrolments/{eid}/completion", {})
    assert done.status_code == 200, done.text
    assert (done.json()["result"], done.json()["jp_earned"]) == ("passed", 4)


def test_completion_needs_a_score_when_the_programme_has_a_passing_score(enrollment):
    enrollment.create_published(programme("PKP-13"))
    eid = enrollment.post("/programmes/PKP-13/enrolments", participant(1)).json()["id"]
    enrollment.after_end(programme("PKP-13"))
    response = enrollment.post(f"/enrolments/{eid}/completion", {"attended": True})
    assert response.status_code == 422 and response.json()["field"] == "score"
    out_of_range = enrollment.post(f"/enrolments/{eid}/completion", {"score": 101})
    assert out_of_range.status_code == 422 and "score" in out_of_range.json()["errors"]


def test_a_scheduled_programme_is_completed_only_once_it_has_ended_while_attendance_is_recorded_during_it(
        enrollment):
    now = datetime.now(timezone.utc)
    enrollment.create_published(programme("PKP-14", starts_at=ts(now + timedelta(days=2))))
    eid = enrollment.post("/programmes/PKP-14/enrolments", participant(1)).json()["id"]
    before = enrollment.post(f"/enrolments/{eid}/completion", {"score": 90})
    assert before.status_code == 409 and before.json()["field"] == "programme", before.text
    assert "setelah program berakhir" in before.json()["message"]

    enrollment.create_published(programme("PKP-18"))  # started an hour ago, ends in a week
    running = enrollment.post("/programmes/PKP-18/enrolments", participant(1)).json()["id"]
    assert enrollment.post(f"/enrolments/{running}/attendance", {"attended": True}).status_code == 200
    during = enrollment.post(f"/enrolments/{running}/completion", {"score": 90})
    assert during.status_code == 409 and during.json()["field"] == "programme"
    assert enrollment.get(f"/enrolments/{running}").json()["status"] == "enrolled"
    enrollment.after_end(programme("PKP-18"))
    after = enrollment.post(f"/enrolments/{running}/completion", {"score": 90})
    assert after.status_code == 200 and after.json()["result"] == "passed", after.text


def test_a_programme_ended_earlier_than_planned_is_completed_once_its_end_is_moved(enrollment):
    # the real clock: the operator moves the end of a running programme to the past (it was cut short)
    enrollment.create_published(programme("PKP-19"))
    eid = enrollment.post("/programmes/PKP-19/enrolments", participant(1)).json()["id"]
    now = datetime.now(timezone.utc)
    moved = enrollment.patch("/programmes/PKP-19", {"enrolment_closes_at": ts(now - timedelta(minutes=2)),
                                                    "ends_at": ts(now - timedelta(minutes=1))})
    assert moved.status_code == 200, moved.text
    done = enrollment.post(f"/enrolments/{eid}/completion", {"score": 90})
    assert done.status_code == 200 and done.json()["result"] == "passed", done.text


def test_a_self_paced_participant_is_completed_when_they_finish_before_the_programme_ends(enrollment):
    enrollment.create_published(programme("ELR-01", kind="e-learning", passing_score=None))
    eid = enrollment.post("/programmes/ELR-01/enrolments", participant(1)).json()["id"]
    done = enrollment.post(f"/enrolments/{eid}/completion", {"attended": True})
    assert done.status_code == 200 and done.json()["result"] == "passed", done.text


def test_a_waitlisted_asn_cannot_be_completed(enrollment):
    enrollment.create_published(programme("PKP-15", capacity=1))
    enrollment.post("/programmes/PKP-15/enrolments", participant(1))
    waiting = enrollment.post("/programmes/PKP-15/enrolments", participant(2)).json()
    response = enrollment.post(f"/enrolments/{waiting['id']}/completion", {"score": 90})
    assert response.status_code == 409 and "waitlisted" in response.json()["message"]


def test_enrolments_are_listed_by_programme_nip_status_and_agency_a_page_at_a_time(isolated_enrollment):
    enrollment = isolated_enrollment
    enrollment.create_published(programme("PKP-16", capacity=3))
    for i in range(5):
        enrollment.post("/programmes/PKP-16/enrolments", participant(i, agency="DINKES" if i % 2 else "DISKOMINFO"))

    first = enrollment.get("/enrolments", params={"programme": "pkp-16", "limit": 2}).json()
    second = enrollment.get("/enrolments", params={"programme": "PKP-16", "limit": 2,
                                                   "cursor": first["next_cursor"]}).json()
    third = enrollment.get("/enrolments", params={"programme": "PKP-16", "limit": 2,
                                                  "cursor": second["next_cursor"]}).json()
    assert first["total"] == 5 and len(first["items"]) == 2 and len(third["items"]) == 1
    assert third["next_cursor"] is None
    assert len({e["id"] for e in first["items"] + second["items"] + third["items"]}) == 5
    waiting = enrollment.get("/enrolments", params={"status": "waitlisted", "programme": "PKP-16"}).json()
    assert [e["waitlist_position"] for e in waiting["items"]] == [1, 2]
    assert enrollment.get("/enrolments", params={"nip": nip(3)}).json()["total"] == 1
    assert enrollment.get("/enrolments", params={"agency": "dinkes"}).json()["total"] == 2
    bad = enrollment.get("/enrolments", params={"status": "lulus", "limit": 0})
    assert bad.status_code == 422 and set(bad.json()["errors"]) == {"status", "limit"}
    assert enrollment.get("/enrolments/doesnotexist").status_code == 404
