"""Pro-rated checkpoint targets, the klasikal label, colleague figures and escalation: the pure
rules of reporting's shortfall checkpoints (issue 19), without I/O."""
from __future__ import annotations

from datetime import date

import pytest

from services.reporting.config import load
from shared.events.reporting import ShortfallDetectedV1
from services.reporting.domain import (checked_target, checkpoint_target, escalation, learning_mode, ledger_year,
                                       parse_checkpoint, peer_figures, shortfall_data, yearly_target_of)
from services.reporting.schemas import LedgerYear


@pytest.fixture
def cfg():
    return load()


def target(cfg, checkpoint: str, jenis: str | None = "PNS", tmt: date | None = None) -> int | None:
    year, cp = parse_checkpoint(checkpoint, cfg)
    return checkpoint_target(cfg, year, cp, jenis, tmt)


def test_a_full_year_pns_owes_the_table_at_each_quarter(cfg):
    assert [target(cfg, f"2026-Q{q}") for q in (1, 2, 3, 4)] == [5, 10, 15, 20]
    # a TMT in an earlier year, or none at all, is a full year
    assert target(cfg, "2026-Q1", tmt=date(2010, 1, 1)) == 5
    assert target(cfg, "2026-Q2", jenis=None) == 10


def test_a_pppk_target_scales_the_table_to_its_own_yearly_target(monkeypatch):
    monkeypatch.setenv("REPORTING_JP_TARGET_PPPK", "16")
    cfg = load()
    assert [target(cfg, f"2026-Q{q}", "PPPK") for q in (1, 2, 3, 4)] == [4, 8, 12, 16]
    assert target(cfg, "2026-Q2", "PNS") == 10  # a PNS keeps 20 a year


def test_the_pppk_default_is_the_pns_target(cfg):
    assert cfg.jp_target_pppk == 20
    assert target(cfg, "2026-Q3", "PPPK") == 15


def test_an_asn_who_joined_in_may_owes_the_months_served_rounded_up(cfg):
    may = date(2026, 5, 15)
    # Q2: 2 of 6 months (May, June) of 10 JP = 3.33 -> 4; Q4: 8 of 12 months of 20 JP = 13.33 -> 14
    assert target(cfg, "2026-Q2", tmt=may) == 4
    assert target(cfg, "2026-Q4", tmt=may) == 14
    year, _ = parse_checkpoint("2026-Q4", cfg)
    assert yearly_target_of(cfg, year, "PNS", may) == 14
    assert yearly_target_of(cfg, year, "PNS", None) == 20


def test_an_asn_whose_tmt_is_after_the_checkpoint_is_not_checked(cfg):
    assert target(cfg, "2026-Q1", tmt=date(2026, 4, 1)) is None
    assert target(cfg, "2026-Q2", tmt=date(2027, 1, 1)) is None
    # joining on the checkpoint's own day: one month served of six
    assert target(cfg, "2026-Q2", tmt=date(2026, 6, 30)) == 2


def test_who_a_checkpoint_checks_on_the_roster(cfg):
    year, q2 = parse_checkpoint("2026-Q2", cfg)
    active = {"_id": "x", "listed": True, "roster": {"status": "aktif", "jenis_asn": "PNS", "tmt": "2026-05-02"}}
    assert checked_target(active, year, q2, cfg) == 4
    left = {"_id": "y", "listed": True, "roster": {"status": "pensiun", "jenis_asn": "PNS", "tmt": None}}
    assert checked_target(left, year, q2, cfg) is None
    later = {"_id": "z", "listed": True, "roster": {"status": "aktif", "jenis_asn": "PPPK", "tmt": "2026-08-01"}}
    assert checked_target(later, year, q2, cfg) is None
    unlisted = {"_id": "u", "listed": False, "agency": "SETDA"}  # not on the roster: the full PNS table
    assert checked_target(unlisted, year, q2, cfg) == 10


def test_every_programme_kind_is_labelled_klasikal_or_non_klasikal(cfg):
    assert [learning_mode(k, cfg) for k in ("pelatihan", "sertifikasi", "seminar", "lokakarya")] == ["klasikal"] * 4
    assert [learning_mode(k, cfg) for k in ("e-learning", "coaching", "mentoring")] == ["non-klasikal"] * 3


def test_klasikal_kinds_are_configurable_and_a_wrong_kind_names_the_variable(monkeypatch):
    monkeypatch.setenv("REPORTING_KLASIKAL_KINDS", "pelatihan,e-learning")
    cfg = load()
    assert (learning_mode("e-learning", cfg), learning_mode("seminar", cfg)) == ("klasikal", "non-klasikal")
    monkeypatch.setenv("REPORTING_KLASIKAL_KINDS", "pelatihan,webinar")
    with pytest.raises(ValueError, match="REPORTING_KLASIKAL_KINDS.*webinar"):
        load()


