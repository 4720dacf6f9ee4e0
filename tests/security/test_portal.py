"""The portal's doors, against the real site (tests/integration/portal/conftest.py: the four services, the
portal with the development sign-in OFF, a real OpenID provider): every route refused to an anonymous
visitor, every form refused without its CSRF token, the session cookie's flags, the Content-Security-Policy
on every page, a forged state or a replayed code on the sign-in callback, the development sign-in refused,
an oversize body refused."""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
import requests
from werkzeug.wrappers import Response

import services
from services.portal.config import OidcConfig, PortalConfig
from services.portal.usecases import Visit
from shared.service_base import http_routes
from tests.integration.portal.conftest import site  # noqa: F401 - the module's whole site
from tests.portal_support import sign_in_with_requests

TIMEOUT = 30
# Every route of the portal with a sample path; a new route must be added here (and so be tried).
ANYONE = "anyone"
ROUTES = {
    ("GET", "/"): "/",
    ("GET", "/<path:rest>"): "/tidak-ada",
    ("GET", "/admin/log-akses"): "/admin/log-akses",
    ("GET", "/kalender"): "/kalender",
    ("POST", "/kalender"): "/kalender",
    ("GET", "/kalender/<string:secret>.ics"): ANYONE,  # the secret is the key: tested below
    ("POST", "/kalender/cabut"): "/kalender/cabut",
    ("GET", "/katalog"): "/katalog",
    ("GET", "/katalog/<string:code>"): "/katalog/{upcoming}",
    ("POST", "/katalog/<string:code>/daftar"): "/katalog/{upcoming}/daftar",
    ("POST", "/keluar"): "/keluar",
    ("GET", "/kotak-masuk"): "/kotak-masuk",
    ("POST", "/kotak-masuk/<string:message_id>/dibaca"): "/kotak-masuk/6b1700000000000000000000/dibaca",
    ("GET", "/masuk"): ANYONE,
    ("GET", "/masuk/callback"): ANYONE,  # tested below
    ("POST", "/masuk/dev"): ANYONE,  # refused below (development sign-in off)
    ("GET", "/masuk/oidc"): ANYONE,
    ("GET", "/operator/plt"): "/operator/plt",
    ("POST", "/operator/plt"): "/operator/plt",
    ("POST", "/operator/plt/akhiri"): "/operator/plt/akhiri",
    ("GET", "/pendaftaran/<string:enrolment_id>.ics"): "/pendaftaran/{enrolment}.ics",
    ("POST", "/pendaftaran/<string:enrolment_id>/batal"): "/pendaftaran/{enrolment}/batal",
    ("GET", "/persetujuan"): "/persetujuan",
    ("POST", "/persetujuan/<string:enrolment_id>/keputusan"): "/persetujuan/{enrolment}/keputusan",
    ("GET", "/persetujuan/<string:token>"): "/persetujuan/bukan-token.abc",
    ("POST", "/persetujuan/<string:token>"): "/persetujuan/bukan-token.abc",
    ("GET", "/riwayat"): "/riwayat",
    ("GET", "/sertifikat"): "/sertifikat",
    ("GET", "/sertifikat/<string:certificate_id>.pdf"): "/sertifikat/{certificate}.pdf",
    ("GET", "/sertifikat/<string:certificate_id>/kredensial.json"): "/sertifikat/{certificate}/kredensial.json",
    ("GET", "/static/<string:name>"): ANYONE,
    ("GET", "/tim"): "/tim",
    # operator console: oversight (issue 21)
    ("GET", "/operator/dasbor"): "/operator/dasbor",
    ("GET", "/operator/belum-ikut"): "/operator/belum-ikut",
    ("GET", "/operator/ekspor/<string:name>"): "/operator/ekspor/kepatuhan.csv",
    ("GET", "/admin/checkpoint"): "/admin/checkpoint",
    ("POST", "/admin/checkpoint"): "/admin/checkpoint",
    ("GET", "/admin/checkpoint/status"): "/admin/checkpoint/status?checkpoint=2026-Q1",
    ("GET", "/operator/program/<string:code>/sertifikat"): "/operator/program/{upcoming}/sertifikat",
    ("POST", "/operator/program/<string:code>/sertifikat/<string:certificate_id>/cabut"):
        "/operator/program/{upcoming}/sertifikat/{certificate}/cabut",
    # operator console: programmes (issue 21)
    ("GET", "/operator/program"): "/operator/program",
    ("GET", "/operator/program/baru"): "/operator/program/baru",
    ("POST", "/operator/program/baru"): "/operator/program/baru",
    ("GET", "/operator/program/jp"): "/operator/program/jp?jenis=seminar&durasi_hari=1",
    ("GET", "/operator/program/<string:code>"): "/operator/program/{upcoming}",
    ("GET", "/operator/program/<string:code>/ubah"): "/operator/program/{upcoming}/ubah",
    ("POST", "/operator/program/<string:code>/ubah"): "/operator/program/{upcoming}/ubah",
    ("POST", "/operator/program/<string:code>/terbitkan"): "/operator/program/{upcoming}/terbitkan",
    ("POST", "/operator/program/<string:code>/batal"): "/operator/program/{upcoming}/batal",
    ("POST", "/operator/program/<string:code>/daftar"): "/operator/program/{upcoming}/daftar",
    ("POST", "/operator/pendaftaran/<string:enrolment_id>/batal"): "/operator/pendaftaran/{enrolment}/batal",
    ("POST", "/operator/pendaftaran/<string:enrolment_id>/naikkan"): "/operator/pendaftaran/{enrolment}/naikkan",
    # operator console: uploads and marking (issue 21)
    ("GET", "/operator/unggah"): "/operator/unggah",
    ("POST", "/operator/unggah"): "/operator/unggah",
    ("POST", "/operator/unggah/kirim"): "/operator/unggah/kirim",
    ("GET", "/operator/program/<string:code>/penilaian"): "/operator/program/{upcoming}/penilaian",
    ("POST", "/operator/program/<string:code>/penilaian"): "/operator/program/{upcoming}/penilaian",
    ("GET", "/health/live"): ANYONE, ("GET", "/health/ready"): ANYONE, ("GET", "/metrics"): ANYONE,
    ("GET", "/openapi.json"): ANYONE,
}
# The contract's pages (notes/portal-contract.md) that must exist.
CONTRACT = {"/", "/masuk", "/masuk/callback", "/keluar", "/katalog", "/katalog/<string:code>",
            "/katalog/<string:code>/daftar", "/pendaftaran/<string:enrolment_id>/batal", "/riwayat", "/sertifikat",
            "/sertifikat/<string:certificate_id>.pdf", "/kotak-masuk", "/kotak-masuk/<string:message_id>/dibaca",
            "/pendaftaran/<string:enrolment_id>.ics", "/kalender", "/kalender/<string:secret>.ics", "/persetujuan",
            "/persetujuan/<string:token>", "/tim", "/admin/log-akses", "/operator/plt"}


