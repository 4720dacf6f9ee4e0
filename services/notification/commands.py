"""What changes the notification database, inside a transaction (functions taking ``tx``):
what an event does (messages, deliveries, reminders, nudges, supervisor and operator
summaries, the roster entry and contact data of an ASN, the agency an ASN works in), the
delivery job's claims and outcomes, recipients, agency contacts and the inbox's read marks.

Each event creates its message(s) and one delivery per (event, kind, recipient, channel);
the delivery job sends them later. Inbox deliveries that are due at once are delivered
here, in the same transaction. Everything is written with ``tx.session``, and
``delivered``/``failed`` events go through the outbox (``tx.emit``). A transaction may run
twice (transient errors): nothing here has effects outside the store.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from weakref import WeakKeyDictionary

from bson import ObjectId
from marshmallow import ValidationError
from pymongo import ReplaceOne, UpdateOne
from pymongo.errors import BulkWriteError

from services.notification import domain, queries, schemas
from services.notification.adapters.templates import renderer
from services.notification.config import NotificationConfig
from services.notification.store import (AGENCY_CONTACTS, APPROVALS, ASN_AGENCIES, DELIVERIES, ENROLMENTS,
                                         ESCALATIONS, MESSAGES, NUDGES, RECIPIENTS, ROSTER)
from shared import nip as nip_rules
from shared.errors import Forbidden, Invalid
from shared.events.envelope import Event
from shared.store import Duplicate, Tx
from shared.timefmt import iso, parse_time

log = logging.getLogger(__name__)

DUPLICATE_KEY = 11000  # the store's error code for a second record under a unique key


# -- the agency enrollment places an ASN in (domain: who may act) -------------------------------
def record_agency(tx: Tx, event: Event, now: datetime) -> bool:
    """Record the agency an enrollment event states for its participant; the recipient record
    (if any) follows it. Returns whether this event changed what is known.

    Only for an ASN the roster does not list (``apply_roster_event`` is the authority on the
    others). Events arrive in any order: only a statement newer than the one on record
    counts, so a late, older event cannot move an ASN back to a previous agency.
    """
    statement = domain.agency_statement(event.service, event.name, event.data)
    if statement is None:
        return False
    nip, agency = statement
    at = parse_time(event.time)
    # One conditional upsert instead of a read and a replace: the store keeps the record as it
    # is unless the roster does not list the ASN and this statement is newer than its own.
    newer = {"$and": [{"$not": [{"$ifNull": ["$roster_version", False]}]},
                      {"$lt": [{"$ifNull": ["$as_of", None]}, at]}]}
    stated = {"agency": agency, "as_of": at, "source_event_id": event.id, "updated_at": now}
    result = tx.db[ASN_AGENCIES].update_one(
        {"_id": nip}, [{"$set": {k: {"$cond": [newer, {"$literal": v}, f"${k}"]} for k, v in stated.items()}}],
        upsert=True, session=tx.session)
    if not (result.modified_count or result.upserted_id is not None):
        return False
    # Enrollment is the authority on where an ASN works: the contact record moves with it
    # (read once per event: the message's channels come from the same read).
    recipient = _recipient(tx, nip)
    if recipient is not None and recipient.get("agency") != agency:
        tx.db[RECIPIENTS].update_one({"_id": nip}, {"$set": {"agency": agency, "updated_at": now}},
                                     session=tx.session)
        recipient.update(agency=agency, updated_at=now)
    return True


# What a transaction attempt read of the recipients, by NIP, so that one event reads an ASN's
# record once (the agency it follows, the message's channels). Keyed by the attempt: a retried
# transaction reads afresh.
_RECIPIENTS_READ: WeakKeyDictionary = WeakKeyDictionary()


def _recipient(tx: Tx, nip: str) -> dict | None:
    read = _RECIPIENTS_READ.setdefault(tx, {})
    if nip not in read:
        read[nip] = tx.db[RECIPIENTS].find_one({"_id": nip}, session=tx.session)
    return read[nip]


# -- the roster (daftar ASN): who an ASN is, where they work, whether they left, their contact ----
def apply_roster_event(tx: Tx, event: Event, now: datetime) -> bool:
    """``asn_registered`` / ``asn_updated`` / ``asn_left``: keep the roster entry when its
    version is higher than the one on record (events arrive in any order). The roster is the
    authority on an ASN's name and agency: the agency record and the recipient follow it. An
    ASN who left gets no more nudges or reminders: waiting ones are dropped. Returns whether
    the entry was newer."""
    entry = event.data["asn"]
    nip, version = entry["nip"], entry["version"]
    known = tx.db[ROSTER].find_one({"_id": nip}, session=tx.session)
    if known is not None and (known.get("version") or 0) >= version:
        log.info("%s of %s (roster version %d) is not newer than version %d; ignored", event.name, nip, version,
                 known["version"])
        return False
    agency, at = entry["agency"].strip().upper(), parse_time(event.time)
    tx.db[ROSTER].update_one({"_id": nip}, {"$set": {
        "name": entry["name"], "agency": agency, "agency_name": entry.get("agency_name"),
        "position": entry.get("position"), "golongan": entry.get("golongan"), "jenis_asn": entry["jenis_asn"],
        "supervisor_nip": entry.get("supervisor_nip"), "status": entry["status"], "version": version,
        "as_of": at, "source_event_id": event.id, "updated_at": now}}, upsert=True, session=tx.session)
    tx.db[ASN_AGENCIES].replace_one({"_id": nip}, {"_id": nip, "agency": agency, "roster_version": version,
                                                   "as_of": at, "source_event_id": event.id, "updated_at": now},
                                    upsert=True, session=tx.session)
    tx.db[RECIPIENTS].update_one(
        {"_id": nip, "$or": [{"agency": {"$ne": agency}}, {"name": {"$ne": entry["name"]}}]},
        {"$set": {"agency": agency, "name": entry["name"], "updated_at": now}}, session=tx.session)
    if domain.has_left(entry):
        _stop_for_left(tx, nip, entry["status"], now)
    return True


def _stop_for_left(tx: Tx, nip: str, status: str, now: datetime) -> None:
    """Drop the nudges and reminders still waiting for an ASN who left the roster."""
    reason = f"ASN left the roster ({status})"
    waiting = {"nip": nip, "kind": {"$in": list(domain.ENDED_BY_LEAVING)}}
    result = tx.db[DELIVERIES].update_many(
        {**waiting, "status": "pending"},
        {"$set": {"status": "dropped", "next_attempt_at": None, "updated_at": now, "last_error": reason},
         "$inc": {"version": 1}, "$push": {"history": {"at": now, "outcome": "dropped", "detail": reason}}},
        session=tx.session)
    tx.db[MESSAGES].update_many({**waiting, "visible_at": None}, {"$set": {"dropped": True}}, session=tx.session)
    if result.modified_count:
        log.info("dropped %d waiting deliveries of %s: %s", result.modified_count, nip, reason)


def apply_contact(tx: Tx, event: Event, now: datetime) -> bool:
    """The private ``asn_contact``: the e-mail and telephone the roster upload gives an ASN
    become their recipient record's (created if none), when its version is higher than the
    one applied; ``None`` clears a value. The channels and opt-outs the ASN chose stay.
    Contact data is never logged. Returns whether the record changed."""
    data = event.data
    nip, version = data["nip"], data["version"]
    if not (len(nip) == nip_rules.LENGTH and nip.isascii() and nip.isdigit()):
        log.warning("asn_contact %s names no 18-digit NIP; ignored", event.id)
        return False
    entry = tx.db[ROSTER].find_one({"_id": nip}, session=tx.session)
    if entry is not None and (entry.get("contact_version") or 0) >= version:
        log.info("contact of %s (version %d) is not newer than version %d; ignored", nip, version,
                 entry["contact_version"])
        return False
    email, phone, problems = domain.roster_contact(data.get("email"), data.get("phone"))
    for problem in problems:
        log.warning("contact of %s from the roster left out: %s", nip, problem)
    tx.db[ROSTER].update_one({"_id": nip}, {"$set": {"contact_version": version,
                                                     "contact_changed_at": parse_time(data["changed_at"])}},
                             upsert=True, session=tx.session)
    recipient = tx.db[RECIPIENTS].find_one({"_id": nip}, session=tx.session)
    if recipient is None:
        tx.db[RECIPIENTS].insert_one({
            "_id": nip, "nip": nip, "id_kind": nip_rules.detect_kind(nip), "name": (entry or {}).get("name"),
            "agency": (entry or {}).get("agency") or queries.known_agency(tx.db, nip, session=tx.session),
            "email": email, "phone": phone, "whatsapp": None, "channels": None, "opt_outs": [],
            "created_at": now, "updated_at": now}, session=tx.session)
    elif (recipient.get("email"), recipient.get("phone")) != (email, phone):
        tx.db[RECIPIENTS].update_one({"_id": nip}, {"$set": {"email": email, "phone": phone, "updated_at": now}},
                                     session=tx.session)
    log.info("contact of %s from the roster applied (version %d: e-mail %s, telephone %s)", nip, version,
             "given" if email else "none", "given" if phone else "none")
    return True


def roster_entry(tx: Tx, nip: str) -> dict | None:
    return tx.db[ROSTER].find_one({"_id": nip}, session=tx.session)


# -- one event ----------------------------------------------------------------------------------
def apply_event(tx: Tx, event: Event, config: NotificationConfig, now: datetime) -> list[ObjectId]:
    """Apply a public event; returns the ids of the messages it created."""
    data = event.data
    # Where enrollment places the ASN decides which operator may see their data.
    record_agency(tx, event, now)
    if event.name == "programme_updated":
        _reschedule_reminders(tx, data["programme"], config, now)
        return []
    kind = domain.kind_of(event.service, event.name, data)
    if event.name == "cancelled":
        _record_cancellation(tx, data, now)
    if event.name in ("enrolled", "waitlisted"):
        at = parse_time(data["enrolled_at" if event.name == "enrolled" else "waitlisted_at"])
        if _is_stale(tx, data["enrolment_id"], at):
            log.info("%s for enrolment %s is older than its cancellation; no message", event.name,
                     data["enrolment_id"])
            return []
    if kind == "nudge":
        return _shortfall(tx, event, config, now)

    created = [create_message(tx, event, kind, domain.asn_context(kind, data, config, now), config, now,
                              enrolment_id=data.get("enrolment_id"))]
    if event.name == "enrolled" and not domain.has_left(roster_entry(tx, data["participant"]["nip"])):
        reminder = _schedule_reminder(tx, event, config, now)
        if reminder:
            created.append(reminder)
    return created


# -- supervisor approval (izin atasan) and acting supervisors -------------------------------------
# How long a decided request's record stays after its decision, so that a link or a reminder
# arriving late (another queue, a redelivery) is recognised as stale rather than sent.
DECIDED_KEPT = timedelta(days=30)


def apply_approval_event(tx: Tx, event: Event, config: NotificationConfig, now: datetime) -> list[ObjectId]:
    """An approval or acting event from enrollment: the message it causes (to the approver,
    the ASN or the acting person), keeping a request's link (private ``approval_link``) for
    its reminders until the request is decided or lapses. Returns the ids of the messages
    created. The link token is never logged."""
    data, name = event.data, event.name
    kind, _ = domain.APPROVAL_MESSAGES[name]
    enrolment_id = data.get("enrolment_id")
    record = tx.db[APPROVALS].find_one({"_id": enrolment_id}, session=tx.session) if enrolment_id else None
    decided = bool(record and record.get("decision"))
    token, key = None, None

    if name in domain.APPROVAL_DECISIONS:
        _close_approval(tx, enrolment_id, domain.APPROVAL_DECISIONS[name], event, now)
    elif decided:
        # Another queue delivered the decision first: a link or reminder now would ask for a
        # decision already taken.
        log.info("%s for enrolment %s arrived after its decision (%s); no message", name, enrolment_id,
                 record["decision"])
        return []
    elif name == "approval_link":
        token = data["token"]
        expires_at = parse_time(data["expires_at"])
        tx.db[APPROVALS].update_one({"_id": enrolment_id}, {"$set": {
            "approver_nip": data["approver_nip"], "participant_nip": data["participant_nip"],
            "programme_code": data["programme_code"], "token": token, "expires_at": expires_at,
            "source_event_id": event.id, "updated_at": now, "purge_at": expires_at + DECIDED_KEPT}},
            upsert=True, session=tx.session)
        # One request message per (request, approver, deadline), whichever event carried it.
        key = f"approval:{enrolment_id}:{data['approver_nip']}:{iso(expires_at)}"
    elif name == "approval_reminded":
        # The link of the same request and approver; without one, the list of requests.
        if record and record.get("token") and record.get("approver_nip") == data["approver_nip"]:
            token = record["token"]
        else:
            log.info("no link kept for enrolment %s's approver: the reminder points to the list", enrolment_id)

    names = _roster_names(tx, [data.get(k) for k in ("approver_nip", "supervisor_nip", "acting_nip")])
    context = domain.approval_context(name, data, config, token=token, names=names)
    return [create_message(tx, event, kind, context, config, now, enrolment_id=enrolment_id, key=key)]


def _close_approval(tx: Tx, enrolment_id: str, decision: str, event: Event, now: datetime) -> None:
    """A request decided or lapsed: forget its link, keep the decision a while, and drop the
    pushes about it still waiting (quiet hours): they would ask for a decision already taken."""
    tx.db[APPROVALS].update_one({"_id": enrolment_id}, {
        "$set": {"decision": decision, "decided_event_id": event.id, "updated_at": now,
                 "purge_at": now + DECIDED_KEPT},
        "$unset": {"token": ""}}, upsert=True, session=tx.session)
    waiting = {"enrolment_id": enrolment_id, "kind": {"$in": list(domain.APPROVAL_OPEN_KINDS)}}
    result = tx.db[DELIVERIES].update_many(
        {**waiting, "status": "pending"},
        {"$set": {"status": "dropped", "next_attempt_at": None, "updated_at": now,
                  "last_error": f"request {decision}"}, "$inc": {"version": 1},
         "$push": {"history": {"at": now, "outcome": "dropped", "detail": f"request {decision}"}}},
        session=tx.session)
    if result.modified_count:
        log.info("dropped %d waiting approval deliveries of enrolment %s (%s)", result.modified_count,
                 enrolment_id, decision)


def _roster_names(tx: Tx, nips: list[str | None]) -> dict[str, str]:
    wanted = [n for n in dict.fromkeys(nips) if n]
    return {r["_id"]: r["name"] for r in tx.db[ROSTER].find({"_id": {"$in": wanted}, "name": {"$exists": True}},
                                                            {"name": 1}, session=tx.session)}


# -- messages and deliveries --------------------------------------------------------------------
def create_message(tx: Tx, event: Event | None, kind: str, context: dict, config: NotificationConfig,
                   now: datetime, *, due_at: datetime | None = None, enrolment_id: str | None = None,
                   agency: str | None = None, key: str | None = None, extra: dict | None = None,
                   message_extra: dict | None = None) -> ObjectId:
    """Render and store one message for an ASN (``context["nip"]``) or, with ``agency``,
    for that agency's operator; create its deliveries (one insert for all of them)."""
    due_at = due_at or now
    rendered = renderer(config.timezone).render(kind, context)
    nip = None if agency else context["nip"]
    message_id = ObjectId()
    source_event_id = event.id if event else None
    if agency:
        contact = tx.db[AGENCY_CONTACTS].find_one({"_id": agency}, session=tx.session)
        channels = [(c, None) for c in ((contact or {}).get("channels") or ["email"])]
        recipient_key = f"agency:{agency}"
    else:
        channels = domain.channels_for(_recipient(tx, nip), kind, config)
        recipient_key = f"nip:{nip}"

    deliveries = []
    for channel, skip in channels:
        delivery = {
            "_id": ObjectId(), "key": f"{key or source_event_id}|{kind}|{recipient_key}|{channel}",
            "message_id": message_id, "nip": nip, "agency": agency, "channel": channel, "kind": kind,
            "source_event_id": source_event_id, "enrolment_id": enrolment_id,
            "urgent": domain.is_urgent(kind, config), "due_at": due_at,
            "next_attempt_at": domain.send_at(due_at, kind, channel, config),
            "attempts": 0, "last_error": None, "claimed_by": None, "claim_until": None, "version": 0,
            "created_at": now, "updated_at": now, "delivered_at": None, "history": [],
            **(extra or {}),
        }
        if skip:
            delivery.update(status="skipped", last_error=skip, next_attempt_at=None,
                            history=[{"at": now, "outcome": "skipped", "detail": skip}])
        elif channel == "inbox" and due_at <= now:
            # Nothing to send: the inbox is this database. Delivered in this transaction.
            delivery.update(status="delivered", delivered_at=now, next_attempt_at=None,
                            history=[{"at": now, "outcome": "delivered", "detail": "in inbox"}])
        else:
            delivery["status"] = "pending"
        deliveries.append(delivery)
    delivered = [d for d in deliveries if d["status"] == "delivered"]

    # A message whose inbox delivery is recorded here is in the inbox from its insert on.
    tx.db[MESSAGES].insert_one({
        "_id": message_id, "nip": nip, "agency": agency, "kind": kind,
        "subject": rendered.subject, "text": rendered.text, "html": rendered.html, "short": rendered.short,
        "source_event_id": source_event_id, "enrolment_id": enrolment_id, "created_at": now, "due_at": due_at,
        "visible_at": now if any(d["channel"] == "inbox" for d in delivered) else None, "read_at": None,
        "dropped": False, **(extra or {}), **(message_extra or {}),
    }, session=tx.session)
    try:
        tx.db[DELIVERIES].insert_many(deliveries, ordered=True, session=tx.session)
    except BulkWriteError as exc:
        if any(e.get("code") == DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
            # Already created by an earlier application of the same event: skip it all.
            raise Duplicate() from None
        raise
    if delivered:
        tx.emit_many([_delivered_event(d, now) for d in delivered])
    return message_id


def _delivered_event(delivery: dict, at: datetime) -> tuple[str, str, dict]:
    return ("delivered", str(delivery["_id"]), {
        "delivery_id": str(delivery["_id"]), "nip": delivery.get("nip") or "", "channel": delivery["channel"],
        "message_kind": delivery["kind"], "source_event_id": delivery.get("source_event_id"),
        "agency": delivery.get("agency"), "delivered_at": iso(at)})


def emit_delivered(tx: Tx, delivery: dict, at: datetime) -> None:
    tx.emit(*_delivered_event(delivery, at))


def emit_failed(tx: Tx, delivery: dict, reason: str, attempts: int, at: datetime) -> None:
    tx.emit(*_failed_event(delivery, reason, attempts, at))


def _failed_event(delivery: dict, reason: str, attempts: int, at: datetime) -> tuple[str, str, dict]:
    return ("failed", str(delivery["_id"]), {
        "delivery_id": str(delivery["_id"]), "nip": delivery.get("nip") or "", "channel": delivery["channel"],
        "message_kind": delivery["kind"], "source_event_id": delivery.get("source_event_id"),
        "agency": delivery.get("agency"), "reason": reason[:500], "attempts": attempts,
        "failed_at": iso(at)})


def show_in_inbox(tx: Tx, message_id: ObjectId, at: datetime) -> None:
    tx.db[MESSAGES].update_one({"_id": message_id, "visible_at": None}, {"$set": {"visible_at": at}},
                               session=tx.session)


# -- enrolments: reminders and order-independent cancellation ----------------------------------
def _record_cancellation(tx: Tx, data: dict, now: datetime) -> None:
    cancelled_at = parse_time(data["cancelled_at"])
    enrolment_id = data["enrolment_id"]
    state = tx.db[ENROLMENTS].find_one({"_id": enrolment_id}, session=tx.session) or {}
    latest = max(filter(None, [state.get("cancelled_at"), cancelled_at]))
    tx.db[ENROLMENTS].update_one({"_id": enrolment_id}, {"$set": {"cancelled_at": latest}},
                                 upsert=True, session=tx.session)
    # Drop reminders scheduled by an enrolment this cancellation ends (not a later re-enrolment).
    stale = {"enrolment_id": enrolment_id, "kind": "reminder", "enrolled_at": {"$lte": cancelled_at}}
    result = tx.db[DELIVERIES].update_many(
        {**stale, "status": "pending"},
        {"$set": {"status": "dropped", "next_attempt_at": None, "updated_at": now,
                  "last_error": "enrolment cancelled"}, "$inc": {"version": 1},
         "$push": {"history": {"at": now, "outcome": "dropped", "detail": "enrolment cancelled"}}},
        session=tx.session)
    tx.db[MESSAGES].update_many({**stale, "visible_at": None}, {"$set": {"dropped": True}}, session=tx.session)
    if result.modified_count:
        log.info("dropped %d reminder deliveries of cancelled enrolment %s", result.modified_count, enrolment_id)


def _is_stale(tx: Tx, enrolment_id: str, event_at: datetime) -> bool:
    state = tx.db[ENROLMENTS].find_one({"_id": enrolment_id}, session=tx.session) or {}
    return domain.superseded_by_cancellation(event_at, state.get("cancelled_at"))


def _schedule_reminder(tx: Tx, event: Event, config: NotificationConfig, now: datetime) -> ObjectId | None:
    data = event.data
    programme = data["programme"]
    due = domain.reminder_due(parse_time(programme.get("starts_at")), now, config)
    if due is None:
        return None
    enrolled_at = parse_time(data["enrolled_at"])
    tx.db[ENROLMENTS].update_one({"_id": data["enrolment_id"]}, {"$max": {"enrolled_at": enrolled_at}},
                                 upsert=True, session=tx.session)
    context = domain.asn_context("reminder", data, config, now)
    # The event's data stays with the reminder so a rescheduled programme can re-render it.
    return create_message(tx, event, "reminder", context, config, now, due_at=due,
                          enrolment_id=data["enrolment_id"], extra={"enrolled_at": enrolled_at},
                          message_extra={"programme_code": programme["code"], "source_data": data})


def _reschedule_reminders(tx: Tx, programme: dict, config: NotificationConfig, now: datetime) -> None:
    """A programme moved: waiting reminders follow its new start (and show the new date)."""
    starts_at = parse_time(programme.get("starts_at"))
    waiting = tx.db[MESSAGES].find({"kind": "reminder", "programme_code": programme["code"], "visible_at": None,
                                    "dropped": False}, session=tx.session)
    for message in list(waiting):
        pending = {"message_id": message["_id"], "status": "pending"}
        if starts_at is None or starts_at <= now:
            tx.db[MESSAGES].update_one({"_id": message["_id"]}, {"$set": {"dropped": True}}, session=tx.session)
            tx.db[DELIVERIES].update_many(pending, {
                "$set": {"status": "dropped", "next_attempt_at": None, "updated_at": now,
                         "last_error": "programme has no upcoming start"}, "$inc": {"version": 1},
                "$push": {"history": {"at": now, "outcome": "dropped", "detail": "programme rescheduled"}}},
                session=tx.session)
            continue
        # Moved closer than the reminder lead: remind now rather than not at all.
        due = domain.reminder_due(starts_at, now, config) or now
        data = {**message["source_data"], "programme": programme}
        rendered = renderer(config.timezone).render("reminder", domain.asn_context("reminder", data, config, now))
        tx.db[MESSAGES].update_one({"_id": message["_id"]}, {"$set": {
            "subject": rendered.subject, "text": rendered.text, "html": rendered.html, "short": rendered.short,
            "due_at": due, "source_data": data}}, session=tx.session)
        for delivery in list(tx.db[DELIVERIES].find(pending, session=tx.session)):
            tx.db[DELIVERIES].update_one({"_id": delivery["_id"], "status": "pending"}, {
                "$set": {"due_at": due, "updated_at": now,
                         "next_attempt_at": domain.send_at(due, "reminder", delivery["channel"], config)},
                "$inc": {"version": 1},
                "$push": {"history": {"at": now, "outcome": "rescheduled",
                                      "detail": f"programme starts {iso(starts_at)}"}}},
                session=tx.session)


# -- shortfalls: a nudge once per checkpoint, the supervisor's and the operator's summaries -----
def _shortfall(tx: Tx, event: Event, config: NotificationConfig, now: datetime) -> list[ObjectId]:
    data = event.data
    participant, checkpoint = data["participant"], data["checkpoint"]
    nip = participant["nip"]
    entry = roster_entry(tx, nip)
    if domain.has_left(entry):
        # The checkpoint may have been computed before the ASN left: nobody is told any more.
        log.info("shortfall of %s at %s ignored: left the roster (%s)", nip, checkpoint, entry["status"])
        return []
    created = []
    state = tx.db[NUDGES].find_one({"_id": nip}, session=tx.session)
    why_not = domain.nudge_decision(state, checkpoint, now, config)
    if why_not is None:
        context = domain.asn_context("nudge", data, config, now)
        created.append(create_message(tx, event, "nudge", context, config, now))
        tx.db[NUDGES].update_one({"_id": nip}, {"$set": {"last_nudged_at": now, "last_event_id": event.id,
                                                         "checkpoint": checkpoint},
                                                "$addToSet": {"checkpoints": checkpoint}},
                                 upsert=True, session=tx.session)
    else:
        tx.db[NUDGES].update_one({"_id": nip}, {"$inc": {"throttled": 1}}, session=tx.session)
        log.info("no nudge for %s at %s: %s", nip, checkpoint, why_not)

    targets = domain.escalation_targets(data, config)
    item = domain.shortfall_item(data, now)
    supervisor = data.get("supervisor") or {}
    if "supervisor" in targets and domain.has_left(roster_entry(tx, supervisor["nip"])):
        log.info("the supervisor of %s left the roster: %s goes to the OPD's summary", nip, checkpoint)
        targets = ("agency",)
    if "supervisor" in targets:
        _add_to_digest(tx, domain.supervisor_digest_id(supervisor["nip"], checkpoint), {
            "audience": "supervisor", "supervisor_nip": supervisor["nip"], "supervisor_name": supervisor.get("name"),
            "agency": participant["agency"], "checkpoint": checkpoint, "year": data["year"]}, item, config, now)
    if "agency" in targets:
        _add_to_digest(tx, domain.agency_digest_id(participant["agency"], checkpoint), {
            "audience": "agency", "agency": participant["agency"], "agency_name": participant.get("agency_name"),
            "checkpoint": checkpoint, "year": data["year"]}, item, config, now)
    return created


def _add_to_digest(tx: Tx, digest_id: str, header: dict, item: dict, config: NotificationConfig,
                   now: datetime) -> None:
    """Add an ASN to a summary (to an OPD's operator or to a supervisor): collected for
    ``ESCALATION_DIGEST_DELAY`` after its first entry, then sent as one message by the
    digest job; an ASN is listed once per summary, re-sent events or not."""
    digest = tx.db[ESCALATIONS].find_one({"_id": digest_id}, session=tx.session)
    if digest and any(i["nip"] == item["nip"] for i in digest["items"]):
        return  # this ASN is already in (or was already sent in) this checkpoint's summary
    due = now + config.escalation_digest_delay
    if digest is None:
        tx.db[ESCALATIONS].insert_one({"_id": digest_id, **header, "items": [item], "pending": True, "due_at": due,
                                       "sent": 0, "created_at": now}, session=tx.session)
    else:
        update = {"$push": {"items": item}, "$set": {"pending": True}}
        if not digest.get("pending"):
            update["$set"]["due_at"] = due
        tx.db[ESCALATIONS].update_one({"_id": digest_id}, update, session=tx.session)


def send_digest(tx: Tx, digest_id: str, config: NotificationConfig, now: datetime) -> ObjectId | None:
    """Turn a due summary into one message (the digest job): to the supervisor as a person
    (their inbox, and their channels), or to the agency's operator."""
    digest = tx.db[ESCALATIONS].find_one({"_id": digest_id, "pending": True}, session=tx.session)
    if digest is None:
        return None
    items = [i for i in digest["items"] if not i["notified"]]
    tx.db[ESCALATIONS].update_one(
        {"_id": digest_id},
        {"$set": {"pending": False, "items": [{**i, "notified": True} for i in digest["items"]], "sent_at": now},
         "$inc": {"sent": 1}}, session=tx.session)
    if not items:
        return None
    key = f"digest:{digest_id}:{digest['sent'] + 1}"
    if digest.get("audience") == "supervisor":
        # The roster's name of the supervisor first (newest), else the one the event carried.
        name = (roster_entry(tx, digest["supervisor_nip"]) or {}).get("name") or digest.get("supervisor_name")
        context = domain.supervisor_summary_context(digest, items, name, config)
        return create_message(tx, None, "supervisor_summary", context, config, now, key=key)
    contact = tx.db[AGENCY_CONTACTS].find_one({"_id": digest["agency"]}, session=tx.session)
    agency_name = domain.agency_name(digest["agency"], digest.get("agency_name"))
    context = domain.escalation_context(digest, items, contact, agency_name, config)
    return create_message(tx, None, "escalation", context, config, now, agency=digest["agency"], key=key)


# -- the delivery job: claims and outcomes ------------------------------------------------------
# Claims run in a transaction: a conflict with a transaction a killed replica left open then
# fails fast and is retried, where a plain write would spin inside SecantusDB holding its lock.
def claim(tx: Tx, candidates: list, token: str, now: datetime, until: datetime) -> None:
    """Take the candidates still pending and due under the claim ``token`` (another replica
    may have taken some in between: the filter repeats "pending and due")."""
    tx.db[DELIVERIES].update_many(
        {"_id": {"$in": candidates}, "status": "pending", "next_attempt_at": {"$lte": now}},
        {"$set": {"status": "sending", "claimed_by": token, "claim_until": until}, "$inc": {"version": 1}},
        session=tx.session)


def release_expired_claims(tx: Tx, now: datetime) -> int:
    """Claims of replicas that died mid-send become pending again; returns how many."""
    result = tx.db[DELIVERIES].update_many(
        {"status": "sending", "claim_until": {"$lt": now}},
        {"$set": {"status": "pending", "claimed_by": None, "claim_until": None}, "$inc": {"version": 1},
         "$push": {"history": {"at": now, "outcome": "claim_expired", "detail": "sender did not finish"}}},
        session=tx.session)
    return result.modified_count


def _outcome(delivery: dict, status: str, detail: str, attempts: int, config: NotificationConfig,
             now: datetime) -> tuple[dict, dict]:
    """(the fields an outcome sets, the update that records it)."""
    update = {"status": status, "attempts": attempts, "updated_at": now, "claimed_by": None,
              "claim_until": None, "last_error": None if status == "delivered" else detail,
              "next_attempt_at": None}
    if status == "pending":
        update["next_attempt_at"] = domain.retry_at(now, attempts, delivery["kind"], delivery["channel"], config)
    if status == "delivered":
        update["delivered_at"] = now
    entry = {"at": now, "outcome": domain.outcome_of(status), "detail": detail[:500]}
    return update, {"$set": update, "$push": {"history": entry}, "$inc": {"version": 1}}


def _outcome_events(delivery: dict, status: str, detail: str, attempts: int, now: datetime) -> list[tuple]:
    if status == "delivered":
        return [_delivered_event(delivery, now)]
    if status in ("failed", "undeliverable"):
        return [_failed_event(delivery, detail, attempts, now)]
    return []


def _claimed(delivery: dict) -> dict:
    # The claim token alone proves the claim still holds (and keeps this a point update).
    return {"_id": delivery["_id"], "claimed_by": delivery["claimed_by"]}


def record_outcome(tx: Tx, delivery: dict, status: str, detail: str, attempts: int, config: NotificationConfig,
                   now: datetime) -> dict | None:
    """Record a delivery's outcome while its claim still holds, with its event; returns what
    was set, or None when the claim expired and another replica took over."""
    update, change = _outcome(delivery, status, detail, attempts, config, now)
    result = tx.db[DELIVERIES].update_one(_claimed(delivery), change, session=tx.session)
    if result.matched_count == 0:
        return None
    if status == "delivered" and delivery["channel"] == "inbox":
        show_in_inbox(tx, delivery["message_id"], now)
    events = _outcome_events(delivery, status, detail, attempts, now)
    if events:
        tx.emit_many(events)
    return update


class ClaimLost(Exception):
    """A claim of a group of outcomes no longer held: the group's transaction is abandoned."""


def record_outcomes(tx: Tx, outcomes: list[tuple[dict, str, str, int, datetime]],
                    config: NotificationConfig) -> list[dict]:
    """Record the outcomes of several pushed (not inbox) deliveries at once, each while its
    claim still holds, with their events: one update command and one outbox insert for the
    group. ``outcomes``: (delivery, status, detail, attempts, now). Raises ClaimLost (and so
    writes nothing) when any claim expired: each is then recorded on its own."""
    updates, writes, events = [], [], []
    for delivery, status, detail, attempts, now in outcomes:
        update, change = _outcome(delivery, status, detail, attempts, config, now)
        updates.append(update)
        writes.append(UpdateOne(_claimed(delivery), change))
        events += _outcome_events(delivery, status, detail, attempts, now)
    result = tx.db[DELIVERIES].bulk_write(writes, ordered=True, session=tx.session)
    if result.matched_count != len(writes):
        raise ClaimLost()
    if events:
        tx.emit_many(events)
    return updates


# -- recipients, agency contacts, the inbox -----------------------------------------------------
def put_recipient(tx: Tx, fields: dict, now: datetime, check: domain.WriteCheck | None = None) -> tuple[str, dict]:
    """Create or replace one recipient; returns (created|updated|unchanged, record). The name
    and agency of an ASN on the roster are the roster's, whoever writes."""
    nip = fields["nip"]
    existing = tx.db[RECIPIENTS].find_one({"_id": nip}, session=tx.session)
    if check is not None:
        fields = check(fields, existing, queries.known_agency(tx.db, nip, session=tx.session))
    fields = domain.as_on_roster(fields, queries.listed(tx.db, [nip], session=tx.session).get(nip))
    if domain.same_recipient(existing, fields):
        return "unchanged", existing
    record = {"_id": nip, **fields, "created_at": (existing or {}).get("created_at", now), "updated_at": now}
    tx.db[RECIPIENTS].replace_one({"_id": nip}, record, upsert=True, session=tx.session)
    return ("updated" if existing else "created"), record


def register_recipients(db, rows: list[tuple[int, str, dict]], now: datetime,
                        check: domain.WriteCheck | None = None) -> dict:
    """Register the valid rows of an upload ((line, NIP, request body) each); per-row
    results. Sending the same file again is harmless.

    Not in a transaction (takes ``db``): SecantusDB did not commit one of 10,000 replacements
    (it failed after 116 s; the same writes outside one take 6 s). Each row is an idempotent
    replace of its own record, so an interrupted upload is simply sent again.
    """
    results, writes, seen = [], [], {}
    nips = [nip for _, nip, _ in rows]
    existing = {r["_id"]: r for r in db[RECIPIENTS].find({"_id": {"$in": nips}})}
    known = queries.known_agencies(db, nips) if check is not None else {}
    listed = queries.listed(db, nips)
    for line, nip, body in rows:
        result = {"row": line, "nip": nip or None}
        try:
            if nip in seen:
                raise Invalid(f"NIP {nip} appears again (first on line {seen[nip]})", field="nip")
            # Row by row, as PUT /recipients/{nip} would check it.
            fields = schemas.load_recipient(nip, body)
            if check is not None:
                fields = check(fields, existing.get(nip), known.get(nip))
            fields = domain.as_on_roster(fields, listed.get(nip))
        except ValidationError as exc:
            results.append({**result, "status": "invalid", "errors": exc.messages})
            continue
        except (Invalid, Forbidden) as exc:
            results.append({**result, "status": "invalid", "errors": {exc.field or "row": [exc.message]}})
            continue
        seen[nip] = line
        current = existing.get(nip)
        if domain.same_recipient(current, fields):
            results.append({**result, "status": "unchanged"})
            continue
        record = {"_id": nip, **fields, "created_at": (current or {}).get("created_at", now), "updated_at": now}
        writes.append(ReplaceOne({"_id": nip}, record, upsert=True))
        results.append({**result, "status": "updated" if current else "created"})
    if writes:
        db[RECIPIENTS].bulk_write(writes, ordered=False)
    counts = {s: sum(1 for r in results if r["status"] == s) for s in ("created", "updated", "unchanged", "invalid")}
    return {"total": len(results), **counts, "rows": results}


def put_agency_contact(tx: Tx, fields: dict, now: datetime) -> tuple[str, dict]:
    """Set an agency's operator contact; returns (created|updated|unchanged, record)."""
    code = fields["agency"]
    existing = tx.db[AGENCY_CONTACTS].find_one({"_id": code}, session=tx.session)
    if existing is not None and all(existing.get(k) == v for k, v in fields.items()):
        return "unchanged", existing
    record = {"_id": code, **fields, "updated_at": now}
    tx.db[AGENCY_CONTACTS].replace_one({"_id": code}, record, upsert=True, session=tx.session)
    return ("updated" if existing else "created"), record


def mark_read(tx: Tx, nip: str, message_id: ObjectId, now: datetime) -> dict | None:
    """Mark one inbox message read; reading it again keeps the first time. Returns the
    message (its ``read_at``), or None when the ASN's inbox has no such message."""
    in_inbox = {"_id": message_id, "nip": nip, "visible_at": {"$ne": None}, "dropped": {"$ne": True}}
    tx.db[MESSAGES].update_one({**in_inbox, "read_at": None}, {"$set": {"read_at": now}}, session=tx.session)
    return tx.db[MESSAGES].find_one(in_inbox, {"read_at": 1}, session=tx.session)
