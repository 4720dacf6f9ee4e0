"""The portal's rules as plain functions: who a signed-in person is (claims -> role), the
session and CSRF secrets, the progress chart's geometry, the catalogue's filters and the
words people read. No nameko, no pymongo, no I/O."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta, timezone

from shared import timefmt
from shared.auth import ADMIN, ASN, OPERATOR, check_claims
from shared.events.common import COMPETENCY_TYPES, PROGRAMME_KINDS

SESSION_COOKIE = "asn_portal_session"
CSRF_FIELD = "csrf_token"

KIND_LABELS = {"pelatihan": "Pelatihan", "sertifikasi": "Sertifikasi", "seminar": "Seminar",
               "lokakarya": "Lokakarya", "e-learning": "E-learning", "coaching": "Coaching",
               "mentoring": "Mentoring"}
COMPETENCY_LABELS = {"teknis": "Teknis", "manajerial": "Manajerial", "sosial_kultural": "Sosial kultural",
                     "pemerintahan": "Pemerintahan"}
ENROLMENT_LABELS = {"enrolled": "terdaftar", "waitlisted": "daftar tunggu", "completed": "selesai",
                    "cancelled": "dibatalkan", "awaiting_approval": "menunggu persetujuan atasan"}
CERTIFICATE_LABELS = {"valid": "berlaku", "revoked": "dicabut", "expired": "kedaluwarsa",
                      "superseded": "digantikan"}
ROLE_LABELS = {ADMIN: "Admin BKPSDM", OPERATOR: "Operator OPD", ASN: "ASN"}
# An enrolment the person may still cancel (it holds or awaits a seat)
CANCELLABLE = ("enrolled", "waitlisted", "awaiting_approval")


class SignInRefused(Exception):
    """The provider vouched for someone the platform cannot let in; the message (Bahasa
    Indonesia) says why."""


# -- secrets ----------------------------------------------------------------------------------
def new_secret() -> str:
    """A fresh random value for a session id, a CSRF token, an OIDC state or nonce (256 bits)."""
    return secrets.token_urlsafe(32)


def digest(value: str) -> str:
    """What the store keeps of a session id or feed secret: a leaked database signs nobody in."""
    return hashlib.sha256(value.encode()).hexdigest()


def csrf_ok(expected: str | None, given: str | None) -> bool:
    """Whether a form's CSRF token is the session's (constant time; none never matches)."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def safe_next(path: str | None, default: str = "/") -> str:
    """A page to return to after sign-in: a path of this site only (no //host, no scheme)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path or any(
            ord(c) < 32 for c in path):
        return default
    return path[:500]


# -- who is signed in -------------------------------------------------------------------------
@dataclass(frozen=True)
class Identity:
    """The signed-in person as the portal keeps them in the session."""

    role: str                 # admin, operator or asn: the role service tokens are minted with
    subject: str              # the provider's sub (or dev:<...>)
    name: str
    nip: str | None = None    # own pages (JP, certificates, inbox) need it
    agency: str | None = None
    supervisor: bool = False  # has staff on the roster or acts for a supervisor
    via: str = "oidc"         # oidc or dev

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Identity":
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__ if k in data})

    @property
    def has_own_pages(self) -> bool:
        return self.nip is not None


def _as_list(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v for v in value.replace(",", " ").split() if v]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return []


def map_claims(claims: dict, *, nip_claim: str, role_claim: str, agency_claim: str, role_map: dict) -> dict:
    """The platform role, NIP and agency from the provider's claims (the roster check comes
    after): admin if any role maps to admin, else operator (who needs the agency claim), else an
    ASN by the NIP claim. Raises SignInRefused saying why in Bahasa Indonesia."""
    mapped = {role_map[r] for r in _as_list(claims.get(role_claim)) if r in role_map}
    raw_nip = claims.get(nip_claim)
    nip = "".join(str(raw_nip).split()) if raw_nip not in (None, "") else None
    agency = claims.get(agency_claim) or None
    role = ADMIN if ADMIN in mapped else OPERATOR if OPERATOR in mapped else ASN
    if role == OPERATOR and not agency:
        raise SignInRefused("Akun operator Anda tidak mencantumkan kode OPD; hubungi admin SSO.")
    if role == ASN and not nip:
        raise SignInRefused("Akun Anda tidak mencantumkan NIP, sehingga tidak dapat dikaitkan dengan daftar ASN.")
    try:
        agency, nip = check_claims(role, agency if role == OPERATOR else None, nip)
    except ValueError:
        raise SignInRefused("NIP atau kode OPD pada akun Anda tidak sah; hubungi admin SSO.") from None
    name = claims.get("name") or claims.get("preferred_username") or nip or claims.get("sub")
    return {"role": role, "nip": nip, "agency": agency, "name": str(name), "subject": str(claims.get("sub"))}


def is_supervisor(roster_entry: dict | None) -> bool:
    """Someone with staff on the roster, or acting (Plt/Plh) for a supervisor who has. Older
    roster answers without these fields mean: not a supervisor."""
    if not roster_entry:
        return False
    return (roster_entry.get("staff_count") or 0) > 0 or bool(roster_entry.get("acting_for"))


def nav(identity: Identity | None) -> list[dict]:
    """The menu for this person's roles (ids for the tests: ``nav-<key>``)."""
    if identity is None:
        return [{"key": "masuk", "href": "/masuk", "label": "Masuk"}]
    items = [{"key": "beranda", "href": "/", "label": "Beranda"}]
    if identity.has_own_pages:
        items += [{"key": "katalog", "href": "/katalog", "label": "Katalog"},
                  {"key": "riwayat", "href": "/riwayat", "label": "Riwayat JP"},
                  {"key": "sertifikat", "href": "/sertifikat", "label": "Sertifikat"},
                  {"key": "kotak-masuk", "href": "/kotak-masuk", "label": "Kotak masuk"},
                  {"key": "kalender", "href": "/kalender", "label": "Kalender"}]
    if identity.supervisor:
        items += [{"key": "persetujuan", "href": "/persetujuan", "label": "Persetujuan"},
                  {"key": "tim", "href": "/tim", "label": "Tim saya"}]
    if identity.role == OPERATOR:
        items += [{"key": "operator-plt", "href": "/operator/plt", "label": "Plt/Plh"}]
    if identity.role == ADMIN:
        items += [{"key": "admin-log-akses", "href": "/admin/log-akses", "label": "Log akses"}]
    return items


