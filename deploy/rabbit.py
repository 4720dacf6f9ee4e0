"""The local RabbitMQ broker: make sure it runs, enable its management API, manage vhosts.

    python -m deploy.rabbit ensure [--management]
    python -m deploy.rabbit subscriber SYSTEM --grant SERVICE [--grant SERVICE ...]

The second prints the Kubernetes broker account of an external subscriber (a Messaging
Topology Operator ``User`` and ``Permission``, docs/subscribing.md) for
deploy/k8s/subscribers/.

Vhosts go through the management HTTP API when it answers and through ``rabbitmqctl``
otherwise. The management API is at port 15672 of the broker's host unless
``RABBITMQ_MANAGEMENT_URL`` says otherwise.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from typing import Iterable
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import requests

from deploy.processes import port_open, wait_until
from shared import broker_security
from shared.config import DEFAULT_AMQP_URI, SERVICES

MANAGEMENT_PORT = 15672
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
# Debian puts the RabbitMQ commands in /usr/sbin, which a non-root PATH may lack.
_EXTRA_PATH = ("/usr/sbin", "/usr/lib/rabbitmq/bin", "/usr/local/sbin", "/opt/homebrew/sbin")
_HOW_TO_GET_ONE = (
    "install it (Debian/Ubuntu: `apt-get install rabbitmq-server`; macOS: `brew install rabbitmq`) "
    "or point AMQP_URI at a running broker"
)


class RabbitError(RuntimeError):
    pass


def _parts(amqp_uri: str):
    url = urlsplit(amqp_uri)
    return url, url.hostname or "127.0.0.1", url.port or 5672


def _credentials(amqp_uri: str) -> tuple[str, str]:
    url = urlsplit(amqp_uri)
    return unquote(url.username or "guest"), unquote(url.password or "guest")


def amqp_uri_for(vhost: str, base_uri: str = DEFAULT_AMQP_URI) -> str:
    """``base_uri`` pointed at ``vhost`` (quoted, so '/' stays the default vhost)."""
    url = urlsplit(base_uri)
    return urlunsplit((url.scheme, url.netloc, "/" + quote(vhost, safe=""), url.query, ""))


def management_url(amqp_uri: str = DEFAULT_AMQP_URI) -> str:
    """The management API's base URL for the broker of ``amqp_uri``."""
    configured = os.environ.get("RABBITMQ_MANAGEMENT_URL")
    if configured:
        return configured.rstrip("/")
    _, host, _ = _parts(amqp_uri)
    return f"http://{host}:{MANAGEMENT_PORT}"


def _command(name: str) -> str | None:
    path = os.pathsep.join([os.environ.get("PATH", ""), *_EXTRA_PATH])
    return shutil.which(name, path=path)


def _run(name: str, *args: str, timeout: float = 120.0, daemon: bool = False) -> subprocess.CompletedProcess:
    exe = _command(name)
    if exe is None:
        raise RabbitError(f"`{name}` is not installed: {_HOW_TO_GET_ONE}")
    # A daemon keeps inherited pipes open: capturing its output would wait for it to end.
    output = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL} if daemon else {"capture_output": True}
    result = subprocess.run(
        [exe, *args], stdin=subprocess.DEVNULL, text=True, timeout=timeout, start_new_session=daemon, **output
    )
    if result.returncode != 0:
        raise RabbitError(f"`{name} {' '.join(args)}` failed ({result.returncode}): {result.stderr or result.stdout}")
    return result


def is_running(amqp_uri: str = DEFAULT_AMQP_URI) -> bool:
    """Whether the broker's AMQP port accepts connections."""
    _, host, port = _parts(amqp_uri)
    return port_open(host, port)


def ensure_running(amqp_uri: str = DEFAULT_AMQP_URI, timeout: float = 120.0) -> None:
    """Start the local broker (``rabbitmq-server -detached``) if its port is closed, and wait for it."""
    if is_running(amqp_uri):
        return
    _, host, port = _parts(amqp_uri)
    if host not in _LOCAL_HOSTS:
        raise RabbitError(f"RabbitMQ at {host}:{port} is not reachable (AMQP_URI={amqp_uri})")
    if _command("rabbitmq-server") is None:
        raise RabbitError(f"RabbitMQ is not running on {host}:{port} and `rabbitmq-server` is not installed: {_HOW_TO_GET_ONE}")
    _run("rabbitmq-server", "-detached", daemon=True)
    if not wait_until(lambda: port_open(host, port), timeout, interval=0.5):
        raise RabbitError(f"started `rabbitmq-server -detached`, but {host}:{port} did not open within {timeout:.0f}s")


