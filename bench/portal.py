"""Portal page response times on the demo data (issue 20: p95 under 300 ms per page).

Runs the real thing: the four services and the portal as processes (``deploy.launcher.Stack``
with ``DEPLOYABLES``, free ports), an embedded in-memory SecantusDB and a vhost of its own on
the local RabbitMQ. It plays the demo (``deploy.demo``: the roster with supervisors, a dozen
programmes, enrolments, completions, certificates, a shortfall checkpoint) for ``--asn`` ASN,
adds a programme that needs the supervisor's approval with a few of one supervisor's staff
waiting for it, then signs in through the portal's development sign-in (POST /masuk/dev, as a
browser does) as four people:

- an ASN with several enrolments and a certificate (beranda, katalog, one programme, riwayat,
  sertifikat, kotak masuk, kalender, an enrolment's .ics, the personal calendar feed);
- the supervisor with the most staff (beranda, persetujuan, tim);
- the operator of that supervisor's OPD and an admin (beranda and their menu's pages, and the
  operator console of issue 21 as each sees it: the programme list, the page, marking and
  certificates of the demo programme with the most of that OPD's enrolments, the upload page,
  the dashboard, the never-enrolled list; the admin's checkpoint page).

Then the console's upload (issue 21: the first progress within 1 s of a 10,000-row file):
``--upload-runs`` times a fresh programme gets a CSV of ``--upload-rows`` rows through the
portal's POST /operator/unggah/kirim (as static/console-upload.js sends it), from the operator
(every row refused: not on its OPD's roster) and from the admin (every row enrolled); each is
timed until the answer's first result line and until its summary.

Every page the persona's menu links to is measured too. Each page gets ``--warmup`` requests,
then ``--requests`` sequential requests (one client) and the same number again spread over
``--clients`` concurrent clients (each its own connection, the same signed-in session).
A page answering 404 is reported as missing (not there yet), not measured.

Beside the latency the bench reads, around each sequential pass, every process's CPU time
(/proc) and every service's ``/metrics`` (asn_http_requests_total and the time spent per
route): the HTTP calls the portal makes per page and where the time goes.

    .venv/bin/python bench/portal.py                       # 300 ASN, 200 requests per page
    .venv/bin/python bench/portal.py --asn 1000 --requests 500 --clients 8 --json out.json

The portal's public rate limit (PUBLIC_RATE_PER_MINUTE, 1,200 a minute per route and address)
is raised for the run: every request comes from 127.0.0.1, and the limiter is not what is
measured. Prints the figures and writes bench/results/portal.json (``--json`` elsewhere), with
the commit and the load average before and after.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from html import unescape
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from bench.common import check, cpu_seconds, log, machine, percentiles, programme_body, write_result  # noqa: E402
from deploy import demo, rabbit  # noqa: E402
from deploy.launcher import Stack, free_ports  # noqa: E402
from shared.config import DEPLOYABLES, PORTAL, SERVICES  # noqa: E402

TARGET_P95_MS = 300.0
APPROVAL_PROGRAMME = "BENCH-IZIN-01"
SUPERVISOR_PAGES = ("/persetujuan", "/tim")
LOGS = ROOT / ".data" / "bench" / "portal"
STACK_ENV = {
    "LOG_LEVEL": "WARNING",
    "NOTIFICATION_QUIET_HOURS": "00:00-00:00",
    "NOTIFICATION_DEFAULT_CHANNELS": "inbox",
    "REPORTING_SHORTFALL_POLL_S": "3600",
    # every request of the bench comes from one address: the limiter would answer 429
    "PUBLIC_RATE_PER_MINUTE": "10000000",
    "PUBLIC_RATE_BURST": "1000000",
}


def commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "services", "shared"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
        return out + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# --- the data ----------------------------------------------------------------------------------

def play_demo(stack: Stack, asn: int, seed: int, timeout: float) -> demo.Demo:
    """The demo against the stack; returns the Demo (its plan and final enrolments)."""
    played = demo.Demo(demo.Platform.from_stack(stack), demo.build_plan(asn, seed), channels=("inbox",),
                       timeout_s=timeout)
    played.play()
    return played


def choose_asn(played: demo.Demo) -> dict:
    """The holder of a valid certificate with the most enrolments (ties: the lowest NIP), with an
    enrolment (preferring one still to come) for the programme page and its .ics."""
    count: Counter = Counter()
    enrolments: dict[str, list[dict]] = {}
    for items in played.final.values():
        for e in items:
            count[e["nip"]] += 1
            enrolments.setdefault(e["nip"], []).append(e)
    holders = set()
    for code in played._certificate_programmes():
        holders |= {c["holder"]["nip"] for c in played.api.certificates(code) if c["status"] == "valid"}
    if not holders:
        raise RuntimeError("the demo issued no valid certificate")
    nip = min(holders, key=lambda n: (-count[n], n))
    upcoming = {p.spec.code for p in played.plan.programmes if p.spec.upcoming}
    mine = sorted(enrolments[nip], key=lambda e: (e["programme_code"] not in upcoming, e["status"] != "enrolled",
                                                  e["programme_code"]))
    return {"nip": nip, "enrolments": len(enrolments[nip]), "enrolment_id": mine[0]["id"],
            "programme": mine[0]["programme_code"]}


def choose_supervisor(played: demo.Demo) -> dict:
    staff: dict[str, list[str]] = {}
    for person in played.plan.people:
        if person.supervisor_nip:
            staff.setdefault(person.supervisor_nip, []).append(person.nip)
    nip = min(staff, key=lambda n: (-len(staff[n]), n))
    agency = next(p.agency for p in played.plan.people if p.nip == nip)
    return {"nip": nip, "staff": sorted(staff[nip]), "agency": agency}


def approval_requests(stack: Stack, staff: list[str], how_many: int = 5) -> int:
    """A programme needing the supervisor's approval, and ``how_many`` of the staff enrolling
    themselves (their own token): their requests wait on the supervisor's Persetujuan page."""
    enrollment, admin = stack.url("enrollment"), stack.auth_headers("admin")
    body = {**programme_body(APPROVAL_PROGRAMME, 50), "title": "Pelatihan Kepemimpinan (izin atasan, uji kinerja)",
            "requires_supervisor_approval": True}
    answer = requests.post(f"{enrollment}/programmes", json=body, headers=admin, timeout=60)
    if answer.status_code != 409:
        check(answer, "create the approval programme")
    check(requests.post(f"{enrollment}/programmes/{APPROVAL_PROGRAMME}/publish", headers=admin, timeout=60),
          "publish the approval programme")
    waiting = 0
    for nip in staff[:how_many]:
        response = requests.post(f"{enrollment}/programmes/{APPROVAL_PROGRAMME}/enrolments", json={"nip": nip},
                                 headers=stack.auth_headers("asn", nip=nip), timeout=60)
        check(response, f"self-enrolment of {nip}")
        waiting += response.json().get("status") == "awaiting_approval"
    return waiting


