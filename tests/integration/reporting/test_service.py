"""The reporting service over the real broker and HTTP: events in, figures and exports out."""
from __future__ import annotations

import csv
import io

from openpyxl import load_workbook

from tests.integration.reporting import scenario
from tests.integration.reporting.conftest import (apply_directly, publish, settled, scenario_events,
                                                  shuffled_with_duplicates)
from tests.support import wait_for


def _csv(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_events_out_of_order_with_duplicates_over_the_broker_give_the_hand_computed_compliance(
        start, settings, store, api):
    start()
    events = scenario_events(scenario.with_roster())
    publish(settings.amqp_uri, shuffled_with_duplicates(events, seed=7))
    wait_for(lambda: settled(store, len(events)), timeout=60, message="every event applied once, counters folded")

    body = api.get("/compliance?year=2026&limit=100").json()
    rows = {r["agency"]: r for r in body["items"] if r["known_asn"]}
    for code, expected in scenario.AGENCIES_2026.items():
        assert {k: rows[code][k] for k in expected} == expected, code
    assert {k: body["totals"][k] for k in scenario.TOTALS_2026} == scenario.TOTALS_2026
    assert body["total_agencies"] == 31 and body["next_cursor"] is None

    one = api.get("/compliance", params={"year": 2026, "agency": "SETDA"}).json()
    assert [(r["agency"], r["met_target"], r["known_asn"]) for r in one["items"]] == [("SETDA", 1, 3)]
    first = api.get("/compliance?year=2026&sort=average_jp&limit=2").json()
    assert [r["agency"] for r in first["items"]] == ["SETDA", "DISKOMINFO"]
    # The totals are over every agency, whatever the page.
    assert {k: first["totals"][k] for k in scenario.TOTALS_2026} == scenario.TOTALS_2026
    second = api.get("/compliance", params={"year": 2026, "sort": "average_jp", "limit": 2,
                                            "cursor": first["next_cursor"]}).json()
    by_average = [r["agency"] for r in api.get("/compliance?year=2026&sort=average_jp&limit=31").json()["items"]]
    assert [r["agency"] for r in second["items"]] == by_average[2:4]
    # The first version's paging still works for one release: per_page, page and the agencies list.
    legacy = api.get("/compliance?year=2026&sort=average_jp&per_page=2&page=2").json()
    assert [r["agency"] for r in legacy["agencies"]] == by_average[2:4] == [r["agency"] for r in legacy["items"]]
    assert (legacy["page"], legacy["per_page"], legacy["total_agencies"]) == (2, 2, 31)


def test_the_ledger_lists_each_programme_with_its_jp_and_the_yearly_total_against_the_target(
        start, store, cfg, api):
    apply_directly(store, scenario_events(scenario.with_roster()), cfg)
    start()
    body = api.get(f"/ledger/{scenario.B2['nip']}").json()
    assert [(y["year"], y["jp_total"], y["target_met"], y["jp_missing"]) for y in body["years"]] == \
        [(2026, 4, False, 16), (2025, 12, False, 8)]
    assert [(e["programme_code"], e["jp"]) for e in body["years"][1]["entries"]] == [("PEL-D-2025", 12)]
    assert body["years"][0]["jp_by_competency_type"]["manajerial"] == 4

    only = api.get(f"/ledger/{scenario.A1['nip']}?year=2026").json()
    assert only["years"][0]["entries"][0]["certificate_number"] == "0001/BKN-BKT/SERT-PBJ/2026"
    assert only["years"][0]["target_met"] is True

    unknown = api.get("/ledger/199001012015011001")
    assert unknown.status_code == 404 and unknown.json()["field"] == "nip"
    bad = api.get("/ledger/12345")
    assert bad.status_code == 422 and bad.json()["field"] == "nip"


def test_programme_stats_show_enrolled_waitlisted_cancelled_passed_no_shows_and_rates(start, store, cfg, api):
    apply_directly(store, scenario_events(scenario.with_roster()), cfg)
    start()
    stats = api.get("/programmes/PEL-A-2026/stats").json()
    assert {k: stats[k] for k in scenario.PEL_A_STATS} == scenario.PEL_A_STATS
    assert api.get("/programmes/NOPE/stats").status_code == 404
    listing = api.get("/programmes?year=2026&kind=seminar").json()
    assert [(p["code"], p["passed"]) for p in listing["items"]] == [("SEM-B-2026", 3)]
    assert listing["programmes"] == listing["items"] and listing["next_cursor"] is None  # the old name, one release
    codes, cursor = [], None
    while True:  # one programme a page, in code order, until no cursor comes back
        page = api.get("/programmes", params={"year": 2026, "limit": 1, **({"cursor": cursor} if cursor else {})}).json()
        codes += [p["code"] for p in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert codes == sorted(codes) and len(codes) == page["total"] > 1


def test_exports_open_in_csv_and_openpyxl_with_the_right_rows(start, store, cfg, api):
    apply_directly(store, scenario_events(scenario.with_roster()), cfg)
    start()
    compliance = api.get("/exports/compliance.csv?year=2026")
    assert compliance.headers["Content-Type"].startswith("text/csv")
    rows = {r["kode_opd"]: r for r in _csv(compliance)}
    assert len(rows) == 31
    assert (rows["SETDA"]["asn_terdata"], rows["SETDA"]["asn_memenuhi_target"], rows["SETDA"]["total_jp"]) == \
        ("3", "1", "32")
    assert rows["DISKOMINFO"]["persen_memenuhi"] == "25.0"

    workbook = load_workbook(io.BytesIO(api.get("/exports/compliance.xlsx?year=2026&agency=DINKES").content))
    sheet = workbook.active
    values = list(sheet.values)
    assert values[0][:4] == ("tahun", "kode_opd", "nama_opd", "asn_terdata")
    assert values[1][:6] == (2026, "DINKES", "Dinas Kesehatan", 3, 0, 3)
    # the roster's columns come last, so the first ones keep their places
    assert values[0][-3:] == ("asn_terdaftar", "asn_di_luar_daftar", "belum_pernah_ikut")
    assert values[1][-3:] == (3, 0, 1)

    ledger = _csv(api.get("/exports/ledger.csv?year=2026&agency=SETDA"))
    assert [(r["nip"], r["kode_program"], r["jp"]) for r in ledger] == sorted(
        [(scenario.B1["nip"], "PEL-A-2026", "24"), (scenario.B1["nip"], "SEM-B-2026", "4"),
         (scenario.B2["nip"], "SEM-B-2026", "4")])
    assert next(r for r in ledger if r["kode_program"] == "PEL-A-2026")["status_sertifikat"] == "revoked"
    ledger_xlsx = load_workbook(io.BytesIO(api.get("/exports/ledger.xlsx?year=2026&agency=SETDA").content))
    assert ledger_xlsx.active.max_row == 4  # header + 3 entries

    siasn = _csv(api.get(f"/exports/ledger-siasn.csv?year=2026&nip={scenario.A1['nip']}"))
    assert siasn == [{
        "nipBaru": scenario.A1["nip"], "jenisDiklatId": "3", "jenisKursusSertipikat": "T",
        "namaKursus": "Pelatihan Pengadaan Barang/Jasa",
        "institusiPenyelenggara": "Badan Kepegawaian Negara; Pemerintah Kota Bukittinggi", "jumlahJam": "24",
        "tanggalKursus": "02-03-2026", "tanggalSelesaiKursus": "05-03-2026", "tahunKursus": "2026",
        "nomorSertipikat": "0001/BKN-BKT/SERT-PBJ/2026"}]


def test_bad_filters_answer_422_naming_the_field(start, api):
    start()
    for path, field in [("/compliance?year=duaribu", "year"), ("/compliance?kind=kursus", "kind"),
                        ("/compliance?limit=0", "limit"), ("/compliance?per_page=0", "limit"),
                        ("/compliance?colour=red", "colour"), ("/exports/ledger.csv?nip=12", "nip")]:
        response = api.get(path)
        assert response.status_code == 422, path
        assert field in response.json()["errors"], path
    unknown_agency = api.get("/compliance?agency=DINAS-TIDAK-ADA")
    assert unknown_agency.status_code == 422 and unknown_agency.json()["field"] == "agency"
    for path in ("/compliance?cursor=abc", "/programmes?cursor=abc"):  # not a cursor this service gave out
        response = api.get(path)
        assert response.status_code == 422 and response.json()["field"] == "cursor", path


def test_openapi_documents_the_reporting_paths(start, api):
    start()
    paths = api.get("/openapi.json").json()["paths"]
    for path in ("/ledger/{nip}", "/compliance", "/programmes/{code}/stats", "/exports/compliance.csv",
                 "/exports/compliance.xlsx", "/exports/ledger.csv", "/exports/ledger-siasn.csv", "/dashboard"):
        assert path in paths
