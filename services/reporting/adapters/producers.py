"""A rebuild's conversation with the producers (docs/decisions/0041-read-model-rebuild.md): a
temporary queue bound to each producer's ``<service>.replay`` exchange, and the HTTP request
that has each producer republish its sent outbox history into it (``POST /admin/replay``
with the admin's own token: the rebuild runs on that admin's authority)."""
from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import requests
from kombu import Connection, Queue, binding

from shared import topology
from shared.broker_security import publisher_of, user_of
from shared.config import Settings, service_url
from shared.errors import DomainError
from shared.events.envelope import Event, MalformedEvent, parse

PRODUCERS = ("enrollment", "certification")


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


@dataclass
class Replayed:
    """One replayed message: its event (None when malformed, with the reason) and the broker
    user that published it (as the broker vouches, ADR 0061)."""

    event: Event | None
    publisher: str | None
    malformed: str | None = None


class ReplayQueue:
    """The temporary queue of one rebuild: declared on entry, deleted on exit; it expires by
    itself should the process die in between."""

    def __init__(self, settings: Settings, idle_timeout_s: float):
        self.settings, self.idle_timeout_s = settings, idle_timeout_s
        self.name = f"reporting.rebuild.{uuid.uuid4().hex[:12]}"
        self.own_user = user_of(settings.amqp_uri)
        self._queue = Queue(self.name, durable=True, auto_delete=False,
                            queue_arguments={"x-expires": int(max(idle_timeout_s * 4, 600) * 1000)},
                            bindings=[binding(topology.replay_exchange(p), routing_key=self.name)
                                      for p in PRODUCERS])

    def __enter__(self) -> ReplayQueue:
        self._conn = Connection(self.settings.amqp_uri, connect_timeout=5, heartbeat=30)
        self._channel = self._conn.channel()
        self._queue(self._channel).declare()
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._queue(self._channel).delete()
        finally:
            self._conn.release()

    def receive(self, expected: int) -> Iterator[Replayed]:
        """``expected`` messages, each acknowledged once the caller asks for the next (so after
        its effect); RebuildFailed when none arrives for ``idle_timeout_s``."""
        taken, idle_since = 0, time.monotonic()
        while taken < expected:
            message = self._channel.basic_get(self.name, no_ack=False)
            if message is None:
                if time.monotonic() - idle_since > self.idle_timeout_s:
                    raise RebuildFailed(f"replay stalled: {taken} of {expected} events arrived in {self.name}")
                time.sleep(0.05)
                continue
            idle_since = time.monotonic()
            taken += 1
            publisher = publisher_of(message.properties, message.headers, self.own_user)
            try:
                replayed = Replayed(parse(message.body, message.properties.get("content_type")), publisher)
            except MalformedEvent as exc:
                replayed = Replayed(None, publisher, malformed=exc.reason)
            yield replayed
            self._channel.basic_ack(message.delivery_tag)
