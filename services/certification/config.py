"""Settings of the certification service: one frozen object, built by ``load(settings)`` when a
container starts (``shared.runtime.Runtime``), never at import time.

Every variable may be prefixed ``CERTIFICATION_`` (see ``shared.config.env``); a bad value
raises naming its variable. With ``ASN_ENV=production`` loading refuses the development
defaults that would let anyone sign credentials (the public development key) or print
placeholder signatories on certificates.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property

from shared.config import DEFAULT_PORTS, Settings, env, setting, variable
from shared.config import load as load_settings
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
DEFAULT_BASE_URL = f"http://127.0.0.1:{DEFAULT_PORTS[SERVICE]}"


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
    # Where people and verifiers reach the service (PUBLIC_BASE_URL): verification URLs, QR
    # codes, credential and status list ids. Without a trailing slash.
    base_url: str = DEFAULT_BASE_URL
    # Ed25519 key: base64 of the 32-byte seed, or a PKCS#8 PEM. Unset: a dev key (adapters/credential.py).
    signing_key: str | None = None
    # Public verification: a token bucket per client address, per replica.
    verify_rate_per_minute: float = 30.0
    verify_burst: int = 10
    # A replica rebuilds (reads, compresses, signs) a public status list at most this often.
    status_list_cache_s: float = 30.0
    # How many reverse proxies in front of the service append to X-Forwarded-For (0: use the peer).
    trusted_proxy_hops: int = 0
    # Batched numbering (ADR 0025): the lease holder numbers up to numbering_batch pending
    # issues per transaction, every numbering_interval_s and after each new one.
    numbering_interval_s: float = 0.3
    numbering_batch: int = 200
    # Longer than a transaction may retry (shared.store, 15 s): a slow batch must not outlive
    # its lease, or the next holder's batch and this one conflict on the counter.
    numbering_lease_s: float = 30.0

    @cached_property
    def issuer(self):
        """Who signs credentials and status lists: the key, the issuer's name and address."""
        from services.certification.adapters.credential import Issuer, load_signing_key

        return Issuer(load_signing_key(self.signing_key), self.issuer_name, self.base_url)


def _number_format() -> str:
    number_format = env("NUMBER_FORMAT", DEFAULT_NUMBER_FORMAT, SERVICE)
    try:  # fail at start-up, not on the first certificate, when the format is broken
        number_format.format(seq=1, year=2026, line="X")
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"{variable('NUMBER_FORMAT', SERVICE)} is not a usable format ({exc!r}); it may use "
                         "{seq}, {year} and {line}") from None
    return number_format


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
    from services.certification.adapters.credential import is_development_key

    # is_dev_secret first: a generated development value ("dev-...") is not even a key
    require(not is_dev_secret(signing_key) and not is_development_key(signing_key),
            "CERTIFICATION_SIGNING_KEY (or SIGNING_KEY)",
            "unset, marked as a development key, or the public development key (its seed is in the "
            "source code, so anyone could sign an altered credential)", SERVICE)
    placeholders = [s.name for s in signatories if s.name.strip().casefold() in PLACEHOLDER_SIGNATORY_NAMES]
    require(not placeholders, "CERTIFICATION_SIGNATORIES (or SIGNATORIES)",
            f"placeholder signatory names {placeholders} (set the officials who sign)", SERVICE)


def load(settings: Settings | None = None) -> CertificationConfig:
    """The configuration of a container started with ``settings`` (scripts and tests may leave
    it out: the environment's settings are read)."""
    from services.certification.adapters.credential import load_signing_key

    settings = settings or load_settings(SERVICE)
    number_format = _number_format()
    signing_key = env("SIGNING_KEY", None, SERVICE)
    signatories = _signatories(env("SIGNATORIES", None, SERVICE))
    check_production(signing_key, signatories)
    if signing_key:
        load_signing_key(signing_key)  # a malformed key fails at start, naming its variable
    return CertificationConfig(
        number_format=number_format,
        expiry_notice_days=setting("EXPIRY_NOTICE_DAYS", 30, SERVICE, int),
        expiry_scan_interval_s=setting("EXPIRY_SCAN_INTERVAL_S", 3600, SERVICE, float),
        expiry_scan_batch=setting("EXPIRY_SCAN_BATCH", 500, SERVICE, int),
        signatories=signatories,
        issuer_name=env("ISSUER_NAME", DEFAULT_ISSUER_NAME, SERVICE),
        place=env("CERTIFICATE_PLACE", "Bukittinggi", SERVICE),
        base_url=settings.public_base_url.rstrip("/"),
        signing_key=signing_key,
        verify_rate_per_minute=setting("VERIFY_RATE_PER_MINUTE", 30, SERVICE, float),
        verify_burst=setting("VERIFY_BURST", 10, SERVICE, int),
        status_list_cache_s=setting("STATUS_LIST_CACHE_S", 30, SERVICE, float),
        trusted_proxy_hops=setting("TRUSTED_PROXY_HOPS", 0, SERVICE, int),
        numbering_interval_s=setting("NUMBERING_INTERVAL_S", 0.3, SERVICE, float),
        numbering_batch=max(1, setting("NUMBERING_BATCH", 200, SERVICE, int)),
        numbering_lease_s=setting("NUMBERING_LEASE_S", 30, SERVICE, float),
    )
