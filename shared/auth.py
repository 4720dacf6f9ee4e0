"""Authentication and authorisation of the HTTP API: signed bearer tokens and access rules.

Tokens are JWTs (PyJWT) signed with a key from configuration, carrying who the caller is:

    {"iss": "asn-platform", "aud": "asn-platform", "sub": "op-diskominfo-1",
     "role": "operator", "agency": "DISKOMINFO", "iat": ..., "exp": ..., "jti": ...}

Roles: ``admin`` (BKN/BKPSDM: everything), ``operator`` (one agency: its own staff only),
``asn`` (self: ``nip`` claim). Every ``@api`` route states a ``Rule`` (who may call it at
all); the handler narrows further with ``Principal.require_scope`` and the filter helpers
(an operator sees its agency, an ASN themself). See docs/security.md.

Keys (environment, read once per process by ``load_config``):

- ``AUTH_ALGORITHM``: ``HS256`` (default), ``EdDSA`` or ``RS256``.
- HS256: ``AUTH_SECRET`` or ``AUTH_SECRET_FILE`` (at least 32 bytes) signs and verifies;
  ``AUTH_PREVIOUS_SECRET(_FILE)`` still verifies during a rotation.
- EdDSA/RS256: ``AUTH_PUBLIC_KEY_FILE`` (+ ``AUTH_PREVIOUS_PUBLIC_KEY_FILE``) verifies;
  only the issuer (``asn token issue``) holds ``AUTH_PRIVATE_KEY_FILE``.
- ``AUTH_ISSUER``, ``AUTH_AUDIENCE`` (default ``asn-platform``), ``AUTH_LEEWAY_S`` (30).

Without a verification key a service refuses to start: there is no unauthenticated mode.
"""
from __future__ import annotations

import hashlib
import re
import secrets
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import jwt

from shared import nip as nip_rules
from shared import production
from shared.config import env as config_env
from shared.config import secret
from shared.errors import DomainError, Forbidden

ADMIN, OPERATOR, ASN = "admin", "operator", "asn"
ROLES = (ADMIN, OPERATOR, ASN)
ALGORITHMS = ("HS256", "EdDSA", "RS256")
DEFAULT_ISSUER = DEFAULT_AUDIENCE = "asn-platform"
MIN_SECRET_BYTES = 32
MAX_TTL_S = 30 * 24 * 3600
TOKEN_COOKIE = "asn_token"
_NIP = re.compile(nip_rules.PATTERN)
_AGENCY = re.compile(r"^[A-Z0-9_-]{2,64}$")


class Unauthenticated(DomainError):
    """No usable credentials: absent, expired, forged or malformed token (HTTP 401)."""

    status = 401
    code = "unauthenticated"


class AuthConfigError(RuntimeError):
    """The service has no (usable) key to verify tokens with."""


# -- who is calling ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    subject: str
    role: str
    agency: str | None = None
    nip: str | None = None
    token_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN

    def may_access(self, *, nip: str | None = None, agency: str | None = None) -> bool:
        """Whether this caller may see or act on data of ASN ``nip`` in agency ``agency``."""
        if self.role == ADMIN:
            return True
        if self.role == OPERATOR:
            return agency is not None and agency.upper() == self.agency
        if self.role == ASN:
            return nip is not None and nip == self.nip
        return False

    def require_scope(self, *, nip: str | None = None, agency: str | None = None, what: str = "this") -> None:
        """Forbidden (403) unless ``may_access``; the message says whose data it is."""
        if not self.may_access(nip=nip, agency=agency):
            if self.role == OPERATOR:
                raise Forbidden(f"an operator of {self.agency} may act only on its own staff; {what} belongs to "
                                f"{agency or 'no agency'}", field="agency")
            raise Forbidden(f"an ASN may see only their own data; {what} belongs to another ASN", field="nip")

    def require_role(self, *roles: str) -> None:
        if self.role not in roles:
            raise Forbidden(f"role {self.role} may not do this; it needs {' or '.join(roles)}", field="role")

    def agency_filter(self, requested: str | None) -> str | None:
        """The agency a list is limited to: an operator's own (another one is 403), else ``requested``."""
        if self.role == OPERATOR:
            if requested and requested.upper() != self.agency:
                raise Forbidden(f"an operator of {self.agency} may not see figures of {requested.upper()}",
                                field="agency")
            return self.agency
        if self.role == ASN:
            raise Forbidden("an ASN may not list other people's data", field="role")
        return requested

    def nip_filter(self, requested: str | None) -> str | None:
        """The NIP a list is limited to: an ASN's own (another one is 403), else ``requested``."""
        if self.role == ASN:
            if requested and requested != self.nip:
                raise Forbidden("an ASN may see only their own data", field="nip")
            return self.nip
        return requested

    def as_dict(self) -> dict:
        return {"subject": self.subject, "role": self.role, "agency": self.agency, "nip": self.nip}


# -- what an endpoint requires ----------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    """Who may call an endpoint at all. ``roles`` None: anyone, no token needed."""

    name: str
    roles: tuple[str, ...] | None
    description: str

    @property
    def public(self) -> bool:
        return self.roles is None

    def allows(self, principal: Principal) -> bool:
        return self.roles is None or principal.role in self.roles


