"""The upload and marking rules of the operator console (issue 21): enrollment's reasons in Bahasa
Indonesia, the lines the page reads, a workbook turned into CSV with the sheet's row numbers, the
upload's size cap, and the marking table's rows and session."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timezone

import pytest
from openpyxl import Workbook

from services.portal import domain
from services.portal.adapters import uploads


def test_enrollments_english_reasons_are_read_in_bahasa_indonesia_and_its_own_words_kept():
    assert domain.reason_text("NIP must have 18 digits, got 5") == "NIP harus 18 angka (tertulis 5 angka)"
    assert domain.reason_text("not enrolled in PKP-1") == "tidak terdaftar pada program PKP-1"
    assert domain.reason_text("score 'x' is not a number") == "nilai 'x' bukan angka"
    own = "ASN ini tidak ada di daftar ASN aktif OPD DINKES: operator hanya dapat mendaftarkan ASN aktif"
    assert domain.reason_text(own) == own
    assert domain.reason_text("something new").startswith("ditolak oleh layanan pendaftaran (something new")


def test_a_rejected_line_gains_its_column_and_reason_and_the_summary_its_stop():
    line = domain.upload_line({"row": 3, "nip": "1", "accepted": False, "field": "score", "reason": "score 200 is "
                                                                                                    "outside 0-100"})
    assert line["kolom"] == "nilai" and line["alasan"] == "nilai 200 di luar 0–100"
    assert domain.upload_line({"row": 2, "accepted": True, "outcome": "created"})["hasil"] == "didaftarkan"
    summary = domain.upload_line({"summary": {"rows": 4, "error": "the data store became unavailable; upload"}})
    assert "unggah berkas yang sama" in summary["summary"]["pesan"]
    tally = domain.UploadTally(rejected_rows=[])
    for item in ({"total": 2}, line, {"row": 2, "accepted": True}, summary):
        tally.add(item)
    assert (tally.rows, tally.accepted, tally.rejected) == (2, 1, 1) and tally.stopped


def test_a_workbook_becomes_csv_line_for_sheet_row():
    book = Workbook()
    for row in (["NIP", "Nama"], ["198503152010011002", "Budi\nSantoso"], [None, None], [198503152010011002.0, "x"],
                [12, None]):
        book.active.append(row)
    data = io.BytesIO()
    book.save(data)
    upload = uploads.spool(io.BytesIO(data.getvalue()), 10_000_000, None, "application/octet-stream", "a.xlsx")
    assert upload.is_xlsx and not upload.is_old_excel
    converted = uploads.xlsx_as_csv(upload)
    text = converted.file.read().decode()
    lines = text.split("\n")
    assert lines[0] == "NIP,Nama" and lines[1] == "198503152010011002,Budi Santoso" and lines[2] == ""
    assert list(csv.reader([lines[3]]))[0][0] == repr(198503152010011002.0)  # an inexact number is not guessed
    assert lines[4] == "12" and converted.rows == 3 and converted.size == len(text.encode())


def test_an_upload_over_the_limit_is_refused_by_its_length_or_as_it_is_read():
    with pytest.raises(uploads.UploadTooLarge):
        uploads.spool(io.BytesIO(b"x"), 10, content_length=11)
    with pytest.raises(uploads.UploadTooLarge):
        uploads.spool(io.BytesIO(b"x" * 11), 10)
    assert uploads.spool(io.BytesIO(b"x" * 10), 10).size == 10
    assert domain.size_text(64 * 1024 * 1024) == "64 MB"


def test_the_upload_target_keeps_an_operators_full_import_to_its_own_opd():
    assert domain.upload_target("pendaftaran", "PKP-1", None, None, False, None) == \
        ("/programmes/PKP-1/enrolments/bulk", {})
    assert domain.upload_target("daftar-asn", None, "penuh", "DINKES", True, "DISKOMINFO") == \
        ("/roster/import", {"mode": "penuh", "kode_opd": "DISKOMINFO", "konfirmasi": "ya"})
    assert domain.upload_errors("daftar-asn", None, "penuh", "") == {
        "kode_opd": "Impor penuh memerlukan kode OPD yang daftar ASN-nya diganti."}
    assert set(domain.upload_errors("pendaftaran", None, None, None)) == {"program"}


def test_the_marking_table_session_rows_and_completions():
    sessions = [{"date": "2027-06-07"}, {"date": "2027-06-08"}, {"date": "2027-06-09"}]
    assert domain.marking_session(sessions, "2027-06-09", "2027-06-08") == "2027-06-09"
    assert domain.marking_session(sessions, None, "2027-06-08") == "2027-06-08"
    assert domain.marking_session(sessions, "1999-01-01", "2027-07-01") == "2027-06-09"
    assert domain.marking_session(sessions, None, "2027-01-01") == "2027-06-07"
    assert domain.marking_session([], None, "2027-01-01") is None
    form = {"hadir-a": "ya", "hadir-b": "tidak", "nilai-a": "85,5", "nilai-c": "101"}
    rows, errors = domain.marking_rows(form, ["a", "b", "c"], complete=True)
    assert rows == [{"enrolment_id": "a", "present": True, "score": 85.5},
                    {"enrolment_id": "b", "present": False, "score": None}] and set(errors) == {"c"}
    rows, errors = domain.marking_rows(form, ["a", "c"], complete=False)  # scores only with completions
    assert rows[1] == {"enrolment_id": "c", "present": None, "score": None} and errors == {}
    now = datetime(2027, 6, 10, tzinfo=timezone.utc)
    assert domain.completions_allowed({"kind": "pelatihan", "ends_at": "2027-06-09T10:00:00Z"}, now)
    assert not domain.completions_allowed({"kind": "pelatihan", "ends_at": "2027-06-11T10:00:00Z"}, now)
    assert domain.completions_allowed({"kind": "e-learning", "ends_at": "2027-12-31T10:00:00Z"}, now)
