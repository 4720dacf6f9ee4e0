"""Reading operators' CSV files: separators, BOM, Indonesian headers, line numbers."""
from __future__ import annotations

import io

import pytest

from services.enrollment import usecases
from services.enrollment.adapters import bulk_files as bulk
from services.enrollment.domain import parse_reenrol
from shared.errors import Invalid


def rows(text: str, aliases=bulk.ENROLMENT_COLUMNS) -> list:
    return list(bulk.read_rows(io.BytesIO(text.encode("utf-8")), aliases))


def test_indonesian_headers_and_semicolons_from_excel_are_understood():
    assert rows("\ufeffNIP;Nama;OPD;Jabatan\n1;Rina;DINKES;Bidan\n") == [
        (2, {"nip": "1", "name": "Rina", "agency": "DINKES", "position": "Bidan"})]


def test_line_numbers_match_the_spreadsheet_even_with_blank_and_multi_line_rows():
    text = 'nip,nama\n1,A\n\n2,"B\nC"\n3,D\n'
    assert [(line, row["nip"]) for line, row in rows(text)] == [(2, "1"), (4, "2"), (6, "3")]


def test_unknown_columns_are_ignored_and_cells_trimmed():
    assert rows("nip, nama ,catatan\n 1 , A ,x\n") == [(2, {"nip": "1", "name": "A"})]


@pytest.mark.parametrize("text, words", [("", "empty"), ("nama,opd\nA,B\n", "nip")])
def test_a_file_without_a_usable_header_is_refused_as_a_whole(text, words):
    with pytest.raises(Invalid) as err:
        rows(text)
    assert err.value.field == "file" and words in err.value.message


def test_completion_columns_accept_nilai_and_hadir():
    assert rows("NIP,Nilai,Hadir\n1,\"80,5\",ya\n", bulk.COMPLETION_COLUMNS) == [
        (2, {"nip": "1", "score": "80,5", "attended": "ya"})]


def test_the_summary_counts_outcomes_and_a_broken_file_ends_with_an_error_line():
    def results():
        yield {"accepted": True, "outcome": "created"}
        yield {"accepted": False}
        raise UnicodeDecodeError("utf-8", b"\xe9", 0, 1, "invalid continuation byte")
    *items, last = usecases.with_summary(results())
    assert len(items) == 2
    summary = last["summary"]
    assert (summary["rows"], summary["accepted"], summary["rejected"], summary["created"]) == (2, 1, 1, 1)
    assert "cannot be read past row 3" in summary["error"]


def test_a_reenrol_column_is_read_and_only_ya_re_enrols_a_cancelled_asn():
    assert rows("nip,daftar_ulang\n1,Ya\n2,\n")[0][1] == {"nip": "1", "reenrol": "Ya"}
    assert [parse_reenrol(v) for v in ("ya", "TRUE", "1", "", None, "tidak", "0")] == \
        [True, True, True, False, False, False, False]
    with pytest.raises(Invalid) as err:
        parse_reenrol("mungkin")
    assert err.value.field == "reenrol"


def test_the_row_cap_counts_records_not_blank_lines_and_rewinds():
    stream = io.BytesIO(b"nip,nama\n1,A\n\n2,\"B\nC\"\n3,D\n")
    bulk.check_row_count(stream, 3)
    assert stream.tell() == 0
    with pytest.raises(bulk.TooManyRows) as err:
        bulk.check_row_count(stream, 2)
    assert (err.value.status, err.value.field, err.value.details) == (413, "file", {"max_rows": 2})
    assert stream.tell() == 0
