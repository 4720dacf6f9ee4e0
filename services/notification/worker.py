"""The delivery worker: sends due deliveries, retries with back-off, sends operator digests.

Safe with several replicas: each delivery is taken with an atomic claim (status
``pending`` → ``sending`` with a claim token and a lease), and its outcome is written only
while that claim still holds, in one transaction with the ``delivered``/``failed`` event
(outbox). A replica that dies mid-send leaves a claim that expires; the delivery is then
sent again (at least once — the email Message-ID and the webhook delivery header stay the
same, so receivers can drop the copy). The digest job runs under a named lease.
"""
from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from datetime import datetime, timedelta, timezone

import eventlet
from eventlet.greenpool import GreenPool
from eventlet.queue import Empty, LightQueue
from nameko.extensions import DependencyProvider, SharedExtension
from prometheus_client import Counter
from pymongo.errors import PyMongoError

from services.notification import domain
from services.notification import config as notification_config
from services.notification.channels import (PermanentFailure, SmtpChannel, TransientFailure, WebhookChannel,
                                            check_config)
from services.notification.config import Clock, NotificationConfig
from services.notification.notify import Notifier, emit_delivered, emit_failed, show_in_inbox
from services.notification.store import AGENCY_CONTACTS, DELIVERIES, ESCALATIONS, MESSAGES, RECIPIENTS
from shared.config import Settings, settings_of
from shared.errors import StoreUnavailable
from shared.outbox import LEASES, Lease, OutboxRelay
from shared.store import Duplicate, Store, connect

log = logging.getLogger(__name__)

DELIVERY_OUTCOMES = Counter("asn_notification_deliveries_total", "Delivery attempts by channel and outcome",
                            ["channel", "outcome"])
DIGEST_LEASE = "escalation-digests"
RECOVER_EVERY_S = 10.0
DIGEST_EVERY_S = 5.0


def wall_clock() -> datetime:
    # Claim leases measure process liveness, so they use real time even when tests move
    # the business clock (quiet hours, reminders) around.
    return datetime.now(timezone.utc)


