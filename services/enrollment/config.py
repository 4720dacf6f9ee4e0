"""The enrollment service's configuration: one frozen object, built by ``load(settings)`` when
the container starts (``shared.runtime.Runtime``), never at import time.

Each value is read through ``shared.config.env``, so ``ENROLLMENT_<NAME>`` overrides
``<NAME>``; a bad value raises naming the variable it came from.
"""
from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from pathlib import Path


from services.enrollment.domain import ACCEPT, JpRules, parse_rules, parse_unlisted_policy
from shared.config import Settings, env, read_data_file, setting, variable
from shared.config import secret as shared_secret
from shared.production import DEV_MARKER, is_dev_secret, require

log = logging.getLogger(__name__)

SERVICE = "enrollment"
DEFAULT_JP_RULES = Path(__file__).with_name("jp_rules.yaml")
# The bulk routes' body cap in their @api declaration, which nameko reads at import: a fixed
# ceiling there, and the configured BULK_MAX_BYTES (at most this) checked when the upload is
# read (adapters.web.CsvUpload).
BULK_BODY_CEILING = 256 * 1024 * 1024


@dataclass(frozen=True)
class Config:
    jp_rules: JpRules  # JP conversion rules, read from the JP_RULES file (YAML) at start
    bulk_chunk_rows: int = 250  # rows written per transaction by the bulk CSV uploads
    bulk_max_bytes: int = 64 * 1024 * 1024  # largest CSV upload accepted
    bulk_max_rows: int = 10_000  # most data rows one CSV upload may carry
    cascade_sweep_interval_s: float = 30.0  # how often a replica finishes cancelling programmes' enrolments
    # A full roster import of an agency that would mark more than this share of its aktif ASN as
    # left (missing from the file) stops with 409 until repeated with konfirmasi=ya.
    roster_confirm_left_share: float = 0.5
    # An ASN not on the roster, or not aktif on it (staff of BKN or of a central-government office
    # in the city), enrolled by an admin: accepted (terima, the default) as unlisted, or refused
    # (tolak). Operators never enrol them (domain.participant_for).
    unlisted: str = ACCEPT
    # Supervisor approval (ADR 0092): how long a self-enrolment waits holding its place, when
    # the reminder goes out before that, and the key signing the approver's link.
    approval_hold_hours: float = 72.0
    approval_reminder_hours: float = 24.0
    approval_link_secret: str = field(default="", repr=False)


def load(settings: Settings) -> Config:
    """The configuration from the environment (``settings``: the container's shared settings)."""
    return Config(
        jp_rules=read_jp_rules(Path(env("JP_RULES", str(DEFAULT_JP_RULES), SERVICE))),
        bulk_chunk_rows=setting("BULK_CHUNK_ROWS", Config.bulk_chunk_rows, SERVICE, int, low=1, high=100_000),
        bulk_max_bytes=setting("BULK_MAX_BYTES", Config.bulk_max_bytes, SERVICE, int, low=1, high=BULK_BODY_CEILING),
        bulk_max_rows=setting("BULK_MAX_ROWS", Config.bulk_max_rows, SERVICE, int, low=1, high=10_000_000),
        cascade_sweep_interval_s=setting("CASCADE_SWEEP_INTERVAL_S", Config.cascade_sweep_interval_s, SERVICE,
                                         float, low=0.1, high=86_400),
        roster_confirm_left_share=setting("ROSTER_CONFIRM_LEFT_SHARE", Config.roster_confirm_left_share, SERVICE,
                                          float, low=0, high=1),
        unlisted=setting("UNLISTED", "terima", SERVICE, parse_unlisted_policy),
        approval_hold_hours=setting("APPROVAL_HOLD_HOURS", Config.approval_hold_hours, SERVICE, float,
                                    low=0.001, high=24 * 365),
        approval_reminder_hours=setting("APPROVAL_REMINDER_HOURS", Config.approval_reminder_hours, SERVICE, float,
                                        low=0, high=24 * 365),
        approval_link_secret=read_link_secret(),
    )


MIN_LINK_SECRET_BYTES = 32


def read_link_secret() -> str:
    """APPROVAL_LINK_SECRET, or the file APPROVAL_LINK_SECRET_FILE names (`make run` generates a
    ``dev-`` one in .data/). Unset in development: a secret of this process only (links die with
    it, and replicas would not share it); production refuses a missing or ``dev-`` secret."""
    name = variable("APPROVAL_LINK_SECRET", SERVICE)
    secret = shared_secret("APPROVAL_LINK_SECRET", SERVICE)
    require(not is_dev_secret(secret), "ENROLLMENT_APPROVAL_LINK_SECRET (or its _FILE)",
            "unset or a development secret (it starts with 'dev-'): anyone could forge an approval link", SERVICE)
    if not secret:
        log.warning("%s is not set: approval links are signed with a key of this process only", name)
        return DEV_MARKER + secrets.token_urlsafe(48)
    if len(secret.encode()) < MIN_LINK_SECRET_BYTES:
        raise ValueError(f"{name}: the link secret must be at least {MIN_LINK_SECRET_BYTES} bytes")
    return secret


def read_jp_rules(path: Path) -> JpRules:
    """The JP rules file, checked: a broken file stops the service at start, naming the variable."""
    return read_data_file(path, "JP_RULES", SERVICE, parse_rules)