# -- the progress chart -----------------------------------------------------------------------
def _scale_max(value: float) -> int:
    for step in (5, 10, 20, 25, 30, 40, 50, 60, 80, 100, 150, 200, 300, 500, 1000):
        if value <= step:
            return step
    return int(value) + 1


def progress_chart(jp: int, target: int | None, checkpoint_target: int | None = None,
                   checkpoint_label: str | None = None, width: int = 320) -> dict:
    """A horizontal bar of this year's JP against the year's target and the current
    checkpoint's pro-rated target: geometry only, drawn by templates/_chart.html as SVG."""
    left, right, top, bar_h = 8, 8, 34, 28
    plot_w = width - left - right
    scale = _scale_max(max(jp, target or 0, checkpoint_target or 0, 1) * 1.1)

    def x(value: float) -> float:
        return round(left + plot_w * min(value, scale) / scale, 1)

    markers = []
    if target:
        markers.append({"key": "target", "x": x(target), "value": target, "label": f"Target {target} JP"})
    if checkpoint_target is not None:
        markers.append({"key": "checkpoint", "x": x(checkpoint_target), "value": checkpoint_target,
                        "label": f"Target {checkpoint_label or 'saat ini'}: {checkpoint_target} JP"})
    met = target is not None and jp >= target
    on_track = checkpoint_target is None or jp >= checkpoint_target
    return {"width": width, "height": top + bar_h + 40, "left": left, "top": top, "bar_h": bar_h,
            "plot_w": plot_w, "bar_w": round(x(jp) - left, 1), "jp": jp, "target": target,
            "checkpoint_target": checkpoint_target, "markers": markers, "scale": scale,
            "met": met, "on_track": on_track,
            "ticks": [{"x": x(scale * i / 4), "label": timefmt.number_id(scale * i / 4, 0)} for i in range(5)]}


