"""Configuration of a service, read from environment variables in one place (12-factor).

Every service reads the same variables; a variable prefixed with the service's name
(``ENROLLMENT_HTTP_ADDRESS``) overrides the generic one (``HTTP_ADDRESS``), so one
environment can describe a whole local stack.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, TypeVar

T = TypeVar("T")

SERVICES = ("enrollment", "certification", "notification", "reporting")
# The portal: a fifth deployable that serves people's pages and calls the four services'
# HTTP APIs on their behalf; it publishes and consumes no events (issue 20).
PORTAL = "portal"
DEPLOYABLES = SERVICES + (PORTAL,)
DEFAULT_PORTS = {"enrollment": 8001, "certification": 8002, "notification": 8003, "reporting": 8004,
                 PORTAL: 8005}

DEFAULT_AMQP_URI = "amqp://guest:guest@127.0.0.1:5672/"
# SecantusDB collapses under pymongo's retryable writes; production MongoDB keeps them.
DEFAULT_MONGO_URI = "mongodb://127.0.0.1:27017/?retryWrites=false"


def env(name: str, default: str | None = None, service: str | None = None) -> str | None:
    """The value of ``<SERVICE>_<NAME>`` if set, else ``<NAME>``, else ``default``."""
    if service:
        value = os.environ.get(f"{service.upper()}_{name}")
        if value not in (None, ""):
            return value
    value = os.environ.get(name)
    return default if value in (None, "") else value


def secret(name: str, service: str | None = None, lookup: Callable[..., str | None] | None = None) -> str | None:
    """A secret's value: the variable ``name`` itself, else the content of the file its
    ``name_FILE`` names (a mounted Secret), stripped; None when neither is set. An unreadable
    file raises ValueError naming the variable. ``lookup`` reads variables as ``env`` does
    (another process's environment, say)."""
    lookup = lookup or env
    value = lookup(name, None, service)
    if value:
        return value.strip()
    path = lookup(f"{name}_FILE", None, service)
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError as exc:
        raise ValueError(f"{variable(name + '_FILE', service) if service else name + '_FILE'}: "
                         f"cannot read {path}: {exc}") from None


def read_data_file(path, name: str, service: str, parse: Callable[[object], T]) -> T:
    """``parse`` of the YAML file at ``path`` (configuration data such as enrollment's JP rules):
    a missing, unreadable or invalid file stops the service at start, naming the variable
    ``name`` that points at it."""
    import yaml  # only the services with such a file need it at import time

    try:
        with open(path, encoding="utf-8") as f:
            return parse(yaml.safe_load(f))
    except (OSError, yaml.YAMLError, ValueError) as exc:
        raise ValueError(f"{variable(name, service)}: {path}: {exc}") from exc


def variable(name: str, service: str) -> str:
    """The variable a setting came from, for error messages: ``<SERVICE>_<NAME>`` wins over
    ``<NAME>``; when neither is set (a bad default), both are named."""
    prefixed = f"{service.upper()}_{name}"
    if os.environ.get(prefixed):
        return prefixed
    if os.environ.get(name):
        return name
    return f"{prefixed} (or {name})"


_KIND_WORDS = {int: "a whole number", float: "a number"}


def setting(name: str, default, service: str, parse: Callable[[str], T] = str, *,
            low: float | None = None, high: float | None = None) -> T:
    """A service's setting, parsed (``int``, ``float`` or any function raising ValueError);
    a value that does not parse, or lies outside ``low``..``high``, stops the service with a
    ValueError naming the variable, the value and why. None when unset without a default."""
    raw = env(name, None if default is None else str(default), service)
    if raw is None:
        return None
    try:
        value = parse(raw)
    except (ValueError, TypeError) as exc:
        reason = f"must be {_KIND_WORDS[parse]}" if parse in _KIND_WORDS else str(exc)
        raise ValueError(f"{variable(name, service)} = {raw!r}: {reason}") from None
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{variable(name, service)} = {raw!r}: must be between {low:g} and {high:g}")
    return value


# The replay window (docs/reliability.md): a copy of an event (a dead letter replayed, a
# replay into a live queue) is recognised as a duplicate only while its processed-event
# record exists. Operators promise to act within REPLAY_WINDOW_DAYS; the records stay a
# margin longer so a copy handled on the window's last day is still recognised.
REPLAY_WINDOW_DAYS = 30
PROCESSED_RETENTION_DEFAULT_DAYS = 45
SECONDS_PER_DAY = 86_400

# Worker slots kept for HTTP requests and timers on top of MAX_WORKERS event handlers.
RESERVED_WORKERS = 4


@dataclass(frozen=True)
class Settings:
    service: str
    amqp_uri: str
    mongo_uri: str
    db_name: str
    http_address: str
    max_workers: int
    # Reliable handler: attempts before the dead-letter queue, and the delays between them.
    retry_max_attempts: int
    retry_delays_ms: tuple[int, ...]
    # Outbox relay.
    relay_batch_size: int
    relay_poll_interval_s: float
    relay_lease_s: float
    public_base_url: str
    log_level: str
    extra: dict = field(default_factory=dict)
    # Retention (docs/decisions/0091-retention.md): days a sent outbox record stays as the
    # event log (0: forever, the default: reporting rebuilds its read models from it), and
    # days a processed-event record stays (a copy of an event arriving later is applied again).
    outbox_retention_days: float = 0.0
    processed_retention_days: float = PROCESSED_RETENTION_DEFAULT_DAYS

    @property
    def http_port(self) -> int:
        return int(self.http_address.rsplit(":", 1)[1])

    @property
    def events_exchange(self) -> str:
        return f"{self.service}.events"

    def nameko_config(self) -> dict:
        """The config dict nameko's ServiceContainer expects."""
        return {
            "AMQP_URI": self.amqp_uri,
            "WEB_SERVER_ADDRESS": self.http_address,
            # MAX_WORKERS bounds the event handlers (shared.handler); the pool has room beyond
            # it so HTTP (health probes included) and timers never wait behind a burst.
            "max_workers": self.max_workers + RESERVED_WORKERS,
            "serializer": "json",
            "ACCEPT": ["json"],
            "HEARTBEAT": 30,
            "SETTINGS": self,
        }


def load(service: str) -> Settings:
    """Read the settings of ``service`` from the environment."""
    if service not in DEPLOYABLES:
        raise ValueError(f"unknown service {service!r}; expected one of {', '.join(DEPLOYABLES)}")
    port = DEFAULT_PORTS[service]
    delays = env("RETRY_DELAYS_MS", "200,1000,5000,20000", service)
    return Settings(
        service=service,
        amqp_uri=env("AMQP_URI", DEFAULT_AMQP_URI, service),
        mongo_uri=env("MONGO_URI", DEFAULT_MONGO_URI, service),
        db_name=env("MONGO_DB", None, service) or f"{env('MONGO_DB_PREFIX', 'asn_')}{service}",
        http_address=env("HTTP_ADDRESS", f"127.0.0.1:{port}", service),
        max_workers=setting("MAX_WORKERS", 10, service, int),
        retry_max_attempts=setting("RETRY_MAX_ATTEMPTS", 5, service, int),
        retry_delays_ms=tuple(int(d) for d in delays.split(",") if d.strip()),
        relay_batch_size=setting("RELAY_BATCH_SIZE", 200, service, int),
        relay_poll_interval_s=setting("RELAY_POLL_INTERVAL_S", 0.5, service, float),
        relay_lease_s=setting("RELAY_LEASE_S", 10.0, service, float),
        public_base_url=env("PUBLIC_BASE_URL", f"http://127.0.0.1:{DEFAULT_PORTS['certification']}"),
        log_level=env("LOG_LEVEL", "INFO", service),
        **retention(service),
    )



def retention(service: str) -> dict:
    """``outbox_retention_days`` and ``processed_retention_days`` of ``service``.

    A subscriber that lost its queue is promised the events of the replay window back from
    the log, so a non-zero ``OUTBOX_RETENTION_DAYS`` below the window stops the service
    (0 keeps the log forever)."""
    processed = setting("PROCESSED_EVENT_RETENTION_DAYS", PROCESSED_RETENTION_DEFAULT_DAYS, service, float,
                        low=REPLAY_WINDOW_DAYS, high=36_500)
    outbox = setting("OUTBOX_RETENTION_DAYS", 0, service, float, low=0, high=36_500)
    if 0 < outbox < REPLAY_WINDOW_DAYS:
        raise ValueError(f"{variable('OUTBOX_RETENTION_DAYS', service)} = {outbox:g}: must be 0 (kept forever) "
                         f"or at least the {REPLAY_WINDOW_DAYS}-day replay window")
    return {"outbox_retention_days": outbox, "processed_retention_days": processed}


def service_url(service: str, http_address: str | None = None) -> str:
    """The base URL another process reaches ``service``'s HTTP API at: ``<SERVICE>_URL``, else
    its bind address (a bind-all address asked on this machine)."""
    configured = os.environ.get(f"{service.upper()}_URL")
    if configured:
        return configured.rstrip("/")
    host, port = (http_address or load(service).http_address).rsplit(":", 1)
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1"
    return f"http://{host}:{port}"


def settings_of(container) -> Settings:
    """The Settings a nameko container was started with (see ``Settings.nameko_config``)."""
    settings = container.config.get("SETTINGS")
    if settings is None:  # started by plain `nameko run` with a YAML config
        settings = load(container.service_name)
    return settings
