"""Compliance on the roster (issue 19) against the real broker and store: ``known_asn`` are the
ASN active on the roster in the year plus those not on it who earned JP; ``never_enrolled``
beside them; a JP entry counts in the year its programme ended."""
from __future__ import annotations

import csv
import io
import random

import pytest
from kombu import Connection, Exchange, Producer
from openpyxl import load_workbook

from services.reporting import queries
from services.reporting.store import current_models
from shared.broker_security import user_of
from shared.events import envelope
from tests.integration.reporting.conftest import (apply_directly, figures, publish, scenario_events, settled,
                                                  shuffled_with_duplicates)
from tests.support import auth_headers, wait_for
from tests.unit.reporting import factory as f

AGENCIES = ("SETDA", "DINKES", "DISDIK", "DISHUB", "BAPPEDA")
PEL = f.programme("PEL-R-2026", jp=24, title="Pelatihan Pelayanan Publik")
SEM = f.programme("SEM-R-2026", kind="seminar", competency_type="manajerial", jp=6,
                  starts_at="2026-05-20T01:00:00Z", ends_at="2026-05-20T08:00:00Z")


def publish_all(amqp_uri: str, events: list[dict]) -> None:
    """Publish many events over one connection (as enrollment's relay would)."""
    with Connection(amqp_uri) as conn:
        producer = Producer(conn.channel())
        for event in events:
            service = event["source"].rsplit("/", 1)[-1]
            producer.publish(envelope.encode(event), exchange=Exchange(f"{service}.events", "topic", durable=True),
                             routing_key=event["type"].split(".")[-2], content_type="application/json",
                             content_encoding="binary", delivery_mode=2, user_id=user_of(amqp_uri))


def rows_of(report: dict) -> dict[str, dict]:
    return {r["agency"]: r for r in report["agencies"]}


def pick(row: dict, *keys: str) -> tuple:
    return tuple(row[k] for k in keys)


HEADS = ("known_asn", "rostered_asn", "never_enrolled", "unlisted_asn")


# -- 1,000 on the roster, 300 of them never enrolled ----------------------------------------------
def thousand() -> tuple[list, dict]:
    """1,000 ASN over five OPD (200 each); 60 of each OPD never enrol, 140 enrol and of those
    the first 50 pass a 24 JP training, the next 40 a 6 JP seminar."""
    items: list = [f.published(PEL, capacity=1000), f.published(SEM, capacity=1000)]
    expected = {}
    for a, agency in enumerate(AGENCIES):
        for k in range(200):
            person = f.participant(1000 + a * 200 + k, agency)
            items.append(f.registered(f.roster_entry(person)))
            if k < 60:
                continue  # never enrolled
            if k < 110:
                items += [f.enrolled(f"p-{person['nip']}", PEL, person),
                          f.completed(f"p-{person['nip']}", PEL, person, "passed")]
            elif k < 150:
                items += [f.enrolled(f"s-{person['nip']}", SEM, person),
                          f.completed(f"s-{person['nip']}", SEM, person, "passed", at="2026-05-20T09:00:00Z")]
            else:
                items.append(f.enrolled(f"p-{person['nip']}", PEL, person))
        expected[agency] = {"known_asn": 200, "rostered_asn": 200, "never_enrolled": 60, "unlisted_asn": 0,
                            "asn_with_jp": 90, "met_target": 50, "jp_total": 50 * 24 + 40 * 6}
    return items, expected


