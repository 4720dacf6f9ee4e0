"""What changes state: the portal's own records (sessions, calendar feed links) in its store,
and the person's requests to the services (enrol, cancel, mark read) through the client."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from pymongo.errors import DuplicateKeyError

from services.portal import domain
from services.portal.adapters.clients import ServiceClient
from services.portal.domain import Identity
from services.portal.store import CALENDAR_FEEDS, SESSIONS


# -- sessions ---------------------------------------------------------------------------------
def open_prelogin(db, now: datetime, minutes: float) -> tuple[str, dict]:
    """A session for someone not signed in yet: the sign-in page's CSRF token and, for the
    OpenID round trip, state, nonce and PKCE verifier. Returns (cookie value, document)."""
    raw = domain.new_secret()
    doc = {"_id": domain.digest(raw), "kind": "prelogin", "csrf": domain.new_secret(), "created_at": now,
           "expires_at": now + timedelta(minutes=minutes)}
    db[SESSIONS].insert_one(doc)
    return raw, doc


def start_oidc(db, session_id: str, state: str, nonce: str, code_verifier: str, next_path: str) -> None:
    db[SESSIONS].update_one({"_id": session_id, "kind": "prelogin"},
                            {"$set": {"oidc": {"state": state, "nonce": nonce, "code_verifier": code_verifier,
                                               "next": next_path}}})


def take_oidc(db, session_id: str) -> dict | None:
    """The round trip's state, once (a replayed callback finds nothing)."""
    doc = db[SESSIONS].find_one_and_update({"_id": session_id, "kind": "prelogin", "oidc": {"$exists": True}},
                                           {"$unset": {"oidc": ""}})
    return (doc or {}).get("oidc")


def sign_in(db, old_session_id: str | None, identity: Identity, now: datetime, hours: float,
            id_token: str | None = None) -> str:
    """A new session for the signed-in person (a new id: a session fixed before sign-in is
    worthless after it); the pre-login one is removed. Returns the cookie value."""
    if old_session_id:
        db[SESSIONS].delete_one({"_id": old_session_id})
    raw = domain.new_secret()
    db[SESSIONS].insert_one({"_id": domain.digest(raw), "kind": "user", "csrf": domain.new_secret(),
                             "identity": identity.as_dict(), "id_token": id_token, "created_at": now,
                             "expires_at": now + timedelta(hours=hours)})
    return raw


def sign_out(db, session_id: str) -> dict | None:
    return db[SESSIONS].find_one_and_delete({"_id": session_id})


def flash(db, session_id: str, message: str, kind: str = "info", **extra) -> None:
    """A message for the next page (after a form: POST, redirect, GET); ``extra`` rides along
    (a new calendar link, shown once)."""
    db[SESSIONS].update_one({"_id": session_id}, {"$set": {"flash": {"message": message, "kind": kind, **extra}}})


def take_flash(db, session_id: str) -> dict | None:
    doc = db[SESSIONS].find_one_and_update({"_id": session_id, "flash": {"$exists": True}},
                                           {"$unset": {"flash": ""}})
    return (doc or {}).get("flash")


# -- calendar feed links ----------------------------------------------------------------------
def create_feed(db, nip: str, now: datetime) -> str:
    """A new secret link for ``nip``'s calendar (replacing any earlier one). Returns the secret;
    only its digest is kept."""
    secret = domain.new_secret()
    for attempt in (1, 2):  # the id is the secret's digest, so the old record goes and a new one comes
        db[CALENDAR_FEEDS].delete_many({"nip": nip})
        try:
            db[CALENDAR_FEEDS].insert_one({"_id": domain.digest(secret), "nip": nip, "created_at": now})
            break
        except DuplicateKeyError:  # a second click at the same moment: its link wins over this one
            if attempt == 2:
                raise
    return secret


def revoke_feed(db, nip: str) -> bool:
    return db[CALENDAR_FEEDS].delete_one({"nip": nip}).deleted_count > 0


# -- requests to the services -----------------------------------------------------------------
def enrol(client: ServiceClient, identity: Identity, code: str) -> dict:
    """Self-enrolment: the person's own token, their own NIP."""
    return client.post("enrollment", f"/programmes/{code}/enrolments", identity, {"nip": identity.nip})


