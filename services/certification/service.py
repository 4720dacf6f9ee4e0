"""The certification service: nameko entrypoints only; they delegate to the domain modules."""
from __future__ import annotations

import re

from werkzeug.wrappers import Response

from shared.auth import ADMIN_ONLY, MEMBER, PUBLIC, principal_of
from shared.errors import Invalid
from shared.handler import reliable_handler
from shared.http import api, json_body, json_response
from shared.openapi import OpenApi
from shared.service_base import ServiceBase
from shared.store import Mongo

from services.certification import subscriptions
from services.certification import domain, limits, lifecycle, schemas, status_lists, store
from services.certification.credential import build_credential, sign
from services.certification.pdf import render_certificate
from shared.ratelimit import client_address
from services.certification.runtime import CertificationRuntime, expiry_scan_timer, numbering_timer
from services.certification.verification import render_invalid_code_page, render_page

openapi = OpenApi("ASN certification service", description=(
    "Certificates for passed completions: numbering, PDF with QR, public verification, "
    "revocation, expiry and Open Badges 3.0 credentials."))
_ID = "{certificate_id}"
openapi.route("GET", "/certificates", "Certificates, newest first, by NIP and/or programme",
              query=schemas.ListQuery, response=schemas.CertificatePage, tags=["certificates"])
_NO_CERTIFICATE = {404: "no such certificate", 422: "certificate id over 64 characters"}
openapi.route("GET", f"/certificates/{_ID}", "One certificate", response=schemas.Certificate,
              responses=_NO_CERTIFICATE, tags=["certificates"])
openapi.route("GET", f"/certificates/{_ID}/pdf", "The printable certificate (A4 landscape PDF with QR)",
              content_type="application/pdf", responses=_NO_CERTIFICATE, tags=["certificates"])
openapi.route("GET", f"/certificates/{_ID}/credential",
              "The certificate as a signed Open Badges 3.0 OpenBadgeCredential (eddsa-jcs-2022)",
              responses=_NO_CERTIFICATE, tags=["credentials"])
openapi.route("POST", f"/certificates/{_ID}/revoke", "Revoke a certificate (admin); idempotent",
              body=schemas.RevokeRequest, response=schemas.Certificate,
              responses={404: "no such certificate",
                         422: "invalid fields, or a certificate id over 64 characters"}, tags=["certificates"])
openapi.route("GET", "/verify/{code}", "Public verification: JSON for Accept: application/json, else HTML",
              response=schemas.Verification,
              responses={404: "unknown code", 422: "code over 64 characters", 429: "too many requests"},
              tags=["public"])
openapi.route("POST", "/credentials/verify", "Check a presented credential's signature and current status",
              body_content_type="application/json", response=schemas.CredentialCheck,
              responses={400: "not a JSON object", 413: "body over 64 KiB",
                         422: "a proof field or the id over-long, or nested over 32 levels",
                         429: "too many requests"}, tags=["public", "credentials"])
openapi.route("GET", "/status/revocation", "A signed Bitstring Status List of revoked credentials "
              "(131,072 entries each; the list a credential is in is its statusListCredential)",
              query=status_lists.StatusListQuery, responses={404: "no such list yet"},
              tags=["public", "credentials"])
openapi.route("POST", "/admin/expiry-scan", "Run the expiry scan now (admin); safe next to the scheduled ones",
              response=schemas.ExpiryScanResult, tags=["admin"])


def _pdf_filename(number: str) -> str:
    return "sertifikat-" + re.sub(r"[^A-Za-z0-9]+", "-", number).strip("-") + ".pdf"


