"""Security review of the reporting service (issue 17), each item as the attack it stops.

1. An operator exported another agency's ASN's ledger by naming their NIP in a ledger export.
2. Text from people (names, titles, places) reached CSV and XLSX exports as live formulas.
3. ``GET /ledger/<nip>`` answered 404 before its scope check: any operator could probe NIPs.
4. The other routes that take ``nip`` or ``agency`` answer the same for known and unknown values.
"""
from __future__ import annotations

import csv
import io
import uuid

import pytest
from openpyxl import load_workbook

from services.reporting.adapters import exports
from tests.integration.enrollment.factories import participant as enrolment_participant
from tests.security.conftest import ADMIN, OTHER, OWN, nip
from tests.support import auth_headers, publish_event, wait_for
from tests.unit.reporting import factory as f

OPERATOR = auth_headers("operator", agency=OWN)
YEAR = 2026
UNKNOWN_NIP = nip(777)  # well formed, never enrolled anywhere
LEDGER_EXPORTS = ("/exports/ledger.csv", "/exports/ledger.xlsx", "/exports/ledger-siasn.csv",
                  "/exports/ledger-siasn.xlsx")
FORMULA = '=HYPERLINK("http://evil.example","klik")'
TITLE = "@SUM(1+1)*cmd|' /C calc'!A0"
PLACE = "-2+3+cmd|' /C calc'!A0"
AGENCY_CODE = "+HACK"  # an agency code no OPD has, as an event may carry it


def _rows(response) -> list[dict]:
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def _sheet(response) -> list[list]:
    """Every cell of the first sheet (header included) as openpyxl read it back."""
    assert response.status_code == 200, response.text
    return [list(row) for row in load_workbook(io.BytesIO(response.content)).active.iter_rows()]


def _nips(path: str, response) -> list[str]:
    """The NIP column of a ledger export, whatever its format."""
    if path.endswith(".xlsx"):
        return [row[0].value for row in _sheet(response)[1:]]
    return [row.get("nip") or row["nipBaru"] for row in _rows(response)]  # SIASN's name for it: nipBaru


def _no_formula(cells: list[list]) -> None:
    formulas = [c.value for row in cells for c in row if c.data_type == "f"]
    assert formulas == [], formulas


def _same_answer(a, b, *sent: str) -> None:
    """Two refusals that differ at most in echoing the value (NIP, agency) the caller sent."""
    def shape(response):
        text = response.text
        for value in sent:
            text = text.replace(value, "<sent>")
        return response.status_code, text
    assert shape(a) == shape(b)


@pytest.fixture(scope="module")
def injected(platform) -> dict:
    """An ASN of DISKOMINFO named like a formula, completing a programme whose title and place
    are formulas too, put straight on the broker: the exports are tested whatever enrollment
    accepts at its input. A second ASN carries a formula as agency code (compliance export)."""
    amqp = platform.settings["reporting"].amqp_uri
    prog = f.programme(f"FX-{uuid.uuid4().hex[:6].upper()}", kind="seminar", jp=4, title=TITLE)
    prog["location"] = PLACE
    asn = f.participant(901, OWN, name=FORMULA)
    odd_agency = {**f.participant(902, OWN, name="Peserta Kode Aneh"), "agency": AGENCY_CODE, "agency_name": None}
    events = [f.published(prog)]
    for i, person in enumerate((asn, odd_agency)):
        enrolment = f"fx-{uuid.uuid4().hex[:8]}-{i}"
        events += [f.enrolled(enrolment, prog, person), f.completed(enrolment, prog, person, "passed")]
    for name, data in events:
        publish_event(amqp, f.service_of(name), name, data,
                      subject=data.get("enrolment_id") or data["programme"]["code"])
    for person in (asn, odd_agency):
        wait_for(lambda p=person: platform.call("reporting", "GET", f"/ledger/{p['nip']}?year={YEAR}",
                                                headers=ADMIN).json().get("years", [{}])[0].get("entries"),
                 timeout=30, message="reporting's ledger of the injected ASN")
    return {"nip": asn["nip"], "odd_agency_nip": odd_agency["nip"], "programme": prog["code"]}


