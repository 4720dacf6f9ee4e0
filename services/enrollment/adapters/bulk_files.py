"""The files of the bulk uploads: CSV rows in (operators' spreadsheets), per-row results out.

Rows are read one by one from the spooled upload (the use case writes them in chunks while
the answer streams); results go back as NDJSON, or as CSV for a spreadsheet.
"""
from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterable, Iterator
from itertools import islice

from shared.errors import DomainError, Invalid

ENROLMENT_COLUMNS = {"nip": "nip", "nip_pppk": "nip", "ni_pppk": "nip", "name": "name", "nama": "name",
                     "agency": "agency", "opd": "agency", "instansi": "agency", "unit_kerja": "agency",
                     "position": "position", "jabatan": "position", "id_kind": "id_kind",
                     "reenrol": "reenrol", "re_enrol": "reenrol", "daftar_ulang": "reenrol"}
COMPLETION_COLUMNS = {"nip": "nip", "nip_pppk": "nip", "ni_pppk": "nip", "score": "score", "nilai": "score",
                      "attended": "attended", "hadir": "attended", "kehadiran": "attended"}
RESULT_COLUMNS = ("row", "nip", "accepted", "outcome", "note", "enrolment_id", "enrolment_status",
                  "waitlist_position", "result", "jp_earned", "field", "reason")


class TooManyRows(DomainError):
    """A CSV over the row cap: 413 with the code shared.http uses for a body over its limit."""

    status = 413
    code = "payload_too_large"


def read_rows(stream, aliases: dict[str, str], required: tuple[str, ...] = ("nip",)) -> Iterator[tuple[int, dict]]:
    """(line number, {column: value}) for each non-blank record of a CSV byte stream.

    UTF-8 (with or without BOM); ',' ';' or tab separated (Excel in an Indonesian locale
    writes ';'); headers are case-insensitive and accept Indonesian names (nama, opd, ...).
    The header is checked at once: Invalid(field="file") when it is unusable.
    """
    text = codecs.getreader("utf-8-sig")(stream, errors="strict")
    try:
        first = text.readline()
    except UnicodeDecodeError:
        raise Invalid("the file is not UTF-8 text; save the CSV as UTF-8", field="file") from None
    if not first.strip():
        raise Invalid("the file is empty; expected a header row with at least: " + ", ".join(required),
                      field="file")
    delimiter = _delimiter(first)
    header = next(csv.reader([first], delimiter=delimiter))
    columns = [aliases.get(h.strip().lower().replace(" ", "_")) for h in header]
    missing = [c for c in required if c not in columns]
    if missing:
        raise Invalid(f"the header row lacks the column(s) {', '.join(missing)}; found {', '.join(header)}",
                      field="file")
    return _records(csv.reader(text, delimiter=delimiter), columns)


def check_row_count(stream, max_rows: int) -> None:
    """TooManyRows (413) when the CSV holds more than ``max_rows`` records after its header.

    Counted before any row is written, so an upload over the cap changes nothing, and read
    no further than one record past the cap. The stream (a spooled upload) is rewound; a file
    that cannot be read is left for read_rows to explain.
    """
    start = stream.tell()
    try:
        text = codecs.getreader("utf-8-sig")(stream, errors="strict")
        delimiter = _delimiter(text.readline())
        records = (r for r in csv.reader(text, delimiter=delimiter) if any(cell.strip() for cell in r))
        over = sum(1 for _ in islice(records, max_rows + 1)) > max_rows
    except (UnicodeDecodeError, csv.Error):
        over = False
    stream.seek(start)
    if over:
        raise TooManyRows(f"the file has more than {max_rows} rows; upload at most {max_rows} rows at a time "
                          f"(split the file)", field="file", max_rows=max_rows)


def _delimiter(header_line: str) -> str:
    """',' ';' or tab, whichever the header row uses most (Excel in an Indonesian locale writes ';')."""
    return max((";", ",", "\t"), key=header_line.count) if any(d in header_line for d in ";,\t") else ","


def _records(reader, columns: list[str | None]) -> Iterator[tuple[int, dict]]:
    consumed = 0  # physical lines after the header; a quoted cell may span several
    for record in reader:
        line, consumed = consumed + 2, reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        row = {}
        for name, value in zip(columns, record):
            if name and name not in row:
                row[name] = value.strip()
        yield line, row


def ndjson(items: Iterable[dict]) -> Iterator[bytes]:
    """One JSON object a line; a row leaves out its empty fields."""
    for item in items:
        if "summary" not in item:
            item = {k: v for k, v in item.items() if v is not None}
        yield (json.dumps(item, ensure_ascii=False) + "\n").encode("utf-8")


def csv_lines(items: Iterable[dict]) -> Iterator[bytes]:
    """The results as CSV for a spreadsheet; the summary becomes a last comment-like row."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=RESULT_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for item in items:
        if "summary" in item:
            s = item["summary"]
            writer.writerow({"row": "summary", "reason": "; ".join(f"{k}={v}" for k, v in s.items())})
        else:
            writer.writerow({k: ("" if v is None else str(v).lower() if isinstance(v, bool) else v)
                             for k, v in item.items()})
        data = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        yield data.encode("utf-8")