def test_a_roster_of_1000_of_whom_300_never_enrolled_gives_known_1000_and_never_enrolled_300(
        start, settings, store, api):
    start()
    items, expected = thousand()
    events = scenario_events(items)
    publish_all(settings.amqp_uri, events)
    wait_for(lambda: settled(store, len(events)), timeout=300, interval=0.5,
             message="1,000 roster entries and their enrolments applied, counters folded")

    body = api.get("/compliance", params={"year": 2026, "limit": 100}).json()
    rows = {r["agency"]: r for r in body["items"]}
    for agency, figures_ in expected.items():
        assert {k: rows[agency][k] for k in figures_} == figures_, agency
        # over known_asn: the 60 who never enrolled and the 50 enrolled without JP count as 0 JP
        assert rows[agency]["distribution"]["0"] == 110
        assert rows[agency]["met_rate"] == 0.25 and rows[agency]["average_jp"] == 7.2
    totals = body["totals"]
    assert pick(totals, *HEADS) == (1000, 1000, 300, 0)
    assert (totals["met_target"], totals["below_target"], totals["met_rate"]) == (250, 750, 0.25)

    # Each OPD's never-enrolled list holds exactly its 60, page by page.
    nips, cursor = [], None
    while True:
        page = api.get("/never-enrolled", params={"year": 2026, "agency": "DISDIK", "limit": 25,
                                                  **({"cursor": cursor} if cursor else {})}).json()
        assert page["total"] == 60
        nips += [a["nip"] for a in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(nips) == 60 == len(set(nips)) and nips == sorted(nips)
    assert set(nips) == {f.participant(1000 + 2 * 200 + k, "DISDIK")["nip"] for k in range(60)}
    assert api.get("/never-enrolled", params={"year": 2026, "limit": 1}).json()["total"] == 300


# -- who counts in a year -------------------------------------------------------------------------
def test_an_unlisted_asn_counts_only_with_jp_and_as_unlisted(fresh_store, cfg):
    on_roster = f.participant(1, "SETDA")
    guest, idle = f.participant(2, "SETDA"), f.participant(3, "SETDA")  # central-government staff, not on it
    items = [f.published(PEL), f.registered(f.roster_entry(on_roster)),
             f.enrolled("g1", PEL, guest), f.completed("g1", PEL, guest, "passed"),
             f.enrolled("i1", PEL, idle), f.completed("i1", PEL, idle, "failed")]
    apply_directly(fresh_store, scenario_events(items), cfg)
    rm = current_models(fresh_store.db)

    setda = rows_of(queries.compliance(rm, cfg, 2026))["SETDA"]
    assert pick(setda, *HEADS) == (2, 1, 1, 1)  # the one on the roster never enrolled; the guest with JP
    assert (setda["asn_with_jp"], setda["met_target"], setda["jp_total"], setda["average_jp"]) == (1, 1, 24, 12.0)
    assert rm.asns.find_one({"_id": guest["nip"]}).get("listed") is not True
    # Filtered to a slice, the headcount stays that of the year.
    seminars = rows_of(queries.compliance(rm, cfg, 2026, kind="seminar"))["SETDA"]
    assert (seminars["known_asn"], seminars["unlisted_asn"], seminars["jp_total"]) == (2, 1, 0)

    # Once the guest appears on the roster they count there instead, JP and all.
    apply_directly(fresh_store, scenario_events([f.registered(f.roster_entry(guest))]), cfg)
    setda = rows_of(queries.compliance(rm, cfg, 2026))["SETDA"]
    assert pick(setda, *HEADS) == (2, 2, 1, 0)
    assert (setda["met_target"], setda["jp_total"]) == (1, 24)


def left_mid_year() -> list:
    person = f.participant(5, "DINKES")
    stays = f.participant(6, "DINKES")
    entry = f.roster_entry(person, tmt="2019-03-01")
    return [f.published(PEL), f.published(f.programme("PEL-R-2025", jp=20, starts_at="2025-03-02T01:00:00Z",
                                                      ends_at="2025-03-05T09:00:00Z")),
            f.registered(entry, at="2025-01-05T02:00:00Z"), f.registered(f.roster_entry(stays)),
            f.enrolled("y1", f.programme("PEL-R-2025", jp=20, starts_at="2025-03-02T01:00:00Z",
                                         ends_at="2025-03-05T09:00:00Z"), person, at="2025-02-01T02:00:00Z"),
            f.completed("y1", f.programme("PEL-R-2025", jp=20, starts_at="2025-03-02T01:00:00Z",
                                          ends_at="2025-03-05T09:00:00Z"), person, "passed",
                        at="2025-03-05T10:00:00Z"),
            f.enrolled("y2", PEL, person), f.completed("y2", PEL, person, "passed"),
            f.left({**entry, "status": "pensiun", "version": 2}, at="2026-07-01T02:00:00Z")]


def test_an_asn_who_left_mid_year_is_out_of_that_years_figures_and_still_in_the_previous_years(
        fresh_store, cfg):
    apply_directly(fresh_store, scenario_events(left_mid_year()), cfg)
    rm = current_models(fresh_store.db)

    this_year = rows_of(queries.compliance(rm, cfg, 2026))["DINKES"]
    assert pick(this_year, *HEADS) == (1, 1, 1, 0)  # only the one who stays (and never enrolled)
    assert (this_year["met_target"], this_year["jp_total"], this_year["asn_with_jp"]) == (0, 0, 0)
    last_year = rows_of(queries.compliance(rm, cfg, 2025))["DINKES"]
    assert pick(last_year, *HEADS) == (2, 2, 1, 0)
    assert (last_year["met_target"], last_year["jp_total"]) == (1, 20)
    asn = rm.asns.find_one({"_id": f.participant(5)["nip"]})
    assert (asn["listed"], asn["roster"]["status"], asn["roster"]["version"]) == (True, "pensiun", 2)
    assert asn["roster"]["left_at"].year == 2026 and asn["roster"]["tmt"] == "2019-03-01"
    # The ledger keeps what they did: only the figures leave them out.
    assert queries.ledger(rm, cfg, asn["_id"], 2026)["years"][0]["jp_total"] == 24

    # Back on the roster (aktif again, a higher version): they count in 2026 again, JP and all.
    back = f.roster_entry(f.participant(5, "DINKES"), tmt="2019-03-01", version=3)
    apply_directly(fresh_store, scenario_events([f.updated(back, ["status"], at="2026-09-01T02:00:00Z")]), cfg)
    this_year = rows_of(queries.compliance(rm, cfg, 2026))["DINKES"]
    assert pick(this_year, *HEADS) == (2, 2, 1, 0)
    assert (this_year["met_target"], this_year["jp_total"]) == (1, 24)


def test_an_asn_appointed_this_year_counts_from_their_tmt_year(fresh_store, cfg):
    cpns = f.participant(7, "DISHUB")
    apply_directly(fresh_store, scenario_events([f.registered(f.roster_entry(cpns, tmt="2026-04-01"))]), cfg)
    rm = current_models(fresh_store.db)
    assert pick(rows_of(queries.compliance(rm, cfg, 2026))["DISHUB"], *HEADS) == (1, 1, 1, 0)
    assert pick(rows_of(queries.compliance(rm, cfg, 2025))["DISHUB"], *HEADS) == (0, 0, 0, 0)


def moved() -> tuple[dict, list]:
    person = f.participant(8, "SETDA")
    entry = f.roster_entry(person)
    items = [f.published(PEL), f.registered(entry), f.enrolled("m1", PEL, person),
             f.completed("m1", PEL, person, "passed"),
             f.updated({**f.roster_entry(person, agency="DISKOMINFO"), "version": 2}, ["agency"])]
    return person, items


def test_an_agency_change_on_the_roster_moves_the_asn_and_their_jp_and_an_enrolment_cannot_move_them_back(
        fresh_store, cfg):
    person, items = moved()
    # a later enrolment whose participant snapshot still says SETDA (enrollment's stale copy)
    items.append(f.enrolled("m2", SEM, person, at="2026-05-01T02:00:00Z"))
    apply_directly(fresh_store, scenario_events(items), cfg)
    rm = current_models(fresh_store.db)

    rows = rows_of(queries.compliance(rm, cfg, 2026))
    assert pick(rows["DISKOMINFO"], *HEADS, "met_target", "jp_total") == (1, 1, 0, 0, 1, 24)
    assert pick(rows["SETDA"], *HEADS, "met_target", "jp_total") == (0, 0, 0, 0, 0, 0)
    asn = rm.asns.find_one({"_id": person["nip"]})
    assert (asn["agency"], asn["agency_name"]) == ("DISKOMINFO", "Dinas Komunikasi dan Informatika")
    ledger = queries.ledger(rm, cfg, person["nip"], 2026)
    assert ledger["agency"] == "DISKOMINFO"
    assert [e["agency"] for e in queries.ledger_rows(rm, 2026)] == ["DISKOMINFO"]


def roster_story() -> list:
    """Registrations, an agency move, a leaver, a comeback, an unlisted guest and enrolments."""
    items: list = [f.published(PEL, capacity=100), f.published(SEM, capacity=100)]
    for i in range(12):
        person = f.participant(20 + i, AGENCIES[i % 3])
        entry = f.roster_entry(person, tmt="2026-02-01" if i == 11 else None)
        items.append(f.registered(entry))
        if i % 2 == 0:
            items += [f.enrolled(f"e{i}", PEL, person), f.completed(f"e{i}", PEL, person, "passed")]
        if i == 4:
            items.append(f.updated({**f.roster_entry(person, agency="DISDIK"), "version": 2}, ["agency"]))
        if i == 6:
            items.append(f.left({**entry, "status": "pindah", "version": 2}))
        if i == 7:
            items += [f.left({**entry, "status": "berhenti", "version": 2}, at="2026-03-01T02:00:00Z"),
                      f.updated({**entry, "version": 3}, ["status"], at="2026-05-01T02:00:00Z")]
    guest = f.participant(40, "SETDA")
    items += [f.enrolled("guest", SEM, guest), f.completed("guest", SEM, guest, "passed",
                                                           at="2026-05-20T09:00:00Z")]
    return items


# The story's 2026 by hand: SETDA 0, 3, 9 (6 left in July) and the unlisted guest (6 JP);
# DINKES 1, 7 (left and came back), 10; DISDIK 2, 5, 8, 11 (TMT February) and 4 (moved in).
STORY_2026 = {
    "SETDA": {"known_asn": 4, "rostered_asn": 3, "never_enrolled": 2, "unlisted_asn": 1, "jp_total": 30,
              "met_target": 1},
    "DINKES": {"known_asn": 3, "rostered_asn": 3, "never_enrolled": 2, "unlisted_asn": 0, "jp_total": 24,
               "met_target": 1},
    "DISDIK": {"known_asn": 5, "rostered_asn": 5, "never_enrolled": 2, "unlisted_asn": 0, "jp_total": 72,
               "met_target": 3},
}


def test_roster_and_enrolment_events_in_any_order_and_repeated_give_the_same_figures(settings, fresh_store, cfg):
    from dataclasses import replace
    import uuid

    from services.reporting.store import create_indexes
    from shared.store import Store, connect

    events = scenario_events(roster_story())
    apply_directly(fresh_store, events, cfg)
    expected = figures(fresh_store, cfg)
    rows = rows_of(expected["compliance2026"])
    for agency, want in STORY_2026.items():
        assert {k: rows[agency][k] for k in want} == want, agency
    assert pick(expected["compliance2026"]["totals"], *HEADS) == (12, 11, 6, 1)

    client = connect(settings)
    try:
        for seed in (11, 12, 13):
            other = Store(client, replace(settings, db_name=f"{settings.db_name}_{uuid.uuid4().hex[:6]}"))
            create_indexes(other.db)
            order = shuffled_with_duplicates(events, seed)
            if seed == 13:
                order = list(reversed(events)) + events  # everything backwards, then all again
            apply_directly(other, order, cfg)
            assert figures(other, cfg) == expected, seed
    finally:
        client.close()


def test_roster_events_over_the_broker_out_of_order_and_twice_give_the_hand_computed_figures(
        start, settings, store, cfg):
    start()
    events = scenario_events(roster_story())
    publish(settings.amqp_uri, shuffled_with_duplicates(events, seed=5))
    wait_for(lambda: settled(store, len(events)), timeout=120, message="every event applied once, counters folded")
    rows = rows_of(queries.compliance(current_models(store.db), cfg, 2026))
    for agency, want in STORY_2026.items():
        assert {k: rows[agency][k] for k in want} == want, agency


# -- the year of a JP entry -----------------------------------------------------------------------
DECEMBER = f.programme("PEL-DES-2025", jp=24, title="Pelatihan Akhir Tahun",
                       starts_at="2025-12-15T01:00:00Z", ends_at="2025-12-19T09:00:00Z")
SELF_PACED = f.programme("EL-MANDIRI", kind="e-learning", jp=6, title="E-Learning Mandiri",
                         starts_at=None, ends_at=None)


def test_a_december_course_recorded_in_january_counts_in_december_and_the_siasn_export_follows(
        start, store, cfg, api):
    person = f.participant(9, "BAPPEDA")
    items = [f.registered(f.roster_entry(person)), f.published(DECEMBER, opens="2025-11-01T00:00:00Z",
                                                               closes="2025-12-10T16:59:59Z"),
             f.enrolled("dec", DECEMBER, person, at="2025-11-20T02:00:00Z"),
             f.completed("dec", DECEMBER, person, "passed", at="2026-01-08T03:00:00Z"),  # recorded late
             f.enrolled("self", SELF_PACED, person, at="2025-12-20T02:00:00Z"),
             f.completed("self", SELF_PACED, person, "passed", at="2026-01-02T03:00:00Z")]
    apply_directly(store, scenario_events(items), cfg)
    rm = current_models(store.db)

    ledger = queries.ledger(rm, cfg, person["nip"])
    assert [(y["year"], [e["programme_code"] for e in y["entries"]], y["jp_total"]) for y in ledger["years"]] == \
        [(2026, ["EL-MANDIRI"], 6), (2025, ["PEL-DES-2025"], 24)]
    assert pick(rows_of(queries.compliance(rm, cfg, 2025))["BAPPEDA"], "jp_total", "met_target") == (24, 1)
    assert pick(rows_of(queries.compliance(rm, cfg, 2026))["BAPPEDA"], "jp_total", "met_target") == (6, 0)

    start()
    siasn = list(csv.DictReader(io.StringIO(
        api.get("/exports/ledger-siasn.csv", params={"year": 2025, "agency": "BAPPEDA"}).content.decode("utf-8-sig"))))
    assert [(r["namaKursus"], r["tahunKursus"], r["tanggalSelesaiKursus"]) for r in siasn] == \
        [("Pelatihan Akhir Tahun", "2025", "19-12-2025")]
    ledger_2026 = api.get("/exports/ledger.csv", params={"year": 2026, "agency": "BAPPEDA"}).content.decode("utf-8-sig")
    assert [r["kode_program"] for r in csv.DictReader(io.StringIO(ledger_2026))] == ["EL-MANDIRI"]


# -- the never-enrolled list and its exports --------------------------------------------------------
FORMULA = '=HYPERLINK("http://evil.example","klik")'


def never_enrolled_roster() -> list:
    items = [f.published(PEL)]
    for i in range(5):
        person = f.participant(50 + i, "DINKES", name=FORMULA if i == 0 else f"Perawat {i}")
        items.append(f.registered(f.roster_entry(person, golongan="III/b", supervisor=f.nip(49),
                                                 tmt="2015-01-01")))
    enrolled = f.participant(54, "DINKES", name="Perawat 4")
    items += [f.enrolled("n4", PEL, enrolled)]
    for i in range(3):
        items.append(f.registered(f.roster_entry(f.participant(60 + i, "SETDA"))))
    return items


def _csv(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_the_never_enrolled_list_and_exports_name_each_asn_with_the_nip_as_text_and_formula_safe(
        start, store, cfg, api):
    apply_directly(store, scenario_events(never_enrolled_roster()), cfg)
    start()
    dinkes = [f.participant(50 + i, "DINKES")["nip"] for i in range(4)]

    body = api.get("/never-enrolled", params={"year": 2026, "agency": "DINKES"}).json()
    assert (body["year"], body["agency"], body["total"], body["next_cursor"]) == (2026, "DINKES", 4, None)
    assert [a["nip"] for a in body["items"]] == sorted(dinkes)
    first = next(a for a in body["items"] if a["nip"] == f.participant(51)["nip"])
    assert first == {"nip": f.participant(51)["nip"], "name": "Perawat 1", "agency": "DINKES",
                     "agency_name": "Dinas Kesehatan", "position": None, "golongan": "III/b", "jenis_asn": "PNS",
                     "tmt": "2015-01-01", "supervisor_nip": f.nip(49)}
    assert api.get("/never-enrolled", params={"year": 2026}).json()["total"] == 7  # an admin: every agency

    rows = _csv(api.get("/exports/never-enrolled.csv", params={"year": 2026, "agency": "DINKES"}))
    assert [r["nip"] for r in rows] == sorted(dinkes)
    assert list(rows[0]) == ["tahun", "nip", "nama", "jenis_asn", "golongan", "jabatan", "kode_opd", "nama_opd",
                             "tmt", "nip_atasan"]
    assert next(r for r in rows if r["nip"] == f.participant(50)["nip"])["nama"] == "'" + FORMULA
    everyone = _csv(api.get("/exports/never-enrolled.csv", params={"year": 2026}))
    assert [r["kode_opd"] for r in everyone] == ["DINKES"] * 4 + ["SETDA"] * 3

    response = api.get("/exports/never-enrolled.xlsx", params={"year": 2026, "agency": "DINKES"})
    assert response.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    assert "belum-pernah-ikut-2026-DINKES.xlsx" in response.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(response.content)).active
    values = list(sheet.iter_rows(min_row=2))
    assert [row[1].value for row in values] == sorted(dinkes)
    assert all(row[1].data_type == "s" for row in values)  # the NIP is text, all 18 digits
    formula_row = next(row for row in values if row[1].value == f.participant(50)["nip"])
    assert formula_row[2].data_type == "s" and formula_row[2].value == "'" + FORMULA


@pytest.mark.parametrize("path", ["/never-enrolled", "/exports/never-enrolled.csv", "/exports/never-enrolled.xlsx"])
def test_who_may_read_the_never_enrolled_list(start, store, cfg, api, path):
    apply_directly(store, scenario_events(never_enrolled_roster()), cfg)
    start()
    operator = auth_headers("operator", agency="DINKES")

    def get(headers, **params):
        return api.request("GET", path, headers=headers, params={"year": 2026, **params})

    own = get(operator)  # an operator's list is its own agency's, without naming it
    assert own.status_code == 200
    assert get(operator, agency="DINKES").status_code == 200
    if path == "/never-enrolled":
        assert own.json()["agency"] == "DINKES" and own.json()["total"] == 4
    elif path.endswith(".csv"):
        assert {r["kode_opd"] for r in _csv(own)} == {"DINKES"}
    other = get(operator, agency="SETDA")
    assert other.status_code == 403 and other.json()["field"] == "agency"
    asn = get(auth_headers("asn", nip=f.participant(50)["nip"]), agency="DINKES")
    assert asn.status_code == 403
    assert get({"Authorization": ""}).status_code == 401
    assert get(auth_headers("admin"), agency="SETDA").status_code == 200
    bad = get(auth_headers("admin"), agency="DINAS-TIDAK-ADA")
    assert bad.status_code == 422 and bad.json()["field"] == "agency"


def test_the_never_enrolled_list_refuses_bad_paging_naming_the_field(start, api):
    start()
    for params, field in [({"limit": 0}, "limit"), ({"year": "dua"}, "year")]:
        response = api.get("/never-enrolled", params=params)
        assert response.status_code == 422 and field in response.json()["errors"], params
    response = api.get("/never-enrolled", params={"cursor": "abc"})
    assert response.status_code == 422 and response.json()["field"] == "cursor"


def test_openapi_documents_the_never_enrolled_routes_and_the_new_compliance_fields(start, api):
    start()
    document = api.get("/openapi.json").json()
    for path in ("/never-enrolled", "/exports/never-enrolled.csv", "/exports/never-enrolled.xlsx"):
        operation = document["paths"][path]["get"]
        assert "403" in operation["responses"] and operation["x-access-rule"] == "staff", path
    row = document["components"]["schemas"]["AgencyRow"]["properties"]
    assert {"known_asn", "rostered_asn", "unlisted_asn", "never_enrolled"} <= set(row)


def test_a_thousand_roster_events_shuffled_give_the_same_figures_as_in_order(fresh_store, cfg):
    """The 1,000 of the first test, applied in a random order: the same headcounts."""
    items, _ = thousand()
    events = scenario_events(items)
    random.Random(19).shuffle(events)
    apply_directly(fresh_store, events, cfg)
    totals = queries.compliance(current_models(fresh_store.db), cfg, 2026)["totals"]
    assert pick(totals, *HEADS, "met_target") == (1000, 1000, 300, 0, 250)


def test_each_asn_is_measured_against_their_own_yearly_target(fresh_store, cfg):
    """PPPK against JP_TARGET_PPPK, a new appointee pro-rated from their TMT (as the checkpoints)."""
    from dataclasses import replace

    cfg = replace(cfg, jp_target_pppk=10)
    twelve = f.programme("PEL-12", jp=12)
    pns, pppk, cpns = f.participant(90, "DISDIK"), f.participant(91, "DISDIK"), f.participant(92, "DISDIK")
    items = [f.published(twelve), f.registered(f.roster_entry(pns)),
             f.registered(f.roster_entry(pppk, jenis_asn="PPPK")),
             f.registered(f.roster_entry(cpns, tmt="2026-07-01"))]  # owes 20 × 6/12 = 10 in 2026
    for person in (pns, pppk, cpns):
        items += [f.enrolled(f"t-{person['nip']}", twelve, person),
                  f.completed(f"t-{person['nip']}", twelve, person, "passed")]
    apply_directly(fresh_store, scenario_events(items), cfg)
    rm = current_models(fresh_store.db)

    disdik = rows_of(queries.compliance(rm, cfg, 2026))["DISDIK"]
    assert (disdik["known_asn"], disdik["jp_total"], disdik["met_target"]) == (3, 36, 2)
    targets = {p["nip"]: queries.ledger(rm, cfg, p["nip"], 2026)["years"][0] for p in (pns, pppk, cpns)}
    assert [(targets[p["nip"]]["target_jp"], targets[p["nip"]]["target_met"]) for p in (pns, pppk, cpns)] == \
        [(20, False), (10, True), (10, True)]

    # Becoming PNS (a roster update) measures them against 20 JP from then on.
    apply_directly(fresh_store, scenario_events([f.updated(f.roster_entry(pppk, version=2), ["jenis_asn"])]), cfg)
    assert rows_of(queries.compliance(rm, cfg, 2026))["DISDIK"]["met_target"] == 1


def test_a_rebuild_from_the_producers_logs_gives_the_same_roster_figures(start, settings, store, cfg):
    from services.reporting import usecases
    from services.reporting.store import pointer
    from tests.integration.reporting.test_rebuild import emit_through_outboxes, replay_outboxes

    start()
    events = scenario_events(roster_story() + never_enrolled_roster()[1:] + left_mid_year())
    emit_through_outboxes(settings, events)
    wait_for(lambda: settled(store, len(events)), timeout=120, message="live projection, counters folded")
    live = figures(store, cfg)
    # the story's 11 on the roster (6 never enrolled) and its guest; 8 more of whom 7 never
    # enrolled; of the last two one left in 2026 and the other never enrolled
    assert pick(live["compliance2026"]["totals"], *HEADS) == (21, 20, 14, 1)

    summary = usecases.rebuild(settings, replay_outboxes(settings), cfg, idle_timeout_s=10)
    assert (summary["events"], summary["applied"]) == (len(events), len(events))
    assert pointer(store.db).current == summary["generation"] == 2
    assert figures(store, cfg) == live
    from services.reporting.store import LAYOUT, POINTER_ID, STATE
    assert store.db[STATE].find_one({"_id": POINTER_ID})["layout"] == LAYOUT


def earlier_release_events() -> list:
    """What an earlier release consumed (no roster): a December course recorded in January, one
    with JP, one without, and a move of agency by a later enrolment."""
    mover, idle, december = f.participant(71, "SETDA"), f.participant(72, "SETDA"), f.participant(73, "DINKES")
    return [f.published(PEL), f.published(DECEMBER, opens="2025-11-01T00:00:00Z", closes="2025-12-10T16:59:59Z"),
            f.enrolled("o1", PEL, mover), f.completed("o1", PEL, mover, "passed"),
            f.enrolled("o2", SEM, f.participant(71, "DISHUB"), at="2026-05-01T02:00:00Z"),
            f.enrolled("o3", PEL, idle), f.completed("o3", PEL, idle, "failed"),
            f.enrolled("o4", DECEMBER, december, at="2025-11-20T02:00:00Z"),
            f.completed("o4", DECEMBER, december, "passed", at="2026-01-08T03:00:00Z")]


def test_read_models_of_an_earlier_release_are_brought_to_the_roster_layout_at_start_up(
        settings, fresh_store, cfg, monkeypatch):
    import uuid
    from dataclasses import replace

    from services.reporting import commands, domain, usecases
    from services.reporting.store import LAYOUT, POINTER_ID, STATE, create_indexes
    from shared.store import Store, connect
    from shared.timefmt import wib_year
    from tests.integration.reporting.conftest import fold_now

    events = scenario_events(earlier_release_events())
    apply_directly(fresh_store, events, cfg)
    expected = figures(fresh_store, cfg)

    client = connect(settings)
    try:
        old = Store(client, replace(settings, db_name=f"{settings.db_name}_{uuid.uuid4().hex[:6]}"))
        create_indexes(old.db)
        with monkeypatch.context() as earlier:  # the projection of the release before the roster
            earlier.setattr(domain, "credit_year", lambda programme, completed_at: wib_year(completed_at))
            earlier.setattr(commands, "asn_year_standing", lambda asn, year: {})
            earlier.setattr(commands, "asn_year_contribution", lambda doc, c: {
                k: v for k, v in domain.asn_year_contribution(doc, c).items() if k[0] != "agency_headcounts"})
            earlier.setattr(commands, "asn_contribution", lambda doc: {
                ("agency_headcounts", doc["agency"]): {f"new_asn.{doc['first_seen_year']}": 1}})
            apply_directly(old, events, cfg)
        old.db[STATE].update_one({"_id": POINTER_ID}, {"$unset": {"layout": ""}})
        before = figures(old, cfg)
        assert before["compliance2026"]["totals"]["unlisted_asn"] == 0  # what the earlier layout answers
        assert [e["year"] for e in before["ledger_rows2026"]].count(2026) == 2  # the December course too

        usecases.prepare_store(old.db)  # a start-up of this release
        fold_now(old)
        assert figures(old, cfg) == expected
        assert old.db[STATE].find_one({"_id": POINTER_ID})["layout"] == LAYOUT
        totals = expected["compliance2026"]["totals"]
        assert (totals["known_asn"], totals["unlisted_asn"], totals["jp_total"]) == (1, 1, 24)
        assert [e["programme_code"] for e in expected["ledger_rows2025"]] == ["PEL-DES-2025"]
        # A second start (or another replica) finds nothing left to move.
        assert commands.migrate_to_roster_layout(old.db, cfg, 1) == {"ledger_entries": 0, "asn_years": 0,
                                                                       "asns": 0}
        usecases.prepare_store(old.db)
        fold_now(old)
        assert figures(old, cfg) == expected
    finally:
        client.close()


def test_an_operators_dashboard_lists_its_own_never_enrolled_asn_and_only_theirs(start, store, cfg, api):
    apply_directly(store, scenario_events(never_enrolled_roster()), cfg)
    start()
    page = api.get("/dashboard", params={"year": 2026}, headers=auth_headers("operator", agency="DINKES"))
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    html = page.text
    section = html[html.index('id="belum-ikut"'):]
    assert "Belum pernah ikut pengembangan kompetensi · Dinas Kesehatan" in section
    for i in (1, 2, 3):
        assert f'data-nip="{f.participant(50 + i)["nip"]}"' in section
    assert f.participant(54)["nip"] not in section  # enrolled once: not on the list
    assert f.participant(60)["nip"] not in section  # SETDA's
    assert "=HYPERLINK(&#34;http://evil.example&#34;" in section  # the name shown as text, escaped
    other = api.get("/dashboard", params={"year": 2026, "agency": "SETDA"},
                    headers=auth_headers("operator", agency="DINKES"))
    assert other.status_code == 403
