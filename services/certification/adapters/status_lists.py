"""The public revocation status lists (W3C Bitstring Status List), cached per replica.

Each list has ``credential.STATUS_LIST_BITS`` entries (16 KiB before compression), whatever
the number of certificates: certificate n is entry n % STATUS_LIST_BITS of list
n // STATUS_LIST_BITS. Building one reads the revoked certificates of its range, compresses
and signs; the route is anonymous, so a replica builds each list at most once per ``ttl_s``
(it told clients ``max-age=60`` anyway) and forgets them when it revokes a certificate itself.
"""
from __future__ import annotations

import time
from typing import Callable


class StatusLists:
    """The signed lists of one replica, each rebuilt at most every ``ttl_s`` seconds."""

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic):
        self.ttl_s = ttl_s
        self.clock = clock
        self._built: dict[int, tuple[float, dict]] = {}  # list number -> (built at, document)

    def get(self, number: int, build: Callable[[], dict]) -> dict:
        """Signed status list ``number``: the cached one, else ``build()`` (which raises
        NotFound for a list that holds no certificate yet, so only existing lists are kept)."""
        cached = self._built.get(number)
        if cached is not None and self.clock() - cached[0] < self.ttl_s:
            return cached[1]
        document = build()
        self._built[number] = (self.clock(), document)
        return document

    def forget(self) -> None:
        """After a revocation by this replica: the next request rebuilds."""
        self._built.clear()
