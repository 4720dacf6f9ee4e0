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
    text = ENROLMENT_LABELS.get(status, status or "").capitalize()
    return f"{text} sebagai narasumber" if is_speaker(enrolment) and status != "cancelled" else text


# A narasumber (speaker) of a seminar or lokakarya (issue 24): enrolled by staff, takes no seat.
NARASUMBER = "narasumber"


def is_speaker(row: dict | None) -> bool:
    """Whether an enrolment, ledger entry or certificate is a narasumber's (none before roles: peserta)."""
    return (row or {}).get("role") == NARASUMBER


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


# -- operator console: oversight (issue 21) --
# The oversight pages: the compliance dashboard of an OPD (admin: all), the never-enrolled list,
# exports, the shortfall checkpoint run and a programme's certificates. Reporting gives figures
# per OPD as they are; the portal hides every aggregate of a group smaller than this (the same
# floor as REPORTING_PEERS_MIN_ASN): a share of two or three people singles them out.
MIN_GROUP = 5
HIDDEN = "—"
SMALL_GROUP_NOTE = (f"Angka tidak ditampilkan (—) untuk kelompok kurang dari {MIN_GROUP} orang, agar tidak "
                    "mengungkap capaian orang tertentu.")
# Portal download name -> (reporting export path, its label on the page)
EXPORTS = {
    "kepatuhan.csv": ("/exports/compliance.csv", "Kepatuhan JP per OPD (CSV)"),
    "kepatuhan.xlsx": ("/exports/compliance.xlsx", "Kepatuhan JP per OPD (XLSX)"),
    "belum-ikut.csv": ("/exports/never-enrolled.csv", "ASN belum pernah ikut (CSV)"),
    "belum-ikut.xlsx": ("/exports/never-enrolled.xlsx", "ASN belum pernah ikut (XLSX)"),
    "buku-jp.csv": ("/exports/ledger.csv", "Buku JP (CSV)"),
    "buku-jp.xlsx": ("/exports/ledger.xlsx", "Buku JP (XLSX)"),
    "siasn.csv": ("/exports/ledger-siasn.csv", "Riwayat kursus format SIASN (CSV)"),
    "siasn.xlsx": ("/exports/ledger-siasn.xlsx", "Riwayat kursus format SIASN (XLSX)"),
}
CHECKPOINT_LABELS = ("Q1", "Q2", "Q3", "Q4")  # reporting's default REPORTING_SHORTFALL_CHECKPOINTS
JOB_LABELS = {None: "Belum dijalankan", "queued": "Dalam antrean", "running": "Sedang berjalan",
              "done": "Selesai"}
REVOKE_REASON_MIN, REVOKE_REASON_MAX = 5, 500


def _pct(rate) -> str:
    return HIDDEN if rate is None else f"{timefmt.number_id(rate * 100, 1)}%"


def agency_figures(row: dict | None) -> dict:
    """One OPD's (or the totals') compliance figures as shown: every aggregate "—" for a group of
    fewer than MIN_GROUP ASN (``shown`` False); the headcount then reads "kurang dari 5"."""
    row = row or {}
    known = int(row.get("known_asn") or 0)
    shown = known >= MIN_GROUP
    figures = {"agency": row.get("agency"), "agency_name": row.get("agency_name") or row.get("agency") or "Semua OPD",
               "shown": shown, "known": timefmt.number_id(known, 0) if shown else f"kurang dari {MIN_GROUP}"}
    for key in ("met_target", "below_target", "never_enrolled", "asn_with_jp", "jp_total"):
        figures[key] = timefmt.number_id(row.get(key) or 0, 0) if shown else HIDDEN
    figures["met_rate"] = _pct(row.get("met_rate")) if shown else HIDDEN
    figures["average_jp"] = (timefmt.number_id(row["average_jp"], 1) if row.get("average_jp") is not None
                             else HIDDEN) if shown else HIDDEN
    figures["met_rate_value"] = row.get("met_rate") if shown else None
    return figures


def _scale(value: float) -> int:
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000):
        if value <= step:
            return step
    return int(value) + 1


def column_chart(values: list[tuple[str, int]], *, width: int = 320, height: int = 170) -> dict:
    """Vertical bars of counts (the JP distribution, certificates per month): geometry for the
    template's SVG, which also carries every value in words (title/desc and a table)."""
    left, right, top, bottom = 28, 6, 10, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    scale = _scale(max([v for _, v in values] + [1]))
    slot = plot_w / max(len(values), 1)
    bars = []
    for i, (label, value) in enumerate(values):
        h = round(plot_h * value / scale, 1)
        bars.append({"label": label, "value": value, "x": round(left + i * slot + slot * 0.15, 1),
                     "w": round(slot * 0.7, 1), "y": round(top + plot_h - h, 1), "h": h,
                     "cx": round(left + i * slot + slot / 2, 1)})
    ticks = [{"y": round(top + plot_h - plot_h * share, 1), "label": timefmt.number_id(int(scale * share), 0)}
             for share in (0, 0.5, 1) if float(scale * share).is_integer()]
    summary = "; ".join(f"{label}: {timefmt.number_id(value, 0)}" for label, value in values)
    return {"width": width, "height": height, "left": left, "top": top, "plot_w": plot_w, "plot_h": plot_h,
            "base_y": top + plot_h, "bars": bars, "ticks": ticks, "scale": scale, "summary": summary}


def month_rows(monthly: dict | None) -> list[dict]:
    """The months of reporting GET /certificates/monthly with their names (``Maret 2026``)."""
    return [{**m, "label": f"{timefmt.month_name_id(int(m['month'][5:7]))} {m['month'][:4]}"}
            for m in (monthly or {}).get("months") or []]


def distribution_chart(figures_row: dict | None) -> dict | None:
    """ASN per JP bucket ("0", "1-4", ...) of an OPD or the totals; None for a small group."""
    row = figures_row or {}
    if int(row.get("known_asn") or 0) < MIN_GROUP or not row.get("distribution"):
        return None
    return column_chart([(label, int(count)) for label, count in row["distribution"].items()])


def certificates_chart(monthly: dict | None) -> dict | None:
    """Certificates issued per month (reporting GET /certificates/monthly); revocations in the table."""
    months = (monthly or {}).get("months") or []
    if not months:
        return None
    return column_chart([(timefmt.month_name_id(int(m["month"][5:7]), short=True), int(m.get("issued") or 0))
                         for m in months])


