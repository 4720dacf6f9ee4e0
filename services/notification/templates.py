"""Rendering of messages from the Jinja2 files under ``templates/`` (Bahasa Indonesia).

Each message kind has a folder with four files a non-programmer can edit:
``subject.txt`` (email subject), ``body.txt`` (plain text), ``body.html`` (HTML email,
extends ``_layout.html``) and ``short.txt`` (SMS / WhatsApp via the webhook).
Dates and times are shown in WIB with the filters ``tanggal``, ``waktu`` and ``jam``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATE_DIR = Path(__file__).with_name("templates")
PARTS = ("subject.txt", "body.txt", "body.html", "short.txt")

BULAN = ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September",
         "Oktober", "November", "Desember")
HARI = ("Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu")
PROGRAMME_KIND_LABELS = {
    "pelatihan": "Pelatihan", "sertifikasi": "Sertifikasi", "seminar": "Seminar", "lokakarya": "Lokakarya",
    "e-learning": "E-learning", "coaching": "Coaching", "mentoring": "Mentoring",
}
# Zone abbreviations as Indonesians write them.
ZONE_LABELS = {"Asia/Jakarta": "WIB", "Asia/Pontianak": "WIB", "Asia/Makassar": "WITA", "Asia/Jayapura": "WIT"}


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    short: str


def angka(value, decimals: int = 1) -> str:
    """A number as Indonesians write it: ``1.234,5``."""
    text = f"{float(value):,.{decimals}f}"
    return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")


class Renderer:
    def __init__(self, timezone: str = "Asia/Jakarta", directory: Path = TEMPLATE_DIR):
        self.tz = ZoneInfo(timezone)
        self.zone_label = ZONE_LABELS.get(timezone, timezone)
        self.env = Environment(
            loader=FileSystemLoader(str(directory)),
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
            undefined=StrictUndefined,  # a misspelt variable fails loudly instead of printing nothing
            trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False,
        )
        self.env.filters.update(tanggal=self.tanggal, waktu=self.waktu, jam=self.jam, angka=angka,
                                jenis=lambda kind: PROGRAMME_KIND_LABELS.get(kind, kind))

    def kinds(self) -> list[str]:
        return sorted(p.name for p in Path(self.env.loader.searchpath[0]).iterdir()
                      if p.is_dir() and not p.name.startswith("_"))

    def render(self, kind: str, context: dict) -> Rendered:
        parts = [self.env.get_template(f"{kind}/{part}").render(**context).strip() for part in PARTS]
        subject = " ".join(parts[0].split())  # a subject is one line
        return Rendered(subject=subject, text=parts[1] + "\n", html=parts[2] + "\n", short=parts[3])

    # -- filters: people see WIB, in Indonesian ------------------------------------------
    def _local(self, value) -> datetime | date | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value.replace("Z", "+00:00")) if "T" in value else date.fromisoformat(value)
        if isinstance(value, datetime):
            return value.astimezone(self.tz)
        return value

    def tanggal(self, value) -> str:
        """``Senin, 2 Maret 2026``."""
        local = self._local(value)
        if local is None:
            return "(belum ditentukan)"
        return f"{HARI[local.weekday()]}, {local.day} {BULAN[local.month - 1]} {local.year}"

    def jam(self, value) -> str:
        """``08.00 WIB``."""
        local = self._local(value)
        if local is None or not isinstance(local, datetime):
            return ""
        return f"{local:%H.%M} {self.zone_label}"

    def waktu(self, value) -> str:
        """``Senin, 2 Maret 2026 pukul 08.00 WIB``."""
        local = self._local(value)
        if local is None:
            return "(belum ditentukan)"
        if not isinstance(local, datetime):
            return self.tanggal(local)
        return f"{self.tanggal(local)} pukul {self.jam(local)}"
