"""The operator console's rules in enrollment's domain (issue 21): a programme's sessions (its
WIB days), which session a marking records, attendance per day, when a marking may complete,
promotion by hand, and the JP preview."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from services.enrollment import domain
from shared.errors import Conflict, Invalid

RULES = domain.JpRules(45, {"seminar": 4.0, "lokakarya": 5.0, "default": 8.0})
# 7 June 2027 08.00 WIB to 9 June 2027 16.00 WIB
START = datetime(2027, 6, 7, 1, tzinfo=timezone.utc)
END = datetime(2027, 6, 9, 9, tzinfo=timezone.utc)


def programme(**overrides) -> dict:
    return {"_id": "PKP-1", "kind": "pelatihan", "status": "published", "starts_at": START, "ends_at": END,
            "capacity": 2, "seats_taken": 1, "passing_score": 70, "jp": 24, **overrides}


def enrolment(**overrides) -> dict:
    return {"_id": "e1", "status": "enrolled", "attended": None, "result": None, **overrides}


def test_the_sessions_are_the_wib_days_of_the_programme_labelled_in_bahasa_indonesia():
    sessions = domain.programme_sessions(programme())
    assert sessions == [{"date": "2027-06-07", "label": "Hari 1 \u2013 Senin, 7 Juni 2027"},
                        {"date": "2027-06-08", "label": "Hari 2 \u2013 Selasa, 8 Juni 2027"},
                        {"date": "2027-06-09", "label": "Hari 3 \u2013 Rabu, 9 Juni 2027"}]


def test_a_start_late_in_the_utc_day_is_the_next_wib_day_and_an_end_at_midnight_closes_the_day_before():
    p = programme(starts_at=datetime(2027, 6, 6, 18, tzinfo=timezone.utc),  # 7 June 01.00 WIB
                  ends_at=datetime(2027, 6, 7, 17, tzinfo=timezone.utc))  # 8 June 00.00 WIB
    assert [s["date"] for s in domain.programme_sessions(p)] == ["2027-06-07"]


def test_a_self_paced_programme_has_no_sessions_and_a_long_one_is_capped():
    assert domain.programme_sessions(programme(kind="e-learning")) == []
    long = programme(ends_at=START + timedelta(days=1000))
    assert len(domain.programme_sessions(long)) == domain.MAX_SESSIONS


def test_the_marked_session_is_a_begun_day_of_the_programme():
    during = datetime(2027, 6, 8, 3, tzinfo=timezone.utc)
    assert domain.marking_session(programme(), date(2027, 6, 8), during) == "2027-06-08"
    with pytest.raises(Conflict) as future:
        domain.marking_session(programme(), date(2027, 6, 9), during)
    assert future.value.field == "session"
    with pytest.raises(Invalid) as outside:
        domain.marking_session(programme(), date(2027, 6, 10), during)
    assert outside.value.field == "session"
    with pytest.raises(Invalid, match="runs 3 days"):
        domain.marking_session(programme(), None, during)


def test_a_one_day_programme_defaults_to_its_day_and_a_self_paced_one_to_no_day():
    one_day = programme(ends_at=START + timedelta(hours=8))
    assert domain.marking_session(one_day, None, END) == "2027-06-07"
    assert domain.marking_session(programme(kind="coaching"), None, END) is None


def test_completions_of_a_scheduled_kind_wait_for_the_end_a_self_paced_kind_does_not():
    with pytest.raises(Conflict) as early:
        domain.check_marking_completion(programme(kind="seminar"), END - timedelta(minutes=1))
    assert early.value.field == "complete"
    domain.check_marking_completion(programme(kind="seminar"), END)
    domain.check_marking_completion(programme(kind="mentoring"), START + timedelta(hours=1))
    with pytest.raises(Conflict) as before_start:
        domain.check_marking_completion(programme(kind="mentoring"), START - timedelta(minutes=1))
    assert before_start.value.field == "complete"


def test_a_marking_and_the_single_route_follow_one_completion_rule():
    # the same moments are refused and accepted, only the field blamed differs
    for kind in domain.SCHEDULED_KINDS + domain.SELF_PACED_KINDS:
        p = programme(kind=kind)
        for now in (START - timedelta(minutes=1), START + timedelta(hours=1), END):
            try:
                domain.check_marking_completion(p, now)
                marking = True
            except Conflict:
                marking = False
            try:
                domain.check_completable(p, enrolment(), now)
                single = True
            except Conflict:
                single = False
            assert marking == single, (kind, now)


def test_attended_is_present_on_at_least_one_session_and_the_same_mark_changes_nothing():
    now = END
    first = domain.day_attendance(programme(), enrolment(), "2027-06-07", True, now)
    assert first == {"attendance_days": {"2027-06-07": True}, "attended": True}
    second = domain.day_attendance(programme(), enrolment(**first), "2027-06-08", False, now)
    assert second == {"attendance_days": {"2027-06-07": True, "2027-06-08": False}, "attended": True}
    assert domain.day_attendance(programme(), enrolment(**second), "2027-06-08", False, now) is None
    absent = domain.day_attendance(programme(), enrolment(), "2027-06-07", False, now)
    assert absent["attended"] is False


def test_a_completed_enrolment_keeps_its_attendance():
    done = enrolment(status="completed", attended=True, result="passed", attendance_days={"2027-06-07": True})
    assert domain.day_attendance(programme(), done, "2027-06-07", True, END) is None
    assert domain.day_attendance(programme(), done, "2027-06-08", True, END) is None  # agrees with attended
    with pytest.raises(Conflict) as changed:
        domain.day_attendance(programme(), done, "2027-06-07", False, END)
    assert changed.value.field == "present"


def test_attendance_is_not_marked_before_the_programme_starts_nor_for_the_waitlisted():
    with pytest.raises(Conflict):
        domain.day_attendance(programme(), enrolment(), "2027-06-07", True, START - timedelta(minutes=1))
    with pytest.raises(Conflict):
        domain.day_attendance(programme(), enrolment(status="waitlisted"), "2027-06-07", True, END)


@pytest.mark.parametrize("p,e,field", [
    (programme(), enrolment(status="enrolled"), "status"),
    (programme(seats_taken=2), enrolment(status="waitlisted"), "capacity"),
    (programme(status="cancelled"), enrolment(status="waitlisted"), "programme"),
])
def test_promotion_by_hand_needs_a_waitlisted_asn_a_free_seat_and_a_published_programme(p, e, field):
    with pytest.raises(Conflict) as refused:
        domain.check_promotion(p, e, START)
    assert refused.value.field == field


def test_promotion_by_hand_works_after_the_start_and_stops_at_the_end():
    domain.check_promotion(programme(), enrolment(status="waitlisted"), START + timedelta(days=1))
    with pytest.raises(Conflict, match="ended"):
        domain.check_promotion(programme(), enrolment(status="waitlisted"), END)


def test_the_jp_preview_names_the_rule_it_applied():
    minutes = domain.preview_jp(RULES, "e-learning", duration_minutes=100)
    assert (minutes.jp, minutes.rule_key) == (2, "minutes_per_jp") and "45 menit per JP" in minutes.rule
    seminar = domain.preview_jp(RULES, "seminar", duration_days=1.5)
    assert (seminar.jp, seminar.rule_key) == (6, "jp_per_day.seminar") and "1,5 hari" in seminar.rule
    other = domain.preview_jp(RULES, "pelatihan", starts_at=START, ends_at=END)
    assert (other.jp, other.duration_days, other.rule_key) == (24, 3.0, "jp_per_day.default")
    assert other.jp == RULES.derive("pelatihan", duration_days=3)  # what a programme of 3 days gets


def test_the_jp_preview_says_what_is_missing_instead_of_guessing():
    assert domain.preview_jp(RULES, "seminar").jp is None
    assert domain.preview_jp(RULES, "seminar", duration_minutes=90, duration_days=1).jp is None
    backwards = domain.preview_jp(RULES, "seminar", starts_at=END, ends_at=START)
    assert backwards.jp is None and "setelah" in backwards.rule
