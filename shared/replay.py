"""Producer-side replay of a service's event log into one named queue.

Sent outbox records stay in the producer's database as its event log (shared.outbox).
A consumer that rebuilds a read model (reporting) or a subscriber that lost its queue
asks each producer to republish that log, oldest first, straight into its own queue
(through the producer's ``<service>.replay`` exchange, routing key = queue name; the queue
must be bound there with its own name, as every platform consumer queue is), so no other
subscriber sees the copies. An admin starts it over HTTP (``POST /admin/replay``).
The events keep their ids: an idempotent consumer that kept its processed-event records
skips them; one that dropped its read model and those records applies them again.
Only public records are replayed (those sent to ``<service>.events``): a private one
(``<service>.private``, contact data, ADR 0080) never goes through ``<service>.replay``,
which external subscribers may read, and its personal fields are redacted once sent.
"""
from __future__ import annotations

import logging
from typing import Callable, Iterable

from kombu import Connection, Producer
from kombu.exceptions import ChannelError
from marshmallow import RAISE, Schema, fields, validate

from shared import topology
from shared.broker_security import user_of
from shared.events.envelope import CONTENT_TYPE, encode
from shared.store import OUTBOX

log = logging.getLogger(__name__)

PAGE_SIZE = 500
REPLAY_HEADER = "x-replayed"


class ReplayError(RuntimeError):
    """The replay cannot start or cannot continue (no such queue, broker returned a message)."""


class ReplayRequest(Schema):
    """``POST /admin/replay``: which queue receives the copies, optionally which events."""

    class Meta:
        unknown = RAISE

    queue = fields.Str(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_.:-]{1,200}$", error=(
        "a queue name of 1-200 letters, digits, '.', '_', ':' or '-'")),
        metadata={"description": "the queue to fill; it must be bound to <service>.replay with its own name"})
    types = fields.List(fields.Str(validate=validate.Length(1, 200)), validate=validate.Length(max=50),
                        load_default=None,
                        metadata={"description": "full CloudEvents types or short names; all when absent"})


class ReplayResult(Schema):
    service = fields.Str(required=True)
    queue = fields.Str(required=True)
    replayed = fields.Int(required=True, metadata={"description": "events republished"})


def _selector(service: str, types: Iterable[str] | None) -> dict:
    # the public log only: never a record of <service>.private
    query: dict = {"sent": True, "exchange": topology.events_exchange(service).name}
    wanted = sorted(set(types or ()))
    if wanted:
        # A full CloudEvents type or the short name (the routing key) both select.
        query["$or"] = [{"event.type": {"$in": wanted}}, {"routing_key": {"$in": wanted}}]
    return query


def replay_outbox(db, amqp_uri: str, service: str, queue: str, types: Iterable[str] | None = None,
                  progress: Callable[[int], None] | None = None) -> int:
    """Republish the sent outbox records of ``db`` (``service``'s log) in ``_id`` order to ``queue``.

    ``types`` limits the replay to some events (full type or short name). Each message is
    confirmed by the broker and published with ``mandatory=True``: a queue that is missing,
    not bound to ``<service>.replay`` or disappears half-way stops the replay with
    ``ReplayError`` instead of dropping events. Returns the number of events republished.
    """
    query = _selector(service, types)
    sent = 0
    exchange = topology.replay_exchange(service)
    with Connection(amqp_uri, transport_options={"confirm_publish": True}, connect_timeout=5,
                    heartbeat=30) as conn:
        producer = Producer(conn.channel())
        user = user_of(amqp_uri)
        last_id = None
        while True:
            page_query = dict(query)
            if last_id is not None:
                page_query["_id"] = {"$gt": last_id}  # page by _id: a skip() would rescan the log
            page = list(db[OUTBOX].find(page_query).sort("_id", 1).limit(PAGE_SIZE))
            if not page:
                break
            for record in page:
                _publish(producer, exchange.name, record["event"], queue, user)
                sent += 1
            last_id = page[-1]["_id"]
            if progress is not None:
                progress(sent)
    log.info("replayed %d event(s) of %s into %s", sent, db.name, queue,
             extra={"fields": {"queue": queue, "replayed": sent}})
    return sent


def _publish(producer: Producer, exchange: str, event: dict, queue: str, user: str) -> None:
    try:
        producer.publish(
            encode(event), exchange=exchange, routing_key=queue, mandatory=True, retry=False,
            content_type=CONTENT_TYPE, content_encoding="utf-8", delivery_mode=2,
            message_id=event["id"], type=event["type"], user_id=user,
            headers={"ce_id": event["id"], "ce_type": event["type"],
                     "correlation_id": event.get("correlationid") or "", REPLAY_HEADER: True})
    except ChannelError as exc:
        raise ReplayError(f"the broker refused event {event['id']} for queue {queue!r} (is it bound to "
                          f"{exchange} with its own name?): {exc}") from None
