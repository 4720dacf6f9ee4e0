"""Valid test data for the enrollment service: NIPs, participants, programmes."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone


def nip(i: int, gender: int = 1) -> str:
    """The i-th structurally valid NIP (distinct for i < 999 * 10,000)."""
    birth = date(1970, 1, 1) + timedelta(days=i // 999)
    return f"{birth:%Y%m%d}{birth.year + 25}{(i % 12) + 1:02d}{gender}{i % 999 + 1:03d}"


def participant(i: int, agency: str = "DISKOMINFO", **overrides) -> dict:
    return {"nip": nip(i), "name": f"Peserta {i}", "agency": agency, "position": "Analis Kebijakan", **overrides}


def ts(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def programme(code: str, **overrides) -> dict:
    """A pelatihan that started an hour ago, runs a week, and is open for enrolment."""
    now = datetime.now(timezone.utc)
    body = {
        "code": code, "title": "Pelatihan Analisis Kebijakan Publik", "kind": "pelatihan",
        "competency_type": "manajerial", "jp": 24, "organisers": ["BKN", "PEMKOT_BUKITTINGGI"],
        "starts_at": ts(now - timedelta(hours=1)), "ends_at": ts(now + timedelta(days=7)),
        "location": "Aula Balai Kota Bukittinggi",
        "enrolment_opens_at": ts(now - timedelta(days=1)), "enrolment_closes_at": ts(now + timedelta(days=6)),
        "capacity": 30, "passing_score": 70,
    }
    body.update(overrides)
    return body


def upcoming(code: str, **overrides) -> dict:
    """A pelatihan that starts in four days (enrolment open now): a seat freed before its start
    still goes to the waitlist by itself (a started one's waits for an operator, ADR 0012)."""
    now = datetime.now(timezone.utc)
    return programme(code, **{"starts_at": ts(now + timedelta(days=4)), **overrides})
