"""The signed link token of a supervisor's approval request (ADR 0092).

    token = base64url("<enrolment_id>.<approver_nip>.<expiry epoch seconds>") + "." +
            base64url(HMAC-SHA256(secret, that first part))

It binds one request (the expiry is that request's ``expires_at``) and one approver; it is
single-use because the request can be decided once. Nothing secret is inside: the token only
proves that enrollment issued it.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timezone

from shared.errors import Invalid
from shared.timefmt import parse_time

MAX_TOKEN = 512
_INVALID = "tautan persetujuan tidak sah atau telah diubah"


@dataclass(frozen=True)
class LinkClaims:
    enrolment_id: str
    approver_nip: str
    expires_at: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: str, payload: str) -> str:
    return _b64(hmac.new(secret.encode(), payload.encode("ascii"), hashlib.sha256).digest())


def sign(secret: str, enrolment_id: str, approver_nip: str, expires_at: datetime) -> str:
    payload = _b64(f"{enrolment_id}.{approver_nip}.{int(parse_time(expires_at).timestamp())}".encode())
    return f"{payload}.{_signature(secret, payload)}"


def verify(secret: str, token: str) -> LinkClaims:
    """The claims of a token this secret signed; Invalid (422, field token) for anything else."""
    try:
        payload, signature = token.strip().split(".")
        if not hmac.compare_digest(_signature(secret, payload), signature):
            raise ValueError("signature")
        enrolment_id, approver_nip, expiry = _unb64(payload).decode("ascii").split(".")
        return LinkClaims(enrolment_id, approver_nip, datetime.fromtimestamp(int(expiry), timezone.utc))
    except (ValueError, UnicodeError, binascii.Error):
        raise Invalid(_INVALID, field="token") from None


def same_request(claims: LinkClaims, expires_at: datetime) -> bool:
    """Whether a token's expiry is the request's own (a token of an earlier request of the same
    enrolment, withdrawn and asked again, does not fit)."""
    return int(claims.expires_at.timestamp()) == int(parse_time(expires_at).timestamp())
