"""The reporting service: nameko entrypoints only, each handing its request or event to a use case."""
from __future__ import annotations

from shared.auth import ADMIN_ONLY, MEMBER, STAFF, principal_of
from shared.handler import reliable_handler
from shared.http import api, json_body
from shared.service_base import ServiceBase
from shared.store import Mongo

from services.reporting import dependencies, routes, subscriptions, usecases


class ReportingService(ServiceBase):
    name = "reporting"
    store = Mongo(indexes=usecases.prepare_store)
    openapi = routes.openapi
    runtime = dependencies.runtime
    counter_folding = dependencies.counter_folding
    shortfall_checkpoints = dependencies.shortfall_checkpoints
    checkpoint_runs = dependencies.checkpoint_runs

    # -- events: every public event feeds the read models ---------------------------------
    @reliable_handler(subscriptions.ENROLLMENT_PROGRAMME_PUBLISHED)
    def on_programme_published(self, event):
        usecases.apply_event(self.store, event, self.runtime.config)

    @reliable_handler(subscriptions.ENROLLMENT_PROGRAMME_UPDATED)
    def on_programme_updated(self, event):
        usecases.apply_event(self.store, event, self.runtime.config)

    @reliable_handler(subscriptions.ENROLLMENT_PROGRAMME_CANCELLED)
    def on_programme_cancelled(self, event):
        usecases.apply_event(self.store, event, self.runtime.config)

    @reliable_handler(subscriptions.ENROLLMENT_ENROLLED)
    def on_enrolled(self, event):
        usecases.apply_event(self.store, event, self.runtime.config)

    @reliable_handler(subscriptions.ENROLLMENT_WAITLISTED)
    def on_waitlisted(self, event):
        usecases.apply_event(self.store, event, self.runtime.config)

    @reliable_handler(subscriptions.ENROLLMENT_CANCELLED)
    def on_cancelled(self, event):
        usecases.apply_event(self.store, event, self.runtime.config)

    @reliable_handler(subscriptions.ENROLLMENT_COMPLETED)
    def on_completed(self, event):
        usecases.apply_event(self.store, event, self.runtime.config)

    @reliable_handler(subscriptions.ENROLLMENT_ASN_REGISTERED)
    def on_asn_registered(self, event):
        usecases.apply_event(self.store, event, self.runtime.config)

    @reliable_handler(subscriptions.ENROLLMENT_ASN_UPDATED)
    def on_asn_updated(self, event):
        usecases.apply_event(self.store, event, self.runtime.config)

    @reliable_handler(subscriptions.ENROLLMENT_ASN_LEFT)
    def on_asn_left(self, event):
        usecases.apply_event(self.store, event, self.runtime.config)

    @reliable_handler(subscriptions.CERTIFICATION_CERTIFIED)
    def on_certified(self, event):
        usecases.apply_event(self.store, event, self.runtime.config)

    @reliable_handler(subscriptions.CERTIFICATION_REVOKED)
    def on_revoked(self, event):
        usecases.apply_event(self.store, event, self.runtime.config)

    @reliable_handler(subscriptions.CERTIFICATION_EXPIRING)
    def on_expiring(self, event):
        usecases.apply_event(self.store, event, self.runtime.config)

    @reliable_handler(subscriptions.CERTIFICATION_EXPIRED)
    def on_expired(self, event):
        usecases.apply_event(self.store, event, self.runtime.config)

    # -- HTTP: figures -------------------------------------------------------------------------
    @api("GET", "/ledger/<string:nip>", auth=MEMBER)
    def ledger(self, request, nip):
        return usecases.ledger(self.store, self.runtime, principal_of(request), nip, request.args)

    @api("GET", "/team", auth=MEMBER)
    def team(self, request):
        return usecases.team(self.store, self.runtime, principal_of(request), request.args)

    @api("GET", "/compliance", auth=STAFF)
    def compliance(self, request):
        return usecases.compliance(self.store, self.runtime, principal_of(request), request.args)

    @api("GET", "/never-enrolled", auth=STAFF)
    def never_enrolled(self, request):
        return usecases.never_enrolled(self.store, self.runtime, principal_of(request), request.args)

    @api("GET", "/programmes", auth=STAFF)
    def programmes(self, request):
        return usecases.programmes(self.store, self.runtime, request.args)

    @api("GET", "/programmes/<string:code>/stats", auth=STAFF)
    def programme_stats(self, request, code):
        return usecases.programme_stats(self.store, code)

    @api("GET", "/certificates/monthly", auth=STAFF)
    def certificates_monthly(self, request):
        return usecases.certificates_monthly(self.store, self.runtime, principal_of(request), request.args)

    @api("GET", "/dashboard", auth=STAFF)
    def dashboard(self, request):
        return usecases.dashboard_page(self.store, self.runtime, principal_of(request), request.args)

    # -- HTTP: exports -------------------------------------------------------------------------
    @api("GET", "/exports/compliance.csv", auth=STAFF)
    def compliance_csv(self, request):
        return usecases.compliance_export(self.store, self.runtime, principal_of(request), request.args, "csv")

    @api("GET", "/exports/compliance.xlsx", auth=STAFF)
    def compliance_xlsx(self, request):
        return usecases.compliance_export(self.store, self.runtime, principal_of(request), request.args, "xlsx")

    @api("GET", "/exports/never-enrolled.csv", auth=STAFF)
    def never_enrolled_csv(self, request):
        return usecases.never_enrolled_export(self.store, self.runtime, principal_of(request), request.args, "csv")

    @api("GET", "/exports/never-enrolled.xlsx", auth=STAFF)
    def never_enrolled_xlsx(self, request):
        return usecases.never_enrolled_export(self.store, self.runtime, principal_of(request), request.args, "xlsx")

    @api("GET", "/exports/ledger.csv", auth=STAFF)
    def ledger_csv(self, request):
        return usecases.ledger_export(self.store, self.runtime, principal_of(request), request.args, "csv")

    @api("GET", "/exports/ledger.xlsx", auth=STAFF)
    def ledger_xlsx(self, request):
        return usecases.ledger_export(self.store, self.runtime, principal_of(request), request.args, "xlsx")

    @api("GET", "/exports/ledger-siasn.csv", auth=STAFF)
    def ledger_siasn_csv(self, request):
        return usecases.ledger_export(self.store, self.runtime, principal_of(request), request.args, "csv", "siasn")

    @api("GET", "/exports/ledger-siasn.xlsx", auth=STAFF)
    def ledger_siasn_xlsx(self, request):
        return usecases.ledger_export(self.store, self.runtime, principal_of(request), request.args, "xlsx", "siasn")

    # -- operations ----------------------------------------------------------------------------
    @api("POST", "/admin/shortfall/<string:checkpoint>/run", auth=ADMIN_ONLY)
    def run_checkpoint_http(self, request, checkpoint):
        return usecases.request_checkpoint(self.store, self.runtime, self.checkpoint_runs, checkpoint)

    @api("GET", "/admin/shortfall/<string:checkpoint>", auth=ADMIN_ONLY)
    def checkpoint_job(self, request, checkpoint):
        return usecases.checkpoint_job(self.store, self.runtime, checkpoint)

    @api("POST", "/admin/rebuild", auth=ADMIN_ONLY)
    def rebuild_read_models(self, request):
        body = json_body(request) if request.get_data() else {}
        return usecases.rebuild_read_models(self.store, self.runtime, request.headers["Authorization"], body)