# -- the catalogue ----------------------------------------------------------------------------
def programme_month(programme: dict) -> str | None:
    """``YYYY-MM`` (WIB) a programme starts in."""
    start = timefmt.parse_time(programme.get("starts_at"))
    return timefmt.wib(start).strftime("%Y-%m") if start else None


def month_options(now: datetime, ahead: int = 12) -> list[dict]:
    """This month and the next ``ahead`` - 1, as filter choices (``2026-03``, ``Maret 2026``)."""
    here = timefmt.wib(now)
    year, month = here.year, here.month
    options = []
    for _ in range(ahead):
        options.append({"value": f"{year:04d}-{month:02d}", "label": f"{timefmt.month_name_id(month)} {year}"})
        month += 1
        if month > 12:
            year, month = year + 1, 1
    return options


def check_filters(kind: str | None, competency_type: str | None, month: str | None) -> dict:
    """The catalogue's filters, unknown values dropped (a stale link still shows a page)."""
    import re

    return {"kind": kind if kind in PROGRAMME_KINDS else None,
            "competency_type": competency_type if competency_type in COMPETENCY_TYPES else None,
            "month": month if month and re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month) else None}


def catalogue(programmes: list[dict], filters: dict, now: datetime) -> list[dict]:
    """Published programmes not yet over, of the month asked for, soonest first."""
    shown = []
    for p in programmes:
        if p.get("status") != "published":
            continue
        ends = timefmt.parse_time(p.get("ends_at"))
        if ends is not None and ends < now:
            continue
        if filters.get("month") and programme_month(p) != filters["month"]:
            continue
        shown.append(p)
    return sorted(shown, key=lambda p: (p.get("starts_at") or "", p.get("code") or ""))


def seats_text(programme: dict) -> str:
    left = programme.get("seats_left")
    if left is None:
        return ""
    if left > 0:
        return f"Sisa {left} kursi dari {programme.get('capacity')}"
    waiting = programme.get("waitlisted") or 0
    return f"Kursi penuh; daftar tunggu {waiting} orang"


def enrolment_text(enrolment: dict | None) -> str:
    """What a person's own enrolment means, in words (with the waitlist place)."""
    if not enrolment:
        return ""
    status = enrolment.get("status")
    if status == "waitlisted" and enrolment.get("waitlist_position"):
        return f"Daftar tunggu nomor {enrolment['waitlist_position']}"
    if status == "awaiting_approval":
        approval = enrolment.get("approval") or {}
        who = approval.get("approver_name")
        return "Menunggu persetujuan atasan" + (f" ({who})" if who else "")
    return ENROLMENT_LABELS.get(status, status or "").capitalize()


def own_enrolments_by_programme(enrolments: list[dict]) -> dict[str, dict]:
    """A person's latest enrolment per programme (an active one wins over a cancelled one)."""
    chosen: dict[str, dict] = {}
    for e in enrolments:
        code = e.get("programme_code")
        current = chosen.get(code)
        if current is None or (current.get("status") == "cancelled" and e.get("status") != "cancelled") or (
                (current.get("status") == "cancelled") == (e.get("status") == "cancelled")
                and (e.get("created_at") or "") > (current.get("created_at") or "")):
            chosen[code] = e
    return chosen


def suggestions(programmes: list[dict], mine: dict[str, dict], limit: int = 3) -> list[dict]:
    """Open programmes the person is not in yet, those with seats first, soonest first."""
    open_ = [p for p in programmes if p.get("enrolment_open") and
             (mine.get(p.get("code")) or {}).get("status") in (None, "cancelled")]
    open_.sort(key=lambda p: ((p.get("seats_left") or 0) <= 0, p.get("starts_at") or ""))
    return open_[:limit]


