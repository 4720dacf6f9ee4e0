"""Pipeline benchmark: N completions through the running services, against two baselines.

    .venv/bin/python bench/pipeline.py                  # N = 5,000
    .venv/bin/python bench/pipeline.py --n 1000 --paced-seconds 30
    .venv/bin/python bench/pipeline.py --only platform  # skip the baselines

One SecantusDB (its own, in memory; or MONGO_URI) and the local RabbitMQ (a vhost per
system) serve every part of the run, one after the other:

1. **platform**: the four services as processes (``deploy.launcher.Stack``, free ports) with
   an aiosmtpd server for notification. Setup (not measured): a certifying programme,
   N + M recipients and enrolments through the HTTP API, and a wait until the enrolment
   events have settled. Then
   - *max pass*: N ``POST /enrolments/{id}/completion`` from ``--concurrency`` clients as
     fast as they are answered; the pass ends when every certificate exists (certification
     database), every "lulus" and "sertifikat" email reached the SMTP server and every
     ledger entry exists (reporting read model). Throughput = N / that time.
   - *paced pass*: M further completions sent open-loop at 80 % of the max pass's
     end-to-end throughput, for ``--paced-seconds``.
   Latency of a completion = from its HTTP 2xx (command accepted) until its JP ledger entry
   appeared in reporting's read model, seen on the store's change stream.
   Memory: peak RSS (VmHWM) of every service process at the end of the run.
2. **store bound** (bench/store_bound.py): the same store work for N completions done
   directly with pymongo at the same concurrency. Efficiency = store-bound time / pipeline time.
3. **naive peer** (bench/naive_peer/): the same flow wired the stock nameko way (plain
   ``@event_handler``, ``EventDispatcher`` after the writes, no transactions, no outbox, no
   idempotency record). Ratio = platform throughput / naive throughput.

Prints the figures and writes bench/results/pipeline.json.
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import pymongo
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import store_bound  # noqa: E402
from bench.common import (COMPLETION_BODY, SERVICE_ENV, FirstSeen, MailSink, check, cpu_seconds,  # noqa: E402
                          csv_bytes, enrolment_ids, log, machine, make_people, percentiles, proc_status_mb,
                          programme_body, wait_until, write_result)
from bench.naive_peer.stack import NaiveStack  # noqa: E402
from deploy import rabbit  # noqa: E402
from deploy.launcher import Stack, free_ports  # noqa: E402
from deploy.secantus import SecantusServer  # noqa: E402
from shared.config import SERVICES  # noqa: E402

LOGS = ROOT / ".data" / "bench"
TARGETS = {"efficiency_vs_store_bound": 0.5, "throughput_vs_naive": 0.7, "paced_p99_latency_ms": 2000,
           "max_rss_mb": 300}


class Scenario:
    """Drives one system (the platform or the naive peer) through its HTTP API and watches
    its databases; both expose the same routes."""

    def __init__(self, system, mongo_uri: str, db_prefix: str, amqp_uri: str, mail: MailSink, code: str):
        self.system, self.code, self.mail, self.amqp_uri = system, code, mail, amqp_uri
        self.client = pymongo.MongoClient(mongo_uri, tz_aware=True)
        self.db = {s: self.client[f"{db_prefix}{s}"] for s in SERVICES}
        self.local = threading.local()
        # The platform wants an admin's bearer token; the naive peer checks none.
        self.headers = system.auth_headers() if hasattr(system, "auth_headers") else {}

    def url(self, service: str) -> str:
        return self.system.url(service)

    def session(self) -> requests.Session:
        if getattr(self.local, "session", None) is None:
            self.local.session = requests.Session()
        return self.local.session

    # -- setup (not measured) -------------------------------------------------------------
    def setup(self, people: list[dict], timeout: float) -> list[str]:
        """Programme, recipients and enrolments; returns enrolment ids in people's order."""
        enrollment = self.url("enrollment")
        check(requests.post(f"{enrollment}/programmes", json=programme_body(self.code, len(people)),
                            headers=self.headers, timeout=60),
              "create programme")
        check(requests.post(f"{enrollment}/programmes/{self.code}/publish", headers=self.headers, timeout=60), "publish programme")
        ids: dict[str, str] = {}
        for start in range(0, len(people), 2000):  # a few requests, each well under the body limit
            chunk = people[start:start + 2000]
            check(requests.post(self.url("notification") + "/recipients/bulk",
                                data=csv_bytes(chunk, ["nip", "name", "agency", "email", "opt_outs"]),
                                headers={**self.headers, "Content-Type": "text/csv"}, timeout=600), "register recipients")
            answer = check(requests.post(f"{enrollment}/programmes/{self.code}/enrolments/bulk",
                                         data=csv_bytes(chunk, ["nip", "name", "agency"]),
                                         headers={**self.headers, "Content-Type": "text/csv"},
                                         timeout=1200), "bulk enrol")
            ids.update(enrolment_ids(answer.text))
            log(f"  enrolled {len(ids)} of {len(people)}")
        if len(ids) != len(people):
            raise RuntimeError(f"{len(ids)} of {len(people)} enrolled")
        total = len(people)
        settled = wait_until(lambda: self.db["reporting"]["rm1_enrolments"].count_documents({}) >= total
                             and self.db["notification"]["messages"].count_documents({}) >= total
                             and not any(self.outbox_backlog().values()), timeout, interval=1.0)
        if not settled:
            raise RuntimeError(f"enrolment events did not settle within {timeout:.0f}s: outbox {self.outbox_backlog()}")
        return [ids[p["nip"]] for p in people]

    def outbox_backlog(self) -> dict[str, int]:
        return {s: self.db[s]["outbox"].count_documents({"sent": False}) for s in SERVICES}

    # -- one completion -------------------------------------------------------------------
    def complete(self, enrolment_id: str) -> float:
        """Complete one enrolment; returns the monotonic time the 2xx answer arrived."""
        url = f"{self.url('enrollment')}/enrolments/{enrolment_id}/completion"
        for attempt in range(5):
            try:
                response = self.session().post(url, json=COMPLETION_BODY, headers=self.headers, timeout=60)
            except requests.RequestException:
                self.local.session = None
                time.sleep(0.2 * (attempt + 1))
                continue
            if response.status_code < 300:
                return time.monotonic()
            if response.status_code < 500:
                raise RuntimeError(f"completion of {enrolment_id}: {response.status_code} {response.text[:300]}")
            time.sleep(0.2 * (attempt + 1))
        raise RuntimeError(f"completion of {enrolment_id} failed 5 times")

    # -- a measured pass ------------------------------------------------------------------
    def measure(self, ids: list[str], concurrency: int, rate: float | None, timeout: float) -> dict:
        """Complete ``ids`` (as fast as answered, or open-loop at ``rate``/s) and wait until
        every certificate, email and ledger entry exists."""
        ledger = FirstSeen(self.db["reporting"]["rm1_ledger_entries"]).start()
        certificates = self.db["certification"]["certificates"]
        base_certs = certificates.count_documents({})
        base_mail = {k: self.mail.count(k) for k in ("passed", "certified")}
        accepted: dict[str, float] = {}
        lag: list[float] = []
        cpu_before = {s: cpu_seconds(self.system.pid(s)) for s in SERVICES}
        n = len(ids)
        t0 = time.monotonic()

        def fire(item):
            index, enrolment_id = item
            if rate:
                due = t0 + index / rate
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                else:
                    lag.append(-delay)
            accepted[enrolment_id] = self.complete(enrolment_id)

        workers = concurrency if not rate else max(concurrency, int(rate * 0.5) + 4)
        marks: dict[str, float] = {}
        done_http = threading.Event()

        def progress() -> bool:
            now = time.monotonic() - t0
            if "certificates" not in marks and certificates.count_documents({}) - base_certs >= n:
                marks["certificates"] = now
            if "emails" not in marks and all(self.mail.count(k) - base_mail[k] >= n for k in base_mail):
                marks["emails"] = now
            if "ledger" not in marks and ledger.count(ids) >= n:
                marks["ledger"] = now
            return len(marks) == 3 and done_http.is_set()

        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = pool.map(fire, enumerate(ids))
            watcher = threading.Thread(target=lambda: wait_until(progress, timeout, interval=0.25), daemon=True)
            watcher.start()
            list(futures)
        t_http = time.monotonic() - t0
        done_http.set()
        watcher.join(timeout + 5)
        ledger.stop()
        if len(marks) < 3:
            raise RuntimeError(f"not everything arrived within {timeout:.0f}s: {marks}; certificates "
                               f"{certificates.count_documents({}) - base_certs}, ledger {ledger.count(ids)}, "
                               f"emails {[self.mail.count(k) - base_mail[k] for k in base_mail]} of {n}")
        t_end = max(marks.values())
        latencies = [max(0.0, ledger.get(i) - accepted[i]) for i in ids]
        cpu = {s: round((cpu_seconds(self.system.pid(s)) or 0) - (cpu_before[s] or 0), 1) for s in SERVICES}
        return {
            "completions": n,
            "concurrency": workers,
            "offered_rate_per_s": round(rate, 1) if rate else None,
            "http_seconds": round(t_http, 1),
            "accepted_per_s": round(n / t_http, 1),
            "end_to_end_seconds": round(t_end, 1),
            "throughput_per_s": round(n / t_end, 1),
            "seconds_until": {k: round(v, 1) for k, v in sorted(marks.items())},
            "latency_accepted_to_ledger": percentiles(latencies),
            "client_behind_schedule": percentiles(lag) if rate else None,
            "service_cpu_seconds": cpu,
        }

    def memory(self) -> dict:
        return {s: {"peak_rss_mb": proc_status_mb(self.system.pid(s), "VmHWM"),
                    "rss_mb": proc_status_mb(self.system.pid(s), "VmRSS")} for s in SERVICES}

    def close(self) -> None:
        self.client.close()


