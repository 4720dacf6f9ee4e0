"""The notification service: nameko entrypoints only; they delegate to the domain modules."""
from __future__ import annotations

from services.notification import access, inbox, recipients
from services.notification import store as notification_store
from services.notification.schemas import (AgencyContactSchema, AgencyContactView, BulkResult, DeliveriesPage,
                                            DeliveriesQuery, InboxPage, InboxQuery, ReadResult, RecipientSchema,
                                            RecipientView)
from services.notification.worker import Notifications
from shared import nip as nip_rules
from shared.auth import MEMBER, STAFF, principal_of
from shared.handler import reliable_handler
from shared.http import api, json_body
from shared.openapi import OpenApi
from shared.service_base import ServiceBase
from shared.store import Mongo

from services.notification import subscriptions

openapi = OpenApi("ASN notification service", description=(
    "Recipients and their preferences, the in-app inbox and the delivery log. Messages are caused by "
    "public events (enrollment, certification, reporting) and sent by email, webhook and inbox."))
_NIP = {404: "not found", 422: "invalid NIP or fields"}
_NOT_STAFF = {403: "an operator: the NIP is not known (from enrollment or an admin) as staff of its agency; "
                   "the same answer whether the NIP is unknown or another agency's"}
openapi.route("PUT", "/recipients/{nip}", "Register or replace an ASN's contact data and preferences "
              "(an operator: its own staff only; the agency comes from enrollment or an admin)",
              body=RecipientSchema, response=RecipientView, responses={**_NIP, **_NOT_STAFF}, tags=["recipients"])
openapi.route("GET", "/recipients/{nip}", "An ASN's contact data and preferences", response=RecipientView,
              responses=_NIP, tags=["recipients"])
openapi.route("POST", "/recipients/bulk", "Register recipients from a CSV (per-row results; idempotent; "
              "an operator's rows follow the rule of PUT /recipients/{nip}; at most 10,000 rows)",
              response=BulkResult, body_content_type="text/csv",
              responses={422: "no nip column, unreadable CSV or over 10,000 rows"},
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

    @reliable_handler(subscriptions.ENROLLMENT_ENROLLED)
    def on_enrolled(self, event):
        self._notify(event)

    @reliable_handler(subscriptions.ENROLLMENT_WAITLISTED)
    def on_waitlisted(self, event):
        self._notify(event)

    @reliable_handler(subscriptions.ENROLLMENT_PROGRAMME_UPDATED)
    def on_programme_updated(self, event):
        self._notify(event)

    @reliable_handler(subscriptions.ENROLLMENT_CANCELLED)
    def on_cancelled(self, event):
        self._notify(event)

    @reliable_handler(subscriptions.ENROLLMENT_COMPLETED)
    def on_completed(self, event):
        self._notify(event)

    @reliable_handler(subscriptions.CERTIFICATION_CERTIFIED)
    def on_certified(self, event):
        self._notify(event)

    @reliable_handler(subscriptions.CERTIFICATION_REVOKED)
    def on_revoked(self, event):
        self._notify(event)

    @reliable_handler(subscriptions.CERTIFICATION_EXPIRING)
    def on_expiring(self, event):
        self._notify(event)

    @reliable_handler(subscriptions.REPORTING_SHORTFALL_DETECTED)
    def on_shortfall_detected(self, event):
        self._notify(event)

    # -- recipients -----------------------------------------------------------------------
    @api("PUT", "/recipients/<string:nip>", auth=MEMBER)
    def put_recipient(self, request, nip):
        outcome, record = recipients.put_recipient(self.store.db, nip, json_body(request),
                                                   self.notifications.clock(),
                                                   check=access.recipient_write_check(principal_of(request)))
        return (201 if outcome == "created" else 200), recipients.recipient_view(record)

    @api("GET", "/recipients/<string:nip>", auth=MEMBER)
    def get_recipient(self, request, nip):
        nip_rules.validate(nip, "auto")
        access.require_staff(self.store.db, principal_of(request), nip, what=f"recipient {nip}")
        return recipients.recipient_view(recipients.get_recipient(self.store.db, nip))

    @api("POST", "/recipients/bulk", max_body=4 * 1024 * 1024, auth=STAFF)
    def bulk_recipients(self, request):
        return recipients.bulk_put(self.store.db, request.get_data(), self.notifications.clock(),
                                   check=access.recipient_write_check(principal_of(request)))

    @api("PUT", "/agencies/<string:code>/contact", auth=STAFF)
    def put_agency_contact(self, request, code):
        principal_of(request).require_scope(agency=code, what=f"the contact of {code.upper()}")
        outcome, record = recipients.put_agency_contact(self.store.db, code, json_body(request),
                                                        self.notifications.clock())
        return (201 if outcome == "created" else 200), recipients.agency_contact_view(record)

    @api("GET", "/agencies/<string:code>/contact", auth=STAFF)
    def get_agency_contact(self, request, code):
        principal_of(request).require_scope(agency=code, what=f"the contact of {code.upper()}")
        return recipients.agency_contact_view(recipients.get_agency_contact(self.store.db, code))

    # -- inbox ----------------------------------------------------------------------------
    def _check_inbox(self, request, nip: str) -> None:
        """The ASN themself, an admin, or the operator of the ASN's agency (access.agency_of)."""
        access.require_staff(self.store.db, principal_of(request), nip, what=f"the inbox of {nip}")

    @api("GET", "/inbox/<string:nip>", auth=MEMBER)
    def get_inbox(self, request, nip):
        nip_rules.validate(nip, "auto")
        self._check_inbox(request, nip)
        query = InboxQuery().load(request.args.to_dict())
        return notification_store.inbox_page(self.store.db, nip, unread_only=query["unread"],
                                             limit=query["limit"], cursor=query["cursor"])

    @api("POST", "/inbox/<string:nip>/<string:message_id>/read", auth=MEMBER)
    def read_message(self, request, nip, message_id):
        nip_rules.validate(nip, "auto")
        self._check_inbox(request, nip)
        return inbox.mark_read(self.store.db, nip, message_id, self.notifications.clock())

    # -- delivery log -----------------------------------------------------------------------
    @api("GET", "/deliveries", auth=MEMBER)
    def get_deliveries(self, request):
        query = DeliveriesQuery().load(request.args.to_dict())
        caller = principal_of(request)
        query["nip"] = caller.nip_filter(query["nip"])
        if caller.role == "operator":
            if query["nip"]:  # one of its staff
                self._check_inbox(request, query["nip"])
            else:  # else only what was addressed to its agency (operator summaries)
                query["agency"] = caller.agency
        return notification_store.deliveries_page(self.store.db, **query)