class CertificationService(ServiceBase):
    name = "certification"
    store = Mongo(indexes=store.create_indexes)
    runtime = CertificationRuntime()
    openapi = openapi

    # -- events ----------------------------------------------------------------------------
    @reliable_handler(subscriptions.ENROLLMENT_COMPLETED)
    def on_completed(self, event):
        # Only a pending issue in the event's transaction; numbers come in batches (ADR 0025).
        _, recorded = self.store.apply_once(event, lambda tx: lifecycle.record_pending_issue(
            tx, event.data, self.runtime.now()))
        if recorded:
            self.runtime.numbering.kick()

    # -- schedule --------------------------------------------------------------------------
    @numbering_timer
    def number_pending(self):
        self.runtime.numbering.kick()

    @expiry_scan_timer
    def scan_expiry(self):
        return lifecycle.run_expiry_scan(self.store, self.runtime.config, self.runtime.now())

    @api("POST", "/admin/expiry-scan", auth=ADMIN_ONLY)
    def run_expiry_scan(self, request):
        """For operators: run the scan now (it is safe next to the scheduled ones). An admin
        HTTP route, not nameko RPC: RPC over the broker carries no caller identity (ADR 0061)."""
        return lifecycle.run_expiry_scan(self.store, self.runtime.config, self.runtime.now())

    # -- certificates ----------------------------------------------------------------------
    @api("GET", "/certificates", auth=MEMBER)
    def list_certificates(self, request):
        query = schemas.ListQuery().load(request.args.to_dict())
        caller = principal_of(request)  # an operator lists its agency's staff, an ASN themself
        agency = caller.agency_filter(None) if caller.role != "asn" else None
        items, total = lifecycle.list_certificates(self.store.db, caller.nip_filter(query.get("nip")),
                                                   query.get("programme"), query["page"], query["per_page"],
                                                   agency=agency)
        today = domain.wib_date(self.runtime.now())
        return {"items": [lifecycle.certificate_view(c, today, self.runtime.base_url) for c in items],
                "page": query["page"], "per_page": query["per_page"], "total": total}

    def _certificate_for(self, request, certificate_id: str) -> dict:
        """The certificate, if the caller may see it (its holder, the holder's agency, an admin)."""
        certificate = lifecycle.get_certificate(self.store.db, limits.certificate_id(certificate_id))
        holder = certificate.get("holder") or {}
        principal_of(request).require_scope(nip=holder.get("nip"), agency=holder.get("agency"),
                                            what="this certificate")
        return certificate

    @api("GET", "/certificates/<string:certificate_id>", auth=MEMBER)
    def get_certificate(self, request, certificate_id):
        certificate = self._certificate_for(request, certificate_id)
        return lifecycle.certificate_view(certificate, domain.wib_date(self.runtime.now()), self.runtime.base_url)

    @api("GET", "/certificates/<string:certificate_id>/pdf", auth=MEMBER)
    def get_pdf(self, request, certificate_id):
        certificate = self._certificate_for(request, certificate_id)
        url = lifecycle.verification_url(self.runtime.base_url, certificate["verification_code"])
        return Response(render_certificate(certificate, url, self.runtime.config), mimetype="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="{_pdf_filename(certificate["number"])}"'})

    @api("GET", "/certificates/<string:certificate_id>/credential", auth=MEMBER)
    def get_credential(self, request, certificate_id):
        certificate = self._certificate_for(request, certificate_id)
        url = lifecycle.verification_url(self.runtime.base_url, certificate["verification_code"])
        credential = build_credential(certificate, self.runtime.issuer, url)
        return sign(credential, self.runtime.issuer, certificate["issued_at"])

    @api("POST", "/certificates/<string:certificate_id>/revoke", auth=ADMIN_ONLY)
    def revoke(self, request, certificate_id):
        certificate_id = limits.certificate_id(certificate_id)
        body = schemas.RevokeRequest().load(json_body(request))
        revoked_by = principal_of(request).subject  # who revoked is the authenticated admin
        now = self.runtime.now()
        _, certificate = self.store.transaction(
            lambda tx: lifecycle.revoke(tx, certificate_id, body["reason"], revoked_by, now))
        self.runtime.status_lists.forget()  # this replica's lists show the revocation at once
        return lifecycle.certificate_view(certificate, domain.wib_date(now), self.runtime.base_url)

    # -- public ----------------------------------------------------------------------------
    @api("GET", "/verify/<path:code>", auth=PUBLIC)
    def verify(self, request, code):
        limited = self._rate_limited(request)
        if limited is not None:
            return limited
        now = self.runtime.now()
        headers = {"Cache-Control": "no-store", "Vary": "Accept"}
        wants_json = request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json"
        try:
            normalised = limits.verification_code(code)
        except Invalid as exc:  # people get the page in Bahasa Indonesia, programs the JSON error
            if wants_json:
                raise
            return Response(render_invalid_code_page(limits.MAX_CODE_CHARS, now), status=exc.status,
                            headers=headers, mimetype="text/html")
        certificate, successor = lifecycle.find_for_verification(self.store.db, normalised)
        view = domain.verification_view(certificate, successor, domain.wib_date(now),
                                        lambda c: lifecycle.verification_url(self.runtime.base_url, c))
        status = 404 if view["status"] == domain.UNKNOWN else 200
        if wants_json:
            return json_response(view, status, headers)
        return Response(render_page(view, code, now), status=status, headers=headers,
                        mimetype="text/html")

    @api("POST", "/credentials/verify", auth=PUBLIC, max_body=limits.MAX_CREDENTIAL_BYTES)
    def verify_credential(self, request):
        limited = self._rate_limited(request)
        if limited is not None:
            return limited
        document = limits.presented_credential(request.get_data(cache=True))
        return lifecycle.check_credential(self.store.db, document, self.runtime.issuer,
                                          domain.wib_date(self.runtime.now()))

    @api("GET", "/status/revocation", auth=PUBLIC)
    def revocation_list(self, request):
        number = status_lists.list_number(request.args.to_dict())
        document = self.runtime.status_lists.get(self.store.db, self.runtime.issuer, number, self.runtime.now())
        return json_response(document, headers={"Cache-Control": "max-age=60"})

    def _rate_limited(self, request) -> Response | None:
        address = client_address(request.remote_addr, request.headers.get("X-Forwarded-For"),
                                 self.runtime.config.trusted_proxy_hops)
        wait = self.runtime.limiter.take(address)
        if wait <= 0:
            return None
        return json_response({"error": "too_many_requests",
                              "message": "too many verification requests from this address; retry later"},
                             429, {"Retry-After": str(max(1, int(wait + 0.999)))})
