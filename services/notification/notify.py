"""What an event does to the notification database, inside the handler's transaction.

Each event creates its message(s) and one delivery per (event, kind, recipient, channel);
the delivery worker sends them later. Inbox deliveries that are due at once are
delivered here, in the same transaction. Everything is written with ``tx.session``, and
``delivered``/``failed`` events go through the outbox (``tx.emit``).
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from services.notification import access, domain, messages
from services.notification.config import Clock, NotificationConfig
from services.notification.store import (AGENCY_CONTACTS, DELIVERIES, ENROLMENTS, ESCALATIONS, MESSAGES, NUDGES,
                                         RECIPIENTS)
from services.notification.templates import Renderer
from shared.events.envelope import Event
from shared.reference import agency as reference_agency
from shared.store import Duplicate, Tx

log = logging.getLogger(__name__)


def iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def emit_delivered(tx: Tx, delivery: dict, at: datetime) -> None:
    tx.emit("delivered", str(delivery["_id"]), {
        "delivery_id": str(delivery["_id"]), "nip": delivery.get("nip") or "", "channel": delivery["channel"],
        "message_kind": delivery["kind"], "source_event_id": delivery.get("source_event_id"),
        "agency": delivery.get("agency"), "delivered_at": iso(at)})


def emit_failed(tx: Tx, delivery: dict, reason: str, attempts: int, at: datetime) -> None:
    tx.emit("failed", str(delivery["_id"]), {
        "delivery_id": str(delivery["_id"]), "nip": delivery.get("nip") or "", "channel": delivery["channel"],
        "message_kind": delivery["kind"], "source_event_id": delivery.get("source_event_id"),
        "agency": delivery.get("agency"), "reason": reason[:500], "attempts": attempts, "failed_at": iso(at)})


def show_in_inbox(tx: Tx, message_id: ObjectId, at: datetime) -> None:
    tx.db[MESSAGES].update_one({"_id": message_id, "visible_at": None}, {"$set": {"visible_at": at}},
                               session=tx.session)


class Notifier:
    """Turns public events into messages and deliveries (one instance per container)."""

    def __init__(self, config: NotificationConfig, clock: Clock, renderer: Renderer | None = None):
        self.config = config
        self.clock = clock
        self.renderer = renderer or Renderer(config.timezone)

    # -- entry: one event ---------------------------------------------------------------
    def handle(self, tx: Tx, event: Event) -> list[ObjectId]:
        """Apply ``event``; returns the ids of the messages it created."""
        now = self.clock()
        data = event.data
        # Where enrollment places the ASN decides which operator may see their data (access.py).
        access.record_from_event(tx, event, now)
        if event.name == "programme_updated":
            self._reschedule_reminders(tx, data["programme"], now)
            return []
        kind = domain.kind_of(event.service, event.name, data)
        if event.name == "cancelled":
            self._record_cancellation(tx, data)
        if event.name in ("enrolled", "waitlisted"):
            at = domain.parse_time(data["enrolled_at" if event.name == "enrolled" else "waitlisted_at"])
            if self._is_stale(tx, data["enrolment_id"], at):
                log.info("%s for enrolment %s is older than its cancellation; no message", event.name,
                         data["enrolment_id"])
                return []
        if kind == "nudge":
            return self._shortfall(tx, event, now)

        created = [self.create_message(tx, event, kind, messages.asn_context(kind, data, self.config, now), now,
                                       enrolment_id=data.get("enrolment_id"))]
        if event.name == "enrolled":
            reminder = self._schedule_reminder(tx, event, now)
            if reminder:
                created.append(reminder)
        return created

    # -- messages and deliveries ---------------------------------------------------------
    def create_message(self, tx: Tx, event: Event | None, kind: str, context: dict, now: datetime, *,
                       due_at: datetime | None = None, enrolment_id: str | None = None,
                       agency: str | None = None, key: str | None = None, extra: dict | None = None,
                       message_extra: dict | None = None) -> ObjectId:
        """Render and store one message for an ASN (``context["nip"]``) or, with ``agency``,
        for that agency's operator; create its deliveries."""
        due_at = due_at or now
        rendered = self.renderer.render(kind, context)
        nip = None if agency else context["nip"]
        message_id = ObjectId()
        source_event_id = event.id if event else None
        tx.db[MESSAGES].insert_one({
            "_id": message_id, "nip": nip, "agency": agency, "kind": kind,
            "subject": rendered.subject, "text": rendered.text, "html": rendered.html, "short": rendered.short,
            "source_event_id": source_event_id, "enrolment_id": enrolment_id, "created_at": now, "due_at": due_at,
            "visible_at": None, "read_at": None, "dropped": False, **(extra or {}), **(message_extra or {}),
        }, session=tx.session)

        if agency:
            contact = tx.db[AGENCY_CONTACTS].find_one({"_id": agency}, session=tx.session)
            channels = [(c, None) for c in ((contact or {}).get("channels") or ["email"])]
            recipient_key = f"agency:{agency}"
        else:
            recipient = tx.db[RECIPIENTS].find_one({"_id": nip}, session=tx.session)
            channels = domain.channels_for(recipient, kind, self.config)
            recipient_key = f"nip:{nip}"

        for channel, skip in channels:
            delivery = {
                "_id": ObjectId(), "key": f"{key or source_event_id}|{kind}|{recipient_key}|{channel}",
                "message_id": message_id, "nip": nip, "agency": agency, "channel": channel, "kind": kind,
                "source_event_id": source_event_id, "enrolment_id": enrolment_id,
                "urgent": domain.is_urgent(kind, self.config), "due_at": due_at,
                "next_attempt_at": domain.send_at(due_at, kind, channel, self.config),
                "attempts": 0, "last_error": None, "claimed_by": None, "claim_until": None, "version": 0,
                "created_at": now, "updated_at": now, "delivered_at": None, "history": [],
                **(extra or {}),
            }
            if skip:
                delivery.update(status="skipped", last_error=skip, next_attempt_at=None,
                                history=[{"at": now, "outcome": "skipped", "detail": skip}])
            elif channel == "inbox" and due_at <= now:
                # Nothing to send: the inbox is this database. Deliver in this transaction.
                delivery.update(status="delivered", delivered_at=now, next_attempt_at=None,
                                history=[{"at": now, "outcome": "delivered", "detail": "in inbox"}])
                show_in_inbox(tx, message_id, now)
            else:
                delivery["status"] = "pending"
            try:
                tx.db[DELIVERIES].insert_one(delivery, session=tx.session)
            except DuplicateKeyError:
                # Already created by an earlier application of the same event: skip it all.
                raise Duplicate() from None
            if delivery["status"] == "delivered":
                emit_delivered(tx, delivery, now)
        return message_id

    # -- enrolments: reminders and order-independent cancellation ------------------------
    def _record_cancellation(self, tx: Tx, data: dict) -> None:
        cancelled_at = domain.parse_time(data["cancelled_at"])
        enrolment_id = data["enrolment_id"]
        state = tx.db[ENROLMENTS].find_one({"_id": enrolment_id}, session=tx.session) or {}
        latest = max(filter(None, [state.get("cancelled_at"), cancelled_at]))
        tx.db[ENROLMENTS].update_one({"_id": enrolment_id}, {"$set": {"cancelled_at": latest}},
                                     upsert=True, session=tx.session)
        # Drop reminders scheduled by an enrolment this cancellation ends (not a later re-enrolment).
        stale = {"enrolment_id": enrolment_id, "kind": "reminder", "enrolled_at": {"$lte": cancelled_at}}
        now = self.clock()
        result = tx.db[DELIVERIES].update_many(
            {**stale, "status": "pending"},
            {"$set": {"status": "dropped", "next_attempt_at": None, "updated_at": now,
                      "last_error": "enrolment cancelled"}, "$inc": {"version": 1},
             "$push": {"history": {"at": now, "outcome": "dropped", "detail": "enrolment cancelled"}}},
            session=tx.session)
        tx.db[MESSAGES].update_many({**stale, "visible_at": None}, {"$set": {"dropped": True}}, session=tx.session)
        if result.modified_count:
            log.info("dropped %d reminder deliveries of cancelled enrolment %s", result.modified_count, enrolment_id)

    def _is_stale(self, tx: Tx, enrolment_id: str, event_at: datetime) -> bool:
        state = tx.db[ENROLMENTS].find_one({"_id": enrolment_id}, session=tx.session) or {}
        return domain.superseded_by_cancellation(event_at, state.get("cancelled_at"))

    def _schedule_reminder(self, tx: Tx, event: Event, now: datetime) -> ObjectId | None:
        data = event.data
        programme = data["programme"]
        due = domain.reminder_due(domain.parse_time(programme.get("starts_at")), now, self.config)
        if due is None:
            return None
        enrolled_at = domain.parse_time(data["enrolled_at"])
        tx.db[ENROLMENTS].update_one({"_id": data["enrolment_id"]}, {"$max": {"enrolled_at": enrolled_at}},
                                     upsert=True, session=tx.session)
        context = messages.asn_context("reminder", data, self.config, now)
        # The event's data stays with the reminder so a rescheduled programme can re-render it.
        return self.create_message(tx, event, "reminder", context, now, due_at=due,
                                   enrolment_id=data["enrolment_id"], extra={"enrolled_at": enrolled_at},
                                   message_extra={"programme_code": programme["code"], "source_data": data})

    def _reschedule_reminders(self, tx: Tx, programme: dict, now: datetime) -> None:
        """A programme moved: waiting reminders follow its new start (and show the new date)."""
        starts_at = domain.parse_time(programme.get("starts_at"))
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
            due = domain.reminder_due(starts_at, now, self.config) or now
            data = {**message["source_data"], "programme": programme}
            rendered = self.renderer.render("reminder", messages.asn_context("reminder", data, self.config, now))
            tx.db[MESSAGES].update_one({"_id": message["_id"]}, {"$set": {
                "subject": rendered.subject, "text": rendered.text, "html": rendered.html, "short": rendered.short,
                "due_at": due, "source_data": data}}, session=tx.session)
            for delivery in list(tx.db[DELIVERIES].find(pending, session=tx.session)):
                tx.db[DELIVERIES].update_one({"_id": delivery["_id"], "status": "pending"}, {
                    "$set": {"due_at": due, "updated_at": now,
                             "next_attempt_at": domain.send_at(due, "reminder", delivery["channel"], self.config)},
                    "$inc": {"version": 1},
                    "$push": {"history": {"at": now, "outcome": "rescheduled", "detail": f"programme starts {iso(starts_at)}"}}},
                    session=tx.session)

    # -- shortfalls: throttled nudges and the operator's digest ---------------------------
    def _shortfall(self, tx: Tx, event: Event, now: datetime) -> list[ObjectId]:
        data = event.data
        nip = data["participant"]["nip"]
        created = []
        last = tx.db[NUDGES].find_one({"_id": nip}, session=tx.session)
        if domain.nudge_allowed((last or {}).get("last_nudged_at"), now, self.config):
            context = messages.asn_context("nudge", data, self.config, now)
            created.append(self.create_message(tx, event, "nudge", context, now))
            tx.db[NUDGES].update_one({"_id": nip}, {"$set": {"last_nudged_at": now, "last_event_id": event.id,
                                                             "checkpoint": data["checkpoint"]}},
                                     upsert=True, session=tx.session)
        else:
            tx.db[NUDGES].update_one({"_id": nip}, {"$inc": {"throttled": 1}}, session=tx.session)
            log.info("nudge for %s throttled (last one at %s)", nip, last["last_nudged_at"])
        if domain.escalates(data["consecutive_shortfalls"], self.config):
            self._add_to_digest(tx, data, now)
        return created

    def _add_to_digest(self, tx: Tx, data: dict, now: datetime) -> None:
        participant = data["participant"]
        digest_id = f"{participant['agency']}|{data['checkpoint']}"
        digest = tx.db[ESCALATIONS].find_one({"_id": digest_id}, session=tx.session)
        if digest and any(i["nip"] == participant["nip"] for i in digest["items"]):
            return  # this ASN is already in (or was already sent in) this checkpoint's summary
        item = {"nip": participant["nip"], "name": participant["name"], "jp_total": data["jp_total"],
                "jp_target": data["jp_target"], "jp_missing": data["jp_missing"],
                "consecutive_shortfalls": data["consecutive_shortfalls"], "notified": False, "added_at": now}
        # Collect the checkpoint's shortfalls for a while, then send the operator one summary.
        due = now + self.config.escalation_digest_delay
        if digest is None:
            tx.db[ESCALATIONS].insert_one({
                "_id": digest_id, "agency": participant["agency"],
                "agency_name": participant.get("agency_name"), "checkpoint": data["checkpoint"],
                "year": data["year"], "items": [item], "pending": True, "due_at": due, "sent": 0,
                "created_at": now}, session=tx.session)
        else:
            update = {"$push": {"items": item}, "$set": {"pending": True}}
            if not digest.get("pending"):
                update["$set"]["due_at"] = due
            tx.db[ESCALATIONS].update_one({"_id": digest_id}, update, session=tx.session)

    def send_digest(self, tx: Tx, digest_id: str, now: datetime) -> ObjectId | None:
        """Turn a due digest into one message to the agency's operator (scheduler job)."""
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
        contact = tx.db[AGENCY_CONTACTS].find_one({"_id": digest["agency"]}, session=tx.session)
        known = reference_agency(digest["agency"])
        agency_name = digest.get("agency_name") or (known.name if known else digest["agency"])
        context = messages.escalation_context(digest, items, contact, agency_name, self.config)
        return self.create_message(tx, None, "escalation", context, now, agency=digest["agency"],
                                   key=f"digest:{digest_id}:{digest['sent'] + 1}")
