"""The portal's use cases: find the visit (session cookie -> signed-in person), check the CSRF
token of a form, read or act through the services with the person's own token, render a page.
``service.py``'s entrypoints call these; each returns a werkzeug Response."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from werkzeug.wrappers import Response

from shared import timefmt
from shared.auth import ADMIN, ASN, OPERATOR
from shared.errors import NotFound
from shared.reference import agencies as reference_agencies
from shared.runtime import ServiceRuntime
from shared.store import Store
from services.portal import commands, domain, queries, schemas
from services.portal.adapters import calendar, pages
from services.portal.adapters.clients import ServiceClient, ServiceError
from services.portal.adapters.oidc import OidcClient, OidcError, create_s256_code_challenge  # noqa: F401
from services.portal.adapters.web import CsrfRefused, SignInRequired
from services.portal.config import PortalConfig
from services.portal.domain import Identity, SignInRefused

log = logging.getLogger(__name__)
SERVICES = ("enrollment", "certification", "notification", "reporting")


# -- the visit ------------------------------------------------------------------------------------
@dataclass
class Visit:
    """Who is at the browser: their session (if any), the signed-in person (if any), the CSRF
    token every form carries, and a cookie to set on the answer."""

    config: PortalConfig
    session_id: str | None = None
    identity: Identity | None = None
    csrf: str | None = None
    cookie: str | None = None
    flash: dict | None = None
    path: str = "/"
    extra: dict = field(default_factory=dict)

    @property
    def nav(self) -> list[dict]:
        return domain.nav(self.identity)

    @property
    def role_label(self) -> str:
        return domain.ROLE_LABELS.get(self.identity.role, "") if self.identity else ""

    def respond(self, response: Response) -> Response:
        if self.cookie is not None:
            hours = self.config.session_hours if self.identity else None
            response.set_cookie(domain.SESSION_COOKIE, self.cookie, max_age=int(hours * 3600) if hours else None,
                                path="/", httponly=True, samesite="Lax", secure=self.config.secure_cookies)
        return response

    def render(self, page: str, *, status: int = 200, **context) -> Response:
        return self.respond(pages.render(page, status=status, visit=self, **context))

    def redirect(self, location: str) -> Response:
        return self.respond(pages.redirect(location))


def _visit(store: Store, runtime: ServiceRuntime, request, *, take_flash: bool = True) -> Visit:
    config = runtime.config
    visit = Visit(config=config, path=request.full_path.rstrip("?") if request.query_string else request.path)
    raw = request.cookies.get(domain.SESSION_COOKIE)
    if not raw or len(raw) > 100:
        return visit
    doc = queries.session(store.db, domain.digest(raw), runtime.now())
    if doc is None:
        return visit
    visit.session_id, visit.csrf = doc["_id"], doc["csrf"]
    if doc["kind"] == "user":
        visit.identity = Identity.from_dict(doc["identity"])
        visit.extra["id_token"] = doc.get("id_token")
    if take_flash and doc.get("flash") and request.method == "GET":
        visit.flash = commands.take_flash(store.db, doc["_id"])
    return visit


def _signed_in(store: Store, runtime: ServiceRuntime, request, *, own: bool = True) -> Visit:
    """The visit of a signed-in person (``own``: with their own pages, i.e. a NIP), else off to /masuk."""
    visit = _visit(store, runtime, request)
    if visit.identity is None:
        raise SignInRequired(domain.safe_next(visit.path))
    if own and not visit.identity.has_own_pages:
        raise NotFound("Halaman ini untuk ASN; akun Anda tidak terhubung dengan NIP.")
    return visit


def _prelogin(store: Store, runtime: ServiceRuntime, request) -> Visit:
    """The visit with a session to carry the sign-in page's CSRF token (made when missing)."""
    visit = _visit(store, runtime, request)
    if visit.session_id is None:
        raw, doc = commands.open_prelogin(store.db, runtime.now(), runtime.config.prelogin_minutes)
        visit.session_id, visit.csrf, visit.cookie = doc["_id"], doc["csrf"], raw
    return visit


def _form(visit: Visit, request, schema=schemas.CsrfForm) -> dict:
    """The form's fields, after its CSRF token matched the session's (else 403)."""
    token = request.form.get(domain.CSRF_FIELD)
    if visit.session_id is None or not domain.csrf_ok(visit.csrf, token):
        raise CsrfRefused()
    return schema().load(request.form.to_dict())


def _now_year(runtime: ServiceRuntime) -> int:
    return timefmt.wib_year(runtime.now())