def rate_chart(rows: list[dict], *, width: int = 320) -> dict:
    """Horizontal bars of the share of ASN who met the target, one per OPD in code order (never
    ranked); an OPD of fewer than MIN_GROUP ASN has no bar, only "—"."""
    left, right, row_h, label_h = 8, 48, 16, 14
    plot_w = width - left - right
    bars, y = [], 4
    for row in rows:
        rate = row.get("met_rate_value")
        bars.append({"agency": row["agency"], "name": row["agency_name"], "label_y": y + 11, "y": y + label_h,
                     "h": row_h, "w": round(plot_w * (rate or 0), 1), "shown": row["shown"],
                     "text": row["met_rate"], "text_x": left + plot_w + 4})
        y += label_h + row_h + 8
    return {"width": width, "height": y + 4, "left": left, "plot_w": plot_w, "bars": bars}


def programme_figures(p: dict) -> dict:
    """A programme's figures (reporting GET /programmes): results only with MIN_GROUP completions."""
    shown = int(p.get("completed") or 0) >= MIN_GROUP
    fill = p.get("fill_rate")
    return {**p, "results_shown": shown,
            "passed_text": timefmt.number_id(p.get("passed") or 0, 0) if shown else HIDDEN,
            "pass_rate_text": _pct(p.get("pass_rate")) if shown else HIDDEN,
            "fill_text": _pct(fill) if fill is not None else HIDDEN}


def checkpoint_choices(year: int) -> list[dict]:
    """The checkpoints an admin may run: this year's and last year's (YEAR-LABEL)."""
    return [{"id": f"{y}-{label}", "label": checkpoint_label(f"{y}-{label}")}
            for y in (year, year - 1) for label in CHECKPOINT_LABELS]


def checkpoint_label(checkpoint: str) -> str:
    """``Triwulan II tahun 2026`` for ``2026-Q2``: how a person reads a checkpoint's id."""
    label = timefmt.period_label_id(checkpoint)
    return label[:1].upper() + label[1:]


def checkpoint_valid(value: str | None) -> bool:
    year, _, label = (value or "").partition("-")
    return len(year) == 4 and year.isdigit() and 2000 <= int(year) <= 2100 and label in CHECKPOINT_LABELS


def job_view(job: dict | None) -> dict:
    """A shortfall checkpoint's job as the page and the polling script show it."""
    job = job or {}
    status = job.get("status")
    progress = job.get("progress")
    percent = None if progress is None else int(round(progress * 100))
    return {"checkpoint": job.get("checkpoint"), "status": status or "none",
            "status_text": JOB_LABELS.get(status, status or JOB_LABELS[None]), "percent": percent,
            "checked": job.get("checked") or 0, "total": job.get("total"), "nudged": job.get("nudged") or 0,
            "escalated": job.get("escalated") or 0, "supervisor_summaries": job.get("supervisor_summaries") or 0,
            "done": status == "done", "active": status in ("queued", "running"),
            "started": _stamp(job.get("started_at")), "finished": _stamp(job.get("finished_at")),
            "requested": _stamp(job.get("requested_at"))}


def _stamp(value) -> str | None:
    moment = timefmt.parse_time(value) if value else None
    return timefmt.stamp_id(moment) if moment else None


def revoke_errors(reason: str | None) -> dict[str, str]:
    """The revoke form's reason: required, 5 to 500 characters (certification's rule)."""
    reason = (reason or "").strip()
    if not reason:
        return {"alasan": "Alasan pencabutan wajib diisi."}
    if len(reason) < REVOKE_REASON_MIN:
        return {"alasan": f"Alasan pencabutan minimal {REVOKE_REASON_MIN} karakter."}
    if len(reason) > REVOKE_REASON_MAX:
        return {"alasan": f"Alasan pencabutan paling banyak {REVOKE_REASON_MAX} karakter."}
    return {}


