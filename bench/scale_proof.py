"""Scale proof: every service as several processes against one broker and one store.

    python bench/scale_proof.py                      # 2,000 ASN, 1 then 3 replicas per service
    python bench/scale_proof.py --asn 300 --replicas 3

For each replica count it starts SecantusDB, a fresh RabbitMQ vhost, a local SMTP sink
(aiosmtpd) and N processes of each of the four services (``python -m services``, own
HTTP port each). Then, through the public HTTP APIs:

1. creates and publishes a certification programme, enrols 2,000 ASN (bulk CSV), waits
   until every service has taken in the enrolments, then registers the 2,000 with an email
   address at notification (so the emails of the burst are the ones measured);
2. the burst: completes all 2,000 (one ``POST /enrolments/{id}/completion`` each, spread
   over the enrollment replicas by a pool of clients that retries on another replica when
   one fails). With more than one replica, one replica of *every* service is killed with
   SIGKILL once half of the completions have been answered;
3. waits until every completion has become a certificate (certification), a JP ledger
   entry (reporting) and a "lulus" and a "sertifikat" email (notification), then checks:
   no certificate twice and numbers 1..N without gaps, no email read twice (a copy with the
   Message-ID of one already received, which a SIGKILL between the SMTP answer and the record
   makes and mail systems drop, is counted apart and allowed), every ASN's ledger
   holds the programme's JP exactly once, no message left in any queue or dead-letter
   queue, no event left in any outbox.

It prints the figures and writes them to bench/results/scale_proof.json. Throughput is
end to end: completions per second from the first completion request until the last of the
certificates, ledger entries and emails exists. On the 2-core development machine all of
it (store, broker, 4-12 service processes, the load) shares the same two cores.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import random
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

import pymongo
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import SUBJECTS, MailSink  # noqa: E402
from bench.email_copies import count_copies  # noqa: E402
from deploy import rabbit  # noqa: E402
from deploy.processes import port_open, spawn, stop_all, tail, wait_until  # noqa: E402
from deploy.secantus import SecantusServer  # noqa: E402
from shared import auth  # noqa: E402
from shared.config import SERVICES  # noqa: E402
from shared.nip import validate as validate_nip  # noqa: E402
from shared.reference import agencies  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "scale_proof.json"
PROGRAMME_JP = 20
PASSING_SCORE = 70
# Settings the replicas run with besides addresses (recorded in the results).
BENCH_SETTINGS = {
    "LOG_LEVEL": "WARNING",
    # No quiet hours: the proof must not depend on the time of day it runs at.
    "NOTIFICATION_QUIET_HOURS": "00:00-00:00",
    "NOTIFICATION_DEFAULT_CHANNELS": "email,inbox",
    "NOTIFICATION_SMTP_STARTTLS": "false",
    "REPORTING_SHORTFALL_POLL_S": "3600",
}


# The bench calls the APIs as a BKN admin, with a token signed by the run's own key.
TOKEN_SECRET = secrets.token_hex(32)
ADMIN = {"Authorization": "Bearer " + auth.issue_token(auth.load_config(environ={"AUTH_SECRET": TOKEN_SECRET}),
                                                      role=auth.ADMIN, subject="scale-proof")}


def get(url: str, **kwargs) -> requests.Response:
    return requests.get(url, headers={**ADMIN, **kwargs.pop("headers", {})}, **kwargs)


def post(url: str, **kwargs) -> requests.Response:
    return requests.post(url, headers={**ADMIN, **kwargs.pop("headers", {})}, **kwargs)


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


# --- the service processes -------------------------------------------------------------------

@dataclass
class Replica:
    service: str
    index: int
    port: int
    proc: subprocess.Popen
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.proc.poll() is None


@dataclass
class Cluster:
    """N replicas of each service sharing one vhost, one store and one database prefix."""

    replicas: int
    amqp_uri: str
    mongo_uri: str
    db_prefix: str
    smtp_port: int
    log_dir: Path
    members: dict[str, list[Replica]] = field(default_factory=dict)
    killed: set[tuple[str, int]] = field(default_factory=set)
    restarts: list[str] = field(default_factory=list)

    def env(self, service: str, port: int) -> dict[str, str]:
        # A clean environment: nothing inherited can point a replica elsewhere.
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
            "LANG": "C.UTF-8", "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1",
            "AMQP_URI": self.amqp_uri, "MONGO_URI": self.mongo_uri, "MONGO_DB_PREFIX": self.db_prefix,
            "HTTP_ADDRESS": f"127.0.0.1:{port}", "PUBLIC_BASE_URL": "http://127.0.0.1:8002",
            "AUTH_SECRET": TOKEN_SECRET,
            "NOTIFICATION_SMTP_HOST": "127.0.0.1", "NOTIFICATION_SMTP_PORT": str(self.smtp_port),
            **BENCH_SETTINGS,
        }

    def _spawn(self, service: str, index: int, port: int, append: bool = False) -> Replica:
        path = self.log_dir / f"{service}-{index}.log"
        proc = spawn([sys.executable, "-m", "services", service], log_path=path,
                     env=self.env(service, port), cwd=ROOT, append=append)
        return Replica(service, index, port, proc, path)

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for service in SERVICES:
            self.members[service] = [self._spawn(service, index, replica_port()) for index in range(self.replicas)]
        for replica in self.all():
            ready = wait_until(lambda: _ready(replica.url, replica.service), 90, alive=replica.proc)
            if not ready:
                raise RuntimeError(f"{replica.service}#{replica.index} did not get ready:\n{tail(replica.log_path)}")

    def all(self) -> list[Replica]:
        return [r for members in self.members.values() for r in members]

    def live(self, service: str) -> list[Replica]:
        return [r for r in self.members[service] if r.alive()]

    def url(self, service: str) -> str:
        return self.live(service)[0].url

    def kill_one_of_each(self) -> list[str]:
        killed = []
        for service in SERVICES:
            victim = self.live(service)[0]
            self.killed.add((service, victim.index))  # stays down: the others must carry on
            victim.proc.send_signal(signal.SIGKILL)
            victim.proc.wait(10)
            killed.append(f"{service}#{victim.index} (pid {victim.proc.pid})")
        return killed

    def supervise(self, stop: threading.Event, period: float = 10.0, failures_allowed: int = 6) -> None:
        """What Kubernetes' liveness probe does (deploy/k8s: every 10 s, 5 s timeout, 6 failures):
        a replica (not one killed on purpose) whose process ended or whose /health/live failed
        ``failures_allowed`` times in a row is restarted. Other work on a shared machine (a
        broker restart) can need it."""
        failures: dict[tuple[str, int], int] = {}
        while not stop.wait(period):
            for service, members in self.members.items():
                for i, replica in enumerate(members):
                    ident = (service, replica.index)
                    if ident in self.killed:
                        continue
                    healthy = replica.alive() and _live(replica.url)
                    failures[ident] = 0 if healthy else failures.get(ident, 0) + 1
                    if failures[ident] >= failures_allowed:
                        if replica.alive():
                            replica.proc.send_signal(signal.SIGKILL)
                            replica.proc.wait(10)
                        members[i] = self._spawn(service, replica.index, replica.port, append=True)
                        failures[ident] = 0
                        self.restarts.append(f"{time.strftime('%H:%M:%S')} {service}#{replica.index}")
                        log(f"liveness: restarted {service}#{replica.index}")

    def stop(self) -> None:
        stop_all([r.proc for r in self.all()], timeout=30)


def replica_port() -> int:
    """A free port outside the kernel's ephemeral range, where the test suites running beside
    this bench take theirs (a port taken by another process between our check and our bind
    would make us talk to a stranger)."""
    rng = random.Random()
    while True:
        port = rng.randint(21000, 28999)
        if not port_open("127.0.0.1", port):
            return port


def _live(url: str) -> bool:
    try:
        return requests.get(url + "/health/live", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def _ready(url: str, service: str) -> bool:
    try:
        response = requests.get(url + "/health/ready", timeout=2)
        return response.status_code == 200 and response.json().get("service") == service
    except (requests.RequestException, ValueError):
        return False


# --- the scenario --------------------------------------------------------------------------

def make_asn(count: int) -> list[dict]:
    """``count`` ASN with structurally valid NIPs, real OPD codes and an email address each."""
    codes = sorted(agencies())
    people = []
    born = datetime(1975, 1, 1)
    for i in range(count):
        birth = born + timedelta(days=i * 3)
        nip = f"{birth:%Y%m%d}{birth.year + 22 + i % 5}{(i % 12) + 1:02d}{1 + i % 2}{(i % 999) + 1:03d}"
        validate_nip(nip)  # raises if the generator ever makes an invalid one
        people.append({"nip": nip, "name": f"ASN Uji {i + 1:04d}", "agency": codes[i % len(codes)],
                       "email": f"asn{i + 1:04d}@uji.bukittinggikota.go.id"})
    return people


def _csv(rows: list[dict], columns: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def _check(response: requests.Response, what: str) -> requests.Response:
    if response.status_code >= 300:
        raise RuntimeError(f"{what}: HTTP {response.status_code} {response.text[:500]}")
    return response


def create_programme(cluster: Cluster, code: str, capacity: int) -> None:
    now = datetime.now(timezone.utc)
    iso = lambda t: t.isoformat().replace("+00:00", "Z")  # noqa: E731
    body = {
        "code": code, "title": "Sertifikasi Pengadaan Barang/Jasa Pemerintah (uji skala)",
        "kind": "sertifikasi", "competency_type": "teknis", "jp": PROGRAMME_JP, "organisers": ["BKN"],
        "starts_at": iso(now - timedelta(hours=2)), "ends_at": iso(now + timedelta(days=2)),
        "enrolment_opens_at": iso(now - timedelta(days=1)), "enrolment_closes_at": iso(now + timedelta(days=1)),
        "capacity": capacity, "passing_score": PASSING_SCORE, "certificate_validity_months": 36,
        "certification_line": "PBJ", "location": "Bukittinggi",
    }
    url = cluster.url("enrollment")
    _check(post(f"{url}/programmes", json=body, timeout=30), "create programme")
    _check(post(f"{url}/programmes/{code}/publish", timeout=30), "publish programme")


def end_programme(cluster: Cluster, code: str) -> None:
    """A sertifikasi's results are recorded once it has ended (issue 24): end it now, as an
    operator does when a programme ends early (its enrolment closes too)."""
    now = datetime.now(timezone.utc)
    iso = lambda t: t.isoformat().replace("+00:00", "Z")  # noqa: E731
    _check(requests.patch(f"{cluster.url('enrollment')}/programmes/{code}", headers=ADMIN, timeout=30,
                          json={"enrolment_closes_at": iso(now - timedelta(seconds=2)),
                                "ends_at": iso(now - timedelta(seconds=1))}), "end the programme")


def register_recipients(cluster: Cluster, people: list[dict]) -> None:
    _check(post(cluster.url("notification") + "/recipients/bulk",
                         data=_csv(people, ["nip", "name", "agency", "email"]),
                         headers={"Content-Type": "text/csv"}, timeout=300), "register recipients")


def enrol(cluster: Cluster, code: str, people: list[dict]) -> dict[str, str]:
    response = _check(post(f"{cluster.url('enrollment')}/programmes/{code}/enrolments/bulk",
                                    data=_csv(people, ["nip", "name", "agency"]),
                                    headers={"Content-Type": "text/csv"}, timeout=600), "bulk enrol")
    enrolments = {}
    for line in response.text.splitlines():
        row = json.loads(line)
        if "summary" in row:
            continue
        if not row.get("accepted") or row.get("enrolment_status") != "enrolled":
            raise RuntimeError(f"enrolment refused: {row}")
        enrolments[row["nip"]] = row["enrolment_id"]
    if len(enrolments) != len(people):
        raise RuntimeError(f"{len(enrolments)} of {len(people)} enrolled")
    return enrolments


class Completer:
    """Clients completing enrolments over the live enrollment replicas, retrying elsewhere."""

    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self.lock = threading.Lock()
        self.answered = 0
        self.retries = 0
        self.local = threading.local()

    def complete(self, enrolment_id: str) -> None:
        session = getattr(self.local, "session", None) or requests.Session()
        self.local.session = session
        for attempt in range(30):
            live = self.cluster.live("enrollment")
            replica = live[(hash(enrolment_id) + attempt) % len(live)]
            try:
                response = session.post(f"{replica.url}/enrolments/{quote(enrolment_id)}/completion",
                                        json={"score": 85, "attended": True}, headers=ADMIN, timeout=30)
                if response.status_code == 200:
                    with self.lock:
                        self.answered += 1
                    return
                if response.status_code < 500:
                    raise RuntimeError(f"completion of {enrolment_id} refused: {response.status_code} {response.text}")
            except requests.RequestException:
                session.close()  # the replica died: reconnect elsewhere
            with self.lock:
                self.retries += 1
            time.sleep(min(1.0, 0.05 * (attempt + 1)))
        raise RuntimeError(f"completion of {enrolment_id} failed 30 times")


def total(url: str) -> int:
    try:
        return get(url, timeout=30).json()["total"]
    except (requests.RequestException, ValueError, KeyError):
        return -1


def stats(cluster: Cluster, code: str) -> dict:
    try:
        return get(f"{cluster.url('reporting')}/programmes/{code}/stats", timeout=30).json()
    except (requests.RequestException, ValueError):
        return {}


def queue_depths(amqp_uri: str, vhost: str) -> dict[str, int]:
    response = rabbit._api("GET", f"/queues/{quote(vhost, safe='')}", amqp_uri)
    response.raise_for_status()
    return {q["name"]: q.get("messages", 0) for q in response.json()}


def outbox_backlog(mongo_uri: str, db_prefix: str) -> dict[str, int]:
    client = pymongo.MongoClient(mongo_uri)
    try:
        return {s: client[f"{db_prefix}{s}"]["outbox"].count_documents({"sent": False}) for s in SERVICES}
    finally:
        client.close()


def settled(cluster: Cluster, vhost: str) -> bool:
    depths = queue_depths(cluster.amqp_uri, vhost)
    busy = {q: n for q, n in depths.items() if n and not q.endswith(".dlq") and ".retry." not in q}
    return not busy and not any(outbox_backlog(cluster.mongo_uri, cluster.db_prefix).values())


def run(replicas: int, asn: int, kill: bool, timeout: float, log_root: Path) -> dict:
    run_id = f"{os.getpid()}-{replicas}r{'k' if kill else ''}"
    vhost = f"scale-proof-{run_id}"
    code = f"SCALE-{run_id}".upper()
    base = os.environ.get("AMQP_URI") or rabbit.DEFAULT_AMQP_URI
    rabbit.ensure_running(base)
    rabbit.ensure_management(base)
    rabbit.create_vhost(vhost, base)
    amqp_uri = rabbit.amqp_uri_for(vhost, base)
    label = f"{replicas}r{'-kill' if kill else ''}"
    log_root.mkdir(parents=True, exist_ok=True)
    store = SecantusServer(storage_path=":memory:", log_path=log_root / f"secantus-{label}.log").start()
    mail = MailSink().start()
    cluster = Cluster(replicas, amqp_uri, store.uri, f"scale{replicas}_", mail.port, log_root / label)
    # Other work on the machine slows every figure: record how busy it was.
    stop_supervising = threading.Event()
    result: dict = {"replicas_per_service": replicas, "sigkill_midway": kill, "asn": asn, "killed": [],
                    "load_average_1m_at_start": round(os.getloadavg()[0], 1)}
    try:
        log(f"{replicas} replica(s) per service: starting {replicas * len(SERVICES)} service processes")
        cluster.start()
        threading.Thread(target=cluster.supervise, args=(stop_supervising,), daemon=True).start()
        people = make_asn(asn)
        create_programme(cluster, code, asn)
        started = time.monotonic()
        enrolments = enrol(cluster, code, people)
        end_programme(cluster, code)
        log(f"enrolled {len(enrolments)} ASN in {time.monotonic() - started:.1f}s and ended the programme; waiting "
            f"for the enrolment events")
        enrolled_stats = lambda: stats(cluster, code).get("enrolled", 0) >= asn  # noqa: E731
        if not wait_until(lambda: enrolled_stats() and settled(cluster, vhost), timeout, interval=1.0):
            raise RuntimeError(f"enrolments did not settle: reporting {stats(cluster, code)}")
        result["enrolment_phase_s"] = round(time.monotonic() - started, 1)
        register_recipients(cluster, people)

        log(f"burst: {asn} completions")
        completer = Completer(cluster)
        ids = list(enrolments.values())
        random.Random(7).shuffle(ids)
        t0 = time.monotonic()
        killer = None
        if kill:
            def kill_midway():
                wait_until(lambda: completer.answered >= asn // 2, timeout, interval=0.05)
                result["killed"] = cluster.kill_one_of_each()
                result["killed_after_completions"] = completer.answered
                log(f"SIGKILL after {completer.answered} completions: {', '.join(result['killed'])}")
            killer = threading.Thread(target=kill_midway, daemon=True)
            killer.start()
        with ThreadPoolExecutor(max_workers=8 * replicas) as pool:
            list(pool.map(completer.complete, ids))
        t_http = time.monotonic() - t0
        log(f"all {asn} completions answered in {t_http:.1f}s ({completer.retries} retried on another replica)")
        if killer is not None:
            killer.join(30)

        marks: dict[str, float] = {}
        cert_url = f"{cluster.url('certification')}/certificates?programme={code}&per_page=1"

        def progress() -> bool:
            # Ask the services (store reads, which compete with the burst for the store) only
            # once the queue feeding that figure is empty; the broker's queue depths are free.
            now = time.monotonic() - t0
            depths = queue_depths(cluster.amqp_uri, vhost)
            if ("certificates" not in marks and not depths.get("certification.enrollment.completed")
                    and total(cert_url) >= asn):
                marks["certificates"] = now
            if ("ledger" not in marks and not depths.get("reporting.enrollment.completed")
                    and stats(cluster, code).get("passed", 0) >= asn):
                marks["ledger"] = now
            if ("emails" not in marks and mail.count("passed") >= asn and mail.count("certified") >= asn
                    and _emails_of_each_kind(mail) >= asn):  # copies of a resend do not count twice
                marks["emails"] = now
            return len(marks) == 3

        if not wait_until(progress, timeout, interval=1.0):
            raise RuntimeError(f"not everything arrived within {timeout:.0f}s: {marks}, certificates "
                               f"{total(cert_url)}, reporting {stats(cluster, code)}, "
                               f"emails passed {mail.count('passed')} certified {mail.count('certified')}; subjects "
                               f"{Counter(s[:30] for _, s, _ in mail.snapshot())}")
        t_end = max(marks.values())
        wait_until(lambda: settled(cluster, vhost), 120, interval=1.0)
        result.update({
            "completion_requests_per_s": round(asn / t_http, 1),
            "end_to_end_s": round(t_end, 1),
            "end_to_end_completions_per_s": round(asn / t_end, 1),
            "seconds_until": {k: round(v, 1) for k, v in sorted(marks.items())},
            "client_retries": completer.retries,
        })
        result["load_average_1m_at_end"] = round(os.getloadavg()[0], 1)
        result["liveness_restarts"] = list(cluster.restarts)
        result["checks"] = verify(cluster, vhost, code, people, enrolments, mail)
        result["ok"] = all(c["ok"] for c in result["checks"].values())
        return result
    finally:
        stop_supervising.set()
        cluster.stop()
        mail.stop()
        store.stop()
        rabbit.delete_vhost(vhost, base)


def _kind_of(subject: str) -> str:
    """The kind of email a subject names (SUBJECTS), else the subject itself."""
    return next((kind for kind, prefix in SUBJECTS.items() if subject.startswith(prefix)), subject)


def _emails_of_each_kind(mail: MailSink) -> int:
    """The fewest distinct recipients any kind of SUBJECTS reached."""
    reached = {kind: set() for kind in SUBJECTS}
    for rcpt, subject, _ in mail.snapshot():
        reached.get(_kind_of(subject), set()).add(rcpt)
    return min(len(r) for r in reached.values())


def verify(cluster: Cluster, vhost: str, code: str, people: list[dict], enrolments: dict[str, str],
           mail: MailSink) -> dict:
    checks: dict[str, dict] = {}
    asn = len(people)
    client = pymongo.MongoClient(cluster.mongo_uri)
    try:
        certs = list(client[f"{cluster.db_prefix}certification"]["certificates"].find({}))
    finally:
        client.close()
    per_enrolment = Counter(c.get("enrolment_id") for c in certs)
    numbers = Counter(c.get("number") for c in certs)
    seqs = sorted(c.get("seq") for c in certs if c.get("seq") is not None)
    checks["one_certificate_per_completion"] = {
        "ok": len(certs) == asn and set(per_enrolment) == set(enrolments.values())
        and max(per_enrolment.values()) == 1 and max(numbers.values()) == 1,
        "certificates": len(certs), "enrolments_with_two": sum(1 for n in per_enrolment.values() if n > 1),
        "numbers_used_twice": sum(1 for n in numbers.values() if n > 1)}
    if seqs:
        checks["certificate_numbers_without_gaps"] = {"ok": seqs == list(range(1, asn + 1)),
                                                      "first": seqs[0], "last": seqs[-1]}

    mails = mail.snapshot()
    emails = {p["email"]: p for p in people}
    # One email of each kind per ASN: (recipient, kind) names it (a subject of no known kind
    # stands for itself). Copies with the Message-ID of one already received are a resend after
    # a death between the SMTP answer and the record, which mail systems drop: counted and shown,
    # allowed. A second Message-ID for one email is a distinct duplicate: the check fails.
    copies = count_copies(((rcpt, _kind_of(subject)), message_id) for rcpt, subject, message_id in mails)
    kinds_by_rcpt: dict[str, set] = {}
    for rcpt, subject, _ in mails:
        kinds_by_rcpt.setdefault(rcpt, set()).add(_kind_of(subject))
    missing = {kind: sum(1 for e in emails if kind not in kinds_by_rcpt.get(e, ())) for kind in SUBJECTS}
    checks["no_duplicate_email"] = {"ok": copies.ok, "emails": copies.received,
                                    "distinct_duplicates": copies.distinct_duplicates,
                                    "same_message_id_copies": copies.same_message_id_copies,
                                    "asn_kinds_with_distinct_duplicates": copies.with_distinct_duplicates}
    checks["every_asn_got_each_email"] = {"ok": not any(missing.values()), "missing": missing,
                                          "unknown_recipients": len({r for r, _, _ in mails} - set(emails))}

    year = datetime.now(timezone.utc).year
    reporting = cluster.url("reporting")
    export = get(f"{reporting}/exports/ledger.csv", params={"year": year}, timeout=120)
    export.raise_for_status()
    rows = [r for r in csv.DictReader(io.StringIO(export.content.decode("utf-8-sig"))) if r.get("kode_program") == code]
    per_nip = Counter(r["nip"] for r in rows)
    wrong_jp = [r["nip"] for r in rows if int(r["jp"]) != PROGRAMME_JP]
    with ThreadPoolExecutor(max_workers=8) as pool:
        ledgers = list(pool.map(lambda p: get(f"{reporting}/ledger/{p['nip']}", params={"year": year},
                                                        timeout=30).json(), people))
    short = [l["nip"] for l in ledgers if not l.get("years") or l["years"][0].get("jp_total") != PROGRAMME_JP]
    checks["no_lost_ledger_update"] = {
        "ok": len(per_nip) == asn and max(per_nip.values()) == 1 and not wrong_jp and not short,
        "ledger_entries": len(rows), "asn_with_entries": len(per_nip), "asn_with_two": sum(1 for n in per_nip.values() if n > 1),
        "entries_with_wrong_jp": len(wrong_jp), "asn_whose_total_is_not_the_programme_jp": len(short)}

    depths = queue_depths(cluster.amqp_uri, vhost)
    dead = {q: n for q, n in depths.items() if q.endswith(".dlq") and n}
    waiting = {q: n for q, n in depths.items() if not q.endswith(".dlq") and n}
    backlog = outbox_backlog(cluster.mongo_uri, cluster.db_prefix)
    checks["nothing_stuck"] = {"ok": not dead and not waiting and not any(backlog.values()),
                               "dead_letters": dead, "messages_waiting": waiting, "outbox_unsent": backlog}
    return checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--asn", type=int, default=2000, help="ASN enrolled and completed in the burst")
    parser.add_argument("--runs", default="1,3,3k",
                        help="runs, in order: replicas per service, 'k' to SIGKILL one replica of each "
                             "service halfway through the burst (default 1,3,3k: throughput with 1 and 3, "
                             "then the crash proof with 3)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds each phase may take at most")
    parser.add_argument("--logs", type=Path, default=ROOT / ".data" / "scale_proof", help="service logs")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="an extra setting for every replica, e.g. REPORTING_MAX_WORKERS=2 (recorded)")
    args = parser.parse_args(argv)
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--set {item!r}: expected NAME=VALUE")
        BENCH_SETTINGS[name] = value

    def terminate(signum, frame):  # stop the replicas and delete the vhost on SIGTERM too
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    runs: list[dict] = []
    report = {"command": "python bench/scale_proof.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
              "settings": BENCH_SETTINGS, "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for spec in args.runs.split(","):
        replicas, kill = int(spec.rstrip("k")), spec.endswith("k")
        if kill and replicas < 2:
            parser.error("killing the only replica is an outage, not a scale-out test: use 2+ replicas with k")
        outcome = run(replicas, args.asn, kill=kill, timeout=args.timeout, log_root=args.logs)
        runs.append(outcome)
        log(json.dumps(outcome, indent=2))
        args.out.write_text(json.dumps(report, indent=2) + "\n")  # after every run: a long series may be cut
    print(f"\n{args.asn} completions; replicas per service, SIGKILLed replicas, figures, checks")
    print("replicas  killed  completions/s (HTTP)  end-to-end s  completions/s (end to end)  checks")
    for r in runs:
        print(f"{r['replicas_per_service']:>8}  {len(r['killed']):>6}  {r['completion_requests_per_s']:>20}  "
              f"{r['end_to_end_s']:>12}  {r['end_to_end_completions_per_s']:>26}  "
              f"{'all passed' if r['ok'] else 'FAILED: ' + ', '.join(k for k, c in r['checks'].items() if not c['ok'])}")
    print(f"written to {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0 if all(r["ok"] for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
