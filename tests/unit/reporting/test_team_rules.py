"""Tim saya and the ledger's scope, without I/O: the current checkpoint, each member's own
targets, name order, no summary below five people, and who may read whose ledger or team."""
from __future__ import annotations

from datetime import date

import pytest

from services.reporting.config import load
from services.reporting.domain import (checkpoint_view, current_checkpoint, require_ledger_access,
                                       require_team_access, targets_of, team_members, team_summary)
from shared.auth import Principal
from shared.errors import Forbidden

SUPERVISOR = "198501012010011001"
STAFF = "199001012015011002"


def asn(nip: str, name: str, jenis: str = "PNS", tmt: str | None = None) -> dict:
    return {"_id": nip, "name": name, "position": "Analis", "listed": True,
            "roster": {"status": "aktif", "jenis_asn": jenis, "tmt": tmt, "golongan": "III/a",
                       "supervisor_nip": SUPERVISOR}}


@pytest.mark.parametrize("today, year, expected", [
    (date(2026, 8, 15), 2026, ("2026-Q3", "triwulan III tahun 2026", 0.75)),
    (date(2026, 9, 30), 2026, ("2026-Q3", "triwulan III tahun 2026", 0.75)),  # its own day still counts
    (date(2026, 10, 1), 2026, ("2026-Q4", "triwulan IV tahun 2026", 1.0)),
    (date(2026, 1, 2), 2026, ("2026-Q1", "triwulan I tahun 2026", 0.25)),
    (date(2026, 8, 15), 2025, ("2025-Q4", "triwulan IV tahun 2025", 1.0)),  # a past year: its last
    (date(2026, 8, 15), 2027, ("2027-Q1", "triwulan I tahun 2027", 0.25)),  # a future year: its first
])
def test_the_current_checkpoint_is_the_next_one_not_yet_past(today, year, expected):
    cfg = load()
    view = checkpoint_view(cfg, year, current_checkpoint(cfg, year, today))
    assert (view["id"], view["label"], view["target_share"]) == expected


def test_targets_follow_the_shortfall_rules_pro_rated_from_a_tmt_in_the_year():
    cfg = load()
    q3 = cfg.checkpoint("Q3")
    assert targets_of(cfg, 2026, q3, "PNS", None) == (20, 15)
    # Appointed 1 April: 9 of 12 months of the year (15 JP), 6 of the 9 months by Q3 (10 JP).
    assert targets_of(cfg, 2026, q3, "PPPK", "2026-04-01") == (15, 10)
    # Appointed after the checkpoint: nothing owed at it yet.
    assert targets_of(cfg, 2026, q3, "PNS", date(2026, 11, 1))[1] == 0


def test_members_are_in_name_order_never_by_jp_and_know_whether_they_are_on_track():
    cfg = load()
    staff = [asn("199001012015011003", "citra"), asn("199001012015011001", "Bayu"),
             asn("199001012015011002", "Adi", "PPPK", "2026-04-01")]
    jp = {"199001012015011003": 30, "199001012015011001": 12, "199001012015011002": 10}
    members = team_members(staff, jp, cfg, 2026, cfg.checkpoint("Q3"))
    assert [(m["name"], m["jp"], m["target"], m["checkpoint_target"], m["met_target"], m["on_track"])
            for m in members] == [("Adi", 10, 15, 10, False, True), ("Bayu", 12, 20, 15, False, False),
                                  ("citra", 30, 20, 15, True, True)]


def test_no_summary_of_fewer_than_five_people():
    members = [{"met_target": True, "on_track": True}] * 4
    assert team_summary(members, 5) is None
    assert team_summary(members + [{"met_target": False, "on_track": True}], 5) == \
        {"count": 5, "met_target": 4, "on_track": 5}


def test_a_supervisor_reads_only_their_own_staffs_ledger_and_team():
    boss = Principal("s", "asn", nip=SUPERVISOR)
    require_ledger_access(boss, STAFF, "DISKOMINFO", supervised=True)
    with pytest.raises(Forbidden) as refused:
        require_ledger_access(boss, STAFF, "DISKOMINFO", supervised=False)
    assert (refused.value.field, str(refused.value)) == ("nip", "an ASN may see only their own ledger")
    require_team_access(boss, SUPERVISOR, None)
    with pytest.raises(Forbidden):
        require_team_access(boss, STAFF, None)
    operator = Principal("o", "operator", agency="DISKOMINFO")
    require_team_access(operator, SUPERVISOR, "DISKOMINFO")
    with pytest.raises(Forbidden) as other:
        require_team_access(operator, SUPERVISOR, "DISHUB")
    with pytest.raises(Forbidden) as unknown:
        require_team_access(operator, SUPERVISOR, None)
    assert str(other.value) == str(unknown.value) and other.value.field == "supervisor"
