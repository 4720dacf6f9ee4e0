"""The enrollment commands and queries as the HTTP entrypoints call them.

Input is validated with the API schemas, the domain does the work in a transaction, and
the answer is dumped with the response schemas. Every command takes the authenticated
``Actor`` issuing it and checks here that it may act on that ASN (an admin: anyone; an
operator: its own agency's staff; an ASN: themself). There is no actor-less path: the RPC
entrypoints that had one are gone (issue 17).
"""
from __future__ import annotations

from datetime import datetime
from typing import Callable, Iterator

from pymongo.errors import DuplicateKeyError

from services.enrollment import bulk, config, domain, enrolments, programmes
from services.enrollment.domain import Actor
from services.enrollment.jp import load_rules
from services.enrollment.schemas import (AttendanceSchema, CompletionSchema, EnrolmentCancelSchema,
                                         EnrolmentQuery, EnrolmentSchema, ParticipantInputSchema,
                                         ProgrammeCancelSchema, ProgrammeCreateSchema, ProgrammeQuery,
                                         ProgrammeSchema, ProgrammeUpdateSchema)
from services.enrollment.store import ENROLMENTS, PARTICIPANTS, PROGRAMMES, get_enrolment, get_programme, page, \
    waitlist_position

_programme = ProgrammeSchema()
_enrolment = EnrolmentSchema()


def programme_code(code: str) -> str:
    return code.strip().upper()


