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
from collections import deque
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
# After a wake the relay waits this long, so the commits of a burst (and the change stream's
# copy of a wake this process already had) are one page, not a page each.
COALESCE_S = 0.015
RECENT_IDS = 2000
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
        self.lease = RelayLease(self.db[LEASES], RELAY_LEASE, self.holder, settings.relay_lease_s)
        self.connection: Connection | None = None
        self.producer: Producer | None = None
        self.unroutable = 0
        self.published = 0
        # ids of the records this relay published last, so the change stream's copy of their
        # insert does not wake the loop for a pass that would find nothing (``wants``)
        self._recent: set = set()
        self._recent_order: deque = deque()
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
        """The oldest unsent records. Always from the start: the (sent, _id) index makes it a
        short walk however long the log (0.5 ms at 30,000 sent records), and a record
        committed late with a lower _id than the last page's is not skipped."""
        return list(self.db[OUTBOX].find({"sent": False}).sort("_id", 1).limit(limit))

    def publish_page(self) -> tuple[int, bool]:
        """Publish one page if this replica holds the lease: (records published, whether the
        page was full, so more may be waiting)."""
        limit = self.settings.relay_batch_size
        # The page is read before the lease is checked: records committed after a takeover
        # are then never in a page this replica still thinks it may publish. While the lease
        # is trusted the check sends nothing, and a takeover cannot have happened (Lease).
        batch = self.pending(limit)
        if not batch or not self.lease.held():
            return 0, False
        routed, returned = [], []
        for record in batch:
            (routed if self.publish_record(record) else returned).append(record)
        self._mark_sent(routed, returned)
        self.published += len(routed)
        self.unroutable += len(returned)
        self._remember(record["_id"] for record in batch)
        return len(batch), len(batch) >= limit

    def _remember(self, ids) -> None:
        for _id in ids:
            self._recent.add(_id)
            self._recent_order.append(_id)
        while len(self._recent_order) > RECENT_IDS:
            self._recent.discard(self._recent_order.popleft())

    def run_once(self) -> int:
        """A pass of the loop: one page. How many were published when the page was full (the
        loop reads the next at once), else 0: a record committed after this read wakes the
        loop by itself (the committing store's wake, or the change stream on ``outbox``), so
        no pass is spent finding nothing."""
        published, full = self.publish_page()
        return published if full else 0

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
        """Publish until nothing is pending (or the deadline passes); how many were published."""
        total, end = 0, time.monotonic() + deadline_s
        while time.monotonic() < end:
            published, full = self.publish_page()
            total += published
            if not full:
                break
        return total

    def wants(self, change: dict) -> bool:
        """Whether a change seen on ``outbox`` should wake the loop: not when it is a record
        this replica already published (the stream's copy of a wake the commit gave)."""
        return (change.get("documentKey") or {}).get("_id") not in self._recent

    def _update_backlog(self) -> None:
        """The outbox gauges. The relay no longer sends these two commands every few seconds:
        every replica's /metrics reads them at scrape time (shared.service_base);
        bench/store_bound.py still calls this to copy the earlier relay's store work."""
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


class RelayLease(Lease):
    """The relay's lease; ``asn_outbox_relay_leader`` follows its last write."""

    def acquire(self) -> bool:
        taken = super().acquire()
        metrics.RELAY_LEADER.set(1 if taken else 0)
        return taken

    def release(self) -> None:
        metrics.RELAY_LEADER.set(0)
        super().release()


class RelayLoop(LeasedLoop):
    """The relay's loop: it runs on every replica and the relay checks its own lease in each
    pass (see ``Relay.publish_page`` for why the page comes first); the loop renews that
    lease while idle, watches ``outbox`` while it holds it, and otherwise waits for it."""

    def leader_lease(self) -> Lease | None:
        return self.job.lease


def OutboxRelay() -> LeasedLoop:  # noqa: N802 - reads as the extension it declares
    """The outbox relay of a container: one per container, whoever declares it (the store
    wakes it after a commit, certification's numbering after a batch). Records another
    replica or a script commits wake it through its change stream on ``outbox`` (inserts:
    marking records sent is no work); ``RELAY_POLL_INTERVAL_S`` is its poll only while that
    stream is not running."""
    return RelayLoop(RELAY_LOOP, Relay, interval_s=lambda settings: settings.relay_poll_interval_s,
                     watch=(OUTBOX,), watch_operations=("insert",), coalesce_s=COALESCE_S)


class RelayedLoop(LeasedLoop):
    """A loop whose job commits events through ``job.store``: that store wakes the container's
    outbox relay after each commit, as the service's own store does (a job is built from the
    settings alone, so the loop hands it the relay)."""

    relay = OutboxRelay()

    def setup(self):
        super().setup()
        self.job.store.relay = self.relay
