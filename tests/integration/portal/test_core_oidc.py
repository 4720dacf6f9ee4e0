"""Signing in to the portal through a real OpenID provider (tools/oidc, the ``site`` fixture):
the code flow with PKCE ends signed in as the roster person of the NIP claim, the role claim
makes an operator or an admin, a replayed callback is refused, and sign-out ends the
provider's session too."""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import requests

from tests.portal_support import sign_in_with_requests

TIMEOUT = 30


def oidc_sign_in(site, login: str, start: str = "/") -> tuple[requests.Session, requests.Response]:
    browser = requests.Session()
    callback = sign_in_with_requests(browser, f"{site.url}/masuk/oidc?lanjut={start}", login,
                                     callback_prefix=f"{site.url}/masuk/callback")
    query = parse_qs(urlsplit(callback).query)
    assert "code" in query and "state" in query and "access_token" not in callback
    landed = browser.get(callback, timeout=TIMEOUT)
    return browser, landed


def test_the_authorization_request_uses_pkce_s256_and_a_nonce(site):
    browser = requests.Session()
    answer = browser.get(f"{site.url}/masuk/oidc", allow_redirects=False, timeout=TIMEOUT)
    assert answer.status_code == 303
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) >= 43
    assert query["nonce"] and query["state"] and query["response_type"] == ["code"]
    assert query["redirect_uri"] == [f"{site.url}/masuk/callback"]
    assert "code_verifier" not in answer.headers["Location"]


def test_an_asn_signs_in_through_the_provider_and_lands_on_the_page_asked_for(site):
    browser, landed = oidc_sign_in(site, site.asn.sub, "/riwayat")
    assert landed.status_code == 200 and landed.url == f"{site.url}/riwayat"
    assert f'id="user-name">{site.asn.name}<' in landed.text and 'id="year-total">32<' in landed.text


def test_a_replayed_callback_is_refused(site):
    browser = requests.Session()
    callback = sign_in_with_requests(browser, f"{site.url}/masuk/oidc", site.asn.sub,
                                     callback_prefix=f"{site.url}/masuk/callback")
    assert browser.get(callback, allow_redirects=False, timeout=TIMEOUT).status_code == 303
    again = requests.get(callback, allow_redirects=False, timeout=TIMEOUT,
                         cookies={"asn_portal_session": browser.cookies.get("asn_portal_session")})
    assert again.status_code == 400 and "Tidak dapat masuk" in again.text


def test_role_claims_make_an_operator_and_an_admin(site):
    _, operator = oidc_sign_in(site, site.people["operator"].sub)
    assert 'data-role="operator"' in operator.text and 'id="nav-operator-plt"' in operator.text
    _, admin = oidc_sign_in(site, site.people["admin"].sub)
    assert 'data-role="admin"' in admin.text and 'id="nav-admin-log-akses"' in admin.text


def test_sign_out_also_ends_the_providers_session(site):
    browser, landed = oidc_sign_in(site, site.asn.sub)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', landed.text).group(1)
    answer = browser.post(f"{site.url}/keluar", data={"csrf_token": csrf}, allow_redirects=False, timeout=TIMEOUT)
    assert answer.status_code == 303 and answer.headers["Location"].startswith(site.issuer)
    # the provider is told which client signs out, never given a token in a URL
    assert "client_id=" in answer.headers["Location"] and "id_token_hint" not in answer.headers["Location"]
    assert browser.get(f"{site.url}/", allow_redirects=False, timeout=TIMEOUT).status_code == 303