def portal_routes() -> set[tuple[str, str]]:
    return {(r.method, r.url) for r in http_routes(services.service_class("portal"))}


def sample(site, path: str) -> str:  # noqa: F811
    return path.format(upcoming=site.programmes["upcoming"]["code"], enrolment=site.completed["asn"]["id"],
                       certificate=site.certificates["asn"]["id"])


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_the_route_table_is_complete_and_has_the_contracts_pages():
    routes = portal_routes()
    assert routes == set(ROUTES), f"untested: {routes - set(ROUTES)}; gone: {set(ROUTES) - routes}"
    assert CONTRACT <= {url for _, url in routes}


def test_every_route_but_the_public_ones_sends_an_anonymous_visitor_to_sign_in(site):  # noqa: F811
    refused = {}
    for (method, rule), path in ROUTES.items():
        if path == ANYONE:
            continue
        url = site.url + sample(site, path)
        answer = requests.request(method, url, allow_redirects=False, timeout=TIMEOUT,
                                  data={"csrf_token": "x"} if method == "POST" else None)
        location = answer.headers.get("Location", "")
        if rule == "/<path:rest>":  # an unknown address: a 404 page, or sign in first
            ok = answer.status_code == 404 or (answer.status_code == 303 and location.startswith("/masuk"))
        else:
            ok = (answer.status_code == 303 and location.startswith("/masuk")) or answer.status_code in (401, 403)
        if not ok:
            refused[f"{method} {path}"] = (answer.status_code, location)
        assert "Set-Cookie" not in answer.headers or "asn_portal_session" not in answer.headers["Set-Cookie"] \
            or method == "GET"
    assert refused == {}
    # a page sends the visitor back where they were going after signing in
    answer = requests.get(site.url + "/riwayat?tahun=2026", allow_redirects=False, timeout=TIMEOUT)
    assert answer.headers["Location"].startswith("/masuk?lanjut=/riwayat")
    # the public ones
    for path in ("/masuk", "/health/live", "/static/portal.css"):
        assert requests.get(site.url + path, timeout=TIMEOUT).status_code == 200, path
    assert requests.get(f"{site.url}/kalender/{'a' * 43}.ics", timeout=TIMEOUT).status_code == 404


