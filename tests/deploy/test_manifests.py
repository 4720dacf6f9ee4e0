"""Static validation of the deployment: compose, Kubernetes (kustomize) and the image.

Nothing here starts a container: the manifests are parsed (PyYAML) and checked against
what the code itself says a service needs (code_facts: the variables it reads, the paths
it serves, the ports it binds) so a manifest that drifts from the code fails here.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from shared import topology
from shared.config import SERVICES
from tests.deploy import code_facts
from tests.deploy.kustomize import build, containers_of, key, normalise, read_env_file

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
OVERLAYS = {"base": K8S / "base", "production": K8S / "overlays" / "production"}
DOCS = ROOT / "docs" / "deploy.md"
SERVICE_IMAGE = "asn-bangkom"
DEV_LABEL = "asn-bangkom/development-only"
# Keys the MongoDB Community Operator writes into a user's connection-string Secret.
# Operator resources: no Kubernetes API schema; the tests below check what the platform needs.
OPERATOR_KINDS = {"RabbitmqCluster", "User", "Permission", "Policy", "MongoDBCommunity"}
# The oldest Kubernetes the manifests are meant for, and the newest the schemas know.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
MONGO_OPERATOR_KEYS = {"connectionString.standard", "connectionString.standardSrv", "username", "password"}


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
            env[var["name"]] = str(var["value"])
        else:
            ref = var["valueFrom"]["secretKeyRef"]
            known = (secrets or {}).get(ref["name"], {}).get("stringData", {})
            env[var["name"]] = known.get(ref["key"], f"<secret {ref['name']}/{ref['key']}>")
    return env


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


@pytest.mark.parametrize("service", SERVICES)
def test_deployed_settings_are_accepted_by_the_services_own_config(rendered, renders, service, monkeypatch):
    deployment = rendered[("Deployment", service)]
    container = _main_container(deployment)
    secrets = {name: r for (kind, name), r in renders["base"].items() if kind == "Secret"}
    env = _pod_env(rendered, container, secrets)
    if env["MONGO_URI"].startswith("<secret"):
        env["MONGO_URI"] = _placeholder_mongo_uri(rendered)  # written by the MongoDB operator
    for name in list(os.environ):
        if any(name == v or name.endswith(f"_{v}") for v in code_facts.env_reads(service)):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    results = [load() for load in code_facts.config_loaders(service)]  # raises on a bad value
    settings = results[0]
    port = next(p["containerPort"] for p in container["ports"] if p["name"] == "http")
    assert settings.http_address == f"0.0.0.0:{port}", "a container must listen on all interfaces, on its containerPort"
    assert settings.db_name == f"asn_{service}"
    assert settings.public_base_url.startswith(("http://", "https://"))


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
        assert main["args"] == [service], "the image's entrypoint is shared.runner; the argument picks the service"
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


def test_the_image_runs_shared_runner_from_source_as_a_non_root_user():
    instructions = _dockerfile_instructions()
    entrypoints = [json.loads(rest) for ins, rest in instructions if ins == "ENTRYPOINT"]
    assert entrypoints[-1] == ["python", "-m", "shared.runner"]
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


def test_the_services_amqp_uri_is_the_broker_account_the_topology_operator_creates(renders):
    rendered = renders["base"]
    app = rendered[("Secret", "asn-rabbitmq-app")]["stringData"]
    uri = urlsplit(app["uri"])
    cluster = _one(rendered, "RabbitmqCluster")["metadata"]["name"]
    assert (uri.scheme, uri.hostname, uri.port) == ("amqp", cluster, 5672)
    assert (uri.username, uri.password) == (app["username"], app["password"])
    user = _one(rendered, "User")
    assert user["spec"]["importCredentialsSecret"]["name"] == "asn-rabbitmq-app"
    permission = _one(rendered, "Permission")
    assert permission["spec"]["userReference"]["name"] == user["metadata"]["name"]
    assert all(r["spec"]["rabbitmqClusterReference"]["name"] == cluster
               for (kind, _), r in rendered.items() if kind in ("User", "Permission", "Policy"))


def test_production_carries_no_development_secret_and_documents_every_secret_it_needs(renders):
    rendered = renders["production"]
    assert not [name for (kind, name), r in rendered.items()
                if kind == "Secret" or DEV_LABEL in (r["metadata"].get("labels") or {})]
    docs = DOCS.read_text()
    generated = _operator_secrets(rendered)
    for name, _ in _secret_refs(rendered):
        if name not in generated:
            assert f"`{name}`" in docs, f"docs/deploy.md does not tell the platform team to create Secret {name}"


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
    assert {u["name"] for u in mdb["users"]} == set(SERVICES)
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
    ingress = _one(rendered, "Ingress")
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


def _interpolate(value: str) -> str:
    """Compose's ${NAME:-default} with nothing set in the environment; a required value
    (':?', which deploy/.env must give) gets a stand-in long enough for any key."""
    def one(match):
        op = match.group("op") or ""
        return match.group("arg") if op.endswith("-") else ("stand-in-value-" * 4 if op.endswith("?") else "")
    return _INTERPOLATION.sub(one, value).replace("$$", "$")


def _compose_env(service: dict) -> dict[str, str]:
    env: dict[str, str] = {}
    for env_file in service.get("env_file", []):
        env.update(read_env_file(DEPLOY / env_file))
    env.update({k: _interpolate(str(v)) for k, v in (service.get("environment") or {}).items()})
    return env


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
    assert urlsplit(env["AMQP_URI"]).hostname == "rabbitmq"
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


# --- generated files and the real kustomize ------------------------------------------------------

def test_rabbitmq_definitions_json_is_what_shared_topology_generates():
    committed = json.loads((DEPLOY / "rabbitmq" / "definitions.json").read_text())
    current = topology.definitions()
    for section in ("exchanges", "queues", "bindings"):
        assert committed[section] == current[section], (
            f"deploy/rabbitmq/definitions.json is stale ({section}); regenerate it with "
            "`python -m shared.topology > deploy/rabbitmq/definitions.json`")


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
@pytest.mark.parametrize("name", sorted(OVERLAYS))
def test_kubectl_kustomize_renders_the_same_objects_as_the_static_renderer(name, renders):
    result = subprocess.run(["kubectl", "kustomize", str(OVERLAYS[name])], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    real = {key(r): r for r in normalise([d for d in yaml.safe_load_all(result.stdout) if d])}
    assert set(real) == set(renders[name])
    for ident, resource in real.items():
        assert resource == renders[name][ident], f"{ident} differs between kubectl kustomize and tests/deploy/kustomize.py"
