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
from pathlib import Path
from typing import TYPE_CHECKING

from shared.config import DEFAULT_PORTS, Settings, env, setting, variable
from shared.config import load as load_settings
from shared.production import is_dev_secret, require

if TYPE_CHECKING:  # -- PAdES signing (issue 24): pyHanko is imported when a PDF is first signed
    from services.certification.adapters import pades

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
    # -- PAdES signing (issue 24): the key material of the certificate PDF's electronic
    # signature (None: this process's development chain) and an optional RFC 3161 TSA.
    pdf_signing: pades.SigningSource | None = None
    pdf_tsa_url: str | None = None

    @cached_property
    def pdf_signer(self) -> pades.PdfSigner:
        """Signs certificate PDFs; the key material is loaded once per configuration."""
        from services.certification.adapters import pades

        return pades.PdfSigner(pades.load_signer(self.pdf_signing or pades.SigningSource()), self.place,
                               self.pdf_tsa_url)
    # -- end of PAdES signing

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
        **_pdf_signing(),  # -- PAdES signing (issue 24)
    )


# -- PAdES signing (issue 24) ---------------------------------------------------------------
# The PDF signature's key material: PDF_SIGNING_KEY(_FILE) (PEM/DER private key, optional
# PDF_SIGNING_KEY_PASSPHRASE(_FILE)) with PDF_SIGNING_CHAIN(_FILE) (the signer's certificate,
# then its intermediates), or PDF_SIGNING_PKCS12_FILE (+ PDF_SIGNING_PKCS12_PASSPHRASE(_FILE)).

def _material(name: str, *, file_only: bool = False) -> tuple[bytes | None, str]:
    """The bytes of ``name`` (its value) or ``name``_FILE (the file's content), and the
    variable they came from for error messages."""
    value = None if file_only else env(name, None, SERVICE)
    if value:
        return value.encode(), variable(name, SERVICE)
    path = env(f"{name}_FILE", None, SERVICE)
    label = variable(f"{name}_FILE", SERVICE)
    if not path:
        return None, label if file_only else f"{SERVICE.upper()}_{name}(_FILE)"
    try:
        return Path(path).read_bytes(), label
    except OSError as exc:
        raise ValueError(f"{label}: cannot read {path}: {exc}") from None


def _passphrase(name: str) -> bytes | None:
    value, _ = _material(name)
    return value.rstrip(b"\r\n") if value else None  # a secret file often ends with a newline


def _pdf_signing() -> dict:
    """``pdf_signing`` and ``pdf_tsa_url`` of load(): the key material is loaded here once, so
    a key that does not fit its chain stops the service at start, naming the variable."""
    from services.certification.adapters import pades

    key, key_var = _material("PDF_SIGNING_KEY")
    chain, chain_var = _material("PDF_SIGNING_CHAIN")
    pkcs12, pkcs12_var = _material("PDF_SIGNING_PKCS12", file_only=True)
    if pkcs12 and key:
        raise ValueError(f"{pkcs12_var} and {key_var}: set one of them (a PKCS#12 file holds the key itself)")
    source = pades.SigningSource(key=key, key_passphrase=_passphrase("PDF_SIGNING_KEY_PASSPHRASE"), chain=chain,
                                 pkcs12=pkcs12, pkcs12_passphrase=_passphrase("PDF_SIGNING_PKCS12_PASSPHRASE"))
    names = {"key": key_var, "chain": chain_var, "pkcs12": pkcs12_var, "pair": f"{key_var} and {chain_var}"}
    require(source.configured, f"{key_var} with {chain_var}, or {pkcs12_var}",
            "unset: certificates would be signed with the generated development chain", SERVICE)
    try:
        signer = pades.load_signer(source)
    except pades.SigningMaterialError as exc:
        raise ValueError(f"{names[exc.part]}: {exc}") from None
    require(not pades.is_development(pades.chain_of(signer)), names["pkcs12" if pkcs12 else "chain"],
            f"the development chain ({pades.DEV_ROOT_NAME})", SERVICE)
    tsa_url = env("PDF_TSA_URL", None, SERVICE)
    if tsa_url and not tsa_url.startswith(("http://", "https://")):
        raise ValueError(f"{variable('PDF_TSA_URL', SERVICE)} = {tsa_url!r}: must be an http(s) URL")
    return {"pdf_signing": source if source.configured else None, "pdf_tsa_url": tsa_url}
