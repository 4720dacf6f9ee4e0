"""SIASN's course-history record (riwayat kursus) downloaded from the running reporting service,
as CSV (the path operators already use) and as XLSX with the NIP kept as text."""
from __future__ import annotations

import csv
import io

import requests
from openpyxl import load_workbook

from tests.integration.reporting import scenario
from tests.integration.reporting.conftest import apply_directly, scenario_events
from tests.support import auth_headers

HEADER = ["nipBaru", "jenisDiklatId", "jenisKursusSertipikat", "namaKursus", "institusiPenyelenggara", "jumlahJam",
          "tanggalKursus", "tanggalSelesaiKursus", "tahunKursus", "nomorSertipikat"]
ORGANISERS = "Badan Kepegawaian Negara; Pemerintah Kota Bukittinggi"


def _csv(response) -> list[dict]:
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_the_siasn_csv_and_xlsx_carry_siasns_course_record_with_its_codes(start, store, cfg, api):
    apply_directly(store, scenario_events(scenario.with_roster()), cfg)
    start()

    one = api.get("/exports/ledger-siasn.csv", params={"year": 2026, "nip": scenario.A1["nip"]})
    assert one.headers["Content-Type"].startswith("text/csv")
    assert one.content.decode("utf-8-sig").splitlines()[0].split(",") == HEADER
    assert _csv(one) == [{
        "nipBaru": scenario.A1["nip"], "jenisDiklatId": "3", "jenisKursusSertipikat": "T",
        "namaKursus": "Pelatihan Pengadaan Barang/Jasa", "institusiPenyelenggara": ORGANISERS, "jumlahJam": "24",
        "tanggalKursus": "02-03-2026", "tanggalSelesaiKursus": "05-03-2026", "tahunKursus": "2026",
        "nomorSertipikat": "0001/BKN-BKT/SERT-PBJ/2026"}]

    # SETDA: B1's training certificate was revoked (no number goes to SIASN); the seminars are SIASN type 9, P.
    setda = _csv(api.get("/exports/ledger-siasn.csv", params={"year": 2026, "agency": "SETDA"}))
    expected = sorted([
        (scenario.B1["nip"], "3", "T", "Pelatihan Pengadaan Barang/Jasa", "24", ""),
        (scenario.B1["nip"], "9", "P", "Seminar Kepemimpinan", "4", ""),
        (scenario.B2["nip"], "9", "P", "Seminar Kepemimpinan", "4", "")])
    assert sorted((r["nipBaru"], r["jenisDiklatId"], r["jenisKursusSertipikat"], r["namaKursus"], r["jumlahJam"],
                   r["nomorSertipikat"]) for r in setda) == expected
    seminar = next(r for r in setda if r["nipBaru"] == scenario.B2["nip"])
    assert (seminar["tanggalKursus"], seminar["tanggalSelesaiKursus"]) == ("20-05-2026", "20-05-2026")

    response = api.get("/exports/ledger-siasn.xlsx", params={"year": 2026, "agency": "SETDA"})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert response.headers["Content-Disposition"] == 'attachment; filename="buku-jp-2026-SETDA-siasn.xlsx"'
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert [c.value for c in sheet[1]] == HEADER
    rows = [dict(zip(HEADER, r)) for r in sheet.iter_rows(min_row=2)]
    # the same records as the CSV, numbers as numbers
    assert sorted((r["nipBaru"].value, r["jenisDiklatId"].value, r["jenisKursusSertipikat"].value,
                   r["namaKursus"].value, str(r["jumlahJam"].value), r["nomorSertipikat"].value or "")
                  for r in rows) == expected
    for r in rows:  # an 18-digit NIP stays text: no 1.98503E+17, no lost digits
        assert (r["nipBaru"].data_type, r["nipBaru"].number_format, len(r["nipBaru"].value)) == ("s", "@", 18)
        assert (r["tahunKursus"].value, r["tahunKursus"].data_type) == (2026, "n")


def test_the_siasn_xlsx_keeps_an_operator_to_its_own_agency(start, store, cfg, api):
    apply_directly(store, scenario_events(scenario.with_roster()), cfg)
    start()
    setda = auth_headers("operator", agency="SETDA")
    other = api.get("/exports/ledger-siasn.xlsx", params={"year": 2026, "nip": scenario.A1["nip"]}, headers=setda)
    assert other.status_code == 403
    own = api.get("/exports/ledger-siasn.xlsx", params={"year": 2026}, headers=setda)
    assert own.status_code == 200
    nips = {r[0].value for r in load_workbook(io.BytesIO(own.content)).active.iter_rows(min_row=2)}
    assert nips == {scenario.B1["nip"], scenario.B2["nip"]}
    anonymous = requests.get(api.base_url + "/exports/ledger-siasn.xlsx", params={"year": 2026}, timeout=30)
    assert anonymous.status_code == 401
    paths = api.get("/openapi.json").json()["paths"]
    assert {"/exports/ledger-siasn.csv", "/exports/ledger-siasn.xlsx"} <= set(paths)
