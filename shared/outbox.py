"""The outbox relay: publishes committed outbox records to ``<service>.events``.

One relay per replica; a lease in the store makes one of them the publisher at a time,
so several replicas do not publish the same record twice in normal operation. A record
is marked sent only after the broker confirmed it; a crash in between republishes it
(consumers are idempotent). Sent records stay as the service's event log for replay, for
``OUTBOX_RETENTION_DAYS`` (0, the default: forever; ADR 0091).

A private record (``<service>.private``: contact data, ADR 0080) is never replayed, so once
the broker has it its personal fields serve no purpose in the log: the update that marks it
sent also sets them to None and the record ``redacted`` (data minimisation; the roster upload
is the source of truth).
"""
from __future__ import annotations

import logging
import time
from datetime import datetime, timezone

from kombu import Connection, Exchange, Producer
from kombu.exceptions import ChannelError

from shared import metrics
from shared.background import LEASES, Lease, LeasedLoop, holder_id
from shared.broker_security import user_of
from shared import topology
from shared.config import Settings
from shared.events.envelope import CONTENT_TYPE, encode
from shared.mongo import OUTBOX, SENT_ON, connect

log = logging.getLogger(__name__)
RELAY_LEASE = RELAY_LOOP = "outbox-relay"
FULL_SWEEP_EVERY_S = 2.0  # records committed late with a lower _id are caught by a full sweep
BACKLOG_EVERY_S = 5.0
# What a sent private event keeps: whom it was about and which version it was.
KEPT_PRIVATE_FIELDS = frozenset({"nip", "version", "changed_at"})


def amqp_connection(amqp_uri: str) -> Connection:
    return Connection(amqp_uri, heartbeat=30, transport_options={"confirm_publish": True},
                      connect_timeout=5)


class Relay:
    """Publishing logic, independent of nameko so scripts and tests can drive it."""

    def __init__(self, settings: Settings, holder: str | None = None):
        self.settings = settings
        self.client = connect(settings)
        self.db = self.client[settings.db_name]
        self.holder = holder or holder_id()
        self.lease = Lease(self.db[LEASES], RELAY_LEASE, self.holder, settings.relay_lease_s)
        self.connection: Connection | None = None
        self.producer: Producer | None = None
        self._cursor = None
        self._last_sweep = 0.0
        self._last_backlog = 0.0
        self.unroutable = 0
        self.published = 0
        # RabbitMQ checks user_id against the connection's user: consumers can trust it.
        self.broker_user = user_of(settings.amqp_uri)

    # -- broker --------------------------------------------------------------------------
    def _producer(self) -> Producer:
        if self.producer is None:
            self.connection = amqp_connection(self.settings.amqp_uri)
            self.connection.ensure_connection(max_retries=1)
            channel = self.connection.channel()
            Exchange(self.settings.events_exchange, "topic", durable=True)(channel).declare()
            if topology.has_private_events(self.settings.service):
                topology.private_exchange(self.settings.service)(channel).declare()
            self.producer = Producer(channel)
        return self.producer

    def reset(self) -> None:
        """Drop the broker connection (after an error; the next pass reconnects)."""
        if self.connection is not None:
            try:
                self.connection.release()
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass
        self.connection = self.producer = None

    def close(self) -> None:
        self.reset()
        self.client.close()

    def drain(self) -> None:
        """Graceful stop: publish what the stopped entrypoints committed, then hand over."""
        self.flush()
        self.lease.release()

    def publish_record(self, record: dict) -> bool:
        """Publish one outbox record with a confirm; False when the broker returned it."""
        event = record["event"]
        try:
            self._producer().publish(
                encode(event), exchange=record["exchange"], routing_key=record["routing_key"],
                content_type=CONTENT_TYPE, content_encoding="utf-8", delivery_mode=2,
                mandatory=True, message_id=event["id"], type=event["type"], user_id=self.broker_user,
                headers={"ce_id": event["id"], "ce_type": event["type"],
                         "correlation_id": event.get("correlationid") or ""},
                retry=False)
            return True
        except ChannelError as exc:  # basic.return: no queue is bound for this routing key
            if "NO_ROUTE" not in str(exc) and "312" not in str(exc):
                raise
            return False

    # -- one pass ------------------------------------------------------------------------
    def pending(self, limit: int) -> list[dict]:
        query = {"sent": False}
        if self._cursor is not None and time.monotonic() - self._last_sweep < FULL_SWEEP_EVERY_S:
            query["_id"] = {"$gt": self._cursor}
        else:
            self._last_sweep = time.monotonic()
        return list(self.db[OUTBOX].find(query).sort("_id", 1).limit(limit))

    def run_once(self) -> int:
        """Publish one batch if this replica holds the lease; returns how many were sent."""
        # The page is read before the lease is checked: records committed after a takeover
        # are then never in a page this replica still thinks it may publish.
        batch = self.pending(self.settings.relay_batch_size)
        if not self.lease.held():
            metrics.RELAY_LEADER.set(0)
            return 0
        metrics.RELAY_LEADER.set(1)
        self._update_backlog()
        if not batch:
            self._cursor = None
            return 0
        routed, returned = [], []
        for record in batch:
            (routed if self.publish_record(record) else returned).append(record)
        self._mark_sent(routed, returned)
        self.published += len(routed)
        self.unroutable += len(returned)
        self._cursor = batch[-1]["_id"]
        return len(batch)

    def _mark_sent(self, routed: list[dict], returned: list[dict]) -> None:
        now = time.time()
        # sent_on is the date the retention TTL index reads (OUTBOX_RETENTION_DAYS, ADR 0091);
        # a record not yet sent has none, so it never expires.
        marked = {"sent": True, "sent_at": now, SENT_ON: datetime.fromtimestamp(now, timezone.utc)}
        # Kept in the log, flagged: an operator can replay once a subscriber is bound.
        for records, sent in ((routed, marked), (returned, {**marked, "unroutable": True})):
            for ids, update in _sent_updates(records, sent):
                self.db[OUTBOX].update_many({"_id": {"$in": ids}}, {"$set": update})
        for record in returned:
            metrics.EVENTS_UNROUTABLE.labels(record["event"]["type"]).inc()
            log.warning("unroutable event returned by the broker: %s %s", record["event"]["type"],
                        record["event"]["id"], extra={"event_id": record["event"]["id"],
                                                      "correlation_id": record["event"].get("correlationid")})
        for record in routed:
            metrics.EVENTS_PUBLISHED.labels(record["event"]["type"]).inc()

    def flush(self, deadline_s: float = 10.0) -> int:
        """Publish until nothing is pending (or the deadline passes)."""
        total, end = 0, time.monotonic() + deadline_s
        self._cursor = None
        while time.monotonic() < end:
            sent = self.run_once()
            total += sent
            if sent == 0:
                break
        return total

    def _update_backlog(self) -> None:
        if time.monotonic() - self._last_backlog < BACKLOG_EVERY_S:
            return
        self._last_backlog = time.monotonic()
        backlog, oldest_age = backlog_of(self.db)
        metrics.OUTBOX_BACKLOG.set(backlog)
        metrics.OUTBOX_OLDEST_AGE.set(oldest_age)


