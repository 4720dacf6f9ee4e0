"""The reporting service: nameko entrypoints only; they delegate to the domain modules."""
from __future__ import annotations

import json

from nameko.extensions import DependencyProvider
from nameko.timer import timer
from werkzeug.wrappers import Response

from shared.auth import ADMIN_ONLY, MEMBER, STAFF, principal_of
from shared.config import settings_of
from shared.errors import Invalid
from shared.handler import reliable_handler
from shared.http import _default, api, json_body
from shared.openapi import OpenApi
from shared.service_base import ServiceBase
from shared.store import Mongo

from services.reporting import subscriptions

from services.reporting import (access, config, dashboard, exports, folding, migrations, projections, queries,
                                rebuild, schemas, shortfall, store)
from services.reporting.timefmt import WIB, utc_now

CONFIG = config.current()


class Clock(DependencyProvider):
    """The time the service runs on; tests inject one through ``Settings.extra["clock"]``."""

    def setup(self):
        self.now = settings_of(self.container).extra.get("clock") or utc_now

    def get_dependency(self, worker_ctx):
        return self.now


def _args(request) -> dict:
    # An empty filter (``agency=``, as a form sends it) means no filter.
    return {k: v for k, v in request.args.items() if v != ""}


def _jsonable(value):
    return json.loads(json.dumps(value, default=_default))


