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
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pymongo
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import store_bound, store_commands  # noqa: E402
from bench.common import (COMPLETION_BODY, SERVICE_ENV, SUBJECTS, FirstSeen, MailSink, check,  # noqa: E402
                          cpu_seconds, csv_bytes, enrolment_ids, git_commit, iso, log, machine, make_people,
                          percentiles, proc_status_mb, programme_body, wait_until, write_result)
from bench.profiling import PySpy  # noqa: E402
from bench.naive_peer.stack import NaiveStack  # noqa: E402
from deploy import rabbit  # noqa: E402
from deploy.launcher import Stack, free_ports  # noqa: E402
from deploy.secantus import SecantusServer  # noqa: E402
from shared.config import SERVICES  # noqa: E402

LOGS = ROOT / ".data" / "bench"
PROFILES = ROOT / "bench" / "results" / "profiles"
TARGETS = {"efficiency_vs_store_bound": 0.5, "throughput_vs_naive": 0.7, "paced_p99_latency_ms": 2000,
           # issue 23: the store's work (bench/store_commands.py), at N = 1,000 on a quiet machine
           "store_commands_per_completion": 26, "idle_store_commands_per_s": 5,
           "max_rss_mb": 300}


class Scenario:
    """Drives one system (the platform or the naive peer) through its HTTP API and watches
    its databases; both expose the same routes."""

    def __init__(self, system, mongo_uri: str, db_prefix: str, amqp_uri: str, mail: MailSink, code: str,
                 stall_s: float = 60.0):
        self.system, self.code, self.mail, self.amqp_uri = system, code, mail, amqp_uri
        self.stall_s = stall_s
        # the bench's own commands, taken off the store's counters when comparing (store_commands)
        self.own = store_commands.OwnCommands()
        self.client = pymongo.MongoClient(mongo_uri, tz_aware=True, event_listeners=[self.own])
        self.email_of: dict[str, str] = {}  # enrolment id -> the participant's address
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
        # A sertifikasi's results are recorded once it has ended (issue 24): end it now.
        now = datetime.now(timezone.utc)
        check(requests.patch(f"{enrollment}/programmes/{self.code}", headers=self.headers, timeout=60,
                             json={"enrolment_closes_at": iso(now - timedelta(seconds=2)),
                                   "ends_at": iso(now - timedelta(seconds=1))}), "end the programme")
        total = len(people)
        settled = wait_until(lambda: self.db["reporting"]["rm1_enrolments"].count_documents({}) >= total
                             and self.db["notification"]["messages"].count_documents({}) >= total
                             and not any(self.outbox_backlog().values()), timeout, interval=1.0)
        if not settled:
            raise RuntimeError(f"enrolment events did not settle within {timeout:.0f}s: outbox {self.outbox_backlog()}")
        self.email_of = {ids[p["nip"]]: p["email"].lower() for p in people}
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
        every certificate, email and ledger entry exists, or until nothing more arrived for
        ``stall_s`` seconds (a system that lost work never gets there: the pass ends and
        reports what is missing), or ``timeout``."""
        ledger = FirstSeen(self.db["reporting"]["rm1_ledger_entries"]).start()
        certificates = self.db["certification"]["certificates"]
        base_certs = certificates.count_documents({})
        base_mail = {k: self.mail.count(k) for k in ("passed", "certified")}
        mail_start = len(self.mail.snapshot())
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
        t_http_done = [0.0]

        seen = {"counts": None, "changed": 0.0, "stalled": False}

        def progress() -> bool:
            now = time.monotonic() - t0
            counts = (certificates.count_documents({}) - base_certs,
                      tuple(self.mail.count(k) - base_mail[k] for k in base_mail), ledger.count(ids))
            if counts != seen["counts"]:
                seen["counts"], seen["changed"] = counts, now
            if "certificates" not in marks and counts[0] >= n:
                marks["certificates"] = now
            if "emails" not in marks and all(c >= n for c in counts[1]):
                marks["emails"] = now
            if "ledger" not in marks and counts[2] >= n:
                marks["ledger"] = now
            if len(marks) == 3 and done_http.is_set():
                return True
            if done_http.is_set() and now - max(seen["changed"], t_http_done[0]) > self.stall_s:
                seen["stalled"] = True  # nothing arrived for stall_s: what is missing never will
                return True
            return False

        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = pool.map(fire, enumerate(ids))
            watcher = threading.Thread(target=lambda: wait_until(progress, timeout, interval=0.25), daemon=True)
            watcher.start()
            list(futures)
        t_http = time.monotonic() - t0
        t_http_done[0] = t_http
        done_http.set()
        watcher.join(timeout + 5)
        ledger.stop()
        complete = len(marks) == 3
        if not complete:
            log(f"  not everything arrived ({'nothing new for %.0fs' % self.stall_s if seen['stalled'] else 'timeout'}): "
                f"{marks}; certificates, emails, ledger so far {seen['counts']} of {n}")
        # a system that lost work: its time is until the last thing that did arrive
        t_end = max(marks.values()) if complete else max(seen["changed"], t_http)
        latencies = [max(0.0, ledger.get(i) - accepted[i]) for i in ids if ledger.get(i) is not None]
        cpu = {s: round((cpu_seconds(self.system.pid(s)) or 0) - (cpu_before[s] or 0), 1) for s in SERVICES}
        lost = self.losses(ids, mail_start)
        return {
            "completions": n,
            "complete": complete,
            "losses": lost,
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

    def losses(self, ids: list[str], mail_start: int) -> dict:
        """What each completion of ``ids`` produced, counted by enrolment id: certificates,
        the two emails and ledger entries missing (0), as expected (1) or doubled (>1). An email
        copy with the Message-ID of one already received is counted apart (a receiving mail
        system drops it), as are distinct doubles."""
        counts = {
            "certificates": Counter(d["enrolment_id"] for d in self.db["certification"]["certificates"].find(
                {"enrolment_id": {"$in": ids}}, {"enrolment_id": 1})),
            "ledger_entries": Counter(d["_id"] for d in self.db["reporting"]["rm1_ledger_entries"].find(
                {"_id": {"$in": ids}}, {"_id": 1})),
        }
        enrolment_of = {self.email_of[i]: i for i in ids if i in self.email_of}
        mails = self.mail.snapshot()[mail_start:]
        same_id: dict[str, int] = {}
        for kind, prefix in SUBJECTS.items():
            mine = [(enrolment_of[rcpt], message_id) for rcpt, subject, message_id in mails
                    if subject.startswith(prefix) and rcpt in enrolment_of]
            counts[f"emails_{kind}"] = Counter(e for e, _ in mine)
            same_id[f"emails_{kind}"] = len(mine) - len(set(mine))
        out = {}
        for what, counter in counts.items():
            row = {"missing": sum(1 for i in ids if counter[i] == 0),
                   "once": sum(1 for i in ids if counter[i] == 1),
                   "doubled": sum(1 for i in ids if counter[i] > 1)}
            if what in same_id:
                row["copies_with_same_message_id"] = same_id[what]
            out[what] = row
        out["missing_total"] = sum(r["missing"] for k, r in out.items() if isinstance(r, dict))
        out["doubled_total"] = sum(r["doubled"] for k, r in out.items() if isinstance(r, dict))
        return out

    def memory(self) -> dict:
        return {s: {"peak_rss_mb": proc_status_mb(self.system.pid(s), "VmHWM"),
                    "rss_mb": proc_status_mb(self.system.pid(s), "VmRSS")} for s in SERVICES}

    def close(self) -> None:
        self.client.close()


def run_system(name: str, make_system, args, store_uri: str, base_amqp: str, mail: MailSink,
               paced: bool, counted: bool = False) -> dict:
    """Set up, run the max pass (and the paced pass) of one system. ``counted``: the system has
    the platform's /metrics, so the store commands are read around the max pass, and the idle
    rate after the run (and, with ``--profile``, py-spy records every service in the max pass)."""
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
        scenario = Scenario(system, store_uri, prefix, amqp_uri, mail, f"BENCH-{name.upper()}-{run_id}",
                            stall_s=args.stall_seconds)
        t = time.monotonic()
        ids = scenario.setup(people, timeout=args.timeout)
        log(f"{name}: {len(ids)} enrolled and settled in {time.monotonic() - t:.0f}s (setup, not measured)")
        urls = {s: system.url(s) for s in SERVICES}
        before = ops_before = own_before = None
        if counted:
            settle(scenario, urls)
            before, ops_before, own_before = store_commands.scrape_all(urls), store_commands.opcounters(
                scenario.client), scenario.own.count
        else:
            ops_before, own_before = store_commands.opcounters(scenario.client), scenario.own.count
        profiler = None
        if counted and args.profile:
            profiler = PySpy({s: system.pid(s) for s in SERVICES}, PROFILES / f"{name}-{run_id}", rate=args.profile_rate)
            profiler.start()
        try:
            result["max"] = scenario.measure(ids[:args.n], args.concurrency, None, args.timeout)
        finally:
            if profiler is not None:
                profiler.stop()
        log(f"{name}: max pass {summary(result['max'])}")
        if counted:
            settle(scenario, urls)
            delta = store_commands.deltas(before, store_commands.scrape_all(urls))
            result["store_commands"] = store_commands.per_completion(delta, args.n)
            result["store_commands"]["window_seconds"] = round(max(d.at for d in delta.values()), 1)
            store_commands.print_per_completion(result["store_commands"], name)
        if ops_before is not None:
            result["store_opcounters_max_pass"] = compare_opcounters(
                ops_before, store_commands.opcounters(scenario.client), scenario.own.count - own_before - 1,
                result.get("store_commands", {}).get("commands_with_scrapes"), args.n)
            log(f"{name}: the store's own counters, max pass: {result['store_opcounters_max_pass']}")
        if profiler is not None:
            result["profile"] = profiler.summary()
            profiler.print_summary(result["profile"])
        if paced:
            rate = 0.8 * result["max"]["throughput_per_s"]
            m = min(args.paced_max, max(10, int(rate * args.paced_seconds)))
            wait_until(lambda: not any(scenario.outbox_backlog().values()), 60)
            result["paced"] = scenario.measure(ids[args.n:args.n + m], args.concurrency, rate, args.timeout)
            log(f"{name}: paced pass at {rate:.1f}/s {summary(result['paced'])}")
        if counted and args.idle_seconds > 0:
            result["idle"] = measure_idle(scenario, urls, args.idle_seconds)
            store_commands.print_per_second(result["idle"], name)
        result["memory"] = scenario.memory()
        scenario.close()
    finally:
        system.stop()
        rabbit.delete_vhost(vhost, base_amqp)
    return result


def settle(scenario: Scenario, urls: dict[str, str], timeout: float = 60.0) -> bool:
    """Wait until the last pass's work is done: every outbox empty and no handler or HTTP
    route sent a store command for a second (the background loops poll on regardless)."""
    def busy_total() -> float:
        samples = store_commands.scrape_all(urls)
        return sum(v for sample in samples.values() for c, v in sample.by_context().items()
                   if not c.startswith(("loop:", "heartbeat")))
    last = None
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not any(scenario.outbox_backlog().values()):
            now = busy_total()
            if now == last:
                return True
            last = now
        time.sleep(1.0)
    log("  the services did not settle within the timeout; counting anyway")
    return False


def measure_idle(scenario: Scenario, urls: dict[str, str], seconds: float) -> dict:
    """Store commands per second with nothing to do, per service and context, and the store's
    own counters over the same interval."""
    settle(scenario, urls)
    ops0, own0 = store_commands.opcounters(scenario.client), scenario.own.count
    before = store_commands.scrape_all(urls)
    time.sleep(seconds)
    after = store_commands.scrape_all(urls)
    ops1, own1 = store_commands.opcounters(scenario.client), scenario.own.count
    idle = store_commands.per_second(store_commands.deltas(before, after))
    elapsed = max(a.at - b.at for a, b in zip(after.values(), before.values()))
    store = store_commands.opcounters_delta(ops0, ops1) if ops0 else {}
    if store:
        bench = own1 - own0 - 1  # our serverStatus
        idle["store_side"] = {"opcounters": store, "bench_commands": bench,
                              "services_per_s_with_scrapes": round((store["total"] - bench) / elapsed, 2),
                              "services_counted_per_s_with_scrapes": round(idle["commands_with_scrapes"] / elapsed, 2)}
    return idle


def compare_opcounters(before: dict, after: dict, own: int, counted: int | None, n: int) -> dict:
    """The store's own operation counters over a pass, net of the bench's own commands, per
    completion; beside the services' own count (every context, the scrapes' included) when
    there is one. SecantusDB counts one operation per command (an insert of many documents
    is one insert)."""
    if not before:
        return {"available": False}
    delta = store_commands.opcounters_delta(before, after)
    out = {"opcounters": delta, "bench_commands": own,
           "per_completion_net_of_bench": round((delta["total"] - own) / n, 2)}
    if counted is not None:
        out["services_counted_per_completion_with_scrapes"] = round(counted / n, 2)
    return out


def summary(p: dict) -> str:
    lat = p["latency_accepted_to_ledger"]
    return (f"{p['completions']} completions: {p['throughput_per_s']}/s end to end ({p['end_to_end_seconds']}s; "
            f"HTTP {p['accepted_per_s']}/s), latency p50 {lat.get('p50_ms')} p95 {lat.get('p95_ms')} "
            f"p99 {lat.get('p99_ms')} ms; {'complete' if p['complete'] else 'INCOMPLETE'}, "
            f"lost: {loss_line(p['losses'])}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5000, help="completions in the max pass (and the baselines)")
    parser.add_argument("--concurrency", type=int, default=8, help="HTTP clients (store bound: as many threads)")
    parser.add_argument("--paced-seconds", type=float, default=60.0, help="length of the paced pass")
    parser.add_argument("--paced-max", type=int, default=3000, help="at most this many completions in the paced pass")
    parser.add_argument("--only", choices=["platform", "store_bound", "naive"], action="append",
                        help="run only these parts (repeatable)")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds a phase may take at most")
    parser.add_argument("--stall-seconds", type=float, default=60.0,
                        help="a pass ends when nothing new arrived for this long (and reports what is missing)")
    parser.add_argument("--idle-seconds", type=float, default=30.0,
                        help="after the run, count the platform's store commands with nothing to do (0: skip)")
    parser.add_argument("--profile", action="store_true",
                        help="py-spy records every platform service during the max pass (bench/results/profiles/)")
    parser.add_argument("--profile-rate", type=int, default=100, help="py-spy samples per second")
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
                    "commit": git_commit(), "machine": machine(), "store": "SecantusDB (own, in memory)" if server else "MONGO_URI",
                    "n": args.n, "concurrency": args.concurrency, "targets": TARGETS}
    store_pid = server.pid if server else None
    failed: list[str] = []

    def part(name: str, run) -> None:
        """One part of the run; a failing part is reported, and the others still run."""
        try:
            report[name] = run()
        except Exception as exc:  # noqa: BLE001 - keep the figures of the parts that worked
            log(f"{name} failed: {type(exc).__name__}: {exc}")
            report[f"{name}_error"] = f"{type(exc).__name__}: {exc}"
            failed.append(name)

    try:
        if "platform" in parts:
            def platform_stack(amqp_uri, prefix):
                return Stack(mongo_uri=store_uri, amqp_uri=amqp_uri, db_prefix=prefix, ports=free_ports(),
                             log_dir=LOGS / "platform", extra_env=extra_env, ready_timeout=120)
            cpu0 = cpu_seconds(store_pid) if store_pid else None
            part("platform", lambda: run_system("platform", platform_stack, args, store_uri, base_amqp, mail,
                                                paced=True, counted=True))
            if cpu0 is not None and "platform" in report:
                report["platform"]["store_cpu_seconds_whole_run"] = round(cpu_seconds(store_pid) - cpu0, 1)
        if "store_bound" in parts:
            log("store bound: the same store work with pymongo, no services")
            part("store_bound", lambda: store_bound.run(store_uri, f"bsb{os.getpid()}_", make_people(args.n),
                                                        args.concurrency, store_pid=store_pid))
            if "store_bound" in report:
                log(f"store bound: {report['store_bound']['seconds']}s, {report['store_bound']['throughput_per_s']}/s")
        if "naive" in parts:
            def naive_stack(amqp_uri, prefix):
                return NaiveStack(mongo_uri=store_uri, amqp_uri=amqp_uri, db_prefix=prefix,
                                  log_dir=LOGS / "naive", extra_env=extra_env)
            part("naive", lambda: run_system("naive", naive_stack, args, store_uri, base_amqp, mail, paced=False))
    finally:
        mail.stop()
        if server is not None:
            server.stop()

    report["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()[:2]]
    report["figures"] = figures(report)
    print_figures(report["figures"])
    path = write_result("pipeline", report, args.out)
    log(f"written {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 1 if failed else 0


def figures(report: dict) -> dict:
    """The headline figures and the targets, met or not."""
    out: dict = {}
    platform = report.get("platform")
    if platform:
        mx = platform["max"]
        out["throughput_per_s"] = mx["throughput_per_s"]
        out["max_pass_latency_ms"] = {k: mx["latency_accepted_to_ledger"].get(k) for k in ("p50_ms", "p95_ms", "p99_ms")}
        if "paced" in platform:
            lat = platform["paced"]["latency_accepted_to_ledger"]
            out["paced_rate_per_s"] = platform["paced"]["offered_rate_per_s"]
            out["paced_latency_ms"] = {k: lat.get(k) for k in ("p50_ms", "p95_ms", "p99_ms")}
            out["paced_p99_under_2s"] = lat.get("p99_ms", float("inf")) < TARGETS["paced_p99_latency_ms"]
        out["platform_complete"] = mx["complete"]
        out["platform_losses"] = loss_line(mx["losses"])
        if "store_commands" in platform:
            sc = platform["store_commands"]
            out["store_commands_per_completion"] = sc["commands"]
            out["store_ms_per_completion"] = sc["ms"]
            out["store_commands_target_met"] = sc["commands"] <= TARGETS["store_commands_per_completion"]
            out["store_commands_per_completion_by_service"] = {k: v["commands"] for k, v in sc["services"].items()}
        if "idle" in platform:
            out["idle_store_commands_per_s"] = platform["idle"]["commands_per_s"]
            out["idle_target_met"] = platform["idle"]["commands_per_s"] <= TARGETS["idle_store_commands_per_s"]
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
        out["naive_complete"] = report["naive"]["max"]["complete"]
        out["naive_losses"] = loss_line(report["naive"]["max"]["losses"])
        out["throughput_vs_naive"] = round(ratio, 2)
        out["naive_target_met"] = ratio >= TARGETS["throughput_vs_naive"]
    return out


def loss_line(losses: dict) -> str:
    """``certificates 0/0, emails_passed 0/0, ...`` as missing/doubled."""
    return ", ".join(f"{k} {v['missing']}/{v['doubled']}" for k, v in losses.items() if isinstance(v, dict)) + \
        " (missing/doubled)"


def print_figures(f: dict) -> None:
    print("\n=== pipeline figures ===")
    for key, value in f.items():
        print(f"{key:28s} {value}")


if __name__ == "__main__":
    raise SystemExit(main())
