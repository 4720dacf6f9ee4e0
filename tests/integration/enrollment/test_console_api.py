"""The enrollment API of the operator console (issue 21), against the real broker and store:
marking a programme session (attendance per day, completions by the API's rules), moving a
waitlisted ASN into a free seat by hand, and the JP preview of the programme form — each tried
by the roles that may not use it.

One service for the module, on a clock the tests move (a programme's end is reached by moving
the clock, not by waiting); each test uses programme codes of its own and resets the clock.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from nameko.containers import ServiceContainer

from services.enrollment.service import EnrollmentService
from shared import topology
from shared.store import connect
from tests.integration.enrollment.conftest import Running, bind_tap, settings_for
from tests.integration.enrollment.factories import participant, programme, ts
from tests.support import auth_headers, wait_for

OPERATOR = auth_headers("operator", agency="DISKOMINFO")
OTHER_OPERATOR = auth_headers("operator", agency="DINKES")


class Clock:
    def __init__(self):
        self.now = datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def clocked_service(service_env):
    clock = Clock()
    settings = settings_for(service_env, extra={"clock": clock})
    topology.declare_service(settings)
    container = ServiceContainer(EnrollmentService, settings.nameko_config())
    container.start()
    client = connect(settings)
    yield settings, client[settings.db_name], clock
    container.stop()
    client.close()


@pytest.fixture
def svc(clocked_service):
    """The module's service, the clock back at the real time, a tap of this test's events only."""
    settings, db, clock = clocked_service
    clock.now = datetime.now(timezone.utc)
    wait_for(lambda: db.outbox.count_documents({"sent": False}) == 0, message="earlier events published")
    running = Running(f"http://{settings.http_address}", settings, db, bind_tap(settings.amqp_uri))
    running.clock = clock
    return running


def code() -> str:
    return f"KONSOL-{uuid.uuid4().hex[:8].upper()}"


def enrol(svc: Running, programme_code: str, i: int, agency: str = "DISKOMINFO") -> dict:
    answer = svc.post(f"/programmes/{programme_code}/enrolments", participant(i, agency=agency))
    assert answer.status_code == 201, answer.text
    return answer.json()


def no_events(svc: Running) -> None:
    assert svc.raw_events(1, timeout=1.5) == [], "nothing should have been emitted"


def mark(svc: Running, programme_code: str, body: dict, headers: dict | None = None):
    return svc.post(f"/programmes/{programme_code}/marking", body, headers=headers or {})


# -- marking a session ----------------------------------------------------------------------------

def test_marking_a_session_records_each_row_per_day_and_the_same_marking_again_changes_nothing(svc):
    c = code()
    shown = svc.create_published(programme(c))  # started an hour ago, runs a week
    sessions = shown["sessions"]
    assert len(sessions) >= 7 and sessions[0]["label"].startswith("Hari 1 \u2013 ")
    a, b, d = (enrol(svc, c, 7100 + i) for i in range(3))
    svc.events(4)  # programme_published and three enrolled
    today = sessions[0]["date"] if sessions[0]["date"] == svc.clock.now.astimezone(
        timezone(timedelta(hours=7))).date().isoformat() else sessions[1]["date"]
    body = {"session": today, "rows": [{"enrolment_id": a["id"], "present": True},
                                       {"enrolment_id": b["id"], "present": False},
                                       {"enrolment_id": d["id"], "present": None}]}
    answer = mark(svc, c, body)
    assert answer.status_code == 200, answer.text
    marked = answer.json()
    assert marked["session"] == today
    assert [(r["accepted"], r["outcome"], r["attendance"]) for r in marked["results"]] == [
        (True, "recorded", {today: True}), (True, "recorded", {today: False}), (True, "unchanged", {})]
    assert marked["results"][0]["nip"] == a["nip"] and marked["results"][0]["name"] == "Peserta 7100"
    assert marked["summary"] == {"accepted": 3, "rejected": 0, "completed": 0, "unchanged": 1}
    view = svc.get(f"/enrolments/{a['id']}").json()
    assert view["attendance_days"] == {today: True} and view["attended"] is True
    assert svc.get(f"/enrolments/{b['id']}").json()["attended"] is False
    no_events(svc)  # attendance has no event

    again = mark(svc, c, body).json()
    assert again["summary"] == {"accepted": 3, "rejected": 0, "completed": 0, "unchanged": 3}
    assert svc.get(f"/enrolments/{a['id']}").json()["updated_at"] == view["updated_at"]  # nothing written

    # attended = present on at least one session
    mark(svc, c, {"session": today, "rows": [{"enrolment_id": b["id"], "present": True}]})
    assert svc.get(f"/enrolments/{b['id']}").json()["attended"] is True

def test_a_session_is_a_day_of_the_programme_that_has_begun(svc):
    c = code()
    shown = svc.create_published(programme(c))
    a = enrol(svc, c, 7110)
    row = [{"enrolment_id": a["id"], "present": True}]
    future = mark(svc, c, {"session": shown["sessions"][-1]["date"], "rows": row})
    assert future.status_code == 409 and future.json()["field"] == "session"
    outside = mark(svc, c, {"session": "2001-01-01", "rows": row})
    assert outside.status_code == 422 and outside.json()["field"] == "session"
    missing = mark(svc, c, {"rows": row})  # a programme of several days names its session
    assert missing.status_code == 422 and missing.json()["field"] == "session"
    empty = mark(svc, c, {"session": shown["sessions"][0]["date"], "rows": []})
    assert empty.status_code == 422 and "rows" in empty.json()["errors"]
    assert mark(svc, "TIDAK-ADA", {"rows": row}).status_code == 404
    assert svc.get(f"/enrolments/{a['id']}").json()["attendance_days"] == {}


def test_completion_is_refused_before_a_scheduled_programme_ends_and_recorded_after(svc):
    c = code()
    now = svc.clock.now
    shown = svc.create_published(programme(c, kind="pelatihan", starts_at=ts(now - timedelta(hours=1)),
                                           ends_at=ts(now + timedelta(days=2)),
                                           enrolment_closes_at=ts(now + timedelta(days=1))))
    a, b = enrol(svc, c, 7120), enrol(svc, c, 7121)
    svc.events(3)
    first = shown["sessions"][0]["date"]
    early = mark(svc, c, {"session": first, "complete": True,
                          "rows": [{"enrolment_id": a["id"], "present": True, "score": 80}]})
    assert early.status_code == 409 and early.json()["field"] == "complete"
    assert svc.get(f"/enrolments/{a['id']}").json()["attendance_days"] == {}  # nothing written
    # a score waits for the completion: the row is refused, the others go on
    scored = mark(svc, c, {"session": first, "rows": [{"enrolment_id": a["id"], "present": True, "score": 80},
                                                      {"enrolment_id": b["id"], "present": False}]}).json()
    assert [(r["accepted"], r["field"]) for r in scored["results"]] == [(False, "score"), (True, None)]

    svc.clock.now = now + timedelta(days=2, hours=2)  # the programme has ended
    last = shown["sessions"][-1]["date"]
    body = {"session": last, "complete": True, "rows": [{"enrolment_id": a["id"], "present": True, "score": 80},
                                                         {"enrolment_id": b["id"], "present": False}]}
    done = mark(svc, c, body)
    assert done.status_code == 200, done.text
    results = done.json()["results"]
    assert [(r["outcome"], r["status"], r["result"]) for r in results] == [
        ("completed", "completed", "passed"), ("completed", "completed", "no_show")]
    assert done.json()["summary"]["completed"] == 2
    events = {e.data["enrolment_id"]: e for e in svc.events(2)}
    assert {e.name for e in events.values()} == {"completed"}
    assert events[a["id"]].data["result"] == "passed" and events[a["id"]].data["jp_earned"] == 24
    assert events[b["id"]].data["result"] == "no_show"
    again = mark(svc, c, body).json()
    assert again["summary"] == {"accepted": 2, "rejected": 0, "completed": 0, "unchanged": 2}
    no_events(svc)
    # a completed participant's attendance no longer changes
    changed = mark(svc, c, {"session": last, "rows": [{"enrolment_id": b["id"], "present": True}]}).json()
    assert changed["results"][0]["accepted"] is False and changed["results"][0]["field"] == "present"


def test_a_self_paced_programme_completes_each_person_when_they_finish(svc):
    c = code()
    shown = svc.create_published(programme(c, kind="e-learning", ends_at=ts(svc.clock.now + timedelta(days=90)),
                                           enrolment_closes_at=ts(svc.clock.now + timedelta(days=60))))
    assert shown["sessions"] == []
    a, b = enrol(svc, c, 7130), enrol(svc, c, 7131)
    svc.events(3)
    done = mark(svc, c, {"complete": True, "rows": [{"enrolment_id": a["id"], "score": 90},
                                                     {"enrolment_id": b["id"]}]})
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["session"] is None
    assert [(r["outcome"], r["status"], r["result"]) for r in body["results"]] == [
        ("completed", "completed", "passed"), ("unchanged", "enrolled", None)]
    [event] = svc.events(1)
    assert event.data["enrolment_id"] == a["id"] and event.data["result"] == "passed"
    # attendance as a whole, without a day
    present = mark(svc, c, {"rows": [{"enrolment_id": b["id"], "present": True}]}).json()
    assert present["results"][0]["outcome"] == "recorded"
    assert svc.get(f"/enrolments/{b['id']}").json()["attended"] is True


def test_an_operator_marks_its_own_opd_and_other_rows_read_as_not_enrolled(svc):
    c = code()
    shown = svc.create_published(programme(c))
    mine, theirs = enrol(svc, c, 7140), enrol(svc, c, 7141, agency="DINKES")
    day = shown["sessions"][0]["date"] if shown["sessions"][0]["date"] <= datetime.now(
        timezone(timedelta(hours=7))).date().isoformat() else None
    rows = [{"enrolment_id": mine["id"], "present": True}, {"enrolment_id": theirs["id"], "present": True},
            {"enrolment_id": "000000000000000000000000", "present": True}]
    answer = mark(svc, c, {"session": day, "rows": rows}, headers=OPERATOR)
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert results[0]["accepted"] is True
    other, unknown = results[1], results[2]
    assert other["accepted"] is unknown["accepted"] is False
    assert (other["field"], other["reason"]) == (unknown["field"], unknown["reason"]) == ("enrolment_id",
                                                                                          f"not enrolled in {c}")
    assert other.get("nip") is None and other.get("name") is None  # nothing of the other OPD's ASN
    assert svc.get(f"/enrolments/{theirs['id']}").json()["attendance_days"] == {}
    assert answer.json()["summary"] == {"accepted": 1, "rejected": 2, "completed": 0, "unchanged": 0}


# -- promotion by hand ------------------------------------------------------------------------------

def test_a_waitlisted_asn_is_promoted_by_hand_into_a_free_seat(svc):
    c = code()
    svc.create_published(programme(c, capacity=1))
    seated, first, second = enrol(svc, c, 7150), enrol(svc, c, 7151), enrol(svc, c, 7152)
    assert (first["status"], second["status"]) == ("waitlisted", "waitlisted")
    svc.events(4)
    full = svc.post(f"/enrolments/{second['id']}/promote")
    assert full.status_code == 409 and full.json()["field"] == "capacity"
    # a seat free while nothing promotes automatically (the state a started programme keeps)
    svc.db.programmes.update_one({"_id": c}, {"$inc": {"capacity": 1}})
    answer = svc.post(f"/enrolments/{second['id']}/promote", headers=OPERATOR)
    assert answer.status_code == 200, answer.text
    promoted = answer.json()
    assert promoted["status"] == "enrolled" and promoted["promoted_from_waitlist"] is True
    [event] = svc.events(1)
    assert event.name == "enrolled" and event.data["enrolment_id"] == second["id"]
    assert event.data["promoted_from_waitlist"] is True
    assert svc.get(f"/programmes/{c}").json()["seats_taken"] == 2
    assert svc.get(f"/enrolments/{first['id']}").json()["waitlist_position"] == 1
    retry = svc.post(f"/enrolments/{second['id']}/promote")
    assert retry.status_code == 200 and retry.json()["status"] == "enrolled"
    no_events(svc)
    assert svc.post(f"/enrolments/{first['id']}/promote").status_code == 409  # no seat free again
    not_waiting = svc.post(f"/enrolments/{seated['id']}/promote")
    assert not_waiting.status_code == 409 and not_waiting.json()["field"] == "status"
    assert svc.post("/enrolments/000000000000000000000000/promote").status_code == 404


def test_promotion_by_hand_works_in_a_started_programme_and_stops_when_it_ended(svc):
    c = code()
    now = svc.clock.now
    svc.create_published(programme(c, capacity=1, ends_at=ts(now + timedelta(days=1)),
                                   enrolment_closes_at=ts(now + timedelta(hours=12))))
    enrol(svc, c, 7160)
    waiting = enrol(svc, c, 7161)
    svc.db.programmes.update_one({"_id": c}, {"$inc": {"capacity": 1}})
    svc.clock.now = now + timedelta(days=1, hours=1)
    ended = svc.post(f"/enrolments/{waiting['id']}/promote")
    assert ended.status_code == 409 and "ended" in ended.json()["message"]
    svc.clock.now = now + timedelta(hours=2)  # started (an hour before the test began), not ended
    assert svc.post(f"/enrolments/{waiting['id']}/promote").json()["status"] == "enrolled"


def test_an_operator_of_another_opd_may_not_promote(svc):
    c = code()
    svc.create_published(programme(c, capacity=1))
    enrol(svc, c, 7170)
    waiting = enrol(svc, c, 7171)
    svc.db.programmes.update_one({"_id": c}, {"$inc": {"capacity": 1}})
    assert svc.post(f"/enrolments/{waiting['id']}/promote", headers=OTHER_OPERATOR).status_code == 403
    assert svc.get(f"/enrolments/{waiting['id']}").json()["status"] == "waitlisted"



def test_only_an_operator_of_the_participants_opd_records_their_completion(svc):
    # The scope is checked on the completion transaction's own read of the enrolment (issue 23).
    c = code()
    now = svc.clock.now
    svc.create_published(programme(c, kind="pelatihan", starts_at=ts(now - timedelta(hours=1)),
                                   ends_at=ts(now + timedelta(days=2)),
                                   enrolment_closes_at=ts(now + timedelta(days=1))))
    mine = enrol(svc, c, 7180)
    svc.events(2)
    svc.clock.now = now + timedelta(days=2, hours=2)  # the programme has ended
    other = svc.post(f"/enrolments/{mine['id']}/completion", {"score": 90}, headers=OTHER_OPERATOR)
    assert other.status_code == 403, other.text
    assert svc.get(f"/enrolments/{mine['id']}").json()["status"] == "enrolled"
    no_events(svc)
    missing = svc.post("/enrolments/000000000000000000000000/completion", {"score": 90}, headers=OPERATOR)
    assert missing.status_code == 404 and missing.json()["field"] == "id"
    done = svc.post(f"/enrolments/{mine['id']}/completion", {"score": 90}, headers=OPERATOR)
    assert done.status_code == 200 and done.json()["result"] == "passed", done.text
    assert [e.data["enrolment_id"] for e in svc.events(1)] == [mine["id"]]
    again = svc.post(f"/enrolments/{mine['id']}/completion", {"score": 90}, headers=OPERATOR)
    assert again.status_code == 200 and again.json()["status"] == "completed"
    no_events(svc)

# -- the JP preview -------------------------------------------------------------------------------

def test_the_jp_preview_matches_the_jp_a_programme_gets(svc):
    c = code()
    body = programme(c, kind="seminar", duration_days=2, speakers=["Dr. Rina Marlina"])
    body.pop("jp")
    created = svc.post("/programmes", body).json()
    preview = svc.get("/jp", params={"kind": "seminar", "duration_days": 2}).json()
    assert preview["jp"] == created["jp"] == 8
    assert preview["rule_key"] == "jp_per_day.seminar" and "4 JP per hari" in preview["rule"]
    minutes = svc.get("/jp", params={"kind": "e-learning", "duration_minutes": 540}).json()
    assert (minutes["jp"], minutes["rule_key"]) == (12, "minutes_per_jp")
    days = svc.get("/jp", params={"kind": "pelatihan", "starts_at": "2027-06-07T01:00:00Z",
                                  "ends_at": "2027-06-09T09:00:00Z"}).json()
    assert (days["jp"], days["duration_days"], days["rule_key"]) == (24, 3, "jp_per_day.default")
    unknown = svc.get("/jp", params={"kind": "pelatihan"}).json()
    assert unknown["jp"] is None and unknown["rule"]
    bad = svc.get("/jp", params={"kind": "kuliah", "duration_days": 1})
    assert bad.status_code == 422 and "kind" in bad.json()["errors"]
    asn = auth_headers("asn", nip=participant(7180)["nip"])
    assert svc.get("/jp", params={"kind": "seminar", "duration_days": 1}, headers=asn).status_code == 200


# -- the roles that may not -----------------------------------------------------------------------

@pytest.mark.parametrize("method,path", [("POST", "/programmes/X/marking"), ("POST", "/enrolments/X/promote"),
                                         ("GET", "/jp")])
def test_each_route_refuses_the_roles_it_does_not_serve(svc, method, path):
    import requests

    url = svc.url + path
    anonymous = requests.request(method, url, json={"rows": []}, params={"kind": "seminar"}, timeout=30)
    assert anonymous.status_code == 401
    if path != "/jp":  # staff only: an ASN is refused
        asn = auth_headers("asn", nip=participant(7190)["nip"])
        assert requests.request(method, url, json={"rows": []}, headers=asn, timeout=30).status_code == 403
