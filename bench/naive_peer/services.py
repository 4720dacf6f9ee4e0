"""The four services of the naive peer (see the package doc): stock nameko wiring around the
platform's own domain code. Run one with
``python -m services <service> --module bench.naive_peer.services``."""
from __future__ import annotations

import json

from nameko.events import EventDispatcher, event_handler
from nameko.extensions import DependencyProvider
from nameko.web.handlers import http

from bench.common import event_of
from services.certification import commands as certification_commands
from services.certification import dependencies as certification_dependencies
from services.certification import store as certification_store
from services.enrollment import dependencies as enrollment_dependencies
from services.enrollment import store as enrollment_store
from services.enrollment import usecases as enrollment
from services.enrollment.adapters.bulk_files import ndjson
from services.enrollment.adapters.web import BytesUpload
from services.enrollment.domain import Actor
from services.notification import commands as notification_commands
from services.notification import config as notification_config
from services.notification import domain as notification_domain
from services.notification import store as notification_store
from services.notification.adapters import recipients_csv
from services.notification.adapters.channels import PermanentFailure, SmtpChannel, TransientFailure
from services.notification.commands import emit_delivered, emit_failed
from services.notification.store import DELIVERIES, MESSAGES, RECIPIENTS
from services.reporting import config as reporting_config
from services.reporting import usecases as reporting_usecases
from services.reporting import store as reporting_store
from shared.config import settings_of
from shared.events import registry
from shared.http import _default
from shared.runtime import clock_of
from bench.naive_peer.store import NaiveMongo, NaiveStore

REPORTING_CONFIG = reporting_config.load()
# The naive peer has no authentication: it acts as an admin, the only role that may register
# new participants (enrollment, issue 17).
ADMIN = Actor(role="admin", subject="naive-peer")


def _json(status: int, payload) -> tuple:
    return status, {"Content-Type": "application/json"}, json.dumps(payload, default=_default)


class NaiveBase:
    dispatch = EventDispatcher()

    @http("GET", "/health/ready")
    def health_ready(self, request):
        return _json(200, {"status": "ready", "service": self.name})

    def publish(self, store: NaiveStore) -> None:
        """After the writes: the stock way (an event is lost if the process dies before this)."""
        for event in store.take_events():
            self.dispatch(registry.by_type(event["type"]).name, event)


class EnrollmentNaive(NaiveBase):
    name = "enrollment"
    store = NaiveMongo(indexes=enrollment_store.create_indexes)
    runtime = enrollment_dependencies.runtime

    @http("POST", "/programmes")
    def create_programme(self, request):
        status, programme = enrollment.create_programme(self.store, self.runtime, ADMIN,
                                                        json.loads(request.get_data()))
        return _json(status, programme)

    @http("PATCH", "/programmes/<string:code>")
    def update_programme(self, request, code):
        programme = enrollment.update_programme(self.store, self.runtime, ADMIN, code, json.loads(request.get_data()))
        self.publish(self.store)
        return _json(200, programme)

    @http("POST", "/programmes/<string:code>/publish")
    def publish_programme(self, request, code):
        programme = enrollment.publish_programme(self.store, self.runtime, ADMIN, code)
        self.publish(self.store)
        return _json(200, programme)

    @http("POST", "/programmes/<string:code>/enrolments/bulk")
    def bulk_enrol(self, request, code):
        results = list(enrollment.bulk_enrol(self.store, self.runtime, ADMIN, code, BytesUpload(request.get_data())))
        self.publish(self.store)
        return 200, {"Content-Type": "application/x-ndjson"}, b"".join(ndjson(results)).decode()

    @http("POST", "/enrolments/<string:enrolment_id>/completion")
    def complete(self, request, enrolment_id):
        enrolment = enrollment.complete(self.store, self.runtime, ADMIN, enrolment_id, json.loads(request.get_data()))
        self.publish(self.store)
        return _json(200, enrolment)


class CertificationNaive(NaiveBase):
    name = "certification"
    store = NaiveMongo(indexes=certification_store.create_indexes)
    runtime = certification_dependencies.runtime

    @event_handler("enrollment", "completed")
    def on_completed(self, payload):
        event = event_of(payload)
        certification_commands.prepare_issue(self.store.db, event.data)
        self.store.transaction(lambda tx: certification_commands.issue_certificate(
            tx, event.data, self.runtime.config, self.runtime.now()))
        self.publish(self.store)


