"""Drive the running platform through its HTTP APIs and count what each service did.

A fault scenario sends a burst of completions into enrollment and then counts, per
completion, the effects the consumers applied: certificates (certification), emails
(notification, through a real SMTP server), JP ledger entries (reporting). Counting is
done through the services' own HTTP APIs and the SMTP journal, so a figure is what a user
or an operator would see; progress polling (to time a crash) reads the stores directly,
because it runs many times a second.
"""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests
from kombu import Connection, Exchange, Queue
from prometheus_client.parser import text_string_to_metric_families
from pymongo import MongoClient

from bench.email_copies import count_copies, distinct_per_key
from deploy.launcher import Stack, StackError
from deploy.processes import free_port, port_open
from shared import topology
from shared.events import registry
from tests.support import cut_short, queue_depth, wait_for

ROOT = Path(__file__).resolve().parents[2]
COMPLETED = registry.latest("enrollment", "completed")
AGENCIES = ("DISKOMINFO", "DINKES", "DISDIKBUD", "DPUPR", "DINSOS", "SETDA", "DAMKAR", "SATPOLPP")
# Kinds an ASN in the bursts opts out of by email, so each completion causes exactly one
# email (completed_passed) and the burst measures the pipeline rather than SMTP round trips.
OPT_OUTS = ("enrolled", "promoted", "waitlisted", "certified", "reminder", "nudge")


def nip(i: int) -> str:
    """The i-th structurally valid NIP (birth date, CPNS month, gender, sequence)."""
    birth = datetime(1975, 1, 1) + timedelta(days=i // 999)
    return f"{birth:%Y%m%d}{birth.year + 25}{(i % 12) + 1:02d}{1 + i % 2}{i % 999 + 1:03d}"


def ts(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def programme_body(code: str, capacity: int) -> dict:
    """A certifying programme that started an hour ago and still takes enrolments (``prepare_burst``
    ends it once everyone is enrolled: a sertifikasi's completions come after its end, issue 24)."""
    now = datetime.now(timezone.utc)
    return {
        "code": code, "title": "Sertifikasi Pengadaan Barang/Jasa Pemerintah", "kind": "sertifikasi",
        "competency_type": "teknis", "jp": 24, "organisers": ["BKN", "PEMKOT_BUKITTINGGI"],
        "starts_at": ts(now - timedelta(hours=1)), "ends_at": ts(now + timedelta(days=3)),
        "location": "Aula Balai Kota Bukittinggi",
        "enrolment_opens_at": ts(now - timedelta(days=1)), "enrolment_closes_at": ts(now + timedelta(days=2)),
        "capacity": capacity, "passing_score": 70, "grants_certificate": True,
    }


class SmtpSink:
    """A real SMTP server in its own process (tests/faults/smtp_sink.py), journaling each email."""

    def __init__(self, directory: Path):
        self.port = free_port()
        self.journal = Path(directory) / "smtp-journal.jsonl"
        self.journal.touch()
        self.proc: subprocess.Popen | None = None

    def start(self) -> "SmtpSink":
        # Run as a script: importing the tests package would monkey-patch it with eventlet.
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("smtp_sink.py")), str(self.port),
                                      str(self.journal)], cwd=ROOT, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_for(lambda: port_open("127.0.0.1", self.port, timeout=0.5), timeout=15, message="SMTP sink listening")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def env(self) -> dict[str, str]:
        return {"NOTIFICATION_SMTP_HOST": "127.0.0.1", "NOTIFICATION_SMTP_PORT": str(self.port)}

    def emails(self) -> list[dict]:
        with open(self.journal, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]

    def count(self) -> int:
        with open(self.journal, "rb") as fh:
            return sum(1 for _ in fh)


@dataclass
class Burst:
    code: str
    nips: list[str]
    started: float = 0.0
    accepted: int = 0
    marks: dict = field(default_factory=dict)

    def mark(self, name: str) -> float:
        """Seconds since the burst started, recorded under ``name``."""
        self.marks[name] = round(time.monotonic() - self.started, 2)
        return self.marks[name]


