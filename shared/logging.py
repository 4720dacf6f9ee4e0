"""Structured JSON logs: one object per line carrying service, correlation id and event id."""
from __future__ import annotations

import json
import logging
import sys
import threading
from datetime import datetime, timezone

# The ids of the unit of work in progress; set by entrypoints, read by every log line.
# eventlet patches threading, so this is per greenthread.
_context = threading.local()


def set_context(**values) -> None:
    for key, value in values.items():
        setattr(_context, key, value)


def clear_context() -> None:
    _context.__dict__.clear()


def current(key: str):
    return getattr(_context, key, None)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("correlation_id", "event_id", "event_type"):
            value = getattr(record, key, None) or current(key)
            if value:
                entry[key] = value
        for key, value in getattr(record, "fields", {}).items():
            entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("amqp", "kombu", "pymongo", "nameko", "eventlet.wsgi"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
