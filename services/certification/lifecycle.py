"""Certificate commands inside transactions: issue, revoke, the expiry scan, and the reads
the HTTP endpoints need. Rules come from ``domain``; storage details from ``store``."""
from __future__ import annotations

import logging
import secrets
import uuid
from datetime import date, datetime, timedelta

from bson import ObjectId
from pymongo import DESCENDING

from shared.errors import NotFound
from shared.events.common import ParticipantSnapshot, ProgrammeSnapshot
from services.certification import domain
from services.certification.config import CertificationConfig
from services.certification.store import (CERTIFICATES, STATUS_LIST_COUNTER, ensure_counter, next_in_sequence,
                                          number_counter)

log = logging.getLogger(__name__)

_PROGRAMME_FIELDS = tuple(ProgrammeSnapshot().fields)
_HOLDER_FIELDS = tuple(ParticipantSnapshot().fields)
_NO_SUCH_ID = "0" * 24  # keeps the verification path the same for unknown codes


def verification_url(base_url: str, code: str) -> str:
    return f"{base_url.rstrip('/')}/verify/{code}"


def _snapshot(data: dict, fields: tuple[str, ...]) -> dict:
    # Producers may add optional fields to a version; keep what our own events may carry.
    return {k: data[k] for k in fields if k in data}


# -- issuing -------------------------------------------------------------------------------

def prepare_issue(db, completion: dict) -> None:
    """Outside the transaction: make sure the counters the issue will increment exist."""
    if domain.grants_certificate(completion):
        year = domain.wib_date(domain.parse_time(completion["completed_at"])).year
        ensure_counter(db, number_counter(year))
        ensure_counter(db, STATUS_LIST_COUNTER)


def issue_certificate(tx, completion: dict, config: CertificationConfig, base_url: str,
                      now: datetime) -> dict | None:
    """Issue the certificate a passed completion earns and emit ``certified``; None when it
    earns none or its enrolment already has one (a second completion event for it)."""
    if not domain.grants_certificate(completion):
        return None
    certificates = tx.db[CERTIFICATES]
    if certificates.find_one({"enrolment_id": completion["enrolment_id"]}, {"_id": 1}, session=tx.session):
        return None
    programme = _snapshot(completion["programme"], _PROGRAMME_FIELDS)
    holder = _snapshot(completion["participant"], _HOLDER_FIELDS)
    completed_at = domain.parse_time(completion["completed_at"])
    issued_on = domain.wib_date(completed_at)
    line = domain.competency_line(programme)
    # Both counters move in this transaction: a conflict with another replica retries the
    # whole transaction, an abort rolls the numbers back, so the sequence has no gaps.
    seq = next_in_sequence(tx, number_counter(issued_on.year))
    until = domain.valid_until(issued_on, programme.get("certificate_validity_months"))
    certificate = {
        "_id": str(ObjectId()),
        "number": domain.format_number(config.number_format, seq, issued_on.year,
                                       domain.number_line(programme, config.number_format)),
        "year": issued_on.year,
        "seq": seq,
        "line": line,
        "enrolment_id": completion["enrolment_id"],
        "verification_code": domain.new_verification_code(),
        "credential_id": str(uuid.uuid4()),
        "status_index": next_in_sequence(tx, STATUS_LIST_COUNTER),
        "identity_salt": secrets.token_hex(8),
        "holder": holder,
        "programme": programme,
        "jp": completion["jp_earned"],
        "score": completion.get("score"),
        "completed_at": completed_at,
        "issued_on": issued_on.isoformat(),
        "issued_at": now,
        "valid_until": until.isoformat() if until else None,
        "revoked": None,
        "supersedes": None,
        "superseded_by": None,
        "expiring_notified_at": None,
        "expired_notified_at": None,
    }
    # Recertification: the newest certificate of a holder's competency line supersedes the
    # others. Events may arrive out of order, so the new one may itself be the older.
    current = list(certificates.find({"holder.nip": holder["nip"], "line": line, "revoked": None,
                                      "superseded_by": None}, session=tx.session))
    newer = [c for c in current if domain.is_newer(c, certificate)]
    older = [c for c in current if not domain.is_newer(c, certificate)]
    if newer:
        certificate["superseded_by"] = max(newer, key=lambda c: (c["completed_at"], c["issued_at"]))["_id"]
        certificate["superseded_at"] = now
    if older:
        certificate["supersedes"] = max(older, key=lambda c: (c["completed_at"], c["issued_at"]))["_id"]
        certificates.update_many({"_id": {"$in": [c["_id"] for c in older]}},
                                 {"$set": {"superseded_by": certificate["_id"], "superseded_at": now}},
                                 session=tx.session)
    certificates.insert_one(certificate, session=tx.session)
    tx.emit("certified", certificate["_id"], {
        "certificate_id": certificate["_id"],
        "number": certificate["number"],
        "enrolment_id": certificate["enrolment_id"],
        "holder": holder,
        "programme": programme,
        "jp": certificate["jp"],
        "issued_on": certificate["issued_on"],
        "valid_until": certificate["valid_until"],
        "verification_url": verification_url(base_url, certificate["verification_code"]),
        "supersedes": certificate["supersedes"],
    })
    return certificate