# -- health --------------------------------------------------------------------------------------
def ready(store: Store, clients: ServiceClient, name: str) -> tuple[int, dict]:
    checks = {"store": store.ping(), **{s: clients.live(s) for s in SERVICES}}
    ok = all(checks.values())
    return (200 if ok else 503), {"status": "ready" if ok else "not_ready", "service": name, "checks": checks}


# -- sign-in -------------------------------------------------------------------------------------
def sign_in_page(store: Store, runtime: ServiceRuntime, clients: ServiceClient, oidc: OidcClient, request) -> Response:
    args = schemas.SignInQuery().load(request.args.to_dict())
    next_path = domain.safe_next(args.get("lanjut"))
    visit = _prelogin(store, runtime, request)
    if visit.identity is not None:
        return visit.redirect(next_path)
    people, operators = [], []
    if runtime.config.dev_signin:
        people = queries.roster_people(clients, args.get("q"))
        operators = [(code, a.name) for code, a in reference_agencies().items()]
    return visit.render("masuk.html", next_path=next_path, oidc=oidc.configured, dev=runtime.config.dev_signin,
                        people=people, operators=operators, q=args.get("q") or "",
                        signed_out=args.get("keluar") == "1")


def oidc_start(store: Store, runtime: ServiceRuntime, oidc: OidcClient, request) -> Response:
    if not oidc.configured:
        raise NotFound("Masuk dengan SSO belum dikonfigurasi.")
    args = schemas.SignInQuery().load(request.args.to_dict())
    visit = _prelogin(store, runtime, request)
    state, nonce, verifier = domain.new_secret(), domain.new_secret(), domain.new_secret() + domain.new_secret()
    commands.start_oidc(store.db, visit.session_id, state, nonce, verifier, domain.safe_next(args.get("lanjut")))
    try:
        url = oidc.authorization_url(state, nonce, verifier)
    except OidcError as exc:
        log.warning("OIDC provider unavailable: %s", exc)
        return visit.render("error.html", status=503, title="Layanan SSO tidak tersedia",
                            message="Penyedia identitas (SSO) tidak dapat dihubungi. Silakan coba lagi sebentar.")
    return visit.redirect(url)


def oidc_callback(store: Store, runtime: ServiceRuntime, clients: ServiceClient, oidc: OidcClient,
                  request) -> Response:
    if not oidc.configured:
        raise NotFound("Masuk dengan SSO belum dikonfigurasi.")
    args = schemas.CallbackQuery().load(request.args.to_dict())
    visit = _visit(store, runtime, request, take_flash=False)
    pending = commands.take_oidc(store.db, visit.session_id) if visit.session_id else None
    if pending is None or not domain.csrf_ok(pending["state"], args.get("state")):
        return _refused(visit, "Sesi masuk tidak dikenali atau sudah kedaluwarsa. Silakan masuk kembali.", 400)
    if args.get("error"):
        return _refused(visit, "Proses masuk dibatalkan atau ditolak oleh penyedia identitas.", 400)
    if args.get("iss") and args["iss"].rstrip("/") != oidc.config.issuer.rstrip("/"):
        return _refused(visit, "Jawaban berasal dari penyedia identitas lain.", 400)
    if not args.get("code"):
        return _refused(visit, "Jawaban penyedia identitas tidak lengkap.", 400)
    try:
        claims, id_token = oidc.sign_in(args["code"], pending["code_verifier"], pending["nonce"])
        cfg = runtime.config.oidc
        mapped = domain.map_claims(claims, nip_claim=cfg.nip_claim, role_claim=cfg.role_claim,
                                   agency_claim=cfg.agency_claim, role_map=cfg.role_map)
        identity = identity_for(clients, mapped, via="oidc")
    except OidcError as exc:
        log.warning("OIDC sign-in failed: %s", exc)
        return _refused(visit, "Identitas dari penyedia SSO tidak dapat diverifikasi. Silakan coba lagi.", 400)
    except SignInRefused as exc:
        return _refused(visit, str(exc), 403)
    return _signed_in_now(store, runtime, visit, identity, pending.get("next") or "/", id_token)


