"""The enrollment use cases, as the entrypoints call them: load the request schema → check
the caller's scope → one transaction of commands (or a query) → dump the response schema.

Every use case takes the store, the runtime (configuration and clock) and the authenticated
``Actor``, and checks here that the actor may act on that ASN (an admin: anyone; an
operator: its own agency's staff; an ASN: themself). There is no actor-less path: the RPC
entrypoints that had one are gone (issue 17).

The bulk uploads are read row by row and written in chunks (one transaction per chunk,
which is what makes 10,000 rows fast on a store doing ~700 transactions/s); each row gets
its own result, a bad row never fails the others, and uploading the same file again changes
nothing (existing enrolments and identical completions come back as ``unchanged``; so does
an enrolment cancelled since, with the note ``cancelled_earlier``: only a ``reenrol=ya``
cell or a single enrolment request enrols that ASN again). Results are yielded as they are
known so the HTTP answer streams while the file is worked.
"""
from __future__ import annotations

import csv
import logging
import re
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import islice
from typing import Callable, TypeVar

from pymongo.errors import DuplicateKeyError

from services.enrollment import commands, domain, queries, schemas
from services.enrollment.adapters import approval_link, bulk_files
from services.enrollment.adapters.web import Upload
from services.enrollment.domain import CANCELLED, UNCHANGED, WAITLISTED, Actor, programme_code
from services.enrollment.store import ENROLMENTS, PROGRAMMES, get_enrolment, get_programme
from shared.errors import DomainError, Forbidden, Invalid, NotFound, StoreUnavailable
from shared import nip as nip_rules
from shared.runtime import ServiceRuntime
from shared.store import Store
from shared.timefmt import wib_date

log = logging.getLogger(__name__)

T = TypeVar("T")

# Cancelling a programme cancels its enrolments in transactions of this many.
CASCADE_BATCH = 200
# A concurrent single enrolment racing the same ASN (unique index) is read back as existing
# on the next attempt.
_DUPLICATE_RETRIES = 3

_programme = schemas.ProgrammeSchema()
_programme_page = schemas.ProgrammePageSchema()
_enrolment = schemas.EnrolmentSchema()
_enrolment_page = schemas.EnrolmentPageSchema()
_enrolment_counts = schemas.EnrolmentCountsSchema()
_bulk_row = schemas.BulkRowSchema()


def _in_transaction(store: Store, fn: Callable[..., T]) -> T:
    """``store.transaction(fn)``, run again when it lost an insert race on a unique key."""
    attempt = 1
    while True:
        try:
            return store.transaction(fn)
        except DuplicateKeyError:
            if attempt == _DUPLICATE_RETRIES:
                raise
            attempt += 1


def _as_shown(programme: dict, now: datetime) -> dict:
    """The programme with what its answer computes at ``now`` (ProgrammeSchema)."""
    return {**programme, "enrolment_open": domain.enrolment_open(programme, now),
            "promotes_waitlist": domain.promotes_waitlist(programme, now),
            "sessions": domain.programme_sessions(programme)}


# -- programmes ---------------------------------------------------------------------------------

def create_programme(store: Store, runtime: ServiceRuntime, actor: Actor, body: dict) -> tuple[int, dict]:
    """201 with a new draft, or 200 with the same programme when the request is repeated."""
    data = schemas.ProgrammeCreateSchema().load(body)
    now = runtime.now()
    draft = domain.new_programme(data, runtime.config.jp_rules, now, actor)
    programme, created = _in_transaction(store, lambda tx: commands.create_programme(tx, draft))
    return (201 if created else 200), _programme.dump(_as_shown(programme, now))


def update_programme(store: Store, runtime: ServiceRuntime, actor: Actor, code: str, body: dict) -> dict:
    changes = schemas.ProgrammeUpdateSchema().load(body)
    code, now = programme_code(code), runtime.now()
    try:
        programme = store.transaction(
            lambda tx: commands.update_programme(tx, code, changes, runtime.config.jp_rules, now))
    except commands.NoChange:
        programme = get_programme(store.db, code)
    return _programme.dump(_as_shown(programme, now))


def publish_programme(store: Store, runtime: ServiceRuntime, actor: Actor, code: str) -> dict:
    code, now = programme_code(code), runtime.now()
    programme = store.transaction(lambda tx: commands.publish_programme(tx, code, now))
    return _programme.dump(_as_shown(programme, now))


