"""The certification service: nameko entrypoints only, each handing its request or event to
a use case (``usecases.py``). The scheduled work (numbering, expiry scan) runs in the
background loops of ``dependencies.py``."""
from __future__ import annotations

from shared.auth import ADMIN_ONLY, MEMBER, PUBLIC, principal_of
from shared.handler import reliable_handler
from shared.http import api, json_body
from shared.service_base import ServiceBase
from shared.store import Mongo

from services.certification import dependencies, routes, schemas, store, subscriptions, usecases


class CertificationService(ServiceBase):
    name = "certification"
    store = Mongo(indexes=store.create_indexes)
    openapi = routes.openapi
    runtime = dependencies.runtime
    caches = dependencies.caches
    numbering = dependencies.numbering
    expiry_scan = dependencies.expiry_scan

    # -- events ----------------------------------------------------------------------------
    @reliable_handler(subscriptions.ENROLLMENT_COMPLETED)
    def on_completed(self, event):
        usecases.record_completion(self.store, self.runtime, self.numbering, event)

    # -- admin -----------------------------------------------------------------------------
    @api("POST", "/admin/expiry-scan", auth=ADMIN_ONLY)
    def run_expiry_scan(self, request):
        # An admin HTTP route, not nameko RPC: RPC over the broker carries no caller identity (ADR 0061).
        return usecases.expiry_scan_now(self.store, self.runtime)

    # -- certificates ----------------------------------------------------------------------
    @api("GET", "/certificates", auth=MEMBER)
    def list_certificates(self, request):
        return usecases.list_certificates(self.store, self.runtime, principal_of(request), request.args.to_dict())

    @api("GET", "/certificates/<string:certificate_id>", auth=MEMBER)
    def get_certificate(self, request, certificate_id):
        return usecases.get_certificate(self.store, self.runtime, principal_of(request), certificate_id)

    @api("GET", "/certificates/<string:certificate_id>/pdf", auth=MEMBER)
    def get_pdf(self, request, certificate_id):
        return usecases.certificate_pdf(self.store, self.runtime, principal_of(request), certificate_id)

    @api("GET", "/certificates/<string:certificate_id>/credential", auth=MEMBER)
    def get_credential(self, request, certificate_id):
        return usecases.certificate_credential(self.store, self.runtime, principal_of(request), certificate_id)

    @api("POST", "/certificates/<string:certificate_id>/revoke", auth=ADMIN_ONLY)
    def revoke(self, request, certificate_id):
        return usecases.revoke(self.store, self.runtime, self.caches, principal_of(request), certificate_id,
                               json_body(request))

    # -- public ----------------------------------------------------------------------------
    @api("GET", "/verify/<path:code>", auth=PUBLIC)
    def verify(self, request, code):
        return usecases.verify(self.store, self.runtime, self.caches, request, code)

    @api("POST", "/credentials/verify", auth=PUBLIC, max_body=schemas.MAX_CREDENTIAL_BYTES)
    def verify_credential(self, request):
        return usecases.verify_credential(self.store, self.runtime, self.caches, request)

    @api("GET", "/status/revocation", auth=PUBLIC)
    def revocation_list(self, request):
        return usecases.revocation_list(self.store, self.runtime, self.caches, request.args.to_dict())
