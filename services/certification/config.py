"""Settings of the certification service: one frozen object, built by ``load(settings)`` when a
container starts (``shared.runtime.Runtime``), never at import time.

Every variable may be prefixed ``CERTIFICATION_`` (see ``shared.config.env``); a bad value
raises naming its variable. With ``ASN_ENV=production`` loading refuses the development
defaults that would let anyone sign credentials (the public development key) or print
placeholder signatories on certificates, and an organiser of the reference list nobody
signs for (SIGNATORIES is per organiser, README.md).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from shared import nip as nip_rules
from shared.config import DEFAULT_PORTS, Settings, env, setting, variable
from shared.config import load as load_settings
from shared.production import is_dev_secret, is_production, require
from shared.reference import organisers

if TYPE_CHECKING:  # -- PAdES signing (issue 24): pyHanko is imported when a PDF is first signed
    from services.certification.adapters import pades

SERVICE = "certification"

# {issuer}: the issuer codes of the programme's organisers (domain.number_issuer), so a
# programme of the city alone is numbered 0001/BKT/..., one with BKN 0001/BKN-BKT/...
DEFAULT_NUMBER_FORMAT = "{seq:04d}/{issuer}/SERT-{line}/{year}"
# Every organiser in the reference list outside a list of their own ("*" in SIGNATORIES).
ANY_ORGANISER = "*"
# Development signatories, one per organiser of the reference list: placeholder names, fine
# on a local run, never on a certificate people are given (production refuses them).
_DEV_SIGNATORY_OVERRIDES = {
    "BKN": {"role": "Kepala Kantor Regional XII BKN Pekanbaru", "name": "Nama Pejabat BKN"},
    "PEMKOT_BUKITTINGGI": {"role": "Wali Kota Bukittinggi", "name": "Nama Wali Kota"},
}
# A name that starts like this is a placeholder ("Nama Pejabat LKPP", "Nama Wali Kota").
_PLACEHOLDER_NAME = re.compile(r"^\s*nama\s+(pejabat|wali\s*kota|kepala|penandatangan)\b", re.IGNORECASE)
DEFAULT_ISSUER_NAME = "Badan Kepegawaian Negara dan Pemerintah Kota Bukittinggi"
DEFAULT_BASE_URL = f"http://127.0.0.1:{DEFAULT_PORTS[SERVICE]}"


@dataclass(frozen=True)
class Signatory:
    role: str  # the office, printed above the signature space
    name: str
    nip: str | None = None  # 18 digits (stored); printed as 19700101 199503 2 001


def development_signatories() -> dict[str, tuple[Signatory, ...]]:
    """One placeholder signatory per organiser of the reference list (shared.reference)."""
    return {code: (Signatory(**_DEV_SIGNATORY_OVERRIDES.get(
                code, {"role": f"Kepala {o.name}", "name": f"Nama Pejabat {o.issuer_code}"})),)
            for code, o in organisers().items()}


def is_placeholder(name: str) -> bool:
    """Whether ``name`` is a development placeholder rather than an official's name."""
    return not name.strip() or bool(_PLACEHOLDER_NAME.match(name))


@dataclass(frozen=True)
class CertificationConfig:
    number_format: str = DEFAULT_NUMBER_FORMAT
    expiry_notice_days: int = 30
    expiry_scan_interval_s: float = 3600.0
    expiry_scan_batch: int = 500
    # Organiser code (or "*": any other) → who signs its certificates (1-3), in print order.
    signatories: dict[str, tuple[Signatory, ...]] = field(default_factory=development_signatories)
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
        number_format.format(seq=1, year=2026, line="X", issuer="BKT")
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"{variable('NUMBER_FORMAT', SERVICE)} is not a usable format ({exc!r}); it may use "
                         "{seq}, {year}, {line} and {issuer}") from None
    return number_format


_SIGNATORIES_SHAPE = ('a JSON object of organiser code → list of 1-3 {"role": ..., "name": ..., "nip": ...} '
                      '(e.g. {"PEMKOT_BUKITTINGGI": [{"role": "Wali Kota Bukittinggi", "name": "...", '
                      '"nip": "..."}], "*": [...]}), or one such list for every organiser')


