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
