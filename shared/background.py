"""One leased background loop for every job that must run on one replica at a time.

The outbox relay, certificate numbering, notification delivery and digests, counter
folding, shortfall checkpoints and read-model rebuilds all share this shape: a named lease
in the store decides which replica does the work; the holder runs passes until there is
nothing left, then waits until something wakes it; an error backs off and retries; a
graceful stop runs a last pass (``drain``) and hands the lease over at once instead of
letting it expire.

What wakes an idle loop (issue 23: polling on short intervals was most of the store's work
when nothing happened, 44 commands/s over the four services):

- ``wake()`` from this process, after a commit that made work for it;
- a change in the collections it ``watch``es: a change stream, open while this replica
  leads, sees what other replicas and scripts commit;
- its job's ``due_in()``: work that falls due by time (a retry, a digest);
- its poll, the safety net: ``Settings.loop_idle_poll_s`` while its change stream runs, its
  own ``interval_s`` when it watches nothing or the stream failed.

A replica that does not lead waits until the lease may be free (it reads when the holder's
term ends, at most half a lease ahead) instead of trying on every interval. An idle holder
does not renew its lease: the term lapses, and the next pass (whatever wakes it) takes it
again with one write, unless another replica took it meanwhile (the lease decides, as
always). Renewing while idle was a write every few seconds per loop; on SecantusDB every
write also ends the wait of every change stream on the server (below).

The change stream costs one getMore per wait. SecantusDB answers a waiting getMore at the
first write anywhere on the server, matching or not, so a loop asks again no sooner than
its ``interval_s`` after it last looked (a getMore, or a pass: a pass reads all there is):
never more often than it polled before, and not at all while passes run. Nothing is missed
meanwhile: the stream's cursor keeps its place.

Lease expiry is judged by the store's clock (``StoreClock``), not each replica's: two
replicas whose clocks disagree by more than a lease would otherwise both lead.
"""
from __future__ import annotations

import logging
import math
import os
import re
import socket
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable, Protocol

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
# The changes that wake a watching loop unless it names its own (deletes never make work).
CHANGES = ("insert", "update", "replace")

