"""What changes state: functions taking the transaction ``tx`` (``store.transaction``
runs them), writing with ``session=tx.session`` and emitting events with ``tx.emit``.

A transaction may run more than once, so these have no effect outside the store. Every
change that affects seats first updates the programme document: concurrent transactions on
one programme (two replicas, fifty requests) then conflict on it and retry one after
another, which keeps the capacity exact and makes ``arrival`` the commit order (see
docs/decisions/0010).
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from bson import ObjectId
from pymongo import ASCENDING, InsertOne, ReplaceOne, UpdateOne

from services.enrollment import domain, queries
from services.enrollment.domain import (AWAITING, CANCELLED, COMPLETED_NOW, CREATED, DRAFT, ENROLLED, PUBLISHED,
                                        REACTIVATED, UNCHANGED, WAITLISTED, Actor, CANCELLED_EARLIER, JpRules)
from shared.events.common import LEFT_STATUSES
from services.enrollment.store import (ACTING, APPROVALS, ENROLMENTS, PARTICIPANTS, PROGRAMMES, ROSTER, get_enrolment,
                                       get_enrolment_and_programme, get_programme)
from shared.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from shared.store import update_by_id
from shared.timefmt import parse_time

_COMPLETION_FIELDS = ("result", "passed", "score", "jp_earned", "completed_at")


class NoChange(Exception):
    """Aborts an update transaction that would change nothing (no write, no event)."""


# -- programmes ------------------------------------------------------------------------------

def create_programme(tx, programme: dict) -> tuple[dict, bool]:
    """Store a new draft (domain.new_programme); (programme, created). The code is the natural
    key: the same request again returns the stored programme, the same code with other
    content is a conflict."""
    existing = tx.db[PROGRAMMES].find_one({"_id": programme["_id"]}, session=tx.session)
    if existing is None:
        tx.db[PROGRAMMES].insert_one(programme, session=tx.session)
        return programme, True
    if domain.same_definition(existing, programme):
        return existing, False
    raise Conflict(f"programme code {programme['_id']} is already used by another programme", field="code")


def update_programme(tx, code: str, changes: dict, rules: JpRules, now: datetime) -> dict:
    """Change a draft or published programme; a published one announces its new state.

    A larger capacity gives the new seats to the waitlist. Raises NoChange when nothing
    would change (the caller reads the programme back).
    """
    current = update_by_id(tx.db[PROGRAMMES], code, {"$inc": {"version": 1}}, tx.session)  # holds it
    if current is None:
        raise NotFound(f"programme {code} not found", field="code")
    diff = domain.revision(current, changes, rules)
    if not diff:
        raise NoChange()
    if current["status"] == PUBLISHED:  # a change people may have in their calendars (ICS SEQUENCE)
        diff = {**diff, "revision": current.get("revision", 1) + 1}
    tx.db[PROGRAMMES].update_one({"_id": code}, {"$set": {**diff, "updated_at": now}}, session=tx.session)
    programme = {**current, **diff, "updated_at": now}
    if programme["status"] == PUBLISHED:
        promoted = promote_waitlisted(tx, programme, programme["capacity"] - programme["seats_taken"], now)
        programme["seats_taken"] += len(promoted)
        programme["waitlisted"] -= len(promoted)
        tx.emit("programme_updated", code, domain.programme_state_event(programme))
    return programme


def publish_programme(tx, code: str, now: datetime) -> dict:
    """Open a draft for enrolment (``programme_published``); publishing again changes nothing."""
    programme = get_programme(tx.db, code, session=tx.session)
    if programme["status"] == PUBLISHED:
        return programme
    domain.check_can_publish(programme, now)
    changes = {"status": PUBLISHED, "published_at": now, "updated_at": now}
    result = tx.db[PROGRAMMES].update_one({"_id": code, "status": DRAFT}, {"$set": changes}, session=tx.session)
    if result.modified_count != 1:
        raise Conflict(f"programme {code} changed meanwhile; retry", field="status")
    programme.update(changes)
    tx.emit("programme_published", code, domain.programme_state_event(programme))
    return programme


def cancel_programme(tx, code: str, reason: str, now: datetime, actor: Actor) -> dict:
    """Turn a programme cancelled and mark its enrolments for cancellation (``cascade_pending``);
    ``cancel_all_of_programme`` then cancels them in batches (see usecases.finish_cascade)."""
    programme = get_programme(tx.db, code, session=tx.session)
    if programme["status"] == CANCELLED:
        return programme
    changes = {"status": CANCELLED, "cancelled_at": now, "cancel_reason": reason, "updated_at": now,
               "cascade_pending": True, "cancelled_by": actor.as_dict()}
    if programme["status"] == PUBLISHED:
        changes["revision"] = programme.get("revision", 1) + 1
    tx.db[PROGRAMMES].update_one({"_id": code, "status": programme["status"]}, {"$set": changes},
                                 session=tx.session)
    was_published = programme["status"] == PUBLISHED
    programme.update(changes)
    if was_published:  # a draft was never announced, so nobody waits for its cancellation
        tx.emit("programme_cancelled", code, {"programme": domain.programme_snapshot(programme),
                                              "reason": reason, "cancelled_at": domain.iso(now)})
    return programme


# -- enrolments ------------------------------------------------------------------------------

@dataclass
class EnrolRequest:
    participant: dict  # a resolved participant record (domain.resolve_participant)
    idempotency_key: str | None = None
    # Whether a cancelled enrolment is enrolled again. A single enrolment is an explicit
    # request, so yes; a bulk row says so only with ``reenrol=ya`` (re-uploading a file
    # must not undo the cancellations made since, ADR 0011).
    reenrol_cancelled: bool = True
    # A self-enrolment that waits for the supervisor's approval (ADR 0092); None: none needed.
    approval: "ApprovalSpec | None" = None
    # peserta, or narasumber (a seminar's or lokakarya's speaker: no seat, no waitlist, no approval)
    role: str = domain.PESERTA


@dataclass
class ApprovalSpec:
    approver: dict  # approver_nip, approver_name, acting (domain.approver_for)
    hold_hours: float
    reminder_hours: float
    sign: Callable[[str, str, datetime], str]  # (enrolment_id, approver_nip, expires_at) -> link token


@dataclass
class EnrolResult:
    enrolment: dict
    outcome: str  # created, reactivated or unchanged
    note: str | None = None  # CANCELLED_EARLIER when a cancelled enrolment was left cancelled
    # why this request was refused while the others of the batch went on (an active enrolment
    # of the same ASN with the other role); the enrolment is that existing one
    error: DomainError | None = None


def enrol_batch(tx, code: str, requests: list[EnrolRequest], clock: Callable[[], datetime],
                actor: Actor) -> list[EnrolResult]:
    """Enrol each participant into programme ``code``, in list order; one result per request.

    An ASN already enrolled or waitlisted gets the existing enrolment back (a retry is not a
    duplicate); a cancelled one is enrolled again at the end of the queue, unless the request
    carries the idempotency key of the enrolment that was cancelled (a late retry) or does
    not ask for re-enrolment (``reenrol_cancelled=False``: ``unchanged``, note
    ``cancelled_earlier``). A request whose ASN has an active enrolment with the other role
    (peserta/narasumber) is refused in its result (``error``), the others go on. A narasumber
    takes no seat and is never waitlisted (``seats_taken``/``waitlisted`` do not count them).
    """
    nips = [r.participant["_id"] for r in requests]
    existing = {e["nip"]: e for e in tx.db[ENROLMENTS].find(
        {"programme_code": code, "nip": {"$in": nips}}, session=tx.session)}
    results: list[EnrolResult | None] = [None] * len(requests)
    fresh: list[int] = []
    claimed: dict[str, int] = {}
    for i, request in enumerate(requests):
        nip = request.participant["_id"]
        current = existing.get(nip)
        if nip in claimed:  # the same ASN twice in one batch: the first row decides
            continue
        if current is not None and (current["status"] != domain.ENROLMENT_CANCELLED or (
                request.idempotency_key and current.get("idempotency_key") == request.idempotency_key)):
            error = domain.role_conflict(current, request.role) \
                if current["status"] != domain.ENROLMENT_CANCELLED else None
            results[i] = EnrolResult(current, UNCHANGED, error=error)
            continue
        if current is not None and not request.reenrol_cancelled:
            results[i] = EnrolResult(current, UNCHANGED, CANCELLED_EARLIER)
            continue
        claimed[nip] = i
        fresh.append(i)

    if fresh:
        # The first write: losers of a race on this programme conflict here and retry.
        programme = update_by_id(tx.db[PROGRAMMES], code, {"$inc": {"arrivals": len(fresh)}}, tx.session)
        if programme is None:
            raise NotFound(f"programme {code} not found", field="code")
        # Read the clock only now that this transaction holds the programme: times then
        # follow the commit order, i.e. the order of arrival.
        now = clock()
        domain.check_can_enrol(programme, now)
        first_arrival = programme["arrivals"] - len(fresh) + 1
        seats_taken, waitlisted = programme["seats_taken"], programme["waitlisted"]
        snapshot = domain.programme_snapshot(programme)
        inserts, participants, events, approvals = [], {}, [], []
        for n, i in enumerate(fresh):
            request = requests[i]
            person = request.participant
            if request.role == domain.NARASUMBER:  # a speaker: no seat, no waitlist (issue 24)
                seat = domain.Seat(ENROLLED, None)
            else:
                seat = domain.allocate_seat(programme["capacity"], seats_taken, waitlisted)
                if seat.status == ENROLLED:
                    seats_taken += 1
                else:
                    waitlisted += 1
            spec = request.approval
            # A request awaiting approval holds the seat or waitlist place it would have had.
            status = AWAITING if spec else seat.status
            fields = {
                "programme_code": code, "nip": person["_id"], "participant": domain.participant_snapshot(person),
                "role": request.role, "status": status, "arrival": first_arrival + n,
                "enrolled_at": now if status == ENROLLED else None,
                "waitlisted_at": now if status == WAITLISTED else None,
                "waitlist_position_at_arrival": seat.position, "promoted_from_waitlist": False,
                "attended": None, "attendance_recorded_at": None,
                "cancelled_at": None, "cancel_reason": None, "cancelled_by": None,
                **{k: None for k in _COMPLETION_FIELDS},
                "idempotency_key": request.idempotency_key, "enrolled_by": actor.as_dict(), "updated_at": now,
                "holds": (domain.SEAT if seat.status == ENROLLED else domain.WAITLIST) if spec else None,
                "approval": domain.new_approval(spec.approver, now, spec.hold_hours, spec.reminder_hours)
                if spec else None,
            }
            previous = existing.get(person["_id"])
            if previous is not None:
                enrolment = {**previous, **fields}
                tx.db[ENROLMENTS].update_one(
                    {"_id": previous["_id"]},
                    {"$set": fields, "$push": {"history": _history(previous, now)}}, session=tx.session)
                outcome = REACTIVATED
            else:
                enrolment = {"_id": str(ObjectId()), **fields, "created_at": now, "history": []}
                inserts.append(enrolment)
                outcome = CREATED
            participants[person["_id"]] = person
            results[i] = EnrolResult(enrolment, outcome)
            if spec:
                approvals.append(_approval_record(enrolment, now))
                events.extend(_approval_requested(enrolment, snapshot, programme, seat.position, spec, now))
            else:
                events.append(_seat_event(enrolment, snapshot, seat.position, promoted=False, now=now))
        if inserts:
            tx.db[ENROLMENTS].insert_many(inserts, ordered=True, session=tx.session)
        for record in approvals:  # a request of an enrolment asked again replaces the earlier one
            tx.db[APPROVALS].replace_one({"_id": record["_id"]}, record, upsert=True, session=tx.session)
        tx.db[PROGRAMMES].update_one(
            {"_id": code}, {"$set": {"seats_taken": seats_taken, "waitlisted": waitlisted, "updated_at": now}},
            session=tx.session)
        _save_participants(tx, participants, now, actor)
        tx.emit_many(events)

    for nip, i in claimed.items():  # later duplicates within the batch point at the first row's enrolment
        for j, request in enumerate(requests):
            if results[j] is None and request.participant["_id"] == nip:
                results[j] = EnrolResult(results[i].enrolment, UNCHANGED)
    return results  # type: ignore[return-value]


def _save_participants(tx, participants: dict[str, dict], now: datetime, actor: Actor) -> None:
    if not participants:
        return
    nips = list(participants)
    stored = {p["_id"]: p for p in tx.db[PARTICIPANTS].find({"_id": {"$in": nips}}, session=tx.session)}
    if actor.role != "admin":
        # The operator's rights were checked on a read of the roster before this transaction; a
        # roster import may have moved the ASN since. Checked again here, so an operator never
        # enrols someone no longer aktif on its own agency's roster (nor an ASN themself).
        roster = {e["_id"]: e for e in tx.db[ROSTER].find({"_id": {"$in": nips}}, {"agency": 1, "status": 1},
                                                           session=tx.session)}
        for nip, person in participants.items():
            entry = roster.get(nip)
            if actor.role == "asn":
                if entry is None or entry.get("status") != domain.ROSTER_ACTIVE or nip != actor.nip:
                    raise Forbidden(domain.SELF_NOT_ON_ROSTER, field="nip")
            elif entry is None or entry.get("status") != domain.ROSTER_ACTIVE or \
                    not entry.get("agency") == person["agency"] == actor.agency:
                raise Forbidden(domain.NOT_ON_ROSTER.format(agency=actor.agency), field="nip")
    # The roster's never-enrolled list (GET /roster?never_enrolled=ya) loses them now.
    tx.db[ROSTER].update_many({"_id": {"$in": nips}, "ever_enrolled": {"$ne": True}},
                              {"$set": {"ever_enrolled": True}}, session=tx.session)
    new = [{**person, "updated_at": now} for nip, person in participants.items() if nip not in stored]
    changed = [ReplaceOne({"_id": nip}, {**person, "updated_at": now}) for nip, person in participants.items()
               if nip in stored and domain.participant_changed(stored[nip], person)]
    if new:  # inserts are much cheaper than upserts; a racing insert fails the transaction, which retries
        tx.db[PARTICIPANTS].insert_many(new, ordered=False, session=tx.session)
    if changed:
        tx.db[PARTICIPANTS].bulk_write(changed, ordered=False, session=tx.session)


def _history(previous: dict, now: datetime) -> dict:
    return {"status": previous["status"], "arrival": previous.get("arrival"),
            "cancelled_at": previous.get("cancelled_at"), "cancel_reason": previous.get("cancel_reason"),
            "cancelled_by": previous.get("cancelled_by"), "replaced_at": now}


def _seat_event(enrolment: dict, snapshot: dict, position: int | None, promoted: bool,
                now: datetime) -> tuple[str, str, dict]:
    """(name, subject, data) of the ``enrolled`` or ``waitlisted`` event of an enrolment."""
    base = {"enrolment_id": enrolment["_id"], "programme": snapshot, "participant": enrolment["participant"]}
    if enrolment["status"] == ENROLLED:
        return "enrolled", enrolment["_id"], {**base, "enrolled_at": domain.iso(now),
                                              "promoted_from_waitlist": promoted, "role": domain.role_of(enrolment)}
    return "waitlisted", enrolment["_id"], {**base, "position": position, "waitlisted_at": domain.iso(now)}


def promote_waitlisted(tx, programme: dict, seats: int, now: datetime) -> list[dict]:
    """Give up to ``seats`` free seats to the waitlist, first come first served.

    The caller has already written the programme document in this transaction (it holds it).
    """
    if seats <= 0 or programme["waitlisted"] <= 0 or not domain.promotes_waitlist(programme, now):
        return []
    promoted = list(tx.db[ENROLMENTS].find(
        {"programme_code": programme["_id"], **queries.IN_QUEUE}, session=tx.session,
    ).sort("arrival", ASCENDING).limit(seats))
    if not promoted:
        return []
    snapshot = domain.programme_snapshot(programme)
    for enrolment in promoted:
        if enrolment["status"] == AWAITING:  # its place in the queue now holds a seat; it still awaits
            enrolment.update(holds=domain.SEAT, updated_at=now)
            tx.db[ENROLMENTS].update_one({"_id": enrolment["_id"], "status": AWAITING},
                                         {"$set": {"holds": domain.SEAT, "updated_at": now}}, session=tx.session)
            tx.db[APPROVALS].update_one({"_id": enrolment["_id"]}, {"$set": {"holds": domain.SEAT}},
                                        session=tx.session)
            continue
        enrolment.update(status=ENROLLED, enrolled_at=now, promoted_from_waitlist=True, updated_at=now)
        tx.db[ENROLMENTS].update_one(
            {"_id": enrolment["_id"], "status": WAITLISTED},
            {"$set": {"status": ENROLLED, "enrolled_at": now, "promoted_from_waitlist": True, "updated_at": now}},
            session=tx.session)
        tx.emit(*_seat_event(enrolment, snapshot, None, promoted=True, now=now))
    tx.db[PROGRAMMES].update_one(
        {"_id": programme["_id"]}, {"$inc": {"seats_taken": len(promoted), "waitlisted": -len(promoted)}},
        session=tx.session)
    return promoted


def _release(tx, enrolment: dict, now: datetime) -> tuple[dict, str | None]:
    """Hold the programme of ``enrolment`` and give back what it counted in (domain.held_counter;
    a narasumber counts in nothing): (the programme as updated, the counter)."""
    counter = domain.held_counter(enrolment)
    change: dict = {"$set": {"updated_at": now}}
    if counter is not None:
        change["$inc"] = {counter: -1}
    return update_by_id(tx.db[PROGRAMMES], enrolment["programme_code"], change, tx.session), counter


@dataclass
class Cancellation:
    enrolment: dict
    # a seat was freed and the waitlist was left alone (the programme has started): why, for the answer
    waitlist_note: str | None = None


def cancel_enrolment(tx, enrolment_id: str, reason: str, cancelled_by: str, now: datetime,
                     actor: Actor) -> Cancellation:
    """Cancel an enrolment or waitlist place; a freed seat goes to the first on the waitlist while
    the programme promotes automatically (domain.promotes_waitlist), else it stays free."""
    enrolment = get_enrolment(tx.db, enrolment_id, session=tx.session)
    if enrolment["status"] == domain.ENROLMENT_CANCELLED:
        return Cancellation(enrolment)  # a retry
    domain.check_cancellable(enrolment)
    programme, counter = _release(tx, enrolment, now)
    _cancel_one(tx, enrolment, programme, reason, cancelled_by, now, actor)
    note = None
    if counter == "seats_taken":
        promote_waitlisted(tx, programme, programme["capacity"] - programme["seats_taken"], now)
        if programme["waitlisted"] > 0:
            note = domain.waitlist_note(programme, now)
    return Cancellation(enrolment, note)


def _cancel_one(tx, enrolment: dict, programme: dict, reason: str, cancelled_by: str, now: datetime,
                actor: Actor) -> None:
    previous = enrolment["status"]
    changes = {"status": domain.ENROLMENT_CANCELLED, "cancelled_at": now, "cancel_reason": reason,
               "cancelled_by": cancelled_by, "cancelled_by_actor": actor.as_dict(),
               "updated_at": now}
    tx.db[ENROLMENTS].update_one({"_id": enrolment["_id"], "status": previous}, {"$set": changes},
                                 session=tx.session)
    enrolment.update(changes)
    if previous == AWAITING:  # withdrawn before anyone decided: off the approver's list
        tx.db[APPROVALS].update_one({"_id": enrolment["_id"]}, {"$set": {"state": CLOSED}}, session=tx.session)
    tx.emit("cancelled", enrolment["_id"], {
        "enrolment_id": enrolment["_id"], "programme": domain.programme_snapshot(programme),
        "participant": enrolment["participant"], "previous_status": previous, "reason": reason,
        "cancelled_by": cancelled_by, "cancelled_at": domain.iso(now)})


def cancel_all_of_programme(tx, programme_code: str, reason: str, now: datetime, limit: int) -> int:
    """Cancel up to ``limit`` active enrolments of a cancelled programme; how many were cancelled."""
    programme = update_by_id(tx.db[PROGRAMMES], programme_code, {"$set": {"updated_at": now}}, tx.session)
    active = list(tx.db[ENROLMENTS].find(
        {"programme_code": programme_code, "status": {"$in": list(domain.ACTIVE)}}, session=tx.session,
    ).sort("arrival", ASCENDING).limit(limit))
    taken = sum(1 for e in active if domain.held_counter(e) == "seats_taken")
    queued = sum(1 for e in active if domain.held_counter(e) == "waitlisted")
    for enrolment in active:
        _cancel_one(tx, enrolment, programme, reason, "programme_cancelled", now, Actor.system())
    tx.db[PROGRAMMES].update_one(
        {"_id": programme_code},
        {"$inc": {"seats_taken": -taken, "waitlisted": -queued},
         "$set": {"cascade_pending": len(active) == limit}}, session=tx.session)
    return len(active)


def record_attendance(tx, enrolment_id: str, attended: bool, now: datetime) -> dict:
    enrolment = get_enrolment(tx.db, enrolment_id, session=tx.session)
    programme = get_programme(tx.db, enrolment["programme_code"], session=tx.session)
    if not domain.check_attendance(programme, enrolment, attended, now):
        return enrolment
    changes = {"attended": attended, "attendance_recorded_at": now, "updated_at": now}
    tx.db[ENROLMENTS].update_one({"_id": enrolment_id, "status": ENROLLED}, {"$set": changes},
                                 session=tx.session)
    enrolment.update(changes)
    return enrolment


@dataclass
class CompletionRequest:
    nip: str
    score: float | None = None
    attended: bool | None = None


def _apply_completion(programme: dict, enrolment: dict, outcome: domain.Outcome, now: datetime,
                      writes: list, events: list) -> None:
    """Stage the completion of one enrolment: its update and its ``completed`` event."""
    changes = {**outcome.as_fields(), "status": domain.COMPLETED, "completed_at": now, "updated_at": now}
    # No status guard in the filter: the transaction read this enrolment, and a concurrent
    # change to it makes this write conflict and the whole transaction retry.
    writes.append(UpdateOne({"_id": enrolment["_id"]}, {"$set": changes}))
    enrolment.update(changes)
    events.append(("completed", enrolment["_id"], {
        "enrolment_id": enrolment["_id"], "programme": domain.programme_snapshot(programme),
        "participant": enrolment["participant"], **outcome.as_fields(), "completed_at": domain.iso(now),
        "role": domain.role_of(enrolment)}))


def complete_enrolment(tx, enrolment_id: str, score: float | None, attended: bool | None,
                       now: datetime, actor: Actor | None = None) -> tuple[dict, str]:
    """Complete one enrolment (``domain.plan_completion``'s rules); the same completion
    again changes nothing (``UNCHANGED``). With ``actor``, Forbidden unless they may act on
    this ASN: checked on the enrolment read here rather than on a read of its own."""
    enrolment, programme = get_enrolment_and_programme(tx.db, enrolment_id, session=tx.session)
    if actor is not None:
        actor.check_access(enrolment["nip"], enrolment["participant"]["agency"])
    status, outcome = domain.plan_completion(programme, enrolment, score, attended, now)
    if status == COMPLETED_NOW:
        writes: list = []
        events: list = []
        _apply_completion(programme, enrolment, outcome, now, writes, events)
        tx.db[ENROLMENTS].bulk_write(writes, session=tx.session)
        tx.emit_many(events)
    return enrolment, status


def complete_batch(tx, code: str, requests: list[CompletionRequest], now: datetime) -> list[dict]:
    """Complete each (nip, score, attended) of programme ``code``; a row that cannot be
    completed is rejected with its reason and does not stop the others."""
    programme = get_programme(tx.db, code, session=tx.session)
    enrolments = {e["nip"]: e for e in tx.db[ENROLMENTS].find(
        {"programme_code": code, "nip": {"$in": [r.nip for r in requests]}}, session=tx.session)}
    results, writes, events = [], [], []
    for request in requests:
        enrolment = enrolments.get(request.nip)
        if enrolment is None:
            results.append({"accepted": False, "field": "nip", "reason": f"not enrolled in {code}"})
            continue
        try:
            status, outcome = domain.plan_completion(programme, enrolment, request.score, request.attended, now)
        except DomainError as exc:
            results.append({"accepted": False, "field": exc.field, "reason": exc.message,
                            "enrolment_id": enrolment["_id"]})
            continue
        if status == COMPLETED_NOW:
            _apply_completion(programme, enrolment, outcome, now, writes, events)
        results.append({"accepted": True, "outcome": status, "enrolment_id": enrolment["_id"],
                        "result": outcome.result, "jp_earned": outcome.jp_earned})
    if writes:
        tx.db[ENROLMENTS].bulk_write(writes, ordered=False, session=tx.session)
    tx.emit_many(events)
    return results


# -- the roster (daftar ASN) -------------------------------------------------------------------

def import_roster_batch(tx, rows: list[tuple[int, domain.RosterRow]], plan: domain.RosterImport,
                        now: datetime) -> dict[int, dict]:
    """Write the roster rows of one chunk; {line: result} (accepted with its outcome, or
    rejected with the column and the reason).

    A new ASN emits ``asn_registered``; a change of a public field ``asn_updated`` (with
    ``changed``) or ``asn_left`` when an aktif ASN leaves; an unchanged row emits nothing, so
    uploading the same file again changes nothing. A changed contact emits the private
    ``asn_contact`` (enrollment.private) with its own version: enrollment keeps only a salted
    digest of it (data minimisation, ADR 0080); the values live in notification.
    """
    nips = [row.nip for _, row in rows]
    stored = {e["_id"]: e for e in tx.db[ROSTER].find({"_id": {"$in": nips}}, session=tx.session)}
    fresh = [nip for nip in nips if nip not in stored]
    enrolled = {e["nip"] for e in tx.db[ENROLMENTS].find({"nip": {"$in": fresh}}, {"nip": 1},
                                                          session=tx.session)} if fresh else set()
    results: dict[int, dict] = {}
    writes: list = []
    events: list[tuple[str, str, dict]] = []
    when = domain.iso(now)
    for line, row in rows:
        existing = stored.get(row.nip)
        try:
            entry = domain.merge_roster_entry(existing, row, plan)
        except DomainError as exc:
            results[line] = {"row": line, "nip": row.nip, "accepted": False, "field": exc.field,
                             "reason": exc.message}
            continue
        kind = domain.roster_event(existing, entry)
        changes: dict = {}
        if kind is not None:
            version = (existing["version"] + 1) if existing else 1
            changes = {**entry, "name_key": domain.name_key(entry["name"]), "version": version, "updated_at": now}
            if kind == "asn_left" or (existing is None and entry["status"] in LEFT_STATUSES):
                changes.update(left_at=now, left_reason=entry["status"])
            elif entry["status"] == domain.ROSTER_ACTIVE:
                changes.update(left_at=None, left_reason=None)
            snapshot = domain.roster_snapshot({"_id": row.nip, **changes})
            if kind == "asn_registered":
                events.append((kind, row.nip, {"asn": snapshot, "registered_at": when}))
            elif kind == "asn_left":
                events.append((kind, row.nip, {"asn": snapshot, "left_at": when, "reason": entry["status"]}))
            else:
                events.append((kind, row.nip, {"asn": snapshot, "changed": domain.roster_changed_fields(
                    existing, entry), "updated_at": when}))
        contact_changed = False
        if row.contact is not None:
            salt = (existing or {}).get("contact_salt") or secrets.token_hex(16)
            digest = domain.contact_digest(salt, row.contact)
            before = (existing or {}).get("contact_digest")
            contact_changed = digest != before if before is not None else any(row.contact)
            if contact_changed or before is None:
                changes.update(contact_salt=salt, contact_digest=digest, has_email=row.contact[0] is not None,
                               has_phone=row.contact[1] is not None)
            if contact_changed:
                contact_version = (existing or {}).get("contact_version", 0) + 1
                changes["contact_version"] = contact_version
                events.append(("asn_contact", row.nip, {"nip": row.nip, "email": row.contact[0],
                                                        "phone": row.contact[1], "version": contact_version,
                                                        "changed_at": when}))
        if existing is None:
            writes.append(InsertOne({"_id": row.nip, **changes, "registered_at": now,
                                     "ever_enrolled": row.nip in enrolled}))
            outcome, changed = domain.CREATED, []
        else:
            if changes:
                writes.append(UpdateOne({"_id": row.nip}, {"$set": changes}))
            changed = domain.roster_changed_fields(existing, entry) if kind else []
            if contact_changed:
                changed.append("kontak")
            outcome = "updated" if changed else UNCHANGED
        results[line] = {"row": line, "nip": row.nip, "accepted": True, "outcome": outcome,
                         "changed": changed or None, "status": entry["status"]}
    if writes:
        tx.db[ROSTER].bulk_write(writes, ordered=True, session=tx.session)
    tx.emit_many(events)
    return results


def mark_not_listed(tx, agency: str, present: set[str], now: datetime, limit: int) -> list[dict]:
    """Mark up to ``limit`` aktif ASN of ``agency`` missing from a full import (``present``: the
    NIPs of the file) ``tidak_tercantum``, each with ``asn_left``; the entries marked."""
    missing = list(tx.db[ROSTER].find(
        {"agency": agency, "status": domain.ROSTER_ACTIVE, "_id": {"$nin": list(present)}},
        session=tx.session).sort("_id", ASCENDING).limit(limit))
    writes, events = [], []
    when = domain.iso(now)
    for entry in missing:
        changes = {"status": domain.NOT_LISTED, "version": entry["version"] + 1, "updated_at": now,
                   "left_at": now, "left_reason": domain.NOT_LISTED}
        entry.update(changes)
        writes.append(UpdateOne({"_id": entry["_id"], "status": domain.ROSTER_ACTIVE}, {"$set": changes}))
        events.append(("asn_left", entry["_id"], {"asn": domain.roster_snapshot(entry), "left_at": when,
                                                  "reason": domain.NOT_LISTED}))
    if writes:
        tx.db[ROSTER].bulk_write(writes, ordered=False, session=tx.session)
    tx.emit_many(events)
    return missing


# -- supervisor approval (izin atasan) and acting supervisors (Plt/Plh), ADR 0092 ----------------

# The state of an approvals record: awaiting a decision, decided (approved, declined, lapsed),
# or closed (the enrolment was withdrawn or its programme cancelled before anyone decided).
OPEN, DECIDED, CLOSED = "awaiting", "decided", "closed"


def _approval_record(enrolment: dict, now: datetime) -> dict:
    approval = enrolment["approval"]
    return {"_id": enrolment["_id"], "approver_nip": approval["approver_nip"], "nip": enrolment["nip"],
            "agency": enrolment["participant"]["agency"], "programme_code": enrolment["programme_code"],
            "state": OPEN, "holds": enrolment["holds"], "requested_at": now, "expires_at": approval["expires_at"],
            "remind_at": approval["remind_at"], "reminded": False}


def _approval_requested(enrolment: dict, snapshot: dict, programme: dict, position: int | None,
                        spec: ApprovalSpec, now: datetime) -> list[tuple[str, str, dict]]:
    """The public ``approval_requested`` and the private ``approval_link`` with the signed token."""
    approval = enrolment["approval"]
    participant = enrolment["participant"]
    token = spec.sign(enrolment["_id"], approval["approver_nip"], approval["expires_at"])
    return [
        ("approval_requested", enrolment["_id"], {
            "enrolment_id": enrolment["_id"], "programme": snapshot, "participant": participant,
            "approver_nip": approval["approver_nip"], "approver_name": approval["approver_name"],
            "acting": approval["acting"], "holds": enrolment["holds"],
            "position": position if enrolment["holds"] == domain.WAITLIST else None,
            "requested_at": domain.iso(now), "expires_at": domain.iso(approval["expires_at"])}),
        ("approval_link", enrolment["_id"], {
            "enrolment_id": enrolment["_id"], "approver_nip": approval["approver_nip"],
            "participant_nip": participant["nip"], "participant_name": participant["name"],
            "programme_code": programme["_id"], "programme_title": programme["title"], "token": token,
            "expires_at": domain.iso(approval["expires_at"])}),
    ]


def _approval_base(enrolment: dict, programme: dict) -> dict:
    return {"enrolment_id": enrolment["_id"], "programme": domain.programme_snapshot(programme),
            "participant": enrolment["participant"], "approver_nip": enrolment["approval"]["approver_nip"]}


def decide(tx, enrolment_id: str, decision: str, reason: str | None, actor: Actor, now: datetime) -> dict:
    """The approver's decision: approved -> enrolled or waitlisted (``approval_granted`` and the
    ordinary event); declined -> the place is freed as on a cancellation (``approval_declined``)."""
    enrolment = get_enrolment(tx.db, enrolment_id, session=tx.session)
    domain.check_decision(enrolment, actor.nip, now)
    approval = {**enrolment["approval"], "decided_at": now, "decision": decision, "reason": reason}
    if decision == domain.DECLINED:
        return _end_request(tx, enrolment, approval, now, actor, "approval_declined",
                            {"reason": reason, "decided_at": domain.iso(now)})
    # the transaction holds the programme first, so a concurrent seat change conflicts and retries
    programme = update_by_id(tx.db[PROGRAMMES], enrolment["programme_code"], {"$set": {"updated_at": now}},
                             tx.session)
    status = ENROLLED if enrolment["holds"] == domain.SEAT else WAITLISTED
    changes = {"status": status, "approval": approval, "updated_at": now,
               "enrolled_at": now if status == ENROLLED else None,
               "waitlisted_at": now if status == WAITLISTED else enrolment.get("waitlisted_at")}
    tx.db[ENROLMENTS].update_one({"_id": enrolment_id, "status": AWAITING}, {"$set": changes}, session=tx.session)
    tx.db[APPROVALS].update_one({"_id": enrolment_id}, {"$set": {"state": DECIDED, "decision": decision,
                                                                 "decided_at": now}}, session=tx.session)
    enrolment.update(changes)
    snapshot = domain.programme_snapshot(programme)
    tx.emit("approval_granted", enrolment_id, {**_approval_base(enrolment, programme), "decided_at": domain.iso(now),
                                               "status": status})
    position = None
    if status == WAITLISTED:
        position = queries.waitlist_position(tx.db, enrolment, session=tx.session)
    tx.emit(*_seat_event(enrolment, snapshot, position, promoted=False, now=now))
    return enrolment


def lapse(tx, enrolment_id: str, now: datetime) -> dict | None:
    """Lapse a request nobody decided by its expiry (``approval_lapsed``); None when it was decided
    or withdrawn meanwhile."""
    enrolment = get_enrolment(tx.db, enrolment_id, session=tx.session)
    approval = enrolment.get("approval")
    if enrolment["status"] != AWAITING or approval is None or approval.get("decision") is not None:
        tx.db[APPROVALS].update_one({"_id": enrolment_id, "state": OPEN}, {"$set": {"state": CLOSED}},
                                    session=tx.session)
        return None
    if parse_time(approval["expires_at"]) > now:
        return None
    approval = {**approval, "decided_at": now, "decision": domain.LAPSED, "reason": None}
    return _end_request(tx, enrolment, approval, now, Actor.system(), "approval_lapsed",
                        {"lapsed_at": domain.iso(now)})


def _end_request(tx, enrolment: dict, approval: dict, now: datetime, actor: Actor, event: str,
                 extra: dict) -> dict:
    """A declined or lapsed request: the enrolment ends cancelled and its seat goes to the
    waitlist exactly as on a cancellation; the approval event, no ``cancelled`` (ADR 0092)."""
    programme, counter = _release(tx, enrolment, now)
    declined = approval["decision"] == domain.DECLINED
    changes = {"status": domain.ENROLMENT_CANCELLED, "approval": approval, "cancelled_at": now,
               "cancel_reason": approval["reason"] if declined else domain.LAPSED_REASON,
               "cancelled_by": event, "cancelled_by_actor": actor.as_dict(), "updated_at": now}
    tx.db[ENROLMENTS].update_one({"_id": enrolment["_id"], "status": AWAITING}, {"$set": changes},
                                 session=tx.session)
    tx.db[APPROVALS].update_one({"_id": enrolment["_id"]}, {"$set": {
        "state": DECIDED, "decision": approval["decision"], "decided_at": now}}, session=tx.session)
    enrolment.update(changes)
    tx.emit(event, enrolment["_id"], {**_approval_base(enrolment, programme), **extra})
    if counter == "seats_taken":
        promote_waitlisted(tx, programme, programme["capacity"] - programme["seats_taken"], now)
    return enrolment


def remind(tx, enrolment_id: str, now: datetime) -> bool:
    """Emit the one reminder of a request still awaiting; whether it was sent now."""
    record = tx.db[APPROVALS].find_one({"_id": enrolment_id}, session=tx.session)
    if record is None or record["state"] != OPEN or record.get("reminded"):
        return False
    enrolment = get_enrolment(tx.db, enrolment_id, session=tx.session)
    approval = enrolment.get("approval") or {}
    if enrolment["status"] != AWAITING or approval.get("decision") is not None:
        return False
    programme = get_programme(tx.db, enrolment["programme_code"], session=tx.session)
    tx.db[APPROVALS].update_one({"_id": enrolment_id}, {"$set": {"reminded": True}}, session=tx.session)
    tx.db[ENROLMENTS].update_one({"_id": enrolment_id}, {"$set": {"approval.reminded_at": now}}, session=tx.session)
    tx.emit("approval_reminded", enrolment_id, {**_approval_base(enrolment, programme),
                                                "expires_at": domain.iso(approval["expires_at"]),
                                                "reminded_at": domain.iso(now)})
    return True


def set_acting(tx, supervisor: dict, acting_entry: dict, kind: str, ends_at: datetime, now: datetime,
               actor: Actor) -> dict:
    """Name (or replace) the acting supervisor of ``supervisor`` until ``ends_at``."""
    record = {"_id": supervisor["_id"], "acting_nip": acting_entry["_id"], "acting_name": acting_entry.get("name"),
              "kind": kind, "agency": supervisor["agency"], "ends_at": ends_at, "assigned_at": now,
              "assigned_by": actor.as_dict()}
    previous = tx.db[ACTING].find_one({"_id": supervisor["_id"]}, session=tx.session)
    if previous is not None and domain.acting_in_force(previous, now) and previous["acting_nip"] != record["acting_nip"]:
        _revoked(tx, previous, now)
    tx.db[ACTING].replace_one({"_id": supervisor["_id"]}, record, upsert=True, session=tx.session)
    tx.emit("acting_supervisor_assigned", supervisor["_id"], {
        "supervisor_nip": supervisor["_id"], "acting_nip": record["acting_nip"], "acting_name": record["acting_name"],
        "kind": kind, "agency": record["agency"], "ends_at": domain.iso(ends_at), "assigned_at": domain.iso(now)})
    return record


def revoke_acting(tx, supervisor_nip: str, now: datetime) -> dict | None:
    """End a delegation before its date; the one removed (None: there was none in force)."""
    previous = tx.db[ACTING].find_one({"_id": supervisor_nip}, session=tx.session)
    if previous is None:
        return None
    tx.db[ACTING].delete_one({"_id": supervisor_nip}, session=tx.session)
    if not domain.acting_in_force(previous, now):
        return None
    _revoked(tx, previous, now)
    return previous


def _revoked(tx, acting: dict, now: datetime) -> None:
    tx.emit("acting_supervisor_revoked", acting["_id"], {
        "supervisor_nip": acting["_id"], "acting_nip": acting["acting_nip"], "agency": acting["agency"],
        "revoked_at": domain.iso(now)})


# -- operator console: marking a session, promotion by hand (issue 21) ----------------------------

@dataclass
class MarkRow:
    enrolment_id: str
    present: bool | None = None
    score: float | None = None


# What a rejected row of another agency's participant reads: the same words as an unknown
# enrolment, so an operator cannot learn whom other agencies enrolled.
def _not_enrolled(code: str) -> str:
    return f"not enrolled in {code}"


def mark_batch(tx, code: str, rows: list[MarkRow], day: str | None, complete: bool, now: datetime,
               actor: Actor) -> list[dict]:
    """Record one session's attendance (and, with ``complete``, the completions) of ``rows`` of
    programme ``code``; one result per row, a refused row never stops the others.

    The rules are those of the single routes: attendance for enrolled participants once the
    programme has started (per day in ``attendance_days``; ``attended`` = present on at least one
    session; ``day`` None records ``attended`` itself, for a self-paced programme), completions
    by ``domain.plan_completion``. What is recorded already is left alone: the same marking
    again writes nothing and emits nothing."""
    programme = get_programme(tx.db, code, session=tx.session)
    enrolments = {e["_id"]: e for e in tx.db[ENROLMENTS].find(
        {"_id": {"$in": list({r.enrolment_id for r in rows})}, "programme_code": code}, session=tx.session)}
    results: list[dict] = []
    writes: list = []
    events: list = []
    for row in rows:
        enrolment = enrolments.get(row.enrolment_id)
        if enrolment is None or not actor.may_access(enrolment["nip"], enrolment["participant"]["agency"]):
            results.append({"enrolment_id": row.enrolment_id, "accepted": False, "field": "enrolment_id",
                            "reason": _not_enrolled(code)})
            continue
        shown = {"enrolment_id": enrolment["_id"], "nip": enrolment["nip"], "name": enrolment["participant"]["name"]}
        try:
            if row.score is not None and not complete:
                raise Invalid("a score is recorded with the completion: send complete=true (a scheduled programme "
                              "once it has ended)", field="score")
            changes: dict = {}
            if row.present is not None:
                if day is None:  # a self-paced programme marked as a whole
                    if enrolment.get("attended") != row.present and \
                            domain.check_attendance(programme, enrolment, row.present, now):
                        changes = {"attended": row.present}
                else:
                    changes = domain.day_attendance(programme, enrolment, day, row.present, now) or {}
            status, outcome = UNCHANGED, None
            # a self-paced programme completes the people a row marks (each as they finish);
            # a scheduled one, ended, completes every row from what its sessions recorded
            if complete and not (domain.self_paced(programme) and row.present is None and row.score is None):
                status, outcome = domain.plan_completion(programme, {**enrolment, **changes}, row.score, None, now)
        except DomainError as exc:
            results.append({**shown, "accepted": False, "field": _marking_field(exc.field), "reason": exc.message,
                            "status": enrolment["status"], "attendance": enrolment.get("attendance_days") or {},
                            "result": enrolment.get("result")})
            continue
        if changes:
            changes.update(attendance_recorded_at=now, updated_at=now)
            writes.append(UpdateOne({"_id": enrolment["_id"]}, {"$set": changes}))
            enrolment.update(changes)
        if status == COMPLETED_NOW:
            _apply_completion(programme, enrolment, outcome, now, writes, events)
        results.append({**shown, "accepted": True,
                        "outcome": COMPLETED_NOW if status == COMPLETED_NOW else ("recorded" if changes else UNCHANGED),
                        "status": enrolment["status"], "attendance": enrolment.get("attendance_days") or {},
                        "result": enrolment.get("result")})
    if writes:
        # No status guard in the filters: this transaction read each enrolment, so a concurrent
        # change to one makes these writes conflict and the whole transaction retry.
        tx.db[ENROLMENTS].bulk_write(writes, ordered=True, session=tx.session)
    tx.emit_many(events)
    return results


def _marking_field(field: str | None) -> str | None:
    """A marking row's field as the request names it (``present`` rather than ``attended``)."""
    return {"attended": "present"}.get(field, field)


