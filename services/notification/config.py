"""The notification service's configuration: one frozen ``NotificationConfig`` built by
``load(settings)`` when a container starts (``shared.runtime.Runtime`` and the background
jobs call it), never at import time.

Every variable may be prefixed with the service name (``NOTIFICATION_SMTP_HOST``) or not
(``SMTP_HOST``); see ``shared.config.env``. A value that does not parse raises ``ValueError``
naming its variable. Tests running the service in-process override fields through
``Settings.extra["notification"]`` (a dict of field name → value); the clock is
``shared.runtime``'s (``Settings.extra["clock"]``), so quiet hours and schedules can be
tested without waiting for them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from datetime import time, timedelta
from typing import Callable, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.config import Settings, setting

SERVICE = "notification"
T = TypeVar("T")


@dataclass(frozen=True)
class NotificationConfig:
    # Email over SMTP.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    smtp_timeout_s: float = 10.0
    mail_from: str = "Bangkom ASN Bukittinggi <no-reply@bukittinggikota.go.id>"
    # The right-hand side of each email's Message-ID (``<delivery id>.bangkom@<this>``): a
    # domain the city controls, so the id is unique in the world. None: MAIL_FROM's domain.
    message_id_domain: str | None = None
    # Webhook (SMS / WhatsApp gateway or another system).
    webhook_url: str | None = None
    webhook_secret: str = ""
    webhook_timeout_s: float = 10.0
    # Delivery loop (dependencies.DeliveryJob).
    max_attempts: int = 5
    backoff_s: tuple[float, ...] = (30.0, 120.0, 600.0, 1800.0)
    claim_lease_s: float = 120.0
    poll_interval_s: float = 1.0
    concurrency: int = 4
    # Channels used for an ASN with no preference on record; the inbox is always added.
    default_channels: tuple[str, ...] = ("email", "inbox")
    # Quiet hours in local time (WIB): non-urgent pushes wait until they end.
    timezone: str = "Asia/Jakarta"
    quiet_start: time = time(21, 0)
    quiet_end: time = time(6, 0)
    urgent_kinds: tuple[str, ...] = ("promoted", "cancelled", "revoked")
    # Reminder before a programme starts.
    reminder_before: timedelta = timedelta(days=1)
    # Nudges and summaries on shortfall_detected: a nudge once per checkpoint and at most one
    # per period (at most MAX_NUDGE_PERIOD, ADR 0031); the threshold decides the OPD summary
    # only for events without ``escalate_to`` (older reporting; 0 turns that rule off).
    nudge_period: timedelta = timedelta(days=30)
    nudge_max_suggestions: int = 3
    escalation_threshold: int = 2
    escalation_digest_delay: timedelta = timedelta(minutes=15)
    # Links shown in messages.
    portal_url: str = "https://bangkom.bukittinggikota.go.id"
    # The portal's address as people reach it (PORTAL_PUBLIC_URL, shared with the portal): the
    # approval link of a supervisor's message is ``<this>/persetujuan/<token>``.
    portal_public_url: str = "http://127.0.0.1:8005"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def _bool(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def _hhmm(value: str) -> time:
    hours, _, minutes = value.strip().partition(":")
    return time(int(hours), int(minutes or 0))


def _list(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def _duration(value: str) -> timedelta:
    """``"1d"``, ``"12h"``, ``"90m"``, ``"30s"``, or a plain number of seconds."""
    value = value.strip().lower()
    units = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
    if value and value[-1] in units:
        return timedelta(**{units[value[-1]]: float(value[:-1])})
    return timedelta(seconds=float(value))


# Quarterly checkpoints are at least ~77 days apart (a quarter, less the 14-day catch-up of a
# late run): a longer period would silently skip a checkpoint's nudges (ADR 0031).
MAX_NUDGE_PERIOD = timedelta(days=60)


def _nudge_period(value: str) -> timedelta:
    period = _duration(value)
    if not timedelta(0) <= period <= MAX_NUDGE_PERIOD:
        raise ValueError(f"must be between 0 and {MAX_NUDGE_PERIOD.days}d, so that no checkpoint's nudges are "
                         f"skipped")
    return period


_DOMAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+")


def _domain(value: str) -> str:
    """A DNS domain such as ``bukittinggikota.go.id`` (letters, digits, hyphens, dots)."""
    value = value.strip().lower()
    if not _DOMAIN.fullmatch(value):
        raise ValueError("must be a domain name such as bukittinggikota.go.id")
    return value


def _quiet_hours(value: str) -> tuple[time, time]:
    start, _, end = value.partition("-")
    return _hhmm(start), _hhmm(end)


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


def _public_url(value: str) -> str:
    """An http(s) address without the trailing slash (paths are appended to it)."""
    value = value.strip().rstrip("/")
    if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
        raise ValueError("must be an http:// or https:// address without query or fragment")
    return value


def from_env() -> NotificationConfig:
    """Read every setting from the environment; unset ones keep their defaults."""
    d = NotificationConfig()

    def get(name: str, default, parse: Callable[[str], T] = str) -> T:
        return setting(name, default, SERVICE, parse)

    def floats(value: str) -> tuple[float, ...]:
        return tuple(float(v) for v in _list(value))

    quiet_start, quiet_end = get("QUIET_HOURS", f"{d.quiet_start:%H:%M}-{d.quiet_end:%H:%M}", _quiet_hours)
    return NotificationConfig(
        smtp_host=get("SMTP_HOST", d.smtp_host),
        smtp_port=get("SMTP_PORT", d.smtp_port, int),
        smtp_user=get("SMTP_USER", None),
        smtp_password=get("SMTP_PASSWORD", None),
        smtp_starttls=get("SMTP_STARTTLS", "false", _bool),
        smtp_ssl=get("SMTP_SSL", "false", _bool),
        smtp_timeout_s=get("SMTP_TIMEOUT_S", d.smtp_timeout_s, float),
        mail_from=get("MAIL_FROM", d.mail_from),
        message_id_domain=get("MESSAGE_ID_DOMAIN", None, _domain),
        webhook_url=get("WEBHOOK_URL", None),
        webhook_secret=get("WEBHOOK_SECRET", d.webhook_secret),
        webhook_timeout_s=get("WEBHOOK_TIMEOUT_S", d.webhook_timeout_s, float),
        max_attempts=get("DELIVERY_MAX_ATTEMPTS", d.max_attempts, int),
        backoff_s=get("DELIVERY_BACKOFF_S", ",".join(map(str, d.backoff_s)), floats),
        claim_lease_s=get("DELIVERY_CLAIM_LEASE_S", d.claim_lease_s, float),
        poll_interval_s=get("DELIVERY_POLL_INTERVAL_S", d.poll_interval_s, float),
        concurrency=get("DELIVERY_CONCURRENCY", d.concurrency, int),
        default_channels=get("DEFAULT_CHANNELS", ",".join(d.default_channels), _list),
        timezone=get("TIMEZONE", d.timezone, _zone),
        quiet_start=quiet_start,
        quiet_end=quiet_end,
        urgent_kinds=get("URGENT_KINDS", ",".join(d.urgent_kinds), _list),
        reminder_before=get("REMINDER_BEFORE", "1d", _duration),
        nudge_period=get("NUDGE_PERIOD", "30d", _nudge_period),
        nudge_max_suggestions=get("NUDGE_MAX_SUGGESTIONS", d.nudge_max_suggestions, int),
        escalation_threshold=get("ESCALATION_THRESHOLD", d.escalation_threshold, int),
        escalation_digest_delay=get("ESCALATION_DIGEST_DELAY", "15m", _duration),
        portal_url=get("PORTAL_URL", d.portal_url),
        portal_public_url=get("PORTAL_PUBLIC_URL", d.portal_public_url, _public_url),
    )


def load(settings: Settings | None = None) -> NotificationConfig:
    """The environment's settings, with the overrides a test put in ``settings.extra``."""
    config = from_env()
    overrides = (settings.extra.get(SERVICE) if settings else None) or {}
    unknown = set(overrides) - {f.name for f in fields(NotificationConfig)}
    if unknown:
        raise ValueError(f"unknown notification setting(s): {', '.join(sorted(unknown))}")
    return replace(config, **overrides)
