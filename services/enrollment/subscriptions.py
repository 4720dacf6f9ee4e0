"""The events enrollment consumes: none (it only produces). The table exists so every service
has the same template and the topology reads every service the same way."""
from __future__ import annotations

from shared.topology import subscription_table

SUBSCRIPTIONS = subscription_table("enrollment")
