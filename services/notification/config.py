"""Settings of the notification service, read from environment variables in one place.

Every variable may be prefixed with the service name (``NOTIFICATION_SMTP_HOST``) or not
(``SMTP_HOST``); see ``shared.config.env``. Tests running the service in-process override
fields through ``Settings.extra["notification"]`` (a dict of field name → value) and may
inject a clock through ``Settings.extra["clock"]`` (a callable returning an aware UTC
datetime), so quiet hours and schedules can be tested without waiting for them.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime, time, timedelta, timezone
from typing import Callable
from zoneinfo import ZoneInfo

from shared.config import Settings, env

SERVICE = "notification"
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(timezone.utc)


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
    # Webhook (SMS / WhatsApp gateway or another system).
    webhook_url: str | None = None
    webhook_secret: str = ""
    webhook_timeout_s: float = 10.0
    # Delivery worker.
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
    # Nudges and escalation on shortfall_detected.
    nudge_period: timedelta = timedelta(days=30)
    nudge_max_suggestions: int = 3
    escalation_threshold: int = 2
    escalation_digest_delay: timedelta = timedelta(minutes=15)
    # Links shown in messages.
    portal_url: str = "https://bangkom.bukittinggikota.go.id"

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


def _quiet_hours(value: str) -> tuple[time, time]:
    start, _, end = value.partition("-")
    return _hhmm(start), _hhmm(end)


def from_env() -> NotificationConfig:
    """Read every setting from the environment; unset ones keep their defaults."""
    d = NotificationConfig()

    def get(name: str, default) -> str:
        return env(name, None if default is None else str(default), SERVICE)

    quiet_start, quiet_end = _quiet_hours(get("QUIET_HOURS", f"{d.quiet_start:%H:%M}-{d.quiet_end:%H:%M}"))
    return NotificationConfig(
        smtp_host=get("SMTP_HOST", d.smtp_host),
        smtp_port=int(get("SMTP_PORT", d.smtp_port)),
        smtp_user=get("SMTP_USER", None),
        smtp_password=get("SMTP_PASSWORD", None),
        smtp_starttls=_bool(get("SMTP_STARTTLS", "false")),
        smtp_ssl=_bool(get("SMTP_SSL", "false")),
        smtp_timeout_s=float(get("SMTP_TIMEOUT_S", d.smtp_timeout_s)),
        mail_from=get("MAIL_FROM", d.mail_from),
        webhook_url=get("WEBHOOK_URL", None),
        webhook_secret=get("WEBHOOK_SECRET", d.webhook_secret),
        webhook_timeout_s=float(get("WEBHOOK_TIMEOUT_S", d.webhook_timeout_s)),
        max_attempts=int(get("DELIVERY_MAX_ATTEMPTS", d.max_attempts)),
        backoff_s=tuple(float(v) for v in _list(get("DELIVERY_BACKOFF_S", ",".join(map(str, d.backoff_s))))),
        claim_lease_s=float(get("DELIVERY_CLAIM_LEASE_S", d.claim_lease_s)),
        poll_interval_s=float(get("DELIVERY_POLL_INTERVAL_S", d.poll_interval_s)),
        concurrency=int(get("DELIVERY_CONCURRENCY", d.concurrency)),
        default_channels=_list(get("DEFAULT_CHANNELS", ",".join(d.default_channels))),
        timezone=get("TIMEZONE", d.timezone),
        quiet_start=quiet_start,
        quiet_end=quiet_end,
        urgent_kinds=_list(get("URGENT_KINDS", ",".join(d.urgent_kinds))),
        reminder_before=_duration(get("REMINDER_BEFORE", "1d")),
        nudge_period=_duration(get("NUDGE_PERIOD", "30d")),
        nudge_max_suggestions=int(get("NUDGE_MAX_SUGGESTIONS", d.nudge_max_suggestions)),
        escalation_threshold=int(get("ESCALATION_THRESHOLD", d.escalation_threshold)),
        escalation_digest_delay=_duration(get("ESCALATION_DIGEST_DELAY", "15m")),
        portal_url=get("PORTAL_URL", d.portal_url),
    )


def load(settings: Settings | None = None) -> NotificationConfig:
    """The environment's settings, with the overrides a test put in ``settings.extra``."""
    config = from_env()
    overrides = (settings.extra.get(SERVICE) if settings else None) or {}
    unknown = set(overrides) - {f.name for f in fields(NotificationConfig)}
    if unknown:
        raise ValueError(f"unknown notification setting(s): {', '.join(sorted(unknown))}")
    return replace(config, **overrides)


def clock_of(settings: Settings | None) -> Clock:
    return (settings.extra.get("clock") if settings else None) or system_clock
