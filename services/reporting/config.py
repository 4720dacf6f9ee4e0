"""Settings of the reporting service beyond the shared ones, read from the environment once.

Every variable may be given as ``REPORTING_<NAME>`` or ``<NAME>`` (shared.config.env).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from shared.config import env

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


def load() -> ReportingConfig:
    def get(name: str, default: str) -> str:
        return env(name, default, SERVICE)

    return ReportingConfig(
        jp_target=int(get("JP_TARGET", "20")),
        distribution_bounds=tuple(int(b) for b in get("JP_DISTRIBUTION_BOUNDS", "5,10,15,20,30,40").split(",")),
        checkpoints=parse_checkpoints(get("SHORTFALL_CHECKPOINTS", "Q1=03-31,Q2=06-30,Q3=09-30,Q4=12-31")),
        shortfall_poll_s=float(get("SHORTFALL_POLL_S", "60")),
        shortfall_catch_up_days=int(get("SHORTFALL_CATCH_UP_DAYS", "14")),
        shortfall_lease_s=float(get("SHORTFALL_LEASE_S", "60")),
        max_suggestions=int(get("SHORTFALL_MAX_SUGGESTIONS", "3")),
        default_page_size=int(get("PAGE_SIZE", "50")),
        max_page_size=int(get("MAX_PAGE_SIZE", "200")),
        rebuild_idle_timeout_s=float(get("REBUILD_IDLE_TIMEOUT_S", "60")),
    )


@lru_cache(maxsize=1)
def current() -> ReportingConfig:
    return load()
