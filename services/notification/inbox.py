"""The in-app inbox: what an ASN sees in the portal."""
from __future__ import annotations

from datetime import datetime

from services.notification.store import MESSAGES, object_id
from shared.errors import NotFound


def mark_read(db, nip: str, message_id: str, now: datetime) -> dict:
    """Mark one inbox message read; reading it again keeps the first time."""
    oid = object_id(message_id, "message_id")
    in_inbox = {"_id": oid, "nip": nip, "visible_at": {"$ne": None}, "dropped": {"$ne": True}}
    db[MESSAGES].update_one({**in_inbox, "read_at": None}, {"$set": {"read_at": now}})
    message = db[MESSAGES].find_one(in_inbox, {"read_at": 1})
    if message is None:
        raise NotFound(f"no message {message_id} in the inbox of {nip}", field="message_id")
    return {"id": message_id, "read_at": message["read_at"]}