# -- 1. a NIP does not widen an operator's export past its agency ----------------------------------
@pytest.mark.parametrize("path", LEDGER_EXPORTS)
def test_an_operator_cannot_export_another_agencys_asn_by_naming_their_nip(platform, path):
    stolen = platform.call("reporting", "GET", path, headers=OPERATOR,
                           params={"year": YEAR, "nip": platform.other_nip})
    assert stolen.status_code == 403, (path, stolen.status_code)
    assert stolen.json()["error"] == "forbidden" and stolen.json()["field"] == "nip"
    # nor by naming both the NIP and (its own, allowed) agency
    both = platform.call("reporting", "GET", path, headers=OPERATOR,
                         params={"year": YEAR, "nip": platform.other_nip, "agency": OWN})
    assert both.status_code == 403
    # an unknown NIP gets the same refusal, so the export cannot probe NIPs either
    unknown = platform.call("reporting", "GET", path, headers=OPERATOR, params={"year": YEAR, "nip": UNKNOWN_NIP})
    _same_answer(stolen, unknown, platform.other_nip, UNKNOWN_NIP)


@pytest.mark.parametrize("path", LEDGER_EXPORTS)
def test_an_operator_still_exports_its_own_staff_and_an_admin_anyone(platform, path):
    own = platform.call("reporting", "GET", path, headers=OPERATOR, params={"year": YEAR, "nip": platform.own_nip})
    other = platform.call("reporting", "GET", path, headers=ADMIN, params={"year": YEAR, "nip": platform.other_nip})
    assert set(_nips(path, own)) == {platform.own_nip}
    assert set(_nips(path, other)) == {platform.other_nip}
    # an admin naming a NIP and another agency gets the entries that are in both: none
    crossed = platform.call("reporting", "GET", path, headers=ADMIN,
                            params={"year": YEAR, "nip": platform.other_nip, "agency": OWN})
    assert _nips(path, crossed) == []


# -- 3. GET /ledger/<nip>: the scope before the lookup ---------------------------------------------
def test_an_operator_gets_the_same_403_for_another_agencys_nip_and_an_unknown_nip(platform):
    known = platform.call("reporting", "GET", f"/ledger/{platform.other_nip}", headers=OPERATOR)
    unknown = platform.call("reporting", "GET", f"/ledger/{UNKNOWN_NIP}", headers=OPERATOR)
    assert (known.status_code, unknown.status_code) == (403, 403), (known.text, unknown.text)
    assert known.json()["field"] == "nip"
    _same_answer(known, unknown, platform.other_nip, UNKNOWN_NIP)
    # the refusal does not say where the ASN works either
    assert OTHER not in known.text
    assert platform.call("reporting", "GET", f"/ledger/{platform.own_nip}", headers=OPERATOR).status_code == 200


def test_an_asn_gets_403_for_any_other_nip_known_or_not(platform):
    me = auth_headers("asn", nip=platform.own_nip)
    known = platform.call("reporting", "GET", f"/ledger/{platform.other_nip}", headers=me)
    unknown = platform.call("reporting", "GET", f"/ledger/{UNKNOWN_NIP}", headers=me)
    assert (known.status_code, unknown.status_code) == (403, 403), (known.text, unknown.text)
    _same_answer(known, unknown, platform.other_nip, UNKNOWN_NIP)
    assert platform.call("reporting", "GET", f"/ledger/{platform.own_nip}", headers=me).status_code == 200


def test_an_admin_still_learns_that_a_nip_is_unknown(platform):
    response = platform.call("reporting", "GET", f"/ledger/{UNKNOWN_NIP}", headers=ADMIN)
    assert response.status_code == 404 and response.json()["field"] == "nip"


# -- 4. the other routes taking an agency ------------------------------------------------------------
AGENCY_ROUTES = ("/compliance", "/certificates/monthly", "/exports/compliance.csv", "/exports/compliance.xlsx",
                 *LEDGER_EXPORTS, "/dashboard")


