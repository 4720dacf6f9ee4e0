"""The `asn` CLI where operators are: from the image (shared/, services/ and deploy/asn.py, no
installed console script) and in the cluster's asn-cli pod with the operator's own broker account."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from shared.config import SERVICES

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "deploy" / "k8s" / "base"


def test_asn_runs_from_what_the_image_holds(tmp_path):
    for folder in ("shared", "services"):  # what deploy/docker/Dockerfile copies into /app
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "deploy").mkdir()
    for module in ("__init__.py", "asn.py"):  # and the `asn` entry point, nothing else of deploy/
        shutil.copy(ROOT / "deploy" / module, tmp_path / "deploy" / module)
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([sys.executable, "-m", "deploy.asn", "dlq", "purge", "--service", "certification"],
                          cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    # refused before touching the broker: the command ran from the copy (the services'
    # subscription tables imported from it too) with nothing but its own message on stderr
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("asn: dlq purge deletes every message in certification.dlq for good; pass --yes")
    helped = subprocess.run([sys.executable, "-m", "deploy.asn", "--help"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and "exit status (every command):" in helped.stdout and helped.stderr == ""


def _deployment() -> dict:
    return next(d for d in yaml.safe_load_all((BASE / "asn-cli.yaml").read_text()) if d["kind"] == "Deployment")


def test_the_cluster_pod_runs_the_image_as_the_read_only_operator_account_without_store_or_signing_key():
    assert "asn-cli.yaml" in yaml.safe_load((BASE / "kustomization.yaml").read_text())["resources"]
    [container] = _deployment()["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "asn-bangkom"  # the platform's image, pinned by the overlays
    env = {e["name"]: e for e in container["env"]}
    secrets = {e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"] if "valueFrom" in e}
    assert secrets == {"asn-rabbitmq-operator"}  # nothing else: no database, no signing key
    assert env["AMQP_URI"]["value"] == "amqp://$(AMQP_USERNAME):$(AMQP_PASSWORD)@asn-rabbitmq:5672/"
    assert not {"MONGO_URI", "AUTH_SECRET", "AUTH_SECRET_FILE", "AUTH_PRIVATE_KEY_FILE"} & set(env)
    assert "envFrom" not in container
    operator = next(d for d in yaml.safe_load_all((BASE / "rabbitmq.yaml").read_text())
                    if d["kind"] == "User" and d["metadata"]["name"] == "asn-operator")
    assert operator["spec"]["importCredentialsSecret"]["name"] == "asn-rabbitmq-operator"
    assert operator["spec"]["tags"] == ["monitoring"]  # read-only management API


def test_the_cluster_pod_asks_each_service_at_its_service_port():
    [container] = _deployment()["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    for service in SERVICES:
        manifest = list(yaml.safe_load_all((BASE / f"{service}.yaml").read_text()))
        [port] = [p["port"] for d in manifest if d["kind"] == "Service" for p in d["spec"]["ports"]]
        assert env[f"{service.upper()}_URL"] == f"http://{service}:{port}"