PUBLIC = Rule("public", None, "anyone, no token (verification, health, metrics, API documents)")
ADMIN_ONLY = Rule("admin", (ADMIN,), "admin only")
STAFF = Rule("staff", (ADMIN, OPERATOR), "admin, or an operator for their own agency's staff")
MEMBER = Rule("member", (ADMIN, OPERATOR, ASN),
              "admin; an operator for their own agency's staff; an ASN for themself")
RULES = {r.name: r for r in (PUBLIC, ADMIN_ONLY, STAFF, MEMBER)}


# -- keys -------------------------------------------------------------------------------------
def key_id(material: str | bytes) -> str:
    """A short, non-secret name of a key (the JWT ``kid``), so a verifier picks the right one."""
    data = material.encode() if isinstance(material, str) else material
    return hashlib.sha256(data).hexdigest()[:16]


def _read(name: str, service: str | None, env) -> str | None:
    try:
        return secret(name, service, env)
    except ValueError as exc:
        raise AuthConfigError(str(exc)) from None


@dataclass(frozen=True)
class AuthConfig:
    algorithm: str
    issuer: str
    audience: str
    leeway_s: int
    verification_keys: dict = field(default_factory=dict)  # kid -> key (secret or public key PEM)
    signing_key: str | None = None  # secret or private key PEM; only where tokens are issued

    @property
    def signing_kid(self) -> str | None:
        if self.signing_key is None:
            return None
        if self.algorithm == "HS256":
            return key_id(self.signing_key)
        return key_id(_public_pem(self.signing_key))


def _public_pem(private_pem: str) -> str:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def load_config(service: str | None = None, *, require_signing: bool = False,
                environ: Mapping[str, str] | None = None) -> AuthConfig:
    """The key configuration from the environment (or ``environ``, e.g. a child process's
    environment); AuthConfigError when it is unusable."""
    if environ is not None:
        def env(name, default=None, service=None):  # shared.config.env over another mapping
            for key in ((f"{service.upper()}_{name}",) if service else ()) + (name,):
                if environ.get(key) not in (None, ""):
                    return environ[key]
            return default
    else:
        env = config_env
    algorithm = env("AUTH_ALGORITHM", "HS256", service)
    if algorithm not in ALGORITHMS:
        raise AuthConfigError(f"AUTH_ALGORITHM {algorithm!r} is not one of {', '.join(ALGORITHMS)}")
    keys: dict[str, str] = {}
    signing = None
    if algorithm == "HS256":
        current = _read("AUTH_SECRET", service, env)
        previous = _read("AUTH_PREVIOUS_SECRET", service, env)
        for name, secret in (("AUTH_SECRET", current), ("AUTH_PREVIOUS_SECRET", previous)):
            if secret is not None:
                if len(secret.encode()) < MIN_SECRET_BYTES:
                    raise AuthConfigError(f"{name}: the token secret must be at least {MIN_SECRET_BYTES} bytes")
                # generated and committed development secrets are marked; production refuses them
                if production.is_dev_secret(secret) and _production(env, service):
                    raise production.ProductionConfigError(
                        f"{name}: a development token secret (it starts with {production.DEV_MARKER!r}); "
                        f"{production.ENV_VARIABLE}={production.PRODUCTION} refuses to start with development settings")
                keys[key_id(secret)] = secret
        signing = current
    else:
        for name in ("AUTH_PUBLIC_KEY_FILE", "AUTH_PREVIOUS_PUBLIC_KEY_FILE"):
            pem = _read(name.removesuffix("_FILE"), service, env)
            if pem is not None:
                keys[key_id(pem)] = pem
        signing = _read("AUTH_PRIVATE_KEY", service, env)
        if signing is not None and not keys:
            public = _public_pem(signing)
            keys[key_id(public)] = public
    if not keys:
        raise AuthConfigError(
            "no token key configured: set AUTH_SECRET_FILE (or AUTH_SECRET) for HS256, or "
            "AUTH_ALGORITHM=EdDSA with AUTH_PUBLIC_KEY_FILE; `make run` generates a development secret in .data/")
    if require_signing and signing is None:
        raise AuthConfigError("issuing tokens needs the signing key (AUTH_SECRET(_FILE) or AUTH_PRIVATE_KEY_FILE)")
    return AuthConfig(algorithm=algorithm, issuer=env("AUTH_ISSUER", DEFAULT_ISSUER, service),
                      audience=env("AUTH_AUDIENCE", DEFAULT_AUDIENCE, service),
                      leeway_s=int(env("AUTH_LEEWAY_S", "30", service)), verification_keys=keys,
                      signing_key=signing)


def _production(env, service: str | None) -> bool:
    return (env(production.ENV_VARIABLE, "", service) or "").strip().lower() == production.PRODUCTION


def generate_secret() -> str:
    """A fresh HS256 secret (256 bits, URL-safe text)."""
    return secrets.token_urlsafe(48)