def access_log_sizes(stack: Stack) -> dict[str, int]:
    from pymongo import MongoClient

    client = MongoClient(stack.store_uri)
    try:
        return {s: client[f"{stack.db_prefix}{s}"]["access_log"].estimated_document_count() for s in SERVICES}
    finally:
        client.close()


# --- the portal as a browser -------------------------------------------------------------------

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
NAV = re.compile(r'<a id="nav-([\w-]+)" href="([^"]+)"')
FEED = re.compile(r'(/kalender/[A-Za-z0-9_\-]{20,100}\.ics)')


def sign_in(portal: str, who: str) -> requests.Session:
    """A browser session signed in with the development sign-in as ``who`` (asn:<NIP>, admin,
    operator:<KODE>)."""
    session = requests.Session()
    page = check(session.get(f"{portal}/masuk", timeout=60), "GET /masuk")
    token = CSRF.search(page.text)
    if not token:
        raise RuntimeError("no csrf_token on /masuk (is the development sign-in on?)")
    answer = session.post(f"{portal}/masuk/dev", data={"csrf_token": unescape(token.group(1)), "sebagai": who,
                                                       "lanjut": "/"}, allow_redirects=False, timeout=60)
    if answer.status_code != 303:
        raise RuntimeError(f"sign-in as {who}: HTTP {answer.status_code} {answer.text[:300]}")
    return session


def nav_links(session: requests.Session, portal: str) -> dict[str, str]:
    return dict(NAV.findall(session.get(f"{portal}/", timeout=60).text))