@pytest.mark.parametrize("spec, reason", [
    ("Q1=5,Q2=10,Q3=15", "checkpoints"),          # Q4 missing
    ("Q1=5,Q2=10,Q3=15,Q5=20", "checkpoints"),    # a label of no checkpoint
    ("Q1=10,Q2=5,Q3=15,Q4=20", "lower"),          # decreasing
    ("Q1=5,Q2=ten,Q3=15,Q4=20", "positive whole"),
])
def test_a_target_table_that_does_not_fit_the_checkpoints_stops_the_service(monkeypatch, spec, reason):
    monkeypatch.setenv("REPORTING_CHECKPOINT_TARGETS", spec)
    with pytest.raises(ValueError, match=reason) as raised:
        load()
    assert "CHECKPOINT_TARGETS" in str(raised.value)


@pytest.mark.parametrize("name, value", [("PEERS_MIN_ASN", "4"), ("ESCALATION_THRESHOLD", "0"),
                                         ("JP_TARGET_PPPK", "0")])
def test_settings_out_of_range_name_their_variable(monkeypatch, name, value):
    monkeypatch.setenv(f"REPORTING_{name}", value)
    with pytest.raises(ValueError, match=f"REPORTING_{name}"):
        load()


def test_colleague_figures_are_left_out_below_five_rostered_asn(cfg):
    figures = peer_figures({"SMALL": [4, 3], "BIG": [5, 2], "BIGGER": [40, 30]}, cfg.peers_min_asn)
    assert figures == {"SMALL": None, "BIG": {"agency_asn": 5, "met_share": 0.4},
                       "BIGGER": {"agency_asn": 40, "met_share": 0.75}}


@pytest.mark.parametrize("consecutive, supervisor_known, expected", [
    (1, True, ["supervisor"]),
    (1, False, ["agency"]),
    (2, True, ["supervisor", "agency"]),
    (3, False, ["agency"]),
])
def test_the_supervisor_first_then_the_opd_and_the_opd_when_no_supervisor_is_known(
        cfg, consecutive, supervisor_known, expected):
    assert escalation(consecutive, supervisor_known, cfg.escalation_threshold) == expected


def test_a_nudge_names_the_pro_rated_gap_and_whether_the_asn_ever_enrolled():
    asn = {"_id": "198503122010011002", "name": "Rahmat", "agency": "DISKOMINFO", "listed": True, "first_seen": None,
           "roster": {"status": "aktif", "jenis_asn": "PPPK", "golongan": "IX", "supervisor_nip": None}}
    data = shortfall_data("2026-Q2", 2026, asn, 3, 10, 20, 1, [], None, None, ["agency"])
    assert (data["jp_target"], data["jp_missing"], data["yearly_target"], data["never_enrolled"]) == (10, 7, 20, True)
    assert (data["participant"]["jenis_asn"], data["participant"]["golongan"], data["participant"]["listed"]) == \
        ("PPPK", "IX", True)
    assert data["participant"]["agency_name"] == "Dinas Komunikasi dan Informatika"
    ShortfallDetectedV1().load(data)  # the event contract takes it


def test_a_nudge_with_colleagues_and_a_supervisor_fits_the_event_contract():
    asn = {"_id": "198503122010011002", "name": "Rahmat", "agency": "SETDA", "first_seen": "2026-02-01",
           "roster": {"status": "aktif", "jenis_asn": "PNS", "supervisor_nip": "197801052003121004"}}
    data = shortfall_data("2026-Q2", 2026, asn, 12, 10, 20, 2, [], {"agency_asn": 5, "met_share": 0.4},
                          {"nip": "197801052003121004", "name": "Yusnani"}, ["supervisor", "agency"])
    assert data["jp_missing"] == 0 and data["never_enrolled"] is False
    loaded = ShortfallDetectedV1().load(data)
    assert loaded["peers"] == {"agency_asn": 5, "met_share": 0.4}
    assert loaded["escalate_to"] == ["supervisor", "agency"]


def test_the_ledger_answer_labels_each_entry_and_sums_jp_per_learning_mode(cfg):
    entries = [{"_id": "e1", "kind": "pelatihan", "jp": 12}, {"_id": "e2", "kind": "coaching", "jp": 3},
               {"_id": "e3", "kind": "e-learning", "jp": 2}, {"_id": "e4", "kind": "seminar", "jp": 4}]
    year = ledger_year(2026, {"jp_total": 21}, entries, cfg)
    assert [e["learning_mode"] for e in year["entries"]] == ["klasikal", "non-klasikal", "non-klasikal", "klasikal"]
    assert year["jp_by_learning_mode"] == {"klasikal": 16, "non-klasikal": 5}
    dumped = LedgerYear().dump(year)
    assert dumped["entries"][1]["learning_mode"] == "non-klasikal"