def cancel_programme(store: Store, runtime: ServiceRuntime, actor: Actor, code: str, body: dict) -> dict:
    """Cancel a programme and then each of its enrolments (one ``cancelled`` each).

    The programme turns cancelled at once; its enrolments follow in batches. If the process
    dies in between, ``cascade_pending`` stays set and the next cancel request or the
    periodic sweep (any replica, dependencies.cascade_sweep) finishes the job.
    """
    data = schemas.ProgrammeCancelSchema().load(body)
    code, now = programme_code(code), runtime.now()
    programme = store.transaction(lambda tx: commands.cancel_programme(tx, code, data["reason"], now, actor))
    finish_cascade(store, code, now)
    if programme.get("cascade_pending"):
        programme = get_programme(store.db, code)
    return _programme.dump(_as_shown(programme, now))


def finish_cascade(store: Store, code: str, now: datetime) -> int:
    """Cancel the remaining enrolments of a cancelled programme; how many were cancelled."""
    programme = get_programme(store.db, code)
    if programme["status"] != CANCELLED:
        return 0
    total = 0
    while True:
        done = store.transaction(lambda tx: commands.cancel_all_of_programme(
            tx, code, programme["cancel_reason"], now, CASCADE_BATCH))
        total += done
        if done < CASCADE_BATCH:
            return total


def sweep_cascades(store: Store, now: datetime) -> int:
    """Finish every interrupted programme cancellation (safe on several replicas at once:
    each batch re-reads what is still active inside its transaction)."""
    return sum(finish_cascade(store, code, now) for code in queries.pending_cascades(store.db))


def get_programme_view(store: Store, runtime: ServiceRuntime, actor: Actor, code: str) -> dict:
    return _programme.dump(_as_shown(get_programme(store.db, programme_code(code)), runtime.now()))


def list_programmes(store: Store, runtime: ServiceRuntime, actor: Actor, args) -> dict:
    q = schemas.ProgrammeQuery().load(args)
    page = queries.programmes_page(store.db, q)
    now = runtime.now()
    return _programme_page.dump({**page, "items": [_as_shown(p, now) for p in page["items"]]})


# -- enrolments ---------------------------------------------------------------------------------

def enrol(store: Store, runtime: ServiceRuntime, actor: Actor, code: str, body: dict,
          idempotency_key: str | None) -> tuple[int, dict]:
    """201 with a seat or a waitlist place (a narasumber: enrolled, no seat); 200 with the existing
    enrolment on a retry."""
    given = schemas.ParticipantInputSchema().load(body)
    code = programme_code(code)
    role = given.pop("role")
    if role != domain.PESERTA:  # refused before anything about the ASN is looked at
        domain.check_role(actor, get_programme(store.db, code), role)
    entry = queries.roster_entry(store.db, given["nip"])
    person = domain.participant_for(actor, given, entry, queries.participant(store.db, given["nip"]),
                                    wib_date(runtime.now()), runtime.config.unlisted)
    approval = _approval_spec(store, runtime, actor, code, entry) if role == domain.PESERTA else None
    request = commands.EnrolRequest(person, idempotency_key, approval=approval, role=role)
    [result] = _in_transaction(store, lambda tx: commands.enrol_batch(tx, code, [request], runtime.now, actor))
    if result.error is not None:
        raise result.error
    status = 200 if result.outcome == UNCHANGED else 201
    return status, _enrolment_view(store, result.enrolment)


def _approval_spec(store: Store, runtime: ServiceRuntime, actor: Actor, code: str,
                   entry: dict | None) -> commands.ApprovalSpec | None:
    """What a self-enrolment in a programme requiring the supervisor's approval waits for (ADR
    0092): the approver at this moment (the acting supervisor while their delegation lasts).
    Staff enrol without approval; an existing enrolment is answered as it is (no new request)."""
    if actor.role != "asn" or entry is None:
        return None
    programme = get_programme(store.db, code)
    if not programme.get("requires_supervisor_approval"):
        return None
    existing = store.db[ENROLMENTS].find_one({"programme_code": code, "nip": entry["_id"]}, {"status": 1})
    if existing is not None and existing["status"] != domain.ENROLMENT_CANCELLED:
        return None  # a retry: the existing enrolment comes back unchanged
    supervisor_nip = entry.get("supervisor_nip")
    supervisor = queries.roster_entry(store.db, supervisor_nip) if supervisor_nip else None
    acting = queries.acting_of(store.db, supervisor_nip) if supervisor_nip else None
    approver = domain.approver_for(entry, supervisor, acting, runtime.now())
    config = runtime.config
    secret = config.approval_link_secret
    return commands.ApprovalSpec(approver, config.approval_hold_hours, config.approval_reminder_hours,
                                 lambda eid, nip, expires: approval_link.sign(secret, eid, nip, expires))


def _enrolment_view(store: Store, enrolment: dict) -> dict:
    return _enrolment.dump(queries.with_waitlist_position(store.db, enrolment))


