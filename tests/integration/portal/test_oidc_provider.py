"""The OpenID provider the portal's tests sign in through (tools/oidc/provider.mjs), and the browser helpers:
discovery, the authorization code flow with PKCE driven by plain requests (ID token checked against the JWKS),
its refusals, the same sign-in in headless Chromium, and axe-core injected into a page with a strict CSP."""
from __future__ import annotations

import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from deploy.processes import free_port
from tests.portal_support import (
    ProviderError, authorize_url, axe_check, chromium, describe_violations, oidc_provider, pkce_pair,
    sign_in_with_requests, viewport_width,
)

CLIENT_ID, CLIENT_SECRET = "asn-portal", secrets.token_urlsafe(32)
# Nothing listens here: the flow stops at the redirect to the client.
REDIRECT_URI = f"http://127.0.0.1:{free_port()}/masuk/callback"
AFTER_LOGOUT = REDIRECT_URI.replace("/masuk/callback", "/")
ASN = {"sub": "199001012020011001", "name": "Budi Santoso", "nip": "199001012020011001", "roles": [],
       "kode_opd": "DISKOMINFO"}
OPERATOR = {"sub": "op-diskominfo", "name": "Sari Operator", "nip": "198805052015032002",
            "roles": ["bangkom-operator"], "kode_opd": "DISKOMINFO"}


@pytest.fixture(scope="module")
def issuer():
    clients = [{"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": [REDIRECT_URI],
                "post_logout_redirect_uris": [AFTER_LOGOUT]}]
    with oidc_provider([ASN, OPERATOR], clients) as url:
        yield url


def start(issuer: str, *, challenge: str | None, nonce: str = "n-1", state: str = "s-1") -> str:
    return authorize_url(issuer, CLIENT_ID, REDIRECT_URI, state=state, nonce=nonce, code_challenge=challenge)


def callback_params(url: str) -> dict[str, str]:
    assert url.startswith(REDIRECT_URI), url
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def exchange(issuer: str, code: str, verifier: str | None) -> requests.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    if verifier is not None:
        data["code_verifier"] = verifier
    return requests.post(f"{issuer}/token", data=data, auth=(CLIENT_ID, CLIENT_SECRET), timeout=10)