def _api(method: str, path: str, amqp_uri: str = DEFAULT_AMQP_URI, **kwargs) -> requests.Response:
    return requests.request(
        method, management_url(amqp_uri) + "/api" + path, auth=_credentials(amqp_uri), timeout=10, **kwargs
    )


def management_available(amqp_uri: str = DEFAULT_AMQP_URI) -> bool:
    try:
        return _api("GET", "/overview", amqp_uri).status_code == 200
    except requests.RequestException:
        return False


def ensure_management(amqp_uri: str = DEFAULT_AMQP_URI, timeout: float = 90.0) -> None:
    """Enable ``rabbitmq_management`` if its API does not answer, and wait until it does."""
    if management_available(amqp_uri):
        return
    _run("rabbitmq-plugins", "enable", "rabbitmq_management")
    if not wait_until(lambda: management_available(amqp_uri), timeout, interval=0.5):
        raise RabbitError(
            f"enabled rabbitmq_management, but {management_url(amqp_uri)}/api did not answer within {timeout:.0f}s"
        )


def create_vhost(name: str, amqp_uri: str = DEFAULT_AMQP_URI) -> None:
    """Create vhost ``name`` and give the URI's user (guest) full permissions on it."""
    user, _ = _credentials(amqp_uri)
    vhost = quote(name, safe="")
    try:
        _api("PUT", f"/vhosts/{vhost}", amqp_uri).raise_for_status()
        _api(
            "PUT",
            f"/permissions/{vhost}/{quote(user, safe='')}",
            amqp_uri,
            json={"configure": ".*", "write": ".*", "read": ".*"},
        ).raise_for_status()
    except requests.ConnectionError:
        _run("rabbitmqctl", "add_vhost", name)
        _run("rabbitmqctl", "set_permissions", "-p", name, user, ".*", ".*", ".*")


def delete_vhost(name: str, amqp_uri: str = DEFAULT_AMQP_URI) -> None:
    """Delete vhost ``name`` with everything in it; a missing vhost is fine."""
    try:
        response = _api("DELETE", f"/vhosts/{quote(name, safe='')}", amqp_uri)
        if response.status_code != 404:
            response.raise_for_status()
    except requests.ConnectionError:
        if name in list_vhosts(amqp_uri):
            _run("rabbitmqctl", "delete_vhost", name)


def list_vhosts(amqp_uri: str = DEFAULT_AMQP_URI) -> list[str]:
    try:
        response = _api("GET", "/vhosts", amqp_uri)
        response.raise_for_status()
        return [v["name"] for v in response.json()]
    except requests.ConnectionError:
        out = _run("rabbitmqctl", "--quiet", "list_vhosts", "name").stdout
        return [line.strip() for line in out.splitlines() if line.strip() and line.strip() != "name"]


# --- external subscribers' accounts (Kubernetes) ---------------------------------------------

SUBSCRIBER_CLUSTER = "asn-rabbitmq"
# On the Permission: the exchanges granted, from which its regexes are computed (tests/deploy
# recomputes them with shared.broker_security.subscriber_permissions and compares).
GRANTED_ANNOTATION = "asn-bangkom/granted-exchanges"
# Secrets the Topology Operator reads must carry this label (newer operators refuse others).
TOPOLOGY_OPERATOR_LABEL = "rabbitmq.com/topology-operator"


def granted_exchanges(services: Iterable[str]) -> list[str]:
    """What a subscriber granted ``services`` may read: each one's ``<service>.events`` (live
    events) and ``<service>.replay`` (a replay of its event log into the subscriber's queue,
    bound there with the queue's own name)."""
    unknown = sorted(set(services) - set(SERVICES))
    if unknown:
        raise ValueError(f"unknown service(s) {unknown}; expected some of {', '.join(SERVICES)}")
    return [f"{service}.{kind}" for service in sorted(set(services)) for kind in ("events", "replay")]


def subscriber_secret(system: str) -> str:
    return f"{broker_security.SUBSCRIBER_PREFIX}{system}-rabbitmq"