def _check_access(store: Store, actor: Actor, enrolment_id: str) -> None:
    if actor.role != "admin":
        enrolment = get_enrolment(store.db, enrolment_id)
        actor.check_access(enrolment["nip"], enrolment["participant"]["agency"])


def cancel_enrolment(store: Store, runtime: ServiceRuntime, actor: Actor, enrolment_id: str, body: dict) -> dict:
    data = schemas.EnrolmentCancelSchema().load(body)
    _check_access(store, actor, enrolment_id)
    # Who cancelled comes from the token, never from the body (issue 17): only the ASN
    # themself cancels as the participant; staff cancel as the operator (the event's
    # vocabulary has no admin; cancelled_by_actor keeps the role).
    cancelled_by = domain.cancelled_by(actor)
    reason = data["reason"] or domain.default_cancel_reason(cancelled_by)
    now = runtime.now()
    done = store.transaction(lambda tx: commands.cancel_enrolment(tx, enrolment_id, reason, cancelled_by, now, actor))
    view = _enrolment_view(store, done.enrolment)
    if done.waitlist_note:  # the seat stays free: the programme has started (ADR 0012)
        view["waitlist_note"] = done.waitlist_note
    return view


def record_attendance(store: Store, runtime: ServiceRuntime, actor: Actor, enrolment_id: str, body: dict) -> dict:
    data = schemas.AttendanceSchema().load(body)
    _check_access(store, actor, enrolment_id)
    now = runtime.now()
    return _enrolment_view(store, store.transaction(
        lambda tx: commands.record_attendance(tx, enrolment_id, data["attended"], now)))


def complete(store: Store, runtime: ServiceRuntime, actor: Actor, enrolment_id: str, body: dict) -> dict:
    data = schemas.CompletionSchema().load(body)
    now = runtime.now()
    # The caller's scope is checked on the transaction's own read of the enrolment.
    enrolment, _ = store.transaction(
        lambda tx: commands.complete_enrolment(tx, enrolment_id, data["score"], data["attended"], now, actor))
    return _enrolment_view(store, enrolment)


def get_enrolment_view(store: Store, runtime: ServiceRuntime, actor: Actor, enrolment_id: str) -> dict:
    enrolment = get_enrolment(store.db, enrolment_id)
    actor.check_access(enrolment["nip"], enrolment["participant"]["agency"])
    return _enrolment_view(store, enrolment)


def list_enrolments(store: Store, runtime: ServiceRuntime, actor: Actor, args) -> dict:
    q = domain.list_scope(schemas.EnrolmentQuery().load(args), actor)
    return _enrolment_page.dump(queries.enrolments_page(store.db, q))


def count_enrolments(store: Store, runtime: ServiceRuntime, actor: Actor, args) -> dict:
    """Enrolments per programme and status, for a page of a programme list in one call: an
    operator counts its own agency's (naming another is 403, as GET /enrolments), an admin all
    or ``agency``'s."""
    data = args.to_dict() if hasattr(args, "getlist") else dict(args)
    if hasattr(args, "getlist") and "programme" in args:
        data["programme"] = args.getlist("programme")  # repeated: ?programme=A&programme=B
    q = domain.list_scope(schemas.EnrolmentCountQuery().load(data), actor)
    codes = list(dict.fromkeys(programme_code(c) for c in q["programme"]))
    return _enrolment_counts.dump({"counts": queries.enrolment_counts(store.db, codes, q.get("agency"))})


# -- bulk uploads -------------------------------------------------------------------------------

def bulk_enrol(store: Store, runtime: ServiceRuntime, actor: Actor, code: str, upload: Upload) -> Iterator[dict]:
    """Checks the size, the programme, the row count and the header now (errors answer at
    once), then streams one result per row and a summary."""
    config = runtime.config
    stream = upload.open(config.bulk_max_bytes)
    code = programme_code(code)
    domain.check_can_enrol(get_programme(store.db, code), runtime.now())
    bulk_files.check_row_count(stream, config.bulk_max_rows)
    rows = bulk_files.read_rows(stream, bulk_files.ENROLMENT_COLUMNS)
    return _answered(_enrol_rows(store, runtime, actor, code, rows))


def bulk_complete(store: Store, runtime: ServiceRuntime, actor: Actor, code: str, upload: Upload) -> Iterator[dict]:
    config = runtime.config
    stream = upload.open(config.bulk_max_bytes)
    code = programme_code(code)
    # too early (domain.check_completion_open): each row is refused with the reason, like any row
    # that cannot be completed, so the operator's results page reads as for any other refusal
    get_programme(store.db, code)
    bulk_files.check_row_count(stream, config.bulk_max_rows)
    rows = bulk_files.read_rows(stream, bulk_files.COMPLETION_COLUMNS)
    return _answered(_complete_rows(store, runtime, actor, code, rows))


