"""The subscriber door of the production overlay (docs/subscribing.md, issue 22 item 4).

External systems reach RabbitMQ over AMQPS on 5671 only: a cert-manager Certificate for the
external host name, the RabbitmqCluster's TLS listener using that Certificate's Secret, a
LoadBalancer Service with the single port 5671 selecting the RabbitMQ pods, and plain AMQP
(5672) left to the services inside the cluster. The subscriber guide must give the same
port, scheme and host name as the manifests.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.deploy.kustomize import build, key

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = ROOT / "deploy" / "k8s" / "overlays" / "production"
GUIDE = ROOT / "docs" / "subscribing.md"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"
AMQPS, AMQP = 5671, 5672
# The labels the RabbitMQ Cluster Operator gives the pods of a cluster (and its own client
# Service selects them by app.kubernetes.io/name).
OPERATOR_POD_LABELS = {"app.kubernetes.io/name": "{cluster}", "app.kubernetes.io/component": "rabbitmq"}
EXTERNAL_TYPES = {"LoadBalancer", "NodePort"}


@pytest.fixture(scope="module")
def rendered() -> dict:
    return {key(r): r for r in build(PRODUCTION)}


def _of_kind(rendered: dict, kind: str) -> list[dict]:
    return [r for (k, _), r in rendered.items() if k == kind]


def _cluster(rendered: dict) -> dict:
    clusters = _of_kind(rendered, "RabbitmqCluster")
    assert len(clusters) == 1
    return clusters[0]


def _certificate(rendered: dict) -> dict:
    certificates = [c for c in _of_kind(rendered, "Certificate") if c["apiVersion"] == "cert-manager.io/v1"]
    assert len(certificates) == 1, "production renders one cert-manager.io/v1 Certificate for the broker"
    return certificates[0]


def _external_services(rendered: dict) -> list[dict]:
    return [s for s in _of_kind(rendered, "Service") if s["spec"].get("type", "ClusterIP") in EXTERNAL_TYPES]


def _host(rendered: dict) -> str:
    names = _certificate(rendered)["spec"]["dnsNames"]
    assert len(names) == 1, f"one external host name expected, found {names}"
    return names[0]


def test_production_renders_the_broker_certificate_from_an_issuer(rendered):
    certificate = _certificate(rendered)["spec"]
    assert certificate["secretName"]
    issuer = certificate["issuerRef"]
    assert issuer["kind"] in {"Issuer", "ClusterIssuer"} and issuer["name"]
    assert issuer.get("group", "cert-manager.io") == "cert-manager.io"
    assert "server auth" in certificate.get("usages", ["server auth"])
    host = _host(rendered)
    assert re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", host) and not host.endswith(".svc.cluster.local")
    # The Issuer is the city's: the manifest says which one must exist.
    text = (PRODUCTION / "subscriber-door.yaml").read_text()
    assert issuer["name"] in text.split("apiVersion: cert-manager.io/v1")[0], \
        "the comment above the Certificate must name the Issuer/ClusterIssuer the city provides"


def test_the_cluster_listens_for_tls_with_the_certificates_secret(rendered):
    spec = _cluster(rendered)["spec"]
    assert spec["tls"]["secretName"] == _certificate(rendered)["spec"]["secretName"]
    # 5672 stays on for the services inside the cluster.
    assert not spec["tls"].get("disableNonTLSListeners")


def test_the_external_service_exposes_exactly_5671_to_the_rabbitmq_pods(rendered):
    cluster = _cluster(rendered)["metadata"]["name"]
    services = _external_services(rendered)
    assert len(services) == 1, f"one external Service expected, found {[s['metadata']['name'] for s in services]}"
    service = services[0]["spec"]
    assert service["type"] == "LoadBalancer"
    assert [(p["port"], p.get("targetPort", p["port"]), p.get("protocol", "TCP")) for p in service["ports"]] \
        == [(AMQPS, AMQPS, "TCP")]
    wanted = {label: value.format(cluster=cluster) for label, value in OPERATOR_POD_LABELS.items()}
    assert service["selector"] == wanted, "the Service must select the operator's RabbitMQ pods, and only them"
    # Not picked up by the RabbitMQ ServiceMonitor (it selects the operator's client Service).
    for monitor in _of_kind(rendered, "ServiceMonitor"):
        match = monitor["spec"]["selector"].get("matchLabels", {})
        labels = services[0]["metadata"].get("labels", {})
        assert not (match and all(labels.get(k) == v for k, v in match.items())), monitor["metadata"]["name"]


def test_5672_is_not_exposed_outside_the_cluster(rendered):
    for service in _external_services(rendered):
        ports = {p["port"] for p in service["spec"]["ports"]} | {p.get("targetPort") for p in service["spec"]["ports"]}
        assert AMQP not in ports and "amqp" not in ports, f"{service['metadata']['name']} exposes 5672"
        assert not service["spec"].get("externalIPs")
    # The operator's own client Service (5672, 5671, management, metrics) stays ClusterIP.
    assert _cluster(rendered)["spec"].get("service", {}).get("type", "ClusterIP") == "ClusterIP"
    # No ingress routes to the broker either.
    for ingress in _of_kind(rendered, "Ingress"):
        backends = re.findall(r"'name': '([^']+)'", str(ingress["spec"]))
        assert _cluster(rendered)["metadata"]["name"] not in backends


def test_the_subscriber_guide_gives_the_door_the_manifests_build(rendered):
    guide = GUIDE.read_text()
    host = _host(rendered)
    assert "5671" in guide and "amqps" in guide
    assert "amqps://" in guide and f"{host}:5671" in guide, "the guide's URL must be the Certificate's host on 5671"
    assert "server_hostname" in guide, "the guide must tell Python clients to send the host name (SNI, verification)"
    assert not re.search(r"amqp://[^\s`'\"]*:5672", guide), "subscribers never get plain AMQP on 5672"
    # The contract test (tests/contract/test_subscriber_guide.py) reads this line.
    assert "rabbitmqctl set_permissions" in guide


def test_deploy_guide_lists_the_tls_secret_and_its_issuer(rendered):
    docs = DEPLOY_DOC.read_text()
    certificate = _certificate(rendered)["spec"]
    assert f"`{certificate['secretName']}`" in docs
    assert f"`{certificate['issuerRef']['name']}`" in docs