class Dispatcher:
    """One replica's sending logic, independent of nameko so tests and scripts can drive it."""

    def __init__(self, settings: Settings, config: NotificationConfig, clock: Clock, *, client=None,
                 relay=None, holder: str | None = None):
        self.settings, self.config, self.clock = settings, config, clock
        self.client = client or connect(settings)
        self.store = Store(self.client, settings, relay=relay)
        self.db = self.store.db
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.notifier = Notifier(config, clock)
        self.smtp = SmtpChannel(config)
        self.webhook = WebhookChannel(config)
        self.digest_lease = Lease(self.db[LEASES], DIGEST_LEASE, self.holder, max(30.0, DIGEST_EVERY_S * 3))
        self.pool = GreenPool(max(1, config.concurrency))
        self._prefetched: dict = {}  # delivery id -> (message, ASN contact) read with its claim

    # -- claims -------------------------------------------------------------------------
    def claim_batch(self, limit: int) -> list[dict]:
        """Take up to ``limit`` due pending deliveries, oldest due first.

        Candidates come from the (status, next_attempt_at) index and are taken with one
        ``update_many`` under a claim token of this batch; the filter repeats "pending and
        due", so a candidate another replica took in between is not taken. Then one read
        returns what this batch holds, and the messages and contacts it needs are fetched
        with one read each (a few round trips per batch instead of several per delivery).
        """
        now = self.clock()
        candidates = [c["_id"] for c in self.db[DELIVERIES].find(
            {"status": "pending", "next_attempt_at": {"$lte": now}}, {"_id": 1})
            .sort("next_attempt_at", 1).limit(limit)]  # no hint: SecantusDB walks a hinted index whole
        if not candidates:
            return []
        token = f"{self.holder}/{uuid.uuid4().hex[:8]}"
        # In a transaction: a conflict with a transaction a killed replica left open then fails
        # fast and is retried, where a plain write would spin inside SecantusDB holding its lock.
        self.store.transaction(lambda tx: tx.db[DELIVERIES].update_many(
            {"_id": {"$in": candidates}, "status": "pending", "next_attempt_at": {"$lte": now}},
            {"$set": {"status": "sending", "claimed_by": token,
                      "claim_until": wall_clock() + timedelta(seconds=self.config.claim_lease_s)},
             "$inc": {"version": 1}}, session=tx.session))
        taken = {d["_id"]: d for d in self.db[DELIVERIES].find({"_id": {"$in": candidates}, "claimed_by": token})}
        claimed = [taken[_id] for _id in candidates if _id in taken]
        self._prefetch(claimed)
        return claimed

    def _prefetch(self, deliveries: list[dict]) -> None:
        messages = {m["_id"]: m for m in self.db[MESSAGES].find(
            {"_id": {"$in": list({d["message_id"] for d in deliveries})}})}
        nips = list({d["nip"] for d in deliveries if not d.get("agency") and d.get("nip")})
        contacts = {c["_id"]: c for c in self.db[RECIPIENTS].find({"_id": {"$in": nips}})} if nips else {}
        for d in deliveries:
            self._prefetched[d["_id"]] = (messages.get(d["message_id"]),
                                          None if d.get("agency") else contacts.get(d.get("nip")))

    def recover_expired_claims(self) -> int:
        """Claims of replicas that died mid-send become pending again."""
        now = wall_clock()
        result = self.store.transaction(lambda tx: tx.db[DELIVERIES].update_many(  # see claim_batch
            {"status": "sending", "claim_until": {"$lt": now}},
            {"$set": {"status": "pending", "claimed_by": None, "claim_until": None}, "$inc": {"version": 1},
             "$push": {"history": {"at": now, "outcome": "claim_expired", "detail": "sender did not finish"}}},
            session=tx.session))
        if result.modified_count:
            log.warning("%d expired delivery claims returned to pending", result.modified_count)
        return result.modified_count

    # -- one pass -----------------------------------------------------------------------
    def run_once(self) -> int:
        """Claim and process a batch of due deliveries, ``concurrency`` at a time; returns how many."""
        claimed = self.claim_batch(max(1, self.config.concurrency) * 2)
        for delivery in claimed:
            self.pool.spawn_n(self._process_safely, delivery)
        self.pool.waitall()
        return len(claimed)

    def drain(self, deadline_s: float = 10.0) -> int:
        """Process until nothing is due (tests and scripts)."""
        total, end = 0, time.monotonic() + deadline_s
        while time.monotonic() < end:
            done = self.run_once()
            total += done
            if not done:
                break
        return total

    def _process_safely(self, delivery: dict) -> None:
        try:
            self.process(delivery)
        except Exception:  # noqa: BLE001 - the claim expires and the delivery is tried again
            log.exception("processing delivery %s failed; it returns to pending when its claim expires",
                          delivery["_id"])

    def process(self, delivery: dict) -> str:
        """Send one claimed delivery and record the outcome; returns the new status."""
        channel, kind = delivery["channel"], delivery["kind"]
        prefetched = self._prefetched.pop(delivery["_id"], None)
        message = prefetched[0] if prefetched else self.db[MESSAGES].find_one({"_id": delivery["message_id"]})
        if message is None or message.get("dropped"):
            return self._finish(delivery, "dropped", "message dropped")
        if channel == "inbox":
            return self._finish(delivery, "delivered", "in inbox")

        if delivery.get("agency"):
            contact = self.db[AGENCY_CONTACTS].find_one({"_id": delivery["agency"]})
            who = f"agency {delivery['agency']}"
        else:
            contact = prefetched[1] if prefetched else self.db[RECIPIENTS].find_one({"_id": delivery["nip"]})
            who = f"ASN {delivery['nip']}"
            if contact and kind in (contact.get("opt_outs") or ()):
                return self._finish(delivery, "skipped", f"opted out of {kind}")
        address = domain.address_for(channel, contact)
        if address is None:
            return self._finish(delivery, "undeliverable", domain.missing_contact_reason(channel, who))

        try:
            if channel == "email":
                detail = self.smtp.send(delivery, message, address, (contact or {}).get("name"), self.clock())
            else:
                to = {"phone": contact.get("phone"), "whatsapp": contact.get("whatsapp"),
                      "name": contact.get("name")}
                detail = self.webhook.send(delivery, message, to, self.clock())
        except TransientFailure as exc:
            attempts = delivery.get("attempts", 0) + 1
            if domain.gives_up(attempts, self.config):
                return self._finish(delivery, "failed", f"gave up after {attempts} attempts: {exc}", attempts)
            return self._finish(delivery, "pending", str(exc), attempts)
        except PermanentFailure as exc:
            return self._finish(delivery, "failed", str(exc), delivery.get("attempts", 0) + 1)
        return self._finish(delivery, "delivered", detail, delivery.get("attempts", 0) + 1)

    def _finish(self, delivery: dict, status: str, detail: str, attempts: int | None = None) -> str:
        """Record the outcome while our claim still holds; emit the event in the same transaction."""
        detail = domain.redact(detail)  # the channels name no URL; this catches what they missed
        now = self.clock()
        attempts = delivery.get("attempts", 0) if attempts is None else attempts
        update = {"status": status, "attempts": attempts, "updated_at": now, "claimed_by": None,
                  "claim_until": None, "last_error": None if status == "delivered" else detail,
                  "next_attempt_at": None}
        if status == "pending":
            update["next_attempt_at"] = domain.retry_at(now, attempts, delivery["kind"], delivery["channel"],
                                                        self.config)
        if status == "delivered":
            update["delivered_at"] = now
        entry = {"at": now, "outcome": "retry" if status == "pending" else status, "detail": detail[:500]}

        def effect(tx):
            # The claim token alone proves the claim still holds (and keeps this a point update).
            result = tx.db[DELIVERIES].update_one(
                {"_id": delivery["_id"], "claimed_by": delivery["claimed_by"]},
                {"$set": update, "$push": {"history": entry}, "$inc": {"version": 1}}, session=tx.session)
            if result.matched_count == 0:
                return False  # the claim expired and another replica took over
            if status == "delivered":
                if delivery["channel"] == "inbox":
                    show_in_inbox(tx, delivery["message_id"], now)
                emit_delivered(tx, delivery, now)
            elif status in ("failed", "undeliverable"):
                emit_failed(tx, delivery, detail, attempts, now)
            return True

        if not self.store.transaction(effect):
            log.warning("delivery %s: claim lost before recording %s", delivery["_id"], status)
            return "lost"
        DELIVERY_OUTCOMES.labels(delivery["channel"], entry["outcome"]).inc()
        if status == "pending":
            log.info("delivery %s (%s) failed, retry at %s: %s", delivery["_id"], delivery["channel"],
                     update["next_attempt_at"], detail)
        elif status in ("failed", "undeliverable"):
            log.warning("delivery %s (%s) not delivered: %s", delivery["_id"], delivery["channel"], detail)
        return status

    # -- operator digests ---------------------------------------------------------------
    def send_due_digests(self) -> int:
        if not self.digest_lease.acquire():
            return 0
        now = self.clock()
        sent = 0
        for digest in list(self.db[ESCALATIONS].find({"pending": True, "due_at": {"$lte": now}}, {"_id": 1})
                           .sort("due_at", 1).limit(100)):
            try:
                if self.store.transaction(lambda tx: self.notifier.send_digest(tx, digest["_id"], now)):
                    sent += 1
            except Duplicate:
                pass  # another replica sent it
        return sent

    def close(self) -> None:
        self.client.close()