def _answered(results: Iterable[dict]) -> Iterator[dict]:
    """The rows and the summary as the answer shows them (BulkRowSchema)."""
    return (_bulk_row.dump(item) for item in with_summary(results))


def _chunks(rows: Iterable, size: int) -> Iterator[list]:
    it = iter(rows)
    while batch := list(islice(it, size)):
        yield batch


def _rejected(line: int, nip: str | None, exc: DomainError) -> dict:
    return {"row": line, "nip": nip, "accepted": False, "field": exc.field, "reason": exc.message}


def _enrol_rows(store: Store, runtime: ServiceRuntime, actor: Actor, code: str,
                rows: Iterable[tuple[int, dict]]) -> Iterator[dict]:
    """Enrol the participants of ``rows`` into programme ``code``; yields one result per row.

    Each row follows the rule of a single enrolment (domain.participant_for): the roster gives
    the ASN's name, agency, jabatan and golongan; an admin's row may enrol an ASN not on it
    (ENROLLMENT_UNLISTED); an operator's row for an ASN not aktif on its agency's roster is
    rejected with the reason, and the other rows go on."""
    today = wib_date(runtime.now())
    programme = get_programme(store.db, code)  # its kind, for the rows naming a narasumber
    for batch in _chunks(rows, runtime.config.bulk_chunk_rows):
        for _, row in batch:
            row["nip"] = nip_rules.digits_only(row.get("nip", ""))  # the printed form has spaces
        nips = list({row["nip"] for _, row in batch})
        known = queries.participants(store.db, nips)
        roster = queries.roster_entries(store.db, nips)
        results: dict[int, dict] = {}
        valid: list[tuple[int, commands.EnrolRequest]] = []
        for line, row in batch:
            try:
                role = domain.parse_role(row.get("role"))
                if role != domain.PESERTA:
                    domain.check_role(actor, programme, role)
                person = domain.participant_for(actor, row, roster.get(row["nip"]), known.get(row["nip"]), today,
                                                runtime.config.unlisted)
                reenrol = domain.parse_reenrol(row.get("reenrol"))
                valid.append((line, commands.EnrolRequest(person, reenrol_cancelled=reenrol, role=role)))
            except DomainError as exc:
                results[line] = _rejected(line, row["nip"], exc)
        if valid:
            try:
                outcomes = _in_transaction(store, lambda tx: commands.enrol_batch(
                    tx, code, [r for _, r in valid], runtime.now, actor))
                for (line, request), outcome in zip(valid, outcomes):
                    e = outcome.enrolment
                    if outcome.error is not None:  # enrolled already with the other role
                        results[line] = _rejected(line, request.participant["_id"], outcome.error)
                        continue
                    results[line] = {"row": line, "nip": request.participant["_id"], "accepted": True,
                                     "outcome": outcome.outcome, "note": outcome.note, "enrolment_id": e["_id"],
                                     "enrolment_status": e["status"], "role": domain.role_of(e),
                                     "waitlist_position": e.get("waitlist_position_at_arrival")
                                     if e["status"] == WAITLISTED else None}
            except DomainError as exc:  # the programme closed or was cancelled meanwhile
                for line, request in valid:
                    results[line] = _rejected(line, request.participant["_id"], exc)
        yield from (results[line] for line, _ in batch)


def _complete_rows(store: Store, runtime: ServiceRuntime, actor: Actor, code: str,
                   rows: Iterable[tuple[int, dict]]) -> Iterator[dict]:
    """Record the completions of ``rows`` in programme ``code``; yields one result per row.

    An operator's rows for another agency's staff are rejected one by one, exactly as rows of
    people not enrolled are."""
    for batch in _chunks(rows, runtime.config.bulk_chunk_rows):
        nips = [nip_rules.digits_only(row.get("nip", "")) for _, row in batch]  # the printed form has spaces
        agency_of = queries.enrolment_agencies(store.db, code, nips) if actor.role != "admin" else {}
        results: dict[int, dict] = {}
        valid: list[tuple[int, commands.CompletionRequest]] = []
        for (line, row), nip in zip(batch, nips):
            try:
                if not re.match(nip_rules.PATTERN, nip):
                    raise Invalid(f"NIP must have {nip_rules.LENGTH} digits", field="nip")
                request = commands.CompletionRequest(nip, domain.parse_score(row.get("score")),
                                                     domain.parse_attended(row.get("attended")))
                if request.score is None and request.attended is None:
                    raise Invalid("give a score or attended (ya/tidak)", field="score")
                if actor.role != "admin" and not actor.may_access(nip, agency_of.get(nip)):
                    # Another agency's participant is answered as if not enrolled: the same words
                    # as an unknown NIP, so an operator cannot learn whom other agencies enrolled.
                    results[line] = {"row": line, "nip": nip, "accepted": False, "field": "nip",
                                     "reason": f"not enrolled in {code}"}
                    continue
                valid.append((line, request))
            except DomainError as exc:
                results[line] = _rejected(line, nip, exc)
        if valid:
            now = runtime.now()
            try:
                outcomes = _in_transaction(store, lambda tx: commands.complete_batch(
                    tx, code, [r for _, r in valid], now))
                for (line, request), outcome in zip(valid, outcomes):
                    results[line] = {"row": line, "nip": request.nip, **outcome}
            except DomainError as exc:
                for line, request in valid:
                    results[line] = _rejected(line, request.nip, exc)
        yield from (results[line] for line, _ in batch)


