"""Certificate commands inside transactions: record and number issues, revoke, the expiry
scan, and the reads the HTTP endpoints need. Rules come from ``domain``; storage details from ``store``."""
from __future__ import annotations

import logging
import secrets
import time
import uuid
from datetime import date, datetime, timedelta
from itertools import groupby
from typing import Callable

from bson import ObjectId
from prometheus_client import Counter, Gauge
from pymongo import ASCENDING, DESCENDING

from shared.errors import NotFound
from shared.events.common import ParticipantSnapshot, ProgrammeSnapshot
from shared.outbox import LEASES, Lease
from shared.store import update_by_id
from services.certification import domain
from services.certification.config import CertificationConfig
from services.certification.store import (CERTIFICATES, PENDING_ISSUES, STATUS_LIST_COUNTER, advance,
                                          ensure_counter, number_counter)

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
# A passed completion becomes a *pending issue* in the event's own transaction; the
# numbering pass, run by whichever replica holds the numbering lease, turns pending issues
# into numbered certificates in batches, moving each counter once per batch (ADR 0025).

NUMBERING_LEASE = "certificate-numbering"

PENDING_BACKLOG = Gauge("asn_certification_pending_issues",
                        "Passed completions waiting for a certificate number (seen by the numbering lease holder)")
NUMBERING_LEADER = Gauge("asn_certification_numbering_leader", "1 when this replica holds the numbering lease")
CERTIFICATES_ISSUED = Counter("asn_certificates_issued_total", "Certificates numbered and issued by this replica")


def record_pending_issue(tx, completion: dict, now: datetime) -> bool:
    """Inside the ``completed`` event's transaction: remember a completion that earns a
    certificate, to be numbered later. No counter is touched here, so concurrent events
    never conflict on one. False when it earns none, or its enrolment already has a
    certificate or a pending issue (a second completion event for it)."""
    if not domain.grants_certificate(completion):
        return False
    enrolment_id = completion["enrolment_id"]
    if tx.db[CERTIFICATES].find_one({"enrolment_id": enrolment_id}, {"_id": 1}, session=tx.session):
        return False
    pending = tx.db[PENDING_ISSUES]
    # A look first: a duplicate-key error inside a transaction would abort the transaction.
    if pending.find_one({"_id": enrolment_id}, {"_id": 1}, session=tx.session):
        return False
    completed_at = domain.parse_time(completion["completed_at"])
    pending.insert_one({"_id": enrolment_id, "completed_at": completed_at,
                        "year": domain.wib_date(completed_at).year, "completion": completion,
                        "correlation_id": tx.store.correlation_id, "recorded_at": now}, session=tx.session)
    return True