# -- revocation ----------------------------------------------------------------------------

def revoke(tx, certificate_id: str, reason: str, actor: str, now: datetime) -> tuple[bool, dict]:
    """Revoke a certificate and emit ``revoked``. Idempotent: revoking a revoked certificate
    changes nothing and returns (False, certificate)."""
    certificates = tx.db[CERTIFICATES]
    certificate = certificates.find_one({"_id": certificate_id}, session=tx.session)
    if certificate is None:
        raise NotFound(f"no certificate {certificate_id}", field="certificate_id")
    if certificate.get("revoked"):
        return False, certificate
    certificate["revoked"] = {"reason": reason, "at": now, "by": actor}
    certificates.update_one({"_id": certificate_id, "revoked": None},
                            {"$set": {"revoked": certificate["revoked"]}}, session=tx.session)
    tx.emit("revoked", certificate_id, {
        "certificate_id": certificate_id, "number": certificate["number"], "holder": certificate["holder"],
        "programme": certificate["programme"], "reason": reason,
        "revoked_at": now.isoformat().replace("+00:00", "Z")})
    # The line's previous certificate stays superseded: revocation does not resurrect it.
    return True, certificate


# -- expiry scan ---------------------------------------------------------------------------

def _live(extra: dict) -> dict:
    return {"revoked": None, "superseded_by": None, **extra}


def _expiring_filter(today: date, notice_days: int) -> dict:
    last_day = (today + timedelta(days=notice_days)).isoformat()
    return _live({"expiring_notified_at": None,
                  "valid_until": {"$ne": None, "$gte": today.isoformat(), "$lte": last_day}})


def _expired_filter(today: date) -> dict:
    return _live({"expired_notified_at": None, "valid_until": {"$ne": None, "$lt": today.isoformat()}})


def claim_expiring(tx, certificate_id: str, today: date, notice_days: int, now: datetime) -> bool:
    """Mark and announce one certificate as expiring; False if another replica (or an
    earlier scan) already did. The claim and the event commit together."""
    claimed = tx.db[CERTIFICATES].find_one_and_update(
        {"_id": certificate_id, **_expiring_filter(today, notice_days)},
        {"$set": {"expiring_notified_at": now}}, session=tx.session)
    if claimed is None:
        return False
    tx.emit("expiring", certificate_id, {
        "certificate_id": certificate_id, "number": claimed["number"], "holder": claimed["holder"],
        "programme": claimed["programme"], "valid_until": claimed["valid_until"],
        "days_left": domain.days_left(claimed, today)})
    return True


def claim_expired(tx, certificate_id: str, today: date, now: datetime) -> bool:
    claimed = tx.db[CERTIFICATES].find_one_and_update(
        {"_id": certificate_id, **_expired_filter(today)},
        {"$set": {"expired_notified_at": now, "expiring_notified_at": now}}, session=tx.session)
    if claimed is None:
        return False
    tx.emit("expired", certificate_id, {
        "certificate_id": certificate_id, "number": claimed["number"], "holder": claimed["holder"],
        "programme": claimed["programme"], "valid_until": claimed["valid_until"]})
    return True