def dev_sign_in(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request) -> Response:
    if not runtime.config.dev_signin:
        raise NotFound("Masuk pengembangan tidak tersedia.")
    visit = _visit(store, runtime, request, take_flash=False)
    form = _form(visit, request, schemas.DevSignInForm)
    kind, _, value = form["sebagai"].partition(":")
    if kind == ADMIN:
        mapped = {"role": ADMIN, "nip": None, "agency": None, "name": "Admin BKPSDM", "subject": "dev:admin"}
    elif kind == OPERATOR and value in reference_agencies():
        mapped = {"role": OPERATOR, "nip": None, "agency": value, "name": f"Operator {value}",
                  "subject": f"dev:operator:{value}"}
    elif kind == ASN and value.isdigit() and len(value) == 18:
        mapped = {"role": ASN, "nip": value, "agency": None, "name": value, "subject": f"dev:{value}"}
    else:
        return _refused(visit, "Pilihan akun tidak dikenali.", 422)
    try:
        identity = identity_for(clients, mapped, via="dev")
    except SignInRefused as exc:
        return _refused(visit, str(exc), 403)
    return _signed_in_now(store, runtime, visit, identity, domain.safe_next(form.get("lanjut")), None)


def identity_for(clients: ServiceClient, mapped: dict, via: str) -> Identity:
    """The person the portal signs in: the provider's (or the developer's) word, linked to the
    roster by the NIP (read with the person's own token). An ASN the roster does not know is
    refused; supervisors are those with staff on the roster or acting for a supervisor."""
    name, supervisor = mapped["name"], False
    if mapped.get("nip"):
        probe = Identity(role=ASN, subject=mapped["subject"], name=name, nip=mapped["nip"])
        try:
            entry = queries.roster_entry(clients, probe)
        except ServiceError as exc:
            if exc.status >= 500:
                raise SignInRefused("Daftar ASN sedang tidak dapat dihubungi; silakan coba lagi sebentar.") from None
            entry = None if exc.status == 404 else {}
        if entry is None and mapped["role"] == ASN:
            raise SignInRefused("NIP Anda belum tercatat di daftar ASN; hubungi operator OPD Anda.")
        if entry:
            name = entry.get("name") or name
            supervisor = domain.is_supervisor(entry)
    return Identity(role=mapped["role"], subject=mapped["subject"], name=name, nip=mapped.get("nip"),
                    agency=mapped.get("agency"), supervisor=supervisor, via=via)


def _signed_in_now(store: Store, runtime: ServiceRuntime, visit: Visit, identity: Identity, next_path: str,
                   id_token: str | None) -> Response:
    visit.cookie = commands.sign_in(store.db, visit.session_id, identity, runtime.now(),
                                    runtime.config.session_hours, id_token)
    visit.identity = identity
    log.info("signed in: role %s via %s", identity.role, identity.via)
    return visit.redirect(domain.safe_next(next_path))


def _refused(visit: Visit, message: str, status: int) -> Response:
    return visit.render("error.html", status=status, title="Tidak dapat masuk", message=message, code=status)


def sign_out(store: Store, runtime: ServiceRuntime, oidc: OidcClient, request) -> Response:
    visit = _visit(store, runtime, request, take_flash=False)
    _form(visit, request)
    doc = commands.sign_out(store.db, visit.session_id) or {}
    after = f"{runtime.config.public_url}/masuk?keluar=1"
    location = "/masuk?keluar=1"
    if (doc.get("identity") or {}).get("via") == "oidc" and oidc.configured:
        location = oidc.end_session_url(doc.get("id_token"), after) or location
    response = pages.redirect(location)
    response.delete_cookie(domain.SESSION_COOKIE, path="/", httponly=True, samesite="Lax",
                           secure=runtime.config.secure_cookies)
    return response


# -- ASN pages -----------------------------------------------------------------------------------
def _checkpoint(ledger: dict | None, year_entry: dict | None) -> dict | None:
    """The current checkpoint {id, label, target} from the ledger answer (where reporting gives it)."""
    for source in (year_entry or {}, ledger or {}):
        checkpoint = source.get("checkpoint")
        if isinstance(checkpoint, dict) and checkpoint.get("target") is not None:
            return checkpoint
    return None


def _year_of(ledger: dict | None, year: int) -> dict | None:
    return next((y for y in (ledger or {}).get("years", []) if y.get("year") == year), None)


