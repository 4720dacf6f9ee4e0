"""Fixtures of the contract tests that talk to the real broker and store."""
from __future__ import annotations

import uuid

import pytest

from shared import topology
from tests.support import make_settings


@pytest.fixture
def settings(service_env):
    env = {**service_env, "MONGO_DB_PREFIX": f"{service_env['MONGO_DB_PREFIX']}{uuid.uuid4().hex[:6]}_"}
    s = {svc: make_settings(svc, env) for svc in ("enrollment", "certification", "notification")}
    for one in s.values():  # the platform's exchanges exist before anyone binds to them
        topology.declare_service(one, [])
    return s
