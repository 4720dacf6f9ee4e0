"""The access log (who read whose personal data, issue 20) is for admins only: every event
service refuses it to an operator and to an ASN, the very people whose reads it records."""
from __future__ import annotations

import uuid

import pytest
import requests
from nameko.containers import ServiceContainer

from deploy.processes import free_port
from shared import topology
from tests.security.conftest import ADMIN, CLASSES, OWN, nip
from tests.support import auth_headers, make_settings


@pytest.fixture(scope="module")
def urls(service_env):
    """The four services started bare (nothing seeded: only the route's rule is at stake)."""
    env = {**service_env, "MONGO_DB_PREFIX": f"{service_env['MONGO_DB_PREFIX']}{uuid.uuid4().hex[:6]}_"}
    settings = {s: make_settings(s, env, http_address=f"127.0.0.1:{free_port()}", relay_poll_interval_s=0.1)
                for s in CLASSES}
    containers = []
    try:
        for s in CLASSES:
            topology.declare_service(settings[s])
            containers.append(ServiceContainer(CLASSES[s], settings[s].nameko_config()))
            containers[-1].start()
        yield {s: f"http://{settings[s].http_address}" for s in CLASSES}
    finally:
        for container in containers:
            container.stop()


@pytest.mark.parametrize("service", sorted(CLASSES))
def test_the_access_log_is_refused_to_operators_and_asn_and_listed_to_admins(urls, service):
    url = urls[service] + "/admin/access-log"
    for who in (auth_headers("operator", agency=OWN), auth_headers("asn", nip=nip(101))):
        refused = requests.get(url, params={"nip": nip(101)}, headers=who, timeout=30)
        assert refused.status_code == 403, (service, refused.text)
        assert refused.json()["field"] == "role"
    assert requests.get(url, timeout=30).status_code == 401
    listed = requests.get(url, params={"nip": nip(101)}, headers=ADMIN, timeout=30)
    assert listed.status_code == 200 and listed.json() == {"items": [], "next_cursor": None}
