"""Template contexts built from the data of public events (pure functions).

Each context holds what the templates of a message kind may use; datetimes are aware
UTC ``datetime`` objects (the templates show them in WIB). See templates/README.md.
"""
from __future__ import annotations

from datetime import date, datetime

from services.notification.config import NotificationConfig
from services.notification.domain import parse_time, suggestions


def _programme(p: dict) -> dict:
    return {**p, "starts_at": parse_time(p.get("starts_at")), "ends_at": parse_time(p.get("ends_at")),
            "speakers": p.get("speakers") or [], "location": p.get("location"),
            "grants_certificate": bool(p.get("grants_certificate"))}


def _date(value) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def asn_context(kind: str, data: dict, config: NotificationConfig, now: datetime) -> dict:
    """The context for an ASN's message of ``kind`` caused by an event with ``data``."""
    participant = data.get("participant") or data.get("holder")
    context = {"participant": participant, "nip": participant["nip"], "portal_url": config.portal_url,
               "programme": _programme(data["programme"]) if "programme" in data else None}
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
        context.update(year=data["year"], checkpoint=data["checkpoint"], jp_total=data["jp_total"],
                       jp_target=data["jp_target"], jp_missing=data["jp_missing"], programmes=programmes)
    return context


def escalation_context(digest: dict, items: list[dict], contact: dict | None, agency_name: str,
                       config: NotificationConfig) -> dict:
    return {"agency": digest["agency"], "agency_name": agency_name, "checkpoint": digest["checkpoint"],
            "year": digest["year"], "items": items, "threshold": config.escalation_threshold,
            "contact_name": (contact or {}).get("name") or "Bapak/Ibu", "portal_url": config.portal_url}