def with_summary(results: Iterable[dict]) -> Iterator[dict]:
    """The results, then ``{"summary": ...}``; a store outage ends the stream with an error
    line (already written rows stay written; uploading the file again completes it)."""
    started = time.monotonic()
    summary = {"rows": 0, "accepted": 0, "rejected": 0}
    try:
        for result in results:
            summary["rows"] += 1
            if result["accepted"]:
                summary["accepted"] += 1
                summary[result["outcome"]] = summary.get(result["outcome"], 0) + 1
                if result.get("note"):  # e.g. how many of the unchanged stay cancelled
                    summary[result["note"]] = summary.get(result["note"], 0) + 1
            else:
                summary["rejected"] += 1
            yield result
    except (StoreUnavailable, UnicodeDecodeError, csv.Error) as exc:
        reason = ("the data store became unavailable; upload the same file again to finish"
                  if isinstance(exc, StoreUnavailable) else f"the file cannot be read past row "
                  f"{summary['rows'] + 1}: {exc}")
        log.warning("bulk upload stopped: %s", exc)
        summary["error"] = reason
    summary["seconds"] = round(time.monotonic() - started, 3)
    yield {"summary": summary}


# -- the roster (daftar ASN) ---------------------------------------------------------------------

_roster_row = schemas.RosterRowSchema()
_roster_view = schemas.RosterEntryViewSchema()
_roster_page = schemas.RosterPageSchema()


def import_roster(store: Store, runtime: ServiceRuntime, actor: Actor, upload: Upload, args) -> Iterator[dict]:
    """Import a roster file (CSV or XLSX); streams one result per row, then a summary.

    Before anything is written: the parameters and who may use them, the size, the header,
    the row count and every cell are checked (errors answer at once), and a FULL import of an
    agency counts the aktif ASN the file leaves out: more than ROSTER_CONFIRM_LEFT_SHARE of
    them without konfirmasi=ya is 409, with the count. Then the rows are written in chunks
    (one transaction each, events in the same transaction), and a FULL import marks the
    missing ones tidak_tercantum. A NIP given twice: the later rows are rejected.
    """
    query = schemas.RosterImportQuery().load(args, unknown="exclude")
    plan = domain.roster_import(actor, query["mode"], query["kode_opd"], query["konfirmasi"])
    config = runtime.config
    stream = upload.open(config.bulk_max_bytes)
    xlsx = bulk_files.is_xlsx(stream, upload.content_type)
    rows = bulk_files.read_roster(stream, xlsx, config.bulk_max_rows)
    today = wib_date(runtime.now())
    checked: list[tuple[int, domain.RosterRow | dict]] = []
    present: set[str] = set()  # the ASN the file names, even on a row rejected for another cell
    first_line: dict[str, int] = {}
    for line, row in rows:
        try:
            read = domain.read_roster_row(row, today)
        except DomainError as exc:
            digits = nip_rules.digits_only(row.get("nip", ""))
            if re.match(nip_rules.PATTERN, digits):
                present.add(digits)
            # the cell is echoed only when it is digits: the results may be opened as a spreadsheet
            shown = digits if digits.isascii() and digits.isdigit() else None
            checked.append((line, _rejected(line, shown, exc)))
            continue
        present.add(read.nip)
        if read.nip in first_line:
            checked.append((line, {"row": line, "nip": read.nip, "accepted": False, "field": "nip",
                                   "reason": f"NIP ini sudah ada di baris {first_line[read.nip]}; satu baris per ASN"}))
            continue
        first_line[read.nip] = line
        checked.append((line, read))
    if plan.mode == domain.FULL:
        domain.check_full_import(plan, queries.active_count(store.db, plan.agency),
                                 queries.missing_count(store.db, plan.agency, present),
                                 config.roster_confirm_left_share)
    return (_roster_row.dump(item) for item in _roster_summary(_roster_rows(store, runtime, plan, checked, present)))


