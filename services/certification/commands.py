"""What changes certification's state, inside a transaction (functions taking ``tx``): record
and number issues, revoke, claim expiry announcements. Each emits its events with
``tx.emit``; the rules come from ``domain``, the queries of the expiry scan from ``queries``.

Issuing happens in two steps (ADR 0025). A passed completion becomes a *pending issue* in
the event's own transaction; a numbering pass, run by whichever replica holds the numbering
lease (``dependencies.py``), turns pending issues into numbered certificates in batches,
moving each counter once per batch.
"""
from __future__ import annotations

import secrets
import uuid
from datetime import date, datetime
from itertools import groupby

from bson import ObjectId

from shared.errors import NotFound
from shared.events.common import ParticipantSnapshot, ProgrammeSnapshot
from shared.store import update_by_id
from shared.timefmt import iso, parse_time, wib_date
from services.certification import domain
from services.certification.config import CertificationConfig
from services.certification.queries import expired_filter, expiring_filter
from services.certification.store import (CERTIFICATES, PENDING_ISSUES, STATUS_LIST_COUNTER, advance_all,
                                          ensure_counters, number_counter)

_PROGRAMME_FIELDS = tuple(ProgrammeSnapshot().fields)
_HOLDER_FIELDS = tuple(ParticipantSnapshot().fields)


def _snapshot(data: dict, fields: tuple[str, ...]) -> dict:
    # Producers may add optional fields to a version; keep what our own events may carry.
    return {k: data[k] for k in fields if k in data}


# -- issuing -------------------------------------------------------------------------------

def record_pending_issue(tx, completion: dict, now: datetime) -> bool:
    """Inside the ``completed`` event's transaction: remember a completion that earns a
    certificate, to be numbered later. No counter is touched here, so concurrent events
    never conflict on one. False when it earns none, or its enrolment already has a pending
    issue (a second completion event for it).

    One upsert, no look first (issue 23): an existing pending issue is left as it is (an
    insert would fail on the key and abort the transaction), and a pending issue of an
    enrolment that already has its certificate is dropped by the numbering pass, which
    reads the holders' certificates anyway (``issue_batch``)."""
    if not domain.grants_certificate(completion):
        return False
    enrolment_id = completion["enrolment_id"]
    completed_at = parse_time(completion["completed_at"])
    result = tx.db[PENDING_ISSUES].update_one(
        {"_id": enrolment_id},
        {"$setOnInsert": {"completed_at": completed_at, "year": wib_date(completed_at).year,
                          "completion": completion, "correlation_id": tx.store.correlation_id,
                          "recorded_at": now}},
        upsert=True, session=tx.session)
    return result.upserted_id is not None


def _new_certificate(completion: dict, config: CertificationConfig, now: datetime) -> dict:
    """The certificate a completion earns, everything but its two sequence numbers."""
    programme = _snapshot(completion["programme"], _PROGRAMME_FIELDS)
    holder = _snapshot(completion["participant"], _HOLDER_FIELDS)
    completed_at = parse_time(completion["completed_at"])
    issued_on = wib_date(completed_at)
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
        "role": domain.role_of(completion),  # peserta or narasumber (seminar, lokakarya)
        # Who signs it, as configured when it is issued: a reprint years later still shows
        # the officials of its issue, not their successors.
        "signatories": domain.signatories_for(programme, config.signatories),
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
        "verification_url": domain.verification_url(base_url, certificate["verification_code"]),
        "supersedes": certificate["supersedes"],
        "role": domain.role_of(certificate),
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
           now: datetime, stored: list[dict]) -> None:
    """Number ``certificates`` (in numbering order) and insert them with their supersessions
    and ``certified`` events. Each counter moves once: the batch's numbers are consecutive,
    and an abort rolls them back with everything else, so the sequence has no gaps.
    ``stored``: the holders' certificates in the store (``_holders_certificates``)."""
    years = [c["year"] for c in certificates]
    counts = {number_counter(year): count for year, count in domain.year_counts(years).items()}
    ends = advance_all(tx, {**counts, STATUS_LIST_COUNTER: len(certificates)})
    first_index = ends[STATUS_LIST_COUNTER] - len(certificates) + 1
    sequences = domain.assign_sequences(years, {year: ends[number_counter(year)] for year in set(years)})
    for offset, (certificate, seq) in enumerate(zip(certificates, sequences)):
        certificate["seq"] = seq
        certificate["number"] = domain.format_number(config.number_format, seq, certificate["year"],
                                                     certificate.pop("number_line"),
                                                     domain.number_issuer(certificate["programme"]))
        certificate["status_index"] = first_index + offset
    collection = tx.db[CERTIFICATES]
    for new_id, old_ids in domain.supersede_in_order(stored, certificates, now).items():
        collection.update_many({"_id": {"$in": old_ids}},
                               {"$set": {"superseded_by": new_id, "superseded_at": now}}, session=tx.session)
    collection.insert_many(certificates, ordered=True, session=tx.session)
    _emit_certified(tx, certificates, correlation_ids, config.base_url)


