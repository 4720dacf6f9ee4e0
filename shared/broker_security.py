"""Who may do what on the broker: one RabbitMQ user per service, read-only users for
external subscribers (RabbitMQ permissions are three regexes per user and vhost).

A service S may
  configure  its own exchanges and queues (S.*) and the exchanges of the events it consumes
             (``P.events``, ``P.replay``: declaring an existing exchange needs configure);
  write      only its own exchanges and queues (S.*): S.events, S.replay, its retry/requeue/
             dead-letter plumbing. Not another service's exchange, not nameko RPC, not the
             default exchange (which would reach any queue by name);
  read       its own queues and the exchanges it binds to.
``P.private`` (private events: contact data, ADR 0080) is configured and read only by a
service that subscribes to one of P's private events; P writes it as one of its own.
So notification's credentials cannot publish to ``enrollment.events``: only enrollment's can.
And since every publisher sets the AMQP ``user_id`` (RabbitMQ refuses one that is not the
connection's user), a consumer knows who published an event (``publisher_of``) and
dead-letters one whose publisher is not the user of the service the event claims to come
from (shared.handler).

An external subscriber ``ext-<system>`` configures and reads only its own ``ext.<system>.*``
queues and reads only the exchanges it was granted, which can only be a service's
``.events`` (and its ``.replay``), never ``.private``; it writes nothing of the platform's
(docs/subscribing.md).
"""
from __future__ import annotations

import re
from typing import Iterable

from shared.config import SERVICES, env

USER_PREFIX = "asn-"
SUBSCRIBER_PREFIX = "ext-"
RPC_EXCHANGE = "nameko-rpc"
DEFAULT_EXCHANGE = "amq.default"
# Stamped by a consumer when it moves a message to its own retry/dead-letter plumbing: the
# verified publisher of the original delivery (the republished copy carries the consumer's
# own user_id, so the original one would otherwise be lost).
PUBLISHER_HEADER = "x-verified-publisher"


def service_user(service: str, prefix: str = USER_PREFIX) -> str:
    return f"{prefix}{service}"


def _alternatives(patterns: list[str]) -> str:
    return "^(" + "|".join(patterns) + ")$"


def service_permissions(service: str, sources: list[str], private_sources: Iterable[str] = ()) -> dict[str, str]:
    """The configure/write/read regexes of ``service``, consuming public events of ``sources``
    and private events of ``private_sources`` (through ``<source>.private``)."""
    own = [rf"{re.escape(service)}\..*"]
    consumed = [rf"{re.escape(source)}\.(events|replay)" for source in sorted(set(sources))]
    consumed += [rf"{re.escape(source)}\.private" for source in sorted(set(private_sources) - {service})]
    return {"configure": _alternatives(own + consumed),
            "write": _alternatives(own),
            "read": _alternatives(own + consumed)}


