"""Programme commands: create, update, publish, cancel (and the cancellation cascade)."""
from __future__ import annotations

from datetime import datetime

from pymongo.errors import DuplicateKeyError

from services.enrollment import domain, enrolments
from services.enrollment.domain import CANCELLED, DRAFT, PUBLISHED, Actor
from services.enrollment.jp import JpRules
from services.enrollment.store import PROGRAMMES, get_programme
from shared.errors import Conflict, Invalid, NotFound
from shared.store import update_by_id

# The fields a client defines; the rest (status, counters, timestamps) the service keeps.
DEFINITION = ("title", "description", "kind", "competency_type", "jp", "duration_minutes", "duration_days",
              "organisers", "speakers", "starts_at", "ends_at", "location", "enrolment_opens_at",
              "enrolment_closes_at", "capacity", "passing_score", "grants_certificate",
              "certificate_validity_months", "certification_line")
DEFAULTS = {"description": None, "jp": None, "duration_minutes": None, "duration_days": None, "speakers": [],
            "location": None, "passing_score": None, "grants_certificate": None,
            "certificate_validity_months": None, "certification_line": None}
# Cancelling a programme cancels its enrolments in transactions of this many.
CASCADE_BATCH = 200


class _NoChange(Exception):
    """Aborts an update transaction that would change nothing (no write, no event)."""


def _complete_definition(fields: dict, rules: JpRules) -> dict:
    """Defaults, JP from the duration when not given, certificates for certifications."""
    p = {**DEFAULTS, **fields}
    if p["jp"] is None:
        p["jp"] = rules.derive(p["kind"], p["duration_minutes"], p["duration_days"])
        p["jp_source"] = "derived"
    else:
        p["jp_source"] = "given"
    if p["grants_certificate"] is None:
        p["grants_certificate"] = p["kind"] == "sertifikasi"
    return p


def create(store, data: dict, rules: JpRules, now: datetime, actor: Actor) -> tuple[dict, bool]:
    """A draft programme; (programme, created). The code is the natural key: repeating the
    same request returns the programme, the same code with other content is a conflict."""
    code = data["code"]
    definition = _complete_definition({k: v for k, v in data.items() if k != "code"}, rules)
    domain.check_programme(definition)
    doc = {"_id": code, **definition, "status": DRAFT, "seats_taken": 0, "waitlisted": 0, "arrivals": 0,
           "cascade_pending": False, "version": 1, "created_at": now, "updated_at": now,
           "published_at": None, "cancelled_at": None, "cancel_reason": None,
           "created_by": actor.as_dict()}
    try:
        store.db[PROGRAMMES].insert_one(doc)
        return doc, True
    except DuplicateKeyError:
        existing = get_programme(store.db, code)
        if all(_same(existing.get(k), definition.get(k)) for k in DEFINITION):
            return existing, False
        raise Conflict(f"programme code {code} is already used by another programme", field="code") from None


def _same(a, b) -> bool:
    if isinstance(a, datetime) and isinstance(b, datetime):  # the store keeps milliseconds
        return domain.iso(a) == domain.iso(b)
    return a == b


def update(store, code: str, changes: dict, rules: JpRules, now: datetime) -> dict:
    """Change a draft or published programme; a published one announces its new state.

    A larger capacity gives the new seats to the waitlist; a capacity below the seats
    already taken is refused.
    """
    def run(tx):
        current = update_by_id(tx.db[PROGRAMMES], code, {"$inc": {"version": 1}}, tx.session)
        if current is None:
            raise NotFound(f"programme {code} not found", field="code")
        if current["status"] == CANCELLED:
            raise Conflict(f"programme {code} is cancelled and can no longer change", field="status")
        merged = {k: current.get(k, DEFAULTS.get(k)) for k in DEFINITION}
        merged.update(changes)
        if "jp" not in changes and ({"duration_minutes", "duration_days", "kind"} & changes.keys()) \
                and current.get("jp_source") == "derived":
            merged["jp"] = None  # derived before: derive again from the new duration or kind
        updated = _complete_definition(merged, rules)
        domain.check_programme(updated)
        if current["status"] == PUBLISHED:
            domain.check_publishable(updated)
        if updated["capacity"] < current["seats_taken"]:
            raise Invalid(f"capacity {updated['capacity']} is below the {current['seats_taken']} seats "
                          f"already taken", field="capacity", seats_taken=current["seats_taken"])
        diff = {k: v for k, v in updated.items() if not _same(current.get(k), v)}
        if not diff:
            raise _NoChange()
        tx.db[PROGRAMMES].update_one({"_id": code}, {"$set": {**diff, "updated_at": now}}, session=tx.session)
        programme = {**current, **diff, "updated_at": now}
        if programme["status"] == PUBLISHED:
            promoted = enrolments.promote_waitlisted(tx, programme, programme["capacity"] - programme["seats_taken"],
                                                     now)
            programme["seats_taken"] += len(promoted)
            programme["waitlisted"] -= len(promoted)
            tx.emit("programme_updated", code, domain.programme_state_event(programme))
        return programme

    try:
        return store.transaction(run)
    except _NoChange:
        return get_programme(store.db, code)