def promote(tx, enrolment_id: str, now: datetime, actor: Actor) -> dict:
    """Move a waitlisted ASN into a free seat by hand (``enrolled``, promoted_from_waitlist); a
    retry of a promotion that was made returns the enrolment as it is."""
    enrolment = get_enrolment(tx.db, enrolment_id, session=tx.session)
    if enrolment["status"] == ENROLLED and enrolment.get("promoted_from_waitlist"):
        return enrolment
    # hold the programme first: a concurrent seat change conflicts here and retries
    programme = update_by_id(tx.db[PROGRAMMES], enrolment["programme_code"], {"$set": {"updated_at": now}},
                             tx.session)
    domain.check_promotion(programme, enrolment, now)
    changes = {"status": ENROLLED, "enrolled_at": now, "promoted_from_waitlist": True, "updated_at": now,
               "promoted_by": actor.as_dict()}
    tx.db[ENROLMENTS].update_one({"_id": enrolment_id, "status": WAITLISTED}, {"$set": changes}, session=tx.session)
    tx.db[PROGRAMMES].update_one({"_id": programme["_id"]}, {"$inc": {"seats_taken": 1, "waitlisted": -1}},
                                 session=tx.session)
    enrolment.update(changes)
    tx.emit(*_seat_event(enrolment, domain.programme_snapshot(programme), None, promoted=True, now=now))
    return enrolment
