"""The roster's rules in reporting's domain (pure): who counts in which year, whatever order the
roster and enrolment events arrive in, and the year a JP entry counts in."""
from __future__ import annotations

import copy
import itertools
from datetime import datetime

import pytest

from services.reporting import config as reporting_config
from services.reporting.domain import (add_deltas, asn_contribution, asn_year_contribution, asn_year_standing,
                                       credit_year, headcount, merge_enrolment_identity, merge_roster_event,
                                       own_target)
from tests.unit.reporting import factory as f

CFG = reporting_config.load()
PERSON = f.participant(1, "SETDA")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def roster(entry: dict, name: str = "asn_registered", at: str = "2026-01-05T02:00:00Z") -> tuple[str, dict]:
    key = {"asn_registered": "registered_at", "asn_updated": "updated_at", "asn_left": "left_at"}[name]
    data = {"asn": entry, key: at}
    if name == "asn_left":
        data["reason"] = entry["status"]
    if name == "asn_updated":
        data["changed"] = ["status"]
    return name, data


def enrolment(agency: str, at: str, v: int) -> tuple[dict, list, datetime]:
    return f.participant(1, agency), [utc(at), f"e{v}"], utc(at)


def state(*merges) -> dict:
    doc = {"_id": PERSON["nip"]}
    for merge in merges:
        if merge[0] == "enrolment":
            merge_enrolment_identity(doc, *merge[1])
        else:
            merge_roster_event(doc, *merge)
    return doc


def counted_years(doc: dict, years=range(2023, 2029)) -> dict[int, tuple[int, int]]:
    """(rostered, never_enrolled) per year, read back from the headcount contribution."""
    counters: dict = {}
    for (_, _), fields in asn_contribution(doc).items():
        for path, n in fields.items():
            name, _, year = path.partition(".")
            counters.setdefault(name, {})[year] = n
    return {y: (headcount(counters, y)["rostered"], headcount(counters, y)["never_enrolled"]) for y in years}


def test_an_asn_counts_from_their_tmt_year_until_the_year_they_left_and_never_enrolled_until_they_enrol():
    entry = f.roster_entry(PERSON, tmt="2024-05-01")
    doc = state(roster(entry), ("enrolment", enrolment("SETDA", "2026-03-01T02:00:00Z", 1)),
                roster({**entry, "status": "pensiun", "version": 2}, "asn_left", "2027-08-01T02:00:00Z"))
    assert counted_years(doc) == {2023: (0, 0), 2024: (1, 1), 2025: (1, 1), 2026: (1, 0), 2027: (0, 0),
                                  2028: (0, 0)}
    assert doc["roster"]["left_at"] == utc("2027-08-01T02:00:00Z")


def test_an_asn_without_tmt_counts_in_every_year_and_one_not_on_the_roster_adds_no_headcount():
    doc = state(roster(f.roster_entry(PERSON)))
    assert set(counted_years(doc).values()) == {(1, 1)}
    unlisted = state(("enrolment", enrolment("SETDA", "2026-03-01T02:00:00Z", 1)))
    assert asn_contribution(unlisted) == {} and unlisted.get("listed") is None


def test_a_left_date_in_the_first_hours_of_january_wib_is_the_new_year():
    entry = f.roster_entry(PERSON)
    doc = state(roster(entry), roster({**entry, "status": "meninggal", "version": 2}, "asn_left",
                                      "2025-12-31T18:00:00Z"))  # 01:00 WIB on 1 January 2026
    assert counted_years(doc)[2025] == (1, 1) and counted_years(doc)[2026] == (0, 0)


ROSTER_STORY = [
    roster(f.roster_entry(PERSON)),
    roster({**f.roster_entry(PERSON), "status": "pindah", "version": 2}, "asn_left", "2025-06-01T02:00:00Z"),
    roster({**f.roster_entry(PERSON, agency="DINKES"), "version": 3}, "asn_updated", "2026-02-01T02:00:00Z"),
    roster({**f.roster_entry(PERSON, agency="DINKES"), "status": "berhenti", "version": 4}, "asn_left",
           "2026-10-01T02:00:00Z"),
    roster({**f.roster_entry(PERSON, agency="DINKES", golongan="III/c"), "status": "berhenti", "version": 5},
           "asn_updated", "2026-11-01T02:00:00Z"),
    ("enrolment", enrolment("SETDA", "2025-03-01T02:00:00Z", 1)),
    ("enrolment", enrolment("SETDA", "2026-03-01T02:00:00Z", 2)),
]


def test_roster_and_enrolment_events_in_every_order_and_repeated_end_in_the_same_asn():
    expected = state(*ROSTER_STORY)
    # The roster wins on identity; the leaving date is that of the last asn_left (v4), not the
    # later update made while away (v5).
    assert (expected["agency"], expected["roster"]["status"], expected["roster"]["version"]) == \
        ("DINKES", "berhenti", 5)
    assert expected["roster"]["left_at"] == utc("2026-10-01T02:00:00Z")
    assert (expected["roster"]["golongan"], expected["first_seen_year"]) == ("III/c", 2025)
    for order in itertools.islice(itertools.permutations(ROSTER_STORY), 0, 5040, 97):
        doc = state(*order, *order[:3])
        assert doc == expected, order


