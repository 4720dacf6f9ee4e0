"""Settings of the reporting service beyond the shared ones: one frozen object, built by
``load(settings)`` when a container starts (``dependencies.runtime``), never at import time.

Every variable may be given as ``REPORTING_<NAME>`` or ``<NAME>`` (shared.config.env); a bad
value raises ``ValueError`` naming the variable.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path


from shared.config import Settings, env, read_data_file, setting, variable
from shared.events.common import COMPETENCY_TYPES, PROGRAMME_KINDS

SERVICE = "reporting"
DEFAULT_SIASN_MAPPING = Path(__file__).with_name("siasn_kursus.yaml")


@dataclass(frozen=True)
class Checkpoint:
    """A point in the year at which ASN below target are flagged (end of that day, WIB)."""

    label: str  # "Q3"
    month: int
    day: int


@dataclass(frozen=True)
class SiasnCourseType:
    """SIASN's training type of a course record (riwayat kursus)."""

    jenis_diklat_id: int  # SIASN's jenis-diklat reference id (3 = Diklat Teknis, 9 = Seminar, ...)
    jenis_kursus_sertipikat: str  # the one-letter code SIASN's reference gives that type


@dataclass(frozen=True)
class SiasnMapping:
    """Programme kind (and, where configured, competency type) -> SIASN's training type, read from
    the SIASN_MAPPING file (siasn_kursus.yaml) at start."""

    kinds: dict[str, SiasnCourseType]
    by_competency: dict[tuple[str, str], SiasnCourseType] = field(default_factory=dict)

    def course_type(self, kind: str | None, competency_type: str | None) -> SiasnCourseType | None:
        """The SIASN type of a programme; None for a kind the file does not know (an entry
        recorded before a kind was renamed), so the export leaves the codes empty, not wrong."""
        return self.by_competency.get((kind, competency_type)) or self.kinds.get(kind)


@dataclass(frozen=True)
class ReportingConfig:
    # PP 11/2017 as amended by PP 17/2020, pasal 203: at least 20 JP of competency development a year
    # (a PNS; the PPPK target is jp_target_pppk).
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
    # JP a full-year PNS should have reached at each checkpoint, by label ({"Q1": 5, ...}); the
    # last one is the yearly target. Issue 19's quarterly steps of the yearly 20 JP.
    checkpoint_targets: dict[str, int]
    # Yearly JP target of a PPPK. PP 49/2018 (Manajemen PPPK) pasal 39 gives a PPPK competency
    # development of at most 24 JP per contract year; the PNS's 20 JP stays within it. That the
    # default equals the PNS target is a policy choice of the city, to revisit with BKPSDM.
    jp_target_pppk: int
    # Programme kinds whose JP count as klasikal (face to face); every other kind (e-learning,
    # coaching, mentoring) is non-klasikal (Peraturan LAN 10/2018 on the two learning paths).
    klasikal_kinds: tuple[str, ...]
    # The colleague comparison of a nudge only for an agency with at least this many active
    # rostered ASN: a smaller share would single people out. Never below 5.
    peers_min_asn: int
    # From this many checkpoints missed in a row, the OPD operator is told as well as the supervisor.
    escalation_threshold: int
    # Items per page of a list route when the request names no ``limit``.
    default_page_size: int
    max_page_size: int
    rebuild_idle_timeout_s: float
    # SIASN's codes of a course record by programme kind (exports of /exports/ledger-siasn.*).
    siasn: SiasnMapping

    def checkpoint(self, label: str) -> Checkpoint | None:
        return next((c for c in self.checkpoints if c.label == label), None)

    def yearly_target(self, jenis_asn: str | None) -> int:
        """The yearly JP target of an ASN by ``jenis_asn`` (unknown: the PNS target)."""
        return self.jp_target_pppk if jenis_asn == "PPPK" else self.jp_target


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


def parse_targets(spec: str) -> dict[str, int]:
    """``"Q1=5,Q2=10"`` → {"Q1": 5, "Q2": 10}: JP (positive, never decreasing) per checkpoint label."""
    out: dict[str, int] = {}
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        label, _, jp = part.partition("=")
        label = label.strip()
        if not label or not jp.strip().isdigit() or int(jp) <= 0:
            raise ValueError(f"checkpoint target {part!r} is not LABEL=JP with JP a positive whole number")
        if label in out:
            raise ValueError(f"checkpoint label {label!r} has two targets")
        out[label] = int(jp)
    if not out:
        raise ValueError("no checkpoint target given")
    return out


def checked_targets(targets: dict[str, int], checkpoints: tuple[Checkpoint, ...]) -> dict[str, int]:
    """``targets`` in checkpoint order; ValueError unless they name exactly the checkpoints'
    labels and never decrease through the year."""
    labels = [c.label for c in checkpoints]
    if set(targets) != set(labels):
        raise ValueError(f"REPORTING_CHECKPOINT_TARGETS names {', '.join(sorted(targets))}; "
                         f"the checkpoints (REPORTING_SHORTFALL_CHECKPOINTS) are {', '.join(labels)}")
    ordered = {label: targets[label] for label in labels}
    values = list(ordered.values())
    if any(later < earlier for earlier, later in zip(values, values[1:])):
        raise ValueError(f"REPORTING_CHECKPOINT_TARGETS = {targets}: a later checkpoint's target may not be lower")
    return ordered


