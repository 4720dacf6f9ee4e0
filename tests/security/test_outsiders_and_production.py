"""What an outsider sends costs little (small bodies, per-client limits on public routes),
the admin-only operations refuse everyone else, and production refuses development keys
(issue 17)."""
from __future__ import annotations

import pytest

from shared import auth, production
from shared.http import PublicRateLimit
from shared.ratelimit import TokenBuckets
from shared.config import SERVICES
from tests.security.conftest import OWN
from tests.support import auth_headers


def test_a_public_route_refuses_a_body_over_64_kib_and_the_service_stays_live(platform):
    huge = b'{"proof": "' + b"1" * (256 * 1024) + b'"}'
    response = platform.call("certification", "POST", "/credentials/verify", data=huge,
                             headers={"Content-Type": "application/json"})
    assert response.status_code == 413, response.text
    assert response.json()["error"] == "payload_too_large"
    assert platform.call("certification", "GET", "/health/live").status_code == 200


@pytest.fixture
def tight_public_limit():
    """Five requests at once, then one per minute, per route and client (the default is 300/1,200)."""
    saved = PublicRateLimit._buckets
    PublicRateLimit._buckets = TokenBuckets(rate_per_minute=1, burst=5)
    yield
    PublicRateLimit._buckets = saved


@pytest.mark.parametrize("service", SERVICES)
def test_every_public_route_is_rate_limited_per_client_with_a_retry_after(platform, tight_public_limit, service):
    answers = [platform.call(service, "GET", "/openapi.json") for _ in range(7)]
    assert [a.status_code for a in answers[:5]] == [200] * 5
    refused = answers[-1]
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert "terlalu banyak permintaan" in refused.json()["message"]
    # each route has its own bucket: a flood of one does not starve the probes
    assert platform.call(service, "GET", "/health/live").status_code == 200


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("role", ["operator", "asn", None])
def test_only_an_admin_may_replay_a_services_event_log(platform, service, role):
    headers = auth_headers(role, agency=OWN, nip=platform.own_nip) if role else {}
    response = platform.call(service, "POST", "/admin/replay", headers=headers,
                             json={"queue": "reporting.enrollment.completed"})
    assert response.status_code == (403 if role else 401), response.text


def test_a_replay_into_a_queue_not_bound_to_the_replay_exchange_is_refused_with_409(platform):
    response = platform.call("enrollment", "POST", "/admin/replay", headers=auth_headers("admin"),
                             json={"queue": "no.such.queue"})
    assert response.status_code == 409, response.text
    assert response.json()["field"] == "queue" and "enrollment.replay" in response.json()["message"]
    bad = platform.call("enrollment", "POST", "/admin/replay", headers=auth_headers("admin"),
                        json={"queue": "x" * 500, "extra": 1})
    assert bad.status_code == 422 and {"queue", "extra"} <= set(bad.json()["errors"])


def test_an_admin_replay_refills_a_consumer_queue(platform):
    response = platform.call("enrollment", "POST", "/admin/replay", headers=auth_headers("admin"),
                             json={"queue": "reporting.enrollment.completed", "types": ["completed"]})
    assert response.status_code == 200, response.text
    assert response.json() == {"service": "enrollment", "queue": "reporting.enrollment.completed", "replayed": 2}


# -- production mode --------------------------------------------------------------------------------
STRONG = "k" * 48


@pytest.mark.parametrize("secret", ["dev-only-token-secret-0123456789abcdef0123456789", "dev-" + "x" * 60])
def test_production_refuses_a_development_token_secret_and_names_the_setting(secret):
    with pytest.raises(production.ProductionConfigError, match="AUTH_SECRET"):
        auth.load_config(environ={"ASN_ENV": "production", "AUTH_SECRET": secret})
    auth.load_config(environ={"AUTH_SECRET": secret})  # development: fine
    auth.load_config(environ={"ASN_ENV": "production", "AUTH_SECRET": STRONG})


def test_production_refuses_a_development_previous_secret_too():
    with pytest.raises(production.ProductionConfigError, match="AUTH_PREVIOUS_SECRET"):
        auth.load_config(environ={"ASN_ENV": "production", "AUTH_SECRET": STRONG,
                                  "AUTH_PREVIOUS_SECRET": "dev-" + "y" * 40})


def test_a_short_token_secret_is_refused_everywhere():
    with pytest.raises(auth.AuthConfigError, match="AUTH_SECRET.*32 bytes"):
        auth.load_config(environ={"AUTH_SECRET": "short-secret"})


def test_the_generated_development_secret_is_marked_so_production_refuses_it(tmp_path):
    path = auth.ensure_secret_file(tmp_path / "auth-secret")
    secret = path.read_text().strip()
    assert secret.startswith(production.DEV_MARKER) and len(secret) >= 64
    with pytest.raises(production.ProductionConfigError):
        auth.load_config(environ={"ASN_ENV": "production", "AUTH_SECRET_FILE": str(path)})


def test_a_service_container_in_production_refuses_to_start_on_a_development_secret(monkeypatch, service_env):
    from nameko.containers import ServiceContainer

    from services.reporting.service import ReportingService
    from tests.support import make_settings

    monkeypatch.setenv("ASN_ENV", "production")
    monkeypatch.setenv("AUTH_SECRET", "dev-" + "z" * 60)
    container = ServiceContainer(ReportingService, make_settings("reporting", service_env).nameko_config())
    with pytest.raises(production.ProductionConfigError, match="AUTH_SECRET"):
        container.start()
    container.kill()


@pytest.mark.parametrize("service, path", [("enrollment", "/programmes"), ("notification", "/recipients/bulk"),
                                           ("reporting", "/admin/rebuild")])
def test_a_deeply_nested_json_body_is_a_400_not_a_500(platform, service, path):
    response = platform.call(service, "POST", path, data=b"[" * 30_000 + b"]" * 30_000,
                             headers={**auth_headers("admin"), "Content-Type": "application/json"})
    assert response.status_code in (400, 422), response.text
    assert platform.call(service, "GET", "/health/live").status_code == 200


def test_a_service_in_production_refuses_the_brokers_guest_user(monkeypatch, service_env):
    from nameko.containers import ServiceContainer

    from services.reporting.service import ReportingService
    from tests.support import make_settings

    monkeypatch.setenv("ASN_ENV", "production")
    monkeypatch.setenv("AUTH_SECRET", STRONG)
    container = ServiceContainer(ReportingService, make_settings("reporting", service_env).nameko_config())
    with pytest.raises(production.ProductionConfigError, match="AMQP_URI"):
        container.start()
    container.kill()
