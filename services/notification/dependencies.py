"""notification's nameko dependencies in one place: the runtime (configuration and clock) and
the two background loops (``shared.background``).

deliveries  every replica sends (no lease): each delivery is taken with an atomic claim
            (status ``pending`` → ``sending`` with a claim token and a claim lease) and its
            outcome is written only while that claim still holds, in one transaction with the
            ``delivered``/``failed`` event (outbox). A replica that dies mid-send leaves a claim
            that expires; the delivery is then sent again (at least once — the email
            Message-ID and the webhook id stay the same, so receivers can drop the copy). The
            loop is woken after each event the service applies.
digests     the holder of the ``escalation-digests`` lease turns operator summaries whose
            collection time is over into messages (their deliveries go out with the next
            delivery pass).
"""
from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime, timedelta

from eventlet.greenpool import GreenPool

from services.notification import commands, config, queries, usecases
from services.notification.adapters.channels import Channels, check_config
from shared.background import Background, LeasedLoop, holder_id
from shared.config import Settings
from shared.outbox import RelayedLoop
from shared.runtime import Runtime, clock_of
from shared.store import Store, connect
from shared.timefmt import utc_now

log = logging.getLogger(__name__)

DELIVERY_LOOP = "notification-deliveries"
DIGEST_LOOP = DIGEST_LEASE = "escalation-digests"
RECOVER_EVERY_S = 10.0  # how often a replica returns expired claims to pending
DIGEST_EVERY_S = 5.0

runtime = Runtime(config.load)


def wall_clock() -> datetime:
    # Claim leases measure process liveness, so they use real time even when tests move
    # the business clock (quiet hours, reminders) around.
    return utc_now()


class DeliveryJob:
    """One replica's sending: claims batches of due deliveries and sends ``concurrency`` at a
    time; independent of nameko so scripts and benchmarks can drive it."""

    def __init__(self, settings: Settings, *, client=None, holder: str | None = None):
        self.config = config.load(settings)
        check_config(self.config)  # refuses to start on an unusable (or, in production, absent) secret
        self.clock = clock_of(settings)
        self.client = client or connect(settings)
        self.store = Store(self.client, settings)  # RelayedLoop gives it the container's relay
        self.db = self.store.db
        self.holder = holder or holder_id()
        self.channels = Channels(self.config)
        self.pool = GreenPool(max(1, self.config.concurrency))
        self._inputs: dict = {}  # delivery id -> (message, ASN contact) read with its claim
        self._recovered_at = 0.0

    def claim_batch(self, limit: int) -> list[dict]:
        """Take up to ``limit`` due pending deliveries, oldest due first.

        Candidates come from the (status, next_attempt_at) index and are taken with one
        ``update_many`` under a claim token of this batch; then one read returns what this
        batch holds, and the messages and contacts it needs are fetched with one read each
        (a few round trips per batch instead of several per delivery).
        """
        now = self.clock()
        candidates = queries.due_deliveries(self.db, now, limit)
        if not candidates:
            return []
        token = f"{self.holder}/{uuid.uuid4().hex[:8]}"
        until = wall_clock() + timedelta(seconds=self.config.claim_lease_s)
        self.store.transaction(lambda tx: commands.claim(tx, candidates, token, now, until))
        claimed = queries.claimed(self.db, candidates, token)
        self._inputs.update(queries.delivery_inputs(self.db, claimed))
        return claimed

    def release_expired_claims(self) -> int:
        """Claims of replicas that died mid-send become pending again."""
        now = wall_clock()
        released = self.store.transaction(lambda tx: commands.release_expired_claims(tx, now))
        if released:
            log.warning("%d expired delivery claims returned to pending", released)
        return released

    def process(self, delivery: dict) -> str:
        """Send one claimed delivery and record the outcome; returns the new status."""
        claim_until = delivery.get("claim_until")
        if claim_until is not None and wall_clock() >= claim_until:
            # Waited in this batch past its lease: another replica may hold it by now, and
            # sending anyway would make a second copy. It goes back to pending with the others.
            self._inputs.pop(delivery["_id"], None)
            log.warning("delivery %s: claim expired before sending; left for the next claim", delivery["_id"])
            return "lost"
        return usecases.deliver(self.store, self.channels, self.config, self.clock, delivery,
                                self._inputs.pop(delivery["_id"], None))

    def _process_safely(self, delivery: dict) -> None:
        try:
            self.process(delivery)
        except Exception:  # noqa: BLE001 - the claim expires and the delivery is tried again
            log.exception("processing delivery %s failed; it returns to pending when its claim expires",
                          delivery["_id"])

    def run_once(self) -> int:
        """Claim and process a batch of due deliveries, ``concurrency`` at a time; returns how many."""
        if time.monotonic() - self._recovered_at > RECOVER_EVERY_S:
            self.release_expired_claims()
            self._recovered_at = time.monotonic()
        claimed = self.claim_batch(max(1, self.config.concurrency) * 2)
        for delivery in claimed:
            self.pool.spawn_n(self._process_safely, delivery)
        self.pool.waitall()
        return len(claimed)

    def flush(self, deadline_s: float = 10.0) -> int:
        """Process until nothing is due (scripts and benchmarks)."""
        total, end = 0, time.monotonic() + deadline_s
        while time.monotonic() < end:
            done = self.run_once()
            total += done
            if not done:
                break
        return total

    def drain(self) -> None:
        pass  # the pass in flight has finished; what is still due waits for the next pass anywhere

    def close(self) -> None:
        self.client.close()


class DigestJob:
    """The operator summaries of this replica while it holds the digest lease."""

    def __init__(self, settings: Settings):
        self.config, self.clock = config.load(settings), clock_of(settings)
        self.client = connect(settings)
        self.store = Store(self.client, settings)
        self.db = self.store.db  # the lease lives in this database

    def run_once(self) -> int:
        return usecases.send_due_digests(self.store, self.config, self.clock())

    def drain(self) -> None:
        pass  # each summary is sent in its own transaction: nothing is left half done

    def close(self) -> None:
        self.client.close()


deliveries = Background(RelayedLoop(
    DELIVERY_LOOP, DeliveryJob, interval_s=lambda settings: config.load(settings).poll_interval_s))

digests = Background(LeasedLoop(
    DIGEST_LOOP, DigestJob, lease=DIGEST_LEASE, lease_s=max(30.0, DIGEST_EVERY_S * 3),
    interval_s=lambda settings: min(DIGEST_EVERY_S, config.load(settings).poll_interval_s)))
