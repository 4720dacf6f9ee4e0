"""CSV and XLSX exports for agency operators (headers in Bahasa Indonesia, dates in WIB).

The SIASN export is SIASN's course-history record (*riwayat kursus*, the body of its
``kursus/save`` service) field for field, so an agency can carry each course to the national
system: SIASN's training-type codes come from configuration (siasn_kursus.yaml), dates are
dd-mm-yyyy as that service takes them. The ids SIASN assigns itself (``pnsOrangId``,
``instansiId``) are not known here; ``nipBaru`` identifies the ASN instead.
docs/reference-data.md ("Riwayat kursus SIASN") cites the sources.
"""
from __future__ import annotations

import csv
import io
from typing import Any, Iterable, Iterator

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from werkzeug.wrappers import Response

from shared.reference import COMPETENCY_LABELS, KIND_LABELS, organisers
from shared.timefmt import wib, wib_date

from services.reporting.config import SiasnMapping
from services.reporting.domain import agency_name, role_label


# The roster's columns (issue 19) come last, so spreadsheets reading the earlier ones by
# position keep working.
COMPLIANCE_HEADER = ["tahun", "kode_opd", "nama_opd", "asn_terdata", "asn_memenuhi_target", "asn_di_bawah_target",
                     "persen_memenuhi", "total_jp", "rata_rata_jp", "target_jp", "asn_terdaftar",
                     "asn_di_luar_daftar", "belum_pernah_ikut"]
LEDGER_HEADER = ["nip", "nama", "kode_opd", "nama_opd", "tahun", "kode_program", "nama_program", "jenis_program",
                 "jenis_kompetensi", "jp", "tanggal_selesai", "nilai", "nomor_sertifikat", "status_sertifikat",
                 "peran"]
NEVER_ENROLLED_HEADER = ["tahun", "nip", "nama", "jenis_asn", "golongan", "jabatan", "kode_opd", "nama_opd", "tmt",
                         "nip_atasan"]
# The fields of SIASN's riwayat kursus that the platform knows, under SIASN's own names.
SIASN_HEADER = ["nipBaru", "jenisDiklatId", "jenisKursusSertipikat", "namaKursus", "institusiPenyelenggara",
                "jumlahJam", "tanggalKursus", "tanggalSelesaiKursus", "tahunKursus", "nomorSertipikat"]
# Columns an XLSX keeps as text: an 18-digit NIP typed as a number shows as 1.98503E+17 and loses
# its last digits; codes and certificate numbers are identifiers, not quantities.
SIASN_TEXT_COLUMNS = frozenset({"nipBaru", "jenisDiklatId", "jenisKursusSertipikat", "nomorSertipikat"})
LEDGER_TEXT_COLUMNS = frozenset({"nip", "nomor_sertifikat"})


def compliance_rows(report: dict) -> list[list]:
    rows = []
    for r in report["agencies"]:
        rows.append([report["year"], r["agency"], r["agency_name"] or "", r["known_asn"], r["met_target"],
                     r["below_target"], round((r["met_rate"] or 0) * 100, 1), r["jp_total"],
                     r["average_jp"] if r["average_jp"] is not None else 0, report["target_jp"],
                     r.get("rostered_asn", 0), r.get("unlisted_asn", 0), r.get("never_enrolled", 0)])
    return rows


def ledger_row(entry: dict) -> list:
    return [entry["nip"], entry.get("name") or "", entry.get("agency") or "", agency_name(entry.get("agency")) or "",
            entry["year"], entry["programme_code"], entry.get("programme_title") or "",
            KIND_LABELS.get(entry.get("kind"), entry.get("kind") or ""),
            COMPETENCY_LABELS.get(entry.get("competency_type"), entry.get("competency_type") or ""),
            entry["jp"], wib_date(entry["completed_at"]).isoformat(),
            entry.get("score") if entry.get("score") is not None else "",
            entry.get("certificate_number") or "", entry.get("certificate_status") or "",
            role_label(entry.get("role"))]


def never_enrolled_row(year: int, asn: dict) -> list:
    """A row of the never-enrolled export; the NIP stays text (18 digits would lose precision
    as a number in a spreadsheet)."""
    return [year, str(asn["nip"]), asn.get("name") or "", asn.get("jenis_asn") or "", asn.get("golongan") or "",
            asn.get("position") or "", asn.get("agency") or "", asn.get("agency_name") or "", asn.get("tmt") or "",
            asn.get("supervisor_nip") or ""]


def _dmy(dt) -> str:
    return wib(dt).strftime("%d-%m-%Y") if dt else ""


