"""Enrolment rules without I/O: seats, pass/fail, JP earned, participants, CSV values."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from services.enrollment import domain
from shared.errors import Conflict, Forbidden, Invalid

NOW = datetime(2026, 3, 3, 2, 0, tzinfo=timezone.utc)


def programme(**overrides) -> dict:
    p = {"_id": "PKP-01", "title": "Pelatihan", "kind": "pelatihan", "competency_type": "teknis", "jp": 24,
         "organisers": ["BKN"], "speakers": [], "starts_at": NOW - timedelta(days=1), "ends_at": NOW + timedelta(days=3),
         "enrolment_opens_at": NOW - timedelta(days=10), "enrolment_closes_at": NOW + timedelta(days=1),
         "capacity": 10, "passing_score": 70.0, "grants_certificate": False, "certificate_validity_months": None,
         "certification_line": None, "status": "published", "duration_minutes": None, "duration_days": None}
    p.update(overrides)
    return p


def test_seats_are_given_until_capacity_then_the_waitlist_grows_in_order():
    assert domain.allocate_seat(capacity=2, seats_taken=1, waitlisted=0) == domain.Seat("enrolled", None)
    assert domain.allocate_seat(capacity=2, seats_taken=2, waitlisted=0) == domain.Seat("waitlisted", 1)
    assert domain.allocate_seat(capacity=2, seats_taken=2, waitlisted=4) == domain.Seat("waitlisted", 5)


@pytest.mark.parametrize("score, result, jp", [(70, "passed", 24), (100, "passed", 24), (69.99, "failed", 0),
                                               (0, "failed", 0)])
def test_a_score_at_or_above_the_passing_score_passes_and_earns_the_programme_jp(score, result, jp):
    outcome = domain.completion_outcome(programme(), {"attended": None}, score=score)
    assert (outcome.result, outcome.jp_earned, outcome.attended) == (result, jp, True)


def test_not_attending_is_a_no_show_with_no_jp():
    outcome = domain.completion_outcome(programme(), {"attended": False})
    assert (outcome.result, outcome.passed, outcome.jp_earned) == ("no_show", False, 0)


@pytest.mark.parametrize("kind", ["seminar", "lokakarya"])
def test_seminars_and_workshops_pass_on_attendance_whatever_the_score(kind):
    outcome = domain.completion_outcome(programme(kind=kind, jp=4), {"attended": True}, score=10)
    assert (outcome.result, outcome.jp_earned) == ("passed", 4)


def test_a_programme_without_a_passing_score_passes_on_attendance():
    outcome = domain.completion_outcome(programme(kind="coaching", passing_score=None), {}, attended=True)
    assert outcome.result == "passed"


def test_a_completion_needs_a_score_or_attendance():
    with pytest.raises(Invalid) as err:
        domain.completion_outcome(programme(), {"attended": None})
    assert err.value.field == "attended"
    with pytest.raises(Invalid) as err:
        domain.completion_outcome(programme(), {"attended": True})
    assert err.value.field == "score"
    with pytest.raises(Invalid):
        domain.completion_outcome(programme(), {}, score=80, attended=False)


def test_enrolment_is_open_only_while_published_and_inside_the_window():
    domain.check_can_enrol(programme(), NOW)
    for p, now, words in [(programme(status="draft"), NOW, "draft"),
                          (programme(), NOW + timedelta(days=2), "closed at"),
                          (programme(), NOW - timedelta(days=11), "opens at")]:
        with pytest.raises(Conflict, match=words):
            domain.check_can_enrol(p, now)


@pytest.mark.parametrize("kind", domain.SCHEDULED_KINDS)
def test_a_scheduled_programme_gives_a_freed_seat_to_the_waitlist_only_until_it_starts(kind):
    p = programme(kind=kind, starts_at=NOW + timedelta(hours=1))
    assert domain.promotes_waitlist(p, NOW)
    assert not domain.promotes_waitlist(p, NOW + timedelta(hours=1))  # started: an operator promotes by hand
    assert domain.waitlist_note(p, NOW + timedelta(hours=2)) == domain.NOT_PROMOTED_STARTED
    assert domain.waitlist_note(p, NOW + timedelta(days=4)) == domain.NOT_PROMOTED_ENDED
    assert domain.waitlist_note(p, NOW) is None
    assert not domain.promotes_waitlist(programme(kind=kind, status="cancelled", starts_at=NOW + timedelta(hours=1)),
                                        NOW)


@pytest.mark.parametrize("kind", domain.SELF_PACED_KINDS)
def test_a_self_paced_programme_gives_a_freed_seat_to_the_waitlist_while_it_runs(kind):
    p = programme(kind=kind)  # started yesterday, ends in three days
    assert domain.promotes_waitlist(p, NOW) and domain.waitlist_note(p, NOW) is None
    assert not domain.promotes_waitlist(p, NOW + timedelta(days=4))


def test_a_scheduled_programme_is_completed_once_it_has_ended_whatever_the_path():
    p = programme()  # a pelatihan that started yesterday and ends in three days
    with pytest.raises(Conflict) as early:
        domain.plan_completion(p, {"_id": "e1", "status": "enrolled"}, 80, None, NOW)
    assert early.value.field == "programme" and "kelulusan dicatat setelah program berakhir" in early.value.message
    assert early.value.details["completions_from"] == domain.iso(p["ends_at"])
    # attendance during the programme stays possible
    assert domain.check_attendance(p, {"_id": "e1", "status": "enrolled"}, True, NOW)
    assert domain.plan_completion(p, {"_id": "e1", "status": "enrolled"}, 80, None, p["ends_at"])[0] == "completed"


@pytest.mark.parametrize("kind", domain.SELF_PACED_KINDS)
def test_a_self_paced_participant_is_completed_when_they_finish_before_the_end(kind):
    p = programme(kind=kind, passing_score=None)
    status, outcome = domain.plan_completion(p, {"_id": "e1", "status": "enrolled"}, None, True, NOW)
    assert (status, outcome.result) == ("completed", "passed")
    with pytest.raises(Conflict, match="baru dimulai"):
        domain.plan_completion(programme(kind=kind, starts_at=NOW + timedelta(hours=1)),
                               {"_id": "e1", "status": "enrolled"}, None, True, NOW)


def test_only_staff_enrol_a_narasumber_and_only_in_a_seminar_or_lokakarya():
    operator = domain.Actor("operator", "DISKOMINFO")
    for kind in domain.SPEAKER_KINDS:
        domain.check_role(operator, programme(kind=kind), "narasumber")
        domain.check_role(domain.Actor("admin"), programme(kind=kind), "narasumber")
    with pytest.raises(Forbidden) as self_enrolled:
        domain.check_role(domain.Actor("asn", nip="198503122010011002"), programme(kind="seminar"), "narasumber")
    assert self_enrolled.value.field == "role"
    with pytest.raises(Invalid) as wrong_kind:
        domain.check_role(operator, programme(kind="pelatihan"), "narasumber")
    assert wrong_kind.value.field == "role"
    domain.check_role(domain.Actor("asn", nip="198503122010011002"), programme(), "peserta")


def test_a_narasumber_holds_no_seat_and_the_role_cell_reads_bahasa_indonesia():
    assert domain.held_counter({"status": "enrolled", "role": "narasumber"}) is None
    assert domain.held_counter({"status": "enrolled"}) == "seats_taken"  # before roles: peserta
    assert [domain.parse_role(t) for t in ("", " Narasumber ", "peserta")] == ["peserta", "narasumber", "peserta"]
    with pytest.raises(Invalid) as unknown:
        domain.parse_role("moderator")
    assert unknown.value.field == "role"


def test_enrolling_with_the_other_role_than_the_active_enrolment_is_a_conflict():
    active = {"_id": "e1", "programme_code": "SEM-1", "status": "enrolled", "role": "peserta"}
    assert domain.role_conflict(active, "peserta") is None
    conflict = domain.role_conflict(active, "narasumber")
    assert isinstance(conflict, Conflict) and conflict.field == "role" and "sebagai peserta" in conflict.message


@pytest.mark.parametrize("change, field", [
    ({"ends_at": NOW - timedelta(days=2)}, "ends_at"),
    ({"enrolment_opens_at": NOW + timedelta(days=2)}, "enrolment_closes_at"),
    ({"enrolment_closes_at": NOW + timedelta(days=5)}, "enrolment_closes_at"),
    ({"organisers": ["BKN", "BKN"]}, "organisers"),
    ({"speakers": ["Dr. A"]}, "speakers"),
    ({"certificate_validity_months": 12}, "certificate_validity_months"),
    ({"certification_line": "PBJ"}, "certification_line"),
    ({"duration_minutes": 90, "duration_days": 1}, "duration_days"),
])
def test_programme_rules_across_fields_name_the_field(change, field):
    with pytest.raises(Invalid) as err:
        domain.check_programme(programme(**change))
    assert err.value.field == field


def test_a_participant_is_resolved_with_the_agency_name_and_what_is_known_fills_the_gaps():
    known = {"_id": "198503122010011002", "name": "Rahmat Hidayat", "agency": "DISKOMINFO", "position": "Pranata"}
    person = domain.resolve_participant({"nip": " 198503122010011002 "}, known)
    assert (person["name"], person["agency_name"], person["position"]) == (
        "Rahmat Hidayat", "Dinas Komunikasi dan Informatika", "Pranata")
    moved = domain.resolve_participant({"nip": "198503122010011002", "agency": "dinkes"}, known)
    assert (moved["agency"], moved["name"]) == ("DINKES", "Rahmat Hidayat")
    assert domain.participant_snapshot(moved)["agency_name"] == "Dinas Kesehatan"


def test_an_unknown_agency_is_refused():
    with pytest.raises(Invalid) as err:
        domain.resolve_participant({"nip": "198503122010011002", "name": "A", "agency": "KEMENKEU"}, None)
    assert err.value.field == "agency" and "Bukittinggi" in err.value.message


@pytest.mark.parametrize("text, value", [("ya", True), ("Hadir", True), ("1", True), ("TRUE", True),
                                         ("tidak", False), ("tidak hadir", False), ("0", False), ("", None)])
def test_attendance_is_read_in_bahasa_indonesia_or_as_booleans(text, value):
    assert domain.parse_attended(text) is value


@pytest.mark.parametrize("text, value", [("86,5", 86.5), ("70", 70.0), (" 99.25 ", 99.25), ("", None)])
def test_scores_accept_a_decimal_comma(text, value):
    assert domain.parse_score(text) == value


@pytest.mark.parametrize("text", ["seratus", "101", "-1", "nan", "inf"])
def test_impossible_scores_are_refused(text):
    with pytest.raises(Invalid):
        domain.parse_score(text)


def test_times_are_shown_in_utc_with_z_and_milliseconds():
    wib = timezone(timedelta(hours=7))
    assert domain.iso(datetime(2026, 3, 2, 8, 0, 0, 123456, tzinfo=wib)) == "2026-03-02T01:00:00.123Z"


# -- who may enrol whom: the roster is the source of an ASN's agency (issues 17 and 19) -----------
NIP = "198503122010011002"
OPERATOR = domain.Actor(role="operator", agency="DISKOMINFO")
ADMIN = domain.Actor(role="admin")
ROSTERED = {"_id": NIP, "id_kind": "nip", "name": "Rina Marlina", "jenis_asn": "PNS", "agency": "DISKOMINFO",
            "agency_name": "Dinas Komunikasi dan Informatika", "position": "Pranata Komputer", "golongan": "III/b",
            "status": "aktif"}


def test_an_admin_enrols_an_unlisted_asn_with_the_agency_given_when_unlisted_are_accepted():
    person = domain.participant_for(ADMIN, {"nip": NIP, "name": "Rina", "agency": "dinkes"}, None, None)
    assert (person["agency"], person["listed"], person["jenis_asn"], person["golongan"]) == \
        ("DINKES", False, "PNS", None)


def test_an_admin_may_not_enrol_an_unlisted_asn_when_unlisted_are_refused():
    with pytest.raises(Invalid) as err:
        domain.participant_for(ADMIN, {"nip": NIP, "name": "Rina", "agency": "DINKES"}, None, None,
                               unlisted=domain.REFUSE)
    assert err.value.field == "nip" and "daftar ASN" in err.value.message
    left = {**ROSTERED, "status": "pensiun"}  # not aktif on the roster counts as unlisted
    with pytest.raises(Invalid):
        domain.participant_for(ADMIN, {"nip": NIP}, left, None, unlisted=domain.REFUSE)
    assert domain.participant_for(ADMIN, {"nip": NIP}, left, None)["listed"] is False


@pytest.mark.parametrize("actor", [ADMIN, OPERATOR])
def test_the_roster_gives_name_agency_jabatan_and_golongan_whatever_the_request_says(actor):
    person = domain.participant_for(actor, {"nip": NIP, "name": "Nama Lain", "position": "Jabatan Lain"},
                                    ROSTERED, {"_id": NIP, "name": "Nama Lama", "agency": "DINKES"})
    assert (person["name"], person["agency"], person["position"], person["golongan"], person["jenis_asn"],
            person["listed"]) == ("Rina Marlina", "DISKOMINFO", "Pranata Komputer", "III/b", "PNS", True)


def test_an_agency_contradicting_the_roster_is_refused():
    with pytest.raises(Forbidden) as err:
        domain.participant_for(OPERATOR, {"nip": NIP, "agency": "DINKES"}, ROSTERED, None)
    assert err.value.field == "agency"
    with pytest.raises(Conflict) as err:
        domain.participant_for(ADMIN, {"nip": NIP, "agency": "DINKES"}, ROSTERED, None)
    assert err.value.field == "agency"


@pytest.mark.parametrize("given, entry", [
    ({"nip": NIP, "name": "Rina", "agency": "DISKOMINFO"}, None),  # not on the roster, claimed
    ({"nip": NIP}, None),  # no name: the same refusal, not "name is required"
    ({"nip": NIP, "agency": "DISKOMINFO"}, {**ROSTERED, "agency": "DINKES"}),  # another agency's, claimed
    ({"nip": NIP}, {**ROSTERED, "agency": "DINKES"}),
    ({"nip": NIP}, {**ROSTERED, "status": "pindah"}),  # left
])
def test_an_operator_gets_one_refusal_for_an_unlisted_asn_another_agencys_and_one_who_left(given, entry):
    with pytest.raises(Forbidden) as err:
        domain.participant_for(OPERATOR, given, entry, None)
    assert (err.value.field, err.value.message) == ("nip", domain.NOT_ON_ROSTER.format(agency="DISKOMINFO"))


def test_a_malformed_nip_is_invalid_for_an_operator_whatever_is_stored():
    with pytest.raises(Invalid):
        domain.participant_for(OPERATOR, {"nip": "198502302010011002"}, None, None)


def test_an_asn_enrols_only_themself_as_the_roster_knows_them():
    # issue 20: self-enrolment, own NIP only, aktif on the roster only
    me = domain.Actor(role="asn", nip=NIP)
    assert domain.participant_for(me, {"nip": NIP, "name": "Someone Else"}, ROSTERED, None)["name"] == ROSTERED["name"]
    with pytest.raises(Forbidden):
        domain.participant_for(domain.Actor(role="asn", nip="198503122010011003"), {"nip": NIP}, ROSTERED, None)
    with pytest.raises(Forbidden):
        domain.participant_for(me, {"nip": NIP}, {**ROSTERED, "status": "pensiun"}, None)
    with pytest.raises(Forbidden):
        domain.participant_for(me, {"nip": NIP}, None, None)


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@A1", "\tx", "\rx", "  =1"])
def test_a_formula_start_is_a_problem_of_any_free_text(value):
    assert "formula" in domain.text_problem(value)


@pytest.mark.parametrize("value", ["Dr. Siti Aminah, S.Kom., M.T.", "Nur'aini", "Siti Nur-Halimah", "Peserta 12",
                                   "Ahmad Syafi\u2019i", "Zoë"])
def test_names_of_people_have_no_problem(value):
    assert domain.text_problem(value, person_name=True) is None


@pytest.mark.parametrize("value", ["Siti <b>", "Siti_Aminah", "1 Siti", "'Siti", "Siti\x00"])
def test_other_characters_in_a_name_are_a_problem(value):
    assert domain.text_problem(value, person_name=True) is not None


def test_who_cancelled_follows_the_role_not_the_body():
    assert domain.cancelled_by(domain.Actor(role="asn", nip=NIP)) == "participant"
    assert {domain.cancelled_by(domain.Actor(role=r)) for r in ("operator", "admin")} == {"operator"}
