"""Per-client rate limits for public routes: a token bucket per address, kept in the
process (see docs/decisions/0023-verification-rate-limit.md for why not in the store: an
unauthenticated endpoint must not turn every request into a database write)."""
from __future__ import annotations

import time
from collections import OrderedDict
from typing import Callable


class TokenBuckets:
    """``rate_per_minute`` sustained, ``burst`` at once, per key. Memory is bounded: the
    least recently seen keys are dropped first (a dropped key just starts with a full bucket)."""

    def __init__(self, rate_per_minute: float, burst: int, max_keys: int = 50_000,
                 clock: Callable[[], float] = time.monotonic):
        self.rate = rate_per_minute / 60.0
        self.burst = float(burst)
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str) -> float:
        """Spend one token for ``key``: 0.0 when allowed, else the seconds until one is free."""
        now = self.clock()
        tokens, last = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            wait = 0.0
        else:
            self._buckets[key] = (tokens, now)
            wait = (1.0 - tokens) / self.rate if self.rate > 0 else float("inf")
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait


def client_address(remote_addr: str | None, forwarded_for: str | None, trusted_proxy_hops: int) -> str:
    """The client's address. Behind N trusted proxies it is the N-th address from the right
    of X-Forwarded-For; anything further left is client-supplied and can be forged."""
    if trusted_proxy_hops > 0 and forwarded_for:
        hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
        if len(hops) >= trusted_proxy_hops:
            return hops[-trusted_proxy_hops]
    return remote_addr or "unknown"
