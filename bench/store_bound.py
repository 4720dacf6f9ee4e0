"""Store bound: the store work the pipeline commits for N completions, done directly with pymongo.

    .venv/bin/python bench/store_bound.py --n 1000        # own SecantusDB (or MONGO_URI)

bench/pipeline.py runs it in the same run, on the same store, as its first baseline. It calls
the services' own domain and store functions with the shared library's ``Store`` (the same
transactions, documents, indexes, outbox records and processed-event records), stage by
stage with the services' concurrency, but without anything the platform adds around them:
no nameko, eventlet, HTTP, AMQP, JSON (events are handed over as the dicts the producer
emitted) and no SMTP (the delivery worker's email channel accepts at once). The outbox
"relay" keeps its store work (lease, page of pending records, mark sent) and publishes nothing.

Stages, each on its own threads, as each service runs its workers:
- enrollment: ``--concurrency`` threads completing enrolments (the HTTP clients' number);
- certification, notification and reporting: ``max_workers`` threads each (10 by default)
  applying the ``completed`` and ``certified`` events exactly as their handlers do;
- certification's numbering loop (the lease holder's): pending issues to certificates in
  batches (ADR 0025), handing their ``certified`` events to notification and reporting;
- the notification delivery worker: claims a batch, processes ``concurrency`` (4) at a time;
- one outbox relay per service database.

Setup (programme, recipients, enrolments and their events) is not measured.
"""
from __future__ import annotations

import argparse
import os
import queue
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (COMPLETION_BODY, SERVICE_ENV, cpu_seconds, csv_bytes, event_of, iso, log, machine,  # noqa: E402
                          make_people, programme_body, write_result)
from services.certification import commands as certification_commands  # noqa: E402
from services.certification import config as certification_config  # noqa: E402
from services.certification.dependencies import NumberingJob  # noqa: E402
from services.certification import store as certification_store  # noqa: E402
from services.enrollment import commands as enrollment_commands  # noqa: E402
from services.enrollment import config as enrollment_config  # noqa: E402
from services.enrollment import store as enrollment_store  # noqa: E402
from services.enrollment import usecases as enrollment  # noqa: E402
from services.enrollment.adapters.web import BytesUpload  # noqa: E402
from services.enrollment.domain import Actor  # noqa: E402
from services.enrollment.schemas import CompletionSchema  # noqa: E402
from services.notification import commands as notification_commands  # noqa: E402
from services.notification import store as notification_store  # noqa: E402
from services.notification.adapters import recipients_csv  # noqa: E402
from services.notification.dependencies import DeliveryJob  # noqa: E402
from services.reporting import config as reporting_config  # noqa: E402
from services.reporting import usecases as reporting_usecases  # noqa: E402
from services.reporting import store as reporting_store  # noqa: E402
from shared import topology  # noqa: E402
from shared.config import SERVICES, load  # noqa: E402
from shared.outbox import Relay  # noqa: E402
from shared.runtime import ServiceRuntime  # noqa: E402
from shared.store import OUTBOX, Store, connect, ensure_base_indexes  # noqa: E402

INDEXES = {"enrollment": enrollment_store.create_indexes, "certification": certification_store.create_indexes,
           "notification": notification_store.create_indexes, "reporting": reporting_store.create_indexes}
STOP = object()


class AcceptingSmtp:
    """The delivery worker's email channel with the network taken out: accepts at once."""

    def send(self, delivery, message, to, to_name, now, accepted=lambda detail: detail):
        # as the real channel: the outcome is recorded through ``accepted`` once "sent"
        return accepted("accepted (store bound: no SMTP)")


class Counter:
    def __init__(self):
        self.lock = threading.Lock()
        self.values: dict[str, int] = {}

    def add(self, key: str, n: int = 1) -> None:
        with self.lock:
            self.values[key] = self.values.get(key, 0) + n

    def get(self, key: str) -> int:
        with self.lock:
            return self.values.get(key, 0)


def capture(fn, sink: list):
    """``fn(tx)`` that also hands over the events the (last, committed) attempt emitted."""
    def run(tx):
        result = fn(tx)
        sink[:] = list(tx.emitted)
        return result
    return run


class CapturingStore(Store):
    """A Store that keeps the events of its last committed transaction (``emitted``)."""

    emitted: list[dict] = []

    def transaction(self, fn):
        sink: list[dict] = []
        result = super().transaction(capture(fn, sink))
        self.emitted = sink
        return result