def _roster_rows(store: Store, runtime: ServiceRuntime, plan: domain.RosterImport,
                 checked: list[tuple[int, domain.RosterRow | dict]], present: set[str]) -> Iterator[dict]:
    size = runtime.config.bulk_chunk_rows
    for batch in _chunks(checked, size):
        results = {line: item for line, item in batch if isinstance(item, dict)}
        valid = [(line, item) for line, item in batch if not isinstance(item, dict)]
        if valid:
            now = runtime.now()
            try:
                results.update(_in_transaction(store, lambda tx: commands.import_roster_batch(tx, valid, plan, now)))
            except DomainError as exc:
                for line, item in valid:
                    results[line] = _rejected(line, item.nip, exc)
        yield from (results[line] for line, _ in batch)
    if plan.mode != domain.FULL:
        return
    while True:  # the aktif ASN of the agency the file left out, a chunk at a time
        now = runtime.now()
        marked = store.transaction(lambda tx: commands.mark_not_listed(tx, plan.agency, present, now, size))
        for entry in marked:
            yield {"nip": entry["_id"], "accepted": True, "outcome": "left", "status": domain.NOT_LISTED}
        if len(marked) < size:
            return


def _roster_summary(results: Iterable[dict]) -> Iterator[dict]:
    """The results, then ``{"summary": ...}`` (rows of the file, and ``left``: the ASN a full
    import marked tidak_tercantum); a store outage ends the stream with an error line."""
    started = time.monotonic()
    summary = {"rows": 0, "accepted": 0, "rejected": 0, "created": 0, "updated": 0, "unchanged": 0, "left": 0}
    try:
        for result in results:
            if result.get("outcome") == "left" and "row" not in result:
                summary["left"] += 1
            else:
                summary["rows"] += 1
                if result["accepted"]:
                    summary["accepted"] += 1
                    summary[result["outcome"]] += 1
                else:
                    summary["rejected"] += 1
            yield result
    except StoreUnavailable as exc:
        log.warning("roster import stopped: %s", exc)
        summary["error"] = ("penyimpanan data tidak tersedia; unggah berkas yang sama sekali lagi untuk "
                            "menyelesaikannya (baris yang sudah tersimpan tidak berubah)")
    summary["seconds"] = round(time.monotonic() - started, 3)
    yield {"summary": summary}


def _roster_scope(q: dict, actor: Actor) -> dict:
    """The roster list as ``actor`` may see it: an operator its own agency (another is 403), an
    ASN their own entry."""
    if actor.role == "operator":
        if q.get("agency") and q["agency"].upper() != actor.agency:
            actor.check_access(None, q["agency"].upper(), what="that agency's roster")
        return {**q, "agency": actor.agency}
    if actor.role == "asn":
        return {**q, "nip": actor.nip}
    if actor.role != "admin":
        raise Forbidden(f"role {actor.role} may not read the roster", field="role")
    return q


def list_roster(store: Store, runtime: ServiceRuntime, actor: Actor, args) -> dict:
    q = _roster_scope(schemas.RosterQuery().load(args), actor)
    return _roster_page.dump(queries.roster_page(store.db, q))


def get_roster_entry(store: Store, runtime: ServiceRuntime, actor: Actor, nip: str) -> dict:
    """One entry with its supervisor's name and its number of enrolments. An operator gets the
    same 404 for another agency's ASN as for an unknown NIP; an ASN sees only themself."""
    nip = nip_rules.digits_only(nip)
    if actor.role == "asn" and nip != actor.nip:
        raise Forbidden("an ASN may see only their own roster entry", field="nip")
    entry = queries.roster_entry(store.db, nip) if re.match(nip_rules.PATTERN, nip) else None
    if actor.role == "operator":
        if entry is None or entry.get("agency") != actor.agency:
            raise NotFound(f"ASN {nip} tidak ada di daftar ASN OPD {actor.agency}", field="nip")
    elif actor.role not in ("admin", "asn"):
        raise Forbidden(f"role {actor.role} may not read the roster", field="role")
    if entry is None:
        raise NotFound(f"ASN {nip} tidak ada di daftar ASN", field="nip")
    return _roster_entry_view(store, runtime, entry)


def _roster_entry_view(store: Store, runtime: ServiceRuntime, entry: dict) -> dict:
    now = runtime.now()
    nip = entry["_id"]
    return _roster_view.dump({**entry, "supervisor": queries.supervisor_of(store.db, entry),
                              "enrolments": queries.enrolment_count(store.db, nip),
                              "acting": domain.acting_in_force(queries.acting_of(store.db, nip), now),
                              "acting_for": queries.acting_for(store.db, nip, now),
                              "staff_count": queries.staff_count(store.db, nip)})


