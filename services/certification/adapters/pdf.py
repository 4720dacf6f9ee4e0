"""The printable certificate: A4 landscape, Bahasa Indonesia, with a QR code of the public
verification URL (vector modules drawn from segno's matrix, so it scans at any zoom). Its
wording per kind and role, the holder's lines and the signatories come from ``domain``."""
from __future__ import annotations

import io

import segno
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.utils import simpleSplit
from reportlab.pdfgen.canvas import Canvas

from services.certification import domain
from services.certification.config import CertificationConfig
from shared.nip import printed as printed_nip
from shared.timefmt import month_name_id, parse_time, wib_date

PAGE_W, PAGE_H = landscape(A4)
NAVY = colors.HexColor("#12355b")
GOLD = colors.HexColor("#b08d2f")


def _date_range(starts_at: str | None, ends_at: str | None) -> str | None:
    if not starts_at or not ends_at:
        return None
    start = wib_date(parse_time(starts_at))
    end = wib_date(parse_time(ends_at))
    if start == end:
        return domain.date_id(start)
    if (start.year, start.month) == (end.year, end.month):
        return f"{start.day}\u2013{domain.date_id(end)}"
    if start.year == end.year:
        return f"{start.day} {month_name_id(start.month)} \u2013 {domain.date_id(end)}"
    return f"{domain.date_id(start)} \u2013 {domain.date_id(end)}"


def _centred_lines(canvas: Canvas, text: str, y: float, font: str, size: float, width: float,
                   leading: float | None = None) -> float:
    """Draw ``text`` wrapped and centred; returns the y below the last line."""
    canvas.setFont(font, size)
    for line in simpleSplit(text, font, size, width):
        canvas.drawCentredString(PAGE_W / 2, y, line)
        y -= leading or size * 1.3
    return y


def _qr(canvas: Canvas, url: str, x: float, y: float, size: float) -> None:
    qr = segno.make(url, error="m")
    matrix = qr.matrix
    modules = len(matrix) + 8  # quiet zone of four modules on each side
    cell = size / modules
    canvas.setFillColor(colors.white)
    canvas.rect(x, y, size, size, stroke=0, fill=1)
    canvas.setFillColor(colors.black)
    for row, bits in enumerate(matrix):
        for col, bit in enumerate(bits):
            if bit:
                canvas.rect(x + (col + 4) * cell, y + size - (row + 5) * cell, cell, cell, stroke=0, fill=1)


def organisers_text(programme: dict) -> str:
    names = domain.organiser_names(programme)
    return domain.join_id(names) if names else domain.organiser_names({"organisers": [domain.HOME_ORGANISER]})[0]


# The use case signs every PDF it serves (PAdES, adapters/pades.py), so the footer always says so.
FOOTER_TEXT = ("Dokumen ini ditandatangani secara elektronik. Keaslian dan keabsahannya dapat diverifikasi "
               "dengan memindai kode QR.")


def _signatories(certificate: dict, config: CertificationConfig) -> list[dict]:
    """The signatories stored when it was issued; for a certificate issued before they were
    stored, those configured for its programme's organisers today."""
    return certificate.get("signatories") or domain.signatories_for(certificate["programme"], config.signatories)


def _header(canvas: Canvas, text: str) -> None:
    """The organisers' names across the top: smaller when three long names need three lines."""
    size = 12 if len(simpleSplit(text, "Helvetica-Bold", 12, PAGE_W - 140)) <= 2 else 9.5
    _centred_lines(canvas, text, PAGE_H - 62, "Helvetica-Bold", size, PAGE_W - 140)


