"""The reliable event handler, used instead of nameko's ``@event_handler``.

nameko's handler acknowledges a message whose handler raised, which loses it. This one:
- reads the raw body (no kombu deserialisation that could choke on a poison message),
  parses the CloudEvent and validates ``data`` against the registry's schema;
- a malformed message goes straight to ``<service>.dlq`` with its reason, and so does an
  event whose publisher (the AMQP ``user_id`` RabbitMQ vouches for) is not the broker user
  of the service the event claims to come from: a forged event (shared.broker_security);
- runs the service method with the parsed ``Event``; the method applies its effect with
  ``store.apply_once`` so a duplicate is skipped;
- on an exception republishes the message to a delay queue (TTL, dead-lettered back to
  the original queue) and acks; after ``retry_max_attempts`` it goes to the DLQ with the
  error, the attempt count and a traceback summary (the moves: shared.deadletters);
- acks only after the effect committed (or after the message was safely moved).
"""
from __future__ import annotations

import logging
import time
import traceback
from functools import partial

from amqp.exceptions import AMQPError
from eventlet.semaphore import Semaphore
from nameko.exceptions import ContainerBeingKilled
from nameko.extensions import Entrypoint
from nameko.messaging import QueueConsumer

from shared import metrics, topology
from shared.broker_security import expected_publisher, operator_users, publisher_of
from shared.config import settings_of
from shared.deadletters import ATTEMPT_HEADER, DeadLetters
from shared.events.envelope import MalformedEvent, parse

log = logging.getLogger(__name__)


class RawQueueConsumer(QueueConsumer):
    """nameko's QueueConsumer, handing over undecoded messages (poison-safe).

    Event handlers run in at most ``MAX_WORKERS`` of the container's workers (``slots``);
    the pool is larger (shared.config.RESERVED_WORKERS), so a burst of events never makes
    an HTTP request or a health probe wait for a worker. In nameko alone the two share one
    pool: under a burst the liveness probe waited up to 26 s and replicas were restarted.
    """

    def setup(self):
        super().setup()
        self.slots = Semaphore(settings_of(self.container).max_workers)

    @property
    def prefetch_count(self):
        return settings_of(self.container).max_workers

    def get_consumers(self, consumer_cls, channel):
        for provider in self._providers:
            consumer = consumer_cls(queues=[provider.queue], accept=None,
                                    on_message=partial(self._on_raw_message, provider))
            consumer.qos(prefetch_count=self.prefetch_count)
            self._consumers[provider] = consumer
        return self._consumers.values()

    def _on_raw_message(self, provider, message):
        self.handle_message(provider, message.body, message)

    # nameko catches only amqp's ConnectionError here; a broker that goes away mid-ack raises
    # a socket error (ConnectionResetError, BrokenPipeError) that ended the worker's thread and
    # killed the whole container (seen in the broker-restart fault test). The broker takes the
    # message back either way: it is redelivered and apply_once skips what was applied.
    def ack_message(self, message):
        try:
            super().ack_message(message)
        except (OSError, AMQPError) as exc:
            log.warning("ack lost with the broker connection (%s); the message will be redelivered", exc)

    def requeue_message(self, message):
        try:
            super().requeue_message(message)
        except (OSError, AMQPError) as exc:
            log.warning("requeue lost with the broker connection (%s); the broker takes it back", exc)