@pytest.mark.parametrize("path", AGENCY_ROUTES)
def test_an_operator_naming_another_agency_known_or_not_gets_the_same_403(platform, path):
    known = platform.call("reporting", "GET", path, headers=OPERATOR, params={"year": YEAR, "agency": OTHER})
    unknown = platform.call("reporting", "GET", path, headers=OPERATOR, params={"year": YEAR, "agency": "NOSUCHOPD"})
    assert (known.status_code, unknown.status_code) == (403, 403), (path, known.text, unknown.text)
    assert known.json()["field"] == unknown.json()["field"] == "agency"
    _same_answer(known, unknown, OTHER, "NOSUCHOPD")


@pytest.mark.parametrize("path", AGENCY_ROUTES)
def test_an_asn_gets_no_agency_figures_nor_exports_even_for_themself(platform, path):
    me = auth_headers("asn", nip=platform.own_nip)
    response = platform.call("reporting", "GET", path, headers=me,
                             params={"year": YEAR, "agency": OWN, "nip": platform.own_nip})
    assert response.status_code == 403 and response.json()["field"] == "role"


# -- 2. formulas in exports --------------------------------------------------------------------------
def test_the_ledger_csv_neutralises_a_formula_name_and_title(platform, injected):
    for headers in (ADMIN, OPERATOR):
        rows = _rows(platform.call("reporting", "GET", "/exports/ledger.csv", headers=headers,
                                   params={"year": YEAR, "nip": injected["nip"]}))
        assert len(rows) == 1
        assert rows[0]["nama"] == "'" + FORMULA
        assert rows[0]["nama_program"] == "'" + TITLE
        assert rows[0]["jp"] == "4"  # numbers are not touched


def test_the_siasn_csv_neutralises_a_formula_title(platform, injected):
    rows = _rows(platform.call("reporting", "GET", "/exports/ledger-siasn.csv", headers=OPERATOR,
                               params={"year": YEAR, "nip": injected["nip"]}))
    assert len(rows) == 1
    assert rows[0]["namaKursus"] == "'" + TITLE
    assert rows[0]["nipBaru"] == injected["nip"]


def test_the_ledger_xlsx_has_no_formula_cell(platform, injected):
    for params in ({"year": YEAR, "nip": injected["nip"]}, {"year": YEAR}):
        cells = _sheet(platform.call("reporting", "GET", "/exports/ledger.xlsx", headers=OPERATOR, params=params))
        _no_formula(cells)
        header = [c.value for c in cells[0]]
        row = next(dict(zip(header, r)) for r in cells[1:] if r[0].value == injected["nip"])
        assert row["nama"].value == "'" + FORMULA and row["nama"].data_type == "s"
        assert row["nama_program"].value == "'" + TITLE and row["nama_program"].data_type == "s"
        assert row["jp"].value == 4 and row["jp"].data_type == "n"


def test_the_compliance_exports_neutralise_a_formula_agency_code(platform, injected):
    def codes_once_listed() -> list[str] | None:
        rows = _rows(platform.call("reporting", "GET", "/exports/compliance.csv", headers=ADMIN,
                                   params={"year": YEAR}))
        codes = [r["kode_opd"] for r in rows]
        return codes if {AGENCY_CODE, "'" + AGENCY_CODE} & set(codes) else None

    # agency headcounts are folded from per-event deltas a moment after the event
    codes = wait_for(codes_once_listed, timeout=30, message="the injected agency in the compliance export")
    assert "'" + AGENCY_CODE in codes and AGENCY_CODE not in codes
    cells = _sheet(platform.call("reporting", "GET", "/exports/compliance.xlsx", headers=ADMIN, params={"year": YEAR}))
    _no_formula(cells)
    assert "'" + AGENCY_CODE in [r[1].value for r in cells[1:]]


