"""The portal's route table: the OpenAPI document of every page ``service.py`` serves.

The pages answer people in HTML (errors too, in Bahasa Indonesia). Access is by the portal's
session cookie (``asn_portal_session``, set by signing in), not a bearer token: to the
document the routes are public, and each says who may open it. Every POST is a form with the
session's ``csrf_token`` (403 without it) and answers 303 to the next page."""
from __future__ import annotations

from shared.openapi import OpenApi
from services.portal import schemas

openapi = OpenApi("ASN portal", description=(
    "Pages for ASN and their supervisors in Bahasa Indonesia: sign-in with OpenID Connect, "
    "catalogue and self-enrolment, JP history, certificates, inbox and calendar. The portal calls the "
    "four services' APIs on behalf of the signed-in person."), events=False)

HTML = "text/html"
FORM = "application/x-www-form-urlencoded"
_PAGE = {"content_type": HTML, "error_content_types": (HTML,), "tags": ["pages"]}
_SIGNED_IN = "Access: a signed-in person with a NIP (session cookie); otherwise 303 to /masuk."
_REDIRECT = {303: {"description": "to the next page (Location)"}}
_CSRF = {403: "the form's csrf_token is not the session's", **_REDIRECT}
_ID = {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"}


def _page(method: str, path: str, summary: str, **kwargs) -> None:
    options = {**_PAGE, **kwargs}
    openapi.route(method, path, summary, **options)


def _form(path: str, summary: str, body=schemas.CsrfForm, **kwargs) -> None:
    _page("POST", path, summary, body=body, body_content_type=FORM, status=303,
          responses={**_CSRF, **kwargs.pop("responses", {})}, **kwargs)


# -- sign-in -----------------------------------------------------------------------------------
_page("GET", "/masuk", "Sign-in page: the SSO button, and the development sign-in list where it is on "
      "(PORTAL_DEV_SIGNIN). Access: anyone.", query=schemas.SignInQuery, responses=_REDIRECT)
_page("GET", "/masuk/oidc", "Start the OpenID Connect sign-in (authorization code + PKCE S256): 303 to the "
      "provider. Access: anyone.", query=schemas.SignInQuery,
      responses={303: {"description": "to the provider's authorization endpoint"},
                 404: "no OpenID provider configured", 503: "the provider cannot be reached"})
_page("GET", "/masuk/callback", "The provider's answer: the code is exchanged, the ID token verified (JWKS, "
      "iss, aud, exp, nonce), the NIP linked to the roster; 303 to the page asked for. Access: the browser "
      "that started the sign-in.", query=schemas.CallbackQuery,
      responses={**_REDIRECT, 400: "unknown state, a refusal or an ID token that does not verify",
                 403: "the person may not sign in (not on the roster, no NIP or agency)",
                 404: "no OpenID provider configured"})
_form("/masuk/dev", "Development sign-in as a roster person, an operator or admin (only where "
      "PORTAL_DEV_SIGNIN is on; production refuses to start with it). Access: anyone.",
      body=schemas.DevSignInForm, responses={404: "the development sign-in is off",
                                             403: "that person may not sign in (not on the roster)"})
_form("/keluar", "Sign out: the session ends (and the provider's session when it offers an end-session "
      "endpoint). Access: the signed-in person.")

# -- ASN pages ---------------------------------------------------------------------------------
_page("GET", "/", "Beranda: this year's JP against the target and the current checkpoint's pro-rated "
      f"target (an SVG chart), and what to do next. {_SIGNED_IN}", responses=_REDIRECT)
_page("GET", "/katalog", "Katalog: published programmes not yet over, by kind, competency type and month; "
      f"seats left or the waitlist, and the person's own enrolment. {_SIGNED_IN}",
      query=schemas.CatalogueQuery, responses=_REDIRECT)
_page("GET", "/katalog/{code}", f"One programme, with the enrol or cancel button. {_SIGNED_IN}",
      path_parameters={"code": _ID}, responses={**_REDIRECT, 404: "no such programme"})
_form("/katalog/{code}/daftar", "Self-enrolment (enrollment POST /programmes/<code>/enrolments with the "
      "person's own token); the outcome (seat, waitlist place, waiting for the supervisor's approval, or why "
      f"not) is shown on the programme's page. {_SIGNED_IN}", path_parameters={"code": _ID})
_form("/pendaftaran/{enrolment_id}/batal", f"Cancel one's own enrolment. {_SIGNED_IN}", body=schemas.CancelForm,
      path_parameters={"enrolment_id": _ID})
_page("GET", "/riwayat", f"Riwayat JP: the person's JP ledger of a year. {_SIGNED_IN}", query=schemas.YearQuery,
      responses=_REDIRECT)
_page("GET", "/sertifikat", "Sertifikat: the person's certificates with the PDF, the verification link and "
      f"the Open Badges credential. {_SIGNED_IN}", responses=_REDIRECT)
_page("GET", "/sertifikat/{certificate_id}.pdf", f"A certificate's PDF. {_SIGNED_IN}",
      content_type="application/pdf", path_parameters={"certificate_id": _ID},
      responses={**_REDIRECT, 403: "not the person's certificate", 404: "no such certificate"})
_page("GET", "/sertifikat/{certificate_id}/kredensial.json", "A certificate as a signed Open Badges 3.0 "
      f"credential. {_SIGNED_IN}", content_type="application/json", path_parameters={"certificate_id": _ID},
      responses={**_REDIRECT, 403: "not the person's certificate", 404: "no such certificate"})
_page("GET", "/kotak-masuk", f"Kotak masuk: the person's messages, newest first. {_SIGNED_IN}",
      responses=_REDIRECT)
_form("/kotak-masuk/{message_id}/dibaca", f"Mark a message read. {_SIGNED_IN}",
      path_parameters={"message_id": _ID})

# -- calendar ----------------------------------------------------------------------------------
_page("GET", "/pendaftaran/{enrolment_id}.ics", "One enrolment as an iCalendar file (stable UID per enrolment, "
      f"SEQUENCE from the programme's revision, STATUS:CANCELLED once cancelled). {_SIGNED_IN}",
      content_type="text/calendar", path_parameters={"enrolment_id": _ID},
      responses={**_REDIRECT, 403: "not the person's enrolment", 404: "no such enrolment"})
_page("GET", "/kalender", f"Kalender: the personal feed link (made, replaced or revoked here). {_SIGNED_IN}",
      responses=_REDIRECT)
_form("/kalender", "Make a new secret feed link (an earlier one stops working); shown once on /kalender. "
      f"{_SIGNED_IN}")
_form("/kalender/cabut", f"Revoke the feed link. {_SIGNED_IN}")
_page("GET", "/kalender/{secret}.ics", "The personal calendar feed behind its secret link (only the SHA-256 of "
      "the secret is stored). Access: whoever holds the link (a calendar app); no session.",
      content_type="text/calendar", path_parameters={"secret": {"type": "string", "minLength": 20, "maxLength": 100}},
      responses={404: "unknown or revoked link", 429: "too many requests"})

# -- files -------------------------------------------------------------------------------------
_page("GET", "/static/{name}", "The style sheet (and any vendored script): no CDN. Access: anyone.",
      content_type=("text/css", "text/javascript"), path_parameters={"name": {"type": "string", "maxLength": 64}},
      responses={404: "no such file"})

# -- supervisor, operator and admin pages (izin atasan, tim saya, Plt/Plh, log akses) --
_APPROVER = ("Access: a signed-in person with a NIP (the supervisor, or their Plt/Plh); enrollment decides which "
             "requests are theirs. Admin/operator without a NIP: 403 page; not signed in: 303 to /masuk.")
_TOKEN = {"type": "string", "pattern": r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$", "maxLength": 601}
_page("GET", "/persetujuan", "Persetujuan (izin atasan): the self-enrolments awaiting this person's decision (those "
      "received as Plt/Plh marked), with the participant, programme, the held seat or waitlist place and the "
      f"deadline in WIB; below, those decided in the last 30 days (enrollment GET /approvals). {_APPROVER}",
      responses={**_REDIRECT, 403: "no NIP (admin or operator account)"})
_form("/persetujuan/{enrolment_id}/keputusan", "Approve (keputusan=setuju) or decline with a reason "
      "(keputusan=tolak, alasan of at most 500 characters) -> enrollment POST /enrolments/<id>/approval; 303 back "
      f"with the outcome. A missing reason: 422, the list again with the error beside the field. {_APPROVER}",
      body=schemas.DecisionForm, path_parameters={"enrolment_id": _ID},
      responses={422: "no decision, or declining without a reason (shown beside the field)"})
_page("GET", "/persetujuan/{token}", "The request of an approval link from the notification (enrollment POST "
      "/approvals/link): sign-in first (the token stays in the path; Referrer-Policy no-referrer). A decided "
      f"request says so. {_APPROVER}", path_parameters={"token": _TOKEN},
      responses={**_REDIRECT, 403: "the link is another approver's", 404: "not a link enrollment signed, or of "
                                                                          "an earlier request"})
_form("/persetujuan/{token}", "Decide from the link page (enrollment POST /approvals/link/decision; single use). "
      f"{_APPROVER}", body=schemas.DecisionForm, path_parameters={"token": _TOKEN},
      responses={409: "already decided (a friendly page saying so)", 422: "declining without a reason",
                 404: "not a valid link"})
_page("GET", "/tim", "Tim saya: the person's staff (reporting GET /team) in name order with each one's JP against "
      "their own yearly target and the current checkpoint's pro-rated target; the summary only for 5 or more "
      "people; every view is recorded in reporting's access log. Access: a signed-in person with a NIP (an empty "
      "team says so); admin/operator: 403 page.", responses={**_REDIRECT, 403: "no NIP (admin or operator account)"})
_page("GET", "/operator/plt", "Plt/Plh: the form to name an acting supervisor, and the delegation in force of the "
      "supervisor asked for (?atasan=<NIP>, enrollment GET /roster/<nip>). Access: operator (own OPD) and admin; "
      "anyone else a 403 page.", query=schemas.ActingQuery, responses={**_REDIRECT, 403: "not operator or admin"})
_form("/operator/plt", "Name a Plt/Plh (enrollment PUT /roster/<atasan>/acting with the operator's token) until "
      "23.59.59 WIB of the date given. Access: operator (own OPD) and admin.", body=schemas.ActingForm,
      responses={422: "invalid NIPs, kind or date, or refused by enrollment (shown beside the field)",
                 403: "not operator or admin (or a bad csrf_token)"})
_form("/operator/plt/akhiri", "End a Plt/Plh now (enrollment DELETE /roster/<atasan>/acting). Access: operator "
      "(own OPD) and admin.", body=schemas.EndActingForm, responses={403: "not operator or admin"})
_page("GET", "/admin/log-akses", "Log akses: who read whose personal data (reporting, certification and "
      "notification GET /admin/access-log merged, newest first), filtered by whose NIP and the reader. Access: "
      "admin only; anyone else a 403 page.", query=schemas.AccessLogQuery,
      responses={**_REDIRECT, 403: "not admin", 422: "the NIP filter is not 18 digits"})

# -- operator console: oversight (issue 21) --
_STAFF = ("Access: operator (its own OPD: naming another is refused by reporting, shown as a 403 page) and admin "
          "(every OPD, or one); anyone else a 403 page; not signed in: 303 to /masuk.")
_ADMIN = "Access: admin only; anyone else a 403 page; not signed in: 303 to /masuk."
_page("GET", "/operator/dasbor", "Dasbor: the year's JP compliance of the operator's OPD (admin: every OPD with a "
      "bar per OPD, or the one chosen) from reporting GET /compliance, /certificates/monthly and /programmes, with "
      "server-rendered SVG charts (the JP distribution, certificates per month). Aggregates of fewer than 5 ASN (an "
      "OPD, a programme's results) are shown as '—'. Export links below. " + _STAFF,
      query=schemas.OversightQuery, responses={**_REDIRECT, 403: "not operator or admin, or another OPD",
                                               422: "unknown OPD or bad year"})
_page("GET", "/operator/belum-ikut", "Belum pernah ikut: the OPD's ASN with no enrolment (reporting GET "
      "/never-enrolled), in NIP order, 50 a page (?setelah= from the page's link). " + _STAFF,
      query=schemas.NeverEnrolledPageQuery, responses={**_REDIRECT, 403: "not operator or admin, or another OPD",
                                                       422: "unknown OPD, bad year or cursor"})
_page("GET", "/operator/ekspor/{name}", "An export of reporting fetched with the person's own token and streamed "
      "through as it arrives, its Content-Type and Content-Disposition (file name) kept: kepatuhan.csv|xlsx "
      "(/exports/compliance), belum-ikut.csv|xlsx (/exports/never-enrolled), buku-jp.csv|xlsx (/exports/ledger), "
      "siasn.csv|xlsx (/exports/ledger-siasn). " + _STAFF,
      content_type=("text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
      query=schemas.OversightQuery,
      path_parameters={"name": {"type": "string", "enum": ["kepatuhan.csv", "kepatuhan.xlsx", "belum-ikut.csv",
                                                           "belum-ikut.xlsx", "buku-jp.csv", "buku-jp.xlsx",
                                                           "siasn.csv", "siasn.xlsx"]}},
      responses={**_REDIRECT, 403: "not operator or admin, or another OPD", 404: "no such export",
                 422: "unknown OPD or bad year"})
_page("GET", "/admin/checkpoint", "Checkpoint: this year's and last year's shortfall checkpoints with their state "
      "(reporting GET /admin/shortfall/<cp>), the chosen one's progress refreshed by static/console-checkpoint.js "
      "(or the 'Perbarui' link without JavaScript), and the form to run one. " + _ADMIN,
      query=schemas.CheckpointQuery, responses={**_REDIRECT, 403: "not admin", 422: "not a checkpoint (YEAR-Qn)"})
_form("/admin/checkpoint", "Run a checkpoint (reporting POST /admin/shortfall/<cp>/run, in the background): 303 to "
      "/admin/checkpoint?checkpoint=<cp> with a message (or 'already done'). " + _ADMIN, body=schemas.CheckpointForm,
      responses={422: "no or an unknown checkpoint (shown beside the field)", 403: "not admin (or a bad csrf_token)"})
_page("GET", "/admin/checkpoint/status", "The chosen checkpoint's job as JSON for the page's polling script: "
      "{checkpoint, status (none|queued|running|done), status_text, percent, checked, total, nudged, escalated, "
      "supervisor_summaries, done, active, started, finished}. " + _ADMIN + " (403/404/422 as JSON)",
      content_type="application/json", error_content_types=("application/json", HTML),
      query=schemas.CheckpointQuery, responses={**_REDIRECT, 403: "not admin", 404: "neither run nor requested",
                                                422: "not a checkpoint"})
_page("GET", "/operator/program/{code}/sertifikat", "Sertifikat program: the programme's certificates, newest first "
      "(certification GET /certificates?programme=; an operator sees its own OPD's holders only), with number, "
      "holder, status and any revocation's reason; an admin has a revoke form per valid certificate. 50 a page "
      "(?setelah=). " + _STAFF, path_parameters={"code": _ID}, query=schemas.CertificatesPageQuery,
      responses={**_REDIRECT, 403: "not operator or admin", 404: "no such programme"})
_form("/operator/program/{code}/sertifikat/{certificate_id}/cabut", "Revoke a certificate of the programme with a "
      "reason of 5 to 500 characters (certification POST /certificates/<id>/revoke with the admin's token); 303 back "
      "with a message. A missing or short reason: 422, the list again with the error beside the field. " + _ADMIN +
      " (an operator sees the list but has no revoke form; its POST is a 403 page).", body=schemas.RevokeForm,
      path_parameters={"code": _ID, "certificate_id": _ID},
      responses={422: "no reason, or too short or long (shown beside the field)",
                 403: "not admin (or a bad csrf_token)", 404: "no such certificate in this programme"})

# -- operator console: programmes (issue 21) --
_CONSOLE_STAFF = ("Access: a signed-in operator (its own OPD's participants, as enrollment scopes them) or admin; "
                  "an ASN gets a 403 page; not signed in: 303 to /masuk.")
_CONSOLE_ADMIN = "Access: a signed-in admin; an operator or ASN gets a 403 page; not signed in: 303 to /masuk."
_PROGRAMME_ERRORS = ("the API's 422 (or 409: the code is taken) shown beside each field in Bahasa Indonesia "
                     "(domain.programme_errors: a table keyed by field and rule)")
_page("GET", "/operator/program", "Program (console): every programme by status, kind and month (WIB start), latest "
      "first, 20 a page; an operator sees its own OPD's participants per programme (enrolled, waitlisted, "
      f"completed), an admin the seats. {_CONSOLE_STAFF}", query=schemas.ConsoleListQuery,
      responses={**_REDIRECT, 403: "not operator or admin"})
_page("GET", "/operator/program/baru", "The form for a new programme: every field with the API's rules beside it, "
      "a live JP preview (static/console-program.js; without JavaScript the JP is shown after saving), speakers "
      f"for seminar and lokakarya, the supervisor-approval flag. {_CONSOLE_ADMIN}",
      responses={**_REDIRECT, 403: "not admin"})
_form("/operator/program/baru", "Create a draft programme (enrollment POST /programmes; times typed in WIB): 303 to "
      f"its page, or 422 with {_PROGRAMME_ERRORS}. {_CONSOLE_ADMIN}", body=schemas.ProgrammeForm,
      responses={422: "refused by enrollment: the form again with the reasons beside the fields",
                 403: "not admin (or a bad csrf_token)"})
_page("GET", "/operator/program/jp", "The live JP preview as JSON {jp (null while none can be derived), text}: "
      "enrollment GET /jp (its jp_rules.yaml rule in words), or the JP typed by hand. "
      f"{_CONSOLE_STAFF}", content_type="application/json", query=schemas.JpPreviewQuery,
      responses={**_REDIRECT, 403: "not operator or admin (a page)"})
_page("GET", "/operator/program/{code}", "The programme page: status, seats and waitlist, participants with "
      "attendance per session (WIB days) and results, the waitlist with positions and 'Naikkan dari daftar tunggu' "
      "where allowed, cancelled enrolments; enrolling by NIP or name search over the roster (?cari=; agency, "
      "jabatan and this year's JP from reporting); an admin's publish and cancel forms. ?opd= (admin) shows one "
      f"OPD; an operator naming another OPD gets enrollment's refusal as a 403 page. {_CONSOLE_STAFF}",
      path_parameters={"code": _ID}, query=schemas.ConsoleProgrammeQuery,
      responses={**_REDIRECT, 403: "not operator or admin, or another OPD's list", 404: "no such programme"})
_page("GET", "/operator/program/{code}/ubah", f"The programme's form filled in. {_CONSOLE_ADMIN}",
      path_parameters={"code": _ID}, responses={**_REDIRECT, 403: "not admin", 404: "no such programme"})
_form("/operator/program/{code}/ubah", "Change a programme: only the fields changed are sent (enrollment PATCH); "
      f"303 to its page, or 422 with {_PROGRAMME_ERRORS}. {_CONSOLE_ADMIN}", body=schemas.ProgrammeForm,
      path_parameters={"code": _ID},
      responses={422: "refused by enrollment (beside the fields)", 404: "no such programme"})
_form("/operator/program/{code}/terbitkan", "Publish (enrollment POST /programmes/<code>/publish): 303 to its page; "
      f"what is missing (speakers, passing score, a closed window): 422, the form with the reason beside the field. "
      f"{_CONSOLE_ADMIN}", path_parameters={"code": _ID},
      responses={422: "cannot be published yet (beside the field)", 404: "no such programme"})
_form("/operator/program/{code}/batal", "Cancel the programme with a reason of 3-500 characters (all its enrolments "
      "are cancelled): 303 to its page; a missing or short reason: 422, the page with the error beside the field. "
      f"{_CONSOLE_ADMIN}", body=schemas.ReasonForm, path_parameters={"code": _ID},
      responses={422: "reason refused (beside the field)", 404: "no such programme"})
_form("/operator/program/{code}/daftar", "Enrol an ASN aktif on the roster (an operator: its own OPD's) with the "
      "staff member's role (enrollment POST /programmes/<code>/enrolments): 303 to the page with a message (a seat, "
      f"the waitlist place, already enrolled, or why not). {_CONSOLE_STAFF}", body=schemas.ConsoleEnrolForm,
      path_parameters={"code": _ID})
_form("/operator/pendaftaran/{enrolment_id}/batal", "Cancel someone's enrolment with a reason (enrollment POST "
      "/enrolments/<id>/cancel, cancelled_by operator): 303 to the programme page; no reason: 422, the page with the "
      "error beside the field; another OPD's enrolment: enrollment's refusal as a 403 page. " + _CONSOLE_STAFF,
      body=schemas.ReasonForm, path_parameters={"enrolment_id": _ID},
      responses={422: "no reason (beside the field)", 404: "no such enrolment", 403: "another OPD's enrolment"})
_form("/operator/pendaftaran/{enrolment_id}/naikkan", "Naikkan dari daftar tunggu: a waitlisted ASN into a free "
      "seat (enrollment POST /enrolments/<id>/promote; published, not ended, a seat free): 303 to the programme page "
      f"with a message (or why not); another OPD's: a 403 page. {_CONSOLE_STAFF}", body=schemas.PromoteForm,
      path_parameters={"enrolment_id": _ID}, responses={404: "no such enrolment", 403: "another OPD's enrolment"})

# -- operator console: uploads and marking (issue 21) --
_UPLOADER = ("Access: a signed-in operator (enrollment keeps it to its own OPD's ASN, row by row) or admin; an ASN "
             "gets a 403 page; not signed in: 303 to /masuk.")
_page("GET", "/operator/unggah", "Unggah: bulk enrolment into a programme, bulk completion or the roster import from "
      "a CSV or XLSX file; static/console-upload.js sends the file to /operator/unggah/kirim and shows a live "
      "progress bar, the accepted/rejected counts, the rejected rows with their column and reason and a CSV of them "
      f"(the original rows + alasan) to fix and upload again. {_UPLOADER}", query=schemas.UploadQuery,
      responses={**_REDIRECT, 403: "not operator or admin"})
_page("POST", "/operator/unggah", "The upload form without JavaScript (multipart/form-data, the file in berkas): "
      "the file goes to enrollment's bulk route (POST /programmes/<code>/enrolments/bulk, /completions/bulk or "
      "/roster/import; an XLSX becomes CSV for the first two) with the operator's token; the answer is the summary "
      "page (counts, rejected rows with reasons) once every row is done. Bodies up to enrollment's BULK_MAX_BYTES "
      f"(PortalConfig.upload_max_bytes), not the pages' 64 KiB. {_UPLOADER}", body=schemas.UploadForm,
      body_content_type="multipart/form-data",
      responses={403: "a bad csrf_token, or not operator or admin", 413: "the file is over the bulk limit",
                 422: "no kind, programme or file; an unreadable file; refused by enrollment as a whole (header, "
                      "programme closed, too many rows) — shown on the form page", 503: "enrollment unreachable"})
_page("POST", "/operator/unggah/kirim", "The upload as static/console-upload.js sends it: the body is the file (CSV or "
      "XLSX; X-CSRF-Token header = the session's csrf_token, X-File-Name its name), the kind and programme in the "
      "query. Answer: application/x-ndjson streamed as enrollment writes the rows — one line per row (a rejected "
      "row adds kolom and alasan in Bahasa Indonesia), then {\"summary\": ...}; a whole upload refused: JSON "
      f"{{error, pesan}} with 401/403/413/422/409/503. {_UPLOADER}", query=schemas.UploadQuery,
      body={"type": "string", "format": "binary"}, body_content_type="text/csv",
      content_type=("application/x-ndjson", "application/json"), error_content_types=("application/json",),
      responses={401: "not signed in", 403: "no or a wrong X-CSRF-Token, or not operator or admin",
                 404: "no such programme", 409: "not open for enrolment; a full roster import needing konfirmasi",
                 413: "over the bulk limit (size or rows)", 422: "bad kind/programme/mode, an unreadable file",
                 503: "enrollment unreachable"})
_page("GET", "/operator/program/{code}/penilaian", "Penilaian: every participant of the programme (enrolled and "
      "completed; an operator: its OPD's) in one table for the session chosen (?sesi=YYYY-MM-DD, one of the "
      "programme's WIB days; today's or the last begun by default; none for a self-paced programme) with the "
      "recorded attendance, present/absent radios and, once completions may be recorded (the programme has ended, "
      f"or is self-paced), a score and the 'Catat kelulusan' checkbox. {_UPLOADER}", query=schemas.MarkingQuery,
      path_parameters={"code": _ID}, responses={**_REDIRECT, 403: "not operator or admin", 404: "no such programme"})
_page("POST", "/operator/program/{code}/penilaian", "Save the table in one enrollment call per 2,000 rows (POST "
      "/programmes/<code>/marking with the operator's token: attendance of the session, completions with lengkap=ya); "
      "the page again with each row's answer beside it (saved, unchanged, or the reason in Bahasa Indonesia). The "
      "same marking again changes nothing. Bodies up to 1 MiB (a row per participant). " + _UPLOADER,
      body=schemas.MarkingForm, body_content_type=FORM, path_parameters={"code": _ID},
      responses={403: "a bad csrf_token, or not operator or admin", 404: "no such programme",
                 409: "the session has not begun, or completions before a scheduled programme ended (on the page)",
                 422: "a score that is not 0-100 (beside the row), or a session that is not the programme's"})
