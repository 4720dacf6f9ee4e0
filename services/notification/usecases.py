"""notification's use cases: load the request schema → check the caller's scope → one
transaction of commands (or a query) → dump the response schema. Besides the HTTP routes:
what an event does (``notify``) and the background work (``deliver`` one claimed delivery,
``send_due_digests``)."""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Callable
from weakref import WeakKeyDictionary

from eventlet.event import Event as GreenEvent
from prometheus_client import Counter

from services.notification import commands, domain, queries, schemas
from services.notification.adapters import recipients_csv
from services.notification.adapters.channels import Channels, PermanentFailure, TransientFailure
from services.notification.config import NotificationConfig
from services.notification.store import object_id
from shared import access_log
from shared import nip as nip_rules
from shared.auth import OPERATOR, Principal
from shared.background import LeasedLoop
from shared.errors import NotFound
from shared.events.envelope import Event
from shared.reference import agency as reference_agency
from shared.runtime import ServiceRuntime
from shared.store import Duplicate, Store
from shared.timefmt import parse_time

log = logging.getLogger(__name__)

DELIVERY_OUTCOMES = Counter("asn_notification_deliveries_total", "Delivery attempts by channel and outcome",
                            ["channel", "outcome"])


def _stored(runtime: ServiceRuntime) -> datetime:
    """Now at the store's millisecond precision, so an answer equals what a later read returns."""
    return parse_time(runtime.now())


def _require_staff(db, caller: Principal, nip: str, what: str) -> None:
    """An admin anyone, an ASN themself, an operator its own staff (domain.require_staff)."""
    agency = queries.trusted_agency(db, nip) if caller.role == OPERATOR else None
    domain.require_staff(caller, nip, agency, what)


# -- events -------------------------------------------------------------------------------------
def notify(store: Store, runtime: ServiceRuntime, deliveries: LeasedLoop, event: Event) -> None:
    """Apply a public event (once) and wake the delivery loop for what it created."""
    store.apply_once(event, lambda tx: commands.apply_event(tx, event, runtime.config, runtime.now()))
    deliveries.wake()


def approval(store: Store, runtime: ServiceRuntime, deliveries: LeasedLoop, event: Event) -> None:
    """A supervisor-approval or acting-supervisor event (the private ``approval_link`` among
    them): its message (once) and the request's link kept for reminders."""
    store.apply_once(event, lambda tx: commands.apply_approval_event(tx, event, runtime.config, runtime.now()))
    deliveries.wake()


def record_roster(store: Store, runtime: ServiceRuntime, event: Event) -> None:
    """``asn_registered`` / ``asn_updated`` / ``asn_left``: the roster entry (once, newest version)."""
    store.apply_once(event, lambda tx: commands.apply_roster_event(tx, event, _stored(runtime)))


def record_contact(store: Store, runtime: ServiceRuntime, event: Event) -> None:
    """The private ``asn_contact``: the roster's e-mail and telephone of an ASN (once, newest version)."""
    store.apply_once(event, lambda tx: commands.apply_contact(tx, event, _stored(runtime)))


# -- recipients ---------------------------------------------------------------------------------
def put_recipient(store: Store, runtime: ServiceRuntime, caller: Principal, nip: str,
                  body: dict) -> tuple[int, dict]:
    fields = schemas.load_recipient(nip, body)
    check, now = domain.recipient_write_check(caller), _stored(runtime)
    outcome, record = store.transaction(lambda tx: commands.put_recipient(tx, fields, now, check))
    return (201 if outcome == "created" else 200), schemas.RecipientView().dump(record)


def get_recipient(store: Store, caller: Principal, nip: str) -> dict:
    nip = nip_rules.digits_only(nip)  # the printed form (19850312 201001 1 002) in the path
    nip_rules.validate(nip, "auto")
    _require_staff(store.db, caller, nip, what=f"recipient {nip}")
    return schemas.RecipientView().dump(queries.recipient(store.db, nip))


def put_recipients_csv(store: Store, runtime: ServiceRuntime, caller: Principal, raw: bytes) -> dict:
    rows = recipients_csv.read_rows(raw)
    result = commands.register_recipients(store.db, rows, _stored(runtime), domain.recipient_write_check(caller))
    return schemas.BulkResult().dump(result)


def put_agency_contact(store: Store, runtime: ServiceRuntime, caller: Principal, code: str,
                       body: dict) -> tuple[int, dict]:
    caller.require_scope(agency=code, what=f"the contact of {code.upper()}")
    code = code.strip().upper()
    known = reference_agency(code)
    if known is None:
        raise NotFound(f"unknown OPD code {code!r}", field="code")
    data = schemas.AgencyContactSchema().load(body)
    channels = data["channels"] or (["email"] if data["email"] else ["webhook"])
    fields = {"agency": code, "agency_name": known.name, "name": data["name"], "email": data["email"],
              "phone": data["phone"], "whatsapp": data["whatsapp"], "channels": list(dict.fromkeys(channels))}
    now = _stored(runtime)
    outcome, record = store.transaction(lambda tx: commands.put_agency_contact(tx, fields, now))
    return (201 if outcome == "created" else 200), schemas.AgencyContactView().dump(record)