def run_system(name: str, make_system, args, store_uri: str, base_amqp: str, mail: MailSink,
               paced: bool) -> dict:
    run_id = f"{os.getpid()}"
    vhost = f"bench-{name}-{run_id}"
    rabbit.create_vhost(vhost, base_amqp)
    amqp_uri = rabbit.amqp_uri_for(vhost, base_amqp)
    prefix = f"b{name[:2]}{run_id}_"
    people = make_people(args.n + (args.paced_max if paced else 0))
    system = make_system(amqp_uri, prefix)
    result: dict = {}
    try:
        log(f"{name}: starting the services")
        system.start()
        scenario = Scenario(system, store_uri, prefix, amqp_uri, mail, f"BENCH-{name.upper()}-{run_id}")
        t = time.monotonic()
        ids = scenario.setup(people, timeout=args.timeout)
        log(f"{name}: {len(ids)} enrolled and settled in {time.monotonic() - t:.0f}s (setup, not measured)")
        result["max"] = scenario.measure(ids[:args.n], args.concurrency, None, args.timeout)
        log(f"{name}: max pass {summary(result['max'])}")
        if paced:
            rate = 0.8 * result["max"]["throughput_per_s"]
            m = min(args.paced_max, max(10, int(rate * args.paced_seconds)))
            wait_until(lambda: not any(scenario.outbox_backlog().values()), 60)
            result["paced"] = scenario.measure(ids[args.n:args.n + m], args.concurrency, rate, args.timeout)
            log(f"{name}: paced pass at {rate:.1f}/s {summary(result['paced'])}")
        result["memory"] = scenario.memory()
        scenario.close()
    finally:
        system.stop()
        rabbit.delete_vhost(vhost, base_amqp)
    return result