# -- operator console: programmes (issue 21) --
# The programme form: each field of enrollment's programme (API name) with the form's name,
# its label, and the rules the API enforces on it shown as a hint beside the field. A 422 of
# the API is translated back onto the form field by (field, rule) with PROGRAMME_RULE_TEXTS.
PROGRAMME_FORM = {  # API field -> form field
    "code": "kode", "title": "judul", "description": "deskripsi", "kind": "jenis", "competency_type": "kompetensi",
    "jp": "jp", "duration_minutes": "durasi_menit", "duration_days": "durasi_hari", "organisers": "penyelenggara",
    "speakers": "narasumber", "starts_at": "mulai", "ends_at": "selesai", "location": "lokasi",
    "enrolment_opens_at": "daftar_buka", "enrolment_closes_at": "daftar_tutup", "capacity": "kapasitas",
    "passing_score": "nilai_lulus", "grants_certificate": "sertifikat",
    "certificate_validity_months": "masa_berlaku", "certification_line": "jalur_sertifikasi",
    "requires_supervisor_approval": "izin_atasan", "reason": "alasan",
}
PROGRAMME_LABELS = {
    "code": "Kode program", "title": "Judul", "description": "Deskripsi", "kind": "Jenis program",
    "competency_type": "Jenis kompetensi", "jp": "JP", "duration_minutes": "Durasi (menit)",
    "duration_days": "Durasi (hari)", "organisers": "Penyelenggara", "speakers": "Narasumber",
    "starts_at": "Mulai", "ends_at": "Selesai", "location": "Tempat", "enrolment_opens_at": "Pendaftaran dibuka",
    "enrolment_closes_at": "Pendaftaran ditutup", "capacity": "Kapasitas (kursi)", "passing_score": "Nilai lulus",
    "grants_certificate": "Menerbitkan sertifikat", "certificate_validity_months": "Masa berlaku sertifikat (bulan)",
    "certification_line": "Jalur sertifikasi", "requires_supervisor_approval": "Izin atasan",
    "reason": "Alasan", "status": "Status program",
}
_NO_FORMULA = "tidak boleh diawali = + - @ dan tanpa karakter kendali (baris baru, tab)"
# The rules of each field as the API enforces them (enrollment schemas.py ProgrammeFields and
# domain.check_programme / check_publishable), shown beside the field before anyone types.
PROGRAMME_HINTS = {
    "code": "Wajib. 1–64 huruf, angka, titik, garis bawah atau tanda hubung, diawali huruf atau angka; "
            "disimpan dalam huruf besar dan tidak dapat diubah.",
    "title": f"Wajib. 3–200 karakter; {_NO_FORMULA}.",
    "description": "Tidak wajib. Paling banyak 5.000 karakter.",
    "kind": "Wajib. Menentukan JP per hari (seminar 4, lokakarya 5, lainnya 8) dan apakah ada narasumber.",
    "competency_type": "Wajib.",
    "jp": "0–1.000. Kosongkan agar JP dihitung dari durasi (45 menit = 1 JP; sisa kurang dari 1 JP tidak dihitung).",
    "duration_minutes": "1–100.000 menit. Isi durasi menit atau durasi hari, tidak keduanya.",
    "duration_days": "Lebih dari 0 sampai 365 hari (boleh desimal). Isi durasi menit atau durasi hari, "
                     "tidak keduanya.",
    "organisers": "Wajib. Pilih 1 atau 2 penyelenggara.",
    "speakers": "Satu narasumber per baris (1–200 karakter, paling banyak 50). Hanya untuk seminar dan "
                "lokakarya, dan wajib diisi sebelum seminar atau lokakarya diterbitkan.",
    "starts_at": "Wajib. Tanggal dan jam dalam WIB.",
    "ends_at": "Wajib. Harus setelah waktu mulai.",
    "location": f"Tidak wajib. Paling banyak 300 karakter; {_NO_FORMULA}.",
    "enrolment_opens_at": "Wajib. Tanggal dan jam dalam WIB.",
    "enrolment_closes_at": "Wajib. Harus setelah pendaftaran dibuka dan paling lambat saat program selesai; "
                           "program hanya dapat diterbitkan sebelum pendaftaran ditutup.",
    "capacity": "Wajib. 1–100.000 kursi; tidak boleh di bawah jumlah kursi yang sudah terisi.",
    "passing_score": "0–100 (boleh desimal). Wajib untuk sertifikasi sebelum diterbitkan.",
    "grants_certificate": "Otomatis: ya untuk sertifikasi, tidak untuk jenis lain.",
    "certificate_validity_months": "1–600 bulan; hanya bila program menerbitkan sertifikat.",
    "certification_line": "1–64 karakter; hanya bila program menerbitkan sertifikat. Sertifikat baru pada jalur "
                          "yang sama menggantikan yang lama.",
    "requires_supervisor_approval": "Pendaftaran mandiri ASN menunggu persetujuan atasan langsung (kursi atau "
                                    "tempat daftar tunggu ditahan selama menunggu).",
    "reason": "Wajib. 3–500 karakter; disampaikan kepada peserta.",
}
# (API field, rule) -> the words shown beside the field. The rule is read from the API's
# English message by PROGRAMME_RULES (first match wins).
PROGRAMME_RULES = (
    ("required", ("Missing data for required field", "Field may not be null")),
    ("timezone", ("give a timezone offset",)),
    ("type", ("Not a valid",)),
    ("length", ("Length must be", "Shorter than minimum", "Longer than maximum")),
    ("range", ("Must be greater than", "Must be less than")),
    ("one_of", ("Must be one of",)),
    ("pattern", ("use 1-64 letters",)),
    ("formula", ("must not begin with",)),
    ("control", ("must not contain control characters",)),
    ("one_duration", ("give duration_minutes or duration_days, not both",)),
    ("derive", ("give jp, or a duration",)),
    ("after_start", ("ends_at must be after starts_at",)),
    ("after_open", ("enrolment_closes_at must be after enrolment_opens_at",)),
    ("by_end", ("enrolment must close by the end",)),
    ("duplicate", ("listed twice",)),
    ("kind", ("belong to",)),
    ("needs_certificate", ("needs grants_certificate",)),
    ("before_publish", ("before it is published",)),
    ("closed", ("enrolment would already be closed",)),
    ("below_taken", ("seats already taken",)),
    ("taken", ("already used by another programme",)),
    ("cancelled", ("is cancelled",)),
)
_T = "Tidak boleh diawali = + - @ (spreadsheet akan menjalankannya sebagai rumus)."
_C = "Tidak boleh berisi karakter kendali (baris baru, tab)."
_WIB = "Isi tanggal dan jam (WIB) yang sah."
PROGRAMME_RULE_TEXTS = {
    ("code", "required"): "Kode program wajib diisi.",
    ("code", "pattern"): "Kode hanya boleh berisi huruf, angka, titik, garis bawah atau tanda hubung (1–64 karakter), "
                         "diawali huruf atau angka.",
    ("code", "taken"): "Kode ini sudah dipakai program lain; pilih kode lain.",
    ("title", "required"): "Judul wajib diisi.",
    ("title", "length"): "Judul harus 3–200 karakter.",
    ("title", "formula"): _T, ("title", "control"): _C,
    ("description", "length"): "Deskripsi paling banyak 5.000 karakter.",
    ("kind", "required"): "Pilih jenis program.",
    ("kind", "one_of"): "Pilih jenis program dari daftar.",
    ("competency_type", "required"): "Pilih jenis kompetensi.",
    ("competency_type", "one_of"): "Pilih jenis kompetensi dari daftar.",
    ("jp", "type"): "JP harus bilangan bulat.",
    ("jp", "range"): "JP harus 0–1.000.",
    ("jp", "derive"): "Isi JP, atau durasi (menit atau hari) agar JP dihitung otomatis.",
    ("duration_minutes", "type"): "Durasi (menit) harus bilangan bulat.",
    ("duration_minutes", "range"): "Durasi harus 1–100.000 menit.",
    ("duration_days", "type"): "Durasi (hari) harus angka, misalnya 2 atau 1,5.",
    ("duration_days", "range"): "Durasi harus lebih dari 0 dan paling lama 365 hari.",
    ("duration_days", "one_duration"): "Isi durasi dalam menit atau dalam hari, tidak keduanya.",
    ("organisers", "required"): "Pilih sedikitnya satu penyelenggara.",
    ("organisers", "length"): "Pilih 1 atau 2 penyelenggara.",
    ("organisers", "one_of"): "Penyelenggara tidak dikenal; pilih dari daftar.",
    ("organisers", "duplicate"): "Penyelenggara tercantum dua kali.",
    ("speakers", "length"): "Nama narasumber 1–200 karakter; paling banyak 50 narasumber.",
    ("speakers", "formula"): _T, ("speakers", "control"): _C,
    ("speakers", "kind"): "Narasumber hanya untuk seminar dan lokakarya; kosongkan atau ubah jenis program.",
    ("speakers", "before_publish"): "Seminar dan lokakarya harus mencantumkan narasumber sebelum diterbitkan.",
    ("starts_at", "required"): "Waktu mulai wajib diisi.",
    ("starts_at", "type"): _WIB, ("starts_at", "timezone"): _WIB,
    ("ends_at", "required"): "Waktu selesai wajib diisi.",
    ("ends_at", "type"): _WIB, ("ends_at", "timezone"): _WIB,
    ("ends_at", "after_start"): "Waktu selesai harus setelah waktu mulai.",
    ("location", "length"): "Tempat paling banyak 300 karakter.",
    ("location", "formula"): _T, ("location", "control"): _C,
    ("enrolment_opens_at", "required"): "Waktu pendaftaran dibuka wajib diisi.",
    ("enrolment_opens_at", "type"): _WIB, ("enrolment_opens_at", "timezone"): _WIB,
    ("enrolment_closes_at", "required"): "Waktu pendaftaran ditutup wajib diisi.",
    ("enrolment_closes_at", "type"): _WIB, ("enrolment_closes_at", "timezone"): _WIB,
    ("enrolment_closes_at", "after_open"): "Pendaftaran harus ditutup setelah dibuka.",
    ("enrolment_closes_at", "by_end"): "Pendaftaran harus ditutup paling lambat saat program selesai.",
    ("enrolment_closes_at", "closed"): "Waktu tutup pendaftaran sudah lewat; mundurkan dulu agar program dapat "
                                       "diterbitkan.",
    ("capacity", "required"): "Kapasitas wajib diisi.",
    ("capacity", "type"): "Kapasitas harus bilangan bulat.",
    ("capacity", "range"): "Kapasitas harus 1–100.000 kursi.",
    ("capacity", "below_taken"): "Kapasitas tidak boleh di bawah jumlah kursi yang sudah terisi.",
    ("passing_score", "type"): "Nilai lulus harus angka, misalnya 70 atau 72,5.",
    ("passing_score", "range"): "Nilai lulus harus 0–100.",
    ("passing_score", "before_publish"): "Sertifikasi harus memiliki nilai lulus sebelum diterbitkan.",
    ("grants_certificate", "type"): "Pilih otomatis, ya, atau tidak.",
    ("certificate_validity_months", "type"): "Masa berlaku harus bilangan bulat (bulan).",
    ("certificate_validity_months", "range"): "Masa berlaku harus 1–600 bulan.",
    ("certificate_validity_months", "needs_certificate"): "Masa berlaku hanya untuk program yang menerbitkan "
                                                          "sertifikat.",
    ("certification_line", "length"): "Jalur sertifikasi 1–64 karakter.",
    ("certification_line", "formula"): _T, ("certification_line", "control"): _C,
    ("certification_line", "needs_certificate"): "Jalur sertifikasi hanya untuk program yang menerbitkan "
                                                 "sertifikat.",
    ("requires_supervisor_approval", "type"): "Centang atau kosongkan izin atasan.",
    ("reason", "required"): "Alasan wajib diisi.",
    ("reason", "length"): "Alasan harus 3–500 karakter.",
    ("reason", "formula"): _T, ("reason", "control"): _C,
    ("status", "cancelled"): "Program ini sudah dibatalkan dan tidak dapat diubah lagi.",
}


