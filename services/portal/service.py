"""The portal: nameko HTTP entrypoints only, each handing the request to a use case
(``usecases.py``). Pages are ``@page`` (adapters/web.py): HTML errors in Bahasa Indonesia,
security headers, the session cookie instead of a bearer token."""
from __future__ import annotations

from shared.auth import PUBLIC
from shared.http import api
from shared.service_base import WebBase
from shared.store import Mongo

from services.portal import dependencies, domain, routes, store, usecases
from services.portal.adapters.web import page


class PortalService(WebBase):
    name = "portal"
    store = Mongo(indexes=store.create_indexes, outbox=False)
    openapi = routes.openapi
    runtime = dependencies.runtime
    clients = dependencies.clients
    oidc = dependencies.oidc

    @api("GET", "/health/ready", auth=PUBLIC)
    def health_ready(self, request):
        return usecases.ready(self.store, self.clients, self.name)

    # -- sign-in -----------------------------------------------------------------------------
    @page("GET", "/masuk")
    def sign_in_page(self, request):
        return usecases.sign_in_page(self.store, self.runtime, self.clients, self.oidc, request)

    @page("GET", "/masuk/oidc")
    def oidc_start(self, request):
        return usecases.oidc_start(self.store, self.runtime, self.oidc, request)

    @page("GET", "/masuk/callback")
    def oidc_callback(self, request):
        return usecases.oidc_callback(self.store, self.runtime, self.clients, self.oidc, request)

    @page("POST", "/masuk/dev")
    def dev_sign_in(self, request):
        return usecases.dev_sign_in(self.store, self.runtime, self.clients, request)

    @page("POST", "/keluar")
    def sign_out(self, request):
        return usecases.sign_out(self.store, self.runtime, self.oidc, request)

    # -- ASN pages ---------------------------------------------------------------------------
    @page("GET", "/")
    def home(self, request):
        return usecases.home(self.store, self.runtime, self.clients, request)

    @page("GET", "/katalog")
    def catalogue(self, request):
        return usecases.catalogue(self.store, self.runtime, self.clients, request)

    @page("GET", "/katalog/<string:code>")
    def programme(self, request, code):
        return usecases.programme_page(self.store, self.runtime, self.clients, request, code)

    @page("POST", "/katalog/<string:code>/daftar")
    def enrol(self, request, code):
        return usecases.enrol(self.store, self.runtime, self.clients, request, code)

    @page("POST", "/pendaftaran/<string:enrolment_id>/batal")
    def cancel(self, request, enrolment_id):
        return usecases.cancel(self.store, self.runtime, self.clients, request, enrolment_id)

    @page("GET", "/riwayat")
    def history(self, request):
        return usecases.history(self.store, self.runtime, self.clients, request)

    @page("GET", "/sertifikat")
    def certificates(self, request):
        return usecases.certificates(self.store, self.runtime, self.clients, request)

    @page("GET", "/sertifikat/<string:certificate_id>.pdf")
    def certificate_pdf(self, request, certificate_id):
        return usecases.certificate_file(self.store, self.runtime, self.clients, request, certificate_id, "pdf")

    @page("GET", "/sertifikat/<string:certificate_id>/kredensial.json")
    def certificate_credential(self, request, certificate_id):
        return usecases.certificate_file(self.store, self.runtime, self.clients, request, certificate_id,
                                         "credential")

    @page("GET", "/kotak-masuk")
    def inbox(self, request):
        return usecases.inbox(self.store, self.runtime, self.clients, request)

    @page("POST", "/kotak-masuk/<string:message_id>/dibaca")
    def mark_read(self, request, message_id):
        return usecases.mark_read(self.store, self.runtime, self.clients, request, message_id)

    # -- calendar ----------------------------------------------------------------------------
    @page("GET", "/pendaftaran/<string:enrolment_id>.ics")
    def enrolment_ics(self, request, enrolment_id):
        return usecases.enrolment_ics(self.store, self.runtime, self.clients, request, enrolment_id)

    @page("GET", "/kalender")
    def calendar_page(self, request):
        return usecases.calendar_page(self.store, self.runtime, request)

    @page("POST", "/kalender")
    def calendar_create(self, request):
        return usecases.calendar_create(self.store, self.runtime, request)

    @page("POST", "/kalender/cabut")
    def calendar_revoke(self, request):
        return usecases.calendar_revoke(self.store, self.runtime, request)

    @page("GET", "/kalender/<string:secret>.ics")
    def calendar_feed(self, request, secret):
        return usecases.calendar_feed(self.store, self.runtime, self.clients, secret)

    # -- files and the rest ------------------------------------------------------------------
    @page("GET", "/static/<string:name>")
    def static(self, request, name):
        return usecases.static(name)

    @page("GET", "/<path:rest>")
    def not_found(self, request, rest):
        return usecases.not_found(self.store, self.runtime, request)

    # -- supervisor, operator and admin pages (izin atasan, tim saya, Plt/Plh, log akses) --
    @page("GET", "/persetujuan")
    def approvals(self, request):
        return usecases.approvals_page(self.store, self.runtime, self.clients, request)

    @page("POST", "/persetujuan/<string:enrolment_id>/keputusan")
    def decide(self, request, enrolment_id):
        return usecases.decide(self.store, self.runtime, self.clients, request, enrolment_id)

    @page("GET", "/persetujuan/<string:token>")
    def approval_link(self, request, token):
        return usecases.approval_link_page(self.store, self.runtime, self.clients, request, token)

    @page("POST", "/persetujuan/<string:token>")
    def decide_by_link(self, request, token):
        return usecases.decide_by_link(self.store, self.runtime, self.clients, request, token)

    @page("GET", "/tim")
    def team(self, request):
        return usecases.team_page(self.store, self.runtime, self.clients, request)

    @page("GET", "/operator/plt")
    def acting(self, request):
        return usecases.acting_page(self.store, self.runtime, self.clients, request)

    @page("POST", "/operator/plt")
    def set_acting(self, request):
        return usecases.set_acting(self.store, self.runtime, self.clients, request)

    @page("POST", "/operator/plt/akhiri")
    def end_acting(self, request):
        return usecases.end_acting(self.store, self.runtime, self.clients, request)

    @page("GET", "/admin/log-akses")
    def access_log_page(self, request):
        return usecases.access_log_page(self.store, self.runtime, self.clients, request)

    # -- operator console: oversight (issue 21) --
    @page("GET", "/operator/dasbor")
    def oversight_dashboard(self, request):
        return usecases.oversight_dashboard(self.store, self.runtime, self.clients, request)

    @page("GET", "/operator/belum-ikut")
    def never_enrolled(self, request):
        return usecases.never_enrolled_page(self.store, self.runtime, self.clients, request)

    @page("GET", "/operator/ekspor/<string:name>")
    def export_download(self, request, name):
        return usecases.export_download(self.store, self.runtime, self.clients, request, name)

    @page("GET", "/admin/checkpoint")
    def checkpoint_page(self, request):
        return usecases.checkpoint_page(self.store, self.runtime, self.clients, request)

    @page("POST", "/admin/checkpoint")
    def checkpoint_run(self, request):
        return usecases.checkpoint_run(self.store, self.runtime, self.clients, request)

    @page("GET", "/admin/checkpoint/status")
    def checkpoint_status(self, request):
        return usecases.checkpoint_status(self.store, self.runtime, self.clients, request)

    @page("GET", "/operator/program/<string:code>/sertifikat")
    def programme_certificates(self, request, code):
        return usecases.programme_certificates_page(self.store, self.runtime, self.clients, request, code)

    @page("POST", "/operator/program/<string:code>/sertifikat/<string:certificate_id>/cabut")
    def revoke_certificate(self, request, code, certificate_id):
        return usecases.revoke_certificate(self.store, self.runtime, self.clients, request, code, certificate_id)

    # -- operator console: programmes (issue 21) --
    @page("GET", "/operator/program")
    def console_programmes(self, request):
        return usecases.console_list(self.store, self.runtime, self.clients, request)

    @page("GET", "/operator/program/baru")
    def console_new_programme(self, request):
        return usecases.console_new(self.store, self.runtime, self.clients, request)

    @page("POST", "/operator/program/baru")
    def console_create_programme(self, request):
        return usecases.console_create(self.store, self.runtime, self.clients, request)

    @page("GET", "/operator/program/jp")
    def console_jp_preview(self, request):
        return usecases.console_jp(self.store, self.runtime, self.clients, request)

    @page("GET", "/operator/program/<string:code>")
    def console_programme(self, request, code):
        return usecases.console_programme(self.store, self.runtime, self.clients, request, code)

    @page("GET", "/operator/program/<string:code>/ubah")
    def console_edit_programme(self, request, code):
        return usecases.console_edit(self.store, self.runtime, self.clients, request, code)

    @page("POST", "/operator/program/<string:code>/ubah")
    def console_update_programme(self, request, code):
        return usecases.console_update(self.store, self.runtime, self.clients, request, code)

    @page("POST", "/operator/program/<string:code>/terbitkan")
    def console_publish_programme(self, request, code):
        return usecases.console_publish(self.store, self.runtime, self.clients, request, code)

    @page("POST", "/operator/program/<string:code>/batal")
    def console_cancel_programme(self, request, code):
        return usecases.console_cancel(self.store, self.runtime, self.clients, request, code)

    @page("POST", "/operator/program/<string:code>/daftar")
    def console_enrol(self, request, code):
        return usecases.console_enrol(self.store, self.runtime, self.clients, request, code)

    @page("POST", "/operator/pendaftaran/<string:enrolment_id>/batal")
    def console_cancel_enrolment(self, request, enrolment_id):
        return usecases.console_cancel_enrolment(self.store, self.runtime, self.clients, request, enrolment_id)

    @page("POST", "/operator/pendaftaran/<string:enrolment_id>/naikkan")
    def console_promote(self, request, enrolment_id):
        return usecases.console_promote(self.store, self.runtime, self.clients, request, enrolment_id)

    # -- operator console: uploads and marking (issue 21) --
    @page("GET", "/operator/unggah")
    def upload_page(self, request):
        return usecases.upload_page(self.store, self.runtime, self.clients, request)

    # the file itself: up to the bulk limit (the configured one checked in the use case), not 64 KiB
    @page("POST", "/operator/unggah", max_body=domain.UPLOAD_BODY_CEILING)
    def upload_submit(self, request):
        return usecases.upload_submit(self.store, self.runtime, self.clients, request)

    @page("POST", "/operator/unggah/kirim", max_body=domain.UPLOAD_BODY_CEILING)
    def upload_stream(self, request):
        return usecases.upload_stream(self.store, self.runtime, self.clients, request)

    @page("GET", "/operator/program/<string:code>/penilaian")
    def marking_page(self, request, code):
        return usecases.marking_page(self.store, self.runtime, self.clients, request, code)

    # a row per participant: up to 2,000 rows of radios and scores, more than a page's 64 KiB
    @page("POST", "/operator/program/<string:code>/penilaian", max_body=1024 * 1024)
    def mark(self, request, code):
        return usecases.mark(self.store, self.runtime, self.clients, request, code)