def test_the_discovery_document_offers_the_code_flow_with_s256_and_the_portal_claims(issuer):
    doc = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()
    assert doc["issuer"] == issuer
    assert doc["response_types_supported"] == ["code"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert {"nip", "roles", "kode_opd", "name"} <= set(doc["claims_supported"])
    assert "profile" in doc["scopes_supported"]
    keys = requests.get(doc["jwks_uri"], timeout=10).json()["keys"]
    assert [k["alg"] for k in keys] == ["RS256"] and all("d" not in k for k in keys)  # public halves only


def test_a_code_flow_with_pkce_gives_an_id_token_with_nip_roles_and_agency(issuer):
    verifier, challenge = pkce_pair()
    with requests.Session() as browser:
        url = sign_in_with_requests(browser, start(issuer, challenge=challenge, nonce="nonce-42", state="st-7"),
                                    OPERATOR["sub"], callback_prefix=REDIRECT_URI)
    params = callback_params(url)
    assert params["state"] == "st-7" and params["iss"] == issuer

    answer = exchange(issuer, params["code"], verifier)
    assert answer.status_code == 200, answer.text
    tokens = answer.json()
    assert tokens["token_type"].lower() == "bearer"
    signing_key = jwt.PyJWKClient(f"{issuer}/jwks").get_signing_key_from_jwt(tokens["id_token"])
    claims = jwt.decode(tokens["id_token"], signing_key.key, algorithms=["RS256"], audience=CLIENT_ID, issuer=issuer)
    assert claims["sub"] == OPERATOR["sub"] and claims["nonce"] == "nonce-42"
    assert (claims["nip"], claims["roles"], claims["kode_opd"], claims["name"]) == \
        (OPERATOR["nip"], ["bangkom-operator"], "DISKOMINFO", "Sari Operator")
    # the same claims from the userinfo endpoint
    me = requests.get(f"{issuer}/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}, timeout=10)
    assert me.json()["nip"] == OPERATOR["nip"]


def test_the_code_is_single_use_and_bound_to_the_verifier(issuer):
    verifier, challenge = pkce_pair()
    with requests.Session() as browser:
        code = callback_params(sign_in_with_requests(browser, start(issuer, challenge=challenge), ASN["sub"],
                                                     callback_prefix=REDIRECT_URI))["code"]
    wrong = exchange(issuer, code, pkce_pair()[0])
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    assert exchange(issuer, code, None).json()["error"] == "invalid_grant"
    assert exchange(issuer, code, verifier).status_code == 200
    replay = exchange(issuer, code, verifier)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"


def test_pkce_is_required(issuer):
    with requests.Session() as browser:
        answer = browser.get(start(issuer, challenge=None), allow_redirects=False, timeout=10)
    params = callback_params(answer.headers["location"])
    assert params["error"] == "invalid_request" and "PKCE" in params["error_description"]


def test_an_unknown_account_is_refused_on_the_form(issuer):
    with requests.Session() as browser, pytest.raises(ProviderError, match="refused the sign-in"):
        sign_in_with_requests(browser, start(issuer, challenge=pkce_pair()[1]), "nobody", callback_prefix=REDIRECT_URI)


def test_every_authorization_asks_who_signs_in_so_one_browser_can_be_two_people(issuer):
    with requests.Session() as browser:
        first = sign_in_with_requests(browser, start(issuer, challenge=pkce_pair()[1]), ASN["sub"],
                                      callback_prefix=REDIRECT_URI)
        verifier, challenge = pkce_pair()
        second = sign_in_with_requests(browser, start(issuer, challenge=challenge), OPERATOR["sub"],
                                       callback_prefix=REDIRECT_URI)
    assert callback_params(first)["code"] != callback_params(second)["code"]
    tokens = exchange(issuer, callback_params(second)["code"], verifier).json()
    assert jwt.decode(tokens["id_token"], options={"verify_signature": False})["sub"] == OPERATOR["sub"]


def test_a_client_signs_the_person_out_at_the_provider_after_a_confirmation(issuer):
    verifier, challenge = pkce_pair()
    with requests.Session() as browser:
        code = callback_params(sign_in_with_requests(browser, start(issuer, challenge=challenge), ASN["sub"],
                                                     callback_prefix=REDIRECT_URI))["code"]
        id_token = exchange(issuer, code, verifier).json()["id_token"]
        confirm = browser.get(f"{issuer}/session/end", params={"id_token_hint": id_token, "client_id": CLIENT_ID,
                                                               "post_logout_redirect_uri": AFTER_LOGOUT}, timeout=10)
        assert 'id="keluar-sso"' in confirm.text
        form = confirm.text.split('action="', 1)[1].split('"', 1)[0]
        xsrf = confirm.text.split('name="xsrf" value="', 1)[1].split('"', 1)[0]
        done = browser.post(form, data={"xsrf": xsrf, "logout": "yes"}, allow_redirects=False, timeout=10)
    assert done.status_code in (302, 303) and done.headers["location"] == AFTER_LOGOUT


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_headless_chromium_signs_in_through_the_form_which_passes_axe(issuer, size):
    with chromium(size) as driver:
        driver.get(start(issuer, challenge=pkce_pair()[1], state=f"browser-{size}"))
        WebDriverWait(driver, 15).until(expected_conditions.presence_of_element_located((By.ID, "login")))
        assert viewport_width(driver) == (1280 if size == "desktop" else 360)
        violations = axe_check(driver)
        assert violations == [], describe_violations(violations)
        driver.find_element(By.ID, "login").send_keys(ASN["sub"])
        driver.find_element(By.ID, "masuk").click()
        WebDriverWait(driver, 15).until(expected_conditions.url_contains("code="))
        assert callback_params(driver.current_url)["state"] == f"browser-{size}"


class _StrictPage(BaseHTTPRequestHandler):
    """A page under a CSP allowing no script at all, with two accessibility faults axe must find."""

    def do_GET(self):  # noqa: N802 (http.server's hook)
        body = (b"<!doctype html><html><head><title>t</title></head><body><main>"
                b"<img src='/missing.png'><p style='color:#777;background:#888'>hampir tak terbaca</p>"
                b"<script>document.title = 'inline ran'</script></main></body></html>")
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'unsafe-inline'")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_axe_runs_under_a_strict_csp_and_reports_serious_violations():
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _StrictPage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with chromium("desktop") as driver:
            driver.get(f"http://127.0.0.1:{server.server_address[1]}/")
            assert driver.title == "t"  # the page's own inline script was blocked by its CSP
            found = {v["id"]: v["impact"] for v in axe_check(driver)}
    finally:
        server.shutdown()
        server.server_close()
    assert found == {"html-has-lang": "serious", "image-alt": "critical", "color-contrast": "serious"}