class Platform:
    """The services of a ``Stack`` seen from outside: HTTP commands and effect counts."""

    def __init__(self, stack: Stack, smtp: SmtpSink | None = None):
        self.stack = stack
        self.smtp = smtp
        self.client = MongoClient(stack.store_uri, serverSelectionTimeoutMS=5000)
        self.http = requests.Session()
        self.http.headers.update(stack.auth_headers())  # an admin's bearer token

    def close(self) -> None:
        self.client.close()
        self.http.close()

    def db(self, service: str):
        return self.client[f"{self.stack.db_prefix}{service}"]

    def url(self, service: str, path: str) -> str:
        return self.stack.url(service) + path

    # -- commands --------------------------------------------------------------------------
    def publish_programme(self, code: str, capacity: int) -> None:
        created = self.http.post(self.url("enrollment", "/programmes"), json=programme_body(code, capacity), timeout=30)
        assert created.status_code == 201, created.text[:500]
        published = self.http.post(self.url("enrollment", f"/programmes/{code}/publish"), timeout=30)
        assert published.status_code == 200, published.text

    def end_programme(self, code: str) -> None:
        """End the running programme now, as an operator does when it ends early."""
        ended = self.http.patch(self.url("enrollment", f"/programmes/{code}"), json=cut_short(), timeout=30)
        assert ended.status_code == 200, ended.text[:500]

    def register_recipients(self, nips: list[str]) -> None:
        """Every ASN gets an email address; the opt-outs leave one email per completion."""
        lines = ["nip,name,agency,email,channels,opt_outs"]
        for i, n in enumerate(nips):
            lines.append(f"{n},Peserta {i},{AGENCIES[i % len(AGENCIES)]},asn.{n}@bukittinggikota.go.id,"
                         f"email|inbox,{'|'.join(OPT_OUTS)}")
        response = self.http.post(self.url("notification", "/recipients/bulk"), data="\n".join(lines).encode(),
                                  headers={"Content-Type": "text/csv"}, timeout=120)
        assert response.status_code == 200, response.text
        assert response.json()["invalid"] == 0, [r for r in response.json()["rows"] if r["status"] == "invalid"][:3]

    def bulk_csv(self, path: str, text: str) -> dict:
        """Upload a CSV to an enrollment bulk endpoint; returns the summary line."""
        response = self.http.post(self.url("enrollment", path), data=text.encode("utf-8"),
                                  headers={"Content-Type": "text/csv"}, timeout=300)
        assert response.status_code == 200, response.text[:500]
        items = [json.loads(line) for line in response.text.splitlines() if line.strip()]
        return items[-1]["summary"]

    def enrol(self, code: str, nips: list[str]) -> dict:
        text = "nip,nama,opd,jabatan\n" + "".join(
            f"{n},Peserta {i},{AGENCIES[i % len(AGENCIES)]},Analis Kebijakan\n" for i, n in enumerate(nips))
        summary = self.bulk_csv(f"/programmes/{code}/enrolments/bulk", text)
        assert summary["accepted"] == len(nips), summary
        return summary

    def complete(self, code: str, nips: list[str], score: int = 85) -> dict:
        text = "nip,nilai,hadir\n" + "".join(f"{n},{score},ya\n" for n in nips)
        return self.bulk_csv(f"/programmes/{code}/completions/bulk", text)

    def prepare_burst(self, code: str, size: int, offset: int = 0, recipients: bool = True) -> Burst:
        """A published programme with ``size`` enrolled ASN (and their email addresses), ended so
        that their completions are taken."""
        nips = [nip(offset + i) for i in range(size)]
        self.publish_programme(code, size)
        if recipients:
            self.register_recipients(nips)
        self.enrol(code, nips)
        self.end_programme(code)
        return Burst(code, nips)

    def fire(self, burst: Burst) -> Burst:
        """The burst itself: every completion in one bulk CSV upload."""
        burst.started = time.monotonic()
        summary = self.complete(burst.code, burst.nips)
        burst.accepted = summary.get("completed", 0)
        burst.mark("completions_committed")
        return burst

    # -- progress (store reads, cheap enough to poll) -----------------------------------------
    def completions_sent(self, code: str) -> int:
        """`completed` events of ``code`` the enrollment relay has published."""
        return self.db("enrollment").outbox.count_documents(
            {"event.type": COMPLETED.type, "event.data.programme.code": code, "sent": True})

    def completions_committed(self, code: str) -> int:
        return self.db("enrollment").outbox.count_documents(
            {"event.type": COMPLETED.type, "event.data.programme.code": code})

    def handled(self, service: str) -> int:
        """`completed` events ``service`` has applied (its processed-event records)."""
        return self.db(service).processed_events.count_documents({"type": COMPLETED.type})

    def wait_numbered(self, timeout: float = 120.0) -> None:
        """Until certification has no pending issue left to number."""
        wait_for(lambda: self.db("certification").pending_issues.count_documents({}) == 0, timeout=timeout,
                 interval=0.2, message="pending issues numbered")

    def emails_received(self) -> int:
        return self.smtp.count() if self.smtp else 0

    # -- effects (through the services' APIs) -------------------------------------------------
    def certificates(self, code: str) -> list[dict]:
        items, page = [], 1
        while True:
            response = self.http.get(self.url("certification", "/certificates"),
                                     params={"programme": code, "per_page": 100, "page": page}, timeout=30)
            assert response.status_code == 200, response.text
            body = response.json()
            items += body["items"]
            if len(items) >= body["total"] or not body["items"]:
                return items
            page += 1

    def ledger_entries(self, code: str) -> list[dict]:
        year = datetime.now(timezone(timedelta(hours=7))).year
        response = self.http.get(self.url("reporting", "/exports/ledger.csv"), params={"year": year}, timeout=60)
        assert response.status_code == 200, response.text
        text = response.content.decode("utf-8-sig")  # the export starts with a BOM for spreadsheets
        return [row for row in csv.DictReader(io.StringIO(text)) if row["kode_program"] == code]

    def effects(self, burst: Burst) -> dict:
        """Per effect of the running consumers: how many completions got one, how many extra copies exist."""
        nips = set(burst.nips)
        out = {}
        running = self.stack.services
        if "certification" in running:
            # A handled completion becomes a certificate at the next numbering pass (ADR 0025);
            # paging the list while batches still arrive would shift its pages.
            self.wait_numbered()
            out["certificates"] = _tally(Counter(c["holder"]["nip"] for c in self.certificates(burst.code)), nips)
        if "reporting" in running:
            out["ledger_entries"] = _tally(Counter(row["nip"] for row in self.ledger_entries(burst.code)), nips)
        if self.smtp is not None and "notification" in running:
            out["emails"] = email_effects(self.smtp.emails(), nips)
        return out

    # -- lifecycle ----------------------------------------------------------------------------
    def ready(self, service: str, timeout: float = 30.0) -> bool:
        try:
            return self.http.get(self.url(service, "/health/ready"), timeout=timeout).status_code == 200
        except requests.RequestException:
            return False

    def restart(self, service: str) -> float:
        """Start ``service`` again (after a kill); returns the seconds until it answers ready.

        /health/ready shares the service's worker pool with the events it is catching up on,
        so under a backlog it can answer slower than the launcher's 2-second probe: then
        wait with a patient probe, as long as the process lives.
        """
        started = time.monotonic()
        try:
            self.stack.restart(service)
        except StackError:
            if not self.stack.running(service):
                raise
            wait_for(lambda: self.ready(service), timeout=120, interval=0.5, message=f"{service} ready")
        return time.monotonic() - started

    # -- operator's view ---------------------------------------------------------------------
    def metric(self, service: str, name: str, **labels) -> float:
        """The sum of the samples of Prometheus metric ``name`` of ``service`` matching ``labels``."""
        text = self.http.get(self.url(service, "/metrics"), timeout=10).text
        total = 0.0
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    total += sample.value
        return total

    def dead_lettered(self, service: str) -> int:
        return queue_depth(self.stack.amqp_uri, topology.dlq_name(service))

    # -- waiting ------------------------------------------------------------------------------
    def wait_all_effects(self, burst: Burst, timeout: float, services=("certification", "notification",
                                                                        "reporting")) -> None:
        expected = len(burst.nips)
        for service in services:
            wait_for(lambda: self.handled(service) >= expected, timeout=timeout, interval=0.5,
                     message=f"{service} to apply {expected} completions")
            burst.mark(f"{service}_done")
        if "notification" in services and self.smtp is not None:
            wait_for(lambda: len({e["delivery"] for e in self.smtp.emails()}) >= expected, timeout=timeout,
                     interval=0.5, message=f"{expected} emails")
            burst.mark("emails_done")


