"""The enrollment HTTP route table: every route with its summary, request and response
schemas and errors (served at GET /openapi.json); service.py declares the entrypoints."""
from __future__ import annotations

from services.enrollment import schemas as s
from shared.openapi import OpenApi, csv_body

openapi = OpenApi(
    "ASN enrollment service",
    description="Programmes, participants and enrolments of BKN and Pemerintah Kota Bukittinggi. "
                "Times are UTC (RFC 3339); commands are idempotent under retry (natural keys, or "
                "the Idempotency-Key header when enrolling).")
P, E, B, R, A = ["programmes"], ["enrolments"], ["bulk"], ["roster"], ["approvals"]
# A PATCH and a completion refuse an empty object ("at least one field"): minProperties says so.
_PATCH = {"allOf": [s.ProgrammeUpdateSchema], "minProperties": 1}
# A completion needs a score or attended (not null), and a no-show (attended false) has no score.
_COMPLETION = {"allOf": [s.CompletionSchema], "minProperties": 1,
               "anyOf": [{"required": ["score"], "properties": {"score": {"type": "number"}}},
                         {"required": ["attended"], "properties": {"attended": {"type": "boolean"}}}],
               "not": {"required": ["attended", "score"],
                       "properties": {"attended": {"enum": [False]}, "score": {"type": "number"}}},
               "description": "a score and/or attended (at least one, not null); a no-show (attended false) "
                              "has no score"}

openapi.route("POST", "/programmes", "Create a draft programme (the code is its natural key)",
              body=s.ProgrammeCreateSchema, response=s.ProgrammeSchema, status=201, tags=P,
              responses={200: "the same programme existed already", 409: "the code belongs to another programme"})
openapi.route("GET", "/programmes", "List programmes, filtered, a page at a time", query=s.ProgrammeQuery,
              response=s.ProgrammePageSchema, tags=P)
openapi.route("GET", "/programmes/{code}", "One programme with its seats and waitlist",
              response=s.ProgrammeSchema, tags=P, responses={404: "no such programme"})
openapi.route("PATCH", "/programmes/{code}", "Change a programme; a published one emits programme_updated",
              body=_PATCH, response=s.ProgrammeSchema, tags=P,
              responses={404: "no such programme", 409: "the programme is cancelled"})
openapi.route("POST", "/programmes/{code}/publish", "Open a programme for enrolment (programme_published)",
              response=s.ProgrammeSchema, tags=P, responses={404: "no such programme", 409: "cancelled"})
openapi.route("POST", "/programmes/{code}/cancel", "Cancel a programme and all its enrolments",
              body=s.ProgrammeCancelSchema, response=s.ProgrammeSchema, tags=P, responses={404: "no such programme"})
openapi.route("POST", "/programmes/{code}/enrolments",
              "Enrol an ASN: a seat, or the waitlist when full; a retry returns the same enrolment. An ASN "
              "enrols themself (own NIP, aktif on the roster); in a programme requiring the supervisor's "
              "approval that enrolment is awaiting_approval, holding its place (ADR 0092). Staff may enrol the "
              "narasumber of a seminar or lokakarya (role): no seat, no waitlist, no approval (ADR 0012)",
              body=s.ParticipantInputSchema, response=s.EnrolmentSchema, status=201, tags=E,
              responses={200: "already enrolled, waitlisted or awaiting approval (nothing changed)",
                         403: "an operator enrolling an ASN not aktif on its own agency's roster (the same answer "
                              "for an unknown NIP and another agency's ASN), or naming another agency; an ASN "
                              "naming another NIP, or not aktif on the roster; an ASN asking for role narasumber",
                         404: "no such programme",
                         409: "not published, or the enrolment window is closed; or an admin naming an agency "
                              "the roster contradicts (the roster gives name, agency, jabatan and golongan); or "
                              "approval needed and no supervisor (nor acting one) on the roster; or the ASN "
                              "is enrolled with the other role (field role)",
                         422: "invalid fields; or an ASN not on the roster (or not aktif on it) while "
                              "ENROLLMENT_UNLISTED=tolak; or role narasumber in a kind other than seminar and "
                              "lokakarya"})