def calendar_feed(session: requests.Session, portal: str) -> str | None:
    """Make the personal feed link (POST /kalender) and read it from the page it is shown on once."""
    page = session.get(f"{portal}/kalender", timeout=60)
    token = CSRF.search(page.text) if page.status_code == 200 else None
    if not token:
        return None
    answer = session.post(f"{portal}/kalender", data={"csrf_token": unescape(token.group(1))}, timeout=60)
    found = FEED.search(answer.text)
    return found.group(1) if found else None


# --- observing ---------------------------------------------------------------------------------

def scrape(url: str) -> dict[tuple, float]:
    """(service-route key, 'count'|'seconds') -> value from a service's /metrics."""
    values: dict[tuple, float] = {}
    try:
        text = requests.get(f"{url}/metrics", timeout=10).text
    except requests.RequestException:
        return values
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "asn_http_requests_total":
                key = (f"{sample.labels['method']} {sample.labels['route']}", "count")
            elif sample.name == "asn_http_request_seconds_sum":
                key = (f"{sample.labels['method']} {sample.labels['route']}", "seconds")
            else:
                continue
            values[key] = values.get(key, 0.0) + sample.value
    return values


class Observer:
    """Every process's CPU time and every deployable's HTTP counters, before and after a pass."""

    def __init__(self, stack: Stack):
        self.stack = stack
        self.pids = {s: stack.pid(s) for s in DEPLOYABLES}
        if stack.secantus is not None:
            self.pids["secantusdb"] = stack.secantus.pid

    def snapshot(self) -> dict:
        return {"cpu": {name: cpu_seconds(pid) for name, pid in self.pids.items() if pid},
                "http": {s: scrape(self.stack.url(s)) for s in DEPLOYABLES}, "bench_cpu": time.process_time()}

    @staticmethod
    def per_request(before: dict, after: dict, n: int, page_route: str | None = None) -> dict:
        cpu = {name: round((after["cpu"][name] - before["cpu"][name]) * 1000 / n, 1)
               for name in after["cpu"] if after["cpu"].get(name) is not None and before["cpu"].get(name) is not None}
        calls, seconds = {}, {}
        for service in after["http"]:
            for (route, what), value in after["http"][service].items():
                delta = value - before["http"][service].get((route, what), 0.0)
                if delta <= 0 or route.endswith("/metrics"):
                    continue
                name = f"{service} {route}"
                if what == "count":
                    calls[name] = round(delta / n, 2)
                else:
                    seconds[name] = round(delta * 1000 / n, 1)
        services_calls = sum(v for k, v in calls.items() if not k.startswith(PORTAL + " "))
        return {"cpu_ms_per_request": cpu, "http_calls_per_request": calls, "server_ms_per_request": seconds,
                "service_calls_per_page": round(services_calls, 2)}


# --- measuring ---------------------------------------------------------------------------------

def timed_get(session: requests.Session, url: str) -> tuple[float, int]:
    started = time.perf_counter()
    response = session.get(url, allow_redirects=False, timeout=60)
    _ = response.content
    return time.perf_counter() - started, response.status_code


def clone(session: requests.Session) -> requests.Session:
    """Another client (its own connection) with the same signed-in cookie."""
    other = requests.Session()
    other.cookies.update(session.cookies)
    return other