class StoreBound:
    def __init__(self, mongo_uri: str, db_prefix: str, concurrency: int):
        self.settings = {s: replace(load(s), mongo_uri=mongo_uri, db_name=f"{db_prefix}{s}") for s in SERVICES}
        self.client = connect(self.settings["enrollment"])
        self.stores = {s: Store(self.client, self.settings[s]) for s in SERVICES}
        self.enrollment = ServiceRuntime(self.settings["enrollment"],
                                         enrollment_config.load(self.settings["enrollment"]))
        self.concurrency = concurrency
        self.workers = self.settings["reporting"].max_workers
        self.cert_config = certification_config.load(self.settings["certification"])
        self.report_config = reporting_config.load()
        self.dispatcher = DeliveryJob(self.settings["notification"], client=self.client)
        self.dispatcher.channels.smtp = AcceptingSmtp()
        self.notification_config = self.dispatcher.config
        self.counter = Counter()
        self.wake_relays = threading.Event()
        self.wake_dispatcher = threading.Event()
        self.wake_numbering = threading.Event()

    # -- setup ---------------------------------------------------------------------------
    def setup(self, people: list[dict], code: str) -> list[str]:
        for service, store in self.stores.items():
            ensure_base_indexes(store.db)
            INDEXES[service](store.db)
        store, admin = self.stores["enrollment"], Actor(role="admin", subject="store-bound")
        enrollment.create_programme(store, self.enrollment, admin, programme_body(code, len(people)))
        enrollment.publish_programme(store, self.enrollment, admin, code)
        notification_commands.register_recipients(
            self.stores["notification"].db,
            recipients_csv.read_rows(csv_bytes(people, ["nip", "name", "agency", "email", "opt_outs"])),
            datetime.now(timezone.utc))
        upload = csv_bytes(people, ["nip", "name", "agency"])
        rows = list(enrollment.bulk_enrol(store, self.enrollment, admin, code, BytesUpload(upload)))
        ids = {r["nip"]: r["enrolment_id"] for r in rows if "summary" not in r and r.get("accepted")}
        if len(ids) != len(people):
            raise RuntimeError(f"store bound setup: {len(ids)} of {len(people)} enrolled")
        # A sertifikasi's results are recorded once it has ended (issue 24): end it now.
        now = datetime.now(timezone.utc)
        enrollment.update_programme(store, self.enrollment, admin, code,
                                    {"enrolment_closes_at": iso(now - timedelta(seconds=2)),
                                     "ends_at": iso(now - timedelta(seconds=1))})
        # What the consumers would have done with the setup's events (enrolled, programme_published).
        outbox = self.stores["enrollment"].db[OUTBOX]
        for record in outbox.find({"sent": False}).sort("_id", 1):
            event = event_of(record["event"])
            reporting_usecases.apply_event(self.stores["reporting"], event, self.report_config, fold_counters=False)
            if event.name == "enrolled":
                self.notify(event)
        for store in self.stores.values():
            store.db[OUTBOX].update_many({"sent": False}, {"$set": {"sent": True, "sent_at": time.time()}})
        return [ids[p["nip"]] for p in people]

    # -- the stages ----------------------------------------------------------------------
    def complete(self, enrolment_id: str) -> list[dict]:
        data = CompletionSchema().load(COMPLETION_BODY)
        emitted: list[dict] = []
        now = datetime.now(timezone.utc)
        self.stores["enrollment"].transaction(capture(
            lambda tx: enrollment_commands.complete_enrolment(tx, enrolment_id, data["score"], data["attended"], now),
            emitted))
        self.wake_relays.set()
        return emitted

    def certify(self, event) -> None:
        """The ``completed`` handler: a pending issue only; the numbering thread issues it."""
        _, recorded = self.stores["certification"].apply_once(
            event, lambda tx: certification_commands.record_pending_issue(tx, event.data, datetime.now(timezone.utc)),
            consumer=topology.consumer_queue_name("certification", "enrollment", "completed"))
        if recorded:
            self.wake_numbering.set()

    def numbering(self, queues, stop: threading.Event) -> None:
        """Certification's numbering loop (one replica: it holds the lease): batches of
        pending issues become certificates; their ``certified`` events go to the consumers."""
        store = CapturingStore(self.client, self.settings["certification"])
        numberer = NumberingJob(store, self.cert_config, lambda: datetime.now(timezone.utc))
        while not stop.is_set():
            try:
                issued = numberer.number_batch()
            except Exception:  # noqa: BLE001 - as the service: the next pass retries
                self.counter.add("failed.numbering")
                issued = []
            if issued:
                self.counter.add("numbered", len(issued))
                self.wake_relays.set()
                for certified in store.emitted:
                    e = event_of(certified)
                    queues["notification"].put(e)
                    queues["reporting"].put(e)
            if len(issued) < self.cert_config.numbering_batch:
                self.wake_numbering.wait(self.cert_config.numbering_interval_s)
                self.wake_numbering.clear()

    def notify(self, event) -> None:
        self.stores["notification"].apply_once(
            event, lambda tx: notification_commands.apply_event(tx, event, self.notification_config,
                                                               datetime.now(timezone.utc)),
            consumer=topology.consumer_queue_name("notification", event.service, event.name))
        self.wake_relays.set()
        self.wake_dispatcher.set()

    def project(self, event) -> None:
        reporting_usecases.apply_event(self.stores["reporting"], event, self.report_config, fold_counters=False)

    def consume(self, inbox: queue.Queue, handle, done_key: str) -> None:
        while True:
            event = inbox.get()
            if event is STOP:
                return
            try:
                handle(event)
            except Exception:  # noqa: BLE001 - as the reliable handler: try the event again later
                self.counter.add(f"failed.{done_key}")
                inbox.put(event)
                continue
            self.counter.add(done_key)

    def deliver(self, stop: threading.Event) -> None:
        """The delivery worker's loop: claim a batch, process ``concurrency`` at a time."""
        d = self.dispatcher
        with ThreadPoolExecutor(max_workers=self.notification_config.concurrency) as pool:
            while not stop.is_set():
                claimed = d.claim_batch(max(1, self.notification_config.concurrency) * 2)
                if claimed:
                    list(pool.map(d.process, claimed))
                    self.counter.add("deliveries", len(claimed))
                    self.wake_relays.set()
                else:
                    self.wake_dispatcher.wait(0.5)
                    self.wake_dispatcher.clear()

    def relay(self, service: str, stop: threading.Event) -> None:
        """The relay's store work: lease, page of pending records, mark sent (no broker)."""
        relay = Relay(self.settings[service])
        try:
            while not stop.is_set():
                relay.lease.acquire()
                relay._update_backlog()
                batch = relay.pending(self.settings[service].relay_batch_size)
                if batch:
                    relay._mark_sent(batch, [])
                    relay._cursor = batch[-1]["_id"]
                    self.counter.add(f"relayed.{service}", len(batch))
                    continue
                relay._cursor = None
                self.wake_relays.wait(self.settings[service].relay_poll_interval_s)
                self.wake_relays.clear()
        finally:
            relay.client.close()

    def unsent(self) -> int:
        return sum(s.db[OUTBOX].count_documents({"sent": False}) for s in self.stores.values())

    def run(self, ids: list[str]) -> float:
        n = len(ids)
        stop = threading.Event()
        queues = {s: queue.Queue() for s in ("certification", "notification", "reporting")}
        threads = [threading.Thread(target=self.relay, args=(s, stop), daemon=True) for s in SERVICES]
        threads.append(threading.Thread(target=self.deliver, args=(stop,), daemon=True))
        threads.append(threading.Thread(target=self.numbering, args=(queues, stop), daemon=True))
        handlers = {"certification": self.certify, "notification": self.notify,
                    "reporting": self.project}
        for service, inbox in queues.items():
            threads += [threading.Thread(target=self.consume, args=(inbox, handlers[service], service), daemon=True)
                        for _ in range(self.workers)]
        for thread in threads:
            thread.start()
        started = time.monotonic()

        def completion(enrolment_id: str) -> None:
            for event in self.complete(enrolment_id):
                e = event_of(event)
                for service in queues:
                    queues[service].put(e)

        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            list(pool.map(completion, ids))
        # done: every handler ran (certification once, the others twice per completion),
        # every email delivery was processed and every outbox record marked sent
        end = time.monotonic() + 1800
        while time.monotonic() < end:
            if (self.counter.get("certification") >= n and self.counter.get("notification") >= 2 * n
                    and self.counter.get("reporting") >= 2 * n and self.counter.get("deliveries") >= 2 * n
                    and self.unsent() == 0):
                break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"store bound did not finish: {self.counter.values}")
        seconds = time.monotonic() - started
        stop.set()
        self.wake_relays.set()
        self.wake_dispatcher.set()
        self.wake_numbering.set()
        for inbox in queues.values():
            for _ in range(self.workers):
                inbox.put(STOP)
        for thread in threads:
            thread.join(10)
        return seconds


    def close(self) -> None:
        self.dispatcher.close()


