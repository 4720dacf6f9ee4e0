"""The broker topology of every service, declared up front.

nameko's dispatcher and our relay publish to ``<service>.events``; a message published
before any queue is bound would vanish, so every consumer queue and binding is declared
before services start (``declare_all``), and again by each service at start-up.

Per service P: ``P.events`` (topic) and ``P.replay`` (direct): the replay of P's event log
into one queue (shared.replay) goes through ``P.replay`` with the queue's name as routing
key, so only queues bound there for it receive copies, and P needs no write access to
the default exchange (which reaches every queue by name).

Per producer P of private events (``EventDefinition.private``, ADR 0080): ``P.private``
(topic), which only the platform services that consume one of those events may read; never
an external subscriber, and never replayed.

Per consuming service S:
  S.<source>.<event>   one durable queue per handled event, bound to ``<source>.events``
                       with routing key ``<event>``, to ``<source>.replay`` and to
                       ``S.requeue`` with its own name; for a private event, to
                       ``<source>.private`` (routing key ``<event>``) and ``S.requeue`` only
  S.retry.<d>ms        delay queues (TTL d, dead-lettered to ``S.requeue``), fed through
                       a fanout exchange of the same name, keeping the original queue name
                       as routing key so the message returns to the queue it came from
  S.dlq                the dead-letter queue (via fanout exchange ``S.dlx``)
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from kombu import Connection, Exchange, Queue, binding

from shared.config import SERVICES, Settings, load
from shared.events import registry

ENTRYPOINT_ATTR = "reliable_subscription"


@dataclass(frozen=True)
class Subscription:
    """An event a service consumes: ``source``'s ``event`` (its routing key)."""

    source: str
    event: str

    def __iter__(self):  # (source, event) = subscription
        return iter((self.source, self.event))


# service -> its table (services/<name>/subscriptions.py), filled when the table is imported
_TABLES: dict[str, tuple[Subscription, ...]] = {}


def subscription_table(service: str, *subscriptions: Subscription) -> tuple[Subscription, ...]:
    """Declare the events ``service`` consumes; its handlers' decorators name entries of this
    table, and the topology (queues, bindings, broker permissions) is derived from it."""
    _TABLES[service] = tuple(subscriptions)
    return _TABLES[service]


def events_exchange(service: str) -> Exchange:
    return Exchange(f"{service}.events", "topic", durable=True)


def private_exchange(service: str) -> Exchange:
    return Exchange(f"{service}.private", "topic", durable=True)


def is_private(source: str, event: str) -> bool:
    """Whether ``source``'s ``event`` is private; an event the registry does not know (a
    test's own) is public."""
    try:
        return registry.latest(source, event).private
    except KeyError:
        return False


def has_private_events(service: str) -> bool:
    return any(d.service == service for d in registry.private_definitions())


def replay_exchange(service: str) -> Exchange:
    return Exchange(f"{service}.replay", "direct", durable=True)


def requeue_exchange(service: str) -> Exchange:
    return Exchange(f"{service}.requeue", "direct", durable=True)


def retry_exchange(service: str, delay_ms: int) -> Exchange:
    return Exchange(f"{service}.retry.{delay_ms}ms", "fanout", durable=True)


def dead_letter_exchange(service: str) -> Exchange:
    return Exchange(f"{service}.dlx", "fanout", durable=True)


def consumer_queue_name(service: str, source: str, event: str) -> str:
    return f"{service}.{source}.{event}"


def dlq_name(service: str) -> str:
    return f"{service}.dlq"


def consumer_queue(service: str, source: str, event: str) -> Queue:
    name = consumer_queue_name(service, source, event)
    if is_private(source, event):
        # contact data never passes a public exchange, and private records are never replayed
        return Queue(name, durable=True, bindings=[
            binding(private_exchange(source), routing_key=event),
            binding(requeue_exchange(service), routing_key=name),
        ])
    return Queue(name, durable=True, bindings=[
        binding(events_exchange(source), routing_key=event),
        binding(replay_exchange(source), routing_key=name),
        binding(requeue_exchange(service), routing_key=name),
    ])


def retry_queue(service: str, delay_ms: int) -> Queue:
    return Queue(f"{service}.retry.{delay_ms}ms", exchange=retry_exchange(service, delay_ms), durable=True,
                 queue_arguments={"x-message-ttl": delay_ms,
                                  "x-dead-letter-exchange": requeue_exchange(service).name})


