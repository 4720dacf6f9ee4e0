"""A store with the shared library's interface but none of its guarantees (see the package doc)."""
from __future__ import annotations

from typing import Callable, TypeVar

from nameko.extensions import DependencyProvider

from shared.config import Settings, settings_of
from shared.store import Duplicate, Tx, connect, ensure_base_indexes

T = TypeVar("T")


class NaiveTx(Tx):
    """Domain code's ``tx`` without a session: each write commits on its own, and emitted
    events are only collected, to be dispatched after the writes."""

    def __init__(self, store: "NaiveStore"):
        super().__init__(store, None)

    def emit(self, name: str, subject: str, data: dict, version: int | None = None) -> dict:
        event = self._record(name, subject, data, version)["event"]
        self.emitted.append(event)
        return event

    def emit_many(self, events: list[tuple[str, str, dict]]) -> list[dict]:
        return [self.emit(name, subject, data) for name, subject, data in events]


class NaiveStore:
    """One worker's view of the database; ``committed`` holds the events to dispatch."""

    def __init__(self, client, settings: Settings, correlation_id: str | None = None):
        self.client = client
        self.settings = settings
        self.db = client[settings.db_name]
        self.relay = None
        self.consumer = None
        self.correlation_id = correlation_id
        self.committed: list[dict] = []

    def transaction(self, fn: Callable[[Tx], T]) -> T:
        tx = NaiveTx(self)
        result = fn(tx)
        self.committed.extend(tx.emitted)
        return result

    def apply_once(self, event, fn: Callable[[Tx], T], consumer: str | None = None) -> tuple[bool, T | None]:
        # No processed-event record: only the domain's own unique keys notice a duplicate.
        try:
            return True, self.transaction(fn)
        except Duplicate:
            return False, None

    def take_events(self) -> list[dict]:
        events, self.committed = self.committed, []
        return events


class NaiveMongo(DependencyProvider):
    """One MongoClient per container; a ``NaiveStore`` per worker."""

    def __init__(self, indexes: Callable | None = None):
        self.indexes = indexes
        self.client = None

    def setup(self):
        self.settings = settings_of(self.container)
        self.client = connect(self.settings)
        db = self.client[self.settings.db_name]
        ensure_base_indexes(db)
        if self.indexes:
            self.indexes(db)

    def stop(self):
        if self.client is not None:
            self.client.close()

    def get_dependency(self, worker_ctx) -> NaiveStore:
        return NaiveStore(self.client, self.settings, worker_ctx.data.get("correlation_id"))