def run(mongo_uri: str, db_prefix: str, people: list[dict], concurrency: int, store_pid: int | None = None) -> dict:
    bound = StoreBound(mongo_uri, db_prefix, concurrency)
    try:
        t = time.monotonic()
        ids = bound.setup(people, f"BENCH-STORE-{os.getpid()}")
        log(f"store bound: {len(ids)} enrolled in {time.monotonic() - t:.0f}s (setup, not measured)")
        store_cpu0, own_cpu0 = (cpu_seconds(store_pid) if store_pid else None), time.process_time()
        seconds = bound.run(ids)
        own_cpu = time.process_time() - own_cpu0
        result = {
            "completions": len(ids), "concurrency": concurrency, "consumer_threads_per_service": bound.workers,
            "seconds": round(seconds, 1), "throughput_per_s": round(len(ids) / seconds, 1),
            "bench_process_cpu_seconds": round(own_cpu, 1),
            "store_cpu_seconds": round(cpu_seconds(store_pid) - store_cpu0, 1) if store_pid else None,
            "work": dict(bound.counter.values),
        }
        return result
    finally:
        bound.close()
        bound.client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args(argv)
    os.environ.update(SERVICE_ENV)
    from deploy.secantus import SecantusServer

    server = None
    uri = os.environ.get("MONGO_URI")
    if not uri:
        server = SecantusServer(storage_path=":memory:").start()
        uri = server.uri
    try:
        result = run(uri, f"bsb{os.getpid()}_", make_people(args.n), args.concurrency,
                     store_pid=server.pid if server else None)
    finally:
        if server is not None:
            server.stop()
    result.update(machine=machine(), measured_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    print(result)
    path = write_result("store_bound", result)
    log(f"written {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
