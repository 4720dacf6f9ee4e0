"""The portal's use cases: find the visit (session cookie -> signed-in person), check the CSRF
token of a form, read or act through the services with the person's own token, render a page.
``service.py``'s entrypoints call these; each returns a werkzeug Response."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from werkzeug.wrappers import Response

from shared import reference, timefmt
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
    # the page's five reads are independent: side by side, the page waits for the slowest
    ledger, programmes, own, unread, approvals = clients.gather([
        lambda: queries.ledger(clients, identity, year),
        lambda: queries.published_programmes(clients, identity),
        lambda: queries.own_enrolments(clients, identity),
        lambda: queries.unread_count(clients, identity),
        lambda: queries.awaiting_approvals(clients, identity) if identity.supervisor else None])
    year_entry = _year_of(ledger, year)
    jp = (year_entry or {}).get("jp_total", 0)
    target = (year_entry or {}).get("target_jp") or (ledger or {}).get("target") or (ledger or {}).get("target_jp")
    checkpoint = _checkpoint(ledger, year_entry)
    chart = domain.progress_chart(jp, target, checkpoint and checkpoint["target"],
                                  checkpoint and checkpoint.get("label"))
    mine = domain.own_enrolments_by_programme(own)
    waiting = [e for e in mine.values() if e.get("status") == "awaiting_approval"]
    titles = {p["code"]: p.get("title") for p in programmes}
    return visit.render("beranda.html", staff_only=False, year=year, chart=chart, checkpoint=checkpoint,
                        suggestions=domain.suggestions(programmes, mine), waiting=waiting, titles=titles,
                        unread=unread, approvals=approvals)


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

    def programme_of(code: str) -> dict | None:
        try:
            return queries.programme(clients, person, code)
        except ServiceError as exc:
            if exc.status != 404:
                raise
            return None

    codes = sorted({e["programme_code"] for e in enrolments})
    found = clients.gather([lambda c=code: programme_of(c) for code in codes])  # side by side
    programmes = {code: p for code, p in zip(codes, found) if p is not None}
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
    now = runtime.now()
    since = now - timedelta(days=domain.DECIDED_SHOWN_DAYS)  # enrollment keeps to the days shown
    awaiting_items, decided_items = clients.gather([
        lambda: queries.approvals(clients, identity, "awaiting"),
        lambda: queries.approvals(clients, identity, "decided", since=since)])
    awaiting = domain.awaiting_requests(awaiting_items)
    decided = domain.recently_decided(decided_items, now)
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


# -- operator console: oversight (issue 21) --
from urllib.parse import quote  # noqa: E402 - this section's imports stay in it (three helpers share the file)

from services.portal.adapters import downloads  # noqa: E402

_OVERSIGHT_OTHER_OPD = ("Anda tidak berhak melihat data tersebut. Operator OPD hanya dapat melihat data OPD-nya sendiri; "
              "Admin BKPSDM melihat semua OPD.")


def _oversight_refusal(visit: Visit, exc: ServiceError) -> Response:
    """A service's refusal of an oversight read as a page with the person's menu."""
    if exc.status >= 500 or exc.status == 429:
        raise exc
    if exc.status in (401, 403):
        return _denied(visit, _OVERSIGHT_OTHER_OPD)
    if exc.status == 404:
        return _denied(visit, "Data yang Anda cari tidak ditemukan.", 404, "Tidak ditemukan")
    field_name = exc.body.get("field") or next(iter(exc.body.get("errors") or {}), "")
    words = {"agency": "kode OPD tidak dikenal", "year": "tahun tidak sah", "cursor": "halaman tidak sah",
             "checkpoint": "checkpoint tidak dikenal"}
    return _denied(visit, f"Isian tidak sah: {words.get(str(field_name), 'periksa kembali isian Anda')}.", 422,
                   "Isian tidak sah")


def _oversight_filters(visit: Visit, runtime: ServiceRuntime, args: dict) -> tuple[int, str | None]:
    """(year, OPD) of an oversight page: an operator's own OPD unless it names another (which the
    API then refuses: the portal never widens its scope); an admin's filter, empty for all."""
    year = args.get("tahun") or _now_year(runtime)
    agency = "".join((args.get("opd") or "").split()).upper() or None
    if visit.identity.role == OPERATOR:
        agency = agency or visit.identity.agency
    return year, agency


def _oversight_context(visit: Visit, runtime: ServiceRuntime, year: int, agency: str | None) -> dict:
    this_year = _now_year(runtime)
    query = f"tahun={year}" + (f"&opd={agency}" if agency else "")
    return {"year": year, "agency": agency, "years": list(range(this_year, this_year - 5, -1)),
            "agencies": [(code, a.name) for code, a in reference_agencies().items()],
            "agency_name": (reference_agencies().get(agency).name if agency in reference_agencies() else agency),
            "is_admin": visit.identity.role == ADMIN, "query": query,
            "exports": [{"name": name, "label": label, "href": f"/operator/ekspor/{name}?{query}"}
                        for name, (_, label) in domain.EXPORTS.items()],
            "small_note": domain.SMALL_GROUP_NOTE, "min_group": domain.MIN_GROUP}


