"""The files of the bulk uploads: CSV rows in (operators' spreadsheets), per-row results out.

Rows are read one by one from the spooled upload (the use case writes them in chunks while
the answer streams); results go back as NDJSON, or as CSV for a spreadsheet. The roster
upload also takes an XLSX workbook (a SIASN export as Excel saves it), read here into the
same rows of text.
"""
from __future__ import annotations

import codecs
import csv
import io
import json
import re
import zipfile
from collections.abc import Iterable, Iterator
from itertools import chain, islice

from shared.spreadsheet import cell_text
from shared.errors import DomainError, Invalid

ENROLMENT_COLUMNS = {"nip": "nip", "nip_pppk": "nip", "ni_pppk": "nip", "name": "name", "nama": "name",
                     "agency": "agency", "opd": "agency", "instansi": "agency", "unit_kerja": "agency",
                     "position": "position", "jabatan": "position", "id_kind": "id_kind",
                     "reenrol": "reenrol", "re_enrol": "reenrol", "daftar_ulang": "reenrol",
                     "peran": "role", "role": "role"}  # peserta (also blank) or narasumber
COMPLETION_COLUMNS = {"nip": "nip", "nip_pppk": "nip", "ni_pppk": "nip", "score": "score", "nilai": "score",
                      "attended": "attended", "hadir": "attended", "kehadiran": "attended"}
RESULT_COLUMNS = ("row", "nip", "accepted", "outcome", "note", "enrolment_id", "enrolment_status",
                  "waitlist_position", "result", "jp_earned", "field", "reason")
ROSTER_RESULT_COLUMNS = ("row", "nip", "accepted", "outcome", "changed", "status", "field", "reason")

# The roster's columns (domain.read_roster_row) under the names operators and the SIASN
# export give them; headers are compared lower-case with spaces and punctuation as "_"
# ("NIP BARU" = nip_baru). First match wins when a file has two aliases of one column.
ROSTER_COLUMNS = {
    **{k: "nip" for k in ("nip", "nip_baru", "nipbaru", "nip_pppk", "ni_pppk", "nomor_induk_pegawai")},
    **{k: "nama" for k in ("nama", "name", "nama_lengkap", "nama_pegawai", "nama_asn")},
    **{k: "jenis_asn" for k in ("jenis_asn", "jenis_pegawai", "jenis_pegawai_nama", "jenis_kepegawaian")},
    **{k: "kode_opd" for k in ("kode_opd", "opd", "unor_id", "agency", "kode_unor", "kode_unit_kerja")},
    **{k: "nama_opd" for k in ("nama_opd", "unor_nama", "nama_unor", "unit_organisasi", "unit_kerja")},
    **{k: "jabatan" for k in ("jabatan", "jabatan_nama", "nama_jabatan", "position")},
    **{k: "golongan" for k in ("golongan", "pangkat", "gol_akhir_nama", "golongan_nama", "pangkat_golongan",
                               "golongan_ruang", "gol")},
    **{k: "nip_atasan" for k in ("nip_atasan", "nip_atasan_langsung", "atasan_nip", "nip_atasan_baru")},
    **{k: "status" for k in ("status", "kedudukan_hukum_nama", "kedudukan_hukum", "status_asn")},
    **{k: "email" for k in ("email", "e_mail", "surel", "alamat_email", "email_gov")},
    **{k: "telepon" for k in ("telepon", "nomor_hp", "no_hp", "hp", "telp", "no_telp", "no_telepon",
                              "nomor_telepon", "phone", "nomor_ponsel")},
    **{k: "tmt" for k in ("tmt", "tmt_cpns", "tmt_pppk", "tmt_asn")},
}
XLSX_TYPES = ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",)
_ZIP_MAGIC, _OLE_MAGIC = b"PK\x03\x04", b"\xd0\xcf\x11\xe0"
# What an XLSX may unpack to: a workbook of 10,000 roster rows is a few MB of XML; a small
# file unpacking to more is a zip bomb.
XLSX_MAX_UNPACKED = 256 * 1024 * 1024
# Rows above the header a spreadsheet may carry (a title, a date): the header is the first
# row naming a NIP column among these.
HEADER_SEARCH_ROWS = 10


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


