"""The enrollment service: nameko entrypoints only, each handing the request to a use case
(usecases.py); the routes' documentation is routes.py.

Every command comes over HTTP with an authenticated caller: the RPC entrypoints, which ran
with no principal, were removed (issue 17).
"""
from __future__ import annotations

from services.enrollment import dependencies, routes, usecases
from services.enrollment.adapters.bulk_files import roster_csv_lines
from services.enrollment.adapters.web import CsvUpload, actor_of, streamed_results
from services.enrollment.config import BULK_BODY_CEILING
from services.enrollment.store import create_indexes
from shared.auth import ADMIN_ONLY, MEMBER, STAFF
from shared.http import api, json_body
from shared.service_base import ServiceBase
from shared.store import Mongo


class EnrollmentService(ServiceBase):
    name = "enrollment"
    store = Mongo(indexes=create_indexes)
    openapi = routes.openapi
    runtime = dependencies.runtime
    cascade_sweep = dependencies.cascade_sweep

    # -- programmes --------------------------------------------------------------------------
    @api("POST", "/programmes", auth=ADMIN_ONLY)
    def create_programme_http(self, request):
        return usecases.create_programme(self.store, self.runtime, actor_of(request), json_body(request))

    @api("GET", "/programmes", auth=MEMBER)
    def list_programmes_http(self, request):
        return usecases.list_programmes(self.store, self.runtime, actor_of(request), request.args)

    @api("GET", "/programmes/<string:code>", auth=MEMBER)
    def get_programme_http(self, request, code):
        return usecases.get_programme_view(self.store, self.runtime, actor_of(request), code)

    @api("PATCH", "/programmes/<string:code>", auth=ADMIN_ONLY)
    def update_programme_http(self, request, code):
        return usecases.update_programme(self.store, self.runtime, actor_of(request), code, json_body(request))

    @api("POST", "/programmes/<string:code>/publish", auth=ADMIN_ONLY)
    def publish_programme_http(self, request, code):
        return usecases.publish_programme(self.store, self.runtime, actor_of(request), code)

    @api("POST", "/programmes/<string:code>/cancel", auth=ADMIN_ONLY)
    def cancel_programme_http(self, request, code):
        return usecases.cancel_programme(self.store, self.runtime, actor_of(request), code, json_body(request))

    # -- enrolments --------------------------------------------------------------------------
    @api("POST", "/programmes/<string:code>/enrolments", auth=MEMBER)
    def enrol_http(self, request, code):
        return usecases.enrol(self.store, self.runtime, actor_of(request), code, json_body(request),
                              request.headers.get("Idempotency-Key"))

    @api("GET", "/enrolments", auth=MEMBER)
    def list_enrolments_http(self, request):
        return usecases.list_enrolments(self.store, self.runtime, actor_of(request), request.args)

    @api("GET", "/enrolments/counts", auth=STAFF)
    def count_enrolments_http(self, request):
        return usecases.count_enrolments(self.store, self.runtime, actor_of(request), request.args)

    @api("GET", "/enrolments/<string:enrolment_id>", auth=MEMBER)
    def get_enrolment_http(self, request, enrolment_id):
        return usecases.get_enrolment_view(self.store, self.runtime, actor_of(request), enrolment_id)

    @api("POST", "/enrolments/<string:enrolment_id>/cancel", auth=MEMBER)
    def cancel_enrolment_http(self, request, enrolment_id):
        body = json_body(request) if request.get_data(cache=True) else {}  # the body is optional
        return usecases.cancel_enrolment(self.store, self.runtime, actor_of(request), enrolment_id, body)

    @api("POST", "/enrolments/<string:enrolment_id>/attendance", auth=STAFF)
    def record_attendance_http(self, request, enrolment_id):
        return usecases.record_attendance(self.store, self.runtime, actor_of(request), enrolment_id,
                                          json_body(request))

    @api("POST", "/enrolments/<string:enrolment_id>/completion", auth=STAFF)
    def complete_http(self, request, enrolment_id):
        return usecases.complete(self.store, self.runtime, actor_of(request), enrolment_id, json_body(request))

    # -- operator console (issue 21) ------------------------------------------------------------
    @api("POST", "/programmes/<string:code>/marking", auth=STAFF)
    def mark_http(self, request, code):
        return usecases.mark(self.store, self.runtime, actor_of(request), code, json_body(request))

    @api("POST", "/enrolments/<string:enrolment_id>/promote", auth=STAFF)
    def promote_http(self, request, enrolment_id):
        return usecases.promote(self.store, self.runtime, actor_of(request), enrolment_id)

    @api("GET", "/jp", auth=MEMBER)
    def preview_jp_http(self, request):
        return usecases.preview_jp(self.store, self.runtime, actor_of(request), request.args)

    # -- bulk uploads (the configured BULK_MAX_BYTES is checked as the file is read) ----------
    @api("POST", "/programmes/<string:code>/enrolments/bulk", max_body=BULK_BODY_CEILING, auth=STAFF)
    def bulk_enrol_http(self, request, code):
        results = usecases.bulk_enrol(self.store, self.runtime, actor_of(request), code, CsvUpload(request))
        return streamed_results(request, results)

    @api("POST", "/programmes/<string:code>/completions/bulk", max_body=BULK_BODY_CEILING, auth=STAFF)
    def bulk_complete_http(self, request, code):
        results = usecases.bulk_complete(self.store, self.runtime, actor_of(request), code, CsvUpload(request))
        return streamed_results(request, results)

    # -- the roster (daftar ASN) ----------------------------------------------------------------
    @api("POST", "/roster/import", max_body=BULK_BODY_CEILING, auth=STAFF)
    def import_roster_http(self, request):
        results = usecases.import_roster(self.store, self.runtime, actor_of(request), CsvUpload(request), request.args)
        return streamed_results(request, results, roster_csv_lines)

    @api("GET", "/roster", auth=MEMBER)
    def list_roster_http(self, request):
        return usecases.list_roster(self.store, self.runtime, actor_of(request), request.args)

    @api("GET", "/roster/<string:nip>", auth=MEMBER)
    def get_roster_entry_http(self, request, nip):
        return usecases.get_roster_entry(self.store, self.runtime, actor_of(request), nip)

    @api("PUT", "/roster/<string:nip>/acting", auth=STAFF)
    def set_acting_http(self, request, nip):
        return usecases.set_acting(self.store, self.runtime, actor_of(request), nip, json_body(request))

    @api("DELETE", "/roster/<string:nip>/acting", auth=STAFF)
    def revoke_acting_http(self, request, nip):
        return usecases.revoke_acting(self.store, self.runtime, actor_of(request), nip)

    # -- supervisor approval (izin atasan), ADR 0092 ----------------------------------------------
    @api("GET", "/approvals", auth=MEMBER)
    def list_approvals_http(self, request):
        return usecases.list_approvals(self.store, self.runtime, actor_of(request), request.args)

    @api("POST", "/enrolments/<string:enrolment_id>/approval", auth=MEMBER)
    def decide_approval_http(self, request, enrolment_id):
        return usecases.decide_approval(self.store, self.runtime, actor_of(request), enrolment_id,
                                        json_body(request))

    @api("POST", "/approvals/link", auth=MEMBER)
    def open_approval_link_http(self, request):
        return usecases.open_link(self.store, self.runtime, actor_of(request), json_body(request))

    @api("POST", "/approvals/link/decision", auth=MEMBER)
    def decide_by_link_http(self, request):
        return usecases.decide_by_link(self.store, self.runtime, actor_of(request), json_body(request))
