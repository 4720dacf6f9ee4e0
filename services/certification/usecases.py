"""certification's use cases: load the request (schema and caps) → check the caller's scope →
one transaction of commands, or a query → dump the response schema. The entrypoints of
``service.py`` and the background loops of ``dependencies.py`` call these."""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Protocol

from marshmallow.experimental.context import Context
from werkzeug.wrappers import Response

from shared import access_log
from shared.auth import Principal
from shared.errors import Invalid, NotFound
from shared.events.envelope import Event
from shared.http import json_response
from shared.ratelimit import TokenBuckets, client_address
from shared.runtime import ServiceRuntime
from shared.store import Store
from shared.timefmt import wib_date
from services.certification import commands, domain, queries, schemas
from services.certification.adapters import credential, pdf, verification_page
from services.certification.adapters.status_lists import StatusLists
from services.certification.config import CertificationConfig
from services.certification.store import ensure_counters

log = logging.getLogger(__name__)


class Numbering(Protocol):
    """This replica's numbering loop (``dependencies.numbering``)."""

    def kick(self) -> None: ...


class Caches(Protocol):
    """What the public routes keep per replica (``dependencies.caches``)."""

    limiter: TokenBuckets
    status_lists: StatusLists


def _seen(runtime: ServiceRuntime) -> Context:
    """The context a certificate is dumped in (its status today, its addresses)."""
    return Context(schemas.Seen(wib_date(runtime.now()), runtime.config.base_url))


# -- issuing -------------------------------------------------------------------------------

def record_completion(store: Store, runtime: ServiceRuntime, numbering: Numbering, event: Event) -> None:
    """``enrollment.completed``: only a pending issue in the event's transaction; numbers come
    in batches (ADR 0025), so this replica's numbering pass is kicked once it commits."""
    _, recorded = store.apply_once(event, lambda tx: commands.record_pending_issue(tx, event.data, runtime.now()))
    if recorded:
        numbering.kick()


# Another pass took some of a batch's pending issues (PendingTaken): read the head again at
# most this often in one pass; the loop's next pass takes up whatever is left.
_TAKEN_RETRIES = 3


def number_pending(store: Store, config: CertificationConfig, now: datetime, limit: int) -> list[dict]:
    """One numbering pass: up to ``limit`` pending issues become certificates in one
    transaction. Returns the certificates issued (in numbering order)."""
    for _ in range(_TAKEN_RETRIES):
        head = queries.pending_head(store.db, limit)
        if not head:
            return []
        ensure_counters(store.db, [p["year"] for p in head])  # outside the transaction (store.ensure_counter)
        try:
            return store.transaction(lambda tx: commands.issue_batch(tx, head, config, now))
        except commands.PendingTaken as exc:
            log.info("numbering: %s; reading the pending issues again", exc)
    return []


# -- expiry --------------------------------------------------------------------------------

def run_expiry_scan(store: Store, config: CertificationConfig, now: datetime) -> dict:
    """Emit ``expired`` and ``expiring`` once per certificate. Safe with several replicas
    scanning at once: each certificate is claimed atomically in its own transaction."""
    today = wib_date(now)
    counts = {"expired": 0, "expiring": 0}
    # Expired first: a certificate past its date gets `expired`, never a late `expiring`.
    for kind, query, claim in (
            ("expired", queries.expired_filter(today),
             lambda tx, cid: commands.claim_expired(tx, cid, today, now)),
            ("expiring", queries.expiring_filter(today, config.expiry_notice_days),
             lambda tx, cid: commands.claim_expiring(tx, cid, today, config.expiry_notice_days, now))):
        while True:
            ids = queries.due_for_announcement(store.db, query, config.expiry_scan_batch)
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


def expiry_scan_now(store: Store, runtime: ServiceRuntime) -> dict:
    """``POST /admin/expiry-scan``: the scan at once (safe next to the scheduled ones)."""
    return schemas.ExpiryScanResult().dump(run_expiry_scan(store, runtime.config, runtime.now()))


# -- certificates --------------------------------------------------------------------------

def list_certificates(store: Store, runtime: ServiceRuntime, caller: Principal, args: dict) -> dict:
    """Newest first: an operator lists its agency's staff, an ASN themself, an admin anyone."""
    query = schemas.ListQuery().load(args)
    agency = caller.agency_filter(None) if caller.role != "asn" else None
    items, next_cursor, total = queries.list_certificates(
        store.db, nip=caller.nip_filter(query.get("nip")), programme=query.get("programme"), agency=agency,
        limit=query["limit"], cursor=query["cursor"], page=query["page"])
    # Reads of someone else's certificates are recorded (UU 27/2022; shared.access_log).
    if query.get("nip") and items:
        access_log.record_read(store.db, caller, query["nip"], "certificates",
                               detail=", ".join(c.get("number") or "" for c in items))
    elif items:
        holders = [(c.get("holder") or {}).get("nip") for c in items]
        access_log.record_reads(store.db, caller, [nip for nip in holders if nip], "certificates")
    page = query["page"] or (None if query["cursor"] else 1)
    with _seen(runtime):
        return schemas.CertificatePage().dump({"items": items, "next_cursor": next_cursor, "total": total,
                                               "page": page, "per_page": query["limit"]})


def _certificate_for(store: Store, caller: Principal, certificate_id: str) -> dict:
    """The certificate, if the caller may see it (its holder, the holder's agency, an admin)."""
    certificate = queries.get_certificate(store.db, schemas.certificate_id(certificate_id))
    holder = certificate.get("holder") or {}
    caller.require_scope(nip=holder.get("nip"), agency=holder.get("agency"), what="this certificate")
    access_log.record_read(store.db, caller, holder.get("nip"), "certificates", detail=certificate.get("number"))
    return certificate


