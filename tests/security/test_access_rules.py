"""Every route states who may call it; tokens are checked for signature, expiry, issuer,
audience and algorithm (no I/O)."""
from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared import auth
from shared.service_base import _shape, http_routes, openapi_path
from tests.security.conftest import CLASSES

SECRET = "s" * 40
PUBLIC_ROUTES = {
    ("GET", "/health/live"), ("GET", "/health/ready"), ("GET", "/metrics"), ("GET", "/openapi.json"), ("GET", "/asyncapi.json"),
    ("GET", "/verify/<path:code>"), ("POST", "/credentials/verify"), ("GET", "/status/revocation"),
}


def config(**env) -> auth.AuthConfig:
    return auth.load_config(environ={"AUTH_SECRET": SECRET, **env})


@pytest.mark.parametrize("service", sorted(CLASSES))
def test_every_route_of_every_service_states_its_access_rule(service):
    routes = http_routes(CLASSES[service])
    assert routes, "no HTTP routes found"
    undeclared = [f"{r.method} {r.url}" for r in routes if not r.auth_declared]
    assert undeclared == []
    assert all(r.auth_rule in auth.RULES.values() for r in routes)


@pytest.mark.parametrize("service", sorted(CLASSES))
def test_only_verification_health_metrics_and_api_documents_are_anonymous(service):
    public = {(r.method, r.url) for r in http_routes(CLASSES[service]) if r.auth_rule.public}
    assert public <= PUBLIC_ROUTES
    assert {("GET", "/health/live"), ("GET", "/metrics")} <= public


@pytest.mark.parametrize("service", sorted(CLASSES))
def test_the_openapi_document_shows_each_routes_rule_and_the_bearer_scheme(service):
    cls = CLASSES[service]
    document = cls.openapi_document(cls())
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    by_shape = {_shape(path): path for path in document["paths"]}
    for route in http_routes(cls):
        operation = document["paths"][by_shape[_shape(openapi_path(route.url))]][route.method.lower()]
        assert operation["x-access-rule"] == route.auth_rule.name
        if route.auth_rule.public:
            assert operation["security"] == []
        else:
            assert operation["security"] == [{"bearerAuth": []}] and "401" in operation["responses"]


def test_an_operator_token_carries_its_agency_and_verifies():
    cfg = config()
    principal = auth.verify_token(cfg, auth.issue_token(cfg, role="operator", agency="diskominfo"))
    assert (principal.role, principal.agency) == ("operator", "DISKOMINFO")
    assert principal.may_access(agency="DISKOMINFO") and not principal.may_access(agency="DINKES")


@pytest.mark.parametrize("claims, why", [
    ({"role": "operator"}, "operator"),
    ({"role": "asn"}, "nip"),
    ({"role": "root"}, "role"),
    ({"role": "asn", "nip": "123"}, "18 digits"),
])
def test_tokens_that_do_not_say_whom_they_are_for_are_refused_at_issue(claims, why):
    with pytest.raises(ValueError, match=why):
        auth.issue_token(config(), **claims)


def test_an_expired_token_is_refused():
    cfg = config()
    token = auth.issue_token(cfg, role="admin", ttl_s=60, now=time.time() - 3600)
    with pytest.raises(auth.Unauthenticated, match="expired"):
        auth.verify_token(cfg, token)


def test_a_token_signed_with_another_secret_is_refused():
    forged = auth.issue_token(config(AUTH_SECRET="f" * 40), role="admin")
    with pytest.raises(auth.Unauthenticated, match="signature"):
        auth.verify_token(config(), forged)


def test_an_unsigned_token_and_a_changed_claim_are_refused():
    cfg = config()
    unsigned = jwt.encode({"sub": "x", "role": "admin", "iss": cfg.issuer, "aud": cfg.audience,
                           "iat": int(time.time()), "exp": int(time.time()) + 60}, None, algorithm="none")
    with pytest.raises(auth.Unauthenticated):
        auth.verify_token(cfg, unsigned)
    header, payload, signature = auth.issue_token(cfg, role="operator", agency="DINKES").split(".")
    changed = jwt.utils.base64url_encode(jwt.utils.base64url_decode(payload).replace(b"operator", b"admin")).decode()
    with pytest.raises(auth.Unauthenticated):
        auth.verify_token(cfg, ".".join([header, changed, signature]))


def test_a_token_for_another_audience_or_issuer_is_refused():
    other_audience = auth.issue_token(config(AUTH_AUDIENCE="siasn"), role="admin")
    other_issuer = auth.issue_token(config(AUTH_ISSUER="someone-else"), role="admin")
    for token in (other_audience, other_issuer):
        with pytest.raises(auth.Unauthenticated):
            auth.verify_token(config(), token)


def test_during_a_rotation_tokens_of_the_previous_secret_still_verify():
    old = auth.issue_token(config(), role="admin")
    rotated = config(AUTH_SECRET="n" * 40, AUTH_PREVIOUS_SECRET=SECRET)
    assert auth.verify_token(rotated, old).role == "admin"
    assert auth.verify_token(rotated, auth.issue_token(rotated, role="admin")).role == "admin"
    with pytest.raises(auth.Unauthenticated):  # once the previous secret is dropped
        auth.verify_token(config(AUTH_SECRET="n" * 40), old)


def test_with_eddsa_services_verify_with_the_public_key_only(tmp_path):
    key = Ed25519PrivateKey.generate()
    (tmp_path / "private.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                             serialization.NoEncryption()))
    (tmp_path / "public.pem").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    issuer = auth.load_config(environ={"AUTH_ALGORITHM": "EdDSA", "AUTH_PRIVATE_KEY_FILE": str(tmp_path / "private.pem")})
    service = auth.load_config(environ={"AUTH_ALGORITHM": "EdDSA", "AUTH_PUBLIC_KEY_FILE": str(tmp_path / "public.pem")})
    assert service.signing_key is None
    assert auth.verify_token(service, auth.issue_token(issuer, role="asn", nip="198503122010011002")).nip == \
        "198503122010011002"
    with pytest.raises(auth.Unauthenticated):  # an HS256 token made with the public key as secret
        auth.verify_token(service, jwt.encode({"role": "admin"}, "x" * 40, algorithm="HS256"))


def test_a_service_without_a_key_or_with_a_short_secret_does_not_start():
    with pytest.raises(auth.AuthConfigError, match="no token key"):
        auth.load_config(environ={})
    with pytest.raises(auth.AuthConfigError, match="32 bytes"):
        auth.load_config(environ={"AUTH_SECRET": "short"})


def test_asn_token_issue_prints_a_token_the_services_accept(capsys):
    from shared.cli import main

    assert main(["token", "issue", "--role", "operator", "--agency", "diskominfo", "--ttl", "8h"]) == 0
    principal = auth.verify_token(auth.load_config(), capsys.readouterr().out.strip())
    assert (principal.role, principal.agency) == ("operator", "DISKOMINFO")
    assert main(["token", "issue", "--role", "operator"]) == 2  # an operator without its agency
    assert "agency" in capsys.readouterr().err