def run_expiry_scan(store, config: CertificationConfig, now: datetime) -> dict:
    """Emit ``expired`` and ``expiring`` once per certificate. Safe with several replicas
    scanning at once: each certificate is claimed atomically in its own transaction."""
    today = domain.wib_date(now)
    certificates = store.db[CERTIFICATES]
    counts = {"expired": 0, "expiring": 0}
    # Expired first: a certificate past its date gets `expired`, never a late `expiring`.
    for kind, query, claim in (
            ("expired", _expired_filter(today), lambda tx, cid: claim_expired(tx, cid, today, now)),
            ("expiring", _expiring_filter(today, config.expiry_notice_days),
             lambda tx, cid: claim_expiring(tx, cid, today, config.expiry_notice_days, now))):
        while True:
            ids = [d["_id"] for d in certificates.find(query, {"_id": 1}).limit(config.expiry_scan_batch)]
            claimed = 0
            for certificate_id in ids:
                if store.transaction(lambda tx, cid=certificate_id: claim(tx, cid)):
                    claimed += 1
            counts[kind] += claimed
            if len(ids) < config.expiry_scan_batch:
                break
    if any(counts.values()):
        log.info("expiry scan: %(expired)d expired, %(expiring)d expiring", counts)
    return counts


# -- reads ---------------------------------------------------------------------------------

def get_certificate(db, certificate_id: str) -> dict:
    certificate = db[CERTIFICATES].find_one({"_id": certificate_id})
    if certificate is None:
        raise NotFound(f"no certificate {certificate_id}", field="certificate_id")
    return certificate


def list_certificates(db, nip: str | None, programme: str | None, page: int, per_page: int,
                      agency: str | None = None) -> tuple[list[dict], int]:
    query: dict = {}
    if nip:
        query["holder.nip"] = nip
    if agency:
        query["holder.agency"] = agency
    if programme:
        query["programme.code"] = programme
    total = db[CERTIFICATES].count_documents(query)
    items = list(db[CERTIFICATES].find(query).sort([("issued_at", DESCENDING), ("_id", DESCENDING)])
                 .skip((page - 1) * per_page).limit(per_page))
    return items, total


def find_for_verification(db, code: str | None) -> tuple[dict | None, dict | None]:
    """The certificate with ``code`` and its successor. Unknown and malformed codes run the
    same two queries as known ones, so response time does not tell them apart."""
    certificate = db[CERTIFICATES].find_one({"verification_code": code or ""})
    successor_id = (certificate or {}).get("superseded_by") or _NO_SUCH_ID
    successor = db[CERTIFICATES].find_one({"_id": successor_id}, {"number": 1, "issued_on": 1,
                                                                  "verification_code": 1})
    return certificate, successor


def find_by_credential_id(db, credential_id: str | None) -> dict | None:
    return db[CERTIFICATES].find_one({"credential_id": credential_id or ""})


def revoked_status_indexes(db) -> list[int]:
    return [d["status_index"] for d in db[CERTIFICATES].find({"revoked": {"$ne": None}}, {"status_index": 1})]


def certificate_view(certificate: dict, today: date, base_url: str) -> dict:
    """The full certificate for admins and its holder (the HTTP API's representation)."""
    revoked = certificate.get("revoked")
    base = base_url.rstrip("/")
    return {
        "id": certificate["_id"],
        "number": certificate["number"],
        "status": domain.status_of(certificate, today),
        "enrolment_id": certificate["enrolment_id"],
        "holder": certificate["holder"],
        "programme": certificate["programme"],
        "jp": certificate["jp"],
        "issued_on": certificate["issued_on"],
        "issued_at": certificate["issued_at"],
        "valid_until": certificate.get("valid_until"),
        "verification_code": certificate["verification_code"],
        "verification_url": verification_url(base_url, certificate["verification_code"]),
        "revoked": ({"reason": revoked["reason"], "at": revoked["at"], "by": revoked["by"]} if revoked else None),
        "supersedes": certificate.get("supersedes"),
        "superseded_by": certificate.get("superseded_by"),
        "pdf_url": f"{base}/certificates/{certificate['_id']}/pdf",
        "credential_url": f"{base}/certificates/{certificate['_id']}/credential",
    }


def check_credential(db, document: dict, issuer, today: date) -> dict:
    """Verify a presented credential: the signature (by this issuer) and the certificate's
    status now. Only a valid signature over an unchanged document of a currently valid
    certificate is ``verified``."""
    from services.certification.credential import CredentialError, credential_id_of, verify_proof

    errors: list[str] = []
    try:
        verify_proof(document, issuer.did)
        signature_valid = True
    except CredentialError as exc:
        signature_valid = False
        errors.append(str(exc))
    certificate = find_by_credential_id(db, credential_id_of(document))
    status = domain.status_of(certificate, today) if certificate else domain.UNKNOWN
    if status != domain.VALID:
        errors.append(f"the certificate is {status}")
    return {"verified": signature_valid and status == domain.VALID, "signature_valid": signature_valid,
            "status": status, "errors": errors}