def subscriber_permissions(system: str, exchanges: list[str]) -> dict[str, str]:
    """An external subscriber: its own ``ext.<system>.*`` queues, read-only on ``exchanges`` (and
    their producers' replay exchanges)."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{1,40}", system):
        raise ValueError("a subscriber name is 2-41 lowercase letters, digits or '-'")
    public = {f"{service}.{kind}" for service in SERVICES for kind in ("events", "replay")}
    refused = sorted(set(exchanges) - public)
    if refused:
        # above all never ``<service>.private``: it carries personal data (ADR 0080)
        raise ValueError(f"an external subscriber may read only a service's .events (and its .replay), "
                         f"not {', '.join(refused)}")
    own = rf"ext\.{re.escape(system)}\..*"
    # a granted ``P.events`` brings ``P.replay``: binding there lets a lost queue be refilled
    replays = [e[: -len(".events")] + ".replay" for e in exchanges if e.endswith(".events")]
    return {"configure": f"^{own}$", "write": f"^{own}$",
            "read": _alternatives([own] + [re.escape(e) for e in sorted(set(exchanges) | set(replays))])}


def user_of(amqp_uri: str) -> str:
    """The broker user an AMQP URI connects as (guest when it names none, as kombu does)."""
    from urllib.parse import unquote, urlsplit

    return unquote(urlsplit(amqp_uri).username or "guest")


def expected_publisher(source: str, own_service: str, own_user: str) -> str:
    """The broker user that publishes ``source``'s events, as a consumer expects it.

    ``<SOURCE>_BROKER_USER`` says it outright. Otherwise the consumer's own user tells the
    naming: ``asn-notification`` means ``asn-enrollment`` publishes enrollment's events; a
    user that is not named after the service (``guest`` in ``make run``) means one identity
    for the whole platform, which then publishes everything.
    """
    configured = env(f"{source.upper()}_BROKER_USER")
    if configured:
        return configured
    if own_user.endswith(own_service) and own_user != own_service:
        return own_user[: -len(own_service)] + source
    if own_user == own_service:
        return source
    return own_user


def operator_users() -> frozenset[str]:
    """Broker users of the operations team (``BROKER_OPERATOR_USERS``): their replays of dead
    letters keep the publisher the service stamped (``asn dlq replay``)."""
    return frozenset(u.strip() for u in (env("BROKER_OPERATOR_USERS") or "").split(",") if u.strip())


def publisher_of(properties: dict, headers: dict | None, own_user: str, relays: frozenset[str] = frozenset()) -> str | None:
    """Who published a delivered message, as far as the broker vouches for it.

    ``user_id`` is checked by RabbitMQ against the connection's user. A copy the consumer
    itself (or an operator in ``relays``) put back into the queue carries the publisher of the
    original delivery in ``PUBLISHER_HEADER``; only those users may speak for another.
    """
    user = properties.get("user_id")
    if user is None:
        return None
    if isinstance(user, bytes):
        user = user.decode("utf-8", "replace")
    stamped = (headers or {}).get(PUBLISHER_HEADER)
    if stamped and (user == own_user or user in relays):
        return stamped.decode() if isinstance(stamped, bytes) else str(stamped)
    return user


def service_sources() -> dict[str, list[str]]:
    """For each service, the services whose public events it consumes (from its subscription
    table; their private events: ``service_private_sources``)."""
    from shared import topology  # one way only: topology never imports this module

    return {service: sorted({source for source, event in topology.subscriptions_of(service)
                             if not topology.is_private(source, event)}) for service in SERVICES}


def service_private_sources() -> dict[str, list[str]]:
    """For each service, the services whose private events it consumes (through ``<source>.private``)."""
    from shared import topology

    return {service: sorted({source for source, event in topology.subscriptions_of(service)
                             if topology.is_private(source, event)}) for service in SERVICES}


def definitions(vhost: str = "/") -> dict:
    """``users`` and ``permissions`` sections for deploy/rabbitmq/definitions.json.

    Users carry no password: each is set from a Secret (``rabbitmqctl change_password``, or
    the launcher locally), never committed."""
    sources, private = service_sources(), service_private_sources()
    users = [{"name": service_user(s), "password_hash": "", "hashing_algorithm": "rabbit_password_hashing_sha256",
              "tags": []} for s in SERVICES]
    permissions = [{"user": service_user(s), "vhost": vhost, **service_permissions(s, sources[s], private[s])}
                   for s in SERVICES]
    return {"users": users, "permissions": permissions}


def apply(management_url: str, admin: tuple[str, str], vhost: str, passwords: dict[str, str],
          prefix: str = USER_PREFIX) -> dict[str, str]:
    """Create or update each service's user (password from ``passwords``) with its permissions
    on ``vhost``, through the management API; returns {service: user}."""
    import requests
    from urllib.parse import quote

    sources, private = service_sources(), service_private_sources()
    users = {}
    for service in SERVICES:
        user = service_user(service, prefix)
        base = management_url.rstrip("/") + "/api"
        response = requests.put(f"{base}/users/{quote(user, safe='')}", auth=admin, timeout=10,
                                json={"password": passwords[service], "tags": ""})
        response.raise_for_status()
        response = requests.put(f"{base}/permissions/{quote(vhost, safe='')}/{quote(user, safe='')}", auth=admin,
                                timeout=10, json=service_permissions(service, sources[service], private[service]))
        response.raise_for_status()
        users[service] = user
    return users
