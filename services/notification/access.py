"""Which agency an ASN belongs to, and who may therefore act on their notification data.

An ASN's agency is never taken from an operator's (or the ASN's own) word: an operator of
DINKES writing ``agency: DINKES`` for a NIP nobody knew would otherwise take over that ASN's
inbox and contact data. It comes from trusted sources only:

- enrollment's events (``enrolled``, ``waitlisted``, ``cancelled``, ``completed``), which
  carry the participant's agency: recorded per NIP in ``asn_agencies`` in the handler's
  transaction (newest event wins), and a recipient record follows it;
- an admin, who may register any recipient with any agency.

An operator acts on an ASN only when one of these places the ASN in the operator's agency,
and gets one answer otherwise, whether the NIP is unknown or belongs to another agency
(naming the other agency, or answering 404 for unknown NIPs, would let an operator probe
which NIPs the platform knows and where they work).
"""
from __future__ import annotations

from datetime import datetime

from services.notification.domain import parse_time
from services.notification.store import ASN_AGENCIES, RECIPIENTS
from shared.auth import ADMIN, ASN, OPERATOR, Principal
from shared.errors import Forbidden
from shared.events.envelope import Event
from shared.store import Tx

# Enrollment's events that carry ``participant`` with the agency enrollment knows the ASN in.
AGENCY_EVENTS = frozenset({"enrolled", "waitlisted", "cancelled", "completed"})


# -- the trusted record: written by enrollment's events ---------------------------------------
def record_from_event(tx: Tx, event: Event, now: datetime) -> bool:
    """Record the agency an enrollment event states for its participant; the recipient record
    (if any) follows it. Returns whether this event changed what is known.

    Events arrive in any order: only a statement newer than the one on record counts, so a
    late, older event cannot move an ASN back to a previous agency.
    """
    participant = event.data.get("participant") if event.service == "enrollment" else None
    if event.name not in AGENCY_EVENTS or not participant or not participant.get("agency"):
        return False
    nip, agency = participant["nip"], participant["agency"].strip().upper()
    at = parse_time(event.time)
    known = tx.db[ASN_AGENCIES].find_one({"_id": nip}, session=tx.session)
    if known is not None and parse_time(known["as_of"]) >= at:
        return False
    tx.db[ASN_AGENCIES].replace_one({"_id": nip}, {"_id": nip, "agency": agency, "as_of": at,
                                                   "source_event_id": event.id, "updated_at": now},
                                    upsert=True, session=tx.session)
    # Enrollment is the authority on where an ASN works: the contact record moves with it.
    tx.db[RECIPIENTS].update_one({"_id": nip, "agency": {"$ne": agency}},
                                 {"$set": {"agency": agency, "updated_at": now}}, session=tx.session)
    return True


def known_agency(db, nip: str) -> str | None:
    """The agency enrollment's events last placed ``nip`` in, or None."""
    record = db[ASN_AGENCIES].find_one({"_id": nip}, {"agency": 1})
    return (record or {}).get("agency")


def known_agencies(db, nips: list[str]) -> dict[str, str]:
    """``known_agency`` for many NIPs with one read (bulk uploads)."""
    return {r["_id"]: r["agency"] for r in db[ASN_AGENCIES].find({"_id": {"$in": nips}}, {"agency": 1})}


def agency_of(recipient: dict | None, known: str | None) -> str | None:
    """The ASN's agency: the recipient record's (an admin's word, kept in step with enrollment
    by ``record_from_event``), else what enrollment's events say."""
    return (recipient or {}).get("agency") or known


# -- checks -------------------------------------------------------------------------------
def not_staff(caller: Principal, nip: str) -> Forbidden:
    """The one answer an operator gets for an ASN outside its agency, known or not."""
    return Forbidden(f"an operator of {caller.agency} may act only on its own staff; NIP {nip} is not known as "
                     f"staff of {caller.agency} (an ASN's agency comes from enrollment or an admin: enrol the ASN "
                     f"or ask an admin to register them)", field="nip")


def require_staff(db, caller: Principal, nip: str, what: str) -> None:
    """Forbidden (403) unless ``caller`` may act on ``nip``'s notification data: an admin
    anyone, an ASN themself, an operator its own staff (see ``agency_of``)."""
    if caller.role != OPERATOR:
        caller.require_scope(nip=nip, what=what)
        return
    recipient = db[RECIPIENTS].find_one({"_id": nip}, {"agency": 1})
    if agency_of(recipient, known_agency(db, nip)) != caller.agency:
        raise not_staff(caller, nip)


def recipient_write_check(caller: Principal):
    """The check of a recipient write by ``caller``: (fields, stored record or None, agency
    enrollment knows or None) -> the fields to store, or Forbidden.

    An admin may write anything. An operator only its own staff, and an ASN only themself;
    neither chooses the agency: it is the trusted one (filled in when omitted).
    """
    def check(fields: dict, existing: dict | None, known: str | None) -> dict:
        nip = fields["nip"]
        if caller.role == ADMIN:
            return fields
        trusted = agency_of(existing, known)
        if caller.role == OPERATOR:
            if trusted != caller.agency:
                raise not_staff(caller, nip)
            if fields.get("agency") not in (None, trusted):
                raise Forbidden(f"an operator cannot move NIP {nip} to another agency; ask an admin",
                                field="agency")
        else:
            caller.require_scope(nip=nip, what=f"recipient {nip}")
            if caller.role == ASN and fields.get("agency") not in (None, trusted):
                raise Forbidden("an ASN cannot set their own agency: it comes from enrollment or an admin; "
                                "leave agency out", field="agency")
        return {**fields, "agency": trusted}
    return check
