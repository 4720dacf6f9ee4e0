"""Helpers shared by the benchmark scripts: the scenario's people and programme, an SMTP
sink, a read-model watcher, percentiles, process memory and the results files.

Benchmarks print figures and write JSON under bench/results/; they assert nothing.
"""
from __future__ import annotations

import csv
import io
import json
import os
import platform
import threading
import time
from datetime import datetime, timedelta, timezone
from email import message_from_bytes
from email.policy import default as email_policy
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"

from deploy.processes import free_port  # noqa: E402
from shared.events import registry  # noqa: E402
from shared.events.envelope import Event  # noqa: E402
from shared.nip import validate as validate_nip  # noqa: E402
from shared.reference import agencies  # noqa: E402

PROGRAMME_JP = 20
PASSING_SCORE = 70
# Subjects of the two emails a passed completion of a certifying programme causes.
SUBJECTS = {"passed": "Selamat, Anda lulus", "certified": "Sertifikat Anda terbit"}
# The environment the benchmarks run the services with: no quiet hours (the figures must not
# depend on the time of day), no shortfall run in the middle, only warnings in the logs.
SERVICE_ENV = {
    "LOG_LEVEL": "WARNING",
    "NOTIFICATION_QUIET_HOURS": "00:00-00:00",
    "NOTIFICATION_DEFAULT_CHANNELS": "email,inbox",
    "NOTIFICATION_SMTP_HOST": "127.0.0.1",
    "NOTIFICATION_SMTP_STARTTLS": "false",
    "REPORTING_SHORTFALL_POLL_S": "3600",
}


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def machine() -> dict:
    load1, load5, _ = os.getloadavg()
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "load_average_at_start": [round(load1, 2), round(load5, 2)]}


def git_commit() -> str:
    """The checkout's commit, with ``+changes`` when files differ from it."""
    import subprocess

    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+changes" if dirty else "")


def percentiles(samples: list[float]) -> dict:
    """p50/p95/p99/max of ``samples`` (seconds), in milliseconds; nearest-rank."""
    if not samples:
        return {"count": 0}
    ordered = sorted(samples)

    def rank(p: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, int(round(p * len(ordered) + 0.5)) - 1))]

    return {"count": len(ordered), "p50_ms": round(rank(0.50) * 1000, 1), "p95_ms": round(rank(0.95) * 1000, 1),
            "p99_ms": round(rank(0.99) * 1000, 1), "max_ms": round(ordered[-1] * 1000, 1),
            "mean_ms": round(sum(ordered) / len(ordered) * 1000, 1)}


