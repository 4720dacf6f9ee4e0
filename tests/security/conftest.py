"""The four services in-process on the real broker and store, seeded with the staff of two
agencies (DISKOMINFO and DINKES), for the access and hardening tests."""
from __future__ import annotations

import logging
import os
import secrets
import uuid
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import pytest
import requests
from nameko.containers import ServiceContainer

from deploy import rabbit
from deploy.processes import free_port
from services.certification.service import CertificationService
from services.enrollment.service import EnrollmentService
from services.notification.service import NotificationService
from services.reporting.service import ReportingService
from shared import broker_security, topology
from shared.config import SERVICES, load
from tests.integration.enrollment.factories import nip, participant, programme
from tests.support import auth_headers, cut_short, make_settings, wait_for

CLASSES = {"enrollment": EnrollmentService, "certification": CertificationService,
           "notification": NotificationService, "reporting": ReportingService}
ADMIN = auth_headers("admin")
OWN, OTHER = "DISKOMINFO", "DINKES"


@dataclass
class Platform:
    urls: dict
    settings: dict
    programme: str  # a pelatihan under way, open for enrolment
    own_nip: str  # an ASN of DISKOMINFO
    other_nip: str  # an ASN of DINKES
    own_enrolment: str  # own_enrolment and other_enrolment: both passed ``finished``
    other_enrolment: str
    own_certificate: str
    other_certificate: str
    finished: str  # a pelatihan that has ended (completions are recorded after the end, issue 24)

    def call(self, service: str, method: str, path: str, headers: dict | None = None, **kwargs):
        return requests.request(method, self.urls[service] + path, headers=headers or {}, timeout=30, **kwargs)

    def publish(self, **overrides) -> str:
        """A fresh published pelatihan under way (``factories.programme``); its code."""
        return _publish(self.urls, **overrides)

    def end_programme(self, code: str) -> None:
        """End a running programme now, as an operator does when it ends early."""
        _end(self.urls, code)


def _ok(response) -> dict:
    assert response.status_code in (200, 201), response.text
    return response.json()


def _publish(urls: dict, **overrides) -> str:
    code = f"SEC-{uuid.uuid4().hex[:6].upper()}"
    _ok(requests.post(urls["enrollment"] + "/programmes", json=programme(code, **overrides), headers=ADMIN, timeout=30))
    _ok(requests.post(urls["enrollment"] + f"/programmes/{code}/publish", headers=ADMIN, timeout=30))
    return code


def _end(urls: dict, code: str) -> None:
    _ok(requests.patch(urls["enrollment"] + f"/programmes/{code}", json=cut_short(), headers=ADMIN, timeout=30))


@pytest.fixture(scope="module")
def platform(service_env):
    env = {**service_env, "MONGO_DB_PREFIX": f"{service_env['MONGO_DB_PREFIX']}{uuid.uuid4().hex[:6]}_"}
    settings = {s: make_settings(s, env, http_address=f"127.0.0.1:{free_port()}", relay_poll_interval_s=0.1)
                for s in CLASSES}
    for s in settings.values():
        topology.declare_service(s)
    containers = [ServiceContainer(CLASSES[s], settings[s].nameko_config()) for s in CLASSES]
    for container in containers:
        container.start()
    urls = {s: f"http://{settings[s].http_address}" for s in CLASSES}
    patch = pytest.MonkeyPatch()
    for s in CLASSES:  # how the services reach each other (reporting's rebuild calls the producers)
        patch.setenv(f"{s.upper()}_URL", urls[s])
    try:
        code, finished = (_publish(urls, grants_certificate=True) for _ in range(2))
        own, other = participant(101, OWN), participant(202, OTHER)
        # Both are on their agency's roster (daftar ASN), the source of an ASN's agency (issue 19).
        roster = "nip,nama,kode_opd,jabatan\n" + "".join(
            f"{p['nip']},{p['name']},{p['agency']},{p['position']}\n" for p in (own, other))
        imported = requests.post(urls["enrollment"] + "/roster/import", data=roster.encode(), timeout=30,
                                 headers={**ADMIN, "Content-Type": "text/csv"})
        assert imported.status_code == 200 and '"rejected": 0' in imported.text, imported.text
        enrolments = [_ok(requests.post(urls["enrollment"] + f"/programmes/{finished}/enrolments", json=p,
                                        headers=ADMIN, timeout=30)) for p in (own, other)]
        for person in (own, other):
            _ok(requests.put(urls["notification"] + f"/recipients/{person['nip']}", headers=ADMIN, timeout=30,
                             json={"name": person["name"], "agency": person["agency"],
                                   "email": f"{person['nip']}@bukittinggi.example", "channels": ["email"]}))
        _end(urls, finished)  # both passed it once it had ended
        for e in enrolments:
            _ok(requests.post(urls["enrollment"] + f"/enrolments/{e['id']}/completion", json={"score": 88},
                              headers=ADMIN, timeout=30))

        def certificate_of(person):
            r = requests.get(urls["certification"] + "/certificates", params={"nip": person["nip"]},
                             headers=ADMIN, timeout=30)
            return r.json()["items"][0]["id"] if r.ok and r.json()["items"] else None

        certificates = [wait_for(lambda p=p: certificate_of(p), timeout=30, message="certificates") for p in (own, other)]
        wait_for(lambda: all(requests.get(urls["reporting"] + f"/ledger/{p['nip']}", headers=ADMIN,
                                          timeout=30).status_code == 200 for p in (own, other)),
                 timeout=30, message="reporting's ledgers")
        yield Platform(urls, settings, code, own["nip"], other["nip"], enrolments[0]["id"], enrolments[1]["id"],
                       certificates[0], certificates[1], finished)
    finally:
        for container in containers:
            container.stop()
        patch.undo()


def as_user(amqp_uri: str, user: str, password: str) -> str:
    """``amqp_uri`` with another user's credentials."""
    url = urlsplit(amqp_uri)
    return urlunsplit((url.scheme, f"{quote(user)}:{quote(password)}@{url.hostname}:{url.port or 5672}",
                       url.path, "", ""))


@pytest.fixture(scope="module")
def broker_users(amqp_uri):
    """{service: AMQP URI of its own user} on the module's vhost; the users are test-named (users
    are broker-wide) with exactly the permissions of shared.broker_security."""
    from dataclasses import replace

    prefix = f"pytest-{os.getpid()}-{secrets.token_hex(2)}-"
    passwords = {s: secrets.token_urlsafe(16) for s in SERVICES}
    vhost = unquote(urlsplit(amqp_uri).path[1:])
    for service in SERVICES:
        topology.declare_service(replace(load(service), amqp_uri=amqp_uri))
    admin = rabbit._credentials(amqp_uri)
    users = broker_security.apply(rabbit.management_url(amqp_uri), admin, vhost, passwords, prefix=prefix)
    yield {s: as_user(amqp_uri, users[s], passwords[s]) for s in SERVICES}
    for user in users.values():
        requests.delete(f"{rabbit.management_url(amqp_uri)}/api/users/{quote(user, safe='')}", auth=admin,
                        timeout=10)


@pytest.fixture
def records(caplog):
    """Every log record the services write during the test, at DEBUG."""
    caplog.set_level(logging.DEBUG)
    return caplog


__all__ = ["ADMIN", "OWN", "OTHER", "Platform", "as_user", "nip"]
