"""The events reporting consumes: its handlers name these entries, and the broker topology
(queues, bindings, permissions) is derived from the same table."""
from __future__ import annotations

from shared.topology import Subscription, subscription_table

ENROLLMENT_PROGRAMME_PUBLISHED = Subscription("enrollment", "programme_published")
ENROLLMENT_PROGRAMME_UPDATED = Subscription("enrollment", "programme_updated")
ENROLLMENT_PROGRAMME_CANCELLED = Subscription("enrollment", "programme_cancelled")
ENROLLMENT_ENROLLED = Subscription("enrollment", "enrolled")
ENROLLMENT_WAITLISTED = Subscription("enrollment", "waitlisted")
ENROLLMENT_CANCELLED = Subscription("enrollment", "cancelled")
ENROLLMENT_COMPLETED = Subscription("enrollment", "completed")
ENROLLMENT_ASN_REGISTERED = Subscription("enrollment", "asn_registered")
ENROLLMENT_ASN_UPDATED = Subscription("enrollment", "asn_updated")
ENROLLMENT_ASN_LEFT = Subscription("enrollment", "asn_left")
CERTIFICATION_CERTIFIED = Subscription("certification", "certified")
CERTIFICATION_REVOKED = Subscription("certification", "revoked")
CERTIFICATION_EXPIRING = Subscription("certification", "expiring")
CERTIFICATION_EXPIRED = Subscription("certification", "expired")

SUBSCRIPTIONS = subscription_table(
    "reporting",
    ENROLLMENT_PROGRAMME_PUBLISHED,
    ENROLLMENT_PROGRAMME_UPDATED,
    ENROLLMENT_PROGRAMME_CANCELLED,
    ENROLLMENT_ENROLLED,
    ENROLLMENT_WAITLISTED,
    ENROLLMENT_CANCELLED,
    ENROLLMENT_COMPLETED,
    ENROLLMENT_ASN_REGISTERED,
    ENROLLMENT_ASN_UPDATED,
    ENROLLMENT_ASN_LEFT,
    CERTIFICATION_CERTIFIED,
    CERTIFICATION_REVOKED,
    CERTIFICATION_EXPIRING,
    CERTIFICATION_EXPIRED,
)
