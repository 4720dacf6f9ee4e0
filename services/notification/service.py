"""The notification service: nameko entrypoints only; they delegate to the domain modules."""
from __future__ import annotations

from services.notification import inbox, recipients
from services.notification import store as notification_store
from services.notification.schemas import (AgencyContactSchema, AgencyContactView, BulkResult, DeliveriesPage,
                                            DeliveriesQuery, InboxPage, InboxQuery, ReadResult, RecipientSchema,
                                            RecipientView)
from services.notification.worker import Notifications
from shared import nip as nip_rules
from shared.handler import reliable_handler
from shared.http import api, json_body
from shared.openapi import OpenApi
from shared.service_base import ServiceBase
from shared.store import Mongo

openapi = OpenApi("ASN notification service", description=(
    "Recipients and their preferences, the in-app inbox and the delivery log. Messages are caused by "
    "public events (enrollment, certification, reporting) and sent by email, webhook and inbox."))
_NIP = {404: "not found", 422: "invalid NIP or fields"}
openapi.route("PUT", "/recipients/{nip}", "Register or replace an ASN's contact data and preferences",
              body=RecipientSchema, response=RecipientView, responses=_NIP, tags=["recipients"])
openapi.route("GET", "/recipients/{nip}", "An ASN's contact data and preferences", response=RecipientView,
              responses=_NIP, tags=["recipients"])
openapi.route("POST", "/recipients/bulk", "Register recipients from a CSV (per-row results; idempotent)",
              response=BulkResult, body_content_type="text/csv", responses={422: "no nip column or unreadable CSV"},
              tags=["recipients"])
openapi.route("PUT", "/agencies/{code}/contact", "Set the operator contact of an agency (OPD)",
              body=AgencyContactSchema, response=AgencyContactView, responses={404: "unknown OPD code"},
              tags=["recipients"])
openapi.route("GET", "/agencies/{code}/contact", "The operator contact of an agency (OPD)",
              response=AgencyContactView, responses={404: "no contact"}, tags=["recipients"])
openapi.route("GET", "/inbox/{nip}", "An ASN's inbox, newest first", query=InboxQuery, response=InboxPage,
              responses=_NIP, tags=["inbox"])
openapi.route("POST", "/inbox/{nip}/{message_id}/read", "Mark an inbox message read (idempotent)",
              response=ReadResult, responses=_NIP, tags=["inbox"])
openapi.route("GET", "/deliveries", "The delivery log by NIP and/or source event, newest first",
              query=DeliveriesQuery, response=DeliveriesPage, responses={422: "invalid filter"},
              tags=["deliveries"])


class NotificationService(ServiceBase):
    name = "notification"
    store = Mongo(indexes=notification_store.create_indexes)
    notifications = Notifications()
    openapi = openapi

    # -- events -------------------------------------------------------------------------
    def _notify(self, event) -> None:
        self.store.apply_once(event, lambda tx: self.notifications.notifier.handle(tx, event))
        self.notifications.wake()

    @reliable_handler("enrollment", "enrolled")
    def on_enrolled(self, event):
        self._notify(event)

    @reliable_handler("enrollment", "waitlisted")
    def on_waitlisted(self, event):
        self._notify(event)

    @reliable_handler("enrollment", "programme_updated")
    def on_programme_updated(self, event):
        self._notify(event)

    @reliable_handler("enrollment", "cancelled")
    def on_cancelled(self, event):
        self._notify(event)

    @reliable_handler("enrollment", "completed")
    def on_completed(self, event):
        self._notify(event)

    @reliable_handler("certification", "certified")
    def on_certified(self, event):
        self._notify(event)

    @reliable_handler("certification", "revoked")
    def on_revoked(self, event):
        self._notify(event)

    @reliable_handler("certification", "expiring")
    def on_expiring(self, event):
        self._notify(event)

    @reliable_handler("reporting", "shortfall_detected")
    def on_shortfall_detected(self, event):
        self._notify(event)

    # -- recipients -----------------------------------------------------------------------
    @api("PUT", "/recipients/<string:nip>")
    def put_recipient(self, request, nip):
        outcome, record = recipients.put_recipient(self.store.db, nip, json_body(request),
                                                   self.notifications.clock())
        return (201 if outcome == "created" else 200), recipients.recipient_view(record)

    @api("GET", "/recipients/<string:nip>")
    def get_recipient(self, request, nip):
        nip_rules.validate(nip, "auto")
        return recipients.recipient_view(recipients.get_recipient(self.store.db, nip))

    @api("POST", "/recipients/bulk", max_body=4 * 1024 * 1024)
    def bulk_recipients(self, request):
        return recipients.bulk_put(self.store.db, request.get_data(), self.notifications.clock())

    @api("PUT", "/agencies/<string:code>/contact")
    def put_agency_contact(self, request, code):
        outcome, record = recipients.put_agency_contact(self.store.db, code, json_body(request),
                                                        self.notifications.clock())
        return (201 if outcome == "created" else 200), recipients.agency_contact_view(record)

    @api("GET", "/agencies/<string:code>/contact")
    def get_agency_contact(self, request, code):
        return recipients.agency_contact_view(recipients.get_agency_contact(self.store.db, code))

    # -- inbox ----------------------------------------------------------------------------
    @api("GET", "/inbox/<string:nip>")
    def get_inbox(self, request, nip):
        nip_rules.validate(nip, "auto")
        query = InboxQuery().load(request.args.to_dict())
        return notification_store.inbox_page(self.store.db, nip, unread_only=query["unread"],
                                             limit=query["limit"], cursor=query["cursor"])

    @api("POST", "/inbox/<string:nip>/<string:message_id>/read")
    def read_message(self, request, nip, message_id):
        return inbox.mark_read(self.store.db, nip, message_id, self.notifications.clock())

    # -- delivery log -----------------------------------------------------------------------
    @api("GET", "/deliveries")
    def get_deliveries(self, request):
        query = DeliveriesQuery().load(request.args.to_dict())
        return notification_store.deliveries_page(self.store.db, **query)