def home(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request) -> Response:
    visit = _signed_in(store, runtime, request, own=False)
    identity = visit.identity
    if not identity.has_own_pages:
        return visit.render("beranda.html", staff_only=True)
    year = _now_year(runtime)
    ledger = queries.ledger(clients, identity, year)
    year_entry = _year_of(ledger, year)
    jp = (year_entry or {}).get("jp_total", 0)
    target = (year_entry or {}).get("target_jp") or (ledger or {}).get("target") or (ledger or {}).get("target_jp")
    checkpoint = _checkpoint(ledger, year_entry)
    chart = domain.progress_chart(jp, target, checkpoint and checkpoint["target"],
                                  checkpoint and checkpoint.get("label"))
    programmes = queries.published_programmes(clients, identity)
    mine = domain.own_enrolments_by_programme(queries.own_enrolments(clients, identity))
    waiting = [e for e in mine.values() if e.get("status") == "awaiting_approval"]
    titles = {p["code"]: p.get("title") for p in programmes}
    return visit.render("beranda.html", staff_only=False, year=year, chart=chart, checkpoint=checkpoint,
                        suggestions=domain.suggestions(programmes, mine), waiting=waiting, titles=titles,
                        unread=queries.unread_count(clients, identity),
                        approvals=queries.awaiting_approvals(clients, identity) if identity.supervisor else None)