def programme_rule(message: str) -> str | None:
    """Which rule an API message (English) states, or None when the table does not know it."""
    for rule, needles in PROGRAMME_RULES:
        if any(n in message for n in needles):
            return rule
    return None


def programme_error_text(api_field: str, message: str) -> str:
    """The Indonesian words for one API error of a field: the table's, else a fallback that
    still names the field (and keeps the API's own words)."""
    text = PROGRAMME_RULE_TEXTS.get((api_field, programme_rule(message) or ""))
    if text:
        return text
    label = PROGRAMME_LABELS.get(api_field, api_field)
    return f"{label}: isian ditolak oleh layanan ({message})."


def _flatten_messages(value, where: str = "") -> list[tuple[str, str]]:
    """marshmallow's messages (lists, or dicts by list index) as (position, message) pairs."""
    if isinstance(value, str):
        return [(where, value)]
    if isinstance(value, dict):
        return [pair for key, inner in value.items() for pair in _flatten_messages(inner, str(key))]
    if isinstance(value, (list, tuple)):
        return [pair for inner in value for pair in _flatten_messages(inner, where)]
    return [(where, str(value))]


def programme_errors(body: dict) -> dict[str, str]:
    """A 422/409 answer of the programme routes as {form field: Indonesian text}: the
    validation ``errors`` of each field, or the single ``field`` + ``message`` of a rule
    across fields. A field the form does not have lands on ``_form`` (shown above the form)."""
    pairs: list[tuple[str, str, str]] = []
    for api_field, messages in (body.get("errors") or {}).items():
        for index, message in _flatten_messages(messages):
            pairs.append((api_field, index, message))
    if not pairs and body.get("message"):
        pairs.append((body.get("field") or "", "", body["message"]))
    errors: dict[str, str] = {}
    for api_field, index, message in pairs:
        text = programme_error_text(api_field, message)
        if index.isdigit() and api_field in ("speakers", "organisers"):
            text = f"{PROGRAMME_LABELS[api_field]} ke-{int(index) + 1}: {text}"
        form_field = PROGRAMME_FORM.get(api_field, "_form")
        errors[form_field] = f"{errors[form_field]} {text}" if form_field in errors else text
    return errors


def _wib_input(value) -> str:
    """A stored moment as a datetime-local input's value in WIB (``2027-06-07T08:00``)."""
    moment = timefmt.parse_time(value)
    return timefmt.wib(moment).strftime("%Y-%m-%dT%H:%M") if moment else ""


def _number_input(value) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)


PROGRAMME_TIMES = ("starts_at", "ends_at", "enrolment_opens_at", "enrolment_closes_at")


def programme_form_values(p: dict | None) -> dict:
    """The form's values of a stored programme (the edit page; empty for a new one)."""
    if not p:
        return {"penyelenggara": ["PEMKOT_BUKITTINGGI"], "sertifikat": "", "izin_atasan": ""}
    values = {PROGRAMME_FORM[f]: _wib_input(p.get(f)) for f in PROGRAMME_TIMES}
    values.update({"kode": p.get("code") or "", "judul": p.get("title") or "", "deskripsi": p.get("description") or "",
                   "jenis": p.get("kind") or "", "kompetensi": p.get("competency_type") or "",
                   # a JP derived from the duration stays derived: the field is left empty
                   "jp": "" if p.get("jp_source") == "derived" else _number_input(p.get("jp")),
                   "durasi_menit": _number_input(p.get("duration_minutes")),
                   "durasi_hari": _number_input(p.get("duration_days")),
                   "penyelenggara": list(p.get("organisers") or []),
                   "narasumber": "\n".join(p.get("speakers") or []), "lokasi": p.get("location") or "",
                   "kapasitas": _number_input(p.get("capacity")),
                   "nilai_lulus": _number_input(p.get("passing_score")),
                   "sertifikat": {True: "ya", False: "tidak"}.get(p.get("grants_certificate"), ""),
                   "masa_berlaku": _number_input(p.get("certificate_validity_months")),
                   "jalur_sertifikasi": p.get("certification_line") or "",
                   "izin_atasan": "ya" if p.get("requires_supervisor_approval") else ""})
    return values


