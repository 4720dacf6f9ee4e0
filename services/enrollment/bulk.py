"""Bulk CSV uploads: enrol a whole agency, record completions of a whole class.

The file is read row by row and written in chunks (one transaction per chunk, which is
what makes 10,000 rows fast on a store doing ~700 transactions/s); each row gets its own
result, a bad row never fails the others, and uploading the same file again changes
nothing (existing enrolments and identical completions come back as ``unchanged``; so does
an enrolment cancelled since, with the note ``cancelled_earlier``: only a ``reenrol=ya``
cell or a single enrolment request enrols that ASN again).
Results are yielded as they are known so the HTTP answer streams while the file is worked.
"""
from __future__ import annotations

import codecs
import csv
import io
import json
import logging
import time
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from itertools import islice

from pymongo.errors import DuplicateKeyError

from services.enrollment import domain, enrolments
from services.enrollment.domain import Actor
from services.enrollment.store import ENROLMENTS, PARTICIPANTS
from shared.errors import DomainError, Invalid, StoreUnavailable

log = logging.getLogger(__name__)

ENROLMENT_COLUMNS = {"nip": "nip", "nip_pppk": "nip", "ni_pppk": "nip", "name": "name", "nama": "name",
                     "agency": "agency", "opd": "agency", "instansi": "agency", "unit_kerja": "agency",
                     "position": "position", "jabatan": "position", "id_kind": "id_kind",
                     "reenrol": "reenrol", "re_enrol": "reenrol", "daftar_ulang": "reenrol"}
COMPLETION_COLUMNS = {"nip": "nip", "nip_pppk": "nip", "ni_pppk": "nip", "score": "score", "nilai": "score",
                      "attended": "attended", "hadir": "attended", "kehadiran": "attended"}
RESULT_COLUMNS = ("row", "nip", "accepted", "outcome", "note", "enrolment_id", "enrolment_status",
                  "waitlist_position", "result", "jp_earned", "field", "reason")
_DUPLICATE_RETRIES = 3


class TooManyRows(DomainError):
    """A CSV over the row cap: 413 with the code shared.http uses for a body over its limit."""

    status = 413
    code = "payload_too_large"


def read_rows(stream, aliases: dict[str, str], required: tuple[str, ...] = ("nip",)) -> Iterator[tuple[int, dict]]:
    """(line number, {column: value}) for each non-blank record of a CSV byte stream.

    UTF-8 (with or without BOM); ',' ';' or tab separated (Excel in an Indonesian locale
    writes ';'); headers are case-insensitive and accept Indonesian names (nama, opd, ...).
    The header is checked at once: Invalid(field="file") when it is unusable.
    """
    text = codecs.getreader("utf-8-sig")(stream, errors="strict")
    try:
        first = text.readline()
    except UnicodeDecodeError:
        raise Invalid("the file is not UTF-8 text; save the CSV as UTF-8", field="file") from None
    if not first.strip():
        raise Invalid("the file is empty; expected a header row with at least: " + ", ".join(required),
                      field="file")
    delimiter = _delimiter(first)
    header = next(csv.reader([first], delimiter=delimiter))
    columns = [aliases.get(h.strip().lower().replace(" ", "_")) for h in header]
    missing = [c for c in required if c not in columns]
    if missing:
        raise Invalid(f"the header row lacks the column(s) {', '.join(missing)}; found {', '.join(header)}",
                      field="file")
    return _records(csv.reader(text, delimiter=delimiter), columns)


def check_row_count(stream, max_rows: int) -> None:
    """TooManyRows (413) when the CSV holds more than ``max_rows`` records after its header.

    Counted before any row is written, so an upload over the cap changes nothing, and read
    no further than one record past the cap. The stream (a spooled upload) is rewound; a file
    that cannot be read is left for read_rows to explain.
    """
    start = stream.tell()
    try:
        text = codecs.getreader("utf-8-sig")(stream, errors="strict")
        delimiter = _delimiter(text.readline())
        records = (r for r in csv.reader(text, delimiter=delimiter) if any(cell.strip() for cell in r))
        over = sum(1 for _ in islice(records, max_rows + 1)) > max_rows
    except (UnicodeDecodeError, csv.Error):
        over = False
    stream.seek(start)
    if over:
        raise TooManyRows(f"the file has more than {max_rows} rows; upload at most {max_rows} rows at a time "
                          f"(split the file)", field="file", max_rows=max_rows)


def _delimiter(header_line: str) -> str:
    """',' ';' or tab, whichever the header row uses most (Excel in an Indonesian locale writes ';')."""
    return max((";", ",", "\t"), key=header_line.count) if any(d in header_line for d in ";,\t") else ","


def _records(reader, columns: list[str | None]) -> Iterator[tuple[int, dict]]:
    consumed = 0  # physical lines after the header; a quoted cell may span several
    for record in reader:
        line, consumed = consumed + 2, reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        row = {}
        for name, value in zip(columns, record):
            if name and name not in row:
                row[name] = value.strip()
        yield line, row