def test_every_form_without_its_csrf_token_is_refused(site):  # noqa: F811
    http = site.session_of("asn")
    token = csrf_of(http.get(site.url + "/katalog", timeout=TIMEOUT).text)
    upcoming = site.programmes["upcoming"]["code"]
    for (method, rule), path in ROUTES.items():
        if method != "POST" or path == ANYONE:
            continue
        url = site.url + sample(site, path)
        for data in ({}, {"csrf_token": "x" + token[1:]}):
            answer = http.post(url, data=data, allow_redirects=False, timeout=TIMEOUT)
            assert answer.status_code == 403, (path, data, answer.status_code, answer.text[:300])
            assert "Permintaan ditolak" in answer.text
    # nothing happened: not enrolled, still signed in
    page = http.get(f"{site.url}/katalog/{upcoming}", timeout=TIMEOUT)
    assert page.status_code == 200 and 'id="enrol-button"' in page.text and 'id="my-enrolment"' not in page.text
    # another session's token is no good either
    other = site.session_of("asn2")
    theirs = csrf_of(other.get(site.url + "/katalog", timeout=TIMEOUT).text)
    assert http.post(f"{site.url}/katalog/{upcoming}/daftar", data={"csrf_token": theirs}, allow_redirects=False,
                     timeout=TIMEOUT).status_code == 403


def test_the_session_cookie_is_httponly_samesite_lax_and_never_in_a_url(site):  # noqa: F811
    http = requests.Session()
    first = http.get(f"{site.url}/masuk/oidc?lanjut=/", allow_redirects=False, timeout=TIMEOUT)
    provider = first.headers["Location"]
    assert "asn_portal_session" not in provider
    callback = sign_in_with_requests(http, provider, site.asn.sub, callback_prefix=f"{site.url}/masuk/callback")
    landed = http.get(callback, allow_redirects=False, timeout=TIMEOUT)
    cookie = next(c for c in landed.raw.headers.getlist("Set-Cookie") if c.startswith("asn_portal_session="))
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert "httponly" in flags and "samesite=lax" in flags and "path=/" in flags
    assert "secure" not in flags  # plain http in the tests; https below
    value = cookie.split(";")[0].split("=", 1)[1]
    assert len(value) >= 40 and value not in landed.headers["Location"]
    page = http.get(site.url + "/", timeout=TIMEOUT).text
    assert value not in page and "Bearer" not in page and "eyJ" not in page  # no session id or token in a page


@pytest.mark.parametrize("public_url, secure", [("https://portal.bukittinggi.example", True),
                                                ("http://127.0.0.1:8005", False)])
def test_the_session_cookie_is_secure_when_the_portal_is_served_over_https(public_url, secure):
    config = PortalConfig(public_url=public_url, oidc=OidcConfig(issuer=None), dev_signin=False, session_hours=8,
                          service_urls={}, auth=None)
    response = Visit(config=config, cookie="c" * 43).respond(Response(""))
    cookie = response.headers["Set-Cookie"].lower()
    assert ("; secure" in cookie) is secure and "httponly" in cookie and "samesite=lax" in cookie