openapi.route("POST", "/programmes/{code}/enrolments/bulk",
              "Enrol the participants of a CSV file; streams one result per row, then a summary",
              body=csv_body(s.BulkEnrolmentCsv), body_content_type="text/csv", response=s.BulkRowSchema,
              content_type="application/x-ndjson", tags=B,
              responses={404: "no such programme", 409: "not open for enrolment",
                         413: "file too large, or more rows than BULK_MAX_ROWS"})
openapi.route("POST", "/programmes/{code}/completions/bulk",
              "Record completions from a CSV file (nip, score and/or attended); streams per-row results. A "
              "scheduled kind before its end (a self-paced one before its start) refuses each row, field "
              "programme (ADR 0012)",
              body=csv_body(s.BulkCompletionCsv), body_content_type="text/csv", response=s.BulkRowSchema,
              content_type="application/x-ndjson", tags=B,
              responses={404: "no such programme", 413: "file too large, or more rows than BULK_MAX_ROWS"})
openapi.route("GET", "/enrolments", "List enrolments by programme, NIP, status or agency, a page at a time",
              query=s.EnrolmentQuery, response=s.EnrolmentPageSchema, tags=E)
openapi.route("GET", "/enrolments/counts",
              "Enrolments per status of each programme named (?programme=A&programme=B...), in one call: a page "
              "of a programme list with its participant counts. An operator counts its own OPD's enrolments "
              "only; an admin all, or agency's",
              query=s.EnrolmentCountQuery, response=s.EnrolmentCountsSchema, tags=E,
              responses={403: "an ASN; an operator naming another agency"})
openapi.route("GET", "/enrolments/{id}", "One enrolment (with its current waitlist position)",
              response=s.EnrolmentSchema, tags=E, responses={404: "no such enrolment"})
openapi.route("POST", "/enrolments/{id}/cancel", "Cancel; a freed seat goes to the first on the waitlist "
              "until a scheduled programme starts (a self-paced one: until it ends), else it stays free and the "
              "answer's waitlist_note says so (ADR 0012) (cancelled_by: participant for the ASN's own token, "
              "operator for staff)",
              body=s.EnrolmentCancelSchema, response=s.EnrolmentSchema, tags=E,
              responses={404: "no such enrolment", 409: "already completed"})
openapi.route("POST", "/enrolments/{id}/attendance", "Record whether the participant attended",
              body=s.AttendanceSchema, response=s.EnrolmentSchema, tags=E,
              responses={404: "no such enrolment", 409: "not enrolled, or the programme has not started"})
openapi.route("POST", "/enrolments/{id}/completion",
              "Complete with a score and/or attendance: passed, failed or no-show (emits completed)",
              body=_COMPLETION, response=s.EnrolmentSchema, tags=E,
              responses={404: "no such enrolment",
                         409: "not enrolled, or completed differently; or too early (field programme): a scheduled "
                              "kind (pelatihan, sertifikasi, seminar, lokakarya) completes once it has ended, a "
                              "self-paced one (e-learning, coaching, mentoring) from its start (ADR 0012)"})

# -- operator console (issue 21) --
openapi.route("POST", "/programmes/{code}/marking",
              "Mark one session (a WIB day of the programme): attendance per row and, with complete, the "
              "completions, by the rules of /enrolments/{id}/attendance and /completion. Each row is accepted or "
              "refused with its field and reason (an operator's row of another OPD reads as not enrolled); the same "
              "marking again changes nothing and emits nothing (completions emit completed)",
              body=s.MarkingSchema, response=s.MarkingAnswerSchema, tags=P + E,
              responses={404: "no such programme",
                         409: "the session has not begun; or complete for a scheduled kind (pelatihan, sertifikasi, "
                              "seminar, lokakarya) before the programme has ended",
                         422: "invalid fields; 1-2000 rows; session not a day of the programme, or left out for a "
                              "scheduled programme of several days"})
openapi.route("POST", "/enrolments/{id}/promote",
              "Move a waitlisted ASN into a free seat by hand (enrolled, promoted_from_waitlist true): the "
              "programme is published and has not ended (a started one too); a retry returns the enrolment",
              response=s.EnrolmentSchema, tags=E,
              responses={403: "an operator for another OPD's participant", 404: "no such enrolment",
                         409: "not waitlisted, no seat free, the programme not published or ended"})
openapi.route("GET", "/jp",
              "The JP a programme of this kind gets from its duration (duration_minutes or duration_days, as at "
              "creation; or the WIB days from starts_at to ends_at), with the rule of jp_rules.yaml applied: a "
              "live preview for the programme form. jp is null while the input determines none (the rule says why)",
              query=s.JpQuery, response=s.JpPreviewSchema, tags=P)

