"""One leased background loop for every job that must run on one replica at a time.

The outbox relay, certificate numbering, notification delivery and digests, counter
folding, shortfall checkpoints and read-model rebuilds all share this shape: a named lease
in the store decides which replica does the work; the holder runs passes until there is
nothing left, then sleeps until woken (``wake``) or until its interval passes; an error
backs off and retries; a graceful stop runs a last pass (``drain``) and hands the lease
over at once instead of letting it expire.

Lease expiry is judged by the store's clock (``StoreClock``), not each replica's: two
replicas whose clocks disagree by more than a lease would otherwise both lead.
"""
from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Callable, Protocol

import eventlet
from amqp.exceptions import AMQPError
from eventlet.queue import Empty, LightQueue
from kombu.exceptions import KombuError
from nameko.extensions import DependencyProvider, SharedExtension
from prometheus_client import Counter, Gauge, Histogram
from pymongo.errors import DuplicateKeyError, PyMongoError

from shared.config import Settings, settings_of
from shared.errors import StoreUnavailable
from shared.metrics import STORE_CONTEXT

log = logging.getLogger(__name__)

LEASES = "leases"
# Errors a pass may meet when the store or the broker is away: back off and try again.
# Uncaught, they would end the managed thread, which kills the whole service container.
TRANSIENT = (PyMongoError, StoreUnavailable, OSError, ConnectionError, KombuError, AMQPError)

LOOP_LEADING = Gauge("asn_background_leading", "1 while this replica holds the loop's lease", ["loop"])
LOOP_PASSES = Counter("asn_background_passes_total", "passes of a background loop", ["loop"])
LOOP_FAILURES = Counter("asn_background_failures_total", "passes that failed (then backed off)", ["loop"])
LOOP_SECONDS = Histogram("asn_background_pass_seconds", "duration of one pass", ["loop"],
                         buckets=(0.005, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))


