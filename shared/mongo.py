"""The client and the collection names every service's database has (the outbox, the
processed-event records): the lowest layer, imported by the store and the relay alike."""
from __future__ import annotations

from pymongo import MongoClient

from shared.config import Settings

OUTBOX = "outbox"
PROCESSED = "processed_events"


def connect(settings: Settings) -> MongoClient:
    return MongoClient(
        settings.mongo_uri, tz_aware=True, connect=False,
        serverSelectionTimeoutMS=int(settings.extra.get("mongo_timeout_ms", 5000)),
        connectTimeoutMS=5000, socketTimeoutMS=30000,
    )