def ensure_secret_file(path: str | Path) -> Path:
    """A development secret at ``path``, created (mode 600) on first use; marked ``dev-`` so that
    a production service refuses it."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(production.DEV_MARKER + generate_secret() + "\n")
    return path


# -- tokens -----------------------------------------------------------------------------------
def parse_ttl(text: str) -> int:
    """'8h', '30m', '7d', '90s' or plain seconds -> seconds."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", text or "")
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30m, 8h or 7d")
    return int(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]


def check_claims(role: str, agency: str | None, nip: str | None) -> tuple[str | None, str | None]:
    """Normalised (agency, nip) for ``role``; ValueError naming what is wrong."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    agency = agency.strip().upper() if agency else None
    if agency is not None and not _AGENCY.match(agency):
        raise ValueError(f"agency {agency!r} is not an OPD code")
    if nip is not None and not _NIP.match(nip):
        raise ValueError("nip must be 18 digits")
    if role == OPERATOR and agency is None:
        raise ValueError("an operator token needs the operator's agency")
    if role == ASN and nip is None:
        raise ValueError("an asn token needs the ASN's nip")
    return agency, nip


def issue_token(config: AuthConfig, *, role: str, subject: str | None = None, agency: str | None = None,
                nip: str | None = None, ttl_s: int = 8 * 3600, now: float | None = None) -> str:
    """A signed token for ``role`` (an operator names its agency, an ASN their NIP)."""
    if config.signing_key is None:
        raise AuthConfigError("this configuration cannot issue tokens: no signing key")
    if not 0 < ttl_s <= MAX_TTL_S:
        raise ValueError(f"ttl must be between 1 s and {MAX_TTL_S // 86400} days")
    agency, nip = check_claims(role, agency, nip)
    now = int(time.time() if now is None else now)
    claims = {"iss": config.issuer, "aud": config.audience, "sub": subject or nip or f"{role}:{agency or 'bkn'}",
              "role": role, "iat": now, "nbf": now, "exp": now + ttl_s, "jti": uuid.uuid4().hex}
    if agency:
        claims["agency"] = agency
    if nip:
        claims["nip"] = nip
    return jwt.encode(claims, config.signing_key, algorithm=config.algorithm, headers={"kid": config.signing_kid})


def verify_token(config: AuthConfig, token: str) -> Principal:
    """The principal of a valid token; Unauthenticated saying why otherwise (never echoing the token)."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise Unauthenticated("the bearer token is malformed") from None
    if header.get("alg") != config.algorithm:  # no 'none', no HS/RS confusion
        raise Unauthenticated("the bearer token is signed with an algorithm this service does not accept")
    kid = header.get("kid")
    keys = [config.verification_keys[kid]] if kid in config.verification_keys else \
        list(config.verification_keys.values())
    error: Exception | None = None
    for key in keys:
        try:
            claims = jwt.decode(token, key, algorithms=[config.algorithm], audience=config.audience,
                                issuer=config.issuer, leeway=config.leeway_s,
                                options={"require": ["exp", "iat", "iss", "aud", "sub", "role"]})
            break
        except jwt.InvalidSignatureError as exc:
            error = exc
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the bearer token has expired; ask for a new one") from None
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated(f"the bearer token is not valid: {exc}") from None
    else:
        raise Unauthenticated("the bearer token's signature does not verify") from error
    try:
        agency, nip = check_claims(claims.get("role"), claims.get("agency"), claims.get("nip"))
    except ValueError as exc:
        raise Unauthenticated(f"the bearer token's claims are not valid: {exc}") from None
    return Principal(subject=str(claims["sub"]), role=claims["role"], agency=agency, nip=nip,
                     token_id=claims.get("jti"))


def token_of(request) -> str | None:
    """The bearer token of a request: the Authorization header, or for reads the dashboard cookie."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthenticated("use the Authorization header as 'Bearer <token>'")
        return value.strip()
    # A browser cannot set a header on a plain page load; a cookie is honoured only for reads
    # (GET/HEAD), so a forged cross-site form cannot make a logged-in browser change anything.
    if request.method in ("GET", "HEAD"):
        return request.cookies.get(TOKEN_COOKIE) or None
    return None


def authenticate(config: AuthConfig, request, rule: Rule) -> Principal | None:
    """The caller of ``request`` allowed by ``rule`` (None for a public route without a token).

    Unauthenticated (401) without a valid token, Forbidden (403) when the role is not allowed.
    """
    if rule.public:
        return None  # a public route ignores credentials: a stale cookie must not break verification
    token = token_of(request)
    if token is None:
        raise Unauthenticated("this endpoint needs a bearer token (Authorization: Bearer <token>)")
    principal = verify_token(config, token)
    if not rule.allows(principal):
        raise Forbidden(f"role {principal.role} may not call this endpoint ({rule.description})", field="role")
    return principal


def principal_of(request) -> Principal:
    """The authenticated caller of a non-public route (set by shared.http before the handler runs)."""
    principal = getattr(request, "principal", None)
    if principal is None:
        raise Unauthenticated("this endpoint needs a bearer token")
    return principal
