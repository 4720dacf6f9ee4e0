"""The events certification consumes: its handlers name these entries, and the broker topology
(queues, bindings, permissions) is derived from the same table."""
from __future__ import annotations

from shared.topology import Subscription, subscription_table

ENROLLMENT_COMPLETED = Subscription("enrollment", "completed")

SUBSCRIPTIONS = subscription_table("certification", ENROLLMENT_COMPLETED)