def _holders_certificates(tx, nips) -> list[dict]:
    """The certificates of the holders ``nips``, with what recertification and the check
    for an already issued enrolment need. By the indexed holder.nip alone, line and state
    filtered in domain: equality with None in the query made SecantusDB scan the collection."""
    return list(tx.db[CERTIFICATES].find(
        {"holder.nip": {"$in": sorted(set(nips))}},
        {"holder.nip": 1, "line": 1, "completed_at": 1, "issued_at": 1, "revoked": 1, "superseded_by": 1,
         "enrolment_id": 1}, session=tx.session))


class PendingTaken(Exception):
    """Some pending issues of a batch were gone when its transaction deleted them: another
    numbering pass took them (the lease is not what makes numbering correct). The batch's
    transaction aborts; read the head again."""


def issue_batch(tx, pending: list[dict], config: CertificationConfig, now: datetime) -> list[dict]:
    """One numbering transaction: issue the pending issues ``pending`` (whole documents, as
    ``queries.pending_head`` read them before the transaction) in numbering order, and
    delete them. Pending issues are written once and never changed, so the documents read
    before are the ones deleted here; the delete proves that each is still pending (all
    deleted, or PendingTaken and nothing is written) and holds them against another pass
    until commit. A pending issue whose enrolment already has a certificate is dropped (the
    unique index would otherwise fail the batch): a second completion event of an
    enrolment numbered earlier (``record_pending_issue`` does not look)."""
    if not pending:
        return []
    ids = [p["_id"] for p in pending]
    deleted = tx.db[PENDING_ISSUES].delete_many({"_id": {"$in": ids}}, session=tx.session).deleted_count
    if deleted != len(ids):
        raise PendingTaken(f"{len(ids) - deleted} of {len(ids)} pending issues were taken by another pass")
    stored = _holders_certificates(tx, [p["completion"]["participant"]["nip"] for p in pending])
    issued = {c.get("enrolment_id") for c in stored}
    todo = sorted((p for p in pending if p["_id"] not in issued), key=domain.numbering_order)
    if not todo:
        return []
    certificates = [_new_certificate(p["completion"], config, now) for p in todo]
    _issue(tx, certificates, [p.get("correlation_id") for p in todo], config, now, stored)
    return certificates


def prepare_issue(db, completion: dict) -> None:
    """Before ``issue_certificate``'s transaction: the counters it increments must exist."""
    if domain.grants_certificate(completion):
        ensure_counters(db, [wib_date(parse_time(completion["completed_at"])).year])


def issue_certificate(tx, completion: dict, config: CertificationConfig, now: datetime) -> dict | None:
    """Issue one certificate at once, numbering it inside the caller's transaction (call
    ``prepare_issue`` first). The service no longer does this (the counters would be
    hot in every event's transaction, ADR 0025); the naive peer of bench/ still does. None
    when the completion earns nothing or its enrolment already has a certificate."""
    if not domain.grants_certificate(completion):
        return None
    if tx.db[CERTIFICATES].find_one({"enrolment_id": completion["enrolment_id"]}, {"_id": 1}, session=tx.session):
        return None
    certificate = _new_certificate(completion, config, now)
    _issue(tx, [certificate], [tx.store.correlation_id], config, now,
           _holders_certificates(tx, [certificate["holder"]["nip"]]))
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
        "programme": certificate["programme"], "reason": reason, "revoked_at": iso(now)})
    # The line's previous certificate stays superseded: revocation does not resurrect it.
    return True, certificate


# -- expiry announcements ------------------------------------------------------------------

def claim_expiring(tx, certificate_id: str, today: date, notice_days: int, now: datetime) -> bool:
    """Mark and announce one certificate as expiring; False if another replica (or an
    earlier scan) already did. The claim and the event commit together."""
    claimed = update_by_id(tx.db[CERTIFICATES], certificate_id, {"$set": {"expiring_notified_at": now}},
                           tx.session, condition=expiring_filter(today, notice_days))
    if claimed is None:
        return False
    tx.emit("expiring", certificate_id, {
        "certificate_id": certificate_id, "number": claimed["number"], "holder": claimed["holder"],
        "programme": claimed["programme"], "valid_until": claimed["valid_until"],
        "days_left": domain.days_left(claimed, today)})
    return True


def claim_expired(tx, certificate_id: str, today: date, now: datetime) -> bool:
    """Mark and announce one certificate as expired (and so never as expiring afterwards)."""
    claimed = update_by_id(tx.db[CERTIFICATES], certificate_id,
                           {"$set": {"expired_notified_at": now, "expiring_notified_at": now}}, tx.session,
                           condition=expired_filter(today))
    if claimed is None:
        return False
    tx.emit("expired", certificate_id, {
        "certificate_id": certificate_id, "number": claimed["number"], "holder": claimed["holder"],
        "programme": claimed["programme"], "valid_until": claimed["valid_until"]})
    return True
