"""Rebuild every read model from scratch by replaying the producers' event logs.

1. take the rebuild lease; pick a fresh generation G and mark it ``building`` (live
   handlers now apply each new event to G as well);
2. declare a temporary queue bound to each producer's ``<service>.replay`` exchange and ask
   each producer to republish its sent outbox history into it (``POST /admin/replay`` with
   the admin's own token: the rebuild runs on that admin's authority);
3. apply every replayed event to G with the same projection code the live handlers use
   (idempotency keys are per generation, so a live copy and a replayed copy apply once);
4. swap: G becomes ``current``; the old generation is kept as ``previous`` (a rollback),
   the one before it is dropped.

``python -m services.reporting.rebuild`` runs it from a shell; the service exposes it as
``POST /admin/rebuild`` (admin only). A replayed copy counts only when the broker vouches
that the producer published it (its verified ``user_id``, ADR 0061).
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

import requests
from kombu import Connection, Queue, binding

from shared import topology
from shared.broker_security import expected_publisher, publisher_of, user_of
from shared.config import Settings, service_url
from shared.errors import Conflict, DomainError
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


class RebuildFailed(DomainError):
    """A producer refused or did not answer, or the replay stalled (HTTP 502)."""

    status = 502
    code = "rebuild_failed"


def replay_from_producers(token: str, queue: str, timeout_s: float = 3600.0) -> int:
    """Ask every producer to republish its history into ``queue`` on behalf of the admin whose
    bearer ``token`` this is; returns the total count."""
    total = 0
    for producer in PRODUCERS:
        url = f"{service_url(producer)}/admin/replay"
        try:
            response = requests.post(url, json={"queue": queue}, timeout=timeout_s,
                                     headers={"Authorization": f"Bearer {token}"})
        except requests.RequestException as exc:
            raise RebuildFailed(f"{producer} did not answer the replay request at {url}: {exc}") from None
        if response.status_code != 200:
            raise RebuildFailed(f"{producer} refused the replay ({response.status_code}): {response.text[:300]}")
        total += int(response.json()["replayed"])
    return total


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
    name = f"reporting.rebuild.{uuid.uuid4().hex[:12]}"
    queue = Queue(name, durable=True, auto_delete=False,
                  queue_arguments={"x-expires": int(max(idle_timeout_s * 4, 600) * 1000)},
                  bindings=[binding(topology.replay_exchange(p), routing_key=name) for p in PRODUCERS])
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
                counts = _consume(channel, queue.name, expected, store, cfg, target, idle_timeout_s, lease,
                                  user_of(settings.amqp_uri))
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
             idle_timeout_s: float, lease: Lease, own_user: str) -> dict:
    counts = {"applied": 0, "duplicates": 0, "ignored": 0, "malformed": 0, "unauthorised": 0}
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
        publisher = publisher_of(message.properties, message.headers, own_user)
        if publisher != expected_publisher(event.service, "reporting", own_user):
            log.error("replayed event %s from broker user %s, not its producer: skipped", event.id, publisher)
            counts["unauthorised"] += 1
        elif (event.service, event.name) not in CONSUMED:
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
    from shared.cli import CliError, admin_token

    settings = shared_config.load("reporting")
    jsonlog.configure("reporting", settings.log_level)
    try:
        token = admin_token(None)
        summary = rebuild(settings, lambda queue: replay_from_producers(token, queue))
    except (CliError, Conflict, RebuildFailed) as exc:
        print(json.dumps({"error": str(exc)}), file=sys.stderr)
        return 1
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