def holder_id() -> str:
    """Who holds a lease: host, process and a random tail (a restarted process is someone else)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class StoreClock:
    """The store's time seen from this process: the offset to the server's clock (``hello``'s
    ``localTime``), measured again every ``refresh_s``; one command a minute, not one a lease."""

    def __init__(self, db, refresh_s: float = 60.0):
        self.db, self.refresh_s = db, refresh_s
        self._offset_s: float | None = None
        self._measured_at = 0.0

    def now(self) -> datetime:
        if self._offset_s is None or time.monotonic() - self._measured_at > self.refresh_s:
            sent = time.time()
            server = self.db.client.admin.command("hello").get("localTime")
            received = time.time()
            if server is None:  # a server that does not say: trust our own clock
                self._offset_s = 0.0
            else:
                server = server.replace(tzinfo=timezone.utc) if server.tzinfo is None else server
                self._offset_s = server.timestamp() - (sent + received) / 2
            self._measured_at = time.monotonic()
        return datetime.fromtimestamp(time.time() + self._offset_s, timezone.utc)


class Lease:
    """A named, time-limited lock in the store, safe with several replicas."""

    def __init__(self, collection, name: str, holder: str, seconds: float, clock: StoreClock | None = None):
        self.coll, self.name, self.holder, self.seconds = collection, name, holder, seconds
        self.clock = clock or StoreClock(collection.database)
        self._held_until = 0.0  # our own (monotonic) view, to renew only when needed

    def held(self) -> bool:
        """Whether this holder leads: renews the lease (a write) only once a third of it has
        elapsed; in between a read confirms nobody took it over (a write on every pass was
        one more conflicting store write per event)."""
        if time.monotonic() < self._held_until - 2 * self.seconds / 3:
            doc = self.coll.find_one({"_id": self.name}, {"holder": 1, "until": 1})
            if doc and doc.get("holder") == self.holder and _later(doc.get("until"), self.clock.now()):
                return True
        return self.acquire()

    def acquire(self) -> bool:
        now = self.clock.now()
        try:
            self.coll.find_one_and_update(
                # a lease written by an earlier version holds a float; it counts as expired
                {"_id": self.name, "$or": [{"holder": self.holder}, {"until": {"$lt": now}},
                                           {"until": {"$type": "number"}}]},
                {"$set": {"holder": self.holder, "until": now + timedelta(seconds=self.seconds)}}, upsert=True)
            self._held_until = time.monotonic() + self.seconds
            return True
        except DuplicateKeyError:  # held by someone else and not expired
            self._held_until = 0.0
            return False

    def release(self) -> None:
        self._held_until = 0.0
        self.coll.update_one({"_id": self.name, "holder": self.holder},
                             {"$set": {"until": datetime(1970, 1, 1, tzinfo=timezone.utc)}})


def _later(until, now: datetime) -> bool:
    if not isinstance(until, datetime):
        return False
    until = until.replace(tzinfo=timezone.utc) if until.tzinfo is None else until
    return until > now


class Job(Protocol):
    """What a leased loop runs. ``run_once`` returns how much it did (0: nothing waiting);
    ``reset`` (optional) drops broken connections after an error; ``drain`` is the last pass
    at a graceful stop; ``close`` releases everything at the end."""

    def run_once(self) -> int: ...

    def drain(self) -> None: ...

    def close(self) -> None: ...


class LeasedLoop(SharedExtension):
    """Runs ``make_job(settings)``'s passes in a managed greenthread while holding ``lease``.

    One per container and name (a shared extension): every extension that declares a loop of
    the same name gets the same one, so the store can wake the relay after a commit and the
    numbering can wake it after its batch. A service declares its own loops with
    ``Background(LeasedLoop(...))``.

    ``lease`` None: every replica runs the job (it coordinates by itself, e.g. per-record
    claims). ``interval_s`` is the sleep between passes when nothing is waiting; ``wake()``
    cuts it short. A pass that did something is followed at once by another.
    """

    def __init__(self, name: str, make_job: Callable[[Settings], Job], *, lease: str | None = None,
                 lease_s: float | Callable[[Settings], float] = 10.0,
                 interval_s: float | Callable[[Settings], float] = 0.5):
        self.name, self.make_job, self.lease_name = name, make_job, lease
        self._lease_s, self._interval_s = lease_s, interval_s
        self.job: Job | None = None
        self.lease: Lease | None = None
        self._wakeups = LightQueue()
        self._stopping = False
        self._gt = None
        self._stopped = False
        self.running = False  # the last pass (or lease check) succeeded

    @property
    def sharing_key(self):
        return (LeasedLoop, self.name)

    def setup(self):
        self.settings = settings_of(self.container)
        self.interval_s = self._interval_s(self.settings) if callable(self._interval_s) else self._interval_s
        self.job = self.make_job(self.settings)
        if self.lease_name:
            db = getattr(self.job, "db")  # a leased job works on its service's database
            seconds = self._lease_s(self.settings) if callable(self._lease_s) else self._lease_s
            self.lease = Lease(db[LEASES], self.lease_name, holder_id(), seconds)

    def start(self):
        self._stopping = self._stopped = False
        self._gt = self.container.spawn_managed_thread(self._run, identifier=self.name)

    def wake(self) -> None:
        if self._wakeups.qsize() < 2:
            self._wakeups.put(None)

    def leads(self) -> bool:
        leading = self.lease is None or self.lease.held()
        LOOP_LEADING.labels(self.name).set(1 if leading else 0)
        return leading

    def _run(self):
        STORE_CONTEXT.set(f"loop:{self.name}")  # this greenthread's store commands (shared.metrics)
        failures = 0
        while not self._stopping:
            started = time.monotonic()
            try:
                done = self.job.run_once() if self.leads() else 0
                self.running = True
                failures = 0
                LOOP_PASSES.labels(self.name).inc()
                LOOP_SECONDS.labels(self.name).observe(time.monotonic() - started)
            except Exception as exc:  # noqa: BLE001 - a loop that dies kills its whole container
                self.running = False
                failures += 1
                LOOP_FAILURES.labels(self.name).inc()
                getattr(self.job, "reset", lambda: None)()
                delay = min(5.0, 0.2 * 2 ** min(failures, 5))
                if isinstance(exc, TRANSIENT):
                    log.warning("%s failed (%s); retrying in %.1fs", self.name, exc, delay)
                else:  # a bug, not an outage: say so loudly, keep the service up
                    log.error("%s failed unexpectedly; retrying in %.1fs", self.name, delay, exc_info=True)
                eventlet.sleep(delay)
                continue
            if done:
                continue  # more may be waiting
            try:
                self._wakeups.get(timeout=self.interval_s)
            except Empty:
                pass

    def stop(self):
        # Graceful stop: entrypoints have stopped; finish what they left, then hand over.
        # Called twice (by its Background, then by nameko with the shared extensions): once.
        if self._stopped:
            return
        self._stopped = True
        self._stopping = True
        self.wake()
        if self._gt is not None:
            self._gt.wait()
        try:
            if self.lease is None or self.lease.held():
                self.job.drain()
            if self.lease is not None:
                self.lease.release()
        except Exception as exc:  # noqa: BLE001 - the next holder does it once the lease expires
            log.warning("%s: last pass at shutdown failed: %s", self.name, exc)
        LOOP_LEADING.labels(self.name).set(0)
        self.job.close()

    def kill(self):
        self._stopping = True
        if self._gt is not None:
            self._gt.kill()
        self.job.close()


class Background(DependencyProvider):
    """Declares a leased loop on a service class; an entrypoint gets the loop, to ``wake()`` it
    after committing work for it (``numbering = Background(LeasedLoop("numbering", ...))``).

    At a graceful stop the loop stops with the dependencies, before the shared extensions:
    its last pass commits events that the outbox relay's final flush then publishes (stopped
    together, the relay could flush before the pass). Measured by certification's
    graceful-stop test, which fails otherwise."""

    def __init__(self, loop: LeasedLoop):
        self.loop = loop

    def stop(self):
        self.loop.stop()

    def get_dependency(self, worker_ctx) -> LeasedLoop:
        return self.loop
