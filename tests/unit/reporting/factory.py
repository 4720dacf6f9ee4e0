"""Builders of the public events reporting consumes, for unit and integration tests."""
from __future__ import annotations

import copy
import uuid

from shared.events import envelope, registry
from shared.events.common import EXAMPLE_PROGRAMME
from shared.reference import agencies


def nip(i: int, gender: int = 1) -> str:
    """A structurally valid NIP: born 1985-MM-DD, CPNS 2010-MM, sequence i."""
    return f"1985{(i % 12) + 1:02d}{(i % 28) + 1:02d}2010{(i % 12) + 1:02d}{gender}{i % 1000:03d}"


def participant(i: int, agency: str = "DISKOMINFO", name: str | None = None) -> dict:
    return {"nip": nip(i), "id_kind": "nip", "name": name or f"ASN {i}", "agency": agency,
            "agency_name": agencies()[agency].name if agency in agencies() else None, "position": None}


def programme(code: str, kind: str = "pelatihan", competency_type: str = "teknis", jp: int = 12,
              starts_at: str = "2026-03-02T01:00:00Z", ends_at: str = "2026-03-05T09:00:00Z",
              title: str | None = None, certificate: bool = False) -> dict:
    p = copy.deepcopy(EXAMPLE_PROGRAMME)
    p.update(code=code, kind=kind, competency_type=competency_type, jp=jp, starts_at=starts_at, ends_at=ends_at,
             title=title or f"Program {code}", grants_certificate=certificate,
             certificate_validity_months=36 if certificate else None, certification_line=None)
    return p


def published(prog: dict, capacity: int = 30, opens: str = "2026-01-05T00:00:00Z",
              closes: str = "2026-02-20T16:59:59Z", name: str = "programme_published") -> tuple[str, dict]:
    return name, {"programme": prog, "capacity": capacity, "enrolment_opens_at": opens,
                  "enrolment_closes_at": closes, "passing_score": 70.0}


def _role(role: str | None) -> dict:
    # Events from before roles existed have none (their consumers read peserta).
    return {"role": role} if role else {}


def enrolled(enrolment_id: str, prog: dict, person: dict, at: str = "2026-01-10T02:15:00Z",
             promoted: bool = False, role: str | None = None) -> tuple[str, dict]:
    return "enrolled", {"enrolment_id": enrolment_id, "programme": prog, "participant": person,
                        "enrolled_at": at, "promoted_from_waitlist": promoted, **_role(role)}


def waitlisted(enrolment_id: str, prog: dict, person: dict, at: str = "2026-01-10T02:15:00Z",
               position: int = 1) -> tuple[str, dict]:
    return "waitlisted", {"enrolment_id": enrolment_id, "programme": prog, "participant": person,
                          "position": position, "waitlisted_at": at}


def cancelled(enrolment_id: str, prog: dict, person: dict, at: str = "2026-01-20T04:00:00Z",
              previous: str = "enrolled") -> tuple[str, dict]:
    return "cancelled", {"enrolment_id": enrolment_id, "programme": prog, "participant": person,
                         "previous_status": previous, "reason": "Tugas dinas luar kota",
                         "cancelled_by": "participant", "cancelled_at": at}


def completed(enrolment_id: str, prog: dict, person: dict, result: str = "passed",
              at: str = "2026-03-05T09:30:00Z", jp: int | None = None, role: str | None = None) -> tuple[str, dict]:
    passed = result == "passed"
    return "completed", {"enrolment_id": enrolment_id, "programme": prog, "participant": person,
                         "result": result, "passed": passed, "attended": result != "no_show",
                         "score": 85.0 if passed else (40.0 if result == "failed" else None),
                         "jp_earned": (prog["jp"] if jp is None else jp) if passed else 0, "completed_at": at,
                         **_role(role)}


def certified(certificate_id: str, enrolment_id: str, prog: dict, person: dict, number: str,
              issued_on: str = "2026-03-05", valid_until: str | None = "2029-03-05") -> tuple[str, dict]:
    return "certified", {"certificate_id": certificate_id, "number": number, "enrolment_id": enrolment_id,
                         "holder": person, "programme": prog, "jp": prog["jp"], "issued_on": issued_on,
                         "valid_until": valid_until,
                         "verification_url": f"http://127.0.0.1:8002/verify/{certificate_id}", "supersedes": None}


def revoked(certificate_id: str, prog: dict, person: dict, number: str,
            at: str = "2026-04-01T03:00:00Z") -> tuple[str, dict]:
    return "revoked", {"certificate_id": certificate_id, "number": number, "holder": person, "programme": prog,
                       "reason": "Data peserta tidak sesuai", "revoked_at": at}


SOURCE = {"certified": "certification", "revoked": "certification", "expiring": "certification",
          "expired": "certification"}


def service_of(name: str) -> str:
    return SOURCE.get(name, "enrollment")


def cloud_event(name: str, data: dict, time: str | None = None, event_id: str | None = None) -> dict:
    definition = registry.latest(service_of(name), name)
    subject = (data.get("enrolment_id") or data.get("certificate_id") or (data.get("asn") or {}).get("nip")
               or data["programme"]["code"])
    return envelope.new_event(definition, subject, data, event_id=event_id or str(uuid.uuid4()), time=time)


def parsed(event: dict):
    return envelope.parse(envelope.encode(event), "application/json")


# -- the roster (daftar ASN): asn_registered / asn_updated / asn_left -----------------------------
def roster_entry(person: dict, version: int = 1, status: str = "aktif", jenis_asn: str = "PNS",
                 tmt: str | None = None, supervisor: str | None = None, golongan: str | None = "III/a",
                 agency: str | None = None) -> dict:
    """The roster entry of ``person`` (a ``participant``), optionally in another agency."""
    agency = agency or person["agency"]
    return {"nip": person["nip"], "id_kind": person.get("id_kind") or "nip", "name": person["name"],
            "jenis_asn": jenis_asn, "agency": agency,
            "agency_name": agencies()[agency].name if agency in agencies() else None,
            "position": person.get("position"), "golongan": golongan, "supervisor_nip": supervisor,
            "status": status, "tmt": tmt, "version": version}


def registered(entry: dict, at: str = "2026-01-05T02:00:00Z") -> tuple[str, dict]:
    return "asn_registered", {"asn": entry, "registered_at": at}


def updated(entry: dict, changed: list[str], at: str = "2026-04-01T02:00:00Z") -> tuple[str, dict]:
    return "asn_updated", {"asn": entry, "changed": changed, "updated_at": at}


def left(entry: dict, at: str = "2026-07-01T02:00:00Z") -> tuple[str, dict]:
    return "asn_left", {"asn": entry, "left_at": at, "reason": entry["status"]}
