"""Settings of the certification service, read from environment variables in one place.

Every variable may be prefixed ``CERTIFICATION_`` (see ``shared.config.env``). With
``ASN_ENV=production`` loading refuses the development defaults that would let anyone sign
credentials (the public development key) or print placeholder signatories on certificates.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from shared.config import env
from shared.production import is_dev_secret, require

SERVICE = "certification"

DEFAULT_NUMBER_FORMAT = "{seq:04d}/BKN-BKT/SERT-{line}/{year}"
DEFAULT_SIGNATORIES = (
    {"role": "Kepala Kantor Regional XII BKN Pekanbaru", "name": "Nama Pejabat BKN", "nip": None},
    {"role": "Wali Kota Bukittinggi", "name": "Nama Wali Kota", "nip": None},
)
# The placeholder names above: fine on a local run, never on a certificate people are given.
PLACEHOLDER_SIGNATORY_NAMES = frozenset(s["name"].casefold() for s in DEFAULT_SIGNATORIES)
DEFAULT_ISSUER_NAME = "Badan Kepegawaian Negara dan Pemerintah Kota Bukittinggi"


@dataclass(frozen=True)
class Signatory:
    role: str  # the office, printed above the signature space
    name: str
    nip: str | None = None


@dataclass(frozen=True)
class CertificationConfig:
    number_format: str = DEFAULT_NUMBER_FORMAT
    expiry_notice_days: int = 30
    expiry_scan_interval_s: float = 3600.0
    expiry_scan_batch: int = 500
    signatories: tuple[Signatory, ...] = field(
        default_factory=lambda: tuple(Signatory(**s) for s in DEFAULT_SIGNATORIES))
    issuer_name: str = DEFAULT_ISSUER_NAME
    place: str = "Bukittinggi"  # printed before the issue date on the PDF
    # Ed25519 key: base64 of the 32-byte seed, or a PKCS#8 PEM. Unset: a dev key (see credential.py).
    signing_key: str | None = None
    # Public verification: a token bucket per client address, per replica.
    verify_rate_per_minute: float = 30.0
    verify_burst: int = 10
    # A replica rebuilds (reads, compresses, signs) a public status list at most this often.
    status_list_cache_s: float = 30.0
    # How many reverse proxies in front of the service append to X-Forwarded-For (0: use the peer).
    trusted_proxy_hops: int = 0
    # Batched numbering (ADR 0025): the lease holder numbers up to numbering_batch pending
    # issues per transaction, on a timer of numbering_interval_s and after each new one.
    numbering_interval_s: float = 0.3
    numbering_batch: int = 200
    # Longer than a transaction may retry (shared.store, 15 s): a slow batch must not outlive
    # its lease, or the next holder's batch and this one conflict on the counter.
    numbering_lease_s: float = 30.0


def _signatories(raw: str | None) -> tuple[Signatory, ...]:
    if not raw:
        return tuple(Signatory(**s) for s in DEFAULT_SIGNATORIES)
    try:
        items = json.loads(raw)
        signatories = tuple(Signatory(role=str(i["role"]), name=str(i["name"]), nip=i.get("nip")) for i in items)
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError("CERTIFICATION_SIGNATORIES must be a JSON list of "
                         '{"role": ..., "name": ..., "nip": ...} objects') from exc
    if not 1 <= len(signatories) <= 3:
        raise ValueError("CERTIFICATION_SIGNATORIES must name one to three signatories")
    return signatories


def check_production(signing_key: str | None, signatories: tuple[Signatory, ...]) -> None:
    """With ASN_ENV=production, raise ProductionConfigError for the development defaults: no
    signing key or the public development key (anyone could sign an altered credential and
    this service would vouch for it), or a placeholder signatory name on the PDF."""
    from services.certification.credential import is_development_key  # it imports the domain

    # is_dev_secret first: a generated development value ("dev-...") is not even a key
    require(not is_dev_secret(signing_key) and not is_development_key(signing_key),
            "CERTIFICATION_SIGNING_KEY (or SIGNING_KEY)",
            "unset, marked as a development key, or the public development key (its seed is in the "
            "source code, so anyone could sign an altered credential)", SERVICE)
    placeholders = [s.name for s in signatories if s.name.strip().casefold() in PLACEHOLDER_SIGNATORY_NAMES]
    require(not placeholders, "CERTIFICATION_SIGNATORIES (or SIGNATORIES)",
            f"placeholder signatory names {placeholders} (set the officials who sign)", SERVICE)


def load() -> CertificationConfig:
    number_format = env("NUMBER_FORMAT", DEFAULT_NUMBER_FORMAT, SERVICE)
    # Fail at start-up, not on the first certificate, when the format is broken.
    number_format.format(seq=1, year=2026, line="X")
    signing_key = env("SIGNING_KEY", None, SERVICE)
    signatories = _signatories(env("SIGNATORIES", None, SERVICE))
    check_production(signing_key, signatories)
    return CertificationConfig(
        number_format=number_format,
        expiry_notice_days=int(env("EXPIRY_NOTICE_DAYS", "30", SERVICE)),
        expiry_scan_interval_s=float(env("EXPIRY_SCAN_INTERVAL_S", "3600", SERVICE)),
        expiry_scan_batch=int(env("EXPIRY_SCAN_BATCH", "500", SERVICE)),
        signatories=signatories,
        issuer_name=env("ISSUER_NAME", DEFAULT_ISSUER_NAME, SERVICE),
        place=env("CERTIFICATE_PLACE", "Bukittinggi", SERVICE),
        signing_key=signing_key,
        verify_rate_per_minute=float(env("VERIFY_RATE_PER_MINUTE", "30", SERVICE)),
        verify_burst=int(env("VERIFY_BURST", "10", SERVICE)),
        status_list_cache_s=float(env("STATUS_LIST_CACHE_S", "30", SERVICE)),
        trusted_proxy_hops=int(env("TRUSTED_PROXY_HOPS", "0", SERVICE)),
        numbering_interval_s=float(env("NUMBERING_INTERVAL_S", "0.3", SERVICE)),
        numbering_batch=max(1, int(env("NUMBERING_BATCH", "200", SERVICE))),
        numbering_lease_s=float(env("NUMBERING_LEASE_S", "30", SERVICE)),
    )