class NaiveNotifier(DependencyProvider):
    def setup(self):
        settings = settings_of(self.container)
        self.config = notification_config.load(settings)
        self.clock = clock_of(settings)
        self.smtp = SmtpChannel(self.config)

    def get_dependency(self, worker_ctx):
        return self


class NotificationNaive(NaiveBase):
    name = "notification"
    store = NaiveMongo(indexes=notification_store.create_indexes)
    notifications = NaiveNotifier()

    @http("POST", "/recipients/bulk")
    def bulk_recipients(self, request):
        return _json(200, notification_commands.register_recipients(
            self.store.db, recipients_csv.read_rows(request.get_data()), self.notifications.clock()))

    @event_handler("enrollment", "enrolled")
    def on_enrolled(self, payload):
        self._notify(payload)

    @event_handler("enrollment", "completed")
    def on_completed(self, payload):
        self._notify(payload)

    @event_handler("certification", "certified")
    def on_certified(self, payload):
        self._notify(payload)

    def _notify(self, payload) -> None:
        event = event_of(payload)
        store = self.store
        applied, created = store.apply_once(event, lambda tx: notification_commands.apply_event(
            tx, event, self.notifications.config, self.notifications.clock()))
        if applied and created:
            now = self.notifications.clock()
            # Send inside the handler, as a plain nameko service would.
            for delivery in list(store.db[DELIVERIES].find({"message_id": {"$in": created}, "status": "pending",
                                                            "channel": "email", "next_attempt_at": {"$lte": now}})):
                self._send(store, delivery, now)
        self.publish(store)

    def _send(self, store: NaiveStore, delivery: dict, now) -> None:
        message = store.db[MESSAGES].find_one({"_id": delivery["message_id"]})
        contact = store.db[RECIPIENTS].find_one({"_id": delivery["nip"]})
        address = notification_domain.address_for("email", contact)
        status = "delivered"
        try:
            if address is None:
                raise PermanentFailure("no email address")
            detail = self.notifications.smtp.send(delivery, message, address, contact.get("name"), now)
        except (TransientFailure, PermanentFailure) as exc:
            status, detail = "failed", str(exc)
        store.db[DELIVERIES].update_one({"_id": delivery["_id"]}, {
            "$set": {"status": status, "attempts": 1, "updated_at": now, "next_attempt_at": None,
                     "delivered_at": now if status == "delivered" else None,
                     "last_error": None if status == "delivered" else detail},
            "$push": {"history": {"at": now, "outcome": status, "detail": detail[:500]}}, "$inc": {"version": 1}})
        if status == "delivered":
            store.transaction(lambda tx: emit_delivered(tx, delivery, now))
        else:
            store.transaction(lambda tx: emit_failed(tx, delivery, detail, 1, now))


class ReportingNaive(NaiveBase):
    name = "reporting"
    store = NaiveMongo(indexes=reporting_store.create_indexes)

    def _project(self, payload) -> None:
        reporting_usecases.apply_event(self.store, event_of(payload), REPORTING_CONFIG, fold_counters=False)

    @event_handler("enrollment", "programme_published")
    def on_programme_published(self, payload):
        self._project(payload)

    @event_handler("enrollment", "enrolled")
    def on_enrolled(self, payload):
        self._project(payload)

    @event_handler("enrollment", "completed")
    def on_completed(self, payload):
        self._project(payload)

    @event_handler("certification", "certified")
    def on_certified(self, payload):
        self._project(payload)


# The event-handler queues each service consumes from (declared by nameko when it starts).
QUEUES = {
    cls.name: [f"evt-{ep.source_service}-{ep.event_type}--{cls.name}.{attr}"
               for attr in dir(cls) for ep in getattr(getattr(cls, attr), "nameko_entrypoints", ())
               if hasattr(ep, "event_type")]
    for cls in (EnrollmentNaive, CertificationNaive, NotificationNaive, ReportingNaive)
}