def parse_kinds(spec: str) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in spec.split(",") if k.strip())
    unknown = [k for k in kinds if k not in PROGRAMME_KINDS]
    if unknown:
        raise ValueError(f"{', '.join(unknown)} is not a programme kind ({', '.join(PROGRAMME_KINDS)})")
    return kinds


_SIASN_KEYS = {"jenisDiklatId", "jenisKursusSertipikat"}
_ONE_LETTER = re.compile(r"[A-Z]")


def _course_type(where: str, spec, allowed: set[str] = _SIASN_KEYS) -> SiasnCourseType:
    if not isinstance(spec, dict) or not _SIASN_KEYS <= set(spec):
        raise ValueError(f"{where}: needs jenisDiklatId and jenisKursusSertipikat")
    unknown = set(spec) - allowed
    if unknown:
        raise ValueError(f"{where}: unknown key {', '.join(sorted(map(str, unknown)))}")
    identifier, letter = spec["jenisDiklatId"], spec["jenisKursusSertipikat"]
    # bool is an int in Python: ``jenisDiklatId: yes`` must not pass as 1.
    if isinstance(identifier, bool) or not isinstance(identifier, int) or identifier < 1:
        raise ValueError(f"{where}: jenisDiklatId {identifier!r} is not a positive whole number")
    if not isinstance(letter, str) or not _ONE_LETTER.fullmatch(letter):
        raise ValueError(f"{where}: jenisKursusSertipikat {letter!r} is not one capital letter")
    return SiasnCourseType(identifier, letter)


def parse_siasn_mapping(data) -> SiasnMapping:
    """The SIASN mapping file's content, checked: every programme kind mapped, no unknown kind,
    competency type or key (a typo would otherwise send a default code to SIASN unnoticed)."""
    if not isinstance(data, dict) or set(data) != {"kinds"} or not isinstance(data["kinds"], dict):
        raise ValueError("the file must hold one mapping, kinds: {<programme kind>: {...}}")
    kinds: dict[str, SiasnCourseType] = {}
    by_competency: dict[tuple[str, str], SiasnCourseType] = {}
    for kind, spec in data["kinds"].items():
        if kind not in PROGRAMME_KINDS:
            raise ValueError(f"{kind!r} is not a programme kind ({', '.join(PROGRAMME_KINDS)})")
        kinds[kind] = _course_type(f"kinds.{kind}", spec, _SIASN_KEYS | {"competency"})
        competencies = spec.get("competency") or {}
        if not isinstance(competencies, dict):
            raise ValueError(f"kinds.{kind}.competency: a mapping of competency type to codes")
        for competency, sub in competencies.items():
            if competency not in COMPETENCY_TYPES:
                raise ValueError(f"kinds.{kind}.competency: {competency!r} is not a competency type "
                                 f"({', '.join(COMPETENCY_TYPES)})")
            by_competency[(kind, competency)] = _course_type(f"kinds.{kind}.competency.{competency}", sub)
    missing = [k for k in PROGRAMME_KINDS if k not in kinds]
    if missing:
        raise ValueError(f"no SIASN type for the programme kind {', '.join(missing)}")
    return SiasnMapping(kinds, by_competency)


def read_siasn_mapping(path: Path) -> SiasnMapping:
    """The SIASN mapping file, checked: a broken file stops the service at start, naming the variable."""
    return read_data_file(path, "SIASN_MAPPING", SERVICE, parse_siasn_mapping)


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
    checkpoints = _parsed("SHORTFALL_CHECKPOINTS", "Q1=03-31,Q2=06-30,Q3=09-30,Q4=12-31", parse_checkpoints)
    return ReportingConfig(
        # PP 11/2017 as amended by PP 17/2020, pasal 203: at least 20 JP a year for a PNS.
        jp_target=_parsed("JP_TARGET", "20", int),
        distribution_bounds=_parsed("JP_DISTRIBUTION_BOUNDS", "5,10,15,20,30,40", _ints),
        checkpoints=checkpoints,
        checkpoint_targets=checked_targets(_parsed("CHECKPOINT_TARGETS", "Q1=5,Q2=10,Q3=15,Q4=20", parse_targets),
                                           checkpoints),
        jp_target_pppk=setting("JP_TARGET_PPPK", "20", SERVICE, int, low=1, high=1000),
        klasikal_kinds=_parsed("KLASIKAL_KINDS", "pelatihan,sertifikasi,seminar,lokakarya", parse_kinds),
        peers_min_asn=setting("PEERS_MIN_ASN", "5", SERVICE, int, low=5, high=100_000),
        escalation_threshold=setting("ESCALATION_THRESHOLD", "2", SERVICE, int, low=1, high=100),
        shortfall_poll_s=_parsed("SHORTFALL_POLL_S", "60", float),
        shortfall_catch_up_days=_parsed("SHORTFALL_CATCH_UP_DAYS", "14", int),
        shortfall_lease_s=_parsed("SHORTFALL_LEASE_S", "60", float),
        max_suggestions=_parsed("SHORTFALL_MAX_SUGGESTIONS", "3", int),
        default_page_size=_parsed("PAGE_SIZE", "50", int),
        max_page_size=_parsed("MAX_PAGE_SIZE", "200", int),
        rebuild_idle_timeout_s=_parsed("REBUILD_IDLE_TIMEOUT_S", "60", float),
        siasn=read_siasn_mapping(Path(_get("SIASN_MAPPING", str(DEFAULT_SIASN_MAPPING)))),
    )
