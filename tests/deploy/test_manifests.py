"""Static validation of the deployment: compose, Kubernetes (kustomize) and the image.

Nothing here starts a container: the manifests are parsed (PyYAML) and checked against
what the code itself says a service needs (code_facts: the variables it reads, the paths
it serves, the ports it binds) so a manifest that drifts from the code fails here.
"""
from __future__ import annotations

import base64
import json
import os
import re
import secrets as random_secrets
import shlex
import shutil
import subprocess
import textwrap
from pathlib import Path
from urllib.parse import unquote, urlsplit

import kubernetes_validate
import pytest
import yaml

from deploy import rabbit
from shared import topology
from shared.broker_security import (SUBSCRIBER_PREFIX, expected_publisher, service_permissions,
                                    service_private_sources, service_sources, service_user, subscriber_permissions,
                                    user_of)
from shared.config import SERVICES
from shared.production import DEV_MARKER, PRODUCTION, ProductionConfigError
from tests.unit.certification.test_pades import make_chain
from tests.deploy import code_facts
from tests.deploy.kustomize import build, containers_of, key, normalise, read_env_file

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
OVERLAYS = {"base": K8S / "base", "production": K8S / "overlays" / "production"}
SUBSCRIBERS = K8S / "subscribers"
DOCS = ROOT / "docs" / "deploy.md"
SERVICE_IMAGE = "asn-bangkom"
DEV_LABEL = "asn-bangkom/development-only"
# Keys the MongoDB Community Operator writes into a user's connection-string Secret.
# Operator resources: no Kubernetes API schema; the tests below check what the platform needs.
# PrometheusRule and ServiceMonitor (Prometheus Operator): fields checked in test_monitoring.py.
OPERATOR_KINDS = {"RabbitmqCluster", "User", "Permission", "Policy", "MongoDBCommunity",
                  "PrometheusRule", "ServiceMonitor", "Certificate"}
# The oldest Kubernetes the manifests are meant for, and the newest the schemas know.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
MONGO_OPERATOR_KEYS = {"connectionString.standard", "connectionString.standardSrv", "username", "password"}
# The Messaging Topology Operator's objects (rabbitmq.com/v1beta1, its api/v1beta1/*_types.go):
# kubernetes-validate has no schema for them, so their fields are checked here instead.
# kind: (required spec fields, allowed spec fields)
TOPOLOGY_OPERATOR_SPECS = {
    "User": ({"rabbitmqClusterReference"}, {"tags", "rabbitmqClusterReference", "importCredentialsSecret"}),
    "Permission": ({"vhost", "permissions", "rabbitmqClusterReference"},
                   {"user", "userReference", "vhost", "permissions", "rabbitmqClusterReference"}),
    "Policy": ({"name", "pattern", "definition", "rabbitmqClusterReference"},
               {"name", "vhost", "pattern", "applyTo", "priority", "definition", "rabbitmqClusterReference"}),
}
USER_TAGS = {"management", "policymaker", "monitoring", "administrator"}
# Secrets a Topology Operator reads (importCredentialsSecret) must carry this label: newer
# operators watch only those (and so rotate the password when the Secret changes).
TOPOLOGY_OPERATOR_LABEL = ("rabbitmq.com/topology-operator", "true")
# Settings the production overlay leaves empty for the city to set before the first rollout
# (docs/deploy.md, "Configuration"); production mode refuses the code's placeholders.
CITY_SETTINGS = {"certification": {"SIGNATORIES": json.dumps(
    [{"role": "Wali Kota Bukittinggi", "name": "Stand-in signatory of the test", "nip": None}])}}
# The broker accounts besides the services' own (deploy/k8s/base/rabbitmq.yaml).
TOPOLOGY_SECRET = "asn-rabbitmq-topology"
OPERATOR_SECRET = "asn-rabbitmq-operator"


# --- fixtures ------------------------------------------------------------------------------

