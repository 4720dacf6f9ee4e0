"""Rebuild every read model from scratch by replaying the producers' event logs.

1. take the rebuild lease; pick a fresh generation G and mark it ``building`` (live
   handlers now apply each new event to G as well);
2. declare a temporary queue and ask each producer to republish its sent outbox history
   into it (``replay_history(queue) -> int``, a nameko RPC on every service);
3. apply every replayed event to G with the same projection code the live handlers use
   (idempotency keys are per generation, so a live copy and a replayed copy apply once);
4. swap: G becomes ``current``; the old generation is kept as ``previous`` (a rollback),
   the one before it is dropped.

``python -m services.reporting.rebuild`` runs it from a shell; the service exposes it as
the RPC ``rebuild_read_models``.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
import uuid
from typing import Callable

from kombu import Connection, Queue

from shared.config import Settings
from shared.errors import Conflict
from shared.events.envelope import MalformedEvent, parse
from shared.outbox import LEASES, Lease
from shared.store import PROCESSED, Store, connect

from services.reporting import config as reporting_config
from services.reporting.config import ReportingConfig
from services.reporting.folding import fold_all
from services.reporting.projections import CONSUMED, apply_event
from services.reporting.store import (POINTER_ID, STATE, consumer_of, create_read_model_indexes,
                                      drop_generation, pointer)

log = logging.getLogger(__name__)
PRODUCERS = ("enrollment", "certification")
REBUILD_LEASE = "read-model-rebuild"


class RebuildFailed(RuntimeError):
    pass


def replay_from_producers(settings: Settings, queue: str, timeout_s: float | None = None) -> int:
    """Ask every producer to republish its history into ``queue``; returns the total count."""
    from nameko.standalone.rpc import ClusterRpcProxy

    config = {"AMQP_URI": settings.amqp_uri, "serializer": "json", "ACCEPT": ["json"]}
    with ClusterRpcProxy(config, timeout=timeout_s) as rpc:
        return sum(int(getattr(rpc, producer).replay_history(queue)) for producer in PRODUCERS)


def _drop(db, generation: int) -> None:
    drop_generation(db, generation)
    db[PROCESSED].delete_many({"consumer": consumer_of(generation)})


def rebuild(settings: Settings, replay: Callable[[str], int], cfg: ReportingConfig | None = None,
            idle_timeout_s: float | None = None, holder: str | None = None) -> dict:
    """Rebuild all read models; ``replay(queue)`` makes the producers publish into ``queue``."""
    cfg = cfg or reporting_config.current()
    idle_timeout_s = idle_timeout_s or cfg.rebuild_idle_timeout_s
    holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    started = time.monotonic()
    client = connect(settings)
    store = Store(client, settings)
    db = store.db
    lease = Lease(db[LEASES], REBUILD_LEASE, holder, max(60.0, idle_timeout_s * 2))
    if not lease.acquire():
        client.close()
        raise Conflict("a rebuild of the read models is already running")
    queue = Queue(f"reporting.rebuild.{uuid.uuid4().hex[:12]}", durable=True, auto_delete=False,
                  queue_arguments={"x-expires": int(max(idle_timeout_s * 4, 600) * 1000)})
    before = pointer(db)
    target = max(g for g in (before.current, before.building, before.previous) if g) + 1
    try:
        with Connection(settings.amqp_uri, connect_timeout=5, heartbeat=30) as conn:
            channel = conn.channel()
            queue(channel).declare()
            try:
                _drop(db, target)  # leftovers of an interrupted attempt
                create_read_model_indexes(db, target)
                db[STATE].update_one({"_id": POINTER_ID}, {"$set": {"building": target}})
                log.info("rebuilding read models into generation %d from queue %s", target, queue.name)
                expected = replay(queue.name)
                counts = _consume(channel, queue.name, expected, store, cfg, target, idle_timeout_s, lease)
                # The new generation answers with every replayed event counted.
                fold_all(store, target)
                current = pointer(db)
                db[STATE].update_one({"_id": POINTER_ID}, {"$set": {
                    "current": target, "building": None, "previous": current.current,
                    "rebuilt_at": time.time(), "target_jp": cfg.jp_target}})
            except BaseException:
                db[STATE].update_one({"_id": POINTER_ID, "building": target}, {"$set": {"building": None}})
                _drop(db, target)
                raise
            finally:
                queue(channel).delete()
        # Handlers that read the pointer just before the swap may still write the old
        # current generation: it stays as ``previous``; only the one before it goes.
        if before.previous and before.previous not in (target, before.current):
            _drop(db, before.previous)
    finally:
        lease.release()
        client.close()
    summary = {"generation": target, "previous_generation": before.current, "events": expected,
               **counts, "seconds": round(time.monotonic() - started, 2)}
    log.info("read models rebuilt: %s", summary)
    return summary


def _consume(channel, queue: str, expected: int, store: Store, cfg: ReportingConfig, generation: int,
             idle_timeout_s: float, lease: Lease) -> dict:
    counts = {"applied": 0, "duplicates": 0, "ignored": 0, "malformed": 0}
    taken, idle_since = 0, time.monotonic()
    while taken < expected:
        message = channel.basic_get(queue, no_ack=False)
        if message is None:
            if time.monotonic() - idle_since > idle_timeout_s:
                raise RebuildFailed(f"replay stalled: {taken} of {expected} events arrived in {queue}")
            time.sleep(0.05)
            continue
        idle_since = time.monotonic()
        taken += 1
        try:
            event = parse(message.body, message.properties.get("content_type"))
        except MalformedEvent as exc:
            log.error("replayed message is malformed and skipped: %s", exc.reason)
            counts["malformed"] += 1
            channel.basic_ack(message.delivery_tag)
            continue
        if (event.service, event.name) not in CONSUMED:
            counts["ignored"] += 1
        elif apply_event(store, event, cfg, generations=(generation,)):
            counts["applied"] += 1
        else:
            counts["duplicates"] += 1
        channel.basic_ack(message.delivery_tag)
        if taken % 500 == 0:
            lease.acquire()
            log.info("rebuild progress: %d of %d events", taken, expected)
    return counts


def main(argv: list[str] | None = None) -> int:
    """``python -m services.reporting.rebuild``: rebuild from the producers' outboxes, print a summary."""
    from shared import config as shared_config
    from shared import logging as jsonlog

    settings = shared_config.load("reporting")
    jsonlog.configure("reporting", settings.log_level)
    try:
        summary = rebuild(settings, lambda queue: replay_from_producers(settings, queue))
    except (Conflict, RebuildFailed) as exc:
        print(json.dumps({"error": str(exc)}), file=sys.stderr)
        return 1
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