def _download(body, filename: str, mimetype: str) -> Response:
    return Response(body, mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


openapi = OpenApi("ASN reporting service", description="JP ledger, agency compliance, programme statistics, "
                  "exports and the dashboard, built from every public event of the platform.")
openapi.route("GET", "/ledger/{nip}", "An ASN's JP ledger by year", query=schemas.YearQuery,
              response=schemas.LedgerResponse,
              responses={403: "not the caller's to see (an operator: any NIP outside its agency, known or not)",
                         404: "NIP not known (admin, or an ASN asking for themself)", 422: "invalid NIP or year"},
              tags=["ledger"])
openapi.route("GET", "/compliance", "Agency compliance with the yearly JP target", query=schemas.ComplianceQuery,
              response=schemas.ComplianceResponse, responses={422: "invalid filter"}, tags=["compliance"])
openapi.route("GET", "/programmes", "Programmes with their statistics", query=schemas.ProgrammesQuery,
              response=schemas.ProgrammesResponse, tags=["programmes"])
openapi.route("GET", "/programmes/{code}/stats", "Enrolment and result statistics of a programme",
              response=schemas.ProgrammeStatsResponse, responses={404: "programme not known"}, tags=["programmes"])
openapi.route("GET", "/certificates/monthly", "Certificates issued, revoked, expiring, expired by month and agency",
              query=schemas.DashboardQuery, response=schemas.CertificatesMonthlyResponse, tags=["certificates"])
openapi.route("GET", "/exports/compliance.csv", "Agency compliance as CSV", query=schemas.ComplianceExportQuery,
              content_type="text/csv", tags=["exports"])
openapi.route("GET", "/exports/compliance.xlsx", "Agency compliance as XLSX", query=schemas.ComplianceExportQuery,
              content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", tags=["exports"])
_LEDGER_EXPORT_ERRORS = {403: "an operator naming another agency, or a NIP outside its agency (known or not)"}
openapi.route("GET", "/exports/ledger.csv", "JP ledger entries as CSV", query=schemas.LedgerExportQuery,
              content_type="text/csv", responses=_LEDGER_EXPORT_ERRORS, tags=["exports"])
openapi.route("GET", "/exports/ledger.xlsx", "JP ledger entries as XLSX", query=schemas.LedgerExportQuery,
              content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
              responses=_LEDGER_EXPORT_ERRORS, tags=["exports"])
openapi.route("GET", "/exports/ledger-siasn.csv", "JP ledger in the shape of SIASN training-history records",
              query=schemas.LedgerExportQuery, content_type="text/csv", responses=_LEDGER_EXPORT_ERRORS,
              tags=["exports"])
openapi.route("GET", "/dashboard", "Dashboard (HTML, Bahasa Indonesia)", query=schemas.DashboardQuery,
              content_type="text/html", tags=["dashboard"])
openapi.route("POST", "/admin/shortfall/{checkpoint}/run", "Run a shortfall checkpoint now (e.g. 2026-Q3)",
              response=schemas.ShortfallRunResponse, responses={422: "unknown checkpoint"}, tags=["admin"])
openapi.route("POST", "/admin/rebuild", "Rebuild every read model from the producers' event logs (ADR 0041)",
              body=schemas.RebuildRequest, response=schemas.RebuildResponse,
              responses={409: "a rebuild is already running", 502: "a producer refused or did not answer the replay"},
              tags=["admin"])


class ReportingService(ServiceBase):
    name = "reporting"
    store = Mongo(indexes=migrations.prepare)
    openapi = openapi
    clock = Clock()

    # -- events: every public event feeds the read models ---------------------------------
    def _project(self, event) -> None:
        projections.apply_event(self.store, event, CONFIG)

    @reliable_handler(subscriptions.ENROLLMENT_PROGRAMME_PUBLISHED)
    def on_programme_published(self, event):
        self._project(event)

    @reliable_handler(subscriptions.ENROLLMENT_PROGRAMME_UPDATED)
    def on_programme_updated(self, event):
        self._project(event)

    @reliable_handler(subscriptions.ENROLLMENT_PROGRAMME_CANCELLED)
    def on_programme_cancelled(self, event):
        self._project(event)

    @reliable_handler(subscriptions.ENROLLMENT_ENROLLED)
    def on_enrolled(self, event):
        self._project(event)

    @reliable_handler(subscriptions.ENROLLMENT_WAITLISTED)
    def on_waitlisted(self, event):
        self._project(event)

    @reliable_handler(subscriptions.ENROLLMENT_CANCELLED)
    def on_cancelled(self, event):
        self._project(event)

    @reliable_handler(subscriptions.ENROLLMENT_COMPLETED)
    def on_completed(self, event):
        self._project(event)

    @reliable_handler(subscriptions.CERTIFICATION_CERTIFIED)
    def on_certified(self, event):
        self._project(event)

    @reliable_handler(subscriptions.CERTIFICATION_REVOKED)
    def on_revoked(self, event):
        self._project(event)

    @reliable_handler(subscriptions.CERTIFICATION_EXPIRING)
    def on_expiring(self, event):
        self._project(event)

    @reliable_handler(subscriptions.CERTIFICATION_EXPIRED)
    def on_expired(self, event):
        self._project(event)

    # -- HTTP --------------------------------------------------------------------------------
    def _rm(self) -> store.ReadModels:
        return store.current_models(self.store.db)

    def _year(self, year: int | None) -> int:
        return year if year is not None else self.clock().astimezone(WIB).year

    def _agency(self, rm, agency: str | None, request=None) -> str | None:
        """The agency filter: an operator sees only its own agency's figures (another is 403)."""
        if request is not None:
            agency = principal_of(request).agency_filter(agency)
        if agency and not queries.known_agency(rm, agency):
            raise Invalid(f"agency {agency!r} is not an OPD code of Kota Bukittinggi", field="agency")
        return agency

    @api("GET", "/ledger/<string:nip>", auth=MEMBER)
    def ledger(self, request, nip):
        q = schemas.YearQuery().load(_args(request))
        if not nip.isdigit() or len(nip) != 18:
            raise Invalid("NIP must be 18 digits", field="nip")
        rm = self._rm()
        # The scope first: a 404 before it would tell any operator which NIPs the platform knows.
        access.require_ledger_access(rm, principal_of(request), nip)
        return queries.ledger(rm, CONFIG, nip, q["year"])

    @api("GET", "/compliance", auth=STAFF)
    def compliance(self, request):
        q = schemas.ComplianceQuery().load(_args(request))
        rm = self._rm()
        agency = self._agency(rm, q["agency"], request)
        return queries.compliance(rm, CONFIG, self._year(q["year"]), agency=agency,
                                  kind=q["kind"], competency_type=q["competency_type"], page=q["page"],
                                  per_page=q["per_page"] or CONFIG.default_page_size, sort=q["sort"])

    @api("GET", "/programmes", auth=STAFF)
    def programmes(self, request):
        q = schemas.ProgrammesQuery().load(_args(request))
        return queries.programmes(self._rm(), q["year"], q["kind"], q["competency_type"], q["page"],
                                  q["per_page"] or CONFIG.default_page_size)

    @api("GET", "/programmes/<string:code>/stats", auth=STAFF)
    def programme_stats(self, request, code):
        return queries.programme_stats(self._rm(), code)

    @api("GET", "/certificates/monthly", auth=STAFF)
    def certificates_monthly(self, request):
        q = schemas.DashboardQuery().load(_args(request))
        rm = self._rm()
        return queries.certificates_by_month(rm, self._year(q["year"]), self._agency(rm, q["agency"], request))

    @api("GET", "/exports/compliance.csv", auth=STAFF)
    def compliance_csv(self, request):
        report, name = self._compliance_export(request)
        return _download(exports.csv_stream(exports.COMPLIANCE_HEADER, exports.compliance_rows(report)),
                         f"{name}.csv", "text/csv")

    @api("GET", "/exports/compliance.xlsx", auth=STAFF)
    def compliance_xlsx(self, request):
        report, name = self._compliance_export(request)
        body = exports.xlsx_bytes(f"Kepatuhan JP {report['year']}", exports.COMPLIANCE_HEADER,
                                  exports.compliance_rows(report))
        return _download(body, f"{name}.xlsx", exports.XLSX_MIMETYPE)

    def _compliance_export(self, request) -> tuple[dict, str]:
        q = schemas.ComplianceExportQuery().load(_args(request))
        rm = self._rm()
        year = self._year(q["year"])
        agency = self._agency(rm, q["agency"], request)
        report = queries.compliance(rm, CONFIG, year, agency=agency, kind=q["kind"],
                                    competency_type=q["competency_type"], per_page=100_000)
        return report, f"kepatuhan-jp-{year}" + (f"-{agency}" if agency else "")

    @api("GET", "/exports/ledger.csv", auth=STAFF)
    def ledger_csv(self, request):
        entries, name = self._ledger_export(request)
        return _download(exports.csv_stream(exports.LEDGER_HEADER, map(exports.ledger_row, entries)),
                         f"{name}.csv", "text/csv")

    @api("GET", "/exports/ledger.xlsx", auth=STAFF)
    def ledger_xlsx(self, request):
        entries, name = self._ledger_export(request)
        body = exports.xlsx_bytes("Buku JP", exports.LEDGER_HEADER, map(exports.ledger_row, entries))
        return _download(body, f"{name}.xlsx", exports.XLSX_MIMETYPE)

    @api("GET", "/exports/ledger-siasn.csv", auth=STAFF)
    def ledger_siasn_csv(self, request):
        entries, name = self._ledger_export(request)
        return _download(exports.csv_stream(exports.SIASN_HEADER, map(exports.siasn_row, entries)),
                         f"{name}-siasn.csv", "text/csv")

    def _ledger_export(self, request):
        q = schemas.LedgerExportQuery().load(_args(request))
        rm = self._rm()
        year = self._year(q["year"])
        agency = self._agency(rm, q["agency"], request)
        if q["nip"]:
            # The same rule as GET /ledger/<nip>: naming a NIP must not reach past the agency scope.
            access.require_ledger_access(rm, principal_of(request), q["nip"])
        name = f"buku-jp-{year}" + (f"-{agency}" if agency else "") + (f"-{q['nip']}" if q["nip"] else "")
        return queries.ledger_rows(rm, year, agency, q["nip"]), name

    @api("GET", "/dashboard", auth=STAFF)
    def dashboard(self, request):
        q = schemas.DashboardQuery().load(_args(request))
        rm = self._rm()
        agency = self._agency(rm, q["agency"], request)
        html = dashboard.render(rm, CONFIG, self._year(q["year"]), agency, self.clock())
        return Response(html, mimetype="text/html")

    @api("POST", "/admin/shortfall/<string:checkpoint>/run", auth=ADMIN_ONLY)
    def run_checkpoint_http(self, request, checkpoint):
        return _jsonable(self._detector().run(checkpoint))

    # -- shortfall detection -----------------------------------------------------------------
    def _detector(self) -> shortfall.ShortfallDetector:
        return shortfall.ShortfallDetector(self.store, CONFIG, self.clock)

    @timer(interval=CONFIG.shortfall_poll_s)
    def shortfall_tick(self):
        self._detector().run_due()

    # -- counters: the lease holder folds the deltas the event handlers recorded ------------
    counters = folding.CounterFolding()

    @timer(interval=folding.FOLD_INTERVAL_S, eager=True)
    def fold_counters(self):
        folding.fold_pass(self.counters)

    # -- operations ----------------------------------------------------------------------------
    @api("POST", "/admin/rebuild", auth=ADMIN_ONLY)
    def rebuild_read_models(self, request):
        """The producers replay on the calling admin's authority: their token is passed on."""
        body = schemas.RebuildRequest().load(json_body(request) if request.get_data() else {})
        token = request.headers["Authorization"].partition(" ")[2].strip()
        summary = rebuild.rebuild(self.store.settings, lambda queue: rebuild.replay_from_producers(token, queue),
                                  CONFIG, idle_timeout_s=body["idle_timeout_s"])
        return schemas.RebuildResponse().dump(summary)
