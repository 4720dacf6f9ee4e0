"""What the portal's tests share: a real OpenID provider, a real browser, an accessibility check.

- ``oidc_provider(accounts, clients)``: tools/oidc/provider.mjs (the npm package ``oidc-provider``) on a free
  port; yields its issuer URL. Its sign-in page is a form (``#login`` = the account's ``sub``, button ``#masuk``).
- ``sign_in_with_requests(session, start_url, login)``: drives that form with plain ``requests`` from a client's
  sign-in URL to the client's callback, and returns the callback URL (not followed).
- ``pkce_pair()`` / ``authorize_url(...)``: what a client sends, for tests that play the client themselves.
- ``chromium(size)``: Debian's headless Chromium through selenium at "desktop" (1280x900) or "phone" (360x800,
  mobile emulation).
- ``axe_check(driver)``: axe-core (tools/oidc/node_modules, never a CDN) run on the page; returns the serious and
  critical violations. It is injected through WebDriver, which a page's Content-Security-Policy does not govern.
- ``screenshot(driver, page, size)``: docs/screenshots/portal-<page>-<size>.png (shown in the README).
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from urllib.parse import urlencode, urljoin

import requests

from deploy.processes import free_port, spawn, stop, tail, wait_until

ROOT = Path(__file__).resolve().parent.parent
OIDC_TOOLS = ROOT / "tools" / "oidc"
PROVIDER = OIDC_TOOLS / "provider.mjs"
AXE = OIDC_TOOLS / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "docs" / "screenshots"
SIZES = {"desktop": (1280, 900), "phone": (360, 800)}
BROWSER_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage")
# An Android phone's user agent, so the portal sees what a 360 px phone would send.
PHONE_USER_AGENT = ("Mozilla/5.0 (Linux; Android 13; SM-A145F) AppleWebKit/537.36 (KHTML, like Gecko) "
                    "Chrome/120.0.0.0 Mobile Safari/537.36")
SERIOUS = ("serious", "critical")


class ProviderError(RuntimeError):
    pass


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        raise ProviderError("the OpenID provider needs Node.js (`node` not found on PATH)")
    if not (OIDC_TOOLS / "node_modules" / "oidc-provider").is_dir():
        raise ProviderError("tools/oidc is not installed: run `make deps` (npm ci --prefix tools/oidc)")
    return node


@contextmanager
def oidc_provider(accounts: list[dict], clients: list[dict], port: int | None = None,
                  log_dir: str | Path | None = None, timeout: float = 20.0) -> Iterator[str]:
    """Run the test OpenID provider with these accounts ([{"sub", "name", "nip", "roles", "kode_opd"}]) and
    clients ([{"client_id", "client_secret", "redirect_uris"}, ...]); yields the issuer URL."""
    node = _node()
    port = port or free_port()
    issuer = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="oidc-") as scratch:
        accounts_file = Path(scratch) / "accounts.json"
        accounts_file.write_text(json.dumps(accounts))
        log_path = Path(log_dir or scratch) / "oidc-provider.log"
        env = {**os.environ, "OIDC_PORT": str(port), "OIDC_ISSUER": issuer,
               "OIDC_CLIENTS": json.dumps(clients), "OIDC_ACCOUNTS": str(accounts_file)}
        proc = spawn([node, str(PROVIDER)], log_path=log_path, env=env, cwd=OIDC_TOOLS)
        try:
            if not wait_until(lambda: f"listening {issuer}" in tail(log_path), timeout, alive=proc):
                raise ProviderError(f"the OpenID provider did not start:\n{tail(log_path)}")
            yield issuer
        finally:
            stop(proc, timeout=5)


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_url(issuer: str, client_id: str, redirect_uri: str, *, state: str, nonce: str,
                  code_challenge: str | None, scope: str = "openid profile") -> str:
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": scope,
              "state": state, "nonce": nonce}
    if code_challenge is not None:
        params.update(code_challenge=code_challenge, code_challenge_method="S256")
    return f"{issuer}/auth?{urlencode(params)}"


def sign_in_with_requests(session: requests.Session, start_url: str, login: str,
                          callback_prefix: str | None = None, max_hops: int = 12) -> str:
    """Follow redirects from ``start_url`` (a client's sign-in route or an authorize URL), fill in the
    provider's sign-in form with ``login`` and follow on until the redirect to the client's callback
    (a URL starting with ``callback_prefix``, or any URL with ``code=``/``error=`` in the query); returns it."""
    url, method, data = start_url, "GET", None
    for _ in range(max_hops):
        response = session.request(method, url, data=data, allow_redirects=False, timeout=15)
        if response.is_redirect:
            url, method, data = urljoin(url, response.headers["location"]), "GET", None
            if _is_callback(url, callback_prefix):
                return url
            continue
        if response.status_code == 200 and 'id="login-form"' in response.text:
            if data is not None:  # we already posted: the provider refused the account
                raise ProviderError(f"the provider refused the sign-in of {login!r}: {response.text[:300]}")
            action = response.text.split('id="login-form" method="post" action="', 1)[1].split('"', 1)[0]
            url, method, data = urljoin(url, action), "POST", {"login": login}
            continue
        raise ProviderError(f"unexpected answer {response.status_code} at {url}: {response.text[:300]}")
    raise ProviderError(f"no callback after {max_hops} redirects (last {url})")


def _is_callback(url: str, prefix: str | None) -> bool:
    if prefix is not None:
        return url.startswith(prefix)
    query = url.partition("?")[2]
    return any(part.startswith(("code=", "error=")) for part in query.split("&"))


# --- the browser ---------------------------------------------------------------------


@contextmanager
def chromium(size: str = "desktop"):
    """Headless Debian Chromium through selenium; ``size`` "desktop" (1280x900) or "phone" (360x800)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not binary or not driver_path:
        raise RuntimeError("the browser tests need Debian's `chromium` and `chromium-driver` "
                           "(apt-get install -y chromium chromium-driver; `make test` does it)")
    width, height = SIZES[size]
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in BROWSER_FLAGS:
        options.add_argument(flag)
    if size == "phone":
        # Device metrics make the layout viewport 360 px (a window that narrow is not possible headless).
        options.add_experimental_option("mobileEmulation", {
            "deviceMetrics": {"width": width, "height": height, "pixelRatio": 1.0, "touch": True},
            "userAgent": PHONE_USER_AGENT,
        })
        options.add_argument(f"--window-size={width},{height}")
    else:
        options.add_argument(f"--window-size={width},{height}")
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def viewport_width(driver) -> int:
    return int(driver.execute_script("return document.documentElement.clientWidth"))


def overflows_horizontally(driver) -> bool:
    """Whether the page is wider than the viewport (it would scroll sideways on a phone)."""
    return bool(driver.execute_script(
        "return document.documentElement.scrollWidth > document.documentElement.clientWidth + 1"))


def axe_check(driver, impacts: tuple[str, ...] = SERIOUS) -> list[dict]:
    """Run axe-core on the current page; the violations of these impacts, as
    [{"id", "impact", "help", "nodes": [css target, ...]}]. An empty list passes."""
    if not AXE.is_file():
        raise RuntimeError("axe-core is not installed: run `make deps` (npm ci --prefix tools/oidc)")
    if not driver.execute_script("return typeof window.axe === 'object'"):
        driver.execute_script(AXE.read_text(encoding="utf-8"))
    driver.set_script_timeout(30)
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "window.axe.run(document, {resultTypes: ['violations']})"
        ".then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' '))}))))"
        ".catch(e => done({error: String(e)}));")
    if isinstance(result, dict) and "error" in result:
        raise RuntimeError(f"axe-core failed: {result['error']}")
    return [v for v in result if v["impact"] in impacts]


def describe_violations(violations: list[dict]) -> str:
    return "\n".join(f"{v['impact']}: {v['id']} ({v['help']}) at {', '.join(v['nodes'][:5])}" for v in violations)


def screenshot(driver, page: str, size: str) -> Path:
    """Save docs/screenshots/portal-<page>-<size>.png and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"portal-{page}-{size}.png"
    if not driver.save_screenshot(str(path)):
        raise RuntimeError(f"could not save the screenshot {path}")
    return path