def measure(session: requests.Session, url: str, n: int, warmup: int, clients: int, observer: Observer) -> dict:
    elapsed, status = timed_get(session, url)
    if status == 404:
        return {"status": "missing", "http_status": 404}
    if status != 200:
        return {"status": "error", "http_status": status}
    for _ in range(warmup):
        timed_get(session, url)
    # sequential: one client
    before = observer.snapshot()
    samples, errors = [], Counter()
    started = time.monotonic()
    for _ in range(n):
        seconds, code = timed_get(session, url)
        samples.append(seconds)
        if code != 200:
            errors[code] += 1
    wall = time.monotonic() - started
    after = observer.snapshot()
    result = {"status": "measured", "sequential": {**percentiles(samples), "per_s": round(n / wall, 1),
                                                   "errors": dict(errors)},
              "per_request": Observer.per_request(before, after, n)}
    # concurrent: ``clients`` clients share n requests
    if clients > 1:
        lock, remaining, concurrent, cerrors = threading.Lock(), [n], [], Counter()

        def client(own: requests.Session) -> None:
            for _ in range(2):
                timed_get(own, url)
            while True:
                with lock:
                    if remaining[0] <= 0:
                        return
                    remaining[0] -= 1
                seconds, code = timed_get(own, url)
                with lock:
                    concurrent.append(seconds)
                    if code != 200:
                        cerrors[code] += 1
        threads = [threading.Thread(target=client, args=(clone(session),)) for _ in range(clients)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - started
        result["concurrent"] = {**percentiles(concurrent), "clients": clients, "per_s": round(n / wall, 1),
                                "errors": dict(cerrors)}
    return result


def pages_for(role: str, persona: dict, nav: dict[str, str], feed: str | None, seen: set[str]) -> list[tuple[str, str]]:
    """(label, path) to measure for this persona: its own list, then its menu's other pages."""
    if role == "asn":
        listed = [("/", "/"), ("/katalog", "/katalog"), ("/katalog/<code>", f"/katalog/{persona['programme']}"),
                  ("/riwayat", "/riwayat"), ("/sertifikat", "/sertifikat"), ("/kotak-masuk", "/kotak-masuk"),
                  ("/kalender", "/kalender"), ("/pendaftaran/<id>.ics", f"/pendaftaran/{persona['enrolment_id']}.ics")]
        listed.append(("/kalender/<secret>.ics", feed) if feed else ("/kalender/<secret>.ics", "/kalender/"
                                                                     "tidak-ada-tautan-kalender-bench.ics"))
    elif role == "supervisor":
        listed = [("/", "/"), *((path, path) for path in SUPERVISOR_PAGES)]
    elif role == "operator":
        # the Plt/Plh page does its work once a supervisor is looked up
        listed = [("/", "/"), ("/operator/plt", "/operator/plt"),
                  ("/operator/plt?atasan=<nip>", f"/operator/plt?atasan={persona['supervisor']}"),
                  *console_pages(role, persona["console_programme"])]
    else:
        # the access log unfiltered (the page as it opens) and filtered by whose data
        listed = [("/", "/"), ("/admin/log-akses", "/admin/log-akses"),
                  ("/admin/log-akses?nip=<nip>", f"/admin/log-akses?nip={persona['supervisor']}"),
                  *console_pages(role, persona["console_programme"])]
    paths = {p for _, p in listed}
    for href in nav.values():
        # the supervisor's pages are measured as the supervisor (the chosen ASN may supervise too)
        if href.startswith("/") and href not in paths and href not in seen and href not in SUPERVISOR_PAGES:
            listed.append((href, href))
            paths.add(href)
    return listed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--asn", type=int, default=300, help="ASN on the demo's roster (default %(default)s; the "
                                                             "full demo has 1,000 and takes ~6 minutes)")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per page and mode (default "
                                                                  "%(default)s)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed requests first (default %(default)s)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients of the second pass (default "
                                                               "%(default)s; 1: sequential only)")
    parser.add_argument("--seed", type=int, default=demo.DEFAULT_SEED)
    parser.add_argument("--page", action="append", default=[],
                        help="measure only pages whose label contains this (repeatable; the uploads are "
                             "\"/operator/unggah/kirim\")")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds the demo may take at most")
    parser.add_argument("--json", type=Path, default=None, help="result file (default bench/results/portal.json)")
    parser.add_argument("--upload-runs", type=int, default=3, help="console uploads timed per persona (default "
                                                                   "%(default)s; 0: none)")
    parser.add_argument("--upload-rows", type=int, default=10_000, help="rows of each upload's CSV (default "
                                                                        "%(default)s)")
    args = parser.parse_args(argv)

    report: dict = {"command": "python bench/portal.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                    "commit": commit(), "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "machine": machine(), "asn": args.asn, "requests": args.requests, "warmup": args.warmup,
                    "clients": args.clients, "target_p95_ms": TARGET_P95_MS}
    base_amqp = os.environ.get("AMQP_URI") or rabbit.DEFAULT_AMQP_URI
    rabbit.ensure_running(base_amqp)
    vhost = f"bench-portal-{os.getpid()}"
    rabbit.create_vhost(vhost, base_amqp)
    LOGS.mkdir(parents=True, exist_ok=True)
    stack = Stack(amqp_uri=rabbit.amqp_uri_for(vhost, base_amqp), db_prefix=f"bp{os.getpid()}_",
                  services=DEPLOYABLES, ports=free_ports(), log_dir=LOGS, extra_env=STACK_ENV, ready_timeout=120)
    results: list[dict] = []
    try:
        log(f"starting {', '.join(DEPLOYABLES)} (embedded SecantusDB)")
        stack.start()
        started = time.monotonic()
        played = play_demo(stack, args.asn, args.seed, args.timeout)
        asn = choose_asn(played)
        supervisor = choose_supervisor(played)
        supervisor["awaiting_approval"] = approval_requests(stack, supervisor["staff"])
        console = choose_console_programme(played, supervisor["agency"])
        report["setup_s"] = round(time.monotonic() - started, 1)
        report["personas"] = {"asn": asn, "supervisor": {k: v for k, v in supervisor.items() if k != "staff"}
                              | {"staff": len(supervisor["staff"])},
                              "operator": supervisor["agency"], "admin": "admin", "console_programme": console}
        log(f"demo data ready after {report['setup_s']} s; ASN {asn['nip']} ({asn['enrolments']} enrolments), "
            f"supervisor {supervisor['nip']} ({len(supervisor['staff'])} staff, "
            f"{supervisor['awaiting_approval']} requests waiting), operator {supervisor['agency']}, console "
            f"programme {console}")

        portal = stack.url(PORTAL)
        observer = Observer(stack)
        log("process ids (for py-spy): " + ", ".join(f"{k} {v}" for k, v in observer.pids.items()))
        report["load_average_before"] = load_average()
        log(f"load average before measuring {report['load_average_before']}")
        seen: set[str] = set()
        for role, who in (("asn", f"asn:{asn['nip']}"), ("supervisor", f"asn:{supervisor['nip']}"),
                          ("operator", f"operator:{supervisor['agency']}"), ("admin", "admin")):
            if role == "admin":
                # what the access-log page reads: every read of someone else's data so far (the
                # supervisor's /tim pass above records one per staff member per view)
                report["access_log_records"] = access_log_sizes(stack)
                log(f"access log records before the admin's pages: {report['access_log_records']}")
            session = sign_in(portal, who)
            nav = nav_links(session, portal)
            feed = calendar_feed(session, portal) if role == "asn" else None
            persona = {**asn, "supervisor": supervisor["nip"], "console_programme": console}
            for label, path in pages_for(role, persona, nav, feed, seen):
                seen.add(path)
                if args.page and not any(p in label for p in args.page):
                    continue
                result = measure(session, portal + path, args.requests, args.warmup, args.clients, observer)
                row = {"persona": role, "page": label, "path": path, **result}
                results.append(row)
                log(summary_line(row))
        report["load_average_after"] = load_average()
        if args.upload_runs > 0 and (not args.page or any(p in "/operator/unggah/kirim" for p in args.page)):
            # last: each admin upload writes --upload-rows enrolments (and their events) the pages would feel
            report["uploads"] = measure_uploads(stack, portal, supervisor["agency"], args.upload_runs,
                                                args.upload_rows, args.seed)
            report["load_average_after_uploads"] = load_average()
    finally:
        stack.stop()
        rabbit.delete_vhost(vhost, base_amqp)
    report["pages"] = results
    out = write_result("portal", report, args.json)
    print_table(report)
    print(f"written to {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0


def summary_line(row: dict) -> str:
    head = f"{row['persona']:<10} {row['page']:<36}"
    if row["status"] != "measured":
        return f"{head} {row['status']} (HTTP {row['http_status']})"
    s, c = row["sequential"], row.get("concurrent") or {}
    per = row["per_request"]
    text = (f"{head} seq p50/p95/p99/max {s['p50_ms']}/{s['p95_ms']}/{s['p99_ms']}/{s['max_ms']} ms")
    if c:
        text += f"; {c['clients']} clients {c['p50_ms']}/{c['p95_ms']}/{c['p99_ms']}/{c['max_ms']} ms {c['per_s']}/s"
    text += f"; {per['service_calls_per_page']} service calls"
    errors = {**s.get("errors", {}), **c.get("errors", {})}
    return text + (f"; errors {errors}" if errors else "")


def print_table(report: dict) -> None:
    print(f"\ncommit {report['commit']}, {report['asn']} ASN, {report['requests']} requests per page and mode "
          f"(warm-up {report['warmup']}), {report['clients']} concurrent clients; load average before "
          f"{report.get('load_average_before')}, after {report.get('load_average_after')}")
    print(f"{'persona':<10} {'page':<36} {'sequential p50/p95/p99/max ms':<32} "
          f"{'concurrent p50/p95/p99/max ms':<32} {'calls':>5}  p95<300")
    for row in report["pages"]:
        if row["status"] != "measured":
            print(f"{row['persona']:<10} {row['page']:<36} {row['status']} (HTTP {row['http_status']})")
            continue
        s, c = row["sequential"], row.get("concurrent")
        seq = f"{s['p50_ms']}/{s['p95_ms']}/{s['p99_ms']}/{s['max_ms']}"
        con = f"{c['p50_ms']}/{c['p95_ms']}/{c['p99_ms']}/{c['max_ms']}" if c else "-"
        worst = max(s["p95_ms"], c["p95_ms"] if c else 0)
        print(f"{row['persona']:<10} {row['page']:<36} {seq:<32} {con:<32} "
              f"{row['per_request']['service_calls_per_page']:>5}  {'yes' if worst < TARGET_P95_MS else 'NO'}")
    if report.get("uploads"):
        print(f"\nconsole uploads (POST /operator/unggah/kirim, CSV): ms until the first result line / the summary; "
              f"load average after {report.get('load_average_after_uploads')}")
        for row in report["uploads"]:
            print("  " + upload_line(row))


# --- the operator console (issue 21) -------------------------------------------------------------
# Its pages (operator and admin), and an upload: a CSV of --upload-rows rows sent to the portal's
# POST /operator/unggah/kirim (what static/console-upload.js sends), timed until enrollment's first
# result line comes back through the portal (the page's first progress) and until the summary.

UPLOAD_PROGRAMME = "BENCH-UNGGAH-{:02d}"


def choose_console_programme(played: demo.Demo, agency: str) -> str:
    """The programme with the most enrolments of the operator's OPD among those issuing certificates: the
    fullest programme page, marking table and certificate list that operator (and the admin) gets."""
    members = {p.nip for p in played.plan.people if p.agency == agency}
    codes = sorted(played._certificate_programmes() or played.final)
    return max(codes, key=lambda code: (sum(e["nip"] in members for e in played.final.get(code, [])),
                                        len(played.final.get(code, []))))


def console_pages(role: str, code: str) -> list[tuple[str, str]]:
    """The console's pages as ``role`` (operator or admin) opens them, on programme ``code``."""
    listed = [("/operator/program", "/operator/program"), ("/operator/program/<code>", f"/operator/program/{code}"),
              ("/operator/program/<code>/penilaian", f"/operator/program/{code}/penilaian"),
              ("/operator/program/<code>/sertifikat", f"/operator/program/{code}/sertifikat"),
              ("/operator/unggah", "/operator/unggah"), ("/operator/dasbor", "/operator/dasbor"),
              ("/operator/belum-ikut", "/operator/belum-ikut")]
    if role == "admin":
        listed.append(("/admin/checkpoint", "/admin/checkpoint"))
    return listed


def upload_file(rows: int, agency: str, seed: int) -> bytes:
    """A bulk enrolment CSV (nip,nama,opd) of ``rows`` distinct, well-formed NIPs the demo's roster does not
    know: an admin's upload enrols them all; an operator's is refused row by row (not on its OPD's roster)."""
    # not the demo's own seed: its generator would give the roster's NIPs back
    rng, year, nips = random.Random(f"bench-upload-{seed}"), datetime.now(timezone.utc).year, set()
    while len(nips) < rows:
        nips.add(demo.make_identifier(rng, year, "1", pppk=False))
    lines = (f"{nip},Peserta Unggah {i + 1:05d},{agency}\n" for i, nip in enumerate(sorted(nips)))
    return ("nip,nama,opd\n" + "".join(lines)).encode()


def new_upload_programme(stack: Stack, run: int, capacity: int) -> str:
    code = UPLOAD_PROGRAMME.format(run)
    enrollment, admin = stack.url("enrollment"), stack.auth_headers("admin")
    body = {**programme_body(code, capacity), "title": f"Pelatihan unggah massal {run} (uji kinerja)"}
    check(requests.post(f"{enrollment}/programmes", json=body, headers=admin, timeout=60), f"create {code}")
    check(requests.post(f"{enrollment}/programmes/{code}/publish", headers=admin, timeout=60), f"publish {code}")
    return code


def time_upload(session: requests.Session, portal: str, code: str, body: bytes) -> dict:
    """Send ``body`` as console-upload.js does and read the NDJSON answer as it streams: ms until the answer's
    headers, the first line, the first row's result (the page's first progress) and the summary."""
    page = check(session.get(f"{portal}/operator/unggah", timeout=60), "GET /operator/unggah")
    token = unescape(CSRF.search(page.text).group(1))
    started = time.perf_counter()
    answer = session.post(f"{portal}/operator/unggah/kirim", params={"jenis": "pendaftaran", "program": code},
                          data=body, stream=True, timeout=1800,
                          headers={"X-CSRF-Token": token, "Content-Type": "text/csv",
                                   "X-File-Name": "unggah-uji-kinerja.csv"})
    headers_at = time.perf_counter() - started
    if answer.status_code != 200:
        return {"status": "error", "http_status": answer.status_code, "body": answer.text[:300]}
    first_line = first_row = summary_at = None
    rows, chunks, summary, pending, reasons = 0, 0, None, b"", Counter()
    for chunk in answer.iter_content(chunk_size=None):
        now = time.perf_counter() - started
        chunks += 1
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if not line.strip():
                continue
            item = json.loads(line)
            first_line = now if first_line is None else first_line
            if "row" in item:
                rows += 1
                first_row = now if first_row is None else first_row
                if not item.get("accepted"):
                    reasons[item.get("alasan") or item.get("reason") or "?"] += 1
            elif "summary" in item:
                summary, summary_at = item["summary"], now

    def ms(seconds: float | None) -> float | None:
        return None if seconds is None else round(seconds * 1000, 1)
    return {"status": "measured", "bytes": len(body), "headers_ms": ms(headers_at), "first_line_ms": ms(first_line),
            "first_row_ms": ms(first_row), "summary_ms": ms(summary_at), "row_lines": rows, "chunks": chunks,
            "rejected_reasons": dict(reasons.most_common(3)),
            "summary": {k: v for k, v in (summary or {}).items() if k in ("rows", "accepted", "rejected", "created",
                                                                           "unchanged", "pesan")}}


def settle(stack: Stack, idle_share: float = 0.15, timeout: float = 240.0) -> float:
    """Wait until the platform's processes together use less than ``idle_share`` of one core over two
    seconds (an admin upload's 10,000 ``enrolled`` events keep the consumers busy for a while after its
    summary); returns the seconds waited."""
    pids = [pid for pid in (stack.pid(s) for s in DEPLOYABLES) if pid]
    if stack.secantus is not None:
        pids.append(stack.secantus.pid)
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        before = sum(cpu_seconds(pid) or 0.0 for pid in pids)
        time.sleep(2.0)
        if (sum(cpu_seconds(pid) or 0.0 for pid in pids) - before) / 2.0 < idle_share:
            break
    return round(time.monotonic() - started, 1)


def measure_uploads(stack: Stack, portal: str, operator: str, runs: int, rows: int, seed: int) -> list[dict]:
    """``runs`` times: a fresh programme; the operator's upload (every row refused: not on its roster), then the
    admin's (every row enrolled). The same file each run, so each run's admin upload writes ``rows`` enrolments.
    Each upload starts on a quiet platform (``settle``): the previous one's events are handled first."""
    body = upload_file(rows, operator, seed)
    sessions = {"operator": sign_in(portal, f"operator:{operator}"), "admin": sign_in(portal, "admin")}
    results = []
    for run in range(1, runs + 1):
        code = new_upload_programme(stack, run, rows)
        for role in ("operator", "admin"):
            waited = settle(stack)
            row = {"persona": role, "run": run, "programme": code, "rows": rows, "settled_s": waited,
                   "load_average": load_average(), **time_upload(sessions[role], portal, code, body)}
            results.append(row)
            log(upload_line(row))
    return results


def upload_line(row: dict) -> str:
    head = f"upload {row['persona']:<8} run {row['run']} {row['rows']} rows"
    if row["status"] != "measured":
        return f"{head}: HTTP {row['http_status']} {row.get('body', '')}"
    s = row["summary"]
    return (f"{head}: first result line {row['first_row_ms']} ms, summary {row['summary_ms']} ms "
            f"({s.get('accepted')} accepted, {s.get('rejected')} rejected; {row['chunks']} chunks; "
            f"after {row.get('settled_s')} s settling, load {row['load_average']})")


if __name__ == "__main__":
    sys.exit(main())