def csv_lines(items: Iterable[dict], columns: tuple[str, ...] = RESULT_COLUMNS) -> Iterator[bytes]:
    """The results as CSV for a spreadsheet; the summary becomes a last comment-like row."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
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


# -- the roster upload: CSV or XLSX ------------------------------------------------------------

def roster_header_key(header: object) -> str:
    """A header cell as ROSTER_COLUMNS knows it: lower-case, runs of anything but letters and
    digits as one "_" ("NIP BARU" and "nip-baru" are nip_baru)."""
    return re.sub(r"[^0-9a-z]+", "_", str(header or "").strip().lower()).strip("_")


def is_xlsx(stream, content_type: str | None) -> bool:
    """Whether the upload is an XLSX workbook: by its content type, or by the zip magic of its
    first bytes (a form's file part often comes as application/octet-stream). The stream is
    rewound; an old binary .xls is refused here with what to do."""
    start = stream.tell()
    head = stream.read(4)
    stream.seek(start)
    if head == _OLE_MAGIC:
        raise Invalid("berkas .xls (Excel 97-2003) tidak didukung: simpan sebagai .xlsx atau CSV UTF-8",
                      field="file")
    return head == _ZIP_MAGIC or (content_type or "").split(";")[0].strip().lower() in XLSX_TYPES


def read_roster(stream, xlsx: bool, max_rows: int) -> list[tuple[int, dict]]:
    """Every non-blank row of a roster upload as (line or sheet row number, {column: text}).

    The header is checked at once (Invalid, field ``file``: no NIP column); a row has a key for
    every roster column the header carries, so a blank cell and a missing column differ. Over
    ``max_rows`` rows is TooManyRows (413) before anything is written.
    """
    records = _xlsx_records(stream) if xlsx else _csv_records(stream)
    header_line, columns = _roster_header(records)
    rows: list[tuple[int, dict]] = []
    for line, record in records:
        if not any(str(cell).strip() for cell in record):
            continue
        if len(rows) == max_rows:
            raise TooManyRows(f"berkas memuat lebih dari {max_rows} baris; unggah paling banyak {max_rows} baris "
                              f"sekaligus (pecah berkasnya)", field="file", max_rows=max_rows)
        row: dict[str, str] = {}
        for index, name in enumerate(columns):
            if name and name not in row:
                row[name] = str(record[index]).strip() if index < len(record) else ""
        rows.append((line, row))
    return rows


def _roster_header(records: Iterator[tuple[int, list]]) -> tuple[int, list[str | None]]:
    seen = []
    for line, record in islice(records, HEADER_SEARCH_ROWS):
        if not any(str(cell).strip() for cell in record):
            continue
        columns = [ROSTER_COLUMNS.get(roster_header_key(cell)) for cell in record]
        if "nip" in columns:
            return line, columns
        seen.append(", ".join(str(c) for c in record if str(c).strip()))
    if not seen:
        raise Invalid("berkas kosong; baris pertama harus judul kolom, paling sedikit: nip", field="file")
    raise Invalid(f"judul kolom tidak memuat kolom nip (atau nip_baru, NIP BARU); ditemukan: {seen[0][:300]}",
                  field="file")


def _csv_records(stream) -> Iterator[tuple[int, list]]:
    """(physical line, cells) of a CSV; the separator is the one the first line that has one
    uses most (a title line above the header has none)."""
    text = codecs.getreader("utf-8-sig")(stream, errors="strict")
    line = 0
    try:
        head: list[str] = []
        while len(head) < HEADER_SEARCH_ROWS and (read := text.readline()):
            head.append(read)
            if any(d in read for d in ";,\t"):
                break
        if not any(h.strip() for h in head):
            return
        delimiter = _delimiter(head[-1])
        reader = csv.reader(chain(head, text), delimiter=delimiter)
        consumed = 0  # physical lines read; a quoted cell may span several
        for record in reader:
            line, consumed = consumed + 1, reader.line_num
            yield line, record
    except UnicodeDecodeError:
        where = f" (setelah baris {line})" if line else ""
        raise Invalid(f"berkas bukan teks UTF-8{where}; simpan CSV sebagai UTF-8 atau unggah XLSX",
                      field="file") from None
    except csv.Error as exc:
        raise Invalid(f"berkas CSV tidak dapat dibaca setelah baris {line}: {exc}", field="file") from None


def _xlsx_records(stream) -> Iterator[tuple[int, list]]:
    """The first sheet's rows, cells as text (openpyxl, read-only: the sheet is streamed)."""
    from openpyxl import load_workbook  # only the roster upload needs it

    try:
        with zipfile.ZipFile(stream) as archive:
            if sum(member.file_size for member in archive.infolist()) > XLSX_MAX_UNPACKED:
                raise Invalid("berkas XLSX terlalu besar setelah dibuka; unggah paling banyak 10.000 baris",
                              field="file")
        stream.seek(0)
        workbook = load_workbook(stream, read_only=True, data_only=True)
    except Invalid:
        raise
    except Exception:  # a broken zip or workbook: openpyxl raises many kinds
        raise Invalid("berkas bukan XLSX yang dapat dibaca; simpan ulang dari Excel sebagai .xlsx atau CSV UTF-8",
                      field="file") from None
    try:
        sheet = workbook.worksheets[0]
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, [cell_text(v) for v in values]
    except Invalid:
        raise
    except Exception:
        raise Invalid("isi berkas XLSX tidak dapat dibaca; simpan ulang dari Excel sebagai .xlsx atau CSV UTF-8",
                      field="file") from None
    finally:
        workbook.close()


def roster_csv_lines(items: Iterable[dict]) -> Iterator[bytes]:
    """The roster upload's results as CSV for a spreadsheet (``changed`` joined by spaces)."""
    def flat(item: dict) -> dict:
        if isinstance(item.get("changed"), list):
            item = {**item, "changed": " ".join(item["changed"])}
        return item
    return csv_lines((flat(item) for item in items), ROSTER_RESULT_COLUMNS)
