"""Settings of the portal: one frozen object, built by ``load(settings)`` when the container
starts (``dependencies.runtime``), never at import time. Every variable may be given as
``PORTAL_<NAME>`` or ``<NAME>`` (shared.config.env); a bad value raises naming the variable.

Production (``ASN_ENV=production``) refuses the development sign-in, a development client
secret and a public address without TLS (the session cookie must be Secure there).

The four services' URLs are internal addresses the portal reaches directly: its service client
ignores HTTP_PROXY/HTTPS_PROXY/NO_PROXY and .netrc (``trust_env`` off). The OpenID provider's
calls (adapters/oidc) are not changed by that.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from shared import production
from shared.auth import AuthConfig, load_config as load_auth
from shared.config import SERVICES, Settings, env, secret, service_url, setting, variable

SERVICE = "portal"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8005"
DEFAULT_ROLE_MAP = "bangkom-admin=admin,bangkom-operator=operator"
_ON = ("1", "true", "yes", "ya", "on")
_OFF = ("0", "false", "no", "tidak", "off")


@dataclass(frozen=True)
class OidcConfig:
    issuer: str | None  # None: no OpenID provider configured (the sign-in button is not shown)
    client_id: str = "asn-portal"
    client_secret: str | None = None
    scopes: str = "openid profile"
    nip_claim: str = "nip"
    role_claim: str = "roles"
    agency_claim: str = "kode_opd"
    # provider role name -> platform role (admin, operator)
    role_map: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PortalConfig:
    public_url: str
    oidc: OidcConfig
    dev_signin: bool
    session_hours: float
    # the four services' base URLs, by name
    service_urls: dict
    # the platform's token key: the portal mints a short token per call for the signed-in person
    auth: AuthConfig
    # minutes a service token minted for one call lives
    token_ttl_s: int = 300
    # minutes a pre-login session (sign-in page, OIDC round trip) lives
    prelogin_minutes: float = 15.0
    # seconds the portal waits for a service
    call_timeout_s: float = 10.0
    # the largest bulk upload passed on to enrollment (issue 21): enrollment's BULK_MAX_BYTES
    upload_max_bytes: int = 64 * 1024 * 1024

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")

    @property
    def redirect_uri(self) -> str:
        return f"{self.public_url}/masuk/callback"


def parse_flag(raw: str) -> bool:
    text = raw.strip().lower()
    if text in _ON:
        return True
    if text in _OFF:
        return False
    raise ValueError("must be on or off (1/0, true/false, ya/tidak)")


def parse_role_map(raw: str) -> dict:
    """``"bangkom-admin=admin,bangkom-operator=operator"`` -> {provider role: platform role}."""
    mapping = {}
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        name, sep, role = part.partition("=")
        if not sep or not name.strip() or role.strip() not in ("admin", "operator"):
            raise ValueError(f"{part!r} is not <provider role>=admin|operator")
        mapping[name.strip()] = role.strip()
    return mapping


def _url(name: str, default: str) -> str:
    raw = env(name, default, SERVICE).rstrip("/")
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{variable(name, SERVICE)} = {raw!r}: must be an http(s) address")
    return raw


def load(settings: Settings | None = None) -> PortalConfig:
    dev_default = "off" if production.is_production(SERVICE) else "on"
    dev_signin = setting("DEV_SIGNIN", dev_default, SERVICE, parse_flag)
    issuer = env("OIDC_ISSUER", None, SERVICE)
    oidc = OidcConfig(
        issuer=_url("OIDC_ISSUER", issuer) if issuer else None,
        client_id=env("OIDC_CLIENT_ID", "asn-portal", SERVICE),
        client_secret=secret("OIDC_CLIENT_SECRET", SERVICE),
        scopes=env("OIDC_SCOPES", "openid profile", SERVICE),
        nip_claim=env("OIDC_NIP_CLAIM", "nip", SERVICE),
        role_claim=env("OIDC_ROLE_CLAIM", "roles", SERVICE),
        agency_claim=env("OIDC_AGENCY_CLAIM", "kode_opd", SERVICE),
        role_map=setting("ROLE_MAP", DEFAULT_ROLE_MAP, SERVICE, parse_role_map),
    )
    public_url = _url("PUBLIC_URL", DEFAULT_PUBLIC_URL)
    check_production(dev_signin, oidc, public_url)
    return PortalConfig(
        public_url=public_url, oidc=oidc, dev_signin=dev_signin,
        session_hours=setting("SESSION_HOURS", 8, SERVICE, float, low=0.1, high=24 * 7),
        service_urls={name: service_url(name) for name in SERVICES},
        # no signing key, no portal: it could call nothing on anyone's behalf
        auth=load_auth(SERVICE, require_signing=True),
        call_timeout_s=setting("CALL_TIMEOUT_S", 10, SERVICE, float, low=0.5, high=120),
        # PORTAL_UPLOAD_MAX_BYTES, else enrollment's own ENROLLMENT_BULK_MAX_BYTES (or BULK_MAX_BYTES)
        upload_max_bytes=setting("UPLOAD_MAX_BYTES", env("BULK_MAX_BYTES", str(PortalConfig.upload_max_bytes),
                                                         "enrollment"), SERVICE, int, low=1, high=256 * 1024 * 1024),
    )


def check_production(dev_signin: bool, oidc: OidcConfig, public_url: str) -> None:
    """With ASN_ENV=production: no development sign-in (anyone could be anyone), a real client
    secret, a provider to sign in with, and TLS (the session cookie is Secure only then)."""
    production.require(not dev_signin, "PORTAL_DEV_SIGNIN",
                       "the development sign-in lets anyone sign in as anyone; turn it off", SERVICE)
    production.require(oidc.issuer is not None, "PORTAL_OIDC_ISSUER",
                       "unset: nobody could sign in without the OpenID provider", SERVICE)
    production.require(oidc.client_secret is None or not production.is_dev_secret(oidc.client_secret),
                       "PORTAL_OIDC_CLIENT_SECRET (or _FILE)", "a development secret (it starts with 'dev-')",
                       SERVICE)
    production.require(public_url.startswith("https://"), "PORTAL_PUBLIC_URL",
                       "not https: the session cookie would travel without TLS", SERVICE)
