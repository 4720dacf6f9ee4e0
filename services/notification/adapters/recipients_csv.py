"""Reading a recipient upload (``POST /recipients/bulk``): a CSV as agencies export it.

The separator may be ``,`` or ``;`` (Excel in Indonesian writes ``;``), a UTF-8 BOM is
allowed, header names are case-insensitive, blank lines are skipped, a NIP may be written
as printed (with spaces), and list cells (``channels``, ``opt_outs``) are split on ``|``,
``;``, ``,`` or spaces.
"""
from __future__ import annotations

import csv
import io
import re

from shared.errors import Invalid
from shared.nip import digits_only

CSV_COLUMNS = ("nip", "id_kind", "name", "agency", "email", "phone", "whatsapp", "channels", "opt_outs")
LIST_COLUMNS = ("channels", "opt_outs")
MAX_ROWS = 10_000
_LIST_SPLIT = re.compile(r"[|;,\s]+")


def parse_csv(raw: bytes) -> list[tuple[int, dict]]:
    """(line number, row) pairs; Invalid (422) naming ``body`` or ``header`` when unreadable."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid("the CSV must be UTF-8 encoded", field="body") from None
    if not text.strip():
        raise Invalid("the CSV is empty; expected a header line with at least the column nip", field="body")
    header_line = text.splitlines()[0]
    delimiter = ";" if header_line.count(";") > header_line.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    columns = [c.strip().lower() for c in (reader.fieldnames or [])]
    if "nip" not in columns:
        raise Invalid("the CSV header must contain the column nip", field="header")
    unknown = [c for c in columns if c and c not in CSV_COLUMNS]
    if unknown:
        raise Invalid(f"unknown column(s) {', '.join(unknown)}; known columns: {', '.join(CSV_COLUMNS)}",
                      field="header")
    reader.fieldnames = columns
    rows = []
    for row in reader:
        if not any((v or "").strip() for k, v in row.items() if k):
            continue  # a blank line
        rows.append((reader.line_num, row))
        if len(rows) > MAX_ROWS:
            raise Invalid(f"at most {MAX_ROWS} rows per upload", field="body")
    return rows


def read_rows(raw: bytes) -> list[tuple[int, str, dict]]:
    """(line number, NIP, request body of ``PUT /recipients/{nip}``) per row; the NIP as
    printed (``19850312 201001 1 002``) loses its spaces, so it is the same recipient."""
    return [(line, digits_only(row.get("nip") or ""), row_body(row)) for line, row in parse_csv(raw)]


def row_body(row: dict) -> dict:
    """The body a row stands for: empty cells are left out, list cells split and lower-cased."""
    body = {}
    for column in CSV_COLUMNS[1:]:
        value = (row.get(column) or "").strip()
        if column in LIST_COLUMNS:
            if value:
                body[column] = [v.lower() for v in _LIST_SPLIT.split(value) if v]
        elif value:
            body[column] = value
    return body