@pytest.fixture(scope="module", params=sorted(OVERLAYS))
def overlay(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def renders() -> dict[str, dict]:
    return {name: {key(r): r for r in build(path)} for name, path in OVERLAYS.items()}


@pytest.fixture(scope="module")
def rendered(renders, overlay) -> dict:
    return renders[overlay]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def _one(rendered: dict, kind: str) -> dict:
    found = [r for (k, _), r in rendered.items() if k == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def _main_container(deployment: dict) -> dict:
    name = deployment["metadata"]["name"]
    containers = deployment["spec"]["template"]["spec"]["containers"]
    matching = [c for c in containers if c["name"] == name]
    assert matching, f"Deployment {name} has no container named {name}"
    return matching[0]


def _pod_env(rendered: dict, container: dict, secrets: dict | None = None) -> dict[str, str]:
    """The environment ``container`` starts with; secret values from ``secrets`` when known."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(rendered[("ConfigMap", source["configMapRef"]["name"])].get("data", {}))
        elif "secretRef" in source:
            secret = (secrets or {}).get(source["secretRef"]["name"], {})
            env.update(secret.get("stringData", {}))
        else:
            pytest.fail(f"unexpected envFrom source {source}")
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = _expand(str(var["value"]), env)
        else:
            ref = var["valueFrom"]["secretKeyRef"]
            known = (secrets or {}).get(ref["name"], {}).get("stringData", {})
            env[var["name"]] = known.get(ref["key"], f"<secret {ref['name']}/{ref['key']}>")
    return env


_VARIABLE_REFERENCE = re.compile(r"\$\((?P<name>[A-Za-z_][A-Za-z0-9_]*)\)|\$\$")


def _expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes' $(NAME) in an env value: a variable defined before it in the container
    (or envFrom); $$ is a literal $; an unknown reference stays as it is."""
    def one(match):
        return "$" if match.group(0) == "$$" else env.get(match.group("name"), match.group(0))
    return _VARIABLE_REFERENCE.sub(one, value)


def _production_stand_ins(secrets: dict[str, dict]) -> dict[str, dict]:
    """The base's Secrets with every development value replaced as production would have it:
    the values the platform team creates (docs/deploy.md) are never marked dev-."""
    out = {}
    for name, secret in secrets.items():
        data = dict(secret.get("stringData", {}))
        for key, value in data.items():
            if value.startswith(DEV_MARKER):
                data[key] = random_secrets.token_hex(24)  # letters and digits: fits a URI
            elif key == "SIGNING_KEY" and not value:
                data[key] = base64.b64encode(random_secrets.token_bytes(32)).decode()
        if "PDF_SIGNING_KEY" in data and not data["PDF_SIGNING_KEY"]:  # the city's BSrE key and chain
            chain = make_chain()
            data["PDF_SIGNING_KEY"], data["PDF_SIGNING_CHAIN"] = chain.key_pem().decode(), chain.chain_pem().decode()
        out[name] = {**secret, "stringData": data}
    return out


def _secret_refs(rendered: dict) -> set[tuple[str, str | None]]:
    """Every (Secret name, key) the rendered objects point at; key None: the whole Secret."""
    refs: set[tuple[str, str | None]] = set()

    def walk(value):
        if isinstance(value, dict):
            if "secretKeyRef" in value:
                refs.add((value["secretKeyRef"]["name"], value["secretKeyRef"]["key"]))
            if "secretRef" in value and "name" in value["secretRef"]:
                refs.add((value["secretRef"]["name"], None))
            for field in ("passwordSecretRef", "importCredentialsSecret"):
                if field in value:
                    refs.add((value[field]["name"], value[field].get("key", "password")
                              if field == "passwordSecretRef" else None))
            if "secretName" in value:
                refs.add((value["secretName"], None))
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk([r for (kind, _), r in rendered.items() if kind != "Secret"])
    return refs


def _operator_secrets(rendered: dict) -> dict[str, dict]:
    """Secrets the MongoDB operator generates: ``<resource>-<db>-<user>`` per user."""
    out = {}
    for (kind, name), resource in rendered.items():
        if kind == "MongoDBCommunity":
            for user in resource["spec"]["users"]:
                out[f"{name}-{user['db']}-{user['name']}"] = {"user": user, "resource": resource}
    return out


def _placeholder_mongo_uri(rendered: dict) -> str:
    mdb = _one(rendered, "MongoDBCommunity")["metadata"]["name"]
    return f"mongodb://user:password@{mdb}-svc/admin?replicaSet={mdb}"


# --- parsing -------------------------------------------------------------------------------

def test_every_manifest_under_deploy_parses_and_names_its_kind():
    files = sorted(DEPLOY.rglob("*.yaml"))
    assert DEPLOY / "compose.yaml" in files and len(files) > 10
    for path in files:
        documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        assert documents, f"{path} is empty"
        if K8S in path.parents and path.name != "kustomization.yaml":
            for doc in documents:
                assert {"apiVersion", "kind", "metadata"} <= set(doc), f"{path}: a document lacks apiVersion/kind/metadata"
    json.loads((DEPLOY / "rabbitmq" / "definitions.json").read_text())


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_kubernetes_objects_are_valid_against_the_api_schema_strictly(rendered, version):
    for (kind, name), resource in rendered.items():
        try:
            kubernetes_validate.validate(resource, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            assert kind in OPERATOR_KINDS, f"{kind} {name}: no Kubernetes {version} schema"
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{kind} {name} is not a valid Kubernetes {version} object: {exc.message} "
                        f"at {'/'.join(map(str, exc.path))}")


def test_every_service_has_a_deployment_service_autoscaler_and_disruption_budget(rendered):
    for service in SERVICES:
        for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
            assert (kind, service) in rendered, f"{kind} {service} is missing"
        assert ("ConfigMap", f"{service}-config") in rendered
    assert ("ConfigMap", "asn-common") in rendered
    assert _one(rendered, "RabbitmqCluster")
    assert _one(rendered, "MongoDBCommunity")


# --- settings ------------------------------------------------------------------------------

@pytest.mark.parametrize("service", SERVICES)
def test_every_variable_the_service_reads_is_set_in_its_deployment(rendered, service):
    env = _pod_env(rendered, _main_container(rendered[("Deployment", service)]))
    missing = []
    for name, read in sorted(code_facts.env_reads(service).items()):
        names = {name, f"{service.upper()}_{name}"} if read.prefixable else {name}
        if not names & set(env):
            missing.append(f"{name} (read at {read.where})")
    assert not missing, (f"{service} reads variables its Deployment does not set; add them to "
                         f"deploy/k8s/base/env/*.env or the Deployment: {missing}")


def _set_pod_env(monkeypatch, service: str, env: dict[str, str]) -> None:
    for name in list(os.environ):
        if any(name == v or name.endswith(f"_{v}") for v in code_facts.env_reads(service)):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize("service", SERVICES)
def test_deployed_settings_are_accepted_by_the_services_own_config(rendered, renders, overlay, service, monkeypatch):
    deployment = rendered[("Deployment", service)]
    container = _main_container(deployment)
    secrets = {name: r for (kind, name), r in renders["base"].items() if kind == "Secret"}
    if overlay == "production":  # created by the platform team, not the base's dev- values
        secrets = _production_stand_ins(secrets)
    env = _pod_env(rendered, container, secrets)
    if overlay == "production":  # what the city fills in before the first rollout (docs/deploy.md)
        env.update({k: v for k, v in CITY_SETTINGS.get(service, {}).items() if not env.get(k)})
    if env["MONGO_URI"].startswith("<secret"):
        env["MONGO_URI"] = _placeholder_mongo_uri(rendered)  # written by the MongoDB operator
    _set_pod_env(monkeypatch, service, env)
    results = [load() for load in code_facts.config_loaders(service)]  # raises on a bad value
    settings = results[0]
    port = next(p["containerPort"] for p in container["ports"] if p["name"] == "http")
    assert settings.http_address == f"0.0.0.0:{port}", "a container must listen on all interfaces, on its containerPort"
    assert settings.db_name == f"asn_{service}"
    assert settings.public_base_url.startswith(("http://", "https://"))
    assert user_of(settings.amqp_uri) == service_user(service), "each service connects as its own broker user"


@pytest.mark.parametrize("service", SERVICES)
def test_production_runs_in_production_mode_and_refuses_the_development_secrets(renders, service, monkeypatch):
    rendered = renders["production"]
    assert rendered[("ConfigMap", "asn-common")]["data"]["ASN_ENV"] == PRODUCTION
    assert not renders["base"][("ConfigMap", "asn-common")]["data"].get("ASN_ENV"), "the base is development"
    # Were the base's development Secrets applied to production, the services would not start.
    secrets = {name: r for (kind, name), r in renders["base"].items() if kind == "Secret"}
    env = _pod_env(rendered, _main_container(rendered[("Deployment", service)]), secrets)
    env["MONGO_URI"] = _placeholder_mongo_uri(rendered)
    _set_pod_env(monkeypatch, service, env)
    with pytest.raises(ProductionConfigError, match="AUTH_SECRET"):
        for load in code_facts.config_loaders(service):
            load()


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_logs_in_to_mongodb_as_its_own_user_with_access_to_its_own_database_only(rendered, service):
    container = _main_container(rendered[("Deployment", service)])
    ref = next(v for v in container["env"] if v["name"] == "MONGO_URI")["valueFrom"]["secretKeyRef"]
    generated = _operator_secrets(rendered)
    assert ref["name"] in generated, f"MONGO_URI of {service} comes from {ref['name']}, which no MongoDB user generates"
    assert ref["key"] == "connectionString.standard"
    user = generated[ref["name"]]["user"]
    assert user["name"] == service
    db = rendered[("ConfigMap", f"{service}-config")]["data"]["MONGO_DB"]
    assert user["roles"] == [{"name": "readWrite", "db": db}]


# --- probes, ports, images ---------------------------------------------------------------------

@pytest.mark.parametrize("service", SERVICES)
def test_probes_hit_health_paths_the_service_really_serves(rendered, service):
    container = _main_container(rendered[("Deployment", service)])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    expected = {"livenessProbe": "/health/live", "readinessProbe": "/health/ready", "startupProbe": "/health/live"}
    documented = code_facts.documented_paths(service)
    for probe, path in expected.items():
        http = container[probe]["httpGet"]
        assert http["path"] == path, f"{probe} of {service} should check {path}"
        assert code_facts.serves(service, "GET", http["path"]), f"{service} does not serve GET {http['path']}"
        assert http["path"] in documented, f"{http['path']} is not in {service}'s OpenAPI document"
        assert http["port"] in ports, f"{probe} of {service} names port {http['port']!r}, which the container lacks"
    annotations = rendered[("Deployment", service)]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == "/metrics" and code_facts.serves(service, "GET", "/metrics")
    assert int(annotations["prometheus.io/port"]) == ports["http"]


@pytest.mark.parametrize("service", SERVICES)
def test_service_autoscaler_and_budget_select_the_deployments_pods_on_its_port(rendered, service):
    deployment = rendered[("Deployment", service)]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    container = _main_container(deployment)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert "replicas" not in deployment["spec"], "the HorizontalPodAutoscaler owns the replica count"
    rolling = deployment["spec"]["strategy"]["rollingUpdate"]
    assert rolling["maxUnavailable"] == 0, "a rolling update must not take a replica away before its successor is ready"

    svc = rendered[("Service", service)]
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    (port,) = svc["spec"]["ports"]
    target = ports[port["targetPort"]] if isinstance(port["targetPort"], str) else port["targetPort"]
    assert target == ports["http"] == port["port"], "Service port, targetPort and containerPort must agree"

    hpa = rendered[("HorizontalPodAutoscaler", service)]
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": service}
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    assert container["resources"]["requests"]["cpu"], "CPU autoscaling needs a CPU request"

    pdb = rendered[("PodDisruptionBudget", service)]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert pdb["spec"].get("maxUnavailable") == 1


@pytest.mark.parametrize("service", SERVICES)
def test_service_pods_meet_the_restricted_pod_security_profile(rendered, service):
    pod = rendered[("Deployment", service)]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False and pod["enableServiceLinks"] is False
    for container in pod["initContainers"] + pod["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False and context["capabilities"]["drop"] == ["ALL"]
        assert context["readOnlyRootFilesystem"] is True


def test_one_image_runs_every_service_and_the_topology_step(rendered, overlay):
    images = set()
    for service in SERVICES:
        deployment = rendered[("Deployment", service)]
        main = _main_container(deployment)
        assert main["args"] == [service], "the image's entrypoint is python -m services; the argument picks the service"
        init = deployment["spec"]["template"]["spec"]["initContainers"]
        assert [c["name"] for c in init] == ["declare-topology"]
        assert "declare_all()" in init[0]["command"][-1]
        images |= {c["image"] for c in containers_of(deployment)}
    assert len(images) == 1, f"every service and init step should run the same image, found {images}"
    (image,) = images
    name, _, tag = image.rpartition(":")
    assert name.endswith(SERVICE_IMAGE) and tag
    if overlay == "production":
        assert tag != "latest", "production pins the release it runs"


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = (DEPLOY / "docker" / "Dockerfile").read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, rest = line.partition(" ")
            out.append((instruction.upper(), rest.strip()))
    return out


def test_the_image_runs_the_services_runner_from_source_as_a_non_root_user():
    instructions = _dockerfile_instructions()
    entrypoints = [json.loads(rest) for ins, rest in instructions if ins == "ENTRYPOINT"]
    assert entrypoints[-1] == ["python", "-m", "services"]
    exposed = {int(p) for ins, rest in instructions if ins == "EXPOSE" for p in rest.split()}
    ports = {int(read_env_file(K8S / "base" / "env" / f"{s}.env")["HTTP_ADDRESS"].rsplit(":", 1)[1])
             for s in SERVICES}
    assert ports <= exposed
    copied = {rest.split()[-2] for ins, rest in instructions if ins == "COPY" and "--from" not in rest}
    assert {"shared", "services", "pyproject.toml"} <= copied
    users = [rest for ins, rest in instructions if ins == "USER"]
    assert users and not users[-1].startswith(("0", "root"))
    ignore = (ROOT / ".dockerignore").read_text().split()
    assert ignore[0:1] == ["*"] or "*" in ignore, ".dockerignore should admit only what the image needs"
    for needed in ("!pyproject.toml", "!shared/", "!services/"):
        assert needed in ignore


# --- secrets -------------------------------------------------------------------------------

def test_every_secret_reference_resolves_to_a_secret_or_an_operator_generated_one(renders):
    rendered = renders["base"]
    secrets = {name: r for (kind, name), r in rendered.items() if kind == "Secret"}
    generated = _operator_secrets(rendered)
    for name, wanted in sorted(_secret_refs(rendered), key=str):
        if name in generated:
            assert wanted in MONGO_OPERATOR_KEYS | {None}
            continue
        assert name in secrets, f"Secret {name} is referenced but not defined"
        if wanted is not None:
            assert wanted in secrets[name].get("stringData", {}), f"Secret {name} has no key {wanted}"
    for (kind, name), user in rendered.items():
        if kind == "User" and "importCredentialsSecret" in user["spec"]:
            secret = secrets[user["spec"]["importCredentialsSecret"]["name"]]
            assert {"username", "password"} <= set(secret["stringData"]), f"User {name}: its Secret needs both keys"
            label, value = TOPOLOGY_OPERATOR_LABEL
            assert secret["metadata"]["labels"].get(label) == value, \
                f"the Topology Operator reads only Secrets labelled {label}={value}"


def test_production_carries_no_development_secret_and_documents_every_secret_it_needs(renders):
    rendered = renders["production"]
    assert not [name for (kind, name), r in rendered.items()
                if kind == "Secret" or DEV_LABEL in (r["metadata"].get("labels") or {})]
    # The production overlay deletes the base's Secrets by that label: none may lack it.
    unlabelled = [name for (kind, name), r in renders["base"].items()
                  if kind == "Secret" and (r["metadata"].get("labels") or {}).get(DEV_LABEL) != "true"]
    assert not unlabelled, f"Secrets without the {DEV_LABEL} label would ship to production: {unlabelled}"
    # Nor a development value anywhere else (a ConfigMap, an env value).
    def values(value):
        if isinstance(value, dict):
            for item in value.values():
                yield from values(item)
        elif isinstance(value, list):
            for item in value:
                yield from values(item)
        elif isinstance(value, str):
            yield value
    dev = sorted({v for r in rendered.values() for v in values(r) if v.startswith(DEV_MARKER)})
    assert not dev, f"production carries development values: {dev}"
    docs = DOCS.read_text()
    generated = _operator_secrets(rendered)
    for name, _ in _secret_refs(rendered):
        if name not in generated:
            assert f"`{name}`" in docs, f"docs/deploy.md does not tell the platform team to create Secret {name}"


# --- broker accounts -----------------------------------------------------------------------

def _amqp_secret(container: dict, cluster: str) -> str:
    """The Secret whose username and password ``container``'s AMQP_URI is built from
    (amqp://$(AMQP_USERNAME):$(AMQP_PASSWORD)@<cluster>:5672/)."""
    env = {v["name"]: v for v in container.get("env", [])}
    assert "AMQP_URI" in env, f"container {container['name']} sets no AMQP_URI"
    uri = env["AMQP_URI"].get("value")
    assert uri is not None, f"{container['name']}: AMQP_URI should be built from its user's Secret"
    match = re.fullmatch(r"amqp://\$\((?P<user>\w+)\):\$\((?P<password>\w+)\)@(?P<host>[\w.-]+):5672/", uri)
    assert match, f"{container['name']}: AMQP_URI {uri!r} is not amqp://$(USER):$(PASSWORD)@<broker>:5672/"
    assert match.group("host") == cluster
    refs = {}
    for part, key in (("user", "username"), ("password", "password")):
        ref = env[match.group(part)]["valueFrom"]["secretKeyRef"]
        assert ref["key"] == key and not ref.get("optional")
        refs[key] = ref["name"]
    assert refs["username"] == refs["password"], "username and password come from one Secret"
    return refs["username"]


def _user_importing(rendered: dict, secret: str) -> dict:
    users = [r for (kind, _), r in rendered.items()
             if kind == "User" and r["spec"].get("importCredentialsSecret", {}).get("name") == secret]
    assert len(users) == 1, f"expected one broker User with the credentials of Secret {secret}, found {len(users)}"
    return users[0]


def _permission_of(rendered: dict, user: dict) -> dict:
    name = user["metadata"]["name"]
    found = [r for (kind, _), r in rendered.items()
             if kind == "Permission" and r["spec"].get("userReference", {}).get("name") == name]
    assert len(found) == 1, f"expected one Permission for User {name}, found {len(found)}"
    return found[0]


def _username(renders, secret: str) -> str:
    """The broker username of an account (the base's Secret; production's follows the same naming)."""
    return renders["base"][("Secret", secret)]["stringData"]["username"]


def _allows(permission: dict, operation: str, name: str) -> bool:
    """Whether RabbitMQ grants ``operation`` on resource ``name`` (its regexes are searched, as re:run does)."""
    pattern = permission["spec"]["permissions"].get(operation, "")
    return bool(pattern) and re.search(pattern, name) is not None


def test_topology_operator_objects_have_only_the_fields_of_their_resource_definition(rendered):
    # kubernetes-validate has no schema for rabbitmq.com/v1beta1 (the schema test lets them
    # through as OPERATOR_KINDS); check them here against the operator's API types.
    for (kind, name), resource in rendered.items():
        if kind not in TOPOLOGY_OPERATOR_SPECS:
            continue
        where = f"{kind} {name}"
        assert resource["apiVersion"] == "rabbitmq.com/v1beta1", where
        assert set(resource) <= {"apiVersion", "kind", "metadata", "spec"}, where
        # metadata is a standard ObjectMeta: validate it strictly on a ConfigMap
        kubernetes_validate.validate({"apiVersion": "v1", "kind": "ConfigMap", "metadata": resource["metadata"]},
                                     KUBERNETES_VERSIONS[0], strict=True)
        required, allowed = TOPOLOGY_OPERATOR_SPECS[kind]
        spec = resource["spec"]
        assert required <= set(spec) <= allowed, f"{where}: spec fields {sorted(spec)}; allowed {sorted(allowed)}"
        reference = spec["rabbitmqClusterReference"]
        assert set(reference) <= {"name", "namespace", "connectionSecret"}, where
        assert ("name" in reference) != ("connectionSecret" in reference), f"{where}: name or connectionSecret"
        if kind == "User":
            assert set(spec.get("tags", [])) <= USER_TAGS, where
            if "importCredentialsSecret" in spec:
                assert set(spec["importCredentialsSecret"]) == {"name"}, where
        elif kind == "Permission":
            assert ("user" in spec) != ("userReference" in spec), f"{where}: user or userReference"
            if "userReference" in spec:
                assert set(spec["userReference"]) == {"name"}
                assert ("User", spec["userReference"]["name"]) in rendered, f"{where}: no such User"
            assert isinstance(spec["vhost"], str) and spec["vhost"]
            assert set(spec["permissions"]) <= {"configure", "write", "read"}, where
            for pattern in spec["permissions"].values():
                assert isinstance(pattern, str)
                re.compile(pattern)
        elif kind == "Policy":
            assert spec.get("applyTo", "all") in {"queues", "classic_queues", "quorum_queues", "exchanges", "all"}
            assert isinstance(spec.get("priority", 0), int) and isinstance(spec["definition"], dict)
            re.compile(spec["pattern"])


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_connects_as_its_own_broker_user_with_exactly_the_permissions_of_the_code(rendered, renders,
                                                                                              service):
    cluster = _one(rendered, "RabbitmqCluster")["metadata"]["name"]
    secret = _amqp_secret(_main_container(rendered[("Deployment", service)]), cluster)
    assert secret == f"{service}-rabbitmq", f"{service}'s broker credentials come from its own Secret"
    user = _user_importing(rendered, secret)
    assert user["metadata"]["name"] == service_user(service)
    assert not user["spec"].get("tags"), "a service's user has no management access"
    assert user["spec"]["rabbitmqClusterReference"]["name"] == cluster
    assert _username(renders, secret) == service_user(service)
    permission = _permission_of(rendered, user)
    sources, private = service_sources()[service], service_private_sources()[service]
    assert permission["spec"]["permissions"] == service_permissions(service, sources, private), (
        f"the Permission of {service_user(service)} differs from shared.broker_security.service_permissions: "
        "copy its regexes into deploy/k8s/base/rabbitmq.yaml")
    assert permission["spec"]["vhost"] == "/" and permission["spec"]["rabbitmqClusterReference"]["name"] == cluster
    # the same as the reviewed file, and the naming the consumers rely on to know a publisher
    definitions = json.loads((DEPLOY / "rabbitmq" / "definitions.json").read_text())
    [listed] = [p for p in definitions["permissions"] if p["user"] == service_user(service)]
    assert {k: listed[k] for k in ("configure", "write", "read")} == permission["spec"]["permissions"]
    for source in sorted(set(sources) | set(private)):
        assert expected_publisher(source, service, _username(renders, secret)) == \
            _username(renders, f"{source}-rabbitmq"), f"{service} would not recognise {source}'s publisher"


def test_no_deployment_shares_a_broker_user_and_only_the_topology_step_declares_for_all(rendered, renders):
    cluster = _one(rendered, "RabbitmqCluster")["metadata"]["name"]
    own = {s: _amqp_secret(_main_container(rendered[("Deployment", s)]), cluster) for s in SERVICES}
    assert len(set(own.values())) == len(SERVICES), f"services share broker credentials: {own}"
    assert len({_username(renders, s) for s in own.values()}) == len(SERVICES)
    for service in SERVICES:
        deployment = rendered[("Deployment", service)]
        used = {ref for ref, _ in _secret_refs({("Deployment", service): deployment})}
        others = {s for other, s in own.items() if other != service}
        assert not used & others, f"{service}'s pods hold another service's broker credentials: {used & others}"
        assert TOPOLOGY_SECRET not in {ref for c in deployment["spec"]["template"]["spec"]["containers"]
                                       for ref, _ in _secret_refs({("c", c["name"]): c})}
        for init in deployment["spec"]["template"]["spec"]["initContainers"]:
            assert _amqp_secret(init, cluster) == TOPOLOGY_SECRET
    # no account may write everywhere (the old shared ".*" user)
    for (kind, name), permission in rendered.items():
        if kind == "Permission":
            assert not _allows(permission, "write", "any.exchange.at.all"), f"Permission {name} writes anywhere"


def test_the_topology_account_declares_every_entity_and_publishes_no_event(rendered, renders):
    facts = code_facts.broker_topology()
    user = _user_importing(rendered, TOPOLOGY_SECRET)
    assert not user["spec"].get("tags")
    permission = _permission_of(rendered, user)
    refused = []

    def need(operation, name, why):
        if not _allows(permission, operation, name):
            refused.append(f"{operation} {name} ({why})")

    for name in facts.exchanges | facts.queues:
        need("configure", name, "declare")
    for source, queue in facts.bindings:
        need("write", queue, f"bind to {source}")
        need("read", source, f"bind {queue}")
    for queue, exchange in facts.dead_letter_exchanges:
        need("read", queue, f"declare with x-dead-letter-exchange {exchange}")
        need("write", exchange, f"dead-letter target of {queue}")
    assert not refused, f"declare_all() as asn-topology would be refused: {refused}"
    for service in SERVICES:
        for exchange in (f"{service}.events", f"{service}.replay", f"{service}.private"):
            assert not _allows(permission, "write", exchange), f"the topology account could publish to {exchange}"
    for queue in facts.consumer_queues():
        assert not _allows(permission, "read", queue), f"the topology account could consume {queue}"
    for name in ("", "amq.default", "nameko-rpc", "amq.topic"):
        assert not _allows(permission, "write", name)


def test_the_operator_account_replays_dead_letters_and_the_services_trust_it(rendered, renders):
    facts = code_facts.broker_topology()
    operators = rendered[("ConfigMap", "asn-common")]["data"]["BROKER_OPERATOR_USERS"].split(",")
    user = _user_importing(rendered, OPERATOR_SECRET)
    assert _username(renders, OPERATOR_SECRET) in operators, "BROKER_OPERATOR_USERS must name the ops account"
    known = {_username(renders, r["spec"]["importCredentialsSecret"]["name"])
             for (kind, _), r in renders["base"].items() if kind == "User" and "importCredentialsSecret" in r["spec"]}
    assert set(operators) <= known, "every trusted operator is a broker account of the manifests"
    assert set(user["spec"].get("tags", [])) <= {"monitoring"}, "read-only management access at most"
    permission = _permission_of(rendered, user)
    for service in SERVICES:
        assert _allows(permission, "read", topology.dlq_name(service)), "asn dlq list/show/purge"
        assert _allows(permission, "write", topology.requeue_exchange(service).name), "asn dlq replay"
        for exchange in (f"{service}.events", f"{service}.replay"):
            assert not _allows(permission, "write", exchange)
    dead_letter_queues = {topology.dlq_name(s) for s in SERVICES}
    for name in facts.exchanges | facts.queues:
        assert not _allows(permission, "configure", name), f"the operator account could delete {name}"
        if name in facts.queues and name not in dead_letter_queues:
            assert not _allows(permission, "read", name), f"the operator account could consume {name}"


def _subscriber_files() -> list[Path]:
    return sorted(p for p in SUBSCRIBERS.glob("*.yaml") if p.name != "kustomization.yaml")


def test_external_subscribers_get_exactly_subscriber_permissions_and_may_bind_for_a_replay(renders):
    rendered = renders["production"]
    listed = yaml.safe_load((SUBSCRIBERS / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == [p.name for p in _subscriber_files()], "every subscriber file is listed, and only those"
    users = {name: r for (kind, name), r in rendered.items() if kind == "User" and name.startswith(SUBSCRIBER_PREFIX)}
    assert users, "the production overlay includes deploy/k8s/subscribers"
    assert not [n for (kind, n) in renders["base"] if n.startswith(SUBSCRIBER_PREFIX)], "no external account in the base"
    platform = code_facts.broker_topology().exchanges
    for name, user in users.items():
        system = name[len(SUBSCRIBER_PREFIX):]
        assert user["spec"]["importCredentialsSecret"]["name"] == rabbit.subscriber_secret(system)
        assert not user["spec"].get("tags")
        permission = _permission_of(rendered, user)
        granted = permission["metadata"]["annotations"][rabbit.GRANTED_ANNOTATION].split(",")
        assert set(granted) <= platform, f"{name} is granted exchanges the platform does not have"
        assert all(e.endswith((".events", ".replay")) for e in granted), f"{name}: only events and replay exchanges"
        assert permission["spec"]["permissions"] == subscriber_permissions(system, granted), (
            f"the Permission of {name} differs from shared.broker_security.subscriber_permissions: regenerate it")
        for exchange in granted:  # a replay of a granted producer's log arrives through <service>.replay
            service = exchange.rsplit(".", 1)[0]
            assert _allows(permission, "read", f"{service}.events") and _allows(permission, "read", f"{service}.replay")
        for exchange in platform:
            assert not _allows(permission, "write", exchange) and not _allows(permission, "configure", exchange)
        assert not _allows(permission, "write", "") and not _allows(permission, "write", "amq.default")
        assert not _allows(permission, "read", "reporting.enrollment.completed"), "no platform queue"
        # the committed file is what the generator prints for it (python -m deploy.rabbit subscriber)
        services = sorted({e.rsplit(".", 1)[0] for e in granted})
        assert (SUBSCRIBERS / f"{name}.yaml").read_text() == rabbit.subscriber_yaml(system, services)


def test_the_subscriber_guide_shows_the_accounts_the_code_makes():
    guide = (ROOT / "docs" / "subscribing.md").read_text(encoding="utf-8")
    blocks = [yaml.safe_load_all(textwrap.dedent(b)) for b in re.findall(r"```yaml\n(.*?)```", guide, re.S)]
    documents = [d for block in blocks for d in block if isinstance(d, dict) and d.get("kind") == "Permission"]
    [shown] = documents
    system = shown["metadata"]["name"][len(SUBSCRIBER_PREFIX):]
    granted = shown["metadata"]["annotations"][rabbit.GRANTED_ANNOTATION].split(",")
    assert shown["spec"]["permissions"] == subscriber_permissions(system, granted)
    generated = {(d["kind"], d["metadata"]["name"]): d
                 for d in rabbit.subscriber_manifests(system, {e.rsplit(".", 1)[0] for e in granted})}
    assert shown["spec"] == generated[("Permission", shown["metadata"]["name"])]["spec"]
    # the rabbitmqctl form, for a broker without the operator
    [line] = [ln.strip() for ln in guide.splitlines() if ln.strip().startswith("rabbitmqctl set_permissions")]
    configure, write, read = shlex.split(line.replace("<system>", "abc").replace("<vhost>", "/"))[5:]
    assert {"configure": configure, "write": write, "read": read} == subscriber_permissions("abc", granted)


def test_launcher_broker_users_mode_runs_each_service_as_its_user_and_trusts_the_admins_dlq_replay(tmp_path,
                                                                                                  monkeypatch):
    from deploy.launcher import Stack

    for name in ["BROKER_OPERATOR_USERS"] + [f"{s.upper()}_BROKER_USER" for s in SERVICES]:
        monkeypatch.delenv(name, raising=False)
    common = dict(mongo_uri="mongodb://127.0.0.1:1/", amqp_uri="amqp://admin:secret@127.0.0.1:5672/asn-vhost",
                  log_dir=tmp_path, auth_secret_file=tmp_path / "auth-secret", credentials_file=tmp_path / "c.json")
    stack = Stack(broker_users=True, **common)
    users = {s: user_of(stack.env_for(s)["AMQP_URI"]) for s in SERVICES}
    assert users == {s: service_user(s) for s in SERVICES}
    for service in SERVICES:
        env = stack.env_for(service)
        assert env["BROKER_OPERATOR_USERS"] == "admin", "`asn dlq replay` runs as the stack's administrator"
        assert urlsplit(env["AMQP_URI"]).path == "/asn-vhost"
        for source in service_sources()[service] + service_private_sources()[service]:
            assert expected_publisher(source, service, users[service]) == users[source]
    monkeypatch.setenv("BROKER_OPERATOR_USERS", "ops-1")
    assert stack.env_for("enrollment")["BROKER_OPERATOR_USERS"] == "ops-1,admin"
    monkeypatch.delenv("BROKER_OPERATOR_USERS")
    shared_user = Stack(**common)
    assert "BROKER_OPERATOR_USERS" not in shared_user.env_for("enrollment")  # one identity: it replays as itself
    assert user_of(shared_user.env_for("enrollment")["AMQP_URI"]) == "admin"


# --- broker and store ----------------------------------------------------------------------

def test_rabbitmq_makes_quorum_queues_the_default_with_the_same_settings_as_compose(rendered):
    cluster = _one(rendered, "RabbitmqCluster")
    config_lines = {line.strip() for line in cluster["spec"]["rabbitmq"]["additionalConfig"].splitlines()}
    assert "default_queue_type = quorum" in config_lines
    compose_conf = (DEPLOY / "rabbitmq" / "rabbitmq.conf").read_text().splitlines()
    for line in (l.strip() for l in compose_conf if l.strip() and not l.strip().startswith("#")):
        assert line in config_lines, f"rabbitmq.conf line {line!r} is missing from the RabbitmqCluster"
    assert "management" in cluster["spec"]["image"]


def test_retry_queue_policy_covers_every_retry_queue_and_nothing_else(rendered):
    from shared.config import load
    policy = _one(rendered, "Policy")["spec"]
    pattern = re.compile(policy["pattern"])
    queues = {q.name for s in SERVICES for q in topology.service_entities(load(s), topology.subscriptions_of(s))
              if hasattr(q, "queue_arguments")}
    retry = {q for q in queues if ".retry." in q}
    assert retry and all(pattern.search(q) for q in retry)
    assert not [q for q in queues - retry if pattern.search(q)]
    assert policy["definition"]["dead-letter-strategy"] == "at-least-once"


def test_mongodb_is_a_replica_set(rendered, overlay):
    mdb = _one(rendered, "MongoDBCommunity")["spec"]
    assert mdb["type"] == "ReplicaSet"
    assert {u["name"] for u in mdb["users"]} == set(SERVICES) | {"portal"}  # the portal's sessions
    if overlay == "production":
        assert mdb["members"] >= 3 and mdb["members"] % 2 == 1


def test_production_survives_the_loss_of_one_node_of_anything(renders):
    rendered = renders["production"]
    rabbit = _one(rendered, "RabbitmqCluster")["spec"]
    assert rabbit["replicas"] >= 3 and rabbit["replicas"] % 2 == 1, "a quorum queue needs a majority of 3+ nodes"
    for service in SERVICES:
        assert rendered[("HorizontalPodAutoscaler", service)]["spec"]["minReplicas"] >= 2
    assert all(r["metadata"].get("namespace") == "asn-bangkom"
               for (kind, _), r in rendered.items() if kind != "Namespace")


def test_public_verification_ingress_is_the_public_base_url_and_reaches_served_paths(renders):
    rendered = renders["production"]
    ingress = rendered[("Ingress", "certification-public")]  # the portal has its own (at /)
    public = urlsplit(rendered[("ConfigMap", "asn-common")]["data"]["PUBLIC_BASE_URL"])
    assert public.scheme == "https"
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == public.hostname
    assert [public.hostname] == ingress["spec"]["tls"][0]["hosts"]
    for path in rule["http"]["paths"]:
        backend = path["backend"]["service"]
        assert backend["name"] == "certification"
        ports = [p for p in rendered[("Service", "certification")]["spec"]["ports"] if p["name"] == backend["port"]["name"]]
        assert ports, f"the ingress names port {backend['port']['name']}, which the Service lacks"
        probe = path["path"] + ("/0000-AAAA" if path["pathType"] == "Prefix" else "")
        assert code_facts.serves("certification", "GET", probe) or code_facts.serves("certification", "POST", probe)
    hops = int(rendered[("ConfigMap", "certification-config")]["data"]["TRUSTED_PROXY_HOPS"])
    assert hops >= 1, "behind the ingress the client address is in X-Forwarded-For"


# --- compose -------------------------------------------------------------------------------

_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def _interpolate(value: str, dotenv: dict[str, str] | None = None) -> str:
    """Compose's ${NAME:-default} with ``dotenv`` (deploy/.env) or nothing set; a required value
    (':?', which deploy/.env must give) not in ``dotenv`` gets a stand-in long enough for any key."""
    def one(match):
        if dotenv and match.group("name") in dotenv:
            return dotenv[match.group("name")]
        op = match.group("op") or ""
        return match.group("arg") if op.endswith("-") else ("stand-in-value-" * 4 if op.endswith("?") else "")
    return _INTERPOLATION.sub(one, value).replace("$$", "$")


def _compose_env(service: dict, dotenv: dict[str, str] | None = None) -> dict[str, str]:
    env: dict[str, str] = {}
    for env_file in service.get("env_file", []):
        env.update(read_env_file(DEPLOY / env_file))
    env.update({k: _interpolate(str(v), dotenv) for k, v in (service.get("environment") or {}).items()})
    return env


def _example_dotenv() -> dict[str, str]:
    """deploy/.env as an operator fills it in from deploy/.env.example: a distinct value each."""
    names = read_env_file(DEPLOY / ".env.example")
    return {name: value or (random_secrets.token_hex(16) if "PASSWORD" in name else "") for name, value in names.items()}


@pytest.mark.parametrize("service", SERVICES)
def test_compose_sets_every_variable_and_checks_health_on_ready(compose, service, monkeypatch):
    spec = compose["services"][service]
    assert spec["command"] == [service]
    env = _compose_env(spec)
    for name, read in code_facts.env_reads(service).items():
        assert name in env or (read.prefixable and f"{service.upper()}_{name}" in env), \
            f"compose does not set {name} for {service} (read at {read.where})"
    for name in list(os.environ):
        if any(name == v or name.endswith(f"_{v}") for v in code_facts.env_reads(service)):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = [load() for load in code_facts.config_loaders(service)][0]
    port = settings.http_port
    assert settings.http_address == f"0.0.0.0:{port}"
    assert any(str(p).endswith(f":{port}") for p in spec["ports"])
    check = " ".join(spec["healthcheck"]["test"])
    assert f"http://127.0.0.1:{port}/health/ready" in check
    assert code_facts.serves(service, "GET", "/health/ready")
    mongo = urlsplit(env["MONGO_URI"])
    assert "retryWrites=false" not in (mongo.query or ""), "production MongoDB keeps retryable writes"
    amqp = urlsplit(env[f"{service.upper()}_AMQP_URI"])
    assert (amqp.hostname, unquote(amqp.username)) == ("rabbitmq", service_user(service))
    assert "AMQP_URI" not in env, "the generic AMQP_URI would be another account than the service's own"
    assert mongo.hostname == "mongodb"
    assert spec["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
    assert spec["depends_on"]["mongodb-init"]["condition"] == "service_completed_successfully"
    assert spec["depends_on"]["topology"]["condition"] == "service_completed_successfully"
    assert spec["image"] == compose["services"]["topology"]["image"]


def test_compose_runs_mongodb_as_an_initiated_replica_set_and_rabbitmq_with_management(compose):
    services = compose["services"]
    command = services["mongodb"]["command"]
    replica_set = command[command.index("--replSet") + 1]
    uri = _compose_env(services["enrollment"])["MONGO_URI"]
    assert f"replicaSet={replica_set}" in uri
    init = " ".join(services["mongodb-init"]["command"])
    assert f"rs.initiate({{_id: '{replica_set}'" in init and "isWritablePrimary" in init
    assert services["mongodb-init"]["depends_on"]["mongodb"]["condition"] == "service_healthy"
    rabbit = services["rabbitmq"]
    assert "management" in rabbit["image"] and any(str(p).endswith(":15672") for p in rabbit["ports"])
    assert any(v.endswith(":/etc/rabbitmq/conf.d/20-asn-bangkom.conf:ro") for v in rabbit["volumes"])
    volumes = set(compose["volumes"])
    assert any(v.split(":")[0] in volumes for v in rabbit["volumes"])
    assert any(v.split(":")[0] in volumes for v in services["mongodb"]["volumes"])
    assert "declare_all()" in " ".join(services["topology"]["entrypoint"])
    assert compose["networks"]["backend"]["internal"] is True
    assert services["mongodb"]["networks"] == ["backend"] and "ports" not in services["mongodb"]
    # a port published from an internal-only network would not be reachable
    for name, spec in services.items():
        if spec.get("ports"):
            assert any(not compose["networks"][n] or not compose["networks"][n].get("internal")
                       for n in spec.get("networks", [])), f"{name} publishes a port but is only on internal networks"


def test_compose_runs_each_service_as_its_own_broker_user_and_never_as_the_administrator(compose):
    services = compose["services"]
    dotenv = _example_dotenv()
    assert set(dotenv) >= {"RABBITMQ_ADMIN_USER", "RABBITMQ_ADMIN_PASSWORD"} | {
        f"{s.upper()}_RABBITMQ_PASSWORD" for s in SERVICES}, "deploy/.env.example lists every broker password"
    admin = dotenv["RABBITMQ_ADMIN_USER"]
    rabbit_env = _compose_env(services["rabbitmq"], dotenv)
    assert (rabbit_env["RABBITMQ_DEFAULT_USER"], rabbit_env["RABBITMQ_DEFAULT_PASS"]) == (
        admin, dotenv["RABBITMQ_ADMIN_PASSWORD"])
    for service in SERVICES:
        raw = json.dumps(services[service].get("environment"))
        env = _compose_env(services[service], dotenv)
        uri = urlsplit(env[f"{service.upper()}_AMQP_URI"])
        assert (unquote(uri.username), unquote(uri.password)) == (
            service_user(service), dotenv[f"{service.upper()}_RABBITMQ_PASSWORD"])
        others = [s for s in SERVICES if s != service]
        leaked = [name for name in ["RABBITMQ_ADMIN_PASSWORD", *(f"{s.upper()}_RABBITMQ_PASSWORD" for s in others)]
                  if name in raw]
        assert not leaked, f"{service} is given {leaked}"
        assert env["BROKER_OPERATOR_USERS"].split(",") == [admin], "operators replay dead letters as the administrator"
    topology_env = _compose_env(services["topology"], dotenv)
    assert unquote(urlsplit(topology_env["AMQP_URI"]).username) == admin
    assert _compose_env(services["topology"], dotenv)["RABBITMQ_MANAGEMENT_URL"] == "http://rabbitmq:15672"


def test_compose_topology_job_sets_the_service_users_of_definitions_json_then_declares_everything(compose,
                                                                                                 monkeypatch):
    from shared import broker_security
    from shared import topology as topology_module

    job = compose["services"]["topology"]
    assert job["entrypoint"][:2] == ["python", "-c"]
    dotenv = _example_dotenv()
    env = _compose_env(job, dotenv)
    for name in list(os.environ):
        if name.endswith(("_RABBITMQ_PASSWORD", "AMQP_URI")) or name.startswith("RABBITMQ_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    calls = []
    monkeypatch.setattr(broker_security, "apply",
                        lambda url, admin, vhost, passwords: calls.append(("apply", url, admin, vhost, passwords))
                        or {s: service_user(s) for s in passwords})
    monkeypatch.setattr(topology_module, "declare_all", lambda *a: calls.append(("declare_all",) + a))
    exec(compile(job["entrypoint"][2], "compose topology job", "exec"), {"__name__": "__main__"})
    assert calls == [
        ("apply", "http://rabbitmq:15672", (dotenv["RABBITMQ_ADMIN_USER"], dotenv["RABBITMQ_ADMIN_PASSWORD"]), "/",
         {s: dotenv[f"{s.upper()}_RABBITMQ_PASSWORD"] for s in SERVICES}),
        ("declare_all",),
    ], "users first (with their passwords), then the topology, as the administrator"
    # apply() grants exactly the users and permissions of deploy/rabbitmq/definitions.json
    definitions = json.loads((DEPLOY / "rabbitmq" / "definitions.json").read_text())
    sources, private = service_sources(), service_private_sources()
    assert [{"user": service_user(s), "vhost": "/", **service_permissions(s, sources[s], private[s])}
            for s in SERVICES] == \
        definitions["permissions"]
    for service in SERVICES:
        assert compose["services"][service]["depends_on"]["topology"]["condition"] == "service_completed_successfully"


# --- generated files and the real kustomize ------------------------------------------------------

def test_rabbitmq_definitions_json_is_what_shared_topology_generates():
    committed = json.loads((DEPLOY / "rabbitmq" / "definitions.json").read_text())
    current = topology.definitions()
    for section in ("exchanges", "queues", "bindings"):
        assert committed[section] == current[section], (
            f"deploy/rabbitmq/definitions.json is stale ({section}); regenerate it with "
            "`python -m deploy.rabbit definitions > deploy/rabbitmq/definitions.json`")


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
@pytest.mark.parametrize("name", sorted(OVERLAYS))
def test_kubectl_kustomize_renders_the_same_objects_as_the_static_renderer(name, renders):
    result = subprocess.run(["kubectl", "kustomize", str(OVERLAYS[name])], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    real = {key(r): r for r in normalise([d for d in yaml.safe_load_all(result.stdout) if d])}
    assert set(real) == set(renders[name])
    for ident, resource in real.items():
        assert resource == renders[name][ident], f"{ident} differs between kubectl kustomize and tests/deploy/kustomize.py"