def oversight_dashboard(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request) -> Response:
    """Dasbor: the compliance figures and charts of the operator's OPD (admin: every OPD, or one),
    from reporting's JSON routes; every aggregate of fewer than 5 ASN shown as "—"."""
    visit, refused = _staff_visit(store, runtime, request, OPERATOR, ADMIN)
    if refused:
        return refused
    year, agency = _oversight_filters(visit, runtime, schemas.OversightQuery().load(request.args.to_dict()))
    try:
        report = queries.compliance(clients, visit.identity, year, agency)
        monthly = queries.certificates_monthly(clients, visit.identity, year, agency)
        programmes = queries.programme_figures(clients, visit.identity, year)
    except ServiceError as exc:
        return _oversight_refusal(visit, exc)
    totals = domain.agency_figures({**report.get("totals", {}), "agency": agency,
                                    "agency_name": next((r.get("agency_name") for r in report.get("items", [])
                                                         if r.get("agency") == agency), agency)})
    rows = [domain.agency_figures(r) for r in report.get("items", []) if r.get("known_asn")]
    certificates_shown = totals["shown"]
    return visit.render("operator_dasbor.html", **_oversight_context(visit, runtime, year, agency),
                        target=report.get("target_jp"), totals=totals, rows=rows if not agency else [],
                        agency_chart=domain.rate_chart(rows) if not agency and rows else None,
                        distribution=domain.distribution_chart(report.get("totals")),
                        distribution_rows=list((report.get("totals") or {}).get("distribution", {}).items()),
                        certificates=domain.certificates_chart(monthly) if certificates_shown else None,
                        months=domain.month_rows(monthly), certificates_shown=certificates_shown,
                        programmes=[domain.programme_figures(p) for p in programmes.get("items", [])],
                        programmes_total=programmes.get("total", 0))


def never_enrolled_page(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request) -> Response:
    """Belum pernah ikut: the ASN of the OPD (admin: every OPD, or one) with no enrolment, in NIP
    order, a page at a time (reporting's cursor)."""
    visit, refused = _staff_visit(store, runtime, request, OPERATOR, ADMIN)
    if refused:
        return refused
    args = schemas.NeverEnrolledPageQuery().load(request.args.to_dict())
    year, agency = _oversight_filters(visit, runtime, args)
    try:
        page = queries.never_enrolled(clients, visit.identity, year, agency, args.get("setelah"), args["jumlah"])
    except ServiceError as exc:
        return _oversight_refusal(visit, exc)
    context = _oversight_context(visit, runtime, year, agency)
    if args["jumlah"] != 50:  # the page size travels with the page links
        context["query"] += f"&jumlah={args['jumlah']}"
    cursor = page.get("next_cursor")
    return visit.render("operator_belum_ikut.html", **context, listing=page, items=page.get("items", []),
                        nip_printed=domain.nip_printed, first_page=not args.get("setelah"),
                        next_href=f"/operator/belum-ikut?{context['query']}&setelah={quote(cursor, safe='')}"
                        if cursor else None)


def export_download(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request, name: str) -> Response:
    """An export of reporting (CSV, XLSX, SIASN) fetched with the operator's or admin's token and
    streamed through as it arrives, its file name kept."""
    visit, refused = _staff_visit(store, runtime, request, OPERATOR, ADMIN)
    if refused:
        return refused
    if name not in domain.EXPORTS:
        raise NotFound("Berkas ekspor tidak dikenal.")
    year, agency = _oversight_filters(visit, runtime, schemas.OversightQuery().load(request.args.to_dict()))
    params = {"year": year, **({"agency": agency} if agency else {})}
    try:
        return downloads.stream(clients, "reporting", domain.EXPORTS[name][0], visit.identity, params=params)
    except ServiceError as exc:
        return _oversight_refusal(visit, exc)


def _oversight_checkpoint_page(visit: Visit, runtime: ServiceRuntime, clients: ServiceClient, chosen: str | None, *,
                     status: int = 200, errors: dict | None = None) -> Response:
    choices = domain.checkpoint_choices(_now_year(runtime))
    ids = [c["id"] for c in choices] + ([chosen] if chosen and chosen not in {c["id"] for c in choices} else [])
    found = clients.gather([lambda i=i: queries.checkpoint_job(clients, visit.identity, i) for i in ids])
    jobs = {i: domain.job_view(job) for i, job in zip(ids, found)}
    return visit.render("admin_checkpoint.html", status=status, choices=choices, jobs=jobs, chosen=chosen,
                        chosen_label=domain.checkpoint_label(chosen) if chosen else None,
                        job=jobs.get(chosen) if chosen else None, errors=errors or {})


def checkpoint_page(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request) -> Response:
    """Checkpoint (admin): this year's and last year's shortfall checkpoints with their state; the
    chosen one's progress (refreshed by static/console-checkpoint.js, or the "Perbarui" link)."""
    visit, refused = _staff_visit(store, runtime, request, ADMIN)
    if refused:
        return refused
    chosen = schemas.CheckpointQuery().load(request.args.to_dict()).get("checkpoint") or None
    if chosen and not domain.checkpoint_valid(chosen):
        return _oversight_checkpoint_page(visit, runtime, clients, None, status=422,
                                errors={"checkpoint": "Pilih checkpoint dari daftar (mis. 2026-Q3)."})
    return _oversight_checkpoint_page(visit, runtime, clients, chosen)


