"""Notification rules as plain functions: which message an event causes, on which channels,
when it may be sent (quiet hours, reminders, back-off), when a nudge or an escalation is
due, what a template may show, and who may act on an ASN's notification data. No nameko,
no pymongo: everything here is unit-tested without I/O.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Callable
from urllib.parse import quote

from services.notification.config import NotificationConfig
from shared.auth import ADMIN, ASN, OPERATOR, Principal
from shared.errors import Forbidden
from shared.events.common import LEFT_STATUSES, PARTICIPATION_ROLES
from shared.reference import agency as reference_agency
from shared.timefmt import parse_time, period_label_id

CHANNELS = ("email", "webhook", "inbox")
PESERTA, NARASUMBER = PARTICIPATION_ROLES
PUSH_CHANNELS = ("email", "webhook")  # the inbox is passive: never deferred, never opted out


@dataclass(frozen=True)
class MessageKind:
    name: str
    description: str  # shown in the API docs and to operators


KINDS = {k.name: k for k in (
    MessageKind("enrolled", "Pendaftaran diterima: kursi di program sudah tersedia"),
    MessageKind("promoted", "Naik dari daftar tunggu menjadi peserta"),
    MessageKind("waitlisted", "Masuk daftar tunggu"),
    MessageKind("cancelled", "Pendaftaran dibatalkan"),
    MessageKind("completed_passed", "Program selesai: lulus"),
    MessageKind("completed_failed", "Program selesai: belum lulus"),
    MessageKind("completed_no_show", "Program selesai: tidak hadir"),
    MessageKind("certified", "Sertifikat terbit"),
    MessageKind("revoked", "Sertifikat dicabut"),
    MessageKind("expiring", "Sertifikat akan habis masa berlakunya"),
    MessageKind("reminder", "Pengingat sebelum program dimulai"),
    MessageKind("nudge", "Ajakan memenuhi target JP tahunan"),
    MessageKind("escalation", "Ringkasan ASN di bawah target JP (untuk operator OPD)"),
    MessageKind("supervisor_summary", "Ringkasan staf di bawah target JP (untuk atasan langsung)"),
    # Supervisor approval (izin atasan, issue 20).
    MessageKind("approval_request", "Permohonan izin atasan untuk mengikuti program (untuk atasan)"),
    MessageKind("approval_reminder", "Pengingat permohonan izin atasan yang belum diputuskan (untuk atasan)"),
    MessageKind("approval_pending", "Pendaftaran menunggu persetujuan atasan"),
    MessageKind("approval_granted", "Atasan menyetujui pendaftaran"),
    MessageKind("approval_declined", "Atasan menolak pendaftaran"),
    MessageKind("approval_lapsed", "Permohonan izin atasan kedaluwarsa"),
    MessageKind("acting_assigned", "Penunjukan sebagai Plt/Plh atasan"),
    MessageKind("acting_revoked", "Penunjukan sebagai Plt/Plh atasan berakhir"),
)}
# Duty kinds cannot be opted out of (the inbox and the person's channels always get them),
# each for its own reason:
# - summaries: the OPD operator's goes to the agency, and an atasan langsung cannot opt out of
#   hearing which of their staff fall behind;
# - approval_request / approval_reminder: the decision is the supervisor's duty, and silence
#   costs someone else: the request lapses and the ASN loses the seat it held;
# - approval_declined / approval_lapsed: someone else's act (or inaction) took back the seat
#   the ASN believed was held for them; they must know to talk to their supervisor or enrol
#   in another programme;
# - acting_assigned / acting_revoked: a Plt/Plh's authority over another supervisor's staff
#   starts and ends there; acting without knowing it (or after it ended) is not possible.
# Opt-out-able approval messages: approval_pending confirms what the ASN just did in the
# portal, approval_granted is good news followed by the ordinary enrolled/waitlisted message.
DUTY_KINDS = ("escalation", "supervisor_summary", "approval_request", "approval_reminder", "approval_declined",
              "approval_lapsed", "acting_assigned", "acting_revoked")
# Kinds an ASN may opt out of (pushes by email/webhook; the inbox always receives them).
OPTABLE_KINDS = tuple(k for k in KINDS if k not in DUTY_KINDS)


def kind_of(service: str, event_name: str, data: dict) -> str:
    """The message kind a public event causes."""
    if (service, event_name) == ("enrollment", "enrolled"):
        return "promoted" if data.get("promoted_from_waitlist") else "enrolled"
    if (service, event_name) == ("enrollment", "completed"):
        return f"completed_{data['result']}"
    if (service, event_name) == ("reporting", "shortfall_detected"):
        return "nudge"
    if event_name in KINDS:
        return event_name
    raise KeyError(f"no message kind for {service}.{event_name}")


# -- channels ---------------------------------------------------------------------------

def channels_for(recipient: dict | None, kind: str, config: NotificationConfig) -> list[tuple[str, str | None]]:
    """(channel, skip reason) for an ASN: the preferred channels plus the inbox.

    A channel the ASN opted out of for this kind is listed with the reason, so the log
    shows why nothing was pushed; the inbox always receives the message.
    """
    preferred = list((recipient or {}).get("channels") or config.default_channels)
    if "inbox" not in preferred:
        preferred.append("inbox")
    result = []
    for channel in CHANNELS:
        if channel not in preferred:
            continue
        skip = f"opted out of {kind}" if channel != "inbox" and opted_out(recipient, kind) else None
        result.append((channel, skip))
    return result


def opted_out(recipient: dict | None, kind: str) -> bool:
    """Whether the recipient opted out of pushes of ``kind`` (never of a duty kind)."""
    return kind in OPTABLE_KINDS and kind in ((recipient or {}).get("opt_outs") or ())


def address_for(channel: str, contact: dict | None) -> str | None:
    """The address a channel needs from a recipient or agency contact, or None."""
    if not contact:
        return None
    if channel == "email":
        return contact.get("email") or None
    if channel == "webhook":
        return contact.get("whatsapp") or contact.get("phone") or None
    return None


def missing_contact_reason(channel: str, who: str) -> str:
    what = {"email": "email address", "webhook": "phone or WhatsApp number"}[channel]
    return f"undeliverable: {who} has no {what} on record"


_URL = re.compile(r"\b[a-z][a-z0-9+.\-]*://[^\s\"'<>]+", re.IGNORECASE)
_QUERY = re.compile(r"\?[^\s\"'<>]*=[^\s\"'<>)]*")
_EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~\-]+@[\w\-]+(?:\.[\w\-]+)+")


def redact(text: str) -> str:
    """A failure text fit to store in the delivery history and publish in ``notification.failed``:
    without URLs or query strings (a webhook URL's query string may hold a token) or email
    addresses (an SMTP reply often echoes the recipient; events carry no contact data)."""
    return _EMAIL.sub("<email>", _QUERY.sub("?<redacted>", _URL.sub("<url>", text)))


_PHONE_SEPARATORS = re.compile(r"[\s\-().]")


def normalise_phone(value: str) -> str:
    """An Indonesian mobile number in E.164 (``+628…``); raises ValueError with the reason."""
    digits = _PHONE_SEPARATORS.sub("", value.strip())
    if digits.startswith("+"):
        digits = digits[1:]
    elif digits.startswith("0"):
        digits = "62" + digits[1:]
    if not digits.isdigit():
        raise ValueError("may contain only digits, spaces, dashes and a leading +")
    if not digits.startswith("62"):
        raise ValueError("must be an Indonesian number (+62… or 08…)")
    if not 10 <= len(digits) <= 15:
        raise ValueError("must have 10 to 15 digits including the country code 62")
    return "+" + digits


# -- when to send -----------------------------------------------------------------------

def in_quiet_hours(local: time, start: time, end: time) -> bool:
    """Whether ``local`` falls in [start, end); the window may wrap midnight (21:00–06:00)."""
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


def after_quiet_hours(at: datetime, config: NotificationConfig) -> datetime:
    """``at`` itself, or the end of the quiet hours it falls in (UTC)."""
    local = at.astimezone(config.tz)
    if not in_quiet_hours(local.timetz().replace(tzinfo=None), config.quiet_start, config.quiet_end):
        return at
    end = local.replace(hour=config.quiet_end.hour, minute=config.quiet_end.minute, second=0, microsecond=0)
    if end <= local:
        end += timedelta(days=1)
    return end.astimezone(timezone.utc)


def is_urgent(kind: str, config: NotificationConfig) -> bool:
    return kind in config.urgent_kinds


def send_at(due: datetime, kind: str, channel: str, config: NotificationConfig) -> datetime:
    """When a delivery may go out: pushes of non-urgent kinds wait out the quiet hours."""
    if channel == "inbox" or is_urgent(kind, config):
        return due
    return after_quiet_hours(due, config)


def retry_at(now: datetime, attempts: int, kind: str, channel: str, config: NotificationConfig) -> datetime:
    """Next attempt after ``attempts`` failed ones (growing back-off, quiet hours respected)."""
    delays = config.backoff_s or (60.0,)
    delay = delays[min(attempts - 1, len(delays) - 1)]
    return send_at(now + timedelta(seconds=delay), kind, channel, config)


def gives_up(attempts: int, config: NotificationConfig) -> bool:
    return attempts >= config.max_attempts


def outcome_of(status: str) -> str:
    """How a delivery's new status reads in its history (and the outcome metric)."""
    return "retry" if status == "pending" else status


def reminder_due(starts_at: datetime | None, now: datetime, config: NotificationConfig) -> datetime | None:
    """When to remind an enrolled ASN; None when there is no schedule or it is too late
    (the enrolment message itself already tells the date)."""
    if starts_at is None:
        return None
    due = starts_at - config.reminder_before
    return due if due > now else None


def superseded_by_cancellation(event_at: datetime, cancelled_at: datetime | None) -> bool:
    """An enrolled/waitlisted event older than a cancellation already seen is stale:
    events arrive in any order, and a re-enrolment carries a later time."""
    return cancelled_at is not None and cancelled_at >= event_at


# -- nudges and escalation --------------------------------------------------------------

def nudge_allowed(last_nudged_at: datetime | None, now: datetime, config: NotificationConfig) -> bool:
    """At most one nudge per ASN per period."""
    return last_nudged_at is None or now - last_nudged_at >= config.nudge_period


def nudge_decision(state: dict | None, checkpoint: str, now: datetime, config: NotificationConfig) -> str | None:
    """None when the ASN is nudged for ``checkpoint``, else why not (ADR 0031): once per ASN
    per checkpoint whatever the time since, and at most one per ``NUDGE_PERIOD`` between
    checkpoints (bounded in config so that it cannot swallow a quarterly checkpoint)."""
    state = state or {}
    if checkpoint in (state.get("checkpoints") or ()) or state.get("checkpoint") == checkpoint:
        return f"already nudged for {checkpoint}"
    if not nudge_allowed(state.get("last_nudged_at"), now, config):
        return f"last nudge at {state['last_nudged_at']:%Y-%m-%d %H:%M}Z, within NUDGE_PERIOD"
    return None


def escalates(consecutive_shortfalls: int, config: NotificationConfig) -> bool:
    return config.escalation_threshold > 0 and consecutive_shortfalls >= config.escalation_threshold


def escalation_targets(data: dict, config: NotificationConfig) -> tuple[str, ...]:
    """Who gets a summary listing the ASN of a ``shortfall_detected``: ``"supervisor"`` and/or
    ``"agency"``. Reporting decides (``escalate_to``); an older event without it keeps the
    threshold rule (``ESCALATION_THRESHOLD`` consecutive misses → the OPD operator). A
    supervisor summary without a known supervisor goes to the OPD instead."""
    wanted = data.get("escalate_to")
    if wanted is None:
        return ("agency",) if escalates(data["consecutive_shortfalls"], config) else ()
    targets = set(wanted)
    if "supervisor" in targets and not (data.get("supervisor") or {}).get("nip"):
        targets = (targets - {"supervisor"}) | {"agency"}
    return tuple(t for t in ("supervisor", "agency") if t in targets)


def supervisor_digest_id(supervisor_nip: str, checkpoint: str) -> str:
    return f"supervisor:{supervisor_nip}|{checkpoint}"


def agency_digest_id(agency: str, checkpoint: str) -> str:
    return f"{agency}|{checkpoint}"


def peer_percent(met_share: float) -> int:
    """The share of colleagues who met the target as a whole percent, rounded down (a figure
    never claims more than is true: 0.29 is 29 %, not 28 % from a binary 28.999…)."""
    return int(Decimal(str(met_share)) * 100)


def checkpoint_label(checkpoint: str) -> str:
    """How a message names the moment a target is for: ``akhir triwulan II tahun 2026`` for
    ``2026-Q2`` (a person never sees the raw id; ``shared.timefmt.period_label_id``)."""
    return period_label_id(checkpoint, at_end=True)


def is_pppk(participant: dict) -> bool:
    """Whether the ASN is a PPPK (contract staff): the roster's ``jenis_asn``, else the kind of
    their number. A PPPK's yearly target is the city's (REPORTING_JP_TARGET_PPPK), not the PNS
    minimum of 20 JP (PP 11/2017 as amended by PP 17/2020, pasal 203): PP 49/2018 gives a PPPK
    the opportunity of competency development (pasal 39) of at most 24 JP per contract year
    (pasal 40), so a PPPK's nudge never says they must reach the PNS minimum."""
    jenis = participant.get("jenis_asn")
    if jenis:
        return jenis == "PPPK"
    return participant.get("id_kind") == "ni_pppk"


# What an ASN who left the roster no longer gets (what is waiting is dropped).
ENDED_BY_LEAVING = ("nudge", "reminder")

_EMAIL_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def roster_contact(email: str | None, phone: str | None) -> tuple[str | None, str | None, list[str]]:
    """(e-mail, telephone in E.164, problems) from an ``asn_contact``: blank is none, an
    unusable value is left out with the reason (which never repeats the value: contact
    data is not logged)."""
    problems = []
    email = (email or "").strip() or None
    if email and not _EMAIL_SHAPE.match(email):
        problems.append("e-mail is not an address")
        email = None
    phone = (phone or "").strip() or None
    if phone:
        try:
            phone = normalise_phone(phone)
        except ValueError as exc:
            problems.append(f"telephone {exc}")
            phone = None
    return email, phone, problems


def has_left(entry: dict | None) -> bool:
    """Whether the roster says the ASN left (pensiun, pindah, ...): no more nudges or reminders."""
    return bool(entry) and entry.get("status") in LEFT_STATUSES


def suggestions(programmes: list[dict], now: datetime, limit: int) -> list[dict]:
    """The suggested programmes still open (enrolment not closed, not started), soonest first."""
    def still_open(p: dict) -> bool:
        closes = parse_time(p.get("enrolment_closes_at")) or parse_time(p.get("starts_at"))
        return closes is None or closes > now

    def start(p: dict) -> datetime:
        return parse_time(p.get("starts_at")) or datetime.max.replace(tzinfo=timezone.utc)

    return sorted((p for p in programmes if still_open(p)), key=start)[:limit]


# -- what a message shows (template contexts; see templates/README.md) --------------------
# Datetimes stay aware UTC ``datetime`` objects: the templates show them in WIB.

def _programme(p: dict) -> dict:
    return {**p, "starts_at": parse_time(p.get("starts_at")), "ends_at": parse_time(p.get("ends_at")),
            "speakers": p.get("speakers") or [], "location": p.get("location"),
            "grants_certificate": bool(p.get("grants_certificate"))}


def _date(value) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def participant_role(data: dict) -> str:
    """The ASN's role in the programme an event is about (``enrolled``, ``completed``,
    ``certified`` carry it): a narasumber (speaker) is told so, never about seats or a waitlist.
    Events without it (older ones, and the rest) are a peserta's."""
    return NARASUMBER if data.get("role") == NARASUMBER else PESERTA


def asn_context(kind: str, data: dict, config: NotificationConfig, now: datetime) -> dict:
    """The context for an ASN's message of ``kind`` caused by an event with ``data``."""
    participant = data.get("participant") or data.get("holder")
    role = participant_role(data)
    context = {"participant": participant, "nip": participant["nip"], "portal_url": config.portal_url,
               "programme": _programme(data["programme"]) if "programme" in data else None,
               "role": role, "narasumber": role == NARASUMBER}
    if kind == "waitlisted":
        context["position"] = data["position"]
    elif kind == "cancelled":
        context.update(reason=data["reason"], cancelled_by=data["cancelled_by"],
                       previous_status=data["previous_status"], cancelled_at=parse_time(data["cancelled_at"]))
    elif kind.startswith("completed_"):
        completed_at = parse_time(data["completed_at"])
        context.update(score=data.get("score"), jp_earned=data["jp_earned"], completed_at=completed_at,
                       year=completed_at.astimezone(config.tz).year)
    elif kind == "certified":
        context.update(number=data["number"], issued_on=_date(data["issued_on"]),
                       valid_until=_date(data.get("valid_until")), jp=data["jp"],
                       verification_url=data["verification_url"])
    elif kind == "revoked":
        context.update(number=data["number"], reason=data["reason"], revoked_at=parse_time(data["revoked_at"]))
    elif kind == "expiring":
        context.update(number=data["number"], valid_until=_date(data["valid_until"]), days_left=data["days_left"])
    elif kind == "nudge":
        programmes = [{**p, "starts_at": parse_time(p.get("starts_at")),
                       "enrolment_closes_at": parse_time(p.get("enrolment_closes_at"))}
                      for p in suggestions(data.get("suggested_programmes") or [], now, config.nudge_max_suggestions)]
        peers = data.get("peers")
        context.update(year=data["year"], checkpoint=data["checkpoint"], jp_total=data["jp_total"],
                       jp_target=data["jp_target"], jp_missing=data["jp_missing"], programmes=programmes,
                       # Older events carry the yearly target in jp_target and nothing of the rest.
                       yearly_target=data.get("yearly_target"), never_enrolled=bool(data.get("never_enrolled")),
                       target_label=checkpoint_label(data["checkpoint"]), pppk=is_pppk(participant),
                       peer_percent=peer_percent(peers["met_share"]) if peers else None,
                       agency_name=agency_name(participant["agency"], participant.get("agency_name")))
    return context


def agency_name(code: str, stated: str | None = None) -> str:
    """An OPD's name as people know it: the event's, else the reference list's, else the code."""
    known = reference_agency(code)
    return stated or (known.name if known else code)


# A summary line stored before issue 19 lacks the roster's fields.
_ITEM_DEFAULTS = {"position": None, "yearly_target": None, "never_enrolled": False, "has_supervisor": True}


def escalation_context(digest: dict, items: list[dict], contact: dict | None, agency_name: str,
                       config: NotificationConfig) -> dict:
    """The context of the operator's summary of ASN below target (repeatedly, or without a
    known supervisor)."""
    return {"agency": digest["agency"], "agency_name": agency_name, "checkpoint": digest["checkpoint"],
            "year": digest["year"], "items": [{**_ITEM_DEFAULTS, **i} for i in items],
            "threshold": config.escalation_threshold,
            "repeated_only": all(i.get("consecutive_shortfalls", 0) >= 2 for i in items),
            "contact_name": (contact or {}).get("name") or "Bapak/Ibu", "portal_url": config.portal_url}


def supervisor_summary_context(digest: dict, items: list[dict], supervisor_name: str | None,
                               config: NotificationConfig) -> dict:
    """The context of an atasan langsung's summary of their staff below this checkpoint's target."""
    return {"nip": digest["supervisor_nip"], "supervisor_name": supervisor_name or "Bapak/Ibu",
            "checkpoint": digest["checkpoint"], "target_label": checkpoint_label(digest["checkpoint"]),
            "year": digest["year"],
            "items": sorted(({**_ITEM_DEFAULTS, **i} for i in items), key=lambda i: (i["name"], i["nip"])),
            "portal_url": config.portal_url}


# -- supervisor approval (izin atasan) and acting supervisors (Plt/Plh) ----------------------
# enrollment's event -> the message it causes and to whom ("approver", "participant", "acting").
APPROVAL_MESSAGES = {
    "approval_link": ("approval_request", "approver"),
    "approval_reminded": ("approval_reminder", "approver"),
    "approval_requested": ("approval_pending", "participant"),
    "approval_granted": ("approval_granted", "participant"),
    "approval_declined": ("approval_declined", "participant"),
    "approval_lapsed": ("approval_lapsed", "participant"),
    "acting_supervisor_assigned": ("acting_assigned", "acting"),
    "acting_supervisor_revoked": ("acting_revoked", "acting"),
}
# The events that end a request: its link is no longer kept, waiting pushes about it are dropped.
APPROVAL_DECISIONS = {"approval_granted": "approved", "approval_declined": "declined", "approval_lapsed": "lapsed"}
# Messages that mean nothing once a request is decided (their pushes still waiting are dropped).
APPROVAL_OPEN_KINDS = ("approval_request", "approval_reminder", "approval_pending")
ACTING_LABELS = {"plt": "Pelaksana Tugas (Plt)", "plh": "Pelaksana Harian (Plh)"}


def approval_recipient(event_name: str, data: dict) -> str:
    """The NIP an approval or acting event's message goes to."""
    _, audience = APPROVAL_MESSAGES[event_name]
    if audience == "approver":
        return data["approver_nip"]
    if audience == "acting":
        return data["acting_nip"]
    return data["participant"]["nip"]


def approval_link(config: NotificationConfig, token: str | None) -> str:
    """The portal page of one request (``/persetujuan/<token>``), or the list of requests
    when no token is known (a reminder whose link notification never received)."""
    base = config.portal_public_url.rstrip("/") + "/persetujuan"
    return f"{base}/{quote(token, safe='')}" if token else base


def approval_context(event_name: str, data: dict, config: NotificationConfig, *, token: str | None = None,
                     names: dict[str, str] | None = None) -> dict:
    """The context of the message an approval/acting event causes. ``token``: the request's
    signed link (approval_link; kept for approval_reminded); ``names``: NIP -> name from the
    roster, for the supervisor and approver the events name only by NIP."""
    names = names or {}
    kind, _ = APPROVAL_MESSAGES[event_name]
    portal = config.portal_public_url.rstrip("/")
    context = {"nip": approval_recipient(event_name, data), "portal_url": portal,
               "list_url": approval_link(config, None)}
    if event_name.startswith("acting_"):
        supervisor = data["supervisor_nip"]
        context.update(supervisor_nip=supervisor, supervisor_name=names.get(supervisor),
                       acting_name=data.get("acting_name") or names.get(data["acting_nip"]) or "Bapak/Ibu",
                       agency_name=agency_name(data["agency"]))
        if event_name == "acting_supervisor_assigned":
            context.update(acting_kind=data["kind"], acting_label=ACTING_LABELS.get(data["kind"], data["kind"]),
                           ends_at=parse_time(data["ends_at"]), assigned_at=parse_time(data["assigned_at"]))
        else:
            context.update(revoked_at=parse_time(data["revoked_at"]))
        return context

    if event_name == "approval_link":
        # The private event carries names and the title only: the portal page shows the rest.
        participant = {"nip": data["participant_nip"], "name": data["participant_name"], "position": None}
        programme = {"code": data["programme_code"], "title": data["programme_title"], "starts_at": None,
                     "ends_at": None, "location": None}
    else:
        participant, programme = data["participant"], _programme(data["programme"])
    approver = data.get("approver_nip")
    context.update(participant=participant, programme=programme,
                   approver_name=data.get("approver_name") or names.get(approver) or "atasan langsung Anda")
    if kind in ("approval_request", "approval_reminder"):
        context.update(approver_name=names.get(approver) or "Bapak/Ibu", expires_at=parse_time(data["expires_at"]),
                       link=approval_link(config, token) if token else None)
    elif kind == "approval_pending":
        context.update(expires_at=parse_time(data["expires_at"]), acting=data.get("acting"),
                       acting_label=ACTING_LABELS.get(data.get("acting") or "", None),
                       holds=data["holds"], position=data.get("position"))
    elif kind == "approval_granted":
        context.update(decided_at=parse_time(data["decided_at"]), status=data["status"])
    elif kind == "approval_declined":
        context.update(decided_at=parse_time(data["decided_at"]), reason=data["reason"])
    elif kind == "approval_lapsed":
        context.update(lapsed_at=parse_time(data["lapsed_at"]))
    return context


def shortfall_item(data: dict, now: datetime) -> dict:
    """One ASN's line in a summary, from their ``shortfall_detected``."""
    participant = data["participant"]
    return {"nip": participant["nip"], "name": participant["name"], "position": participant.get("position"),
            "jp_total": data["jp_total"], "jp_target": data["jp_target"], "jp_missing": data["jp_missing"],
            "yearly_target": data.get("yearly_target"), "never_enrolled": bool(data.get("never_enrolled")),
            "consecutive_shortfalls": data["consecutive_shortfalls"],
            "has_supervisor": bool((data.get("supervisor") or {}).get("nip")), "notified": False, "added_at": now}


# -- recipients --------------------------------------------------------------------------
CONTACT_FIELDS = ("id_kind", "name", "agency", "email", "phone", "whatsapp", "channels", "opt_outs")


def as_on_roster(fields: dict, entry: dict | None) -> dict:
    """A recipient write with the roster's name and agency for an ASN the roster lists (the
    roster is the authority on both; the contact data and preferences are the writer's)."""
    if not entry:
        return fields
    return {**fields, "name": entry["name"], "agency": entry["agency"]}


def same_recipient(existing: dict | None, fields: dict) -> bool:
    """Whether a registration changes nothing (then it answers ``unchanged``)."""
    return existing is not None and all(existing.get(k) == fields.get(k) for k in ("nip", *CONTACT_FIELDS))


# -- who may act on an ASN's notification data ---------------------------------------------
# An ASN's agency is never taken from an operator's (or the ASN's own) word: an operator of
# DINKES writing ``agency: DINKES`` for a NIP nobody knew would otherwise take over that ASN's
# inbox and contact data. It comes from trusted sources only: the roster (daftar ASN) that
# enrollment keeps (``asn_registered``, ``asn_updated``, ``asn_left``: the highest roster
# version wins, whatever the order of arrival), for an ASN not on the roster enrollment's
# events (``enrolled``, ``waitlisted``, ``cancelled``, ``completed`` carry the participant's
# agency; newest event wins), and an admin, who may register any recipient with any agency.
# A recipient record follows the first two. An operator acts on an ASN only when one of
# these places the ASN in the operator's agency, and gets one answer otherwise, whether the
# NIP is unknown or another agency's (naming the other agency, or answering 404 for unknown
# NIPs, would let an operator probe which NIPs the platform knows and where they work).

# Enrollment's events that carry ``participant`` with the agency enrollment knows the ASN in.
AGENCY_EVENTS = frozenset({"enrolled", "waitlisted", "cancelled", "completed"})

# A recipient write by one caller: (new fields, stored record or None, the agency enrollment
# knows the ASN in or None) -> the fields to store, or Forbidden.
WriteCheck = Callable[[dict, "dict | None", "str | None"], dict]


def agency_statement(service: str, event_name: str, data: dict) -> tuple[str, str] | None:
    """(NIP, agency) an enrollment event states for its participant, or None."""
    participant = data.get("participant") if service == "enrollment" else None
    if event_name not in AGENCY_EVENTS or not participant or not participant.get("agency"):
        return None
    return participant["nip"], participant["agency"].strip().upper()


def agency_of(recipient: dict | None, known: str | None) -> str | None:
    """The ASN's agency: the recipient record's (an admin's word, kept in step with enrollment),
    else what enrollment's events say."""
    return (recipient or {}).get("agency") or known


def not_staff(caller: Principal, nip: str) -> Forbidden:
    """The one answer an operator gets for an ASN outside its agency, known or not."""
    return Forbidden(f"an operator of {caller.agency} may act only on its own staff; NIP {nip} is not known as "
                     f"staff of {caller.agency} (an ASN's agency comes from enrollment or an admin: enrol the ASN "
                     f"or ask an admin to register them)", field="nip")


def require_staff(caller: Principal, nip: str, agency: str | None, what: str) -> None:
    """Forbidden (403) unless ``caller`` may act on ``nip``'s notification data: an admin
    anyone, an ASN themself, an operator its own staff (``agency``: see ``agency_of``)."""
    if caller.role != OPERATOR:
        caller.require_scope(nip=nip, what=what)
    elif agency != caller.agency:
        raise not_staff(caller, nip)


def recipient_write_check(caller: Principal) -> WriteCheck:
    """The check of a recipient write by ``caller``. An admin may write anything. An operator
    only its own staff, and an ASN only themself; neither chooses the agency: it is the
    trusted one (filled in when omitted)."""
    def check(fields: dict, existing: dict | None, known: str | None) -> dict:
        nip = fields["nip"]
        if caller.role == ADMIN:
            return fields
        trusted = agency_of(existing, known)
        if caller.role == OPERATOR:
            if trusted != caller.agency:
                raise not_staff(caller, nip)
            if fields.get("agency") not in (None, trusted):
                raise Forbidden(f"an operator cannot move NIP {nip} to another agency; ask an admin",
                                field="agency")
        else:
            caller.require_scope(nip=nip, what=f"recipient {nip}")
            if caller.role == ASN and fields.get("agency") not in (None, trusted):
                raise Forbidden("an ASN cannot set their own agency: it comes from enrollment or an admin; "
                                "leave agency out", field="agency")
        return {**fields, "agency": trusted}
    return check
