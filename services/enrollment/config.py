"""Settings of the enrollment service that the shared Settings do not cover.

Read through ``shared.config.env`` so ``ENROLLMENT_<NAME>`` overrides ``<NAME>``.
"""
from __future__ import annotations

from pathlib import Path

from shared.config import env

SERVICE = "enrollment"
DEFAULT_JP_RULES = Path(__file__).with_name("jp_rules.yaml")


def jp_rules_path() -> Path:
    """The JP conversion rules file (YAML)."""
    return Path(env("JP_RULES", str(DEFAULT_JP_RULES), SERVICE))


def bulk_chunk_rows() -> int:
    """Rows written per transaction by the bulk CSV uploads."""
    return max(1, int(env("BULK_CHUNK_ROWS", "250", SERVICE)))


def bulk_max_bytes() -> int:
    """Largest CSV upload accepted (bytes)."""
    return int(env("BULK_MAX_BYTES", str(64 * 1024 * 1024), SERVICE))


def bulk_max_rows() -> int:
    """Most data rows one CSV upload may carry (as the notification recipients CSV); read per
    upload, so a change applies without a restart."""
    return max(1, int(env("BULK_MAX_ROWS", "10000", SERVICE)))


def cascade_sweep_interval_s() -> float:
    """How often a replica finishes cancelling the enrolments of cancelled programmes."""
    return float(env("CASCADE_SWEEP_INTERVAL_S", "30", SERVICE))