openapi.route("POST", "/roster/import",
              "Import the roster (daftar ASN) from a CSV or XLSX file (a SIASN export's headers are understood); "
              "streams one result per row (Bahasa Indonesia reasons), then a summary. mode=sebagian adds and "
              "updates; mode=penuh&kode_opd=X replaces X's roster. The same file again changes nothing",
              query=s.RosterImportQuery, body=csv_body(s.RosterCsv), body_content_type="text/csv",
              response=s.RosterRowSchema, content_type=("application/x-ndjson", "text/csv"), tags=R + B,
              responses={403: "not admin or operator; an operator's full import of another OPD",
                         409: "a full import would mark more than ROSTER_CONFIRM_LEFT_SHARE (default half) of the "
                              "OPD's aktif ASN as left: nothing written; the body gives would_mark_left, active, "
                              "kode_opd and says to send the file again with konfirmasi=ya",
                         413: "file too large, or more rows than BULK_MAX_ROWS",
                         422: "bad mode/kode_opd/konfirmasi, no nip column, not UTF-8, an unreadable or .xls file"})
openapi.route("GET", "/roster", "List the roster by OPD, status, jenis ASN, never enrolled or name/NIP, a page "
              "at a time (an operator: its own OPD; an ASN: themself). No contact data",
              query=s.RosterQuery, response=s.RosterPageSchema, tags=R,
              responses={403: "an operator asking for another OPD"})
openapi.route("GET", "/roster/{nip}", "One ASN's roster entry with their supervisor and number of enrolments",
              response=s.RosterEntryViewSchema, tags=R,
              responses={403: "an ASN asking for someone else",
                         404: "not on the roster (for an operator: not on its own OPD's roster, the same answer)"})

openapi.route("PUT", "/roster/{nip}/acting",
              "Name the acting supervisor (Plt/Plh) of this supervisor until ends_at: new approval requests of "
              "their staff go to the acting person meanwhile (acting_supervisor_assigned)",
              body=s.ActingSchema, response=s.RosterEntryViewSchema, tags=R + A,
              responses={403: "not admin or operator; an operator for a supervisor not on its own OPD's roster (the "
                              "same answer for an unknown NIP)",
                         404: "not on the roster (admin)",
                         422: "invalid fields; the acting person not aktif on the roster (for an operator: on its "
                              "OPD's), the supervisor themself, ends_at not in the future or over a year ahead"})
openapi.route("DELETE", "/roster/{nip}/acting", "End the acting supervisor's delegation now "
              "(acting_supervisor_revoked); nothing to end changes nothing",
              response=s.RosterEntryViewSchema, tags=R + A,
              responses={403: "not admin or operator; an operator for a supervisor not on its own OPD's roster",
                         404: "not on the roster (admin)"})
openapi.route("GET", "/approvals", "Approval requests (izin atasan): an ASN those sent to them as (acting) "
              "supervisor; an operator its own OPD's; an admin all. Items are enrolments with their programme",
              query=s.ApprovalQuery, response=s.ApprovalPageSchema, tags=A)
openapi.route("POST", "/enrolments/{id}/approval", "The approver approves (enrolled or waitlisted: "
              "approval_granted and the ordinary event) or declines with a reason (the place is freed: "
              "approval_declined)", body=s.DecisionSchema, response=s.EnrolmentSchema, tags=A,
              responses={403: "not the approver of this request", 404: "no such enrolment",
                         409: "already_decided (approved, declined or lapsed), or withdrawn, or needs no approval"})
openapi.route("POST", "/approvals/link", "The request a signed approval link is for, to its approver only",
              body=s.LinkSchema, response=s.EnrolmentSchema, tags=A,
              responses={403: "the caller is not the link's approver",
                         422: "a token this service did not sign, altered, or of an earlier request"})
openapi.route("POST", "/approvals/link/decision", "Decide from the signed link (single use: a second use is "
              "409 already_decided)", body=s.LinkDecisionSchema, response=s.EnrolmentSchema, tags=A,
              responses={403: "the caller is not the link's approver",
                         409: "already_decided (approved, declined or lapsed), or withdrawn",
                         422: "invalid fields; a token this service did not sign, altered, or of an earlier request"})