def cancel(client: ServiceClient, identity: Identity, enrolment_id: str) -> dict:
    return client.post("enrollment", f"/enrolments/{enrolment_id}/cancel", identity,
                       {"reason": "Dibatalkan oleh peserta melalui portal"})


def mark_read(client: ServiceClient, identity: Identity, message_id: str) -> None:
    client.post("notification", f"/inbox/{identity.nip}/{message_id}/read", identity)


# -- supervisor, operator and admin pages (izin atasan, tim saya, Plt/Plh, log akses) --
def decide(client: ServiceClient, identity: Identity, enrolment_id: str, body: dict) -> dict:
    """The approver's decision, with their own token (enrollment checks they are the approver)."""
    return client.post("enrollment", f"/enrolments/{enrolment_id}/approval", identity, body)


def decide_by_link(client: ServiceClient, identity: Identity, token: str, body: dict) -> dict:
    return client.post("enrollment", "/approvals/link/decision", identity, {"token": token, **body})


def set_acting(client: ServiceClient, identity: Identity, supervisor_nip: str, acting_nip: str, kind: str,
               ends_at: datetime) -> dict:
    """Name a Plt/Plh with the operator's (or admin's) platform token."""
    body = {"acting_nip": acting_nip, "kind": kind,
            "ends_at": ends_at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")}
    return client.put("enrollment", f"/roster/{supervisor_nip}/acting", identity, body, acting="role")


def end_acting(client: ServiceClient, identity: Identity, supervisor_nip: str) -> dict:
    return client.delete("enrollment", f"/roster/{supervisor_nip}/acting", identity, acting="role")


# -- operator console: oversight (issue 21) --
def run_checkpoint(client: ServiceClient, identity: Identity, checkpoint: str) -> dict:
    """Ask reporting to run a shortfall checkpoint (admin): the job, running in the background."""
    return client.post("reporting", f"/admin/shortfall/{checkpoint}/run", identity, acting="role")


def revoke_certificate(client: ServiceClient, identity: Identity, certificate_id: str, reason: str) -> dict:
    """Revoke with the admin's own token (certification records who revoked, and why)."""
    return client.post("certification", f"/certificates/{certificate_id}/revoke", identity, {"reason": reason},
                       acting="role")


# -- operator console: programmes (issue 21) --
def create_programme(client: ServiceClient, identity: Identity, body: dict) -> dict:
    return client.post("enrollment", "/programmes", identity, body, acting="role")


def update_programme(client: ServiceClient, identity: Identity, code: str, body: dict) -> dict:
    return client.patch("enrollment", f"/programmes/{code}", identity, body, acting="role")


def publish_programme(client: ServiceClient, identity: Identity, code: str) -> dict:
    return client.post("enrollment", f"/programmes/{code}/publish", identity, acting="role")


def cancel_programme(client: ServiceClient, identity: Identity, code: str, reason: str) -> dict:
    return client.post("enrollment", f"/programmes/{code}/cancel", identity, {"reason": reason}, acting="role")


def enrol_participant(client: ServiceClient, identity: Identity, code: str, nip: str,
                      peran: str = "peserta") -> tuple[dict, bool]:
    """Enrol an ASN from the roster with the staff member's role, as peserta or narasumber (a seminar's
    or lokakarya's speaker, enrollment's ``role``): (the enrolment, whether it existed)."""
    # the status tells a new enrolment (201) from one that was there already (200)
    response = client._call("POST", "enrollment", f"/programmes/{code}/enrolments", identity, "role",
                            json={"nip": nip, "role": peran})
    return response.json(), response.status_code == 200


def cancel_enrolment(client: ServiceClient, identity: Identity, enrolment_id: str, reason: str) -> dict:
    return client.post("enrollment", f"/enrolments/{enrolment_id}/cancel", identity, {"reason": reason},
                       acting="role")


def promote(client: ServiceClient, identity: Identity, enrolment_id: str) -> dict:
    return client.post("enrollment", f"/enrolments/{enrolment_id}/promote", identity, acting="role")


# -- operator console: uploads and marking (issue 21) --
def mark(client: ServiceClient, identity: Identity, code: str, body: dict) -> dict:
    """A session's attendance (and completions) of many participants in one call, with the
    operator's or admin's own token (enrollment keeps an operator to its OPD's rows)."""
    return client.post("enrollment", f"/programmes/{code}/marking", identity, body, acting="role")
