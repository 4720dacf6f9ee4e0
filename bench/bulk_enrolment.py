"""Bulk CSV throughput of the enrollment service: rows/s for enrolment and completion uploads.

Runs the real thing: a SecantusDB of its own (or MONGO_URI), a vhost of its own on the
local RabbitMQ, the enrollment service as a process (``python -m services``), and
one HTTP request per file, reading the streamed per-row answer. Measures

- a first upload of N rows (1 % of them invalid) into a programme with 80 % of N seats,
- the same file again (idempotent: nothing changes),
- a completion file for every enrolled participant, once the programme has ended (moved to now),
- how long the outbox relay takes to publish the resulting events.

    .venv/bin/python bench/bulk_enrolment.py               # 10,000 rows
    .venv/bin/python bench/bulk_enrolment.py --rows 2000 --chunk 100

Prints the figures and writes bench/results/bulk_enrolment.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from kombu import Connection, Exchange, Queue  # noqa: E402
from pymongo import MongoClient  # noqa: E402

from deploy import rabbit  # noqa: E402
from deploy.processes import free_port, port_open, spawn, stop, tail, wait_until  # noqa: E402
from shared.reference import agencies  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "bulk_enrolment.json"


def nip(i: int) -> str:
    birth = date(1965, 1, 1) + timedelta(days=i // 999)
    return f"{birth:%Y%m%d}{birth.year + 25}{(i % 12) + 1:02d}{i % 2 + 1}{i % 999 + 1:03d}"


def enrolment_csv(rows: int) -> bytes:
    codes = list(agencies())
    lines = ["nip,nama,opd,jabatan"]
    for i in range(rows):
        if i % 100 == 99:  # 1 % bad rows: an impossible appointment month
            lines.append(f"{nip(i)[:12]}13{nip(i)[14:]},Peserta {i},{codes[i % len(codes)]},Pelaksana")
        else:
            lines.append(f"{nip(i)},Peserta {i},{codes[i % len(codes)]},Pelaksana")
    return ("\n".join(lines) + "\n").encode()


def completion_csv(nips: list[str]) -> bytes:
    lines = ["nip,nilai,hadir"] + [f"{n},{60 + (i * 7) % 40},ya" for i, n in enumerate(nips)]
    return ("\n".join(lines) + "\n").encode()


def upload(url: str, body: bytes, headers: dict) -> dict:
    """POST a CSV and read the streamed answer; seconds to the first result and in total."""
    started = time.monotonic()
    first = None
    results = []
    with requests.post(url, data=body, headers={"Content-Type": "text/csv", **headers}, stream=True,
                       timeout=600) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if first is None:
                first = time.monotonic() - started
            results.append(json.loads(line))
    total = time.monotonic() - started
    summary = results[-1]["summary"]
    return {"seconds": round(total, 2), "first_result_s": round(first or total, 3),
            "rows_per_s": round(summary["rows"] / total, 1), "summary": summary, "results": results[:-1]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, default=None, help="rows per transaction (ENROLLMENT_BULK_CHUNK_ROWS)")
    args = parser.parse_args(argv)

    server = None
    mongo_uri = os.environ.get("MONGO_URI")
    if not mongo_uri:
        from deploy.secantus import SecantusServer
        server = SecantusServer(storage_path=":memory:").start()
        mongo_uri = server.uri
    rabbit.ensure_running()
    vhost = f"bench-bulk-{os.getpid()}-{uuid.uuid4().hex[:4]}"
    rabbit.create_vhost(vhost)
    amqp_uri = rabbit.amqp_uri_for(vhost)
    port = free_port()
    prefix = f"bench{uuid.uuid4().hex[:6]}_"
    env = {**os.environ, "AMQP_URI": amqp_uri, "MONGO_URI": mongo_uri, "MONGO_DB_PREFIX": prefix,
           "ENROLLMENT_HTTP_ADDRESS": f"127.0.0.1:{port}", "LOG_LEVEL": "WARNING"}
    if args.chunk:
        env["ENROLLMENT_BULK_CHUNK_ROWS"] = str(args.chunk)
    from shared import auth
    env.setdefault("AUTH_SECRET", auth.generate_secret())  # a throw-away key for this run
    admin = {"Authorization": "Bearer " + auth.issue_token(auth.load_config(environ=env), role="admin")}
    log_path = Path(tempfile.gettempdir()) / f"bench-bulk-enrolment-{os.getpid()}.log"
    proc = spawn([sys.executable, "-m", "services", "enrollment"], log_path=log_path, env=env, cwd=ROOT)
    try:
        if not wait_until(lambda: port_open("127.0.0.1", port), 60, alive=proc):
            print(tail(log_path), file=sys.stderr)
            return 1
        with Connection(amqp_uri) as conn:  # a subscriber, so every event is routed somewhere
            Queue("bench.subscriber", Exchange("enrollment.events", "topic", durable=True), routing_key="#",
                  durable=True)(conn.channel()).declare()
        base = f"http://127.0.0.1:{port}"
        now = datetime.now(timezone.utc)
        iso = lambda d: d.isoformat().replace("+00:00", "Z")  # noqa: E731
        seats = int(args.rows * 0.8)
        requests.post(f"{base}/programmes", timeout=30, headers=admin, json={
            "code": "BENCH-01", "title": "Pelatihan Dasar Pengadaan Barang/Jasa", "kind": "pelatihan",
            "competency_type": "teknis", "jp": 24, "organisers": ["BKN"], "capacity": seats, "passing_score": 70,
            "starts_at": iso(now - timedelta(hours=1)), "ends_at": iso(now + timedelta(days=5)),
            "enrolment_opens_at": iso(now - timedelta(days=1)), "enrolment_closes_at": iso(now + timedelta(days=4)),
        }).raise_for_status()
        requests.post(f"{base}/programmes/BENCH-01/publish", timeout=30, headers=admin).raise_for_status()

        csv_body = enrolment_csv(args.rows)
        first = upload(f"{base}/programmes/BENCH-01/enrolments/bulk", csv_body, admin)
        again = upload(f"{base}/programmes/BENCH-01/enrolments/bulk", csv_body, admin)
        enrolled = [r["nip"] for r in first["results"] if r.get("enrolment_status") == "enrolled"]
        # A pelatihan's results are recorded once it has ended (issue 24): end it now, as an operator
        # does when a programme ends early.
        ended = datetime.now(timezone.utc)
        requests.patch(f"{base}/programmes/BENCH-01", timeout=30, headers=admin, json={
            "enrolment_closes_at": iso(ended - timedelta(seconds=2)), "ends_at": iso(ended - timedelta(seconds=1)),
        }).raise_for_status()
        completion = upload(f"{base}/programmes/BENCH-01/completions/bulk", completion_csv(enrolled), admin)

        client = MongoClient(mongo_uri)
        outbox = client[f"{prefix}enrollment"].outbox
        drain_started = time.monotonic()
        wait_until(lambda: outbox.count_documents({"sent": False}) == 0, 600, interval=0.5)
        drain_s = time.monotonic() - drain_started
        events = outbox.count_documents({})
        client.close()
    finally:
        stop(proc)
        rabbit.delete_vhost(vhost)
        if server is not None:
            server.stop()

    figures = {
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
                    "store": "MONGO_URI" if os.environ.get("MONGO_URI") else "SecantusDB (own, in memory)"},
        "rows": args.rows, "chunk_rows": args.chunk or 250,
        "enrol_first_upload": {k: v for k, v in first.items() if k != "results"},
        "enrol_reupload_unchanged": {k: v for k, v in again.items() if k != "results"},
        "complete_upload": {k: v for k, v in completion.items() if k != "results"},
        "events_in_outbox": events,
        "outbox_drain_after_uploads_s": round(drain_s, 2),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    for label, key in (("enrol, first upload", "enrol_first_upload"), ("enrol, same file again", "enrol_reupload_unchanged"),
                       ("completions", "complete_upload")):
        f = figures[key]
        print(f"{label:24s} {f['summary']['rows']:6d} rows in {f['seconds']:7.2f} s = {f['rows_per_s']:7.1f} rows/s "
              f"(first result after {f['first_result_s']:.3f} s) {f['summary']}")
    print(f"events written: {events}; outbox still draining after the uploads: {figures['outbox_drain_after_uploads_s']} s")
    print(f"written to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