LOOP_LEADING = Gauge("asn_background_leading", "1 while this replica holds the loop's lease", ["loop"])
LOOP_PASSES = Counter("asn_background_passes_total", "passes of a background loop", ["loop"])
LOOP_FAILURES = Counter("asn_background_failures_total", "passes that failed (then backed off)", ["loop"])
LOOP_SECONDS = Histogram("asn_background_pass_seconds", "duration of one pass", ["loop"],
                         buckets=(0.005, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
LOOP_WATCHING = Gauge("asn_background_watching", "1 while the loop's change stream is open", ["loop"])


def holder_id() -> str:
    """Who holds a lease: host, process and a random tail (a restarted process is someone else)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class StoreClock:
    """The store's time seen from this process: the offset to the server's clock (``hello``'s
    ``localTime``), measured again every ``refresh_s``. Two clocks drift apart by
    milliseconds in five minutes; the leases keep seconds of margin (``Lease``)."""

    def __init__(self, db, refresh_s: float = 300.0):
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
    """A named, time-limited lock in the store, safe with several replicas.

    Why the holder may trust it without asking the store. Every write of the lease sets
    ``until`` = the store's time as this process estimates it (``StoreClock``) + ``seconds``;
    another holder's ``acquire`` matches only ``until < now`` by *its* estimate. So once
    ``acquire`` returned, nobody else can take the lease before the store's clock passes
    ``t0 + seconds - (e1 + e2)``, t0 being the store's time when this holder began
    ``acquire`` and e1, e2 the two estimates' errors (half a ``hello`` round trip plus the
    drift since it: milliseconds). Only our own ``release``, or someone rewriting the
    document by hand, ends it sooner. The holder therefore trusts the lease with no command
    for the first ``TRUSTED`` part of each term, measured on its monotonic clock from before
    the write; the rest of the term (5 s of the relay's 10) is the margin for those errors,
    a wall-clock step and a pass begun just before the trust ended. Then ``held()`` renews it
    (a write) before the next pass, so a busy holder keeps its lease and a dead one loses it
    ``seconds`` after its last write. The earlier version confirmed the lease with a read on
    every pass: one command per pass of every loop.
    """

    TRUSTED = 0.5

    def __init__(self, collection, name: str, holder: str, seconds: float, clock: StoreClock | None = None):
        self.coll, self.name, self.holder, self.seconds = collection, name, holder, seconds
        self.clock = clock or StoreClock(collection.database)
        self._trusted_until = 0.0  # monotonic: until then the lease is ours without asking
        self.ours = False  # the last acquire took or renewed it, and no release since

    def held(self) -> bool:
        """Whether this holder leads: no command while the lease is trusted, else a renewal."""
        return self.trusted() or self.acquire()

    def trusted(self) -> bool:
        return time.monotonic() < self._trusted_until

    def acquire(self) -> bool:
        """Take or renew the lease (one write); False when another holder's term is running."""
        started = time.monotonic()  # before the store-time estimate ``until`` is counted from
        now = self.clock.now()
        try:
            self.coll.find_one_and_update(
                # a lease written by an earlier version holds a float; it counts as expired
                {"_id": self.name, "$or": [{"holder": self.holder}, {"until": {"$lt": now}},
                                           {"until": {"$type": "number"}}]},
                {"$set": {"holder": self.holder, "until": now + timedelta(seconds=self.seconds)}}, upsert=True)
        except DuplicateKeyError:  # held by someone else and not expired
            self._trusted_until, self.ours = 0.0, False
            return False
        self._trusted_until, self.ours = started + self.seconds * self.TRUSTED, True
        return True

    def free_in(self) -> float:
        """Seconds until another holder's term ends by the store's clock (one read); 0 when
        the lease is free, expired or ours."""
        doc = self.coll.find_one({"_id": self.name}, {"holder": 1, "until": 1})
        if not doc or doc.get("holder") == self.holder or not isinstance(doc.get("until"), datetime):
            return 0.0
        until = doc["until"].replace(tzinfo=timezone.utc) if doc["until"].tzinfo is None else doc["until"]
        return max(0.0, (until - self.clock.now()).total_seconds())

    def release(self) -> None:
        self._trusted_until, self.ours = 0.0, False
        self.coll.update_one({"_id": self.name, "holder": self.holder},
                             {"$set": {"until": datetime(1970, 1, 1, tzinfo=timezone.utc)}})


class Job(Protocol):
    """What a leased loop runs. ``run_once`` returns how much it did, 0 when nothing more is
    waiting (what is committed after its read wakes the loop). Optional: ``reset`` drops
    broken connections after an error; ``due_in()`` says in how many seconds work falls due
    by time (None: nothing scheduled); ``wants(change)`` filters the changes that wake the
    loop; ``db`` (or ``store.db``) is the database a watching loop watches. ``drain`` is the
    last pass at a graceful stop; ``close`` releases everything at the end."""

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
    claims). ``interval_s`` is the wait between passes when nothing wakes the loop: the
    safety net of a loop that is woken by ``wake()`` and its job's ``due_in``, the poll of a
    ``watch``ing loop whose change stream is not running. ``watch``: the collections (names,
    or compiled patterns for generated names) whose ``watch_operations`` wake the leader;
    while its change stream runs, the loop polls only every ``Settings.loop_idle_poll_s``.
    ``coalesce_s``: after a wake, wait this long so a burst of commits is one pass. A pass
    that did something is followed at once by another.
    """

    def __init__(self, name: str, make_job: Callable[[Settings], Job], *, lease: str | None = None,
                 lease_s: float | Callable[[Settings], float] = 10.0,
                 interval_s: float | Callable[[Settings], float] = 0.5,
                 watch: Iterable[str | re.Pattern] = (), watch_operations: Iterable[str] = CHANGES,
                 coalesce_s: float = 0.0):
        self.name, self.make_job, self.lease_name = name, make_job, lease
        self._lease_s, self._interval_s = lease_s, interval_s
        self.watch, self.watch_operations, self.coalesce_s = tuple(watch), tuple(watch_operations), coalesce_s
        self.job: Job | None = None
        self.lease: Lease | None = None
        self._wakeups = LightQueue()
        self._stopping = False
        self._gt = None
        self._watcher = None
        self._stream_ok = False  # the change stream is open: the long poll is enough
        self._looked_at = 0.0  # when the last pass (or getMore) began: monotonic
        self._stopped = False
        self.running = False  # the last pass (or lease check) succeeded

    @property
    def sharing_key(self):
        return (LeasedLoop, self.name)

    def setup(self):
        self.settings = settings_of(self.container)
        self.interval_s = self._interval_s(self.settings) if callable(self._interval_s) else self._interval_s
        self.idle_s = max(self.interval_s, self.settings.loop_idle_poll_s)
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
        lease = self.leader_lease()
        LOOP_LEADING.labels(self.name).set(1 if leading and (lease is None or lease.ours) else 0)
        return leading

    def leader_lease(self) -> Lease | None:
        """The lease that decides whether this replica does the work: the loop's own, or one
        its job checks itself (the relay's, see ``shared.outbox``)."""
        return self.lease

    def _run(self):
        STORE_CONTEXT.set(f"loop:{self.name}")  # this greenthread's store commands (shared.metrics)
        failures = 0
        while not self._stopping:
            started = time.monotonic()
            try:
                leading = self.leads()
                if leading:
                    self._looked_at = started  # its change stream need not ask before interval_s
                done = self.job.run_once() if leading else 0
                self.running = True
                failures = 0
                LOOP_PASSES.labels(self.name).inc()
                LOOP_SECONDS.labels(self.name).observe(time.monotonic() - started)
                if not done:  # else more may be waiting: another pass at once
                    self._idle()
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

    def _idle(self) -> None:
        """Wait until the next pass is due: woken, the job's work due by time, or the poll.
        A replica that does not (or no longer) lead waits for the lease instead (``_follow``);
        the holder lets its term lapse meanwhile (see the module's docstring)."""
        lease = self.leader_lease()
        if lease is not None and not lease.ours:
            self._follow(lease)
            return
        self._watch()
        due = getattr(self.job, "due_in", lambda: None)()
        timeout = min(self.idle_s if self._stream_ok else self.interval_s, math.inf if due is None else due)
        try:
            self._wakeups.get(timeout=max(0.0, timeout))
        except Empty:
            return
        if self.coalesce_s:
            eventlet.sleep(self.coalesce_s)
        # What woke the loop was committed before the pass that now reads: one pass for all.
        while self._wakeups.qsize():
            self._wakeups.get_nowait()

    def _follow(self, lease: Lease) -> None:
        """Another replica leads: stop watching, wait until its term may end (a read, at most
        half a lease ahead, so a graceful handover is taken within that) and take the lease
        then. Wakes are ignored meanwhile: the holder does the work (its change stream sees
        what this replica commits)."""
        LOOP_LEADING.labels(self.name).set(0)
        self._unwatch()
        while not self._stopping:
            wait = min(lease.free_in(), lease.seconds / 2)
            self.running = True
            if wait <= 0:
                if lease.acquire():
                    return  # leads now: the pass checks the lease again, with no command
                wait = 0.1  # taken a moment before us: read its term again shortly
            deadline = time.monotonic() + wait
            while not self._stopping and time.monotonic() < deadline:
                try:
                    self._wakeups.get(timeout=max(0.0, deadline - time.monotonic()))
                except Empty:
                    pass

    # -- change stream ---------------------------------------------------------------------
    def _watch(self) -> None:
        if self.watch and self._watcher is None and not self._stopping:
            self._watcher = self.container.spawn_managed_thread(self._watch_changes, identifier=f"{self.name}:watch")

    def _unwatch(self) -> None:
        watcher, self._watcher = self._watcher, None
        self._stream_ok = False
        if watcher is not None:
            watcher.kill()  # a getMore waiting in it ends with the green thread
        LOOP_WATCHING.labels(self.name).set(0)

    def _pipeline(self) -> list[dict]:
        names = [w for w in self.watch if isinstance(w, str)]
        which = ([{"ns.coll": {"$in": names}}] if names else []) + \
            [{"ns.coll": {"$regex": w.pattern}} for w in self.watch if not isinstance(w, str)]
        match = {"operationType": {"$in": list(self.watch_operations)},
                 **(which[0] if len(which) == 1 else {"$or": which})}
        return [{"$match": match}, {"$project": {"operationType": 1, "ns": 1, "documentKey": 1}}]

    def _watch_changes(self) -> None:
        """The change stream's green thread: a change wakes the loop. Each getMore waits up to
        ``loop_watch_await_s`` in the store, and is sent no sooner than ``interval_s`` after
        the loop last looked (see the module's docstring), at least every ``idle_s`` (the
        store's change log is capped: a cursor left unread too long loses its place). A
        stream that fails (a store without change streams, a dropped connection) is logged;
        the loop polls on its interval meanwhile and the stream is opened again later."""
        STORE_CONTEXT.set(f"loop:{self.name}")
        job = self.job
        db = getattr(job, "db", None)
        db = job.store.db if db is None else db
        wants = getattr(job, "wants", None)
        await_ms = int(self.settings.loop_watch_await_s * 1000)
        while not self._stopping:
            try:
                with db.watch(self._pipeline(), max_await_time_ms=await_ms) as stream:
                    self._stream_ok = True
                    LOOP_WATCHING.labels(self.name).set(1)
                    self.wake()  # a pass covers what was committed before the stream opened
                    asked_at = time.monotonic()
                    while not self._stopping:
                        while (left := min(max(self._looked_at, asked_at) + self.interval_s,
                                           asked_at + self.idle_s) - time.monotonic()) > 0:
                            eventlet.sleep(left)
                        asked_at = time.monotonic()
                        change, woke = stream.try_next(), False  # one getMore
                        while change is not None:
                            if not woke and (wants is None or wants(change)):
                                self.wake()
                                woke = True
                            # the rest of the batch that getMore returned, with no command
                            change = stream.try_next() if _buffered(stream) else None
            except Exception as exc:  # noqa: BLE001 - a managed thread that raises kills the container
                self._stream_ok = False
                LOOP_WATCHING.labels(self.name).set(0)
                log.warning("%s: change stream unavailable (%s); polling every %.1fs, trying the stream "
                            "again in %.0fs", self.name, exc, self.interval_s, self.idle_s)
                self.wake()  # the loop waits its own (shorter) interval from now on
                eventlet.sleep(self.idle_s)

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
        self._unwatch()
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
        self._unwatch()
        self.job.close()


def _buffered(stream) -> bool:
    """Whether the change stream holds changes its last getMore returned (pymongo keeps the
    batch in its cursor; without that to ask, the rest waits for the next round)."""
    has_next = getattr(getattr(stream, "_cursor", None), "_has_next", None)
    return bool(has_next()) if callable(has_next) else False


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