def is_private_record(record: dict) -> bool:
    """Whether an outbox record went to a ``<service>.private`` exchange (ADR 0080)."""
    return record.get("exchange", "").endswith(".private")


def _sent_updates(records: list[dict], sent: dict) -> list[tuple[list, dict]]:
    """(ids, $set) pairs marking ``records`` sent: one for the public ones; for the private
    ones, one per set of personal fields, which the same update sets to None (a returned
    private record too: it is never replayed, so its data could serve no one)."""
    public = [r["_id"] for r in records if not is_private_record(r)]
    updates: list[tuple[list, dict]] = [(public, dict(sent))] if public else []
    redactions: dict[tuple[str, ...], list] = {}
    for record in records:
        if is_private_record(record):
            personal = tuple(sorted(set(record["event"].get("data") or {}) - KEPT_PRIVATE_FIELDS))
            redactions.setdefault(personal, []).append(record["_id"])
    for personal, ids in redactions.items():
        updates.append((ids, {**sent, "redacted": True, **{f"event.data.{name}": None for name in personal}}))
    return updates


def backlog_of(db) -> tuple[int, float]:
    """(unsent records, age in seconds of the oldest one)."""
    backlog = db[OUTBOX].count_documents({"sent": False})
    oldest = db[OUTBOX].find_one({"sent": False}, sort=[("_id", 1)])
    return backlog, (time.time() - oldest["created_at"]) if oldest else 0.0


def OutboxRelay() -> LeasedLoop:  # noqa: N802 - reads as the extension it declares
    """The outbox relay of a container: one per container, whoever declares it (the store
    wakes it after a commit, certification's numbering after a batch). It runs on every
    replica; the relay checks its own lease (see ``Relay.run_once`` for why the page comes
    first)."""
    return LeasedLoop(RELAY_LOOP, Relay, interval_s=lambda settings: settings.relay_poll_interval_s)


class RelayedLoop(LeasedLoop):
    """A loop whose job commits events through ``job.store``: that store wakes the container's
    outbox relay after each commit, as the service's own store does (a job is built from the
    settings alone, so the loop hands it the relay)."""

    relay = OutboxRelay()

    def setup(self):
        super().setup()
        self.job.store.relay = self.relay
