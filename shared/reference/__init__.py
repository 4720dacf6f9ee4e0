"""Reference data shared by the services: the organisational units (OPD) of Kota Bukittinggi
and the organisers (penyelenggara) that run programmes for its ASN.

The CSV is demo data compiled from public sources (Perda 9/2016 as amended in 2022), not an
authoritative roster; see its provenance in docs/reference-data.md.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

OPD_CSV = Path(__file__).with_name("opd-bukittinggi.csv")
ORGANISERS_CSV = Path(__file__).with_name("organisers.csv")


@dataclass(frozen=True)
class Agency:
    code: str
    name: str
    kind: str


@lru_cache(maxsize=1)
def agencies() -> dict[str, Agency]:
    """OPD code → Agency, in the file's order."""
    with OPD_CSV.open(newline="", encoding="utf-8") as f:
        return {row["code"]: Agency(row["code"], row["name"], row["kind"]) for row in csv.DictReader(f)}


def agency(code: str) -> Agency | None:
    return agencies().get(code)


# How people read the platform's codes (exports, calendar files).
KIND_LABELS = {"pelatihan": "Pelatihan", "sertifikasi": "Sertifikasi", "seminar": "Seminar",
               "lokakarya": "Lokakarya/Workshop", "e-learning": "E-Learning", "coaching": "Coaching",
               "mentoring": "Mentoring"}
COMPETENCY_LABELS = {"teknis": "Teknis", "manajerial": "Manajerial", "sosial_kultural": "Sosial Kultural",
                     "pemerintahan": "Pemerintahan"}


@dataclass(frozen=True)
class Organiser:
    """A body that runs programmes (penyelenggara): the city, BKN, or a national or provincial
    body whose certification the city's ASN take (LKPP's PBJ certification, ANRI's archivists…)."""

    code: str  # the code in events and the API (``organisers``)
    name: str  # the full name printed on certificates
    issuer_code: str  # its part in a certificate number (``0042/BKN-BKT/…``)
    level: str  # pusat (national) or daerah (regional)
    source: str  # the regulation that makes it a body that develops ASN competency


@lru_cache(maxsize=1)
def organisers() -> dict[str, Organiser]:
    """Organiser code → Organiser, in the file's order (docs/reference-data.md says where each
    comes from). Adding a row is a compatible change of the event contract: subscribers
    tolerate new enum values."""
    with ORGANISERS_CSV.open(newline="", encoding="utf-8") as f:
        return {row["code"]: Organiser(**row) for row in csv.DictReader(f)}


ORGANISER_LABELS = {code: o.name for code, o in organisers().items()}
