"""Prometheus metrics shared by every service (one process = one service = one registry)."""
from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_CONSUMED = Counter("asn_events_consumed_total", "Events handled and acknowledged (duplicates included)", ["type"])
EVENTS_DUPLICATE = Counter("asn_events_duplicate_total", "Duplicate events acknowledged and skipped", ["type"])
EVENTS_FAILED = Counter("asn_events_failed_total", "Handler attempts that raised", ["type"])
EVENTS_RETRIED = Counter("asn_events_retried_total", "Events sent to a delayed retry queue", ["type"])
EVENTS_DEAD_LETTERED = Counter("asn_events_dead_lettered_total", "Events moved to the dead-letter queue", ["type", "reason"])
HANDLER_SECONDS = Histogram("asn_handler_seconds", "Handler latency", ["type"],
                            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
EVENTS_PUBLISHED = Counter("asn_outbox_published_total", "Outbox events published with a broker confirm", ["type"])
EVENTS_UNROUTABLE = Counter("asn_outbox_unroutable_total", "Outbox events the broker returned as unroutable", ["type"])
OUTBOX_BACKLOG = Gauge("asn_outbox_backlog", "Outbox events not yet published")
OUTBOX_OLDEST_AGE = Gauge("asn_outbox_oldest_unsent_seconds", "Age of the oldest unpublished outbox event")
RELAY_LEADER = Gauge("asn_outbox_relay_leader", "1 when this replica holds the relay lease")
HTTP_REQUESTS = Counter("asn_http_requests_total", "HTTP requests", ["method", "route", "status"])
HTTP_SECONDS = Histogram("asn_http_request_seconds", "HTTP request latency", ["method", "route"])