# -- supervisor approval (izin atasan) and acting supervisors (Plt/Plh), ADR 0092 ----------------

_approval_page = schemas.ApprovalPageSchema()
# Reminders and lapses handled per sweep pass at most (the next pass takes the rest).
APPROVAL_SWEEP_BATCH = 500


def list_approvals(store: Store, runtime: ServiceRuntime, actor: Actor, args) -> dict:
    """The approval requests the caller may see: an ASN those they are (or were made) the
    approver of; an operator its own agency's staff's; an admin all."""
    q = schemas.ApprovalQuery().load(args)
    query: dict = {"state": commands.OPEN if q["status"] == "awaiting" else commands.DECIDED}
    if actor.role == "asn":
        query["approver_nip"] = actor.nip
    elif actor.role == "operator":
        query["agency"] = actor.agency
    elif actor.role != "admin":
        raise Forbidden(f"role {actor.role} may not read approval requests", field="role")
    if q.get("since"):  # the recent ones only (the portal shows 30 days): the approver's index, then the range
        query["decided_at" if q["status"] == "decided" else "requested_at"] = {"$gte": q["since"]}
    return _approval_page.dump(queries.approvals_page(store.db, query, q))


def _approval_view(store: Store, enrolment: dict) -> dict:
    programme = store.db[PROGRAMMES].find_one({"_id": enrolment["programme_code"]})
    return _enrolment.dump(queries.with_programme(store.db, enrolment, programme))


def decide_approval(store: Store, runtime: ServiceRuntime, actor: Actor, enrolment_id: str, body: dict) -> dict:
    """The approver's decision on a request (403 for anyone else, 409 already_decided)."""
    data = schemas.DecisionSchema().load(body)
    return _decide(store, runtime, actor, enrolment_id, data)


def _decide(store: Store, runtime: ServiceRuntime, actor: Actor, enrolment_id: str, data: dict) -> dict:
    if actor.role != "asn" or not actor.nip:
        raise Forbidden("hanya atasan (atau Plt/Plh) yang dimintai persetujuan yang dapat memutuskan permohonan ini",
                        field="role")
    now = runtime.now()
    reason = (data.get("reason") or "").strip() or None
    enrolment = store.transaction(lambda tx: commands.decide(tx, enrolment_id, data["decision"], reason, actor, now))
    return _approval_view(store, enrolment)


def _from_link(store: Store, actor: Actor, token: str, secret: str) -> dict:
    """The enrolment a link token is for, to its approver only (403 for anyone else); a token
    not signed by this service, or of an earlier request of the enrolment, is 422."""
    claims = approval_link.verify(secret, token)
    if actor.role != "asn" or actor.nip != claims.approver_nip:
        raise Forbidden("tautan ini untuk atasan yang dimintai persetujuan; masuklah sebagai atasan tersebut",
                        field="token")
    enrolment = store.db[ENROLMENTS].find_one({"_id": claims.enrolment_id})
    approval = (enrolment or {}).get("approval")
    if enrolment is None or approval is None or approval.get("approver_nip") != claims.approver_nip \
            or not approval_link.same_request(claims, approval["expires_at"]):
        raise Invalid("tautan persetujuan ini bukan untuk permohonan yang berlaku", field="token")
    return enrolment


def open_link(store: Store, runtime: ServiceRuntime, actor: Actor, body: dict) -> dict:
    data = schemas.LinkSchema().load(body)
    return _approval_view(store, _from_link(store, actor, data["token"], runtime.config.approval_link_secret))


def decide_by_link(store: Store, runtime: ServiceRuntime, actor: Actor, body: dict) -> dict:
    """A decision from the e-mailed link: single use, as the request is decided once."""
    data = schemas.LinkDecisionSchema().load(body)
    enrolment = _from_link(store, actor, data["token"], runtime.config.approval_link_secret)
    return _decide(store, runtime, actor, enrolment["_id"], data)


def sweep_approvals(store: Store, now: datetime) -> int:
    """Remind approvers of requests about to lapse, then lapse the expired ones (each request
    in its own transaction, which re-reads it: safe on several replicas at once)."""
    done = 0
    for enrolment_id in queries.due_lapses(store.db, now, APPROVAL_SWEEP_BATCH):
        if store.transaction(lambda tx: commands.lapse(tx, enrolment_id, now)) is not None:
            done += 1
    for enrolment_id in queries.due_reminders(store.db, now, APPROVAL_SWEEP_BATCH):
        done += bool(store.transaction(lambda tx: commands.remind(tx, enrolment_id, now)))
    return done


