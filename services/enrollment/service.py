"""The enrollment service: nameko entrypoints only; they delegate to app.Enrollment.

Every command comes over HTTP with an authenticated caller: the RPC entrypoints, which ran
with no principal, were removed (issue 17).
"""
from __future__ import annotations

import shutil
import tempfile

from nameko.timer import timer
from werkzeug.wrappers import Response

from services.enrollment import bulk, config, store
from services.enrollment.api import OPENAPI
from services.enrollment.app import Enrollment
from services.enrollment.domain import Actor
from shared.auth import ADMIN_ONLY, MEMBER, STAFF, principal_of
from shared.http import BadRequest, api, json_body
from shared.service_base import ServiceBase
from shared.store import Mongo

SPOOL_IN_MEMORY = 4 * 1024 * 1024


def actor_of(request) -> Actor:
    """The authenticated caller (shared.http put it on the request) as the domain records it."""
    p = principal_of(request)
    return Actor(role=p.role, agency=p.agency, nip=p.nip, subject=p.subject)


def csv_upload(request):
    """The uploaded CSV as a binary file: a raw text/csv body or the first file of a form.

    The body is spooled (memory, then disk) so the answer can stream while the file is
    read, without the client and server each waiting for the other to read.
    """
    if request.mimetype == "multipart/form-data":
        upload = next(iter(request.files.values()), None)
        if upload is None:
            raise BadRequest("the form carries no file; send the CSV as a file field or as a text/csv body")
        source = upload.stream
    else:
        source = request.stream
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
    shutil.copyfileobj(source, spool, 64 * 1024)
    spool.seek(0)
    return spool


def stream_results(request, results) -> Response:
    if request.args.get("format") == "csv" or request.accept_mimetypes.best == "text/csv":
        return Response(bulk.csv_lines(results), mimetype="text/csv")
    return Response(bulk.ndjson(results), mimetype="application/x-ndjson")


class EnrollmentService(ServiceBase):
    name = "enrollment"
    store = Mongo(indexes=store.create_indexes)
    openapi = OPENAPI

    def _app(self) -> Enrollment:
        return Enrollment(self.store)

    # -- HTTP: programmes --------------------------------------------------------------------
    @api("POST", "/programmes", auth=ADMIN_ONLY)
    def create_programme_http(self, request):
        return self._app().create_programme(json_body(request), actor_of(request))

    @api("GET", "/programmes", auth=MEMBER)
    def list_programmes_http(self, request):
        return self._app().list_programmes(request.args)

    @api("GET", "/programmes/<string:code>", auth=MEMBER)
    def get_programme_http(self, request, code):
        return self._app().get_programme(code)

    @api("PATCH", "/programmes/<string:code>", auth=ADMIN_ONLY)
    def update_programme_http(self, request, code):
        return self._app().update_programme(code, json_body(request), actor_of(request))

    @api("POST", "/programmes/<string:code>/publish", auth=ADMIN_ONLY)
    def publish_programme_http(self, request, code):
        return self._app().publish_programme(code, actor_of(request))

    @api("POST", "/programmes/<string:code>/cancel", auth=ADMIN_ONLY)
    def cancel_programme_http(self, request, code):
        return self._app().cancel_programme(code, json_body(request), actor_of(request))

    # -- HTTP: enrolments --------------------------------------------------------------------
    @api("POST", "/programmes/<string:code>/enrolments", auth=STAFF)
    def enrol_http(self, request, code):
        return self._app().enrol(code, json_body(request), request.headers.get("Idempotency-Key"),
                                 actor_of(request))

    @api("POST", "/programmes/<string:code>/enrolments/bulk", max_body=config.bulk_max_bytes(), auth=STAFF)
    def bulk_enrol_http(self, request, code):
        return stream_results(request, self._app().bulk_enrol(code, csv_upload(request), actor_of(request)))

    @api("POST", "/programmes/<string:code>/completions/bulk", max_body=config.bulk_max_bytes(), auth=STAFF)
    def bulk_complete_http(self, request, code):
        return stream_results(request, self._app().bulk_complete(code, csv_upload(request), actor_of(request)))

    @api("GET", "/enrolments", auth=MEMBER)
    def list_enrolments_http(self, request):
        return self._app().list_enrolments(request.args, actor_of(request))

    @api("GET", "/enrolments/<string:enrolment_id>", auth=MEMBER)
    def get_enrolment_http(self, request, enrolment_id):
        return self._app().get_enrolment(enrolment_id, actor_of(request))

    @api("POST", "/enrolments/<string:enrolment_id>/cancel", auth=MEMBER)
    def cancel_enrolment_http(self, request, enrolment_id):
        body = json_body(request) if request.get_data(cache=True) else {}
        return self._app().cancel_enrolment(enrolment_id, body, actor_of(request))

    @api("POST", "/enrolments/<string:enrolment_id>/attendance", auth=STAFF)
    def record_attendance_http(self, request, enrolment_id):
        return self._app().record_attendance(enrolment_id, json_body(request), actor_of(request))

    @api("POST", "/enrolments/<string:enrolment_id>/completion", auth=STAFF)
    def complete_http(self, request, enrolment_id):
        return self._app().complete(enrolment_id, json_body(request), actor_of(request))

    # -- housekeeping ------------------------------------------------------------------------
    @timer(interval=config.cascade_sweep_interval_s())
    def finish_programme_cancellations(self):
        """Completes cancellations interrupted by a crash (any replica may run it)."""
        self._app().sweep_cascades()