def summary(p: dict) -> str:
    lat = p["latency_accepted_to_ledger"]
    return (f"{p['completions']} completions: {p['throughput_per_s']}/s end to end ({p['end_to_end_seconds']}s; "
            f"HTTP {p['accepted_per_s']}/s), latency p50 {lat['p50_ms']} p95 {lat['p95_ms']} p99 {lat['p99_ms']} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5000, help="completions in the max pass (and the baselines)")
    parser.add_argument("--concurrency", type=int, default=8, help="HTTP clients (store bound: as many threads)")
    parser.add_argument("--paced-seconds", type=float, default=60.0, help="length of the paced pass")
    parser.add_argument("--paced-max", type=int, default=3000, help="at most this many completions in the paced pass")
    parser.add_argument("--only", choices=["platform", "store_bound", "naive"], action="append",
                        help="run only these parts (repeatable)")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds a phase may take at most")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    parts = args.only or ["platform", "store_bound", "naive"]

    os.environ.update(SERVICE_ENV)  # the store bound reads the same settings in this process
    base_amqp = os.environ.get("AMQP_URI") or rabbit.DEFAULT_AMQP_URI
    rabbit.ensure_running(base_amqp)
    server = None
    store_uri = os.environ.get("MONGO_URI")
    if not store_uri:
        LOGS.mkdir(parents=True, exist_ok=True)
        server = SecantusServer(storage_path=":memory:", log_path=LOGS / "secantus.log").start()
        store_uri = server.uri
    mail = MailSink().start()
    os.environ["NOTIFICATION_SMTP_PORT"] = str(mail.port)
    extra_env = {**SERVICE_ENV, "NOTIFICATION_SMTP_PORT": str(mail.port)}
    report: dict = {"command": "python bench/pipeline.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                    "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "machine": machine(), "store": "SecantusDB (own, in memory)" if server else "MONGO_URI",
                    "n": args.n, "concurrency": args.concurrency, "targets": TARGETS}
    store_pid = server.pid if server else None
    try:
        if "platform" in parts:
            def platform_stack(amqp_uri, prefix):
                return Stack(mongo_uri=store_uri, amqp_uri=amqp_uri, db_prefix=prefix, ports=free_ports(),
                             log_dir=LOGS / "platform", extra_env=extra_env, ready_timeout=120)
            cpu0 = cpu_seconds(store_pid) if store_pid else None
            report["platform"] = run_system("platform", platform_stack, args, store_uri, base_amqp, mail, paced=True)
            if cpu0 is not None:
                report["platform"]["store_cpu_seconds_whole_run"] = round(cpu_seconds(store_pid) - cpu0, 1)
        if "store_bound" in parts:
            log("store bound: the same store work with pymongo, no services")
            report["store_bound"] = store_bound.run(store_uri, f"bsb{os.getpid()}_", make_people(args.n),
                                                    args.concurrency, store_pid=store_pid)
            log(f"store bound: {report['store_bound']['seconds']}s, {report['store_bound']['throughput_per_s']}/s")
        if "naive" in parts:
            def naive_stack(amqp_uri, prefix):
                return NaiveStack(mongo_uri=store_uri, amqp_uri=amqp_uri, db_prefix=prefix,
                                  log_dir=LOGS / "naive", extra_env=extra_env)
            report["naive"] = run_system("naive", naive_stack, args, store_uri, base_amqp, mail, paced=False)
    finally:
        mail.stop()
        if server is not None:
            server.stop()

    report["figures"] = figures(report)
    print_figures(report["figures"])
    path = write_result("pipeline", report, args.out)
    log(f"written {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


def figures(report: dict) -> dict:
    """The headline figures and the targets, met or not."""
    out: dict = {}
    platform = report.get("platform")
    if platform:
        mx = platform["max"]
        out["throughput_per_s"] = mx["throughput_per_s"]
        out["max_pass_latency_ms"] = {k: mx["latency_accepted_to_ledger"][k] for k in ("p50_ms", "p95_ms", "p99_ms")}
        if "paced" in platform:
            lat = platform["paced"]["latency_accepted_to_ledger"]
            out["paced_rate_per_s"] = platform["paced"]["offered_rate_per_s"]
            out["paced_latency_ms"] = {k: lat[k] for k in ("p50_ms", "p95_ms", "p99_ms")}
            out["paced_p99_under_2s"] = lat["p99_ms"] < TARGETS["paced_p99_latency_ms"]
        peak = {s: m["peak_rss_mb"] for s, m in platform["memory"].items()}
        out["peak_rss_mb"] = peak
        out["every_service_under_300mb"] = all(v is not None and v < TARGETS["max_rss_mb"] for v in peak.values())
    if platform and report.get("store_bound"):
        eff = report["store_bound"]["seconds"] / platform["max"]["end_to_end_seconds"]
        out["efficiency_vs_store_bound"] = round(eff, 2)
        out["efficiency_target_met"] = eff >= TARGETS["efficiency_vs_store_bound"]
    if platform and report.get("naive"):
        ratio = platform["max"]["throughput_per_s"] / report["naive"]["max"]["throughput_per_s"]
        out["naive_throughput_per_s"] = report["naive"]["max"]["throughput_per_s"]
        out["throughput_vs_naive"] = round(ratio, 2)
        out["naive_target_met"] = ratio >= TARGETS["throughput_vs_naive"]
    return out


def print_figures(f: dict) -> None:
    print("\n=== pipeline figures ===")
    for key, value in f.items():
        print(f"{key:28s} {value}")


if __name__ == "__main__":
    raise SystemExit(main())