def enrol_outcome(enrolment: dict) -> str:
    """The message after a self-enrolment."""
    status = enrolment.get("status")
    if status == "awaiting_approval":
        holds = enrolment.get("holds") or (enrolment.get("approval") or {}).get("holds")
        kept = " Kursi Anda ditahan" if holds == "seat" else " Tempat Anda di daftar tunggu ditahan" \
            if holds == "waitlist" else ""
        return ("Pendaftaran Anda menunggu persetujuan atasan." + (kept + " sampai atasan memutuskan."
                                                                    if kept else ""))
    if status == "waitlisted":
        return f"Kursi penuh: Anda masuk daftar tunggu nomor {enrolment.get('waitlist_position') or '-'}."
    return "Anda terdaftar pada program ini."


# -- supervisor, operator and admin pages (izin atasan, tim saya, Plt/Plh, log akses) --
DECISION_LABELS = {"approved": "disetujui", "declined": "ditolak", "lapsed": "kedaluwarsa"}
ACTING_LABELS = {"plt": "Plt (pelaksana tugas)", "plh": "Plh (pelaksana harian)"}
WHAT_LABELS = {"ledger": "riwayat JP", "certificates": "sertifikat", "inbox": "kotak masuk",
               "team": "tim saya (JP staf)", "roster": "daftar ASN"}
# The form's words for a decision -> enrollment's
DECISIONS = {"setuju": "approved", "tolak": "declined"}
REASON_MAX = 500
DECIDED_SHOWN_DAYS = 30
ACTING_MAX_DAYS = 366


def nip_printed(nip: str | None) -> str:
    """An 18-digit NIP as printed on SK and ID cards: ``19880101 201001 1 001`` (birth date,
    appointment month, sex, serial); anything else as it is."""
    if nip and len(nip) == 18 and nip.isdigit():
        return f"{nip[:8]} {nip[8:14]} {nip[14]} {nip[15:]}"
    return nip or "-"


def holds_text(enrolment: dict) -> str:
    """What an awaiting request holds while the supervisor decides."""
    if enrolment.get("holds") == "seat":
        return "Kursi ditahan"
    if enrolment.get("holds") == "waitlist":
        position = enrolment.get("waitlist_position")
        return f"Tempat daftar tunggu nomor {position} ditahan" if position else "Tempat di daftar tunggu ditahan"
    return "-"


def decision_text(approval: dict | None) -> str:
    """``Permohonan ini sudah diputuskan (disetujui)`` and the like."""
    decision = (approval or {}).get("decision")
    return f"Permohonan ini sudah diputuskan ({DECISION_LABELS.get(decision, decision)})" if decision else ""


def is_undecided(enrolment: dict) -> bool:
    """Whether the approver can still decide (the request waits and has no decision)."""
    return enrolment.get("status") == "awaiting_approval" and not (enrolment.get("approval") or {}).get("decision")


def awaiting_requests(items: list[dict]) -> list[dict]:
    """Requests to decide, the nearest deadline first."""
    return sorted((e for e in items if is_undecided(e)),
                  key=lambda e: ((e.get("approval") or {}).get("expires_at") or "", e.get("id") or ""))


def recently_decided(items: list[dict], now: datetime, days: int = DECIDED_SHOWN_DAYS) -> list[dict]:
    """Requests decided (or lapsed) in the last ``days`` days, the latest first."""
    since = now - timedelta(days=days)
    shown = []
    for e in items:
        approval = e.get("approval") or {}
        decided = timefmt.parse_time(approval.get("decided_at"))
        if approval.get("decision") and decided is not None and decided >= since:
            shown.append(e)
    return sorted(shown, key=lambda e: e["approval"]["decided_at"], reverse=True)