def test_every_page_carries_the_content_security_policy(site):  # noqa: F811
    http = site.session_of("asn")
    paths = ["/", "/katalog", f"/katalog/{site.programmes['upcoming']['code']}", "/riwayat", "/sertifikat",
             "/kotak-masuk", "/kalender", "/tidak-ada"]
    anonymous = ["/masuk", "/masuk?keluar=1", "/tidak-ada", "/masuk/callback?code=x&state=y"]
    answers = [(p, http.get(site.url + p, timeout=TIMEOUT)) for p in paths]
    answers += [(p, requests.get(site.url + p, timeout=TIMEOUT)) for p in anonymous]
    for path, answer in answers:
        csp = answer.headers.get("Content-Security-Policy", "")
        directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
        assert directives.get("default-src") == ["'self'"], (path, csp)
        assert directives.get("frame-ancestors") == ["'none'"], (path, csp)
        assert "'unsafe-inline'" not in directives.get("script-src", directives["default-src"]), (path, csp)
        assert answer.headers.get("X-Content-Type-Options") == "nosniff", path
        # and no inline script in the page itself
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", answer.text), path
        assert not re.search(r"<[^>]+\son[a-z]+=", answer.text), path  # nor an inline event handler


def _refused_callback(http: requests.Session, url: str) -> requests.Response:
    answer = http.get(url, allow_redirects=False, timeout=TIMEOUT)
    assert answer.status_code in (400, 403, 409, 422) or (
        answer.status_code == 303 and answer.headers["Location"].startswith("/masuk")), (answer.status_code, url)
    return answer


def _signed_in(http: requests.Session, site) -> bool:  # noqa: F811
    return http.get(site.url + "/riwayat", allow_redirects=False, timeout=TIMEOUT).status_code == 200


def _with_query(url: str, **changes) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_a_forged_state_or_a_replayed_code_on_the_callback_signs_nobody_in(site):  # noqa: F811
    prefix = f"{site.url}/masuk/callback"
    # a forged state: the provider's genuine code, but not the state this browser was given
    http = requests.Session()
    callback = sign_in_with_requests(http, f"{site.url}/masuk/oidc", site.asn.sub, callback_prefix=prefix)
    _refused_callback(http, _with_query(callback, state="forged-" + "x" * 30))
    assert not _signed_in(http, site)
    # the genuine callback after the refusal: the pending sign-in was spent by the forged attempt, or it works
    # once; either way a second use of the same code never signs in
    http2 = requests.Session()
    callback = sign_in_with_requests(http2, f"{site.url}/masuk/oidc", site.asn.sub, callback_prefix=prefix)
    assert http2.get(callback, allow_redirects=False, timeout=TIMEOUT).status_code == 303
    assert _signed_in(http2, site)
    # the same callback URL replayed in another browser (a stolen code and state) ...
    thief = requests.Session()
    thief.get(f"{site.url}/masuk/oidc", allow_redirects=False, timeout=TIMEOUT)  # a pre-login session of its own
    _refused_callback(thief, callback)
    assert not _signed_in(thief, site)
    # ... or without any session
    _refused_callback(requests.Session(), callback)
    # a callback with no state or an error from the provider
    _refused_callback(requests.Session(), f"{prefix}?code=abc")
    _refused_callback(requests.Session(), f"{prefix}?error=access_denied&state=x")


def test_the_development_sign_in_is_refused_when_it_is_off(site):  # noqa: F811
    http = requests.Session()
    page = http.get(site.url + "/masuk", timeout=TIMEOUT)
    assert page.status_code == 200 and 'id="dev-sign-in"' not in page.text and 'id="sso-sign-in"' in page.text
    token = (re.search(r'name="csrf_token" value="([^"]+)"', page.text) or [None, "x"])[1]
    for who in ("admin", f"asn:{site.asn.nip}", "operator:DISKOMINFO"):
        answer = http.post(site.url + "/masuk/dev", data={"csrf_token": token, "sebagai": who, "lanjut": "/"},
                           allow_redirects=False, timeout=TIMEOUT)
        assert answer.status_code in (403, 404), (who, answer.status_code)
        assert not _signed_in(http, site)


def test_an_oversize_body_is_refused(site):  # noqa: F811
    http = site.session_of("asn")
    token = csrf_of(http.get(site.url + "/kotak-masuk", timeout=TIMEOUT).text)
    answer = http.post(f"{site.url}/kotak-masuk/6b1700000000000000000000/dibaca",
                       data={"csrf_token": token, "isi": "x" * (200 * 1024)}, allow_redirects=False, timeout=TIMEOUT)
    assert answer.status_code == 413 and "terlalu besar" in answer.text