class Enrollment:
    """One unit of work over the service's store (built per worker)."""

    def __init__(self, store, clock: Callable[[], datetime] = domain.utc_now):
        self.store = store
        self.clock = clock

    @property
    def rules(self):
        return load_rules(config.jp_rules_path())

    # -- programmes ------------------------------------------------------------------------
    def create_programme(self, body: dict, actor: Actor) -> tuple[int, dict]:
        data = ProgrammeCreateSchema().load(body)
        programme, created = programmes.create(self.store, data, self.rules, self.clock(), actor)
        return (201 if created else 200), _programme.dump(programme)

    def update_programme(self, code: str, body: dict, actor: Actor) -> dict:
        changes = ProgrammeUpdateSchema().load(body)
        return _programme.dump(programmes.update(self.store, programme_code(code), changes, self.rules,
                                                 self.clock()))

    def publish_programme(self, code: str, actor: Actor) -> dict:
        return _programme.dump(programmes.publish(self.store, programme_code(code), self.clock()))

    def cancel_programme(self, code: str, body: dict, actor: Actor) -> dict:
        data = ProgrammeCancelSchema().load(body)
        return _programme.dump(programmes.cancel(self.store, programme_code(code), data["reason"], self.clock(),
                                                 actor))

    def get_programme(self, code: str) -> dict:
        return _programme.dump(get_programme(self.store.db, programme_code(code)))

    def list_programmes(self, args: dict) -> dict:
        q = ProgrammeQuery().load(args)
        query = {k: q[k] for k in ("status", "kind", "competency_type") if k in q}
        if "organiser" in q:
            query["organisers"] = q["organiser"]
        items, cursor, total = page(self.store.db[PROGRAMMES], query, q["limit"], q["cursor"])
        return {"items": _programme.dump(items, many=True), "next_cursor": cursor, "total": total}

    # -- enrolments ------------------------------------------------------------------------
    def enrol(self, code: str, body: dict, idempotency_key: str | None, actor: Actor) -> tuple[int, dict]:
        given = ParticipantInputSchema().load(body)
        code = programme_code(code)
        known = self.store.db[PARTICIPANTS].find_one({"_id": given["nip"].strip()})
        person = domain.participant_for(actor, given, known)
        request = enrolments.EnrolRequest(person, idempotency_key)
        for attempt in range(3):
            try:
                [result] = self.store.transaction(
                    lambda tx: enrolments.enrol_batch(tx, code, [request], self.clock, actor))
                break
            except DuplicateKeyError:  # raced by the same ASN on another replica: read it back
                if attempt == 2:
                    raise
        status = 200 if result.outcome == enrolments.UNCHANGED else 201
        return status, self._present(result.enrolment)

    def _check_access(self, enrolment_id: str, actor: Actor) -> None:
        if actor.role != "admin":
            enrolment = get_enrolment(self.store.db, enrolment_id)
            actor.check_access(enrolment["nip"], enrolment["participant"]["agency"])

    def cancel_enrolment(self, enrolment_id: str, body: dict, actor: Actor) -> dict:
        data = EnrolmentCancelSchema().load(body)
        self._check_access(enrolment_id, actor)
        # Who cancelled comes from the token, never from the body (issue 17): only the ASN
        # themself cancels as the participant; staff cancel as the operator (the event's
        # vocabulary has no admin; cancelled_by_actor keeps the role).
        cancelled_by = domain.cancelled_by(actor)
        reason = data["reason"] or domain.default_cancel_reason(cancelled_by)
        now = self.clock()
        return self._present(self.store.transaction(lambda tx: enrolments.cancel(
            tx, enrolment_id, reason, cancelled_by, now, actor)))

    def record_attendance(self, enrolment_id: str, body: dict, actor: Actor) -> dict:
        data = AttendanceSchema().load(body)
        self._check_access(enrolment_id, actor)
        now = self.clock()
        return self._present(self.store.transaction(
            lambda tx: enrolments.record_attendance(tx, enrolment_id, data["attended"], now)))

    def complete(self, enrolment_id: str, body: dict, actor: Actor) -> dict:
        data = CompletionSchema().load(body)
        self._check_access(enrolment_id, actor)
        now = self.clock()
        enrolment, _ = self.store.transaction(
            lambda tx: enrolments.complete(tx, enrolment_id, data["score"], data["attended"], now))
        return self._present(enrolment)

    def get_enrolment(self, enrolment_id: str, actor: Actor) -> dict:
        enrolment = get_enrolment(self.store.db, enrolment_id)
        actor.check_access(enrolment["nip"], enrolment["participant"]["agency"])
        return self._present(enrolment)

    def list_enrolments(self, args: dict, actor: Actor) -> dict:
        q = EnrolmentQuery().load(args)
        q = self._scope_filters(q, actor)
        query = {}
        if "programme" in q:
            query["programme_code"] = programme_code(q["programme"])
        if "nip" in q:
            query["nip"] = q["nip"]
        if "status" in q:
            query["status"] = q["status"]
        if "agency" in q:
            query["participant.agency"] = q["agency"].upper()
        items, cursor, total = page(self.store.db[ENROLMENTS], query, q["limit"], q["cursor"])
        return {"items": [self._present(e) for e in items], "next_cursor": cursor, "total": total}

    @staticmethod
    def _scope_filters(q: dict, actor: Actor) -> dict:
        """An operator lists its own agency only, an ASN themself only; asking for others is 403."""
        if actor.role == "operator":
            if q.get("agency") and q["agency"].upper() != actor.agency:
                actor.check_access(None, q["agency"].upper(), what="that agency's list")
            return {**q, "agency": actor.agency}
        if actor.role == "asn":
            if q.get("nip") and q["nip"] != actor.nip:
                actor.check_access(q["nip"], None, what="that list")
            return {**q, "nip": actor.nip}
        return q

    def _present(self, enrolment: dict) -> dict:
        return _enrolment.dump({**enrolment, "waitlist_position": waitlist_position(self.store.db, enrolment)})

    # -- bulk ------------------------------------------------------------------------------
    def bulk_enrol(self, code: str, stream, actor: Actor) -> Iterator[dict]:
        """Checks the programme, the row count and the header now (errors answer at once),
        then streams."""
        code = programme_code(code)
        domain.check_can_enrol(get_programme(self.store.db, code), self.clock())
        bulk.check_row_count(stream, config.bulk_max_rows())
        rows = bulk.read_rows(stream, bulk.ENROLMENT_COLUMNS)
        return bulk.with_summary(bulk.enrol_rows(self.store, code, rows, config.bulk_chunk_rows(), self.clock,
                                                 actor))

    def bulk_complete(self, code: str, stream, actor: Actor) -> Iterator[dict]:
        code = programme_code(code)
        get_programme(self.store.db, code)
        bulk.check_row_count(stream, config.bulk_max_rows())
        rows = bulk.read_rows(stream, bulk.COMPLETION_COLUMNS)
        return bulk.with_summary(bulk.complete_rows(self.store, code, rows, config.bulk_chunk_rows(), self.clock,
                                                    actor))

    # -- housekeeping ----------------------------------------------------------------------
    def sweep_cascades(self) -> int:
        return programmes.sweep_cascades(self.store, self.clock())