def _new_certificate(completion: dict, config: CertificationConfig, now: datetime) -> dict:
    """The certificate a completion earns, everything but its two sequence numbers."""
    programme = _snapshot(completion["programme"], _PROGRAMME_FIELDS)
    holder = _snapshot(completion["participant"], _HOLDER_FIELDS)
    completed_at = domain.parse_time(completion["completed_at"])
    issued_on = domain.wib_date(completed_at)
    until = domain.valid_until(issued_on, programme.get("certificate_validity_months"))
    return {
        "_id": str(ObjectId()),
        "number": None,
        "year": issued_on.year,
        "seq": None,
        "line": domain.competency_line(programme),
        "number_line": domain.number_line(programme, config.number_format),  # dropped before insert
        "enrolment_id": completion["enrolment_id"],
        "verification_code": domain.new_verification_code(),
        "credential_id": str(uuid.uuid4()),
        "status_index": None,
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


def _certified_data(certificate: dict, base_url: str) -> dict:
    return {
        "certificate_id": certificate["_id"],
        "number": certificate["number"],
        "enrolment_id": certificate["enrolment_id"],
        "holder": certificate["holder"],
        "programme": certificate["programme"],
        "jp": certificate["jp"],
        "issued_on": certificate["issued_on"],
        "valid_until": certificate["valid_until"],
        "verification_url": verification_url(base_url, certificate["verification_code"]),
        "supersedes": certificate["supersedes"],
    }


def _emit_certified(tx, certificates: list[dict], correlation_ids: list[str | None], base_url: str) -> None:
    """Stage ``certified`` for each certificate, carrying the correlation id of the request
    that completed it. One outbox insert per run of equal correlation ids (Tx takes the id
    from its store), restoring the store's own afterwards."""
    store, own = tx.store, tx.store.correlation_id
    try:
        for correlation_id, group in groupby(zip(certificates, correlation_ids), key=lambda pair: pair[1]):
            store.correlation_id = correlation_id or own
            tx.emit_many([("certified", c["_id"], _certified_data(c, base_url)) for c, _ in group])
    finally:
        store.correlation_id = own


def _issue(tx, certificates: list[dict], correlation_ids: list[str | None], config: CertificationConfig,
           base_url: str, now: datetime) -> None:
    """Number ``certificates`` (in numbering order) and insert them with their supersessions
    and ``certified`` events. Each counter moves once: the batch's numbers are consecutive,
    and an abort rolls them back with everything else, so the sequence has no gaps."""
    years = [c["year"] for c in certificates]
    ends = {year: advance(tx, number_counter(year), count) for year, count in domain.year_counts(years).items()}
    last_index = advance(tx, STATUS_LIST_COUNTER, len(certificates))
    first_index = last_index - len(certificates) + 1
    for offset, (certificate, seq) in enumerate(zip(certificates, domain.assign_sequences(years, ends))):
        certificate["seq"] = seq
        certificate["number"] = domain.format_number(config.number_format, seq, certificate["year"],
                                                     certificate.pop("number_line"))
        certificate["status_index"] = first_index + offset
    # Recertification. The holders' certificates by the indexed holder.nip alone, line and
    # state filtered here: equality with None in the query made SecantusDB scan the collection.
    collection = tx.db[CERTIFICATES]
    nips = sorted({c["holder"]["nip"] for c in certificates})
    stored = list(collection.find({"holder.nip": {"$in": nips}},
                                  {"holder.nip": 1, "line": 1, "completed_at": 1, "issued_at": 1, "revoked": 1,
                                   "superseded_by": 1}, session=tx.session))
    for new_id, old_ids in domain.supersede_in_order(stored, certificates, now).items():
        collection.update_many({"_id": {"$in": old_ids}},
                               {"$set": {"superseded_by": new_id, "superseded_at": now}}, session=tx.session)
    collection.insert_many(certificates, ordered=True, session=tx.session)
    _emit_certified(tx, certificates, correlation_ids, base_url)


def issue_batch(tx, enrolment_ids: list[str], config: CertificationConfig, base_url: str,
                now: datetime) -> list[dict]:
    """One numbering transaction: issue the pending issues of ``enrolment_ids`` still
    pending, in numbering order, and delete them. A pending issue whose enrolment got a
    certificate meanwhile is dropped (the unique index would otherwise fail the batch)."""
    pending_coll = tx.db[PENDING_ISSUES]
    pending = list(pending_coll.find({"_id": {"$in": enrolment_ids}}, session=tx.session))
    if not pending:
        return []
    ids = [p["_id"] for p in pending]
    issued = {c["enrolment_id"] for c in tx.db[CERTIFICATES].find({"enrolment_id": {"$in": ids}},
                                                                    {"enrolment_id": 1}, session=tx.session)}
    pending_coll.delete_many({"_id": {"$in": ids}}, session=tx.session)
    todo = sorted((p for p in pending if p["_id"] not in issued), key=domain.numbering_order)
    if not todo:
        return []
    certificates = [_new_certificate(p["completion"], config, now) for p in todo]
    _issue(tx, certificates, [p.get("correlation_id") for p in todo], config, base_url, now)
    return certificates


def pending_head(db, limit: int) -> list[dict]:
    """The next ``limit`` pending issues in numbering order (ids and years only)."""
    return list(db[PENDING_ISSUES].find({}, {"_id": 1, "year": 1})
                .sort([("completed_at", ASCENDING), ("_id", ASCENDING)]).limit(limit))


def number_pending(store, config: CertificationConfig, base_url: str, now: datetime,
                   limit: int | None = None) -> list[dict]:
    """One numbering pass: up to ``limit`` pending issues become certificates in one
    transaction. Returns the certificates issued (in numbering order)."""
    head = pending_head(store.db, limit or config.numbering_batch)
    if not head:
        return []
    # Counters are created outside the transaction (see store.ensure_counter).
    for year in sorted({p["year"] for p in head}):
        ensure_counter(store.db, number_counter(year))
    ensure_counter(store.db, STATUS_LIST_COUNTER)
    ids = [p["_id"] for p in head]
    return store.transaction(lambda tx: issue_batch(tx, ids, config, base_url, now))


class Numberer:
    """The numbering pass behind a lease, so one replica numbers at a time (the others
    would only conflict on the counters). Correctness does not rest on the lease: two
    passes at once conflict on the counter and one retries on what is left."""

    def __init__(self, store, config: CertificationConfig, base_url: str, clock: Callable[[], datetime],
                 holder: str):
        self.store, self.config, self.base_url, self.clock = store, config, base_url, clock
        self.lease = Lease(store.db[LEASES], NUMBERING_LEASE, holder, config.numbering_lease_s)
        self._follower_until = 0.0  # not the holder: skip lease look-ups until then
        self.issued = 0
        self.batch = config.numbering_batch  # halved after a failed pass, doubled back after full ones

    def run_once(self) -> list[dict]:
        """Number one batch if this replica holds the lease; the certificates issued."""
        if time.monotonic() < self._follower_until:
            return []
        if not self.lease.held():
            NUMBERING_LEADER.set(0)
            self._follower_until = time.monotonic() + self.config.numbering_interval_s
            return []
        NUMBERING_LEADER.set(1)
        limit = self.batch
        try:
            issued = number_pending(self.store, self.config, self.base_url, self.clock(), limit)
        except Exception:
            # A big batch is one long transaction: after a replica was killed inside one, or
            # under a loaded store, it kept losing write conflicts (the 2,000-completion scale
            # proof with three replicas stalled at 851 certificates with 200 per batch).
            # Smaller ones get through; they grow back once passes succeed.
            self.batch = max(1, limit // 2)
            raise
        if len(issued) >= limit:
            self.batch = min(self.config.numbering_batch, limit * 2)
        if issued:
            self.issued += len(issued)
            CERTIFICATES_ISSUED.inc(len(issued))
            log.info("numbered %d certificates: %s", len(issued), _ranges(issued))
        # A short batch took everything there was; count only when a backlog is likely.
        PENDING_BACKLOG.set(self.store.db[PENDING_ISSUES].count_documents({}) if len(issued) >= limit else 0)
        return issued

    def release(self) -> None:
        NUMBERING_LEADER.set(0)
        self.lease.release()


def _ranges(certificates: list[dict]) -> str:
    """``2026: 41-240`` for the log line of a batch."""
    by_year: dict[int, list[int]] = {}
    for c in certificates:
        by_year.setdefault(c["year"], []).append(c["seq"])
    return ", ".join(f"{year}: {min(seqs)}-{max(seqs)}" for year, seqs in sorted(by_year.items()))


def prepare_issue(db, completion: dict) -> None:
    """Outside the transaction: make sure the counters ``issue_certificate`` increments exist."""
    if domain.grants_certificate(completion):
        year = domain.wib_date(domain.parse_time(completion["completed_at"])).year
        ensure_counter(db, number_counter(year))
        ensure_counter(db, STATUS_LIST_COUNTER)


def issue_certificate(tx, completion: dict, config: CertificationConfig, base_url: str,
                      now: datetime) -> dict | None:
    """Issue one certificate at once, numbering it inside the caller's transaction (call
    ``prepare_issue`` first). The service no longer does this (the counters would be hot in
    every event's transaction, ADR 0025); the naive peer of bench/ still does. None when the
    completion earns nothing or its enrolment already has a certificate."""
    if not domain.grants_certificate(completion):
        return None
    if tx.db[CERTIFICATES].find_one({"enrolment_id": completion["enrolment_id"]}, {"_id": 1}, session=tx.session):
        return None
    certificate = _new_certificate(completion, config, now)
    _issue(tx, [certificate], [tx.store.correlation_id], config, base_url, now)
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
    claimed = update_by_id(tx.db[CERTIFICATES], certificate_id, {"$set": {"expiring_notified_at": now}},
                           tx.session, condition=_expiring_filter(today, notice_days))
    if claimed is None:
        return False
    tx.emit("expiring", certificate_id, {
        "certificate_id": certificate_id, "number": claimed["number"], "holder": claimed["holder"],
        "programme": claimed["programme"], "valid_until": claimed["valid_until"],
        "days_left": domain.days_left(claimed, today)})
    return True


def claim_expired(tx, certificate_id: str, today: date, now: datetime) -> bool:
    claimed = update_by_id(tx.db[CERTIFICATES], certificate_id,
                           {"$set": {"expired_notified_at": now, "expiring_notified_at": now}}, tx.session,
                           condition=_expired_filter(today))
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