def test_back_on_the_roster_after_leaving_counts_again():
    entry = f.roster_entry(PERSON)
    doc = state(roster(entry), roster({**entry, "status": "pensiun", "version": 2}, "asn_left"),
                roster({**entry, "version": 3}, "asn_updated"))
    assert doc["roster"]["left_at"] is None and doc["roster"]["status"] == "aktif"
    assert counted_years(doc)[2026] == (1, 1)


def test_an_asn_year_of_a_rostered_asn_not_active_adds_nothing_and_an_unlisted_one_counts_as_unlisted():
    entry = f.roster_entry(PERSON, tmt="2026-03-01")
    listed = state(roster(entry))
    year_doc = {"_id": f"{PERSON['nip']}|2025", "year": 2025, "agency": "SETDA", "jp_by": {"pelatihan|teknis": 24},
                **asn_year_standing(listed, 2025)}
    assert asn_year_contribution(year_doc, CFG) == {}
    year_doc.update(year=2026, **asn_year_standing(listed, 2026))
    contribution = asn_year_contribution(year_doc, CFG)
    assert contribution[("agency_years", "2026|SETDA|all")]["met"] == 1
    assert ("agency_headcounts", "SETDA") not in contribution

    unlisted = {**year_doc, **asn_year_standing({}, 2026)}
    assert asn_year_contribution(unlisted, CFG)[("agency_headcounts", "SETDA")] == {"unlisted.2026": 1}
    nothing = {**unlisted, "jp_by": {}}
    assert asn_year_contribution(nothing, CFG) == {}


@pytest.mark.parametrize("ends_at, completed_at, year", [
    ("2025-12-19T09:00:00Z", "2026-01-08T03:00:00Z", 2025),  # a December course recorded in January
    ("2025-12-31T17:30:00Z", "2026-01-02T03:00:00Z", 2026),  # ended 00:30 WIB on 1 January
    (None, "2026-01-02T03:00:00Z", 2026),                    # self-paced: the completion's year
    (None, "2025-12-31T18:00:00Z", 2026),                    # 01:00 WIB on 1 January
])
def test_a_jp_entry_counts_in_the_wib_year_its_programme_ended(ends_at, completed_at, year):
    assert credit_year({"ends_at": ends_at}, utc(completed_at)) == year


def test_the_own_target_follows_jenis_asn_and_a_tmt_in_the_year():
    from dataclasses import replace

    cfg = replace(CFG, jp_target_pppk=12)
    assert own_target(cfg, 2026, "PNS", None) == 20
    assert own_target(cfg, 2026, "PPPK", "2019-01-01") == 12
    assert own_target(cfg, 2026, "PNS", "2026-10-01") == 5  # three months of twelve: 20 × 3/12
    assert own_target(cfg, 2025, "PNS", "2026-10-01") == 20  # not yet appointed that year


def test_headcount_contributions_add_up_over_many_asn():
    total: dict = {}
    docs = [state(roster(f.roster_entry(f.participant(i, "SETDA"), tmt=f"{2020 + i % 7}-01-01")))
            for i in range(30)]
    for doc in docs:
        add_deltas(total, copy.deepcopy(asn_contribution(doc)))
    [(key, fields)] = total.items()
    counters: dict = {}
    for path, n in fields.items():
        name, _, year = path.partition(".")
        counters.setdefault(name, {})[year] = n
    # tmt years 2020..2026 in turn: by 2023 those of 2020-2023 (18 of 30) are on the roster
    assert headcount(counters, 2023) == {"rostered": 18, "never_enrolled": 18, "unlisted": 0}
    assert headcount(counters, 2026)["rostered"] == 30


def test_agencies_sort_by_never_enrolled_most_first_and_the_totals_add_the_roster_figures():
    from services.reporting.domain import agency_row, compliance_totals, sort_rows

    heads = {"SETDA": {"rostered": 10, "never_enrolled": 2, "unlisted": 1},
             "DINKES": {"rostered": 8, "never_enrolled": 5, "unlisted": 0},
             "DISDIK": {"rostered": 3, "never_enrolled": 2, "unlisted": 0}}
    rows = sort_rows([agency_row(code, h, {"asn": 1, "jp": 20, "met": 1, "d": {"20-29": 1}}, CFG, None, None)
                      for code, h in heads.items()], "never_enrolled")
    assert [r["agency"] for r in rows] == ["DINKES", "DISDIK", "SETDA"]
    setda = rows[-1]
    assert (setda["known_asn"], setda["rostered_asn"], setda["unlisted_asn"], setda["distribution"]["0"]) == \
        (11, 10, 1, 10)
    totals = compliance_totals(rows, CFG)
    assert (totals["known_asn"], totals["rostered_asn"], totals["never_enrolled"], totals["unlisted_asn"]) == \
        (22, 21, 9, 1)