def catalogue(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request) -> Response:
    visit = _signed_in(store, runtime, request)
    args = schemas.CatalogueQuery().load(request.args.to_dict())
    filters = domain.check_filters(args.get("jenis"), args.get("kompetensi"), args.get("bulan"))
    programmes = domain.catalogue(queries.published_programmes(clients, visit.identity, filters), filters,
                                  runtime.now())
    per_page, page_no = schemas.PER_PAGE, args["halaman"]
    pages_total = max(1, -(-len(programmes) // per_page))
    shown = programmes[(page_no - 1) * per_page: page_no * per_page]
    mine = domain.own_enrolments_by_programme(queries.own_enrolments(clients, visit.identity))
    return visit.render("katalog.html", programmes=shown, mine=mine, filters=filters, total=len(programmes),
                        page_no=page_no, pages_total=pages_total, months=domain.month_options(runtime.now()),
                        seats_text=domain.seats_text, enrolment_text=domain.enrolment_text)


def programme_page(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request, code: str) -> Response:
    visit = _signed_in(store, runtime, request)
    code = schemas.programme_code(code)
    programme = queries.programme(clients, visit.identity, code)
    if programme.get("status") == "draft":
        raise NotFound("Program tidak ditemukan.")
    mine = domain.own_enrolments_by_programme(queries.own_enrolments(clients, visit.identity, code)).get(code)
    active = mine is not None and mine.get("status") in domain.CANCELLABLE
    return visit.render("program.html", p=programme, mine=mine, active=active,
                        seats=domain.seats_text(programme), mine_text=domain.enrolment_text(mine))


def enrol(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request, code: str) -> Response:
    visit = _signed_in(store, runtime, request)
    _form(visit, request)
    code = schemas.programme_code(code)
    try:
        enrolment = commands.enrol(clients, visit.identity, code)
        commands.flash(store.db, visit.session_id, domain.enrol_outcome(enrolment), "ok")
    except ServiceError as exc:
        if exc.status >= 500:
            raise
        commands.flash(store.db, visit.session_id, _refusal_text(exc, "Pendaftaran tidak dapat diproses"), "error")
    return visit.redirect(f"/katalog/{code}")


def cancel(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request, enrolment_id: str) -> Response:
    visit = _signed_in(store, runtime, request)
    form = _form(visit, request, schemas.CancelForm)
    enrolment_id = schemas.enrolment_id(enrolment_id)
    try:
        commands.cancel(clients, visit.identity, enrolment_id)
        commands.flash(store.db, visit.session_id, "Pendaftaran Anda telah dibatalkan.", "ok")
    except ServiceError as exc:
        if exc.status >= 500:
            raise
        commands.flash(store.db, visit.session_id, _refusal_text(exc, "Pembatalan tidak dapat diproses"), "error")
    return visit.redirect(domain.safe_next(form.get("kembali"), "/katalog"))


_REFUSALS = {
    "enrolment_closed": "Pendaftaran program ini sedang tidak dibuka.",
    "already_enrolled": "Anda sudah terdaftar pada program ini.",
    "not_on_roster": "NIP Anda tidak tercatat aktif di daftar ASN; hubungi operator OPD Anda.",
}


def _refusal_text(exc: ServiceError, prefix: str) -> str:
    """A service's refusal in words for people: its own message when it is in Bahasa
    Indonesia (enrollment's approval messages are), else a known one, else the prefix."""
    if exc.code in _REFUSALS:
        return _REFUSALS[exc.code]
    if exc.status in (401, 403):
        return f"{prefix}: Anda tidak berhak melakukan ini."
    message = exc.message or ""
    indonesian = any(word in message.lower() for word in (" anda", "atasan", "tidak ", "belum ", "sudah "))
    return message if indonesian else f"{prefix} ({message})." if message else f"{prefix}."


def history(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request) -> Response:
    visit = _signed_in(store, runtime, request)
    args = schemas.YearQuery().load(request.args.to_dict())
    year = args.get("tahun") or _now_year(runtime)
    ledger = queries.ledger(clients, visit.identity, year)
    year_entry = _year_of(ledger, year)
    this_year = _now_year(runtime)
    return visit.render("riwayat.html", year=year, years=list(range(this_year, this_year - 6, -1)),
                        ledger=ledger, entry=year_entry, checkpoint=_checkpoint(ledger, year_entry))


def certificates(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request) -> Response:
    visit = _signed_in(store, runtime, request)
    return visit.render("sertifikat.html", certificates=queries.certificates(clients, visit.identity))


def certificate_file(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request, certificate_id: str,
                     what: str) -> Response:
    """The certificate's PDF or its Open Badges credential, fetched with the person's token."""
    visit = _signed_in(store, runtime, request)
    certificate_id = schemas.certificate_id(certificate_id)
    suffix = "pdf" if what == "pdf" else "credential"
    got = clients.file("certification", f"/certificates/{certificate_id}/{suffix}", visit.identity)
    headers = {"Content-Disposition": got.disposition or
               f'attachment; filename="sertifikat-{certificate_id}.{"pdf" if what == "pdf" else "json"}"'}
    if what != "pdf":
        headers["Content-Disposition"] = f'attachment; filename="kredensial-{certificate_id}.json"'
    return Response(got.content, headers=headers,
                    mimetype="application/pdf" if what == "pdf" else "application/json")


def inbox(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request) -> Response:
    visit = _signed_in(store, runtime, request)
    return visit.render("kotak_masuk.html", inbox=queries.inbox(clients, visit.identity))


def mark_read(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request, message_id: str) -> Response:
    visit = _signed_in(store, runtime, request)
    _form(visit, request)
    commands.mark_read(clients, visit.identity, schemas.message_id(message_id))
    return visit.redirect("/kotak-masuk")


# -- calendar ----------------------------------------------------------------------------------------
def enrolment_ics(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request, enrolment_id: str) -> Response:
    """One enrolment as an .ics file (the same event, UID and SEQUENCE as in the feed)."""
    visit = _signed_in(store, runtime, request)
    enrolment = queries.enrolment(clients, visit.identity, schemas.enrolment_id(enrolment_id))
    programme = queries.programme(clients, visit.identity, enrolment["programme_code"])
    body = calendar.single_enrolment_file(enrolment, programme, portal_url=runtime.config.public_url,
                                          now=runtime.now())
    return Response(body, content_type=calendar.MEDIA_TYPE,
                    headers={"Content-Disposition": f'attachment; filename="{calendar.filename(programme)}"'})


def calendar_page(store: Store, runtime: ServiceRuntime, request) -> Response:
    visit = _signed_in(store, runtime, request)
    feed = queries.feed_of(store.db, visit.identity.nip)
    new_url = (visit.flash or {}).get("feed_url")
    return visit.render("kalender.html", feed=feed, new_url=new_url)


def calendar_create(store: Store, runtime: ServiceRuntime, request) -> Response:
    """A new secret feed link (any earlier one stops working); shown once on the next page."""
    visit = _signed_in(store, runtime, request)
    _form(visit, request)
    secret = commands.create_feed(store.db, visit.identity.nip, runtime.now())
    url = f"{runtime.config.public_url}/kalender/{secret}.ics"
    commands.flash(store.db, visit.session_id, "Tautan kalender baru dibuat. Tautan lama (jika ada) tidak berlaku "
                                               "lagi.", "ok", feed_url=url)
    return visit.redirect("/kalender")


def calendar_revoke(store: Store, runtime: ServiceRuntime, request) -> Response:
    visit = _signed_in(store, runtime, request)
    _form(visit, request)
    revoked = commands.revoke_feed(store.db, visit.identity.nip)
    commands.flash(store.db, visit.session_id, "Tautan kalender dicabut; kalender yang berlangganan tidak akan "
                                               "diperbarui lagi." if revoked else "Tidak ada tautan kalender aktif.",
                   "ok" if revoked else "info")
    return visit.redirect("/kalender")


def calendar_feed(store: Store, runtime: ServiceRuntime, clients: ServiceClient, secret: str) -> Response:
    """The personal feed behind a secret link (no session: a calendar app fetches it). The
    person's enrolments are read with a token minted for them, as if they asked."""
    feed = queries.feed_by_secret(store.db, secret) if 20 <= len(secret) <= 100 else None
    if feed is None:
        raise NotFound("Tautan kalender tidak dikenal atau sudah dicabut.")
    person = Identity(role=ASN, subject=f"calendar-feed:{feed['nip']}", name=feed["nip"], nip=feed["nip"])
    enrolments = queries.own_enrolments(clients, person)
    programmes = {}
    for code in sorted({e["programme_code"] for e in enrolments}):
        try:
            programmes[code] = queries.programme(clients, person, code)
        except ServiceError as exc:
            if exc.status != 404:
                raise
    pairs = [(e, programmes[e["programme_code"]]) for e in enrolments if e["programme_code"] in programmes]
    body = calendar.feed(pairs, name="Bangkom ASN", portal_url=runtime.config.public_url, now=runtime.now())
    return Response(body, content_type=calendar.MEDIA_TYPE,
                    headers={"Content-Disposition": 'inline; filename="bangkom.ics"', "Cache-Control": "private, max-age=300"})


# -- files -----------------------------------------------------------------------------------------
def static(name: str) -> Response:
    found = pages.static_file(name)
    if found is None:
        raise NotFound("Berkas tidak ditemukan.")
    content, kind = found
    return Response(content, mimetype=kind, headers={"Cache-Control": "public, max-age=3600"})


def not_found(store: Store, runtime: ServiceRuntime, request) -> Response:
    visit = _visit(store, runtime, request, take_flash=False)
    return visit.render("error.html", status=404, title="Halaman tidak ditemukan",
                        message="Alamat yang Anda buka tidak tersedia.", code=404)


# -- supervisor, operator and admin pages (izin atasan, tim saya, Plt/Plh, log akses) --
def _denied(visit: Visit, message: str, status: int = 403, title: str = "Akses ditolak") -> Response:
    """A refusal as a page with the person's menu (not the bare error page)."""
    return visit.render("error.html", status=status, title=title, message=message, code=status)


_FOR_ASN = "Halaman ini untuk ASN yang menjadi atasan; akun Anda tidak terhubung dengan NIP."
# What the supervision templates use besides the page's own data
_WORDS = {"nip_printed": domain.nip_printed, "holds_text": domain.holds_text, "decision_text": domain.decision_text,
          "acting_labels": domain.ACTING_LABELS, "decision_labels": domain.DECISION_LABELS}


def _approvals_page(visit: Visit, runtime: ServiceRuntime, clients: ServiceClient, *, status: int = 200,
                    errors: dict | None = None, form: dict | None = None) -> Response:
    identity = visit.identity
    awaiting = domain.awaiting_requests(queries.approvals(clients, identity, "awaiting"))
    decided = domain.recently_decided(queries.approvals(clients, identity, "decided"), runtime.now())
    return visit.render("persetujuan.html", status=status, **_WORDS, awaiting=awaiting, decided=decided,
                        errors=errors or {}, form=form or {}, days=domain.DECIDED_SHOWN_DAYS)


def approvals_page(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request) -> Response:
    """Persetujuan: the requests waiting for this person's decision (as supervisor or Plt/Plh),
    and those decided in the last 30 days."""
    visit = _signed_in(store, runtime, request, own=False)
    if not visit.identity.has_own_pages:
        return _denied(visit, _FOR_ASN)
    return _approvals_page(visit, runtime, clients)


def decide(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request, enrolment_id: str) -> Response:
    """Approve, or decline with a reason (an empty reason: the list again, the error beside the field)."""
    visit = _signed_in(store, runtime, request, own=False)
    form = _form(visit, request, schemas.DecisionForm)
    if not visit.identity.has_own_pages:
        return _denied(visit, _FOR_ASN)
    enrolment_id = schemas.enrolment_id(enrolment_id)
    errors = domain.decision_errors(form.get("keputusan"), form.get("alasan"))
    if errors:
        return _approvals_page(visit, runtime, clients, status=422, errors={enrolment_id: errors},
                               form={enrolment_id: form})
    try:
        enrolment = commands.decide(clients, visit.identity, enrolment_id,
                                    domain.decision_body(form["keputusan"], form.get("alasan")))
        commands.flash(store.db, visit.session_id, domain.decided_message(enrolment), "ok")
    except ServiceError as exc:
        if exc.status >= 500 or exc.status == 404:
            raise
        commands.flash(store.db, visit.session_id, _refusal_text(exc, "Keputusan tidak dapat diproses"), "error")
    return visit.redirect("/persetujuan")


def _link_request(visit: Visit, clients: ServiceClient, token: str) -> tuple[dict | None, Response | None]:
    """The request behind a link, or the page saying why it cannot be shown."""
    try:
        return queries.approval_by_link(clients, visit.identity, token), None
    except ServiceError as exc:
        if exc.status == 403:
            return None, _denied(visit, "Tautan persetujuan ini ditujukan kepada atasan lain. Masuklah dengan akun "
                                        "atasan yang menerima tautan ini.")
        if exc.status in (400, 404, 422):
            return None, _denied(visit, "Tautan persetujuan ini tidak sah atau bukan untuk permohonan yang "
                                        "berlaku. Buka daftar persetujuan Anda di portal.", 404,
                                 "Tautan tidak berlaku")
        raise


def _no_referrer(response: Response) -> Response:
    # the token is in this page's address: it must never travel on as a Referer
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def approval_link_page(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request,
                       token: str) -> Response:
    """The request from the notification's link (sign-in first: the link alone decides nothing)."""
    token = schemas.approval_token(token)
    visit = _signed_in(store, runtime, request, own=False)
    if not visit.identity.has_own_pages:
        return _no_referrer(_denied(visit, _FOR_ASN))
    enrolment, refused = _link_request(visit, clients, token)
    if refused is not None:
        return _no_referrer(refused)
    return _no_referrer(visit.render("persetujuan_link.html", **_WORDS, e=enrolment, token=token,
                                     open=domain.is_undecided(enrolment), errors={}, form={}))


def decide_by_link(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request, token: str) -> Response:
    """A decision from the link page: once (a second use says it was decided already)."""
    token = schemas.approval_token(token)
    visit = _signed_in(store, runtime, request, own=False)
    form = _form(visit, request, schemas.DecisionForm)
    if not visit.identity.has_own_pages:
        return _no_referrer(_denied(visit, _FOR_ASN))
    errors = domain.decision_errors(form.get("keputusan"), form.get("alasan"))
    if errors:
        enrolment, refused = _link_request(visit, clients, token)
        if refused is not None:
            return _no_referrer(refused)
        return _no_referrer(visit.render("persetujuan_link.html", **_WORDS, status=422, e=enrolment, token=token,
                                         open=domain.is_undecided(enrolment), errors=errors, form=form))
    try:
        enrolment = commands.decide_by_link(clients, visit.identity, token,
                                            domain.decision_body(form["keputusan"], form.get("alasan")))
    except ServiceError as exc:
        if exc.status == 409:
            enrolment, refused = _link_request(visit, clients, token)
            if refused is not None:
                return _no_referrer(refused)
            return _no_referrer(visit.render("persetujuan_link.html", **_WORDS, status=409, e=enrolment,
                                             token=token, open=False, errors={}, form={}, conflict=exc.message))
        if exc.status in (403, 422):
            return _no_referrer(_link_request(visit, clients, token)[1] or _denied(visit, _refusal_text(
                exc, "Keputusan tidak dapat diproses")))
        raise
    commands.flash(store.db, visit.session_id, domain.decided_message(enrolment), "ok")
    return _no_referrer(visit.redirect(f"/persetujuan/{token}"))


def team_page(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request) -> Response:
    """Tim saya: each staff member's JP against their own target, in name order (never ranked)."""
    visit = _signed_in(store, runtime, request, own=False)
    if not visit.identity.has_own_pages:
        return _denied(visit, _FOR_ASN)
    team = queries.team(clients, visit.identity)
    members = sorted(team.get("members") or [], key=lambda m: ((m.get("name") or "").lower(), m.get("nip")))
    return visit.render("tim.html", **_WORDS, team=team, members=members,
                        bars={m["nip"]: domain.team_bar(m) for m in members}, summary=team.get("summary"))


def _staff_visit(store: Store, runtime: ServiceRuntime, request, *roles: str) -> tuple[Visit, Response | None]:
    visit = _signed_in(store, runtime, request, own=False)
    if visit.identity.role not in roles:
        return visit, _denied(visit, "Halaman ini hanya untuk " + " dan ".join(
            domain.ROLE_LABELS[r] for r in roles) + ".")
    return visit, None


def acting_page(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request) -> Response:
    """Plt/Plh: the form, and the delegation of the supervisor looked up (enrollment offers no list)."""
    visit, refused = _staff_visit(store, runtime, request, OPERATOR, ADMIN)
    if refused:
        return refused
    args = schemas.ActingQuery().load(request.args.to_dict())
    return _acting_page(visit, runtime, clients, "".join((args.get("atasan") or "").split()) or None)


def _acting_page(visit: Visit, runtime: ServiceRuntime, clients: ServiceClient, nip: str | None, *,
                 status: int = 200, errors: dict | None = None, form: dict | None = None) -> Response:
    entry, looked_up = None, bool(nip and len(nip) == 18 and nip.isdigit())
    if looked_up:
        entry = queries.roster_of(clients, visit.identity, nip)
    today = timefmt.wib_date(runtime.now())
    return visit.render("operator_plt.html", status=status, **_WORDS, nip=nip, looked_up=looked_up, entry=entry,
                        errors=errors or {}, form=form or {}, kinds=domain.ACTING_LABELS,
                        min_date=(today + timedelta(days=1)).isoformat(),
                        max_date=(today + timedelta(days=domain.ACTING_MAX_DAYS - 1)).isoformat())


_ACTING_FIELDS = {"acting_nip": "pelaksana", "ends_at": "sampai", "kind": "jenis", "nip": "atasan"}


def set_acting(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request) -> Response:
    visit, refused = _staff_visit(store, runtime, request, OPERATOR, ADMIN)
    form = _form(visit, request, schemas.ActingForm)
    if refused:
        return refused
    errors, ends_at = domain.acting_errors(form, runtime.now())
    if not errors:
        try:
            commands.set_acting(clients, visit.identity, form["atasan"], form["pelaksana"], form["jenis"], ends_at)
        except ServiceError as exc:
            if exc.status >= 500:
                raise
            named = exc.body.get("field") or next(iter(exc.body.get("errors") or {}), "")
            field_name = _ACTING_FIELDS.get(str(named).split(".")[0], "atasan")
            errors = {field_name: _acting_refusal(exc)}
    if errors:
        return _acting_page(visit, runtime, clients, form.get("atasan") if "atasan" not in errors else None,
                            status=422, errors=errors, form=form)
    commands.flash(store.db, visit.session_id, f"{form['jenis'].capitalize()} untuk atasan "
                   f"{domain.nip_printed(form['atasan'])} ditetapkan sampai "
                   f"{timefmt.long_date_id(ends_at)}.", "ok")
    return visit.redirect(f"/operator/plt?atasan={form['atasan']}")


def end_acting(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request) -> Response:
    visit, refused = _staff_visit(store, runtime, request, OPERATOR, ADMIN)
    form = _form(visit, request, schemas.EndActingForm)
    if refused:
        return refused
    nip = "".join(form["atasan"].split())
    try:
        commands.end_acting(clients, visit.identity, nip)
        commands.flash(store.db, visit.session_id, f"Plt/Plh atasan {domain.nip_printed(nip)} diakhiri.", "ok")
    except ServiceError as exc:
        if exc.status >= 500:
            raise
        commands.flash(store.db, visit.session_id, _acting_refusal(exc), "error")
    return visit.redirect(f"/operator/plt?atasan={nip}")


def _acting_refusal(exc: ServiceError) -> str:
    if exc.status in (403, 404):
        return "NIP tersebut tidak ada di daftar ASN OPD Anda."
    if exc.status == 422:
        known = {"acting_nip": "NIP Plt/Plh tidak tercatat aktif di daftar ASN OPD Anda.",
                 "ends_at": "Tanggal berakhir harus setelah hari ini dan paling lama satu tahun."}
        named = exc.body.get("field") or next(iter(exc.body.get("errors") or {}), "")
        return known.get(named, "Isian tidak sah; periksa NIP dan tanggal.")
    return _refusal_text(exc, "Plt/Plh tidak dapat ditetapkan")


def access_log_page(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request) -> Response:
    """Log akses: who read whose personal data, the three services' logs merged, newest first."""
    visit, refused = _staff_visit(store, runtime, request, ADMIN)
    if refused:
        return refused
    args = schemas.AccessLogQuery().load(request.args.to_dict())
    nip = "".join((args.get("nip") or "").split()) or None
    reader = (args.get("pembaca") or "").strip() or None
    errors = {}
    if nip and not (len(nip) == 18 and nip.isdigit()):
        errors["nip"] = "NIP harus 18 angka."
    pages_, missing = ({}, []) if errors else queries.access_logs(clients, visit.identity, nip, reader)
    rows = domain.merge_access_logs(pages_)
    return visit.render("admin_log_akses.html", **_WORDS, status=422 if errors else 200, rows=rows, missing=missing,
                        nip=nip or "", reader=reader or "", errors=errors, what_labels=domain.WHAT_LABELS)