def proc_status_mb(pid: int, field: str) -> float | None:
    """A memory figure of a live process from /proc/<pid>/status (VmHWM: peak RSS), in MB."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return round(int(line.split()[1]) / 1024, 1)
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time a process has used so far (from /proc/<pid>/stat)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def write_result(name: str, report: dict, out: Path | None = None) -> Path:
    path = out or RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return path


# --- the scenario ----------------------------------------------------------------------------

def make_people(count: int, offset: int = 0) -> list[dict]:
    """``count`` ASN with structurally valid, distinct NIPs, real OPD codes and an email address."""
    codes = sorted(agencies())
    born = datetime(1970, 1, 1)
    people = []
    for i in range(offset, offset + count):
        # birth date and sequence number together keep NIPs distinct up to 9,000,000 people
        birth = born + timedelta(days=i % 9000)
        nip = f"{birth:%Y%m%d}{birth.year + 22}{(i % 12) + 1:02d}{1 + i % 2}{i // 9000 + 1:03d}"
        validate_nip(nip)
        people.append({"nip": nip, "name": f"ASN Uji {i + 1:05d}", "agency": codes[i % len(codes)],
                       "email": f"asn{i + 1:05d}@uji.bukittinggikota.go.id",
                       # enrolment emails are not part of what is measured: keep the setup quiet
                       "opt_outs": "enrolled"})
    return people


def iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def programme_body(code: str, capacity: int) -> dict:
    """A certifying programme that started two hours ago; the bench ends it (PATCH) once
    everyone is enrolled, since a sertifikasi takes results only after its end (issue 24)."""
    now = datetime.now(timezone.utc)
    return {
        "code": code, "title": "Sertifikasi Pengadaan Barang/Jasa Pemerintah (uji kinerja)",
        "kind": "sertifikasi", "competency_type": "teknis", "jp": PROGRAMME_JP, "organisers": ["BKN"],
        "starts_at": iso(now - timedelta(hours=2)), "ends_at": iso(now + timedelta(days=2)),
        "enrolment_opens_at": iso(now - timedelta(days=1)), "enrolment_closes_at": iso(now + timedelta(days=1)),
        "capacity": capacity, "passing_score": PASSING_SCORE, "certificate_validity_months": 36,
        "certification_line": "PBJ", "location": "Aula Balai Kota Bukittinggi",
    }


COMPLETION_BODY = {"score": 85, "attended": True}


def csv_bytes(rows: list[dict], columns: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def check(response: requests.Response, what: str) -> requests.Response:
    if response.status_code >= 300:
        raise RuntimeError(f"{what}: HTTP {response.status_code} {response.text[:500]}")
    return response


def enrolment_ids(ndjson: str) -> dict[str, str]:
    """nip -> enrolment id from a bulk enrolment answer; every row must have a seat."""
    ids = {}
    for line in ndjson.splitlines():
        row = json.loads(line)
        if "summary" in row:
            continue
        if not row.get("accepted") or row.get("enrolment_status") != "enrolled":
            raise RuntimeError(f"enrolment refused: {row}")
        ids[row["nip"]] = row["enrolment_id"]
    return ids


def event_of(event: dict) -> Event:
    """An ``Event`` for a CloudEvent dict as a producer emitted it (no JSON, no validation)."""
    return Event(id=event["id"], type=event["type"], source=event["source"], subject=str(event["subject"]),
                 time=event["time"], data=event["data"], correlation_id=event.get("correlationid"),
                 definition=registry.by_type(event["type"]), raw=event)


# --- observing the system ----------------------------------------------------------------------

class MailSink:
    """An aiosmtpd server on loopback keeping (recipient, subject, Message-ID) of each mail,
    with running counts by kind of subject (SUBJECTS) for frequent polling."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.lock = threading.Lock()
        self.mails: list[tuple[str, str, str]] = []
        self.counts: dict[str, int] = {}
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                message = message_from_bytes(envelope.original_content or envelope.content, policy=email_policy)
                # strip: a folded header may keep a leading space
                subject = str(message["Subject"]).strip()
                with sink.lock:
                    for rcpt in envelope.rcpt_tos:
                        sink.mails.append((rcpt.lower(), subject, str(message["Message-ID"])))
                    for kind, prefix in SUBJECTS.items():
                        if subject.startswith(prefix):
                            sink.counts[kind] = sink.counts.get(kind, 0) + len(envelope.rcpt_tos)
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def start(self) -> "MailSink":
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def count(self, kind: str) -> int:
        with self.lock:
            return self.counts.get(kind, 0)

    def snapshot(self) -> list[tuple[str, str, str]]:
        with self.lock:
            return list(self.mails)


class FirstSeen:
    """Watches a collection's change stream and records when each document id first appeared.

    Reading the store's change stream costs the services nothing (no polling of their HTTP
    API); the time is the bench's clock when the change reached it, so it errs late.
    """

    def __init__(self, collection):
        self.collection = collection
        self.seen: dict[str, float] = {}
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self.error: Exception | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"watch-{collection.name}")

    def start(self) -> "FirstSeen":
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError(f"change stream on {self.collection.full_name} did not open")
        return self

    def _run(self) -> None:
        try:
            with self.collection.watch(max_await_time_ms=200) as stream:
                self._ready.set()
                while not self._stop.is_set():
                    change = stream.try_next()
                    if change is None:
                        continue
                    key = change.get("documentKey", {}).get("_id")
                    if key is not None and change["operationType"] in ("insert", "replace", "update"):
                        now = time.monotonic()
                        with self.lock:
                            self.seen.setdefault(key, now)
        except Exception as exc:  # noqa: BLE001 - reported by the caller
            self.error = exc
            self._ready.set()

    def count(self, keys=None) -> int:
        with self.lock:
            return len(self.seen) if keys is None else sum(1 for k in keys if k in self.seen)

    def get(self, key) -> float | None:
        with self.lock:
            return self.seen.get(key)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def wait_until(predicate, timeout: float, interval: float = 0.5) -> bool:
    end = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > end:
            return False
        time.sleep(interval)