def render_certificate(certificate: dict, verification_url: str, config: CertificationConfig) -> bytes:
    """The certificate as PDF bytes (unsigned: the use case signs them)."""
    programme, holder = certificate["programme"], certificate["holder"]
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=(PAGE_W, PAGE_H), pageCompression=1)
    canvas.setTitle(f"Sertifikat {certificate['number']}")
    canvas.setAuthor(config.issuer_name)
    canvas.setSubject(programme["title"])

    canvas.setStrokeColor(NAVY)
    canvas.setLineWidth(4)
    canvas.rect(20, 20, PAGE_W - 40, PAGE_H - 40)
    canvas.setStrokeColor(GOLD)
    canvas.setLineWidth(1.2)
    canvas.rect(30, 30, PAGE_W - 60, PAGE_H - 60)

    canvas.setFillColor(NAVY)
    _header(canvas, " \u2022 ".join(name.upper() for name in domain.organiser_names(programme))
            or config.issuer_name.upper())
    canvas.setFont("Helvetica-Bold", 38)
    canvas.drawCentredString(PAGE_W / 2, PAGE_H - 118, "SERTIFIKAT")
    canvas.setFillColor(colors.black)
    canvas.setFont("Helvetica", 12)
    canvas.drawCentredString(PAGE_W / 2, PAGE_H - 140, f"Nomor: {certificate['number']}")

    canvas.drawCentredString(PAGE_W / 2, PAGE_H - 172, "diberikan kepada")
    canvas.setFillColor(NAVY)
    y = _centred_lines(canvas, holder["name"], PAGE_H - 204, "Helvetica-Bold", 24, PAGE_W - 160)
    canvas.setFillColor(colors.black)
    identity, position = domain.holder_lines(holder)
    y = _centred_lines(canvas, identity, y + 4, "Helvetica", 12, PAGE_W - 160)
    if position:
        y = _centred_lines(canvas, position, y + 1, "Helvetica", 11, PAGE_W - 200)

    wording = domain.wording(programme, domain.role_of(certificate))
    y = _centred_lines(canvas, wording.intro, y - 6, "Helvetica", 12, PAGE_W - 160)
    canvas.setFillColor(NAVY)
    y = _centred_lines(canvas, programme["title"], y - 4, "Helvetica-Bold", 16, PAGE_W - 180)
    if wording.role_line:
        y = _centred_lines(canvas, wording.role_line, y, "Helvetica-Bold", 13, PAGE_W - 180)
    canvas.setFillColor(colors.black)
    details = f"yang diselenggarakan oleh {organisers_text(programme)}"
    period = _date_range(programme.get("starts_at"), programme.get("ends_at"))
    if period:
        details += f" pada {period}"
    if programme.get("location"):
        details += f" di {programme['location']}"
    details += f", sebanyak {certificate['jp']} JP (jam pelajaran)."
    y = _centred_lines(canvas, details, y - 2, "Helvetica", 12, PAGE_W - 200)
    if certificate.get("valid_until"):
        _centred_lines(canvas, f"Sertifikat ini berlaku sampai dengan {domain.date_id(certificate['valid_until'])}.",
                       y - 2, "Helvetica-Oblique", 11, PAGE_W - 200)

    # Signatories on the right two thirds, the QR code bottom left.
    issued = domain.date_id(certificate["issued_on"])
    signatories = _signatories(certificate, config)
    area_left, area_right = 280, PAGE_W - 50
    column = (area_right - area_left) / max(1, len(signatories))
    canvas.setFont("Helvetica", 11)
    canvas.drawCentredString(area_right - column / 2, 178, f"{config.place}, {issued}")
    for index, signatory in enumerate(signatories):
        cx = area_left + column * (index + 0.5)
        _lines_at(canvas, signatory["role"], cx, 160, "Helvetica", 10, column - 16)
        canvas.setFont("Helvetica-Bold", 11)
        canvas.drawCentredString(cx, 82, signatory["name"])
        canvas.setLineWidth(0.6)
        canvas.setStrokeColor(colors.black)
        canvas.line(cx - min(90, column / 2 - 10), 78, cx + min(90, column / 2 - 10), 78)
        if signatory.get("nip"):
            canvas.setFont("Helvetica", 9)
            canvas.drawCentredString(cx, 66, f"NIP {printed_nip(signatory['nip'])}")

    _qr(canvas, verification_url, 52, 52, 118)
    canvas.setFont("Helvetica", 8)
    canvas.drawString(176, 98, "Pindai kode QR untuk")
    canvas.drawString(176, 88, "memverifikasi keaslian.")
    canvas.drawString(176, 74, "Kode verifikasi:")
    canvas.setFont("Helvetica-Bold", 8)
    canvas.drawString(176, 64, domain.display_code(certificate["verification_code"]))
    canvas.setFont("Helvetica-Oblique", 7.5)
    canvas.setFillColor(colors.HexColor("#444444"))
    canvas.drawCentredString(PAGE_W / 2, 38, FOOTER_TEXT)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _lines_at(canvas: Canvas, text: str, cx: float, y: float, font: str, size: float, width: float) -> None:
    canvas.setFont(font, size)
    for line in simpleSplit(text, font, size, width):
        canvas.drawCentredString(cx, y, line)
        y -= size * 1.25
