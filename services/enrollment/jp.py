"""JP (jam pelajaran) derived from a programme's duration by configurable conversion rules."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from shared.errors import Invalid
from shared.events.common import PROGRAMME_KINDS


@dataclass(frozen=True)
class JpRules:
    minutes_per_jp: int
    jp_per_day: dict[str, float] = field(default_factory=dict)

    def per_day(self, kind: str) -> float:
        return self.jp_per_day.get(kind, self.jp_per_day["default"])

    def derive(self, kind: str, duration_minutes: int | None = None, duration_days: float | None = None) -> int:
        """JP for a programme of ``kind`` lasting the given minutes or days.

        Partial JP are not credited (rounded down), as a 30-minute session is not a JP.
        """
        if duration_minutes is not None:
            return duration_minutes // self.minutes_per_jp
        if duration_days is not None:
            return math.floor(duration_days * self.per_day(kind) + 1e-9)
        raise Invalid("give jp, or a duration (duration_minutes or duration_days) to derive it from",
                      field="jp")


def parse_rules(raw: dict) -> JpRules:
    """Check a rules document and build the rules; a broken file fails at start-up, loudly."""
    if not isinstance(raw, dict):
        raise ValueError("JP rules must be a mapping")
    minutes = raw.get("minutes_per_jp")
    if not isinstance(minutes, int) or minutes <= 0:
        raise ValueError("JP rules: minutes_per_jp must be a positive integer")
    per_day = raw.get("jp_per_day") or {}
    if not isinstance(per_day, dict) or "default" not in per_day:
        raise ValueError("JP rules: jp_per_day must be a mapping with a 'default' entry")
    for kind, value in per_day.items():
        if kind != "default" and kind not in PROGRAMME_KINDS:
            raise ValueError(f"JP rules: unknown programme kind {kind!r} in jp_per_day")
        if not isinstance(value, (int, float)) or value <= 0:
            raise ValueError(f"JP rules: jp_per_day.{kind} must be a positive number")
    return JpRules(minutes_per_jp=minutes, jp_per_day={k: float(v) for k, v in per_day.items()})


@lru_cache(maxsize=4)
def load_rules(path: Path) -> JpRules:
    with Path(path).open(encoding="utf-8") as f:
        return parse_rules(yaml.safe_load(f))
