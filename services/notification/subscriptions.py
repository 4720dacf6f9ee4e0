"""The events notification consumes: its handlers name these entries, and the broker topology
(queues, bindings, permissions) is derived from the same table."""
from __future__ import annotations

from shared.topology import Subscription, subscription_table

ENROLLMENT_ENROLLED = Subscription("enrollment", "enrolled")
ENROLLMENT_WAITLISTED = Subscription("enrollment", "waitlisted")
ENROLLMENT_PROGRAMME_UPDATED = Subscription("enrollment", "programme_updated")
ENROLLMENT_CANCELLED = Subscription("enrollment", "cancelled")
ENROLLMENT_COMPLETED = Subscription("enrollment", "completed")
CERTIFICATION_CERTIFIED = Subscription("certification", "certified")
CERTIFICATION_REVOKED = Subscription("certification", "revoked")
CERTIFICATION_EXPIRING = Subscription("certification", "expiring")
REPORTING_SHORTFALL_DETECTED = Subscription("reporting", "shortfall_detected")
# The roster (daftar ASN): public entries, and the private contact data (enrollment.private).
ENROLLMENT_ASN_REGISTERED = Subscription("enrollment", "asn_registered")
ENROLLMENT_ASN_UPDATED = Subscription("enrollment", "asn_updated")
ENROLLMENT_ASN_LEFT = Subscription("enrollment", "asn_left")
ENROLLMENT_ASN_CONTACT = Subscription("enrollment", "asn_contact")
# Supervisor approval (izin atasan) and acting supervisors (Plt/Plh); approval_link, which
# carries the signed link, is private (enrollment.private) like asn_contact.
ENROLLMENT_APPROVAL_REQUESTED = Subscription("enrollment", "approval_requested")
ENROLLMENT_APPROVAL_LINK = Subscription("enrollment", "approval_link")
ENROLLMENT_APPROVAL_REMINDED = Subscription("enrollment", "approval_reminded")
ENROLLMENT_APPROVAL_GRANTED = Subscription("enrollment", "approval_granted")
ENROLLMENT_APPROVAL_DECLINED = Subscription("enrollment", "approval_declined")
ENROLLMENT_APPROVAL_LAPSED = Subscription("enrollment", "approval_lapsed")
ENROLLMENT_ACTING_SUPERVISOR_ASSIGNED = Subscription("enrollment", "acting_supervisor_assigned")
ENROLLMENT_ACTING_SUPERVISOR_REVOKED = Subscription("enrollment", "acting_supervisor_revoked")

SUBSCRIPTIONS = subscription_table(
    "notification",
    ENROLLMENT_ENROLLED,
    ENROLLMENT_WAITLISTED,
    ENROLLMENT_PROGRAMME_UPDATED,
    ENROLLMENT_CANCELLED,
    ENROLLMENT_COMPLETED,
    CERTIFICATION_CERTIFIED,
    CERTIFICATION_REVOKED,
    CERTIFICATION_EXPIRING,
    REPORTING_SHORTFALL_DETECTED,
    ENROLLMENT_ASN_REGISTERED,
    ENROLLMENT_ASN_UPDATED,
    ENROLLMENT_ASN_LEFT,
    ENROLLMENT_ASN_CONTACT,
    ENROLLMENT_APPROVAL_REQUESTED,
    ENROLLMENT_APPROVAL_LINK,
    ENROLLMENT_APPROVAL_REMINDED,
    ENROLLMENT_APPROVAL_GRANTED,
    ENROLLMENT_APPROVAL_DECLINED,
    ENROLLMENT_APPROVAL_LAPSED,
    ENROLLMENT_ACTING_SUPERVISOR_ASSIGNED,
    ENROLLMENT_ACTING_SUPERVISOR_REVOKED,
)
