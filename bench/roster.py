"""The roster at city scale: importing 5,000 ASN and a shortfall checkpoint over them.

Runs the real thing: the four services as processes (``deploy.launcher.Stack``, free ports),
a SecantusDB of its own (or MONGO_URI) and a vhost of its own on the local RabbitMQ. The
roster is the demo's (``deploy.demo``: real OPD, supervisors, PNS and PPPK). Measures

- ``POST /roster/import`` of N rows (a first upload, then the same file again, which changes
  nothing), seconds, rows/s and the first streamed result;
- a full import of one OPD that drops 10 % of its staff (with ``konfirmasi``);
- how long until reporting counts every rostered ASN (projection of the roster events);
- a checkpoint over the N ASN, about a third of whom earned 24 JP: from the 202 to ``done``
  (``GET /admin/shortfall/<checkpoint>``), ASN/s, and the progress it showed on the way.

    .venv/bin/python bench/roster.py                 # 5,000 ASN
    .venv/bin/python bench/roster.py --asn 1000

Prints the figures and writes bench/results/roster.json (with the commit and load average).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from bench.common import (SERVICE_ENV, check, iso, log, machine, programme_body, wait_until,  # noqa: E402
                          write_result)
from deploy import demo, rabbit  # noqa: E402
from deploy.launcher import Stack, free_ports  # noqa: E402
from deploy.secantus import SecantusServer  # noqa: E402

PROGRAMME = "BENCH-ROSTER-01"
LOGS = ROOT / ".data" / "bench"


def upload(url: str, body: bytes, headers: dict, params: dict | None = None) -> dict:
    """POST a CSV, read the streamed answer: seconds in total and to the first result, summary."""
    started = time.monotonic()
    first = None
    lines = []
    with requests.post(url, data=body, params=params, stream=True, timeout=1800,
                       headers={"Content-Type": "text/csv; charset=utf-8", **headers}) as response:
        check(response, f"POST {url}")
        for line in response.iter_lines():
            if line.strip():
                first = first if first is not None else time.monotonic() - started
                lines.append(json.loads(line))
    seconds = time.monotonic() - started
    summary = lines[-1].get("summary", {}) if lines else {}
    rows = summary.get("rows", len(lines) - 1)
    return {"seconds": round(seconds, 2), "first_result_s": round(first or seconds, 3),
            "rows_per_s": round(rows / seconds, 1) if seconds else None, "summary": summary}


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def quarter_checkpoint(now: datetime) -> str:
    return f"{now.year}-Q{(now.month - 1) // 3 + 1}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--asn", type=int, default=5000, help="roster rows (default %(default)s)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds a phase may take at most")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    report: dict = {"command": "python bench/roster.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                    "commit": commit(), "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "machine": machine(), "asn": args.asn}
    base_amqp = os.environ.get("AMQP_URI") or rabbit.DEFAULT_AMQP_URI
    rabbit.ensure_running(base_amqp)
    vhost = f"bench-roster-{os.getpid()}"
    rabbit.create_vhost(vhost, base_amqp)
    amqp_uri = rabbit.amqp_uri_for(vhost, base_amqp)
    server = None
    store_uri = os.environ.get("MONGO_URI")
    if not store_uri:
        LOGS.mkdir(parents=True, exist_ok=True)
        server = SecantusServer(storage_path=":memory:", log_path=LOGS / "secantus-roster.log").start()
        store_uri = server.uri
    report["store"] = "SecantusDB (own, in memory)" if server else "MONGO_URI"
    env = {**SERVICE_ENV, "NOTIFICATION_DEFAULT_CHANNELS": "inbox"}
    stack = Stack(mongo_uri=store_uri, amqp_uri=amqp_uri, db_prefix=f"br{os.getpid()}_", ports=free_ports(),
                  log_dir=LOGS / "roster", extra_env=env, ready_timeout=120)
    try:
        log("starting the services")
        stack.start()
        admin = stack.auth_headers("admin")
        enrollment, reporting = stack.url("enrollment"), stack.url("reporting")
        now = datetime.now(timezone.utc)
        people = demo.generate_asn(random.Random(2026), args.asn, now.year)
        body = demo.roster_csv(people).encode("utf-8")

        log(f"importing {args.asn} roster rows")
        report["import_first"] = upload(f"{enrollment}/roster/import", body, admin)
        log(f"first import: {report['import_first']}")
        report["import_again"] = upload(f"{enrollment}/roster/import", body, admin)
        log(f"same file again: {report['import_again']}")

        agency = max({p.agency for p in people}, key=lambda a: sum(p.agency == a for p in people))
        staff = [p for p in people if p.agency == agency]
        kept = staff[: len(staff) - max(1, len(staff) // 10)]
        report["full_import_one_opd"] = {"agency": agency, "staff": len(staff), "kept": len(kept), **upload(
            f"{enrollment}/roster/import", demo.roster_csv(kept).encode("utf-8"), admin,
            params={"mode": "penuh", "kode_opd": agency, "konfirmasi": "ya"})}
        log(f"full import of {agency}: {report['full_import_one_opd']}")
        active = args.asn - (len(staff) - len(kept))

        # about a third enrol and pass a 24-JP programme: they are above every checkpoint's target
        check(requests.post(f"{enrollment}/programmes", json={**programme_body(PROGRAMME, args.asn), "jp": 24},
                            headers=admin, timeout=60), "create the programme")
        check(requests.post(f"{enrollment}/programmes/{PROGRAMME}/publish", headers=admin, timeout=60), "publish")
        passing = (kept + [p for p in people if p.agency != agency])[::3]
        upload(f"{enrollment}/programmes/{PROGRAMME}/enrolments/bulk",
               ("nip\n" + "\n".join(p.nip for p in passing) + "\n").encode(), admin)
        # its results are recorded once it has ended (issue 24): end it now, as an operator does
        ended = datetime.now(timezone.utc)
        check(requests.patch(f"{enrollment}/programmes/{PROGRAMME}", headers=admin, timeout=60,
                             json={"enrolment_closes_at": iso(ended - timedelta(seconds=2)),
                                   "ends_at": iso(ended - timedelta(seconds=1))}), "end the programme")
        upload(f"{enrollment}/programmes/{PROGRAMME}/completions/bulk",
               ("nip,nilai,hadir\n" + "\n".join(f"{p.nip},90,ya" for p in passing) + "\n").encode(), admin)

        started = time.monotonic()

        def counted() -> bool:
            totals = requests.get(f"{reporting}/compliance", params={"year": now.year}, headers=admin,
                                  timeout=60).json()["totals"]
            return totals.get("rostered_asn") == active and totals.get("asn_with_jp", 0) >= len(passing)
        if not wait_until(counted, args.timeout, interval=1.0):
            raise RuntimeError("reporting did not count the roster in time")
        report["reporting_caught_up_s"] = round(time.monotonic() - started, 1)
        log(f"reporting counts {active} rostered ASN after {report['reporting_caught_up_s']} s")

        checkpoint = quarter_checkpoint(now)
        path = f"{reporting}/admin/shortfall/{checkpoint}"
        started = time.monotonic()
        answer = check(requests.post(f"{path}/run", headers=admin, timeout=60), "start the checkpoint")
        report["checkpoint_answer_ms"] = round((time.monotonic() - started) * 1000, 1)
        report["checkpoint_answer_status"] = answer.status_code
        samples, job = [], {}
        while time.monotonic() - started < args.timeout:
            job = requests.get(path, headers=admin, timeout=60).json()
            samples.append([round(time.monotonic() - started, 2), job.get("checked"), job.get("total")])
            if job.get("status") == "done":
                break
            time.sleep(0.5)
        seconds = time.monotonic() - started
        report["checkpoint"] = {"checkpoint": checkpoint, "seconds": round(seconds, 2),
                                "asn_per_s": round((job.get("checked") or 0) / seconds, 1), "result": job,
                                "progress_samples": samples[:: max(1, len(samples) // 20)]}
        log(f"checkpoint {checkpoint}: {report['checkpoint']['seconds']} s, {job}")
    finally:
        stack.stop()
        rabbit.delete_vhost(vhost, base_amqp)
        if server is not None:
            server.stop()
    report["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out = write_result("roster", report, args.out)
    first, again, cp = report["import_first"], report["import_again"], report["checkpoint"]
    print(f"\ncommit {report['commit']}, load average at start {report['machine']['load_average_at_start']}, "
          f"at end {report['load_average_at_end']}")
    print(f"roster import {args.asn} rows: {first['seconds']} s = {first['rows_per_s']} rows/s (first result after "
          f"{first['first_result_s']} s); same file again {again['seconds']} s ({again['summary']})")
    print(f"checkpoint over {cp['result'].get('total')} ASN: {cp['seconds']} s = {cp['asn_per_s']} ASN/s, "
          f"answered {report['checkpoint_answer_status']} in {report['checkpoint_answer_ms']} ms; "
          f"nudged {cp['result'].get('nudged')}, supervisors' lists {cp['result'].get('supervisor_summaries')}, "
          f"escalated {cp['result'].get('escalated')}")
    print(f"written to {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