def chunks(rows: Iterable, size: int) -> Iterator[list]:
    it = iter(rows)
    while batch := list(islice(it, size)):
        yield batch


def _rejected(line: int, nip: str | None, exc: DomainError) -> dict:
    return {"row": line, "nip": nip, "accepted": False, "field": exc.field, "reason": exc.message}


def _in_transaction(store, fn):
    """Run a chunk; a concurrent single enrolment racing a row (unique index) is read back
    as existing on the next attempt."""
    for attempt in range(_DUPLICATE_RETRIES):
        try:
            return store.transaction(fn)
        except DuplicateKeyError:
            if attempt == _DUPLICATE_RETRIES - 1:
                raise


def enrol_rows(store, code: str, rows: Iterable[tuple[int, dict]], chunk_size: int, clock, actor: Actor
               ) -> Iterator[dict]:
    """Enrol the participants of ``rows`` into programme ``code``; yields one result per row.

    Each row follows the rule of a single enrolment (domain.participant_for): an admin's row
    may register a new ASN; an operator's row for an ASN not registered in its agency is
    rejected with the reason, and the other rows go on."""
    today = date.today()
    for batch in chunks(rows, chunk_size):
        nips = list({row.get("nip", "") for _, row in batch})
        known = {p["_id"]: p for p in store.db[PARTICIPANTS].find({"_id": {"$in": nips}})}
        results: dict[int, dict] = {}
        valid: list[tuple[int, enrolments.EnrolRequest]] = []
        for line, row in batch:
            try:
                person = domain.participant_for(actor, row, known.get(row.get("nip", "")), today)
                reenrol = domain.parse_reenrol(row.get("reenrol"))
                valid.append((line, enrolments.EnrolRequest(person, reenrol_cancelled=reenrol)))
            except DomainError as exc:
                results[line] = _rejected(line, row.get("nip"), exc)
        if valid:
            try:
                outcomes = _in_transaction(store, lambda tx: enrolments.enrol_batch(
                    tx, code, [r for _, r in valid], clock, actor))
                for (line, request), outcome in zip(valid, outcomes):
                    e = outcome.enrolment
                    results[line] = {"row": line, "nip": request.participant["_id"], "accepted": True,
                                     "outcome": outcome.outcome, "note": outcome.note, "enrolment_id": e["_id"],
                                     "enrolment_status": e["status"],
                                     "waitlist_position": e.get("waitlist_position_at_arrival")
                                     if e["status"] == domain.WAITLISTED else None}
            except DomainError as exc:  # the programme closed or was cancelled meanwhile
                for line, request in valid:
                    results[line] = _rejected(line, request.participant["_id"], exc)
        yield from (results[line] for line, _ in batch)


def complete_rows(store, code: str, rows: Iterable[tuple[int, dict]], chunk_size: int, clock, actor: Actor
                  ) -> Iterator[dict]:
    """Record the completions of ``rows`` in programme ``code``; yields one result per row.

    An operator's rows for another agency's staff are rejected one by one, exactly as rows of
    people not enrolled are."""
    for batch in chunks(rows, chunk_size):
        agency_of = {}
        if actor.role != "admin":
            agency_of = {e["nip"]: e["participant"]["agency"] for e in store.db[ENROLMENTS].find(
                {"programme_code": code, "nip": {"$in": [row.get("nip", "") for _, row in batch]}},
                {"nip": 1, "participant.agency": 1})}
        results: dict[int, dict] = {}
        valid: list[tuple[int, enrolments.CompletionRequest]] = []
        for line, row in batch:
            nip = row.get("nip", "")
            try:
                if not (len(nip) == 18 and nip.isdigit()):
                    raise Invalid("NIP must have 18 digits", field="nip")
                request = enrolments.CompletionRequest(nip, domain.parse_score(row.get("score")),
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
            now = clock()
            try:
                outcomes = _in_transaction(store, lambda tx: enrolments.complete_batch(
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


def ndjson(items: Iterable[dict]) -> Iterator[bytes]:
    for item in items:
        if "summary" not in item:
            item = {k: v for k, v in item.items() if v is not None}
        yield (json.dumps(item, ensure_ascii=False, default=_default) + "\n").encode("utf-8")


def csv_lines(items: Iterable[dict]) -> Iterator[bytes]:
    """The results as CSV for a spreadsheet; the summary becomes a last comment-like row."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=RESULT_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for item in items:
        if "summary" in item:
            s = item["summary"]
            writer.writerow({"row": "summary", "reason": "; ".join(f"{k}={v}" for k, v in s.items())})
        else:
            writer.writerow({k: ("" if v is None else str(v).lower() if isinstance(v, bool) else v)
                             for k, v in item.items()})
        data = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        yield data.encode("utf-8")


def _default(value):
    if isinstance(value, datetime):
        return domain.iso(value)
    raise TypeError(type(value).__name__)
