"""Tim saya and the supervisor's ledger view (issue 20) over HTTP, against the real store: a
supervisor sees exactly their own staff aktif on the roster, each against their own targets,
in name order; no summary of fewer than five; every read by someone else is in the access
log, which an admin lists."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.integration.reporting.conftest import apply_directly, scenario_events
from tests.support import auth_headers
from tests.unit.reporting import factory as f

# 15 August 2026 (WIB): the current checkpoint is Q3, 30 September.
TODAY = datetime(2026, 8, 15, 3, 0, tzinfo=timezone.utc)

BOSS = f.participant(900, "DISKOMINFO", "Kepala Bidang")       # five staff
SMALL_BOSS = f.participant(901, "DISKOMINFO", "Kepala Seksi")  # four staff
OUTSIDER = f.participant(902, "DISKOMINFO", "Rekan Lain")      # supervises nobody
# Names out of JP order: the answer is in name order.
STAFF = [f.participant(910 + i, "DISKOMINFO", name) for i, name in
         enumerate(["Zainal", "Budi", "adi", "Citra", "Dewi"])]
SMALL_STAFF = [f.participant(920 + i, "DISKOMINFO", f"Staf {i}") for i in range(4)]
GONE = f.participant(930, "DISKOMINFO", "Sudah Pindah")  # BOSS's staff once, no longer aktif
PEL = f.programme("PEL-T-2026", jp=24)
SEM = f.programme("SEM-T-2026", kind="seminar", competency_type="manajerial", jp=6,
                  starts_at="2026-05-20T01:00:00Z", ends_at="2026-05-20T08:00:00Z")


def team_events() -> list[dict]:
    items: list = [f.published(PEL, capacity=100), f.published(SEM, capacity=100)]
    for boss in (BOSS, SMALL_BOSS, OUTSIDER):
        items.append(f.registered(f.roster_entry(boss)))
    for i, person in enumerate(STAFF):
        # Dewi is a PPPK appointed on 1 April 2026: 15 JP for the year, 10 by Q3.
        entry = (f.roster_entry(person, jenis_asn="PPPK", tmt="2026-04-01", supervisor=BOSS["nip"])
                 if person["name"] == "Dewi" else f.roster_entry(person, supervisor=BOSS["nip"]))
        items.append(f.registered(entry))
    for person in SMALL_STAFF:
        items.append(f.registered(f.roster_entry(person, supervisor=SMALL_BOSS["nip"])))
    gone = f.roster_entry(GONE, supervisor=BOSS["nip"])
    items += [f.registered(gone), f.left({**gone, "status": "pindah", "version": 2})]
    # Zainal 24 JP (met), Budi 6 JP (below Q3's 15), Dewi 24 JP (met her 15), the rest none.
    for person, prog in ((STAFF[0], PEL), (STAFF[1], SEM), (STAFF[4], PEL), (GONE, PEL)):
        eid = f"{prog['code']}-{person['nip']}"
        at = "2026-05-20T09:00:00Z" if prog is SEM else "2026-03-05T09:30:00Z"
        items += [f.enrolled(eid, prog, person), f.completed(eid, prog, person, at=at)]
    return scenario_events(items)


def asn(person: dict) -> dict:
    return auth_headers("asn", nip=person["nip"])


@pytest.fixture
def seeded(store, cfg, start, api):
    apply_directly(store, team_events(), cfg)
    start(clock=lambda: TODAY)
    return api


def reads(api, nip: str) -> list[tuple]:
    page = api.get("/admin/access-log", params={"nip": nip}).json()
    return [(r["reader"]["role"], r["reader"]["nip"], r["reader"]["agency"], r["what"]) for r in page["items"]]


def test_a_supervisor_sees_exactly_their_staff_against_their_own_targets_in_name_order(seeded):
    api = seeded
    body = api.get("/team", headers=asn(BOSS)).json()
    assert body["year"] == 2026
    assert body["checkpoint"] == {"id": "2026-Q3", "label": "triwulan III tahun 2026", "target_share": 0.75}
    assert [(m["name"], m["jp"], m["target"], m["checkpoint_target"], m["met_target"], m["on_track"])
            for m in body["members"]] == [
        ("adi", 0, 20, 15, False, False), ("Budi", 6, 20, 15, False, False), ("Citra", 0, 20, 15, False, False),
        ("Dewi", 24, 15, 10, True, True), ("Zainal", 24, 20, 15, True, True)]
    assert {m["nip"] for m in body["members"]} == {p["nip"] for p in STAFF}  # not GONE, not SMALL_STAFF
    assert body["members"][0]["golongan"] == "III/a"
    assert body["summary"] == {"count": 5, "met_target": 2, "on_track": 2}

    # Each member's read is recorded, with who read it; the supervisor's own entry is not read.
    for person in STAFF:
        assert reads(api, person["nip"]) == [("asn", BOSS["nip"], None, "team")]
    assert reads(api, BOSS["nip"]) == []
    record = api.get("/admin/access-log", params={"nip": STAFF[0]["nip"]}).json()["items"][0]
    assert record["reader"]["subject"] == BOSS["nip"] and record["subject_nip"] == STAFF[0]["nip"]
    assert record["at"].startswith(datetime.now(timezone.utc).strftime("%Y-%m-%d"))


def test_a_team_of_four_has_no_summary_and_nobody_sees_another_supervisors_team(seeded):
    api = seeded
    small = api.get("/team", headers=asn(SMALL_BOSS)).json()
    assert len(small["members"]) == 4 and small["summary"] is None
    assert api.get("/team", headers=asn(OUTSIDER)).json()["members"] == []

    refused = api.get("/team", params={"supervisor": BOSS["nip"]}, headers=asn(SMALL_BOSS))
    assert refused.status_code == 403 and refused.json()["field"] == "supervisor"
    for person in STAFF:
        assert reads(api, person["nip"]) == []

    # An operator: a supervisor of its own agency; another agency's and an unknown NIP alike 403.
    mine = api.get("/team", params={"supervisor": BOSS["nip"]}, headers=auth_headers("operator", "DISKOMINFO"))
    assert mine.status_code == 200 and len(mine.json()["members"]) == 5
    other = api.get("/team", params={"supervisor": BOSS["nip"]}, headers=auth_headers("operator", "DISHUB"))
    unknown = api.get("/team", params={"supervisor": f.nip(999)}, headers=auth_headers("operator", "DISHUB"))
    assert other.status_code == unknown.status_code == 403
    assert other.json()["message"] == unknown.json()["message"].replace(f.nip(999), BOSS["nip"])
    # An admin names the supervisor; without one the answer names the field.
    assert api.get("/team", params={"supervisor": SMALL_BOSS["nip"]}).json()["members"] == small["members"]
    missing = api.get("/team")
    assert missing.status_code == 422 and "supervisor" in missing.json()["errors"]
    assert api.get("/team", params={"supervisor": "123"}).status_code == 422
    assert api.get("/team", params={"supervisor": f.nip(999)}).status_code == 404


def test_the_ledger_answers_the_supervisor_recorded_and_refuses_anyone_else_unrecorded(seeded):
    api = seeded
    dewi = STAFF[4]
    read = api.get(f"/ledger/{dewi['nip']}", params={"year": 2026}, headers=asn(BOSS))
    assert read.status_code == 200
    body = read.json()
    assert (body["target"], body["checkpoint"]) == (15, {"id": "2026-Q3", "label": "triwulan III tahun 2026",
                                                         "target": 10})
    assert body["years"][0]["jp_total"] == 24
    assert reads(api, dewi["nip"]) == [("asn", BOSS["nip"], None, "ledger")]

    # Another ASN (even another supervisor), and a former supervisor: the answer of today's 403.
    for stranger, nip in ((SMALL_BOSS, dewi["nip"]), (OUTSIDER, dewi["nip"]), (BOSS, GONE["nip"]),
                          (OUTSIDER, f.nip(999))):
        refused = api.get(f"/ledger/{nip}", headers=asn(stranger))
        assert refused.status_code == 403
        assert refused.json() == {"error": "forbidden", "message": "an ASN may see only their own ledger",
                                  "field": "nip"}
    assert reads(api, GONE["nip"]) == []

    # Their own read is not recorded; the default year is this one.
    own = api.get(f"/ledger/{dewi['nip']}", headers=asn(dewi)).json()
    assert own["checkpoint"]["id"] == "2026-Q3" and own["target"] == 15
    # An operator's read is recorded with its agency.
    assert api.get(f"/ledger/{dewi['nip']}", headers=auth_headers("operator", "DISKOMINFO")).status_code == 200
    assert reads(api, dewi["nip"]) == [("operator", None, "DISKOMINFO", "ledger"),
                                       ("asn", BOSS["nip"], None, "ledger")]
    # So is an export of their ledger by NIP.
    assert api.get("/exports/ledger.csv", params={"nip": dewi["nip"], "year": 2026}).status_code == 200
    assert reads(api, dewi["nip"])[0] == ("admin", None, None, "ledger")