def get_agency_contact(store: Store, caller: Principal, code: str) -> dict:
    caller.require_scope(agency=code, what=f"the contact of {code.upper()}")
    return schemas.AgencyContactView().dump(queries.agency_contact(store.db, code))


# -- the inbox and the delivery log -------------------------------------------------------------
def inbox(store: Store, caller: Principal, nip: str, args: dict) -> dict:
    nip = nip_rules.digits_only(nip)  # the printed form (19850312 201001 1 002) in the path
    nip_rules.validate(nip, "auto")
    _require_staff(store.db, caller, nip, what=f"the inbox of {nip}")
    query = schemas.InboxQuery().load(args)
    # A read of someone else's inbox (an admin, their OPD's operator) is recorded (UU 27/2022).
    access_log.record_read(store.db, caller, nip, "inbox")
    page = queries.inbox_page(store.db, nip, unread_only=query["unread"], limit=query["limit"],
                              cursor=query["cursor"], page=query["page"])
    return schemas.InboxPage().dump(page)


def read_message(store: Store, runtime: ServiceRuntime, caller: Principal, nip: str, message_id: str) -> dict:
    nip = nip_rules.digits_only(nip)  # the printed form (19850312 201001 1 002) in the path
    nip_rules.validate(nip, "auto")
    _require_staff(store.db, caller, nip, what=f"the inbox of {nip}")
    oid, now = object_id(message_id, "message_id"), runtime.now()
    message = store.transaction(lambda tx: commands.mark_read(tx, nip, oid, now))
    if message is None:
        raise NotFound(f"no message {message_id} in the inbox of {nip}", field="message_id")
    return schemas.ReadResult().dump({"id": message_id, "read_at": message["read_at"]})


def deliveries(store: Store, caller: Principal, args: dict) -> dict:
    query = schemas.DeliveriesQuery().load(args)
    query["nip"] = caller.nip_filter(query["nip"])
    if caller.role == OPERATOR:
        if query["nip"]:  # one of its staff
            _require_staff(store.db, caller, query["nip"], what=f"the inbox of {query['nip']}")
        else:  # else only what was addressed to its agency (operator summaries)
            query["agency"] = caller.agency
    return schemas.DeliveriesPage().dump(queries.deliveries_page(store.db, **query))


# -- background: one claimed delivery, due operator summaries -----------------------------------
def deliver(store: Store, channels: Channels, config: NotificationConfig, clock: Callable[[], datetime],
            delivery: dict, inputs: tuple[dict | None, dict | None] | None = None) -> str:
    """Send one claimed delivery and record the outcome; returns the new status. ``inputs``:
    the (message, ASN contact) read with the claim, else they are read here."""
    channel, kind = delivery["channel"], delivery["kind"]

    def finish(status: str, detail: str, attempts: int | None = None) -> str:
        return _record(store, config, clock, delivery, status, detail, attempts)

    message = inputs[0] if inputs else queries.message_of(store.db, delivery)
    if message is None or message.get("dropped"):
        return finish("dropped", "message dropped")
    if channel == "inbox":
        return finish("delivered", "in inbox")

    if delivery.get("agency"):
        contact = queries.contact_of(store.db, delivery)
        who = f"agency {delivery['agency']}"
    else:
        contact = inputs[1] if inputs else queries.contact_of(store.db, delivery)
        who = f"ASN {delivery['nip']}"
        if domain.opted_out(contact, kind):
            return finish("skipped", f"opted out of {kind}")
    address = domain.address_for(channel, contact)
    if address is None:
        return finish("undeliverable", domain.missing_contact_reason(channel, who))

    attempts = delivery.get("attempts", 0) + 1
    try:
        # Recorded the moment the receiver takes the message, before the SMTP QUIT: a process
        # dying after the server's 250 and before this commit is the one way to a copy (which
        # carries the same Message-ID; docs/reliability.md, "The email guarantee").
        return channels.send(delivery, message, address, contact, clock(),
                             accepted=lambda detail: finish("delivered", detail, attempts))
    except TransientFailure as exc:
        if domain.gives_up(attempts, config):
            return finish("failed", f"gave up after {attempts} attempts: {exc}", attempts)
        return finish("pending", str(exc), attempts)
    except PermanentFailure as exc:
        return finish("failed", str(exc), attempts)