def read_programme_form(form, organisers: list[str]) -> dict:
    """The submitted form as the form's values (strings; organisers a list), normalised the way
    ``programme_form_values`` writes them so an unchanged field compares equal."""
    values = {name: (form.get(name) or "").strip() for name in PROGRAMME_FORM.values()
              if name not in ("penyelenggara", "alasan", "narasumber")}
    values["penyelenggara"] = [o for o in organisers if o]
    values["narasumber"] = "\n".join(line.strip() for line in (form.get("narasumber") or "").splitlines()
                                     if line.strip())
    values["izin_atasan"] = "ya" if values.get("izin_atasan") in ("ya", "on", "1", "true") else ""
    return values


_LOCAL_TIME = __import__("re").compile(  # domain.py imports re only where used
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$")


def _api_value(api_field: str, text):
    """One form value as the API takes it. Numbers and times go as typed (the API checks them
    and its answer is shown beside the field); a time without offset is WIB."""
    if api_field == "organisers":
        return list(text)
    if api_field == "speakers":
        return [line for line in text.splitlines() if line.strip()]
    if api_field == "requires_supervisor_approval":
        return text == "ya"
    if api_field == "grants_certificate":
        return {"ya": True, "tidak": False}.get(text)
    if text == "":
        return None
    if api_field in PROGRAMME_TIMES:
        return f"{text}:00+07:00" if _LOCAL_TIME.match(text) and len(text) == 16 else \
            f"{text}+07:00" if _LOCAL_TIME.match(text) else text
    if api_field in ("duration_days", "passing_score"):
        return text.replace(",", ".")
    return text


def programme_body(values: dict, current: dict | None = None) -> dict:
    """The API body of the form: every field given (create), or only those that differ from the
    current programme's form values (edit: a PATCH of what the admin changed)."""
    before = programme_form_values(current) if current is not None else None
    body = {}
    for api_field, name in PROGRAMME_FORM.items():
        if name == "alasan" or name not in values:
            continue
        if before is not None:
            if api_field == "code" or values[name] == before.get(name, ""):
                continue
        value = _api_value(api_field, values[name])
        if before is None and value in (None, []) and api_field != "organisers":
            continue  # create: leave out what was not given (the API's defaults apply)
        body[api_field] = value
    return body


def programme_status_text(p: dict, now: datetime) -> str:
    status = p.get("status")
    if status == "cancelled":
        return "Dibatalkan"
    if status == "draft":
        return "Draf"
    ends, starts = timefmt.parse_time(p.get("ends_at")), timefmt.parse_time(p.get("starts_at"))
    if ends and ends <= now:
        return "Selesai"
    if starts and starts <= now:
        return "Berlangsung"
    return "Dibuka untuk pendaftaran" if p.get("enrolment_open") else "Diterbitkan"


def console_filters(status: str | None, kind: str | None, month: str | None) -> dict:
    """The console list's filters, unknown values dropped."""
    checked = check_filters(kind, None, month)
    return {"status": status if status in ("draft", "published", "cancelled") else None,
            "kind": checked["kind"], "month": checked["month"]}


def console_programmes(programmes: list[dict], filters: dict) -> list[dict]:
    """The programmes of the console list: by month (WIB start), latest start first."""
    shown = [p for p in programmes if not filters.get("month") or programme_month(p) == filters["month"]]
    return sorted(shown, key=lambda p: (p.get("starts_at") or "", p.get("code") or ""), reverse=True)


def session_days(p: dict) -> list[dict]:
    """The programme's sessions: enrollment's ``sessions`` when it gives them, else the WIB days
    from start to end (``{"date", "label"}``)."""
    if p.get("sessions"):
        return list(p["sessions"])
    starts, ends = timefmt.parse_time(p.get("starts_at")), timefmt.parse_time(p.get("ends_at"))
    if not starts:
        return []
    first, last = timefmt.wib_date(starts), timefmt.wib_date(ends or starts)
    days, day, n = [], first, 1
    while day <= last and n <= 366:
        days.append({"date": day.isoformat(), "label": f"Hari {n} – {timefmt.long_date_id(day)}"})
        day += timedelta(days=1)
        n += 1
    return days


def can_promote(enrolment: dict, p: dict, now: datetime) -> bool:
    """Whether "Naikkan dari daftar tunggu" is offered (enrollment decides in the end): a
    waitlisted ASN, a free seat, a published programme that has not ended."""
    ends = timefmt.parse_time(p.get("ends_at"))
    return (enrolment.get("status") == "waitlisted" and p.get("status") == "published"
            and (p.get("seats_left") or 0) > 0 and (ends is None or now < ends))


def participant_rows(enrolments: list[dict]) -> tuple[list[dict], list[dict], list[dict]]:
    """(participants with a seat or done, and the speakers (narasumber, first), the waitlist by
    position, the cancelled)."""
    seated = [e for e in enrolments if e.get("status") in ("enrolled", "completed")
              or (e.get("status") == "awaiting_approval" and e.get("holds") != "waitlist")]
    queue = [e for e in enrolments if e.get("status") == "waitlisted"
             or (e.get("status") == "awaiting_approval" and e.get("holds") == "waitlist")]
    cancelled = [e for e in enrolments if e.get("status") == "cancelled"]
    name = lambda e: ((e.get("participant") or {}).get("name") or "").lower()  # noqa: E731
    # the speakers first, labelled on the page; they hold no seat
    seated.sort(key=lambda e: (not is_speaker(e), name(e), e.get("nip") or ""))
    queue.sort(key=lambda e: (e.get("waitlist_position") or 10**9, e.get("id") or ""))
    cancelled.sort(key=lambda e: (name(e), e.get("nip") or ""))
    return seated, queue, cancelled


RESULT_LABELS = {"passed": "Lulus", "failed": "Tidak lulus", "no_show": "Tidak hadir"}


def attendance_mark(enrolment: dict, day: str) -> str:
    """``hadir`` / ``tidak`` / ``""`` (not recorded) for one session of one participant."""
    value = (enrolment.get("attendance_days") or {}).get(day)
    return "" if value is None else "hadir" if value else "tidak"


def enrol_refusal(status: int, message: str) -> str:
    """Why enrolling someone from the console failed, in Bahasa Indonesia."""
    if status in (403, 404):
        return "ASN tersebut tidak ada di daftar ASN aktif OPD Anda."
    if status == 409:
        if "not open for enrolment" in message or "is draft" in message or "is cancelled" in message:
            return "Program ini tidak dibuka untuk pendaftaran (belum diterbitkan atau dibatalkan)."
        if "opens at" in message:
            return "Pendaftaran program ini belum dibuka."
        if "closed at" in message:
            return "Pendaftaran program ini sudah ditutup."
        return f"Pendaftaran tidak dapat diproses: {message}"
    return f"Pendaftaran ditolak: {message}"


def enrolled_message(enrolment: dict, existed: bool) -> str:
    name = (enrolment.get("participant") or {}).get("name") or enrolment.get("nip")
    if existed:
        return f"{name} sudah terdaftar pada program ini ({ENROLMENT_LABELS.get(enrolment.get('status'), '')})."
    if enrolment.get("status") == "waitlisted":
        return f"Kursi penuh: {name} masuk daftar tunggu nomor {enrolment.get('waitlist_position') or '-'}."
    if enrolment.get("role") == "narasumber":  # a speaker takes no seat
        return f"{name} terdaftar sebagai narasumber pada program ini."
    return f"{name} terdaftar pada program ini."


def promote_refusal(status: int, message: str) -> str:
    text = message.lower()
    if status in (403, 404):
        return "Pendaftaran ini bukan milik ASN OPD Anda atau tidak ditemukan."
    if "seat" in text:
        return "Tidak ada kursi kosong; peserta tetap di daftar tunggu."
    if "waitlist" in text:
        return "Peserta ini tidak berada di daftar tunggu."
    if "ended" in text or "over" in text:
        return "Program sudah selesai; daftar tunggu tidak dapat dinaikkan lagi."
    if "publish" in text or "cancel" in text:
        return "Program tidak diterbitkan atau sudah dibatalkan."
    return f"Tidak dapat dinaikkan dari daftar tunggu: {message}"


def enrolment_reason_error(reason: str | None) -> str | None:
    """The reason a cancellation by staff needs (enrollment: 1–500 characters, no formula start)."""
    text = (reason or "").strip()
    if not text:
        return "Alasan pembatalan wajib diisi."
    if len(text) > REASON_MAX:
        return f"Alasan paling banyak {REASON_MAX} karakter (sekarang {len(text)})."
    if text[0] in "=+-@":
        return _T
    return None


# -- operator console: uploads and marking (issue 21) --
import re as _re  # noqa: E402 - kept inside this section (three helpers share this file)

# The upload route's fixed body cap, as enrollment's BULK_BODY_CEILING (nameko reads it at
# import); the configured limit (PortalConfig.upload_max_bytes) is checked per upload.
UPLOAD_BODY_CEILING = 256 * 1024 * 1024


@dataclass(frozen=True)
class UploadKind:
    key: str
    label: str
    needs_programme: bool
    columns: str         # what the file carries, for the page
    reads_xlsx: bool     # enrollment reads XLSX itself (else the portal turns it into CSV)


UPLOAD_KINDS = {
    "pendaftaran": UploadKind("pendaftaran", "Pendaftaran peserta ke program", True,
                              "nip (wajib); boleh juga nama, opd, jabatan, daftar_ulang (ya/tidak)", False),
    "kelulusan": UploadKind("kelulusan", "Kelulusan peserta (nilai dan kehadiran)", True,
                            "nip (wajib); nilai (0–100) dan/atau hadir (ya/tidak)", False),
    "daftar-asn": UploadKind("daftar-asn", "Impor daftar ASN", False,
                             "nip (atau NIP BARU), nama, jenis_asn, kode_opd, jabatan, golongan, nip_atasan, "
                             "status, email, telepon", True),
}
ROSTER_MODES = {"sebagian": "Sebagian: tambah dan perbarui", "penuh": "Penuh: ganti daftar ASN satu OPD"}
# The columns enrollment names in a rejected row, as the operator's file calls them
COLUMN_LABELS = {"nip": "nip", "name": "nama", "nama": "nama", "agency": "opd", "kode_opd": "kode_opd",
                 "position": "jabatan", "jabatan": "jabatan", "score": "nilai", "attended": "hadir",
                 "reenrol": "daftar_ulang", "id_kind": "id_kind", "file": "berkas", "programme": "program",
                 "role": "peran", "enrolment": "pendaftaran", "status": "status", "golongan": "golongan",
                 "nip_atasan": "nip_atasan", "email": "email", "telepon": "telepon", "jenis_asn": "jenis_asn",
                 "tmt": "tmt", "nama_opd": "nama_opd", "enrolment_id": "pendaftaran", "present": "hadir",
                 "session": "sesi"}
OUTCOME_LABELS = {"created": "didaftarkan", "reactivated": "didaftarkan kembali", "unchanged": "tidak berubah",
                  "completed": "dicatat selesai", "added": "ditambahkan", "updated": "diperbarui",
                  "left": "ditandai keluar"}
# enrollment's English reasons, as the operator reads them (first match wins)
_REASONS = (
    (r"^(NIP|NI PPPK|identifier) must have (\d+) digits, got (\d+)", "{0} harus {1} angka (tertulis {2} angka)"),
    (r"^(NIP|NI PPPK|identifier) must (be a string of|have) (\d+) digits", "{0} harus {2} angka"),
    (r"^(NIP|NI PPPK|identifier) must contain digits only", "{0} hanya boleh berisi angka"),
    (r"^NIP appointment month (\d+)", "bulan pengangkatan pada NIP ({0}, angka ke-13–14) bukan bulan 01–12"),
    (r"^NI PPPK must carry the PPPK code", "NI PPPK harus memuat kode PPPK 2 pada angka ke-13"),
    (r"^NI PPPK count of work agreements \(digit 14\) must be 1-9",
     "angka ke-14 NI PPPK (perjanjian kerja ke-) harus 1–9"),
    (r"is before the holder turned (\d+)", "tanggal pengangkatan pada nomornya sebelum pemiliknya berusia {0} tahun"),
    (r"holder was already (\d+) .* at (\d+) at the latest",
     "pada tanggal pengangkatan pemiliknya sudah berusia {0} tahun; paling tua diangkat pada usia {1} tahun"),
    (r"lies in the future", "tanggal pada NIP berada di masa depan"),
    (r"is not after the birth date", "tanggal pengangkatan pada NIP tidak sesudah tanggal lahirnya"),
    (r"birth date", "tanggal lahir pada NIP tidak sah"),
    (r"^not enrolled in (\S+)", "tidak terdaftar pada program {0}"),
    (r"^give a score or attended", "isi nilai atau hadir (ya/tidak)"),
    (r"^score '(.*)' is not a number", "nilai '{0}' bukan angka"),
    (r"^score (\S+) is outside 0-100", "nilai {0} di luar 0–100"),
    (r"^attended '(.*)' is not ya/tidak", "hadir '{0}' bukan ya/tidak"),
    (r"^reenrol '(.*)' is not ya/tidak", "daftar_ulang '{0}' bukan ya/tidak"),
    (r"^role (\S+) may not", "peran {0} tidak berhak melakukan ini"),
    (r"is (cancelled|draft), not open for enrolment", "program tidak membuka pendaftaran"),
    (r"^enrolment in \S+ opens at", "pendaftaran program ini belum dibuka"),
    (r"^enrolment in \S+ closed at", "pendaftaran program ini sudah ditutup"),
    (r"completed (differently|already)", "sudah dicatat selesai dengan hasil lain"),
    (r"has not started", "program belum dimulai"),
    (r"must not contain control characters", "isinya tidak boleh memuat baris baru atau tab"),
    (r"starts at \S+; (attendance|completion)s? cannot be recorded before", "program belum dimulai; kehadiran dan "
                                                                          "kelulusan belum dapat dicatat"),
    (r"the data store became unavailable", "penyimpanan data sempat tidak tersedia; unggah berkas yang sama "
                                           "sekali lagi untuk menyelesaikannya (baris yang sudah masuk tidak "
                                           "terulang)"),
    (r"cannot be read past row (\d+)", "berkas tidak dapat dibaca setelah baris {0}"),
    (r"^the header row lacks the column\(s\) ([^;]+)", "baris judul kolom tidak memuat kolom {0}"),
    (r"^the file is not UTF-8", "berkas bukan teks UTF-8; simpan CSV sebagai UTF-8 (atau unggah XLSX)"),
    (r"^the file is empty", "berkas kosong; baris pertama harus judul kolom, paling sedikit: nip"),
    (r"more than (\d+) rows", "berkas memuat lebih dari {0} baris; pecah berkasnya (paling banyak {0} baris "
                              "sekali unggah)"),
    (r"^the form carries no file", "formulir tidak memuat berkas"),
)
_INDONESIAN = (" tidak ", " bukan ", "harus", "sudah", "belum", "berkas", "daftar", " ini ", "wajib", "isi ")


def reason_text(reason: str | None) -> str:
    """A reason enrollment gave, in Bahasa Indonesia: its own words where they already are,
    else a known English reason translated, else the English kept after a short prefix."""
    text = (reason or "").strip()
    if not text:
        return "ditolak"
    for pattern, words in _REASONS:
        match = _re.search(pattern, text)
        if match:
            return words.format(*match.groups())
    if any(word in f" {text.lower()} " for word in _INDONESIAN):
        return text
    return f"ditolak oleh layanan pendaftaran ({text})"


def column_label(field_name: str | None) -> str:
    return COLUMN_LABELS.get(field_name or "", field_name or "-")


def upload_line(item: dict) -> dict:
    """One line of enrollment's streamed answer as the page reads it: a rejected row gains
    ``kolom`` and ``alasan`` (Bahasa Indonesia), the summary a ``pesan`` when it stopped early."""
    if "summary" in item:
        summary = dict(item["summary"] or {})
        if summary.get("error"):
            summary["pesan"] = reason_text(summary["error"])
        return {"summary": summary}
    if "total" in item:  # the portal's own first line: the rows of a workbook it turned into CSV
        return {"total": item["total"]}
    if "error" in item:
        return {"error": item["error"], "pesan": "Hubungan dengan layanan pendaftaran terputus sebelum semua baris "
                                                "selesai; baris yang sudah masuk tetap tersimpan. Unggah berkas yang "
                                                "sama sekali lagi untuk menyelesaikannya."}
    line = dict(item)
    if not line.get("accepted"):
        line["kolom"] = column_label(line.get("field"))
        line["alasan"] = reason_text(line.get("reason"))
    else:
        line["hasil"] = OUTCOME_LABELS.get(line.get("outcome"), line.get("outcome") or "diterima")
    return line


def upload_refusal(status: int, message: str | None, body: dict | None = None) -> str:
    """Why enrollment refused a whole upload (before any row), for the page."""
    text = reason_text(message) if message else ""
    if status == 404:
        return "Program tidak ditemukan."
    if status in (401, 403):
        known = message if message and any(w in message for w in ("operator", "OPD")) else ""
        return known or "Anda tidak berhak mengunggah berkas ini."
    if status == 413:
        return (text[:1].upper() + text[1:] + ".") if text and "berkas" in text else \
            "Berkas terlalu besar atau memuat terlalu banyak baris; pecah berkasnya."
    if status >= 500:
        return "Layanan pendaftaran sedang tidak dapat dihubungi. Silakan coba lagi sebentar lagi."
    if not text:
        return "Berkas tidak dapat diproses."
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def size_text(count: int) -> str:
    """A byte count for people: ``64 MB``, ``512 KB``."""
    if count >= 1024 * 1024:
        return f"{timefmt.number_id(count / (1024 * 1024), 0 if count % (1024 * 1024) == 0 else 1)} MB"
    if count >= 1024:
        return f"{timefmt.number_id(count / 1024, 0)} KB"
    return f"{count} bita"


def upload_errors(kind: str | None, code: str | None, mode: str | None, kode_opd: str | None) -> dict[str, str]:
    """The upload form's fields (before the file is read); keys are the form's field names."""
    errors: dict[str, str] = {}
    if kind not in UPLOAD_KINDS:
        errors["jenis"] = "Pilih jenis unggahan."
        return errors
    if UPLOAD_KINDS[kind].needs_programme and not code:
        errors["program"] = "Pilih program tujuan unggahan."
    if kind == "daftar-asn":
        if (mode or "sebagian") not in ROSTER_MODES:
            errors["mode"] = "Pilih mode impor: sebagian atau penuh."
        elif mode == "penuh" and not (kode_opd or "").strip():
            errors["kode_opd"] = "Impor penuh memerlukan kode OPD yang daftar ASN-nya diganti."
    return errors


def upload_target(kind: str, code: str | None, mode: str | None, kode_opd: str | None, confirmed: bool,
                  operator_agency: str | None) -> tuple[str, dict]:
    """Enrollment's bulk route and query for an upload (the operator's full import is its own OPD)."""
    if kind == "pendaftaran":
        return f"/programmes/{code}/enrolments/bulk", {}
    if kind == "kelulusan":
        return f"/programmes/{code}/completions/bulk", {}
    params = {"mode": mode or "sebagian"}
    if params["mode"] == "penuh":
        params["kode_opd"] = (operator_agency or kode_opd or "").strip().upper()
        if confirmed:
            params["konfirmasi"] = "ya"
    return "/roster/import", params


@dataclass
class UploadTally:
    """The results of an upload as the page without JavaScript shows them."""

    rows: int = 0
    accepted: int = 0
    rejected: int = 0
    rejected_rows: list = None
    summary: dict | None = None
    stopped: str | None = None  # why the upload ended early (Bahasa Indonesia)

    def add(self, line: dict) -> None:
        if self.rejected_rows is None:
            self.rejected_rows = []
        if "summary" in line:
            self.summary = line["summary"]
            self.stopped = self.stopped or line["summary"].get("pesan")
            return
        if "error" in line:
            self.stopped = line["pesan"]
            return
        if "total" in line:
            return
        self.rows += 1
        if line.get("accepted"):
            self.accepted += 1
        else:
            self.rejected += 1
            self.rejected_rows.append(line)


# marking (penilaian): a session's attendance and scores in one table
SELF_PACED_KINDS = ("e-learning", "coaching", "mentoring")  # no sessions: marked per person (enrollment's rule)
MARKED_STATUSES = ("enrolled", "completed")                 # the participants of a marking table
MARKING_MAX_ROWS = 2000                                      # rows one enrollment call takes
MARKING_OUTCOMES = {"recorded": "Tersimpan", "completed": "Tersimpan; kelulusan dicatat",
                    "unchanged": "Tidak berubah"}
PRESENCE = {"ya": True, "tidak": False, "": None}


def marking_session(sessions: list[dict], asked: str | None, today: str) -> str | None:
    """The session the table marks: the one asked for, else today's, else the last one that has
    begun, else the first (None for a self-paced programme)."""
    days = [s.get("date") for s in sessions or [] if s.get("date")]
    if not days:
        return None
    if asked in days:
        return asked
    if today in days:
        return today
    begun = [d for d in days if d <= today]
    return begun[-1] if begun else days[0]


def completions_allowed(programme: dict, now: datetime) -> bool:
    """Whether "Catat kelulusan" is offered: a self-paced programme per person, a scheduled one
    once it has ended (enrollment refuses the rest with 409)."""
    if programme.get("kind") in SELF_PACED_KINDS:
        return True
    ends = timefmt.parse_time(programme["ends_at"]) if isinstance(programme.get("ends_at"), str) else \
        programme.get("ends_at")
    return ends is not None and ends <= now


def marking_rows(form, enrolment_ids: list[str], complete: bool) -> tuple[list[dict], dict[str, str]]:
    """The table's rows as enrollment's marking body takes them (``form``: the posted fields
    hadir-<id> = ya|tidak|'' and nilai-<id>), and the errors beside the fields, keyed by id."""
    rows, errors = [], {}
    for enrolment_id in enrolment_ids:
        presence = (form.get(f"hadir-{enrolment_id}") or "").strip().lower()
        if presence not in PRESENCE:
            errors[enrolment_id] = "Pilih hadir atau tidak hadir."
            continue
        raw = (form.get(f"nilai-{enrolment_id}") or "").strip().replace(",", ".")
        score = None
        if raw and complete:
            try:
                score = float(raw)
            except ValueError:
                errors[enrolment_id] = "Nilai harus angka 0–100."
                continue
            if not 0 <= score <= 100:
                errors[enrolment_id] = "Nilai harus angka 0–100."
                continue
        rows.append({"enrolment_id": enrolment_id, "present": PRESENCE[presence], "score": score})
    return rows, errors


def marking_result_text(result: dict) -> str:
    """One row's answer, for the cell beside it."""
    if not result.get("accepted"):
        return reason_text(result.get("reason"))
    text = MARKING_OUTCOMES.get(result.get("outcome"), "Tersimpan")
    if result.get("result"):
        text += f" ({RESULT_LABELS.get(result['result'], result['result']).lower()})"
    return text


def marking_refusal(status: int, field_name: str | None, message: str | None) -> str:
    """Why enrollment refused the whole marking, for the page."""
    if status == 404:
        return "Program tidak ditemukan."
    if status in (401, 403):
        return "Anda tidak berhak mencatat kehadiran program ini."
    if field_name == "session":
        return ("Sesi itu belum dimulai (WIB); kehadiran dicatat mulai hari sesi." if status == 409 else
                "Pilih salah satu hari program sebagai sesi.")
    if field_name == "complete":
        return "Kelulusan program terjadwal baru dapat dicatat setelah program berakhir."
    return reason_text(message)[:1].upper() + reason_text(message)[1:]


# -- operator console: programmes (issue 21), continued: the JP preview --

def jp_preview_request(args: dict) -> tuple[dict | None, dict | None]:
    """(enrollment GET /jp's query, None) for the form's values, or (None, the answer) when the
    preview needs no call: JP typed by hand, or no kind chosen yet."""
    given = (args.get("jp") or "").strip()
    if given:
        if given.isdigit():
            return None, {"jp": int(given), "text": f"{int(given)} JP (diisi langsung, tidak dihitung dari durasi)"}
        return None, {"jp": None, "text": "JP harus bilangan bulat 0–1.000."}
    kind = (args.get("jenis") or "").strip()
    if kind not in KIND_LABELS:
        return None, {"jp": None, "text": "Pilih jenis program untuk menghitung JP."}
    params = {"kind": kind}
    for name, api_field in (("durasi_menit", "duration_minutes"), ("durasi_hari", "duration_days"),
                            ("mulai", "starts_at"), ("selesai", "ends_at")):
        value = _api_value(api_field, (args.get(name) or "").strip())
        if value is not None:
            params[api_field] = value
    return params, None


def jp_preview_text(answer: dict) -> dict:
    """Enrollment's preview (its rule in Bahasa Indonesia) as the page shows it."""
    jp = answer.get("jp")
    rule = answer.get("rule") or ""
    if jp is None:
        return {"jp": None, "text": f"JP belum dapat dihitung: {rule}." if rule else "JP belum dapat dihitung."}
    return {"jp": jp, "text": f"{jp} JP: {rule}" if rule else f"{jp} JP"}


JP_PREVIEW_INVALID = {"jp": None, "text": "JP belum dapat dihitung: periksa durasi dan tanggal (angka dan tanggal "
                                          "yang sah)."}