def organiser_names(codes) -> str:
    """The organisers' full names (shared.reference), as SIASN's free-text institusiPenyelenggara."""
    known = organisers()
    return "; ".join(known[c].name if c in known else c for c in codes or [])


def siasn_row(entry: dict, mapping: SiasnMapping) -> list:
    """A ledger entry as SIASN's riwayat kursus, in SIASN_HEADER's order. A kind the mapping does
    not know leaves both codes empty (SIASN then refuses the row, rather than filing it under a
    wrong type); a revoked certificate's number is left out, as it no longer attests the course."""
    course_type = mapping.course_type(entry.get("kind"), entry.get("competency_type"))
    certificate = entry.get("certificate_number") if entry.get("certificate_status") != "revoked" else None
    return [str(entry["nip"]),
            str(course_type.jenis_diklat_id) if course_type else "",
            course_type.jenis_kursus_sertipikat if course_type else "",
            entry.get("programme_title") or "",
            organiser_names(entry.get("organisers")),
            entry["jp"],
            _dmy(entry.get("starts_at") or entry["completed_at"]),
            _dmy(entry.get("ends_at") or entry["completed_at"]),
            entry["year"],
            certificate or ""]


# Spreadsheet formula injection (OWASP "CSV Injection", ASVS 1.2.10): Excel, LibreOffice and
# Sheets take a cell starting with one of these for a formula when an export is opened, and
# names and titles in the exports come from people (a participant named
# ``=HYPERLINK("http://evil.example","klik")`` would be a live link in the operator's sheet).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "\0")


def neutralise(value: Any) -> Any:
    """``value`` safe to put in a spreadsheet cell: text starting with a formula trigger gets a
    leading ``'`` (OWASP's advice: the spreadsheet then shows it as text). Numbers, dates and
    None are left alone, so -5 stays a number."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def _xlsx_text(value: Any) -> str:
    # Control characters XML cannot carry would make openpyxl refuse the whole export.
    return neutralise(ILLEGAL_CHARACTERS_RE.sub("", value))


def _xlsx_text_cell(sheet, value: Any) -> WriteOnlyCell:
    """A cell a spreadsheet keeps as text: a string value in a cell formatted "@" (Text), so an
    18-digit NIP is neither shown as 1.98503E+17 nor turned into a number when edited."""
    cell = WriteOnlyCell(sheet, value=_xlsx_text("" if value is None else str(value)))
    cell.data_type = "s"
    cell.number_format = "@"
    return cell


def _xlsx_value(sheet, value: Any) -> Any:
    """A row value for the XLSX writer: text neutralised and never typed as a formula."""
    if not isinstance(value, str):
        return value
    text = _xlsx_text(value)
    # openpyxl types text itself: "=..." as a formula, "#N/A" etc. as an error. Text that could
    # be read that way is written as an explicit string cell; plain text stays a plain value
    # (a cell object per value costs half as much again on a large export).
    if text.startswith(("'", "#")):
        cell = WriteOnlyCell(sheet, value=text)
        cell.data_type = "s"
        return cell
    return text


def csv_stream(header: list[str], rows: Iterable[list]) -> Iterator[bytes]:
    """CSV in chunks; the BOM lets spreadsheet programs read the UTF-8 names correctly."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow([neutralise(value) for value in row])
        count += 1
        if count % 500 == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def xlsx_bytes(title: str, header: list[str], rows: Iterable[list],
               text_columns: frozenset[str] = frozenset()) -> bytes:
    """One sheet ``title``: ``header`` in bold, then ``rows``; the columns named in
    ``text_columns`` as text cells."""
    text_at = {i for i, name in enumerate(header) if name in text_columns}
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title[:31])
    bold = Font(bold=True)
    header_cells = []
    for name in header:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = bold
        header_cells.append(cell)
    sheet.append(header_cells)
    for row in rows:
        sheet.append([_xlsx_text_cell(sheet, value) if i in text_at else _xlsx_value(sheet, value)
                      for i, value in enumerate(row)])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def table(name: str, sheet_title: str, header: list[str], rows: Iterable[list], form: str,
          text_columns: frozenset[str] = frozenset()) -> Response:
    """``rows`` under ``header`` as a download: ``name``.xlsx (one sheet; ``text_columns`` kept as
    text) or ``name``.csv."""
    if form == "xlsx":
        return download(xlsx_bytes(sheet_title, header, rows, text_columns), f"{name}.xlsx", XLSX_MIMETYPE)
    return download(csv_stream(header, rows), f"{name}.csv", "text/csv")


def download(body, filename: str, mimetype: str) -> Response:
    """An export as a file download (``body``: bytes or an iterator of chunks)."""
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{filename}"'})
