"""Driving the running platform the way its users do: HTTP to the four services, and an
AMQP queue of our own bound to the public exchanges, as another government system would."""
from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import requests
from cloudevents.v1.http import from_json
from kombu import Connection, Exchange, Queue

from deploy.demo import make_identifier
from tests.support import cut_short, wait_for

HTTP_TIMEOUT = 30


@dataclass(frozen=True)
class Person:
    nip: str
    name: str
    agency: str
    email: str


def person(name: str, agency: str = "DISKOMINFO", female: bool = False) -> Person:
    """An ASN with a structurally valid NIP of their own (a fresh one each call)."""
    rng = random.Random(uuid.uuid4().int)
    nip = make_identifier(rng, datetime.now(timezone.utc).year, "2" if female else "1", pppk=False)
    local = name.lower().replace(" ", ".").replace(",", "")
    return Person(nip, name, agency, f"{local}.{nip[-6:]}@bukittinggi.example")


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def programme(code_prefix: str, **fields) -> dict:
    """A programme under way now, open for enrolment; its participants are completed once it has
    ended (``Platform.end_programme``, issue 24)."""
    now = datetime.now(timezone.utc)
    body = {"code": f"{code_prefix}-{uuid.uuid4().hex[:6].upper()}", "title": "Sertifikasi Pengadaan Barang/Jasa",
            "kind": "sertifikasi", "competency_type": "teknis", "jp": 32, "organisers": ["BKN", "PEMKOT_BUKITTINGGI"],
            "starts_at": _iso(now - timedelta(hours=2)), "ends_at": _iso(now + timedelta(days=2)),
            "enrolment_opens_at": _iso(now - timedelta(days=7)), "enrolment_closes_at": _iso(now + timedelta(days=1)),
            "capacity": 30, "passing_score": 70, "certificate_validity_months": 36,
            "location": "Aula Balai Kota Bukittinggi"}
    body.update(fields)
    return body


class Platform:
    """HTTP calls to a started deploy.launcher.Stack; every call checks its status code."""

    def __init__(self, stack):
        self.stack = stack
        self.http = requests.Session()
        self.http.headers.update(stack.auth_headers("admin"))  # BKN/BKPSDM admin

    def url(self, service: str, path: str) -> str:
        return self.stack.url(service) + path

    def call(self, method: str, service: str, path: str, expect: int | tuple = (200, 201), **kwargs):
        response = self.http.request(method, self.url(service, path), timeout=HTTP_TIMEOUT, **kwargs)
        expected = expect if isinstance(expect, tuple) else (expect,)
        assert response.status_code in expected, (
            f"{method} {service}{path} answered {response.status_code}: {response.text[:800]}")
        return response

    def get(self, service: str, path: str, **kwargs) -> dict:
        return self.call("GET", service, path, **kwargs).json()

    def post(self, service: str, path: str, **kwargs) -> dict:
        return self.call("POST", service, path, **kwargs).json()

    # -- the users' steps ----------------------------------------------------------------------
    def publish_programme(self, body: dict) -> dict:
        self.post("enrollment", "/programmes", json=body, expect=201)
        return self.post("enrollment", f"/programmes/{body['code']}/publish", expect=200)

    def register(self, who: Person, channels=("email", "inbox")) -> dict:
        return self.call("PUT", "notification", f"/recipients/{who.nip}", json={
            "name": who.name, "agency": who.agency, "email": who.email, "channels": list(channels)}).json()

    def enrol(self, code: str, who: Person) -> dict:
        return self.post("enrollment", f"/programmes/{code}/enrolments", expect=201,
                         json={"nip": who.nip, "name": who.name, "agency": who.agency})

    def end_programme(self, code: str) -> dict:
        """End a running programme now, as an operator does when it ends early: a scheduled one
        (pelatihan, sertifikasi, seminar, lokakarya) takes completions only after its end."""
        return self.call("PATCH", "enrollment", f"/programmes/{code}", json=cut_short()).json()

    def complete(self, enrolment_id: str, **outcome) -> dict:
        return self.post("enrollment", f"/enrolments/{enrolment_id}/completion", json=outcome, expect=200)

    def cancel(self, enrolment_id: str, reason: str) -> dict:
        return self.post("enrollment", f"/enrolments/{enrolment_id}/cancel", expect=200,
                         json={"reason": reason, "cancelled_by": "participant"})

    def enrolment(self, enrolment_id: str) -> dict:
        return self.get("enrollment", f"/enrolments/{enrolment_id}")

    def certificates(self, nip: str) -> list[dict]:
        return self.get("certification", "/certificates", params={"nip": nip})["items"]

    def wait_for_certificate(self, nip: str, timeout: float = 60) -> dict:
        [certificate] = wait_for(lambda: self.certificates(nip), timeout=timeout, interval=0.2,
                                 message=f"a certificate for {nip}")
        return certificate

    def verify(self, code: str, accept: str = "application/json") -> requests.Response:
        """Public verification, as anyone would ask: no token."""
        response = requests.get(self.url("certification", f"/verify/{code}"), headers={"Accept": accept},
                                timeout=HTTP_TIMEOUT)
        assert response.status_code == 200, response.text[:800]
        return response

    def ledger(self, nip: str, year: int | None = None) -> dict | None:
        params = {"year": year} if year else {}
        response = self.call("GET", "reporting", f"/ledger/{nip}", params=params, expect=(200, 404))
        return response.json() if response.status_code == 200 else None

    def ledger_entries(self, nip: str) -> list[dict]:
        ledger = self.ledger(nip)
        return [e for y in ledger["years"] for e in y["entries"]] if ledger else []

    def programme_stats(self, code: str) -> dict | None:
        response = self.call("GET", "reporting", f"/programmes/{code}/stats", expect=(200, 404))
        return response.json() if response.status_code == 200 else None

    def inbox_kinds(self, nip: str) -> list[str]:
        return [m["kind"] for m in self.get("notification", f"/inbox/{nip}")["items"]]


class Subscriber:
    """An outside system's own durable queue, bound to platform exchanges by routing key."""

    def __init__(self, amqp_uri: str, bindings: list[tuple[str, str]]):
        self.amqp_uri = amqp_uri
        self.name = f"e2e.observer.{uuid.uuid4().hex[:8]}"
        with Connection(amqp_uri) as conn:
            channel = conn.channel()
            queue = Queue(self.name, durable=True)(channel)
            queue.declare()
            for exchange, key in bindings:
                Exchange(exchange, "topic", durable=True)(channel).declare()
                queue.bind_to(exchange, routing_key=key)
        self.received: list = []

    def _drain(self) -> None:
        with Connection(self.amqp_uri) as conn:
            channel = conn.channel()
            while (message := channel.basic_get(self.name, no_ack=True)) is not None:
                # The official CloudEvents SDK must read what the platform publishes.
                self.received.append(from_json(message.body))

    def wait_for(self, type_suffix: str, timeout: float = 30, **data) -> object:
        """The first received event whose type ends in ``type_suffix`` and whose data has ``data``."""
        def match():
            self._drain()
            return next((e for e in self.received if e["type"].endswith(type_suffix)
                         and all(_get(e.data, k) == v for k, v in data.items())), None)
        return wait_for(match, timeout=timeout, interval=0.2,
                        message=f"a {type_suffix} event with {json.dumps(data)} "
                                f"(got {[e['type'] for e in self.received]})")


def _get(data: dict, dotted: str):
    for part in dotted.split("__"):
        data = data.get(part) if isinstance(data, dict) else None
    return data
