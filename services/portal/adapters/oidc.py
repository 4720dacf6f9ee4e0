"""OpenID Connect sign-in (authorization code + PKCE S256) with Authlib.

The provider's metadata comes from ``<issuer>/.well-known/openid-configuration`` (fetched on
first use and kept an hour, so the portal starts while the provider is down). The ID token
is verified with authlib.jose: signature by the provider's JWKS (fetched again once when a
key is unknown: the provider rotated), ``iss``, ``aud``, ``exp``/``iat`` and the session's
``nonce``. Claims the provider gives only at the userinfo endpoint are merged (same ``sub``).
"""
from __future__ import annotations

import logging
import time
import warnings
from urllib.parse import urlencode

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7636 import create_s256_code_challenge

with warnings.catch_warnings():  # authlib.jose announces its successor (joserfc); it works as it is
    warnings.simplefilter("ignore")
    from authlib.jose import JsonWebKey, jwt
    from authlib.jose.errors import JoseError
    from authlib.oidc.core import CodeIDToken

from services.portal.config import OidcConfig

log = logging.getLogger(__name__)
METADATA_TTL_S = 3600.0


class OidcError(Exception):
    """The provider could not be reached, or what it answered does not verify."""


class OidcClient:
    def __init__(self, config: OidcConfig, redirect_uri: str, timeout_s: float = 10.0):
        self.config, self.redirect_uri, self.timeout_s = config, redirect_uri, timeout_s
        self._metadata: dict | None = None
        self._metadata_at = 0.0
        self._jwks: dict | None = None

    @property
    def configured(self) -> bool:
        return self.config.issuer is not None

    # -- the provider's metadata ---------------------------------------------------------------
    def _get_json(self, url: str) -> dict:
        try:
            response = requests.get(url, timeout=self.timeout_s, headers={"Accept": "application/json"})
            response.raise_for_status()
            return response.json()
        except (requests.RequestException, ValueError) as exc:
            raise OidcError(f"cannot read {url}: {exc}") from None

    def metadata(self) -> dict:
        if self._metadata is None or time.monotonic() - self._metadata_at > METADATA_TTL_S:
            data = self._get_json(f"{self.config.issuer}/.well-known/openid-configuration")
            if data.get("issuer", "").rstrip("/") != self.config.issuer.rstrip("/"):
                raise OidcError(f"the provider calls itself {data.get('issuer')!r}, not {self.config.issuer!r}")
            self._metadata, self._metadata_at = data, time.monotonic()
        return self._metadata

    def _keys(self, refresh: bool = False):
        if self._jwks is None or refresh:
            self._jwks = self._get_json(self.metadata()["jwks_uri"])
        return JsonWebKey.import_key_set(self._jwks)

    def _session(self, **kwargs) -> OAuth2Session:
        method = "client_secret_basic" if self.config.client_secret else "none"
        return OAuth2Session(self.config.client_id, self.config.client_secret, scope=self.config.scopes,
                             redirect_uri=self.redirect_uri, code_challenge_method="S256",
                             token_endpoint_auth_method=method, **kwargs)

    # -- the round trip ----------------------------------------------------------------------
    def authorization_url(self, state: str, nonce: str, code_verifier: str) -> str:
        """Where the browser goes to sign in (state, nonce and the S256 challenge; no secret)."""
        with self._session() as session:
            url, _ = session.create_authorization_url(self.metadata()["authorization_endpoint"], state=state,
                                                      code_verifier=code_verifier, nonce=nonce)
        return url

    def sign_in(self, code: str, code_verifier: str, nonce: str) -> tuple[dict, str | None]:
        """The verified claims for the code the provider sent back, and the ID token (kept for
        a sign-out at the provider)."""
        metadata = self.metadata()
        try:
            with self._session() as session:
                token = session.fetch_token(metadata["token_endpoint"], code=code, code_verifier=code_verifier,
                                            timeout=self.timeout_s)
        except Exception as exc:  # noqa: BLE001 - any failure of the exchange is a failed sign-in
            raise OidcError(f"the code exchange failed: {exc}") from None
        id_token = token.get("id_token")
        if not id_token:
            raise OidcError("the provider answered without an ID token")
        claims = self.verify_id_token(id_token, nonce, token.get("access_token"))
        endpoint = metadata.get("userinfo_endpoint")
        if endpoint and token.get("access_token"):
            try:
                response = requests.get(endpoint, timeout=self.timeout_s,
                                        headers={"Authorization": f"Bearer {token['access_token']}"})
                response.raise_for_status()
                info = response.json()
            except (requests.RequestException, ValueError) as exc:
                raise OidcError(f"userinfo failed: {exc}") from None
            if info.get("sub") != claims.get("sub"):
                raise OidcError("userinfo is about someone else than the ID token")
            claims = {**info, **claims}
        return claims, id_token

    def verify_id_token(self, id_token: str, nonce: str, access_token: str | None = None) -> dict:
        options = {"iss": {"essential": True, "values": [self.config.issuer, self.config.issuer + "/"]},
                   "aud": {"essential": True, "value": self.config.client_id},
                   "exp": {"essential": True}}
        params = {"nonce": nonce, "client_id": self.config.client_id}
        if access_token:
            params["access_token"] = access_token
        for refresh in (False, True):
            try:
                claims = jwt.decode(id_token, self._keys(refresh), claims_cls=CodeIDToken,
                                    claims_options=options, claims_params=params)
                break
            except (JoseError, ValueError) as exc:
                if refresh:  # the first failure may be a rotated key: read the JWKS again once
                    raise OidcError(f"the ID token does not verify: {exc}") from None
        try:
            claims.validate(leeway=60)
        except JoseError as exc:
            raise OidcError(f"the ID token's claims do not hold: {exc}") from None
        if claims.header.get("alg", "").lower() in ("none", "hs256", "hs384", "hs512") and not \
                self.config.client_secret:
            raise OidcError("the ID token is not signed with the provider's key")
        return dict(claims)

    def end_session_url(self, id_token: str | None, after: str) -> str | None:
        """The provider's sign-out address when it has one (RP-initiated logout), else None."""
        try:
            endpoint = self.metadata().get("end_session_endpoint")
        except OidcError:
            return None
        if not endpoint:
            return None
        # No id_token_hint: a token never goes into a URL (browser history, the provider's access
        # logs). client_id names the client instead, which RP-initiated logout 1.0 allows; the
        # provider then asks the person to confirm the sign-out.
        query = {"post_logout_redirect_uri": after, "client_id": self.config.client_id}
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(query)}"


__all__ = ["OidcClient", "OidcError", "create_s256_code_challenge"]
