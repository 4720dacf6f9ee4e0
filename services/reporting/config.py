"""Settings of the reporting service beyond the shared ones: one frozen object, built by
``load(settings)`` when a container starts (``dependencies.runtime``), never at import time.

Every variable may be given as ``REPORTING_<NAME>`` or ``<NAME>`` (shared.config.env); a bad
value raises ``ValueError`` naming the variable.
"""
from __future__ import annotations

from dataclasses import dataclass

from shared.config import Settings, env, setting

SERVICE = "reporting"


@dataclass(frozen=True)
class Checkpoint:
    """A point in the year at which ASN below target are flagged (end of that day, WIB)."""

    label: str  # "Q3"
    month: int
    day: int


@dataclass(frozen=True)
class ReportingConfig:
    # PP 11/2017 as amended by PP 17/2020: at least 20 JP of competency development a year.
    jp_target: int
    # Upper bounds (exclusive) of the JP distribution buckets; "0" and "<last>+" are implicit.
    distribution_bounds: tuple[int, ...]
    checkpoints: tuple[Checkpoint, ...]
    shortfall_poll_s: float
    # A checkpoint missed by more than this (service down, first deployment) is not run by
    # the scheduler: stale nudges help nobody. The admin trigger still runs it.
    shortfall_catch_up_days: int
    shortfall_lease_s: float
    max_suggestions: int
    # Items per page of a list route when the request names no ``limit``.
    default_page_size: int
    max_page_size: int
    rebuild_idle_timeout_s: float

    def checkpoint(self, label: str) -> Checkpoint | None:
        return next((c for c in self.checkpoints if c.label == label), None)


def parse_checkpoints(spec: str) -> tuple[Checkpoint, ...]:
    """``"Q1=03-31,Q2=06-30"`` → checkpoints in calendar order."""
    out = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        label, _, date = part.partition("=")
        month, _, day = date.partition("-")
        if not label or not month.isdigit() or not day.isdigit():
            raise ValueError(f"checkpoint {part!r} is not LABEL=MM-DD")
        checkpoint = Checkpoint(label.strip(), int(month), int(day))
        if not 1 <= checkpoint.month <= 12 or not 1 <= checkpoint.day <= 31:
            raise ValueError(f"checkpoint {part!r} has no such month/day")
        out.append(checkpoint)
    if len({c.label for c in out}) != len(out):
        raise ValueError("checkpoint labels must be unique")
    return tuple(sorted(out, key=lambda c: (c.month, c.day)))


def _get(name: str, default: str) -> str:
    return env(name, default, SERVICE)


def _parsed(name: str, default: str, parse):
    """``parse`` of the variable's value; a bad value names the variable."""
    return setting(name, default, SERVICE, parse)


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(b) for b in text.split(","))


def load(settings: Settings | None = None) -> ReportingConfig:
    """The configuration from the environment (``settings``: the container's shared settings;
    nothing of reporting's own lives there yet)."""
    return ReportingConfig(
        jp_target=_parsed("JP_TARGET", "20", int),
        distribution_bounds=_parsed("JP_DISTRIBUTION_BOUNDS", "5,10,15,20,30,40", _ints),
        checkpoints=_parsed("SHORTFALL_CHECKPOINTS", "Q1=03-31,Q2=06-30,Q3=09-30,Q4=12-31", parse_checkpoints),
        shortfall_poll_s=_parsed("SHORTFALL_POLL_S", "60", float),
        shortfall_catch_up_days=_parsed("SHORTFALL_CATCH_UP_DAYS", "14", int),
        shortfall_lease_s=_parsed("SHORTFALL_LEASE_S", "60", float),
        max_suggestions=_parsed("SHORTFALL_MAX_SUGGESTIONS", "3", int),
        default_page_size=_parsed("PAGE_SIZE", "50", int),
        max_page_size=_parsed("MAX_PAGE_SIZE", "200", int),
        rebuild_idle_timeout_s=_parsed("REBUILD_IDLE_TIMEOUT_S", "60", float),
    )