def decision_errors(decision: str | None, reason: str | None) -> dict[str, str]:
    """Field errors of a decision form (Bahasa Indonesia, keyed by field name)."""
    errors = {}
    if decision not in DECISIONS:
        errors["keputusan"] = "Pilih setujui atau tolak."
    text = (reason or "").strip()
    if decision == "tolak" and not text:
        errors["alasan"] = "Alasan wajib diisi bila permohonan ditolak."
    elif len(text) > REASON_MAX:
        errors["alasan"] = f"Alasan paling banyak {REASON_MAX} karakter (sekarang {len(text)})."
    return errors


def decision_body(decision: str, reason: str | None) -> dict:
    """What enrollment takes (after ``decision_errors`` found nothing)."""
    text = (reason or "").strip()
    return {"decision": DECISIONS[decision], "reason": text or None}


def decided_message(enrolment: dict) -> str:
    """The flash after a decision."""
    name = (enrolment.get("participant") or {}).get("name") or enrolment.get("nip") or "peserta"
    decision = (enrolment.get("approval") or {}).get("decision")
    if decision == "approved":
        outcome = "masuk daftar tunggu" if enrolment.get("status") == "waitlisted" else "terdaftar"
        return f"Permohonan {name} disetujui; peserta kini {outcome}."
    if decision == "declined":
        return f"Permohonan {name} ditolak; peserta diberi tahu beserta alasannya."
    return f"Permohonan {name} telah diputuskan."


def team_bar(member: dict, width: int = 160) -> dict:
    """The small SVG bar of one staff member: their JP against their own yearly target, with the
    checkpoint's pro-rated target as a marker. Each bar is scaled to the member's own target,
    so bars show progress, not who has more JP than whom."""
    jp, target, checkpoint = member.get("jp") or 0, member.get("target") or 0, member.get("checkpoint_target")
    scale = max(target, jp, checkpoint or 0, 1)
    plot = width - 2

    def x(value: float) -> float:
        return round(1 + plot * min(value, scale) / scale, 1)

    return {"width": width, "height": 16, "bar_w": round(x(jp) - 1, 1), "plot_w": plot,
            "target_x": x(target) if target else None,
            "checkpoint_x": x(checkpoint) if checkpoint is not None else None,
            "met": bool(member.get("met_target")), "on_track": bool(member.get("on_track"))}


def acting_errors(form: dict, now: datetime) -> tuple[dict[str, str], datetime | None]:
    """Field errors of the Plt/Plh form and the delegation's end (23.59.59 WIB of the date given)."""
    errors: dict[str, str] = {}
    for key, label in (("atasan", "NIP atasan"), ("pelaksana", "NIP Plt/Plh")):
        value = "".join((form.get(key) or "").split())
        form[key] = value
        if not (len(value) == 18 and value.isdigit()):
            errors[key] = f"{label} harus 18 angka."
    if not errors and form["atasan"] == form["pelaksana"]:
        errors["pelaksana"] = "Plt/Plh tidak boleh atasan itu sendiri."
    if form.get("jenis") not in ACTING_LABELS:
        errors["jenis"] = "Pilih Plt atau Plh."
    ends_at = None
    try:
        ends_at = timefmt.end_of_day_wib(date.fromisoformat(form.get("sampai") or ""))
    except ValueError:
        errors["sampai"] = "Isi tanggal berakhir (hari/bulan/tahun)."
    if ends_at is not None and ends_at <= now:
        errors["sampai"] = "Tanggal berakhir harus setelah hari ini."
    elif ends_at is not None and ends_at > now + timedelta(days=ACTING_MAX_DAYS):
        errors["sampai"] = "Penugasan Plt/Plh paling lama satu tahun."
    return errors, ends_at


def merge_access_logs(pages: dict[str, list[dict]], limit: int = 200) -> list[dict]:
    """The services' access logs as one list, newest first (each record keeps its service)."""
    rows = [{**record, "service": service} for service, records in pages.items() for record in records]
    rows.sort(key=lambda r: (timefmt.parse_time(r.get("at")) or datetime.min.replace(tzinfo=timezone.utc),
                             r.get("id") or ""), reverse=True)
    return rows[:limit]
