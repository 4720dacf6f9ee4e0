"""Certification figures: issuing throughput (completions recorded as pending issues by the
handlers, numbered in batches by the lease holder, ADR 0025; or ``--mode per-event``, the
former numbering inside every event's transaction), verification time for known vs unknown
codes, PDF rendering and its PAdES signature, and credential signing.

    python bench/certification_bench.py [--certificates 400] [--replicas 2] [--threads 4] [--mode batched]

Uses MONGO_URI if set, else starts a throw-away SecantusDB (secantusd-py). Prints numbers;
asserts nothing.
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.config import load  # noqa: E402
from shared.events import envelope, registry  # noqa: E402
from shared.background import LEASES, Lease  # noqa: E402
from shared.store import Store, connect, ensure_base_indexes  # noqa: E402
from shared.timefmt import utc_now, wib_date  # noqa: E402
from services.certification import commands, domain, queries  # noqa: E402
from services.certification import config as certification_config  # noqa: E402
from services.certification import store as cert_store  # noqa: E402
from services.certification.adapters.credential import (Issuer, build_credential, load_signing_key, sign,  # noqa: E402
                                                        verify_proof)
from services.certification.adapters.pdf import render_certificate  # noqa: E402
from services.certification.dependencies import NUMBERING_LEASE, NumberingJob  # noqa: E402


def start_secantus() -> tuple[str, subprocess.Popen | None]:
    if os.environ.get("MONGO_URI"):
        return os.environ["MONGO_URI"], None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).with_name("secantusd-py")
    proc = subprocess.Popen([str(exe), "--host", "127.0.0.1", "--port", str(port), "--storage-path", ":memory:"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + 30
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.3).close()
            break
        except OSError:
            time.sleep(0.1)
    return f"mongodb://127.0.0.1:{port}/?retryWrites=false", proc


def completion_event(i: int) -> envelope.Event:
    definition = registry.latest("enrollment", "completed")
    data = {**definition.example, "enrolment_id": f"bench-{i}",
            "participant": {**definition.example["participant"], "nip": f"1985031220100{i:05d}"}}
    raw = envelope.new_event(definition, f"bench-{i}", data)
    return envelope.parse(envelope.encode(raw))


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--certificates", type=int, default=400)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4, help="concurrent handlers per replica")
    parser.add_argument("--mode", choices=("batched", "per-event"), default="batched",
                        help="batched numbering under a lease (the service), or numbering in each event's transaction")
    args = parser.parse_args()
    uri, proc = start_secantus()
    settings = replace(load("certification"), mongo_uri=uri, db_name=f"bench_{uuid.uuid4().hex[:6]}_certification")
    base_url = "https://sertifikat.example"
    config = replace(certification_config.load(), base_url=base_url)
    try:
        clients = [connect(settings) for _ in range(args.replicas)]
        db = clients[0][settings.db_name]
        ensure_base_indexes(db)
        cert_store.create_indexes(db)
        events = [completion_event(i) for i in range(args.certificates)]
        work = list(enumerate(events))
        lock = threading.Lock()
        handlers_done = threading.Event()
        wakes = [threading.Event() for _ in clients]

        def handler(client, wake):
            store = Store(client, settings, consumer="certification.enrollment.completed")
            while True:
                with lock:
                    if not work:
                        return
                    _, event = work.pop()
                if args.mode == "per-event":
                    commands.prepare_issue(store.db, event.data)
                    store.apply_once(event, lambda tx: commands.issue_certificate(tx, event.data, config, utc_now()))
                elif store.apply_once(event, lambda tx: commands.record_pending_issue(
                        tx, event.data, utc_now()))[1]:
                    wake.set()  # as the service kicks its numbering pass after the commit

        def numberer(replica, client, wake):
            # One numbering loop per replica, as the service's greenthread: the lease holder numbers.
            store = Store(client, settings)
            numbering = NumberingJob(store, config, utc_now)
            lease = Lease(store.db[LEASES], NUMBERING_LEASE, f"bench-replica-{replica}", config.numbering_lease_s)
            while True:
                issued = numbering.number_batch() if lease.held() else []
                if not issued and handlers_done.is_set() and db.pending_issues.count_documents({}) == 0:
                    return
                if len(issued) < config.numbering_batch:
                    wake.wait(config.numbering_interval_s)
                    wake.clear()

        threads = [threading.Thread(target=handler, args=(c, w)) for c, w in zip(clients, wakes)
                   for _ in range(args.threads)]
        numberers = [] if args.mode == "per-event" else [
            threading.Thread(target=numberer, args=(r, c, w)) for r, (c, w) in enumerate(zip(clients, wakes))]
        started = time.perf_counter()
        for t in threads + numberers:
            t.start()
        for t in threads:
            t.join()
        handlers_done.set()
        for t in numberers:
            t.join()
        elapsed = time.perf_counter() - started
        seqs = sorted(c["seq"] for c in db.certificates.find({}, {"seq": 1}))
        gapless = seqs == list(range(1, args.certificates + 1))
        print(f"issue ({args.mode}): {args.certificates} certificates by {args.replicas} replicas x {args.threads} handlers "
              f"in {elapsed:.2f}s = {args.certificates / elapsed:.0f}/s; numbers 1..{seqs[-1]} gapless={gapless}")

        codes = [c["verification_code"] for c in db.certificates.find({}, {"verification_code": 1}).limit(200)]
        unknown = [domain.new_verification_code() for _ in codes]
        for label, sample in (("known", codes), ("unknown", unknown)):
            times = []
            for code in sample * 3:
                t0 = time.perf_counter()
                certificate, successor = queries.find_for_verification(db, code)
                domain.verification_view(certificate, successor, wib_date(utc_now()), str)
                times.append((time.perf_counter() - t0) * 1000)
            print(f"verify {label:7s}: p50 {statistics.median(times):.2f} ms, p95 {percentile(times, 95):.2f} ms "
                  f"({len(times)} lookups)")

        certificate = db.certificates.find_one()
        t0 = time.perf_counter()
        for _ in range(20):
            render_certificate(certificate, "https://sertifikat.example/verify/" + certificate["verification_code"], config)
        print(f"pdf: {(time.perf_counter() - t0) / 20 * 1000:.1f} ms per certificate")
        # The download signs the rendered PDF (PAdES); the development chain's RSA-2048 key.
        unsigned = render_certificate(certificate, "https://sertifikat.example/verify/x", config)
        config.pdf_signer.sign(unsigned)  # the key material is loaded on first use
        t0 = time.perf_counter()
        for _ in range(20):
            config.pdf_signer.sign(unsigned)
        print(f"pdf signature (PAdES): {(time.perf_counter() - t0) / 20 * 1000:.1f} ms per certificate")
        issuer = Issuer(load_signing_key(None), config.issuer_name, "https://sertifikat.example")
        t0 = time.perf_counter()
        for _ in range(200):
            signed = sign(build_credential(certificate, issuer, "https://sertifikat.example/verify/x"), issuer,
                          certificate["issued_at"])
        t1 = time.perf_counter()
        for _ in range(200):
            verify_proof(signed, issuer.did)
        t2 = time.perf_counter()
        print(f"credential: sign {(t1 - t0) / 200 * 1000:.2f} ms, verify {(t2 - t1) / 200 * 1000:.2f} ms")
        clients[0].drop_database(settings.db_name)
        for c in clients:
            c.close()
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