def publish(store, code: str, now: datetime) -> dict:
    """Open a draft for enrolment (``programme_published``); publishing again changes nothing."""
    def run(tx):
        programme = get_programme(tx.db, code, session=tx.session)
        if programme["status"] == PUBLISHED:
            return programme
        if programme["status"] == CANCELLED:
            raise Conflict(f"programme {code} is cancelled and cannot be published", field="status")
        domain.check_publishable(programme)
        if domain.as_utc(programme["enrolment_closes_at"]) <= now:
            raise Invalid(f"enrolment would already be closed ({domain.iso(programme['enrolment_closes_at'])}); "
                          f"move enrolment_closes_at first", field="enrolment_closes_at")
        changes = {"status": PUBLISHED, "published_at": now, "updated_at": now}
        result = tx.db[PROGRAMMES].update_one({"_id": code, "status": DRAFT}, {"$set": changes}, session=tx.session)
        if result.modified_count != 1:
            raise Conflict(f"programme {code} changed meanwhile; retry", field="status")
        programme.update(changes)
        tx.emit("programme_published", code, domain.programme_state_event(programme))
        return programme

    return store.transaction(run)


def cancel(store, code: str, reason: str, now: datetime, actor: Actor) -> dict:
    """Cancel a programme and then each of its enrolments (one ``cancelled`` each).

    The programme turns cancelled at once; its enrolments follow in batches. If the process
    dies in between, ``cascade_pending`` stays set and the next cancel request or the
    periodic sweep (any replica) finishes the job.
    """
    def run(tx):
        programme = get_programme(tx.db, code, session=tx.session)
        if programme["status"] == CANCELLED:
            return programme
        changes = {"status": CANCELLED, "cancelled_at": now, "cancel_reason": reason, "updated_at": now,
                   "cascade_pending": True, "cancelled_by": actor.as_dict()}
        tx.db[PROGRAMMES].update_one({"_id": code, "status": programme["status"]}, {"$set": changes},
                                     session=tx.session)
        was_published = programme["status"] == PUBLISHED
        programme.update(changes)
        if was_published:  # a draft was never announced, so nobody waits for its cancellation
            tx.emit("programme_cancelled", code, {"programme": domain.programme_snapshot(programme),
                                                  "reason": reason, "cancelled_at": domain.iso(now)})
        return programme

    programme = store.transaction(run)
    finish_cascade(store, code, now)
    return get_programme(store.db, code) if programme.get("cascade_pending") else programme


def finish_cascade(store, code: str, now: datetime) -> int:
    """Cancel the remaining enrolments of a cancelled programme; how many were cancelled."""
    programme = get_programme(store.db, code)
    if programme["status"] != CANCELLED:
        return 0
    total = 0
    while True:
        done = store.transaction(lambda tx: enrolments.cancel_all_of_programme(
            tx, code, programme["cancel_reason"], now, CASCADE_BATCH))
        total += done
        if done < CASCADE_BATCH:
            return total


def sweep_cascades(store, now: datetime) -> int:
    """Finish every interrupted programme cancellation (safe on several replicas at once:
    each batch re-reads what is still active inside its transaction)."""
    codes = [p["_id"] for p in store.db[PROGRAMMES].find({"cascade_pending": True}, {"_id": 1})]
    return sum(finish_cascade(store, code, now) for code in codes)