def get_certificate(store: Store, runtime: ServiceRuntime, caller: Principal, certificate_id: str) -> dict:
    certificate = _certificate_for(store, caller, certificate_id)
    with _seen(runtime):
        return schemas.Certificate().dump(certificate)


def certificate_pdf(store: Store, runtime: ServiceRuntime, caller: Principal, certificate_id: str) -> Response:
    certificate = _certificate_for(store, caller, certificate_id)
    url = domain.verification_url(runtime.config.base_url, certificate["verification_code"])
    # Signed on each request (PAdES, adapters/pades.py): the signature covers the whole file.
    signed = runtime.config.pdf_signer.sign(pdf.render_certificate(certificate, url, runtime.config))
    return Response(signed, mimetype="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{domain.pdf_filename(certificate["number"])}"'})


def certificate_credential(store: Store, runtime: ServiceRuntime, caller: Principal, certificate_id: str) -> dict:
    """The certificate as a signed Open Badges 3.0 credential (signed as of its issue)."""
    certificate = _certificate_for(store, caller, certificate_id)
    issuer = runtime.config.issuer
    url = domain.verification_url(runtime.config.base_url, certificate["verification_code"])
    return credential.sign(credential.build_credential(certificate, issuer, url), issuer, certificate["issued_at"])


def revoke(store: Store, runtime: ServiceRuntime, caches: Caches, caller: Principal, certificate_id: str,
           body: dict) -> dict:
    """Revoke (admin, recorded as who revoked); idempotent."""
    certificate_id = schemas.certificate_id(certificate_id)
    request = schemas.RevokeRequest().load(body)
    now = runtime.now()
    _, certificate = store.transaction(
        lambda tx: commands.revoke(tx, certificate_id, request["reason"], caller.subject, now))
    caches.status_lists.forget()  # this replica's lists show the revocation at once
    with _seen(runtime):
        return schemas.Certificate().dump(certificate)


# -- public --------------------------------------------------------------------------------

def rate_limited(runtime: ServiceRuntime, caches: Caches, request) -> Response | None:
    """A 429 for a client address that verifies too often (a token bucket each, per replica)."""
    address = client_address(request.remote_addr, request.headers.get("X-Forwarded-For"),
                             runtime.config.trusted_proxy_hops)
    wait = caches.limiter.take(address)
    if wait <= 0:
        return None
    return json_response({"error": "too_many_requests",
                          "message": "too many verification requests from this address; retry later"},
                         429, {"Retry-After": str(max(1, int(wait + 0.999)))})


def verify(store: Store, runtime: ServiceRuntime, caches: Caches, request, code: str) -> Response:
    """Public verification of a code: JSON for programs (Accept: application/json), else the
    page in Bahasa Indonesia. Unknown and malformed codes cost the same store look-ups."""
    limited = rate_limited(runtime, caches, request)
    if limited is not None:
        return limited
    now = runtime.now()
    headers = {"Cache-Control": "no-store", "Vary": "Accept"}
    wants_json = request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json"
    try:
        normalised = schemas.verification_code(code)
    except Invalid as exc:  # people get the page in Bahasa Indonesia, programs the JSON error
        if wants_json:
            raise
        return Response(verification_page.render_invalid_code_page(schemas.MAX_CODE_CHARS, now),
                        status=exc.status, headers=headers, mimetype="text/html")
    certificate, successor = queries.find_for_verification(store.db, normalised)
    view = domain.verification_view(certificate, successor, wib_date(now),
                                    lambda c: domain.verification_url(runtime.config.base_url, c))
    status = 404 if view["status"] == domain.UNKNOWN else 200
    if wants_json:
        return json_response(schemas.Verification().dump(view), status, headers)
    return Response(verification_page.render_page(view, code, now), status=status, headers=headers,
                    mimetype="text/html")


def verify_credential(store: Store, runtime: ServiceRuntime, caches: Caches, request) -> Response | dict:
    """Check a presented credential: the signature (by this issuer) and the certificate's
    status now. Only a valid signature over an unchanged document of a currently valid
    certificate is ``verified``."""
    limited = rate_limited(runtime, caches, request)
    if limited is not None:
        return limited
    document = schemas.presented_credential(request.get_data(cache=True))
    errors: list[str] = []
    try:
        credential.verify_proof(document, runtime.config.issuer.did)
        signature_valid = True
    except credential.CredentialError as exc:
        signature_valid = False
        errors.append(str(exc))
    certificate = queries.find_by_credential_id(store.db, credential.credential_id_of(document))
    status = domain.status_of(certificate, wib_date(runtime.now())) if certificate else domain.UNKNOWN
    if status != domain.VALID:
        errors.append(f"the certificate is {status}")
    return schemas.CredentialCheck().dump({"verified": signature_valid and status == domain.VALID,
                                           "signature_valid": signature_valid, "status": status, "errors": errors})


def revocation_list(store: Store, runtime: ServiceRuntime, caches: Caches, args: dict) -> Response:
    """A signed status list; each replica rebuilds one at most every STATUS_LIST_CACHE_S."""
    number = schemas.StatusListQuery().load(args)["list"]

    def build() -> dict:
        if number >= queries.existing_status_lists(store.db):
            raise NotFound(f"no status list {number}", field="list")
        return credential.status_list_credential(queries.revoked_entries(store.db, number), runtime.config.issuer,
                                                 runtime.now(), number)
    return json_response(caches.status_lists.get(number, build), headers={"Cache-Control": "max-age=60"})