def subscriber_manifests(system: str, services: Iterable[str], vhost: str = "/",
                         cluster: str = SUBSCRIBER_CLUSTER) -> list[dict]:
    """The ``User`` and ``Permission`` of external subscriber ``system`` (user ``ext-<system>``)."""
    exchanges = granted_exchanges(services)
    user = f"{broker_security.SUBSCRIBER_PREFIX}{system}"
    permissions = broker_security.subscriber_permissions(system, exchanges)  # validates the name
    reference = {"name": cluster}
    return [
        {"apiVersion": "rabbitmq.com/v1beta1", "kind": "User",
         "metadata": {"name": user, "labels": {"asn-bangkom/subscriber": system}},
         "spec": {"rabbitmqClusterReference": dict(reference),
                  "importCredentialsSecret": {"name": subscriber_secret(system)}}},
        {"apiVersion": "rabbitmq.com/v1beta1", "kind": "Permission",
         "metadata": {"name": user, "labels": {"asn-bangkom/subscriber": system},
                      "annotations": {GRANTED_ANNOTATION: ",".join(exchanges)}},
         "spec": {"vhost": vhost, "userReference": {"name": user},
                  "permissions": {k: permissions[k] for k in ("configure", "write", "read")},
                  "rabbitmqClusterReference": dict(reference)}},
    ]


def subscriber_yaml(system: str, services: Iterable[str], vhost: str = "/") -> str:
    import yaml

    services = sorted(set(services))
    grants = " ".join(f"--grant {s}" for s in services)
    header = (
        f"# External subscriber {system} (docs/subscribing.md): broker user {broker_security.SUBSCRIBER_PREFIX}{system},\n"
        f"# its own queues ext.{system}.*, read-only on the exchanges in {GRANTED_ANNOTATION}.\n"
        f"# Generated by: python -m deploy.rabbit subscriber {system} {grants}\n"
        f"# Credentials: the Secret {subscriber_secret(system)} (keys username = "
        f"{broker_security.SUBSCRIBER_PREFIX}{system}, password;\n"
        f"# label {TOPOLOGY_OPERATOR_LABEL}=true), created out of band: docs/deploy.md, \"Secrets\".\n")
    return header + yaml.safe_dump_all(subscriber_manifests(system, services, vhost), sort_keys=False,
                                       explicit_start=False, width=200)


def definitions(vhost: str = "/") -> dict:
    """deploy/rabbitmq/definitions.json: the services' users and permissions, exchanges, queues
    and bindings, all derived from the services' subscription tables."""
    import services
    from shared import broker_security, topology

    services.load_subscriptions()
    return {**broker_security.definitions(vhost), **topology.definitions(vhost)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.rabbit", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("definitions", help="print deploy/rabbitmq/definitions.json (users, permissions, topology)")
    ensure = sub.add_parser("ensure", help="start the local broker if it is down")
    ensure.add_argument("--management", action="store_true", help="also enable the management API (port 15672)")
    subscriber = sub.add_parser("subscriber", help="print an external subscriber's User and Permission (Kubernetes)")
    subscriber.add_argument("system", help="the subscriber's short name, e.g. bkd-sumbar (user ext-<system>)")
    subscriber.add_argument("--grant", action="append", required=True, choices=SERVICES, metavar="SERVICE",
                            help="a service whose events it may read (repeatable): <service>.events and .replay")
    subscriber.add_argument("--vhost", default="/")
    args = parser.parse_args(argv)
    if args.command == "definitions":
        import json

        print(json.dumps(definitions(), indent=2))
        return 0
    if args.command == "subscriber":
        try:
            sys.stdout.write(subscriber_yaml(args.system, args.grant, args.vhost))
        except ValueError as exc:
            parser.exit(2, f"error: {exc}\n")
        return 0
    amqp_uri = os.environ.get("AMQP_URI") or DEFAULT_AMQP_URI
    started = time.monotonic()
    try:
        ensure_running(amqp_uri)
        if args.management:
            ensure_management(amqp_uri)
    except RabbitError as exc:
        parser.exit(1, f"error: {exc}\n")
    _, host, port = _parts(amqp_uri)
    extra = f", management API at {management_url(amqp_uri)}" if args.management else ""
    print(f"RabbitMQ is up at {host}:{port}{extra} ({time.monotonic() - started:.1f}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
