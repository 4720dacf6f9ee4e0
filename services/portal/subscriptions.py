"""The events the portal consumes: none. It reads the services' HTTP APIs on behalf of the
signed-in person and publishes nothing (the table stays, so the template holds)."""
from __future__ import annotations

from shared.topology import subscription_table

SUBSCRIPTIONS = subscription_table("portal")