def test_a_formula_name_given_to_enrollment_is_refused_there_or_neutralised_in_the_exports(platform):
    """Through the real front door: enrollment may refuse such a name at its input (then the
    injected-event tests above are what proves the exports); if it takes it, the exports hold it
    as inert text."""
    person = enrolment_participant(903, OWN, name=FORMULA)
    code = platform.publish()
    enrolled = platform.call("enrollment", "POST", f"/programmes/{code}/enrolments", headers=ADMIN, json=person)
    if enrolled.status_code in (400, 422):
        assert "name" in enrolled.text
        return
    assert enrolled.status_code == 201, enrolled.text
    platform.end_programme(code)  # a pelatihan's results are recorded once it has ended
    done = platform.call("enrollment", "POST", f"/enrolments/{enrolled.json()['id']}/completion", headers=ADMIN,
                         json={"score": 90})
    assert done.status_code in (200, 201), done.text
    wait_for(lambda: platform.call("reporting", "GET", f"/ledger/{person['nip']}?year={YEAR}",
                                   headers=ADMIN).json().get("years", [{}])[0].get("entries"),
             timeout=30, message="reporting's ledger of the enrolled ASN")
    params = {"year": YEAR, "nip": person["nip"]}
    rows = _rows(platform.call("reporting", "GET", "/exports/ledger.csv", headers=OPERATOR, params=params))
    assert rows[0]["nama"] == "'" + FORMULA
    cells = _sheet(platform.call("reporting", "GET", "/exports/ledger.xlsx", headers=OPERATOR, params=params))
    _no_formula(cells)
    assert cells[1][1].value == "'" + FORMULA


# -- 2. the writers themselves, for every export ---------------------------------------------------
TRIGGERS = ["=1+1", "+1+1", "-1+1", "@SUM(A1)", "\t=1+1", "\r=1+1", "\n=1+1", "\0=1+1"]


@pytest.mark.parametrize("text", TRIGGERS)
def test_every_formula_trigger_is_neutralised_in_csv(text):
    body = b"".join(exports.csv_stream(["teks", "angka"], [[text, -5]]))
    row = next(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert row["teks"] == "'" + text and row["angka"] == "-5"


@pytest.mark.parametrize("text", TRIGGERS)
def test_every_formula_trigger_is_neutralised_in_xlsx_and_numbers_stay_numbers(text):
    body = exports.xlsx_bytes("Uji", ["teks", "angka", "pecahan", "biasa", "galat"],
                              [[text, -5, -2.5, "Rahmat Hidayat", "#N/A"]])
    row = list(load_workbook(io.BytesIO(body)).active.iter_rows())[1]
    assert row[0].data_type == "s" and row[0].value.startswith("'")
    assert row[0].value[1:].strip("\t\r\n") == text.strip("\t\r\n\0")
    assert (row[1].value, row[1].data_type) == (-5, "n")
    assert (row[2].value, row[2].data_type) == (-2.5, "n")
    assert (row[3].value, row[3].data_type) == ("Rahmat Hidayat", "s")
    assert (row[4].value, row[4].data_type) == ("#N/A", "s")  # text, not a spreadsheet error


def test_compliance_rows_are_neutralised_too():
    report = {"year": YEAR, "target_jp": 20, "agencies": [
        {"agency": "=X", "agency_name": FORMULA, "known_asn": 1, "met_target": 0, "below_target": 1,
         "met_rate": 0.0, "jp_total": 0, "average_jp": None}]}
    rows = exports.compliance_rows(report)
    csv_row = next(csv.DictReader(io.StringIO(b"".join(exports.csv_stream(exports.COMPLIANCE_HEADER, rows))
                                              .decode("utf-8-sig"))))
    assert (csv_row["kode_opd"], csv_row["nama_opd"]) == ("'=X", "'" + FORMULA)
    cells = list(load_workbook(io.BytesIO(exports.xlsx_bytes("K", exports.COMPLIANCE_HEADER, rows)))
                 .active.iter_rows())
    _no_formula(cells)
    assert cells[1][2].value == "'" + FORMULA


def test_a_control_character_in_a_name_does_not_break_the_xlsx_export():
    body = exports.xlsx_bytes("Uji", ["nama"], [["Rah\x01mat"], ["\x02=1+1"]])
    cells = list(load_workbook(io.BytesIO(body)).active.iter_rows())
    assert [c[0].value for c in cells[1:]] == ["Rahmat", "'=1+1"]