def dead_letter_queue(service: str) -> Queue:
    return Queue(dlq_name(service), exchange=dead_letter_exchange(service), durable=True)


def subscriptions_of(service: str, module: str | None = None) -> list[tuple[str, str]]:
    """(source, event) pairs ``service`` handles: its declared table, or, for a test's own
    service class, those of the reliable handlers of the class in ``module``."""
    if module is not None:
        module_obj = importlib.import_module(module)
        classes = [obj for obj in vars(module_obj).values()
                   if isinstance(obj, type) and getattr(obj, "name", None) == service]
        return sorted({sub for cls in classes for sub in handled_by(cls)})
    if service not in _TABLES:
        raise LookupError(f"the subscription table of {service} is not loaded; import the service's "
                          f"subscriptions module first (services.load_subscriptions() loads all)")
    return sorted((s.source, s.event) for s in _TABLES[service])


def handled_by(service_cls) -> list[tuple[str, str]]:
    """(source, event) pairs of the reliable handlers of a service class."""
    subs = set()
    for attr in dir(service_cls):
        for entrypoint in getattr(getattr(service_cls, attr, None), "nameko_entrypoints", ()):
            sub = getattr(entrypoint, ENTRYPOINT_ATTR, None)
            if sub:
                subs.add(tuple(sub))
    return sorted(subs)


def service_entities(settings: Settings, subscriptions: list[tuple[str, str]]) -> list:
    """Every exchange and queue service ``settings.service`` owns or consumes from."""
    service = settings.service
    entities: list = [events_exchange(service), replay_exchange(service), requeue_exchange(service),
                      dead_letter_exchange(service), dead_letter_queue(service)]
    if has_private_events(service):
        entities.append(private_exchange(service))
    for delay in sorted(set(settings.retry_delays_ms)):
        entities += [retry_exchange(service, delay), retry_queue(service, delay)]
    for source, event in subscriptions:
        exchanges = ([private_exchange(source)] if is_private(source, event)
                     else [events_exchange(source), replay_exchange(source)])
        entities += [*exchanges, consumer_queue(service, source, event)]
    return entities


def declare(amqp_uri: str, entities: list) -> None:
    with Connection(amqp_uri, connect_timeout=5) as conn:
        channel = conn.channel()
        for entity in entities:
            entity.bind(channel).declare()  # a Queue declares its bindings too


def declare_service(settings: Settings, subscriptions: list[tuple[str, str]] | None = None) -> None:
    if subscriptions is None:
        subscriptions = subscriptions_of(settings.service)
    declare(settings.amqp_uri, service_entities(settings, subscriptions))


def declare_all(amqp_uri: str | None = None) -> None:
    """Declare the topology of all four services (run before starting any of them; their
    subscription tables must be loaded: ``services.load_subscriptions()``)."""
    for service in SERVICES:
        settings = load(service)
        if amqp_uri:
            settings = _with_amqp(settings, amqp_uri)
        declare_service(settings)


def _with_amqp(settings: Settings, amqp_uri: str) -> Settings:
    from dataclasses import replace
    return replace(settings, amqp_uri=amqp_uri)


def definitions(vhost: str = "/") -> dict:
    """The exchanges, queues and bindings of ``declare_all`` as RabbitMQ definitions
    (deploy/rabbitmq/definitions.json, with broker_security's users and permissions)."""
    exchanges, queues, bindings = {}, {}, []
    for service in SERVICES:
        settings = load(service)
        for entity in service_entities(settings, subscriptions_of(service)):
            if isinstance(entity, Exchange):
                exchanges[entity.name] = {"name": entity.name, "vhost": vhost, "type": entity.type,
                                          "durable": True, "auto_delete": False, "internal": False,
                                          "arguments": {}}
            else:
                queues[entity.name] = {"name": entity.name, "vhost": vhost, "durable": True,
                                       "auto_delete": False, "arguments": dict(entity.queue_arguments or {})}
                links = list(entity.bindings) or [binding(entity.exchange, routing_key=entity.routing_key or "")]
                for b in links:
                    bindings.append({"source": b.exchange.name, "vhost": vhost, "destination": entity.name,
                                     "destination_type": "queue", "routing_key": b.routing_key or "",
                                     "arguments": {}})
    return {"exchanges": sorted(exchanges.values(), key=lambda e: e["name"]),
            "queues": sorted(queues.values(), key=lambda q: q["name"]),
            "bindings": sorted(bindings, key=lambda b: (b["source"], b["destination"], b["routing_key"]))}