def rabbitmqctl(*args: str, timeout: float = 120.0) -> str:
    """Run ``rabbitmqctl`` (Debian keeps it in /usr/sbin) and return its output."""
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/lib/rabbitmq/bin", "/usr/local/sbin"])
    exe = shutil.which("rabbitmqctl", path=path)
    if exe is None:
        raise FileNotFoundError("rabbitmqctl is not installed")
    result = subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {result.stderr or result.stdout}")
    return result.stdout


def bind_tap(amqp_uri: str, exchange: str, routing_key: str) -> str:
    """A durable queue receiving what an outside subscriber of ``exchange`` would get."""
    name = f"faults.tap.{exchange}.{routing_key}"
    with Connection(amqp_uri) as conn:
        Queue(name, Exchange(exchange, "topic", durable=True), routing_key=routing_key,
              durable=True)(conn.channel()).declare()
    return name


def drain_event_ids(amqp_uri: str, queue: str) -> list[str]:
    """The CloudEvent ids of every message waiting in ``queue`` (taken off it)."""
    ids = []
    with Connection(amqp_uri) as conn:
        channel = conn.channel()
        while (message := channel.basic_get(queue, no_ack=True)) is not None:
            ids.append(json.loads(message.body)["id"])
    return ids


def email_effects(emails: list[dict], nips: set[str]) -> dict:
    """The emails of a burst (one per completion: one per ASN) from the SMTP journal, counted by
    ``bench.email_copies``: ``duplicates`` are distinct duplicates (a second Message-ID for an
    ASN: read twice, must be 0); ``resent_copies`` (also ``same_message_id_copies``) are resends
    with a Message-ID already received, which a death between the SMTP answer and the record
    makes and mail systems drop: allowed, and reported."""
    pairs = [(e["to"][0].split("@")[0].removeprefix("asn."), e.get("message_id")) for e in emails]
    copies = count_copies(pairs)
    out = _tally(Counter(distinct_per_key(pairs)), nips)
    out.update(received=copies.received, resent_copies=copies.same_message_id_copies,
               same_message_id_copies=copies.same_message_id_copies,
               distinct_duplicates=copies.distinct_duplicates)
    return out


def _tally(per_nip: Counter, nips: set[str]) -> dict:
    return {"expected": len(nips), "with_effect": len(nips & set(per_nip)),
            "missing": len(nips - set(per_nip)), "duplicates": sum(v - 1 for k, v in per_nip.items() if v > 1),
            "unexpected": len(set(per_nip) - nips)}
