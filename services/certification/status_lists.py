"""The public revocation status lists (W3C Bitstring Status List), bounded and cached.

Each list has STATUS_LIST_BITS entries (16 KiB before compression), whatever the number of
certificates: certificate n is entry n % STATUS_LIST_BITS of list n // STATUS_LIST_BITS.
Only lists that hold an issued certificate exist. Building one reads the revoked
certificates of its range, compresses and signs; the route is anonymous, so a replica builds
each list at most once per ``ttl_s`` (it told clients ``max-age=60`` anyway) and forgets
them when it revokes a certificate itself.
"""
from __future__ import annotations

import time
from datetime import datetime
from typing import Callable

from marshmallow import EXCLUDE, Schema, fields, validate

from shared.errors import NotFound
from services.certification.credential import STATUS_LIST_BITS, Issuer, status_list_credential
from services.certification.store import CERTIFICATES, COUNTERS, STATUS_LIST_COUNTER

# Far more lists than certificates will ever be issued (131,072 certificates per list);
# bounds the number a caller may send.
MAX_LIST_NUMBER = 9_999


class StatusListQuery(Schema):
    class Meta:
        unknown = EXCLUDE  # a verifier's cache-busting parameter must not break verification

    list = fields.Int(load_default=0, validate=validate.Range(min=0, max=MAX_LIST_NUMBER),
                      metadata={"description": "which list; 0 (the default) is the one at the plain address"})


def list_number(args: dict) -> int:
    """The list a request asks for (422 naming ``list`` when it is not a number in range)."""
    return StatusListQuery().load(args)["list"]


def existing_lists(db) -> int:
    """How many lists hold an issued certificate (list 0 always exists)."""
    counter = db[COUNTERS].find_one({"_id": STATUS_LIST_COUNTER}, {"seq": 1}) or {}
    return int(counter.get("seq", 0)) // STATUS_LIST_BITS + 1


def revoked_entries(db, number: int) -> list[int]:
    """Entries of list ``number`` whose certificates are revoked (by the status_index index)."""
    first = number * STATUS_LIST_BITS
    found = db[CERTIFICATES].find({"status_index": {"$gte": first, "$lt": first + STATUS_LIST_BITS},
                                   "revoked": {"$ne": None}}, {"status_index": 1, "_id": 0})
    return [d["status_index"] - first for d in found]


class StatusLists:
    """The signed lists of one replica, each rebuilt at most every ``ttl_s`` seconds."""

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic):
        self.ttl_s = ttl_s
        self.clock = clock
        self._built: dict[int, tuple[float, dict]] = {}  # list number -> (built at, document)

    def get(self, db, issuer: Issuer, number: int, now: datetime) -> dict:
        """Signed status list ``number``; NotFound when no certificate is in it yet."""
        cached = self._built.get(number)
        if cached is not None and self.clock() - cached[0] < self.ttl_s:
            return cached[1]
        if number >= existing_lists(db):
            raise NotFound(f"no status list {number}", field="list")
        document = status_list_credential(revoked_entries(db, number), issuer, now, number)
        # Only existing lists are kept: at most existing_lists(db) entries.
        self._built[number] = (self.clock(), document)
        return document

    def forget(self) -> None:
        """After a revocation by this replica: the next request rebuilds."""
        self._built.clear()
