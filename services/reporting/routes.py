"""The HTTP route table of reporting: its OpenAPI document, one ``openapi.route`` per route."""
from __future__ import annotations

from shared.openapi import OpenApi

from services.reporting import schemas

openapi = OpenApi("ASN reporting service", description="JP ledger, agency compliance, programme statistics, "
                  "exports and the dashboard, built from every public event of the platform.",
                  empty_query_is_absent=True)  # usecases._load: ``agency=`` from a form is no filter
# A checkpoint is YEAR-LABEL; the labels are REPORTING_SHORTFALL_CHECKPOINTS' (default Q1-Q4).
_CHECKPOINT = {"checkpoint": {"type": "string", "pattern": "^[1-9][0-9]{3}-(Q1|Q2|Q3|Q4)$",
                              "description": "YEAR-LABEL, e.g. 2026-Q3; the labels are those of "
                                             "REPORTING_SHORTFALL_CHECKPOINTS (default Q1, Q2, Q3, Q4)"}}
openapi.route("GET", "/ledger/{nip}", "An ASN's JP ledger by year, with their own yearly and current "
              "checkpoint targets: for the ASN, their supervisor (atasan langsung on the roster, while the ASN is "
              "aktif), their agency's operator, an admin. A read by anyone but the ASN is recorded in the access "
              "log (GET /admin/access-log)", query=schemas.YearQuery,
              response=schemas.LedgerResponse,
              responses={403: "not the caller's to see (an operator: any NIP outside its agency, known or not; an "
                              "ASN: anyone but themself and their own staff, known or not)",
                         404: "NIP not known (admin, or an ASN asking for themself)", 422: "invalid NIP or year"},
              tags=["ledger"])
openapi.route("GET", "/team", "Tim saya: a supervisor's staff (aktif on the roster) with each one's JP of the "
              "year against their own yearly target and the current checkpoint's pro-rated target, in name order "
              "(never ranked); the summary only for 5 or more members. An ASN sees their own staff; an admin or "
              "operator names ?supervisor= (an operator: of its own agency). Each member's read is recorded in "
              "the access log", query=schemas.TeamQuery, response=schemas.TeamResponse,
              responses={403: "an ASN naming another supervisor; an operator naming a NIP outside its agency "
                              "(known or not)",
                         404: "supervisor NIP not known (admin)",
                         422: "invalid year or supervisor NIP; supervisor missing (admin, operator)"},
              tags=["ledger"])
openapi.route("GET", "/compliance", "Agency compliance with the yearly JP target", query=schemas.ComplianceQuery,
              response=schemas.ComplianceResponse, responses={422: "invalid filter or cursor"}, tags=["compliance"])
_NEVER_ENROLLED_ERRORS = {403: "an operator naming another agency, or an ASN",
                          422: "invalid year, agency, limit or cursor"}
openapi.route("GET", "/never-enrolled", "ASN on the roster who never took part in competency development "
              "(belum pernah ikut pengembangan kompetensi)", query=schemas.NeverEnrolledQuery,
              response=schemas.NeverEnrolledResponse, responses=_NEVER_ENROLLED_ERRORS, tags=["compliance"])
openapi.route("GET", "/exports/never-enrolled.csv", "Never-enrolled ASN as CSV", query=schemas.NeverEnrolledExportQuery,
              content_type="text/csv", responses=_NEVER_ENROLLED_ERRORS, tags=["exports"])
openapi.route("GET", "/exports/never-enrolled.xlsx", "Never-enrolled ASN as XLSX",
              query=schemas.NeverEnrolledExportQuery,
              content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
              responses=_NEVER_ENROLLED_ERRORS, tags=["exports"])
openapi.route("GET", "/programmes", "Programmes with their statistics", query=schemas.ProgrammesQuery,
              response=schemas.ProgrammesResponse, responses={422: "invalid filter or cursor"}, tags=["programmes"])
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
_SIASN = ("JP ledger entries as SIASN course-history records (riwayat kursus, the fields of SIASN's kursus/save): "
          "nipBaru, jenisDiklatId and jenisKursusSertipikat (SIASN's training-type codes by programme kind, "
          "REPORTING_SIASN_MAPPING), namaKursus, institusiPenyelenggara, jumlahJam, tanggalKursus and "
          "tanggalSelesaiKursus (dd-mm-yyyy, WIB), tahunKursus, nomorSertipikat (empty when none or revoked)")
openapi.route("GET", "/exports/ledger-siasn.csv", _SIASN + " as CSV", query=schemas.LedgerExportQuery,
              content_type="text/csv", responses=_LEDGER_EXPORT_ERRORS, tags=["exports"])
openapi.route("GET", "/exports/ledger-siasn.xlsx", _SIASN + " as XLSX, the NIP, codes and certificate number "
              "stored as text", query=schemas.LedgerExportQuery,
              content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
              responses=_LEDGER_EXPORT_ERRORS, tags=["exports"])
openapi.route("GET", "/dashboard", "Dashboard (HTML, Bahasa Indonesia)", query=schemas.DashboardQuery,
              content_type="text/html", tags=["dashboard"])
openapi.route("POST", "/admin/shortfall/{checkpoint}/run",
              "Run a shortfall checkpoint (e.g. 2026-Q3) as a job: 202 at once with the job, which runs in the "
              "background (follow it with GET /admin/shortfall/{checkpoint}); 200 with the same job, done, "
              "when the checkpoint is done already",
              response=schemas.ShortfallJob, status=202,
              responses={200: "the checkpoint is done already: its job", 403: "not an admin",
                         422: "unknown checkpoint"}, path_parameters=_CHECKPOINT,
              tags=["admin"])
openapi.route("GET", "/admin/shortfall/{checkpoint}",
              "A shortfall checkpoint's job: status, progress and result (checked, nudged, escalated, "
              "supervisor summaries)", response=schemas.ShortfallJob,
              responses={403: "not an admin", 404: "neither run nor requested", 422: "unknown checkpoint"},
              path_parameters=_CHECKPOINT, tags=["admin"])
openapi.route("POST", "/admin/rebuild", "Rebuild every read model from the producers' event logs (ADR 0041)",
              body=schemas.RebuildRequest, body_required=False, response=schemas.RebuildResponse,
              responses={409: "a rebuild is already running", 502: "a producer refused or did not answer the replay"},
              tags=["admin"])
