"""Collections of the portal's database (asn_portal) and their indexes. The portal owns no
business data: only who is signed in and the secret calendar links.

sessions        one document per browser session, ``_id`` = SHA-256 of the cookie's random id;
                ``kind`` prelogin (sign-in page, OIDC state/nonce/PKCE verifier) or user (the
                signed-in identity); the CSRF token; removed at ``expires_at`` (TTL index)
calendar_feeds  one per person with a feed link: ``_id`` = SHA-256 of the link's secret, the
                NIP it is for, when it was made; revoking deletes it
"""
from __future__ import annotations

from pymongo import ASCENDING

SESSIONS = "sessions"
CALENDAR_FEEDS = "calendar_feeds"


def create_indexes(db) -> None:
    db[SESSIONS].create_index([("expires_at", ASCENDING)], expireAfterSeconds=0)
    db[SESSIONS].create_index([("identity.subject", ASCENDING)])
    db[CALENDAR_FEEDS].create_index([("nip", ASCENDING)], unique=True)