class ReliableEventHandler(Entrypoint):
    consumer = RawQueueConsumer()

    def __init__(self, source_service: str, event_name: str, **kwargs):
        self.source_service = source_service
        self.event_name = event_name
        # read by shared.topology to declare the queues before the service starts
        self.reliable_subscription = (source_service, event_name)
        super().__init__(**kwargs)

    def setup(self):
        self.settings = settings_of(self.container)
        service = self.container.service_name
        self.queue_name = topology.consumer_queue_name(service, self.source_service, self.event_name)
        self.queue = topology.consumer_queue(service, self.source_service, self.event_name)
        self.store_context = f"event:{self.source_service}.{self.event_name}"  # shared.metrics
        self.dead_letters = DeadLetters(self.settings.amqp_uri, service, self.settings.retry_delays_ms)
        self.own_user = self.dead_letters.user
        self.expected_publisher = expected_publisher(self.source_service, service, self.own_user)
        self.relays = operator_users()
        self.consumer.register_provider(self)

    def stop(self):
        self.consumer.unregister_provider(self)
        self.dead_letters.close()

    def handle_message(self, body, message):
        attempt = int((message.headers or {}).get(ATTEMPT_HEADER, 1))
        publisher = publisher_of(message.properties, message.headers, self.own_user, self.relays)
        try:
            event = parse(body, message.content_type)
            if (event.service, event.name) != (self.source_service, self.event_name):
                raise MalformedEvent(f"event {event.type} arrived on the queue for "
                                     f"{self.source_service}.{self.event_name}")
        except MalformedEvent as exc:
            why = exc.reason
            log.error("malformed message sent to the dead-letter queue: %s", why,
                      extra={"fields": {"queue": self.queue_name}})
            metrics.EVENTS_DEAD_LETTERED.labels("malformed", "malformed").inc()
            self._settle(lambda: self.dead_letters.dead_letter(body, message, self.queue_name, "malformed",
                                                               why, attempt, publisher=publisher), message)
            return
        if publisher != self.expected_publisher:
            # A schema-valid event is not enough: only the producing service's broker user
            # may publish its events (another service's credentials could forge them).
            reason = (f"event {event.type} was published by broker user {publisher or '(none: no user_id)'}; "
                      f"only {self.expected_publisher} publishes {self.source_service}'s events")
            log.error("event from an unauthorised publisher sent to the dead-letter queue: %s", reason,
                      extra={"fields": {"queue": self.queue_name}, "event_id": event.id})
            metrics.EVENTS_DEAD_LETTERED.labels(event.type, "unauthorised_publisher").inc()
            self._settle(lambda: self.dead_letters.dead_letter(body, message, self.queue_name,
                                                               "unauthorised_publisher", reason, attempt,
                                                               publisher=publisher), message)
            return
        context = {"correlation_id": event.correlation_id or event.id, "event_id": event.id,
                   "event_type": event.type}
        self.consumer.slots.acquire()  # blocks the consumer as a full pool would
        try:
            self.container.spawn_worker(
                self, (event,), {}, context_data=context,
                handle_result=partial(self.handle_result, message, body, event, attempt, time.monotonic(),
                                      publisher))
        except ContainerBeingKilled:
            self.consumer.slots.release()
            self.consumer.requeue_message(message)

    def handle_result(self, message, body, event, attempt, started, publisher, worker_ctx, result=None,
                      exc_info=None):
        self.consumer.slots.release()
        metrics.HANDLER_SECONDS.labels(event.type).observe(time.monotonic() - started)
        if exc_info is None:
            self.consumer.ack_message(message)
            metrics.EVENTS_CONSUMED.labels(event.type).inc()
            return result, exc_info
        error = f"{exc_info[0].__name__}: {exc_info[1]}"
        trace = "".join(traceback.format_exception(*exc_info)[-6:])
        metrics.EVENTS_FAILED.labels(event.type).inc()
        if attempt >= self.settings.retry_max_attempts:
            log.error("event %s failed %d times; moved to the dead-letter queue: %s", event.id, attempt, error,
                      extra={"event_id": event.id, "correlation_id": event.correlation_id})
            metrics.EVENTS_DEAD_LETTERED.labels(event.type, "failed").inc()
            self._settle(lambda: self.dead_letters.dead_letter(body, message, self.queue_name, "failed", error,
                                                               attempt, trace, publisher), message)
        else:
            def retry():
                delay = self.dead_letters.retry(body, message, self.queue_name, attempt, error, publisher)
                log.warning("event %s failed (attempt %d), retrying in %d ms: %s", event.id, attempt, delay,
                            error, extra={"event_id": event.id, "correlation_id": event.correlation_id})
            metrics.EVENTS_RETRIED.labels(event.type).inc()
            self._settle(retry, message)
        return result, exc_info

    def _settle(self, move, message) -> None:
        """Ack only once the message is safely elsewhere; if moving fails, requeue it."""
        try:
            move()
        except Exception as exc:  # noqa: BLE001 - the broker is unreachable: keep the message
            log.error("could not move a message (%s); requeueing it", exc)
            self.consumer.requeue_message(message)
            return
        self.consumer.ack_message(message)


def reliable_handler(subscription, event_name: str | None = None):
    """Decorate a service method as the handler of an entry of the service's subscription
    table (``@reliable_handler(subscriptions.COMPLETED)``; a test's own service may name the
    source and the event instead).

    The method is called with the parsed ``shared.events.envelope.Event``.
    """
    source, event = (subscription, event_name) if event_name is not None else tuple(subscription)
    return ReliableEventHandler.decorator(source, event)
