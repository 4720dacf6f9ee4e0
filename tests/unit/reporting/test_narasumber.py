"""A narasumber (speaker) of a seminar takes no seat: the programme's seat, fill and pass figures
count its peserta, its speakers are counted apart, and the speaker's JP still count for them."""
from __future__ import annotations

from datetime import datetime, timezone

from services.reporting.domain import (add_deltas, enrolment_contribution, ledger_entry, programme_figures,
                                       role_label, role_of)
from services.reporting.schemas import LedgerEntry, ProgrammeStatsResponse

AT = datetime(2026, 3, 5, 9, tzinfo=timezone.utc)
SEMINAR = {"code": "SEM-1", "kind": "seminar", "competency_type": "manajerial", "jp": 4,
           "ends_at": "2026-03-05T09:00:00Z", "title": "Seminar Integritas"}


def enrolment(i: int, role: str | None, completed: str | None = None) -> dict:
    enrolled = {"at": AT, "event_id": f"e{i}", "promoted_from_waitlist": False}
    if role is not None:
        enrolled["role"] = role
    doc = {"_id": f"enr-{i}", "programme": SEMINAR, "enrolled": enrolled,
           "participant": {"nip": f"19850312201001100{i}", "name": f"ASN {i}", "agency": "SETDA"}}
    if completed:
        doc["completed"] = {"at": AT, "event_id": f"c{i}", "result": completed, "passed": completed == "passed",
                            "attended": completed != "no_show", "score": None,
                            "jp_earned": 4 if completed != "no_show" else 0, **({"role": role} if role else {})}
    return doc


def stats_of(*docs: dict) -> dict:
    total: dict = {}
    for doc in docs:
        add_deltas(total, enrolment_contribution(doc))
    return total.get(("programme_stats", "SEM-1"), {})


def test_a_speaker_is_counted_apart_from_the_seats_and_the_pass_rate():
    stats = stats_of(enrolment(1, "peserta", "passed"), enrolment(2, "peserta", "failed"),
                     enrolment(3, "peserta"), enrolment(4, "narasumber", "passed"), enrolment(5, "narasumber"))
    figures = programme_figures({"capacity": 10, "published": True}, stats, "SEM-1")
    assert (figures["enrolled"], figures["completed"], figures["seats_taken"]) == (1, 2, 3)
    assert (figures["passed"], figures["failed"], figures["pass_rate"], figures["fill_rate"]) == (1, 1, 0.5, 0.3)
    assert (figures["speakers"], figures["speakers_completed"]) == (2, 1)
    dumped = ProgrammeStatsResponse().dump(figures)
    assert (dumped["speakers"], dumped["seats_taken"]) == (2, 3)


def test_a_cancelled_speaker_is_no_longer_a_speaker_of_the_programme():
    doc = enrolment(1, "narasumber")
    doc["cancelled"] = {"at": datetime(2026, 3, 6, tzinfo=timezone.utc), "event_id": "x"}
    figures = programme_figures({}, stats_of(doc), "SEM-1")
    assert (figures["speakers"], figures["cancelled"], figures["enrolled"]) == (0, 0, 0)


def test_enrolments_from_before_roles_are_peserta_and_count_as_before():
    old = enrolment(1, None, "passed")
    assert role_of(old) == "peserta"
    assert stats_of(old) == {"completed": 1, "passed": 1}
    assert role_of({}) == "peserta" and role_label(None) == "Peserta"


def test_the_speaker_s_jp_reach_their_ledger_marked_narasumber():
    speaker = enrolment(4, "narasumber", "passed")
    entry = ledger_entry(speaker, "SETDA")
    assert (entry["jp"], entry["role"], role_label(entry["role"])) == (4, "narasumber", "Narasumber")
    contribution = enrolment_contribution(speaker)
    assert contribution[("asn_years", "198503122010011004|2026")]["jp_total"] == 4
    # an entry stored before roles existed reads as a peserta's
    assert LedgerEntry().dump({"_id": "e", "jp": 4})["role"] == "peserta"
    assert LedgerEntry().dump(entry)["role"] == "narasumber"


def test_the_completion_s_role_is_the_enrolment_s_whatever_arrived_first():
    only_completed = enrolment(4, "narasumber", "passed")
    del only_completed["enrolled"]
    assert role_of(only_completed) == "narasumber"
    assert stats_of(only_completed) == {"speakers_completed": 1}