def _record(store: Store, config: NotificationConfig, clock: Callable[[], datetime], delivery: dict,
            status: str, detail: str, attempts: int | None) -> str:
    """Record the outcome while the claim holds (with its event); "lost" when it expired."""
    detail = domain.redact(detail)  # the channels name no URL; this catches what they missed
    now = clock()
    attempts = delivery.get("attempts", 0) if attempts is None else attempts
    if delivery["channel"] == "inbox":  # shows the message too: on its own
        update = store.transaction(
            lambda tx: commands.record_outcome(tx, delivery, status, detail, attempts, config, now))
    else:
        update = _recorder(store, config).record((delivery, status, detail, attempts, now))
    if update is None:
        log.warning("delivery %s: claim lost before recording %s", delivery["_id"], status)
        return "lost"
    DELIVERY_OUTCOMES.labels(delivery["channel"], domain.outcome_of(status)).inc()
    if status == "pending":
        log.info("delivery %s (%s) failed, retry at %s: %s", delivery["_id"], delivery["channel"],
                 update["next_attempt_at"], detail)
    elif status in ("failed", "undeliverable"):
        log.warning("delivery %s (%s) not delivered: %s", delivery["_id"], delivery["channel"], detail)
    return status


class _Pending:
    """One outcome waiting in an OutcomeRecorder: (delivery, status, detail, attempts, now)."""

    def __init__(self, outcome: tuple):
        self.outcome = outcome
        self._done = GreenEvent()
        self._update: dict | None = None
        self._error: BaseException | None = None

    def done(self, update: dict | None) -> None:
        if not self._done.ready():
            self._update = update
            self._done.send(None)

    def fail(self, error: BaseException) -> None:
        if not self._done.ready():
            self._error = error
            self._done.send(None)

    def result(self) -> dict | None:
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._update


class OutcomeRecorder:
    """Group commit of the outcomes of one delivery job's pushed deliveries (email, webhook).

    Each send records its outcome the moment the receiver answered (``deliver``). With no
    record being committed, that record is committed at once, alone, as before. Outcomes that
    arrive while a commit is in flight wait for it, then go together in the next transaction:
    one update command (each delivery still only while its own claim holds), one outbox
    insert and one commit for the group, instead of three commands each. Nothing waits for
    company, so the window between a receiver's answer and its record (docs/reliability.md,
    "The email guarantee") grows by at most the commit in flight, which the store's
    serialisation of commands made it wait for anyway. When any claim of a group has expired,
    the group's transaction is abandoned and each outcome is recorded on its own, so a lost
    claim is still recorded as nothing (and its event is not emitted).
    """

    def __init__(self, store: Store, config: NotificationConfig):
        self.store, self.config = store, config
        self._waiting: list[_Pending] = []
        self._committing = False

    def record(self, outcome: tuple) -> dict | None:
        """Record ``(delivery, status, detail, attempts, now)``; what was set, or None when
        the claim expired."""
        pending = _Pending(outcome)
        self._waiting.append(pending)
        if self._committing:  # the green thread committing now takes it with the next group
            return pending.result()
        self._committing = True
        group: list[_Pending] = []
        try:
            while self._waiting:
                group, self._waiting = self._waiting, []
                self._commit(group)
        except BaseException as exc:  # the committing green thread was killed: wake the others
            stopped = RuntimeError("the outcome recorder stopped before recording this outcome")
            for left in group + self._waiting:
                left.fail(stopped)
            self._waiting = []
            raise exc
        finally:
            self._committing = False
        return pending.result()

    def _commit(self, group: list[_Pending]) -> None:
        if len(group) == 1:
            self._alone(group[0])
            return
        try:
            updates = self.store.transaction(
                lambda tx: commands.record_outcomes(tx, [p.outcome for p in group], self.config))
        except commands.ClaimLost:
            for pending in group:
                self._alone(pending)
            return
        except Exception as exc:  # noqa: BLE001 - each send sees the store's error, as on its own
            for pending in group:
                pending.fail(exc)
            return
        for pending, update in zip(group, updates):
            pending.done(update)

    def _alone(self, pending: _Pending) -> None:
        delivery, status, detail, attempts, now = pending.outcome
        try:
            pending.done(self.store.transaction(
                lambda tx: commands.record_outcome(tx, delivery, status, detail, attempts, self.config, now)))
        except Exception as exc:  # noqa: BLE001 - raised in the sending green thread
            pending.fail(exc)


# One recorder per store, that is per delivery job (DeliveryJob keeps its Store for its life).
_RECORDERS: WeakKeyDictionary = WeakKeyDictionary()


def _recorder(store: Store, config: NotificationConfig) -> OutcomeRecorder:
    recorder = _RECORDERS.get(store)
    if recorder is None:
        recorder = _RECORDERS[store] = OutcomeRecorder(store, config)
    return recorder


def send_due_digests(store: Store, config: NotificationConfig, now: datetime) -> int:
    """Each summary (to a supervisor or an OPD operator) whose collection time is over becomes
    one message; returns how many."""
    sent = 0
    for digest_id in queries.due_digests(store.db, now):
        try:
            if store.transaction(lambda tx, digest_id=digest_id: commands.send_digest(tx, digest_id, config, now)):
                sent += 1
        except Duplicate:
            pass  # another replica sent it
    return sent