def _staff_supervisor(store: Store, actor: Actor, nip: str) -> dict:
    """The roster entry of a supervisor an operator (its own OPD) or an admin may act for; the
    same refusal for an unknown NIP and another OPD's ASN."""
    nip = nip_rules.digits_only(nip)
    entry = queries.roster_entry(store.db, nip) if re.match(nip_rules.PATTERN, nip) else None
    if actor.role == "operator" and (entry is None or entry.get("agency") != actor.agency):
        raise Forbidden(f"ASN {nip} tidak ada di daftar ASN OPD {actor.agency}: operator hanya mengatur Plt/Plh "
                        f"atasan di OPD-nya sendiri", field="nip")
    if actor.role not in ("admin", "operator"):
        raise Forbidden(f"role {actor.role} may not set acting supervisors", field="role")
    if entry is None:
        raise NotFound(f"ASN {nip} tidak ada di daftar ASN", field="nip")
    return entry


def set_acting(store: Store, runtime: ServiceRuntime, actor: Actor, nip: str, body: dict) -> dict:
    """Name the acting supervisor (Plt/Plh) of ``nip`` until a date; new approval requests of
    their staff go to the acting person meanwhile."""
    supervisor = _staff_supervisor(store, actor, nip)
    data = schemas.ActingSchema().load(body)
    now = runtime.now()
    acting_entry = queries.roster_entry(store.db, data["acting_nip"])
    if actor.role == "operator" and acting_entry is not None and acting_entry.get("agency") != actor.agency:
        acting_entry = None  # another OPD's ASN is answered as not on the roster
    domain.check_acting(supervisor["_id"], acting_entry, data["ends_at"], now)
    store.transaction(lambda tx: commands.set_acting(tx, supervisor, acting_entry, data["kind"], data["ends_at"],
                                                     now, actor))
    return _roster_entry_view(store, runtime, supervisor)


def revoke_acting(store: Store, runtime: ServiceRuntime, actor: Actor, nip: str) -> dict:
    supervisor = _staff_supervisor(store, actor, nip)
    store.transaction(lambda tx: commands.revoke_acting(tx, supervisor["_id"], runtime.now()))
    return _roster_entry_view(store, runtime, supervisor)



# -- operator console: marking a session, promotion by hand, the JP preview (issue 21) ---------------

_marking_answer = schemas.MarkingAnswerSchema()


def mark(store: Store, runtime: ServiceRuntime, actor: Actor, code: str, body: dict) -> dict:
    """Mark one session of a programme: attendance per row and, with ``complete``, completions,
    by the rules of the single attendance and completion routes. The session and the completion
    rule are checked for the whole request (nothing written when they fail); then each row is
    accepted or refused with its reason (an operator's row of another OPD reads as not enrolled)."""
    data = schemas.MarkingSchema().load(body)
    code, now = programme_code(code), runtime.now()
    programme = get_programme(store.db, code)
    day = domain.marking_session(programme, data["session"], now)
    if data["complete"]:
        domain.check_marking_completion(programme, now)
    rows = [commands.MarkRow(r["enrolment_id"], r["present"], r["score"]) for r in data["rows"]]
    results: list[dict] = []
    for chunk in _chunks(rows, runtime.config.bulk_chunk_rows):  # one transaction per chunk, as bulk uploads
        results.extend(_in_transaction(store, lambda tx: commands.mark_batch(
            tx, code, chunk, day, data["complete"], runtime.now(), actor)))
    summary = {"accepted": sum(r["accepted"] for r in results), "rejected": sum(not r["accepted"] for r in results),
               "completed": sum(r.get("outcome") == domain.COMPLETED_NOW for r in results),
               "unchanged": sum(r.get("outcome") == UNCHANGED for r in results)}
    return _marking_answer.dump({"session": day, "results": results, "summary": summary})


def promote(store: Store, runtime: ServiceRuntime, actor: Actor, enrolment_id: str) -> dict:
    """Move a waitlisted ASN into a free seat by hand (an operator: its own OPD's)."""
    _check_access(store, actor, enrolment_id)
    now = runtime.now()
    return _enrolment_view(store, store.transaction(lambda tx: commands.promote(tx, enrolment_id, now, actor)))


def preview_jp(store: Store, runtime: ServiceRuntime, actor: Actor, args) -> dict:
    """The JP a programme of that kind and duration (or dates) gets, and the rule that gave it."""
    q = schemas.JpQuery().load(args)
    preview = domain.preview_jp(runtime.config.jp_rules, q["kind"], q.get("duration_minutes"),
                                q.get("duration_days"), q.get("starts_at"), q.get("ends_at"))
    return schemas.JpPreviewSchema().dump(preview)
