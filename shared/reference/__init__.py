"""Reference data shared by the services: the organisational units (OPD) of Kota Bukittinggi.

The CSV is demo data compiled from public sources (Perda 9/2016 as amended in 2022), not an
authoritative roster; see its provenance in docs/reference-data.md.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

OPD_CSV = Path(__file__).with_name("opd-bukittinggi.csv")


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
ORGANISER_LABELS = {"BKN": "Badan Kepegawaian Negara", "PEMKOT_BUKITTINGGI": "Pemerintah Kota Bukittinggi"}