def checkpoint_run(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request) -> Response:
    """Run a checkpoint (reporting POST /admin/shortfall/<cp>/run): 303 to its progress."""
    visit, refused = _staff_visit(store, runtime, request, ADMIN)
    form = _form(visit, request, schemas.CheckpointForm)
    if refused:
        return refused
    checkpoint = (form.get("checkpoint") or "").strip()
    if not domain.checkpoint_valid(checkpoint):
        return _oversight_checkpoint_page(visit, runtime, clients, None, status=422,
                                errors={"checkpoint": "Pilih checkpoint yang akan dijalankan."})
    try:
        job = commands.run_checkpoint(clients, visit.identity, checkpoint)
    except ServiceError as exc:
        if exc.status == 422:
            return _oversight_checkpoint_page(visit, runtime, clients, None, status=422,
                                    errors={"checkpoint": "Checkpoint ini tidak dikenal oleh layanan pelaporan."})
        return _oversight_refusal(visit, exc)
    label = domain.checkpoint_label(checkpoint)
    if (job or {}).get("status") == "done" and (job or {}).get("finished_at"):
        message, kind = f"Checkpoint {label} sudah selesai dijalankan sebelumnya; hasilnya di bawah.", "info"
    else:
        message, kind = f"Checkpoint {label} mulai dijalankan. Kemajuannya tampil di bawah.", "ok"
    commands.flash(store.db, visit.session_id, message, kind)
    return visit.redirect(f"/admin/checkpoint?checkpoint={checkpoint}")


def checkpoint_status(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request):
    """The chosen checkpoint's job as JSON for the page's polling script (admin only)."""
    visit = _signed_in(store, runtime, request, own=False)
    if visit.identity.role != ADMIN:
        return 403, {"error": "forbidden", "message": "Hanya Admin BKPSDM."}
    checkpoint = schemas.CheckpointQuery().load(request.args.to_dict()).get("checkpoint") or ""
    if not domain.checkpoint_valid(checkpoint):
        return 422, {"error": "invalid", "field": "checkpoint", "message": "Checkpoint tidak sah."}
    job = queries.checkpoint_job(clients, visit.identity, checkpoint)
    if job is None:
        return 404, {"error": "not_found", "message": "Checkpoint ini belum dijalankan."}
    return 200, domain.job_view(job)


def _oversight_certificates_page(visit: Visit, clients: ServiceClient, code: str, cursor: str | None, *, status: int = 200,
                       errors: dict | None = None, form: dict | None = None) -> Response:
    try:
        programme = queries.programme_as_staff(clients, visit.identity, code)
        page = queries.programme_certificates(clients, visit.identity, code, cursor)
    except ServiceError as exc:
        return _oversight_refusal(visit, exc)
    next_cursor = page.get("next_cursor")
    return visit.render("operator_sertifikat.html", status=status, p=programme, listing=page,
                        items=page.get("items", []), can_revoke=visit.identity.role == ADMIN,
                        nip_printed=domain.nip_printed, errors=errors or {}, form=form or {},
                        first_page=not cursor, reason_max=domain.REVOKE_REASON_MAX,
                        next_href=f"/operator/program/{code}/sertifikat?setelah={quote(next_cursor, safe='')}"
                        if next_cursor else None)


def programme_certificates_page(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request,
                                code: str) -> Response:
    """Sertifikat program: the programme's certificates (an operator: its OPD's holders only),
    with status, number and holder; an admin revokes with a reason."""
    visit, refused = _staff_visit(store, runtime, request, OPERATOR, ADMIN)
    if refused:
        return refused
    args = schemas.CertificatesPageQuery().load(request.args.to_dict())
    return _oversight_certificates_page(visit, clients, schemas.programme_code(code), args.get("setelah"))


def revoke_certificate(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request, code: str,
                       certificate_id: str) -> Response:
    """Revoke a certificate of the programme (admin only; a reason of 5 to 500 characters)."""
    visit, refused = _staff_visit(store, runtime, request, OPERATOR, ADMIN)
    form = _form(visit, request, schemas.RevokeForm)
    if refused:
        return refused
    if visit.identity.role != ADMIN:
        return _denied(visit, "Hanya Admin BKPSDM yang dapat mencabut sertifikat.")
    code, certificate_id = schemas.programme_code(code), schemas.certificate_id(certificate_id)
    errors = domain.revoke_errors(form.get("alasan"))
    if errors:
        return _oversight_certificates_page(visit, clients, code, None, status=422, errors={certificate_id: errors["alasan"]},
                                  form={certificate_id: form.get("alasan") or ""})
    try:
        certificate = queries.certificate_as_staff(clients, visit.identity, certificate_id)
        if (certificate.get("programme") or {}).get("code", "").upper() != code:
            raise NotFound("Sertifikat tidak ditemukan pada program ini.")
        revoked = commands.revoke_certificate(clients, visit.identity, certificate_id, form["alasan"].strip())
    except ServiceError as exc:
        if exc.status == 422:
            return _oversight_certificates_page(visit, clients, code, None, status=422,
                                      errors={certificate_id: "Alasan pencabutan tidak diterima (5–500 karakter)."},
                                      form={certificate_id: form.get("alasan") or ""})
        return _oversight_refusal(visit, exc)
    commands.flash(store.db, visit.session_id, f"Sertifikat {revoked.get('number') or certificate_id} dicabut.", "ok")
    return visit.redirect(f"/operator/program/{code}/sertifikat")


# -- operator console: programmes (issue 21) --
_OTHER_OPD = ("Data pendaftaran ini milik ASN OPD lain atau tidak ditemukan. Anda hanya dapat membuka dan mengubah "
              "data ASN OPD Anda sendiri.")


