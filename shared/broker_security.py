"""Who may do what on the broker: one RabbitMQ user per service, read-only users for
external subscribers (RabbitMQ permissions are three regexes per user and vhost).

A service S may
  configure  its own exchanges and queues (S.*), its RPC queues, and the exchanges of the
             events it consumes (declaring an existing exchange needs configure);
  write      S.events (its events), its retry/requeue/dead-letter plumbing and queues (S.*),
             nameko RPC (nameko-rpc, its reply queues) and the default exchange, which the
             replay of its event log into one queue uses (see docs/security.md);
  read       its own queues and the exchanges it binds to: the events it consumes and RPC.
So notification's credentials cannot publish to ``enrollment.events``: only enrollment's can.

An external subscriber ``ext-<system>`` configures and reads only its own ``ext.<system>.*``
queues and reads only the exchanges it was granted; it writes nothing of the platform's
(docs/subscribing.md).
"""
from __future__ import annotations

import re

from shared.config import SERVICES

USER_PREFIX = "asn-"
SUBSCRIBER_PREFIX = "ext-"
RPC_EXCHANGE = "nameko-rpc"
DEFAULT_EXCHANGE = "amq.default"


def service_user(service: str, prefix: str = USER_PREFIX) -> str:
    return f"{prefix}{service}"


def _alternatives(patterns: list[str]) -> str:
    return "^(" + "|".join(patterns) + ")$"


def service_permissions(service: str, sources: list[str]) -> dict[str, str]:
    """The configure/write/read regexes of ``service``, consuming events of ``sources``."""
    own = [rf"{re.escape(service)}\..*", rf"rpc-{re.escape(service)}", rf"rpc\.reply-{re.escape(service)}-.*"]
    consumed = [rf"{re.escape(source)}\.events" for source in sorted(set(sources))]
    rpc = [re.escape(RPC_EXCHANGE)]
    return {"configure": _alternatives(own + rpc + consumed),
            "write": _alternatives(own + rpc + [re.escape(DEFAULT_EXCHANGE)]),
            "read": _alternatives(own + rpc + consumed)}


def subscriber_permissions(system: str, exchanges: list[str]) -> dict[str, str]:
    """An external subscriber: its own ``ext.<system>.*`` queues, read-only on ``exchanges``."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{1,40}", system):
        raise ValueError("a subscriber name is 2-41 lowercase letters, digits or '-'")
    own = rf"ext\.{re.escape(system)}\..*"
    return {"configure": f"^{own}$", "write": f"^{own}$",
            "read": _alternatives([own] + [re.escape(e) for e in sorted(exchanges)])}


def service_sources() -> dict[str, list[str]]:
    """For each service, the services whose events it consumes (from its reliable handlers)."""
    from shared.topology import subscriptions_of

    return {service: sorted({source for source, _ in subscriptions_of(service)}) for service in SERVICES}


def definitions(vhost: str = "/") -> dict:
    """``users`` and ``permissions`` sections for deploy/rabbitmq/definitions.json.

    Users carry no password: each is set from a Secret (``rabbitmqctl change_password``, or
    the launcher locally), never committed."""
    sources = service_sources()
    users = [{"name": service_user(s), "password_hash": "", "hashing_algorithm": "rabbit_password_hashing_sha256",
              "tags": []} for s in SERVICES]
    permissions = [{"user": service_user(s), "vhost": vhost, **service_permissions(s, sources[s])}
                   for s in SERVICES]
    return {"users": users, "permissions": permissions}


def apply(management_url: str, admin: tuple[str, str], vhost: str, passwords: dict[str, str],
          prefix: str = USER_PREFIX) -> dict[str, str]:
    """Create or update each service's user (password from ``passwords``) with its permissions
    on ``vhost``, through the management API; returns {service: user}."""
    import requests
    from urllib.parse import quote

    sources = service_sources()
    users = {}
    for service in SERVICES:
        user = service_user(service, prefix)
        base = management_url.rstrip("/") + "/api"
        response = requests.put(f"{base}/users/{quote(user, safe='')}", auth=admin, timeout=10,
                                json={"password": passwords[service], "tags": ""})
        response.raise_for_status()
        response = requests.put(f"{base}/permissions/{quote(vhost, safe='')}/{quote(user, safe='')}", auth=admin,
                                timeout=10, json=service_permissions(service, sources[service]))
        response.raise_for_status()
        users[service] = user
    return users