def _signatory_list(items: object, where: str, name: str) -> tuple[Signatory, ...]:
    if isinstance(items, dict):
        items = [items]  # one signatory written without its list
    if not isinstance(items, list) or not 1 <= len(items) <= 3:
        raise ValueError(f"{name}{where} must be a list of one to three signatories: {_SIGNATORIES_SHAPE}")
    signatories = []
    for item in items:
        if not isinstance(item, dict) or not item.get("role") or not item.get("name"):
            raise ValueError(f"{name}{where}: every signatory needs a role and a name: {_SIGNATORIES_SHAPE}")
        nip = item.get("nip")
        if nip is not None:
            nip = nip_rules.digits_only(str(nip))  # written as printed or not
            if len(nip) != nip_rules.LENGTH or not nip.isdigit():
                raise ValueError(f"{name}{where}: the nip of {item['name']} must have 18 digits")
        signatories.append(Signatory(role=str(item["role"]), name=str(item["name"]), nip=nip))
    return tuple(signatories)


def _signatories(raw: str | None) -> dict[str, tuple[Signatory, ...]]:
    """SIGNATORIES: per organiser code, or ``*`` for every organiser without its own; a plain
    list (the first form of the setting) is ``*``. In development an organiser not covered
    signs with its placeholder (``development_signatories``)."""
    name = variable("SIGNATORIES", SERVICE)
    if not raw or not raw.strip():
        return development_signatories()
    try:
        parsed = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"{name} is not JSON ({exc}): {_SIGNATORIES_SHAPE}") from None
    if isinstance(parsed, list):
        parsed = {ANY_ORGANISER: parsed}
    if not isinstance(parsed, dict) or not parsed:
        raise ValueError(f"{name} must be {_SIGNATORIES_SHAPE}")
    known = organisers()
    unknown = sorted(code for code in parsed if code != ANY_ORGANISER and code not in known)
    if unknown:
        raise ValueError(f"{name} names unknown organisers {unknown}; the reference list has "
                         f"{', '.join(known)} (or * for any other)")
    configured = {code: _signatory_list(items, f"[{code!r}]", name) for code, items in parsed.items()}
    if is_production(SERVICE):
        return configured  # no placeholder fills a gap in production: check_production names it
    defaults = development_signatories()
    return {**{c: s for c, s in defaults.items() if ANY_ORGANISER not in configured}, **configured}


def check_production(signing_key: str | None, signatories: dict[str, tuple[Signatory, ...]]) -> None:
    """With ASN_ENV=production, raise ProductionConfigError for the development defaults: no
    signing key or the public development key (anyone could sign an altered credential and
    this service would vouch for it), a placeholder signatory name on the PDF, or an
    organiser of the reference list that nobody signs for (neither its own entry in
    SIGNATORIES nor ``*``): every certificate the service may issue can then be signed."""
    from services.certification.adapters.credential import is_development_key

    # is_dev_secret first: a generated development value ("dev-...") is not even a key
    require(not is_dev_secret(signing_key) and not is_development_key(signing_key),
            "CERTIFICATION_SIGNING_KEY (or SIGNING_KEY)",
            "unset, marked as a development key, or the public development key (its seed is in the "
            "source code, so anyone could sign an altered credential)", SERVICE)
    placeholders = sorted({s.name for group in signatories.values() for s in group if is_placeholder(s.name)})
    require(not placeholders, "CERTIFICATION_SIGNATORIES (or SIGNATORIES)",
            f"unset or placeholder signatory names {placeholders} (set the officials who sign for each "
            "organiser)", SERVICE)
    uncovered = [code for code in organisers() if code not in signatories and ANY_ORGANISER not in signatories]
    require(not uncovered, "CERTIFICATION_SIGNATORIES (or SIGNATORIES)",
            f"no signatories for the organisers {uncovered} (give each its own list, or \"*\" for every "
            "organiser without one)", SERVICE)


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
# then its intermediates), or PDF_SIGNING_PKCS12_FILE (or PDF_SIGNING_PKCS12, its base64) with
# PDF_SIGNING_PKCS12_PASSPHRASE(_FILE).

def _material(name: str, *, base64_value: bool = False) -> tuple[bytes | None, str]:
    """The bytes of ``name`` (its value; base64 for binary material) or ``name``_FILE (the
    file's content), and the variable they came from for error messages."""
    import base64
    import binascii

    value = env(name, None, SERVICE)
    if value:
        if not base64_value:
            return value.encode(), variable(name, SERVICE)
        try:
            return base64.b64decode(value, validate=True), variable(name, SERVICE)
        except binascii.Error:
            raise ValueError(f"{variable(name, SERVICE)}: not base64 (or set {name}_FILE to the file)") from None
    path = env(f"{name}_FILE", None, SERVICE)
    label = variable(f"{name}_FILE", SERVICE)
    if not path:
        return None, f"{SERVICE.upper()}_{name}(_FILE)"
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
    pkcs12, pkcs12_var = _material("PDF_SIGNING_PKCS12", base64_value=True)
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