def _console_refusal(visit: Visit, exc: ServiceError) -> Response:
    """Enrollment's 403/404 as a page in Bahasa Indonesia with the person's menu; the rest raised."""
    if exc.status in (401, 403):
        return _denied(visit, _OTHER_OPD if visit.identity.role == OPERATOR else
                       "Anda tidak berhak membuka atau mengubah data ini.")
    if exc.status == 404:
        return _denied(visit, "Program atau pendaftaran yang Anda cari tidak ditemukan.", 404, "Tidak ditemukan")
    raise exc


def _back_to(code: str | None) -> str:
    try:
        return f"/operator/program/{schemas.programme_code(code or '')}#peserta"
    except NotFound:
        return "/operator/program"


def console_list(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request) -> Response:
    """Program (operator, admin): every programme by status, kind and month; an operator sees its
    OPD's participants per programme, an admin the seats of all."""
    visit, refused = _staff_visit(store, runtime, request, OPERATOR, ADMIN)
    if refused:
        return refused
    args = schemas.ConsoleListQuery().load(request.args.to_dict())
    filters = domain.console_filters(args.get("status"), args.get("jenis"), args.get("bulan"))
    programmes = domain.console_programmes(queries.console_programmes(clients, visit.identity, filters), filters)
    per_page, page_no = schemas.PER_PAGE, args["halaman"]
    pages_total = max(1, -(-len(programmes) // per_page))
    shown = programmes[(page_no - 1) * per_page: page_no * per_page]
    counts = (queries.agency_counts(clients, visit.identity, [p["code"] for p in shown])
              if visit.identity.role == OPERATOR else None)
    now = runtime.now()
    return visit.render("operator_program.html", programmes=shown, counts=counts, filters=filters,
                        total=len(programmes), page_no=page_no, pages_total=pages_total,
                        months=domain.month_options(now - timedelta(days=365), 24),
                        status_text=lambda p: domain.programme_status_text(p, now))


def _programme_form(visit: Visit, p: dict | None, values: dict, *, status: int = 200, errors: dict | None = None,
                    note: str | None = None) -> Response:
    return visit.render("operator_program_form.html", status=status, p=p, v=values, errors=errors or {},
                        note=note, hints=domain.PROGRAMME_HINTS, labels=domain.PROGRAMME_LABELS,
                        organiser_labels=reference.ORGANISER_LABELS)


def console_new(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request) -> Response:
    visit, refused = _staff_visit(store, runtime, request, ADMIN)
    if refused:
        return refused
    return _programme_form(visit, None, domain.programme_form_values(None))


def _submitted(visit: Visit, request) -> dict:
    _form(visit, request, schemas.ProgrammeForm)
    return domain.read_programme_form(request.form, request.form.getlist("penyelenggara"))


def console_create(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request) -> Response:
    """Create a draft programme; the API's refusals shown beside the fields they concern."""
    visit, refused = _staff_visit(store, runtime, request, ADMIN)
    values = _submitted(visit, request)
    if refused:
        return refused
    try:
        created = commands.create_programme(clients, visit.identity, domain.programme_body(values))
    except ServiceError as exc:
        if exc.status not in (400, 409, 422):
            raise
        return _programme_form(visit, None, values, status=422, errors=domain.programme_errors(exc.body))
    commands.flash(store.db, visit.session_id, f"Program {created['code']} disimpan sebagai draf. JP: "
                   f"{created.get('jp')}. Terbitkan bila sudah lengkap.", "ok")
    return visit.redirect(f"/operator/program/{created['code']}")


def console_edit(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request, code: str) -> Response:
    visit, refused = _staff_visit(store, runtime, request, ADMIN)
    if refused:
        return refused
    p = queries.console_programme(clients, visit.identity, schemas.programme_code(code))
    return _programme_form(visit, p, domain.programme_form_values(p))


def console_update(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request, code: str) -> Response:
    """Change a programme: only the fields the admin changed are sent (a PATCH)."""
    visit, refused = _staff_visit(store, runtime, request, ADMIN)
    values = _submitted(visit, request)
    if refused:
        return refused
    code = schemas.programme_code(code)
    p = queries.console_programme(clients, visit.identity, code)
    body = domain.programme_body(values, p)
    if not body:
        commands.flash(store.db, visit.session_id, "Tidak ada perubahan.", "info")
        return visit.redirect(f"/operator/program/{code}")
    try:
        commands.update_programme(clients, visit.identity, code, body)
    except ServiceError as exc:
        if exc.status not in (400, 409, 422):
            raise
        return _programme_form(visit, p, {**values, "kode": code}, status=422,
                               errors=domain.programme_errors(exc.body))
    commands.flash(store.db, visit.session_id, f"Perubahan program {code} disimpan.", "ok")
    return visit.redirect(f"/operator/program/{code}")


def console_publish(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request, code: str) -> Response:
    """Publish; what is missing is shown on the edit form beside its field."""
    visit, refused = _staff_visit(store, runtime, request, ADMIN)
    _form(visit, request)
    if refused:
        return refused
    code = schemas.programme_code(code)
    try:
        commands.publish_programme(clients, visit.identity, code)
    except ServiceError as exc:
        if exc.status not in (409, 422):
            raise
        p = queries.console_programme(clients, visit.identity, code)
        return _programme_form(visit, p, domain.programme_form_values(p), status=422,
                               errors=domain.programme_errors(exc.body),
                               note="Program belum dapat diterbitkan; perbaiki isian yang ditandai lalu simpan.")
    commands.flash(store.db, visit.session_id, f"Program {code} diterbitkan; ASN dapat mendaftar sesuai jadwal "
                   "pendaftaran.", "ok")
    return visit.redirect(f"/operator/program/{code}")


def console_cancel(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request, code: str) -> Response:
    """Cancel a programme with a reason (every enrolment is cancelled with it)."""
    visit, refused = _staff_visit(store, runtime, request, ADMIN)
    form = _form(visit, request, schemas.ReasonForm)
    if refused:
        return refused
    code = schemas.programme_code(code)
    reason = (form.get("alasan") or "").strip()
    try:
        commands.cancel_programme(clients, visit.identity, code, reason)
    except ServiceError as exc:
        if exc.status not in (409, 422):
            raise
        errors = domain.programme_errors(exc.body)
        return _console_page(visit, runtime, clients, code, {}, status=422,
                             errors={"alasan": errors.get("alasan") or next(iter(errors.values()), "")},
                             form={"alasan": reason})
    commands.flash(store.db, visit.session_id, f"Program {code} dibatalkan; semua pendaftarannya ikut dibatalkan.",
                   "ok")
    return visit.redirect(f"/operator/program/{code}")


def _console_page(visit: Visit, runtime: ServiceRuntime, clients: ServiceClient, code: str, args: dict, *,
                  status: int = 200, errors: dict | None = None, form: dict | None = None) -> Response:
    identity = visit.identity
    p = queries.console_programme(clients, identity, code)
    opd = (args.get("opd") or "").strip().upper() or None
    try:
        enrolments = queries.programme_enrolments(clients, identity, code, opd)
    except ServiceError as exc:
        return _console_refusal(visit, exc)
    seated, queue, cancelled = domain.participant_rows(enrolments)
    term = (args.get("cari") or "").strip()
    found, jp = [], {}
    if term:
        found = queries.roster_search(clients, identity, term)
        jp = queries.current_jp(clients, identity, [e["nip"] for e in found], _now_year(runtime))
    now = runtime.now()
    enrolled_nips = {e["nip"]: e for e in enrolments if e.get("status") != "cancelled"}
    return visit.render("operator_program_detail.html", status=status, p=p, seated=seated, queue=queue,
                        cancelled=cancelled, sessions=domain.session_days(p), term=term, found=found, jp=jp,
                        year=_now_year(runtime), enrolled_nips=enrolled_nips, opd=opd or "",
                        errors=errors or {}, form=form or {}, now=now,
                        status_text=domain.programme_status_text(p, now), seats=domain.seats_text(p),
                        can_promote=lambda e: domain.can_promote(e, p, now), mark=domain.attendance_mark,
                        enrolment_status=lambda e: calendar.status_text(e, p), results=domain.RESULT_LABELS,
                        nip_printed=domain.nip_printed, agencies=reference_agencies(),
                        active=domain.CANCELLABLE)


def console_programme(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request, code: str) -> Response:
    """The programme page: seats, participants with attendance per session and results, the
    waitlist in order, enrolling from the roster, cancelling and promoting."""
    visit, refused = _staff_visit(store, runtime, request, OPERATOR, ADMIN)
    if refused:
        return refused
    args = schemas.ConsoleProgrammeQuery().load(request.args.to_dict())
    return _console_page(visit, runtime, clients, schemas.programme_code(code), args)


def console_enrol(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request, code: str) -> Response:
    visit, refused = _staff_visit(store, runtime, request, OPERATOR, ADMIN)
    form = _form(visit, request, schemas.ConsoleEnrolForm)
    if refused:
        return refused
    code = schemas.programme_code(code)
    nip = "".join(form["nip"].split())
    try:
        enrolment, existed = commands.enrol_participant(clients, visit.identity, code, nip, form["peran"])
        commands.flash(store.db, visit.session_id, domain.enrolled_message(enrolment, existed), "ok")
    except ServiceError as exc:
        if exc.status >= 500:
            raise
        commands.flash(store.db, visit.session_id, domain.enrol_refusal(exc.status, exc.message), "error")
    return visit.redirect(f"/operator/program/{code}#peserta")


def console_cancel_enrolment(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request,
                             enrolment_id: str) -> Response:
    """Cancel someone's enrolment with a reason (an empty one: the page again, the error beside it)."""
    visit, refused = _staff_visit(store, runtime, request, OPERATOR, ADMIN)
    form = _form(visit, request, schemas.ReasonForm)
    if refused:
        return refused
    enrolment_id = schemas.enrolment_id(enrolment_id)
    reason = (form.get("alasan") or "").strip()
    problem = domain.enrolment_reason_error(reason)
    if problem:
        code = schemas.programme_code(form.get("kode") or "")
        return _console_page(visit, runtime, clients, code, {}, status=422, errors={enrolment_id: problem},
                             form={enrolment_id: reason})
    try:
        enrolment = commands.cancel_enrolment(clients, visit.identity, enrolment_id, reason)
    except ServiceError as exc:
        if exc.status in (401, 403, 404):
            return _console_refusal(visit, exc)
        if exc.status >= 500:
            raise
        commands.flash(store.db, visit.session_id, "Pendaftaran tidak dapat dibatalkan: pendaftaran yang sudah "
                       "selesai tidak dapat dibatalkan." if exc.status == 409 else
                       _refusal_text(exc, "Pembatalan tidak dapat diproses"), "error")
        return visit.redirect(_back_to(form.get("kode")))
    name = (enrolment.get("participant") or {}).get("name") or enrolment.get("nip")
    commands.flash(store.db, visit.session_id, f"Pendaftaran {name} dibatalkan. Alasan: {reason}", "ok")
    return visit.redirect(_back_to(enrolment.get("programme_code") or form.get("kode")))


def console_promote(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request,
                    enrolment_id: str) -> Response:
    """Naikkan dari daftar tunggu: a waitlisted ASN into a free seat, where enrollment allows it."""
    visit, refused = _staff_visit(store, runtime, request, OPERATOR, ADMIN)
    form = _form(visit, request, schemas.PromoteForm)
    if refused:
        return refused
    enrolment_id = schemas.enrolment_id(enrolment_id)
    try:
        enrolment = commands.promote(clients, visit.identity, enrolment_id)
    except ServiceError as exc:
        if exc.status in (401, 403, 404):
            return _console_refusal(visit, exc)
        if exc.status >= 500:
            raise
        commands.flash(store.db, visit.session_id, domain.promote_refusal(exc.status, exc.message), "error")
        return visit.redirect(_back_to(form.get("kode")))
    name = (enrolment.get("participant") or {}).get("name") or enrolment.get("nip")
    commands.flash(store.db, visit.session_id, f"{name} dinaikkan dari daftar tunggu dan kini terdaftar.", "ok")
    return visit.redirect(_back_to(enrolment.get("programme_code") or form.get("kode")))


def console_jp(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request) -> Response:
    """The live JP preview of the programme form (console-program.js): enrollment's GET /jp."""
    visit, refused = _staff_visit(store, runtime, request, OPERATOR, ADMIN)
    if refused:
        return refused
    import json

    args = schemas.JpPreviewQuery().load(request.args.to_dict())
    params, answer = domain.jp_preview_request(args)
    if answer is None:
        try:
            answer = domain.jp_preview_text(queries.jp_preview(clients, visit.identity, params))
        except ServiceError as exc:
            if exc.status >= 500 or exc.status in (401, 403):
                raise
            answer = domain.JP_PREVIEW_INVALID
    return visit.respond(Response(json.dumps(answer), mimetype="application/json",
                                  headers={"Cache-Control": "no-store"}))


# -- operator console: uploads and marking (issue 21) --
import json as _json  # noqa: E402 - this section's imports stay in it (three helpers share the file)
from collections.abc import Iterable, Iterator  # noqa: E402
from itertools import chain  # noqa: E402
from urllib.parse import unquote as _unquote  # noqa: E402

from services.portal.adapters import uploads as upload_files  # noqa: E402

UPLOAD_CSRF_HEADER = "X-CSRF-Token"  # the streamed upload's body is the file: its CSRF token comes as a header
UPLOAD_READ_TIMEOUT_S = 300.0        # longest pause between two lines of enrollment's answer
_STAFF_ONLY = "Halaman ini hanya untuk Operator OPD dan Admin BKPSDM."


class _UploadRefused(Exception):
    """An upload refused as a whole, before any row: the status and why (Bahasa Indonesia)."""

    def __init__(self, status: int, message: str, errors: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors or {}


def _upload_programmes(clients: ServiceClient, identity: Identity) -> list[dict]:
    """The programmes an upload may go to: published ones, the latest start first."""
    items = queries.console_programmes(clients, identity, {"status": "published"})
    return sorted(items, key=lambda p: p.get("starts_at") or "", reverse=True)


def _upload_page(visit: Visit, runtime: ServiceRuntime, clients: ServiceClient, form: dict, *, status: int = 200,
                 errors: dict | None = None, refusal: str | None = None) -> Response:
    limit = runtime.config.upload_max_bytes
    agencies = sorted(reference_agencies()) if visit.identity.role == ADMIN else [visit.identity.agency]
    return visit.render("operator_unggah.html", status=status, kinds=domain.UPLOAD_KINDS, modes=domain.ROSTER_MODES,
                        programmes=_upload_programmes(clients, visit.identity), form=form, errors=errors or {},
                        refusal=refusal, max_bytes=limit, max_text=domain.size_text(limit), agencies=agencies)


def upload_page(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request) -> Response:
    """Unggah: the form (kind, programme, file); static/console-upload.js sends the file and shows
    the results as they stream in."""
    visit, refused = _staff_visit(store, runtime, request, OPERATOR, ADMIN)
    if refused:
        return refused
    args = schemas.UploadQuery().load(request.args.to_dict())
    return _upload_page(visit, runtime, clients, args)


def _send_upload(clients: ServiceClient, identity: Identity, form: dict, upload: upload_files.Upload
                 ) -> Iterator[dict]:
    """Hand the spooled file to enrollment's bulk route; its lines as the page reads them. An
    upload refused as a whole raises _UploadRefused (nothing was written)."""
    kind = form["jenis"]
    try:
        if upload.size == 0:
            raise _UploadRefused(422, "Berkas kosong; pilih berkas CSV atau XLSX yang berisi baris judul kolom.",
                                 {"berkas": "Berkas kosong."})
        if upload.is_old_excel:
            raise _UploadRefused(422, "Berkas .xls (Excel 97-2003) tidak didukung: simpan sebagai .xlsx atau CSV "
                                      "UTF-8.", {"berkas": "Berkas .xls tidak didukung."})
        if upload.is_xlsx and not domain.UPLOAD_KINDS[kind].reads_xlsx:
            workbook = upload
            upload = upload_files.xlsx_as_csv(workbook)
            workbook.file.close()
        code = schemas.programme_code(form["program"]) if form.get("program") else None
        path, params = domain.upload_target(kind, code, form.get("mode"), form.get("kode_opd"),
                                            (form.get("konfirmasi") or "").lower() in ("ya", "on", "1"),
                                            identity.agency if identity.role == OPERATOR else None)
        lines = upload_files.post_bulk(clients, identity, path, params, upload, read_timeout_s=UPLOAD_READ_TIMEOUT_S)
    except upload_files.UnreadableFile as exc:
        upload.file.close()
        raise _UploadRefused(422, str(exc), {"berkas": str(exc)}) from None
    except ServiceError as exc:
        status = 503 if exc.status >= 500 or exc.status == 429 else exc.status
        raise _UploadRefused(status, domain.upload_refusal(exc.status, exc.message, exc.body)) from None
    except _UploadRefused:
        upload.file.close()
        raise
    if upload.rows is not None:  # the total for the progress bar, which the browser cannot count in a workbook
        lines = chain([{"total": upload.rows}], lines)
    return (domain.upload_line(line) for line in lines)


def _form_fields(form: dict) -> dict:
    return {k: (v.strip() if isinstance(v, str) else v) for k, v in form.items() if k not in ("csrf_token", "berkas")}


def upload_submit(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request) -> Response:
    """The upload form without JavaScript: the file goes the same way, and the answer is the
    summary page once every row is done (the rejected rows listed with their reasons)."""
    visit, refused = _staff_visit(store, runtime, request, OPERATOR, ADMIN)
    limit = runtime.config.upload_max_bytes
    if request.content_length and request.content_length > limit + 64 * 1024:  # the form's other fields too
        return _upload_too_large(visit, limit)
    form = _form(visit, request, schemas.UploadForm)
    if refused:
        return refused
    fields_ = _form_fields(form)
    errors = domain.upload_errors(fields_.get("jenis"), fields_.get("program"), fields_.get("mode"),
                                  fields_.get("kode_opd"))
    sent = request.files.get("berkas")
    if sent is None or not sent.filename:
        errors.setdefault("berkas", "Pilih berkas CSV atau XLSX.")
    if errors:
        return _upload_page(visit, runtime, clients, fields_, status=422, errors=errors)
    try:
        upload = upload_files.spool(sent.stream, limit, None, sent.mimetype, sent.filename)
    except upload_files.UploadTooLarge:
        return _upload_too_large(visit, limit)
    try:
        lines = _send_upload(clients, visit.identity, fields_, upload)
    except _UploadRefused as exc:
        if exc.status >= 500:
            raise ServiceError("enrollment", exc.status, "unavailable", exc.message) from None
        return _upload_page(visit, runtime, clients, fields_, status=exc.status, errors=exc.errors,
                            refusal=exc.message)
    tally = domain.UploadTally(rejected_rows=[])
    for line in lines:
        tally.add(line)
    return visit.render("operator_unggah_hasil.html", kind=domain.UPLOAD_KINDS[fields_["jenis"]], form=fields_,
                        tally=tally, filename=sent.filename)


def _upload_too_large(visit: Visit, limit: int) -> Response:
    response = visit.render("error.html", status=413, title="Berkas terlalu besar", code=413,
                            message=f"Berkas melebihi batas unggahan {domain.size_text(limit)}. Pecah berkasnya "
                                    f"lalu unggah bagian demi bagian.")
    response.headers["Connection"] = "close"  # the rest of the body is not read
    return response


def _json_answer(status: int, payload: dict) -> Response:
    headers = {"Cache-Control": "no-store"}
    if status == 413:
        headers["Connection"] = "close"
    return Response(_json.dumps(payload, ensure_ascii=False), status=status, mimetype="application/json",
                    headers=headers)


def _ndjson(lines: Iterable[dict]) -> Iterator[bytes]:
    for line in lines:
        yield (_json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8")


def upload_stream(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request) -> Response:
    """The upload sent by static/console-upload.js: the body is the file (CSRF token in the
    X-CSRF-Token header, the kind and programme in the query). The answer is enrollment's NDJSON,
    line by line as it comes (each row with ``kolom``/``alasan`` in Bahasa Indonesia when
    rejected, then the summary); a refusal of the whole upload is JSON {"error", "pesan"}."""
    visit = _visit(store, runtime, request, take_flash=False)
    if visit.identity is None:
        return _json_answer(401, {"error": "sign_in", "pesan": "Sesi Anda telah berakhir. Masuk kembali lalu "
                                                               "unggah berkasnya lagi."})
    if visit.session_id is None or not domain.csrf_ok(visit.csrf, request.headers.get(UPLOAD_CSRF_HEADER)):
        return _json_answer(403, {"error": "csrf", "pesan": "Permintaan ditolak: token keamanan tidak cocok. Muat "
                                                            "ulang halaman lalu coba lagi."})
    if visit.identity.role not in (OPERATOR, ADMIN):
        return _json_answer(403, {"error": "forbidden", "pesan": _STAFF_ONLY})
    form = _form_fields(schemas.UploadQuery().load(request.args.to_dict()))
    errors = domain.upload_errors(form.get("jenis"), form.get("program"), form.get("mode"), form.get("kode_opd"))
    if errors:
        return _json_answer(422, {"error": "invalid", "pesan": " ".join(errors.values()), "errors": errors})
    limit = runtime.config.upload_max_bytes
    try:
        upload = upload_files.spool(request.stream, limit, request.content_length, request.mimetype,
                                    _unquote(request.headers.get("X-File-Name") or ""))
    except upload_files.UploadTooLarge:
        return _json_answer(413, {"error": "too_large", "pesan": f"Berkas melebihi batas unggahan "
                                                                 f"{domain.size_text(limit)}. Pecah berkasnya lalu "
                                                                 f"unggah bagian demi bagian."})
    try:
        lines = _send_upload(clients, visit.identity, form, upload)
    except _UploadRefused as exc:
        return _json_answer(exc.status, {"error": "refused", "pesan": exc.message, "errors": exc.errors})
    # eventlet's server gathers 4 KiB before it writes; each line must leave as it comes
    request.environ["eventlet.minimum_write_chunk_size"] = 0
    return Response(_ndjson(lines), mimetype="application/x-ndjson",
                    headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


# marking (penilaian): a session's attendance and scores in one table, saved in one call
def _marking_participants(clients: ServiceClient, identity: Identity, code: str) -> list[dict]:
    """The people of the table: enrolled and completed (an operator: its OPD's, as enrollment scopes
    the list), in name order."""
    items = queries.programme_enrolments(clients, identity, code)
    people = [e for e in items if e.get("status") in domain.MARKED_STATUSES]
    return sorted(people, key=lambda e: (((e.get("participant") or {}).get("name") or "").lower(), e.get("nip")))


def _marking_page(visit: Visit, runtime: ServiceRuntime, clients: ServiceClient, code: str, asked: str | None, *,
                  status: int = 200, results: dict | None = None, summary: dict | None = None,
                  errors: dict | None = None, form: dict | None = None, refusal: str | None = None) -> Response:
    programme = queries.console_programme(clients, visit.identity, code)
    sessions = programme.get("sessions") or []
    session = domain.marking_session(sessions, asked, timefmt.wib_date(runtime.now()).isoformat())
    return visit.render("operator_penilaian.html", status=status, p=programme, sessions=sessions, session=session,
                        participants=_marking_participants(clients, visit.identity, code),
                        can_complete=domain.completions_allowed(programme, runtime.now()),
                        results=results or {}, summary=summary, errors=errors or {}, form=form or {},
                        refusal=refusal, result_labels=domain.RESULT_LABELS, result_text=domain.marking_result_text,
                        nip_printed=domain.nip_printed)


def marking_page(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request, code: str) -> Response:
    """Penilaian: every participant of the programme in one table for the chosen session."""
    visit, refused = _staff_visit(store, runtime, request, OPERATOR, ADMIN)
    if refused:
        return refused
    code = schemas.programme_code(code)
    args = schemas.MarkingQuery().load(request.args.to_dict())
    return _marking_page(visit, runtime, clients, code, args.get("sesi"))


def mark(store: Store, runtime: ServiceRuntime, clients: ServiceClient, request, code: str) -> Response:
    """Save the table: one enrollment call (POST /programmes/<code>/marking) per 2,000 rows; the page
    again with each row's answer beside it (a refused row's reason in Bahasa Indonesia)."""
    visit, refused = _staff_visit(store, runtime, request, OPERATOR, ADMIN)
    form = _form(visit, request, schemas.MarkingForm)
    if refused:
        return refused
    code = schemas.programme_code(code)
    session = (form.get("sesi") or "").strip() or None
    complete = (form.get("lengkap") or "").lower() == "ya"
    participants = _marking_participants(clients, visit.identity, code)
    rows, errors = domain.marking_rows(request.form, [e["id"] for e in participants], complete)
    posted = request.form.to_dict()
    if errors:
        return _marking_page(visit, runtime, clients, code, session, status=422, errors=errors, form=posted)
    if not rows:
        return _marking_page(visit, runtime, clients, code, session, status=422, form=posted,
                             refusal="Belum ada peserta yang dapat dinilai pada program ini.")
    results: dict[str, dict] = {}
    summary = {"accepted": 0, "rejected": 0, "completed": 0, "unchanged": 0}
    try:
        for start in range(0, len(rows), domain.MARKING_MAX_ROWS):
            body = {"rows": rows[start:start + domain.MARKING_MAX_ROWS], "complete": complete}
            if session:
                body["session"] = session
            answer = commands.mark(clients, visit.identity, code, body)
            results.update({r["enrolment_id"]: r for r in answer.get("results") or []})
            for key in summary:
                summary[key] += (answer.get("summary") or {}).get(key) or 0
    except ServiceError as exc:
        if exc.status >= 500 or exc.status == 404:
            raise
        status = exc.status if exc.status in (403, 409, 422) else 409
        return _marking_page(visit, runtime, clients, code, session, status=status, form=posted,
                             refusal=domain.marking_refusal(exc.status, exc.body.get("field"), exc.message))
    return _marking_page(visit, runtime, clients, code, session, results=results, summary=summary,
                         form={"lengkap": "ya"} if complete else {})