class DeliveryWorker(SharedExtension):
    """Runs a ``Dispatcher`` in a managed greenthread of the service container."""

    relay = OutboxRelay()  # the container's relay (shared): woken after each outcome

    def __init__(self):
        self.dispatcher: Dispatcher | None = None
        self._wakeups = LightQueue()
        self._stopping = False
        self._gt = None

    def setup(self):
        settings = settings_of(self.container)
        self.dispatcher = Dispatcher(settings, notification_config.load(settings),
                                     notification_config.clock_of(settings), relay=self.relay)

    def start(self):
        self._stopping = False
        self._gt = self.container.spawn_managed_thread(self._run, identifier="delivery-worker")

    def wake(self) -> None:
        if self._wakeups.qsize() < 2:
            self._wakeups.put(None)

    def _run(self):
        failures, last_recover, last_digest = 0, 0.0, 0.0
        interval = self.dispatcher.config.poll_interval_s
        while not self._stopping:
            try:
                if time.monotonic() - last_recover > RECOVER_EVERY_S:
                    self.dispatcher.recover_expired_claims()
                    last_recover = time.monotonic()
                if time.monotonic() - last_digest > min(DIGEST_EVERY_S, interval):
                    self.dispatcher.send_due_digests()
                    last_digest = time.monotonic()
                done = self.dispatcher.run_once()
                failures = 0
            except (PyMongoError, StoreUnavailable, OSError) as exc:
                failures += 1
                delay = min(5.0, 0.2 * 2 ** min(failures, 5))
                log.warning("delivery worker: store unavailable (%s); retrying in %.1fs", exc, delay)
                eventlet.sleep(delay)
                continue
            if done:
                continue
            try:
                self._wakeups.get(timeout=interval)
            except Empty:
                pass

    def stop(self):
        # In-flight sends finish; their outcomes are recorded before the store closes.
        self._stopping = True
        self.wake()
        if self._gt is not None:
            self._gt.wait()
        self.dispatcher.close()

    def kill(self):
        self._stopping = True
        if self._gt is not None:
            self._gt.kill()
        self.dispatcher.close()


class Notifications(DependencyProvider):
    """The service's view of notification: the ``Notifier`` for events and the worker's wake-up."""

    worker = DeliveryWorker()

    def setup(self):
        settings = settings_of(self.container)
        self.config = notification_config.load(settings)
        check_config(self.config)  # refuses to start on an unusable (or, in production, absent) secret
        self.clock = notification_config.clock_of(settings)
        self.notifier = Notifier(self.config, self.clock)

    def wake(self) -> None:
        self.worker.wake()

    def get_dependency(self, worker_ctx):
        return self
