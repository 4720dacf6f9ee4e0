"""The notification service: nameko entrypoints only, each handing the request or event to
a use case (``usecases.py``)."""
from __future__ import annotations

from services.notification import dependencies, routes, subscriptions, usecases
from services.notification import store as notification_store
from shared.auth import MEMBER, STAFF, principal_of
from shared.handler import reliable_handler
from shared.http import api, json_body
from shared.service_base import ServiceBase
from shared.store import Mongo


class NotificationService(ServiceBase):
    name = "notification"
    store = Mongo(indexes=notification_store.create_indexes)
    runtime = dependencies.runtime
    deliveries = dependencies.deliveries
    digests = dependencies.digests
    openapi = routes.openapi

    # -- events: each one becomes messages and deliveries ------------------------------------
    @reliable_handler(subscriptions.ENROLLMENT_ENROLLED)
    def on_enrolled(self, event):
        usecases.notify(self.store, self.runtime, self.deliveries, event)

    @reliable_handler(subscriptions.ENROLLMENT_WAITLISTED)
    def on_waitlisted(self, event):
        usecases.notify(self.store, self.runtime, self.deliveries, event)

    @reliable_handler(subscriptions.ENROLLMENT_PROGRAMME_UPDATED)
    def on_programme_updated(self, event):
        usecases.notify(self.store, self.runtime, self.deliveries, event)

    @reliable_handler(subscriptions.ENROLLMENT_CANCELLED)
    def on_cancelled(self, event):
        usecases.notify(self.store, self.runtime, self.deliveries, event)

    @reliable_handler(subscriptions.ENROLLMENT_COMPLETED)
    def on_completed(self, event):
        usecases.notify(self.store, self.runtime, self.deliveries, event)

    @reliable_handler(subscriptions.CERTIFICATION_CERTIFIED)
    def on_certified(self, event):
        usecases.notify(self.store, self.runtime, self.deliveries, event)

    @reliable_handler(subscriptions.CERTIFICATION_REVOKED)
    def on_revoked(self, event):
        usecases.notify(self.store, self.runtime, self.deliveries, event)

    @reliable_handler(subscriptions.CERTIFICATION_EXPIRING)
    def on_expiring(self, event):
        usecases.notify(self.store, self.runtime, self.deliveries, event)

    @reliable_handler(subscriptions.REPORTING_SHORTFALL_DETECTED)
    def on_shortfall_detected(self, event):
        usecases.notify(self.store, self.runtime, self.deliveries, event)

    # -- the roster: who an ASN is and where they work, and (privately) how to reach them --------
    @reliable_handler(subscriptions.ENROLLMENT_ASN_REGISTERED)
    def on_asn_registered(self, event):
        usecases.record_roster(self.store, self.runtime, event)

    @reliable_handler(subscriptions.ENROLLMENT_ASN_UPDATED)
    def on_asn_updated(self, event):
        usecases.record_roster(self.store, self.runtime, event)

    @reliable_handler(subscriptions.ENROLLMENT_ASN_LEFT)
    def on_asn_left(self, event):
        usecases.record_roster(self.store, self.runtime, event)

    @reliable_handler(subscriptions.ENROLLMENT_ASN_CONTACT)
    def on_asn_contact(self, event):
        usecases.record_contact(self.store, self.runtime, event)

    # -- supervisor approval (izin atasan) and acting supervisors (Plt/Plh) ----------------------
    @reliable_handler(subscriptions.ENROLLMENT_APPROVAL_REQUESTED)
    def on_approval_requested(self, event):
        usecases.approval(self.store, self.runtime, self.deliveries, event)

    @reliable_handler(subscriptions.ENROLLMENT_APPROVAL_LINK)
    def on_approval_link(self, event):
        usecases.approval(self.store, self.runtime, self.deliveries, event)

    @reliable_handler(subscriptions.ENROLLMENT_APPROVAL_REMINDED)
    def on_approval_reminded(self, event):
        usecases.approval(self.store, self.runtime, self.deliveries, event)

    @reliable_handler(subscriptions.ENROLLMENT_APPROVAL_GRANTED)
    def on_approval_granted(self, event):
        usecases.approval(self.store, self.runtime, self.deliveries, event)

    @reliable_handler(subscriptions.ENROLLMENT_APPROVAL_DECLINED)
    def on_approval_declined(self, event):
        usecases.approval(self.store, self.runtime, self.deliveries, event)

    @reliable_handler(subscriptions.ENROLLMENT_APPROVAL_LAPSED)
    def on_approval_lapsed(self, event):
        usecases.approval(self.store, self.runtime, self.deliveries, event)

    @reliable_handler(subscriptions.ENROLLMENT_ACTING_SUPERVISOR_ASSIGNED)
    def on_acting_supervisor_assigned(self, event):
        usecases.approval(self.store, self.runtime, self.deliveries, event)

    @reliable_handler(subscriptions.ENROLLMENT_ACTING_SUPERVISOR_REVOKED)
    def on_acting_supervisor_revoked(self, event):
        usecases.approval(self.store, self.runtime, self.deliveries, event)

    # -- recipients and agency contacts -------------------------------------------------------
    @api("PUT", "/recipients/<string:nip>", auth=MEMBER)
    def put_recipient(self, request, nip):
        return usecases.put_recipient(self.store, self.runtime, principal_of(request), nip, json_body(request))

    @api("GET", "/recipients/<string:nip>", auth=MEMBER)
    def get_recipient(self, request, nip):
        return usecases.get_recipient(self.store, principal_of(request), nip)

    @api("POST", "/recipients/bulk", max_body=4 * 1024 * 1024, auth=STAFF)
    def bulk_recipients(self, request):
        return usecases.put_recipients_csv(self.store, self.runtime, principal_of(request), request.get_data())

    @api("PUT", "/agencies/<string:code>/contact", auth=STAFF)
    def put_agency_contact(self, request, code):
        return usecases.put_agency_contact(self.store, self.runtime, principal_of(request), code,
                                           json_body(request))

    @api("GET", "/agencies/<string:code>/contact", auth=STAFF)
    def get_agency_contact(self, request, code):
        return usecases.get_agency_contact(self.store, principal_of(request), code)

    # -- the inbox and the delivery log ---------------------------------------------------------
    @api("GET", "/inbox/<string:nip>", auth=MEMBER)
    def get_inbox(self, request, nip):
        return usecases.inbox(self.store, principal_of(request), nip, request.args.to_dict())

    @api("POST", "/inbox/<string:nip>/<string:message_id>/read", auth=MEMBER)
    def read_message(self, request, nip, message_id):
        return usecases.read_message(self.store, self.runtime, principal_of(request), nip, message_id)

    @api("GET", "/deliveries", auth=MEMBER)
    def get_deliveries(self, request):
        return usecases.deliveries(self.store, principal_of(request), request.args.to_dict())
