"""Recipients (NIP → contact data and preferences) and agency operator contacts.

Registration is idempotent: the same record (or the same CSV) sent twice changes nothing
the second time and says ``unchanged``.
"""
from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from typing import Callable, Optional

from marshmallow import ValidationError
from pymongo import ReplaceOne

from services.notification import access
from services.notification.schemas import AgencyContactSchema, RecipientSchema
from services.notification.store import AGENCY_CONTACTS, RECIPIENTS
from shared import nip as nip_rules
from shared.errors import Forbidden, Invalid, NotFound
from shared.reference import agency as reference_agency

CSV_COLUMNS = ("nip", "id_kind", "name", "agency", "email", "phone", "whatsapp", "channels", "opt_outs")
LIST_COLUMNS = ("channels", "opt_outs")
MAX_ROWS = 10_000
_LIST_SPLIT = re.compile(r"[|;,\s]+")
CONTACT_FIELDS = ("id_kind", "name", "agency", "email", "phone", "whatsapp", "channels", "opt_outs")
# The caller's permission check (access.recipient_write_check): (new fields, stored record or
# None, the agency enrollment knows the ASN in or None) -> the fields to store, or Forbidden.
WriteCheck = Optional[Callable[[dict, Optional[dict], Optional[str]], dict]]


def _stored(now: datetime) -> datetime:
    """``now`` at the store's millisecond precision, so an answer equals what a read returns."""
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def validate_recipient(nip: str, body: dict) -> dict:
    """The stored fields of a recipient from a request body; raises ValidationError/Invalid."""
    data = RecipientSchema().load(body)
    parsed = nip_rules.validate(nip, data["id_kind"] or "auto", field="nip")
    if data["agency"] is not None:
        data["agency"] = data["agency"].strip().upper()
        if reference_agency(data["agency"]) is None:
            raise ValidationError({"agency": [f"unknown OPD code {data['agency']!r}"]})
    data["id_kind"] = parsed.kind
    return {"nip": nip, **{k: data.get(k) for k in CONTACT_FIELDS}}


def _same(existing: dict | None, fields: dict) -> bool:
    return existing is not None and all(existing.get(k) == fields.get(k) for k in ("nip", *CONTACT_FIELDS))


def put_recipient(db, nip: str, body: dict, now: datetime, check: WriteCheck = None) -> tuple[str, dict]:
    """Create or replace one recipient; returns (created|updated|unchanged, record)."""
    fields = validate_recipient(nip, body)
    now = _stored(now)
    existing = db[RECIPIENTS].find_one({"_id": nip})
    if check is not None:
        fields = check(fields, existing, access.known_agency(db, nip))
    if _same(existing, fields):
        return "unchanged", existing
    record = {"_id": nip, **fields, "created_at": (existing or {}).get("created_at", now), "updated_at": now}
    db[RECIPIENTS].replace_one({"_id": nip}, record, upsert=True)
    return ("updated" if existing else "created"), record


def get_recipient(db, nip: str) -> dict:
    record = db[RECIPIENTS].find_one({"_id": nip})
    if record is None:
        raise NotFound(f"no recipient with NIP {nip}", field="nip")
    return record


def recipient_view(record: dict) -> dict:
    return {k: record.get(k) for k in ("nip", *CONTACT_FIELDS, "created_at", "updated_at")}


# -- bulk CSV ---------------------------------------------------------------------------

def parse_csv(raw: bytes) -> list[tuple[int, dict]]:
    """(line number, row) pairs; the separator may be ``,`` or ``;`` (Excel in Indonesian)."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid("the CSV must be UTF-8 encoded", field="body") from None
    if not text.strip():
        raise Invalid("the CSV is empty; expected a header line with at least the column nip", field="body")
    header_line = text.splitlines()[0]
    delimiter = ";" if header_line.count(";") > header_line.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    columns = [c.strip().lower() for c in (reader.fieldnames or [])]
    if "nip" not in columns:
        raise Invalid("the CSV header must contain the column nip", field="header")
    unknown = [c for c in columns if c and c not in CSV_COLUMNS]
    if unknown:
        raise Invalid(f"unknown column(s) {', '.join(unknown)}; known columns: {', '.join(CSV_COLUMNS)}",
                      field="header")
    reader.fieldnames = columns
    rows = []
    for row in reader:
        if not any((v or "").strip() for k, v in row.items() if k):
            continue  # a blank line
        rows.append((reader.line_num, row))
        if len(rows) > MAX_ROWS:
            raise Invalid(f"at most {MAX_ROWS} rows per upload", field="body")
    return rows


def _row_body(row: dict) -> dict:
    body = {}
    for column in CSV_COLUMNS[1:]:
        value = (row.get(column) or "").strip()
        if column in LIST_COLUMNS:
            if value:
                body[column] = [v.lower() for v in _LIST_SPLIT.split(value) if v]
        elif value:
            body[column] = value
    return body


def bulk_put(db, raw: bytes, now: datetime, check: WriteCheck = None) -> dict:
    """Register every valid row; per-row results. Sending the same file again is harmless."""
    results, writes, seen = [], [], {}
    now = _stored(now)
    rows = parse_csv(raw)
    nips = [(row.get("nip") or "").strip() for _, row in rows]
    existing = {r["_id"]: r for r in db[RECIPIENTS].find({"_id": {"$in": nips}})}
    known = access.known_agencies(db, nips) if check is not None else {}
    for line, row in rows:
        nip = (row.get("nip") or "").strip()
        result = {"row": line, "nip": nip or None}
        try:
            if nip in seen:
                raise Invalid(f"NIP {nip} appears again (first on line {seen[nip]})", field="nip")
            fields = validate_recipient(nip, _row_body(row))
            if check is not None:
                fields = check(fields, existing.get(nip), known.get(nip))
        except ValidationError as exc:
            results.append({**result, "status": "invalid", "errors": exc.messages})
            continue
        except (Invalid, Forbidden) as exc:
            results.append({**result, "status": "invalid", "errors": {exc.field or "row": [exc.message]}})
            continue
        seen[nip] = line
        current = existing.get(nip)
        if _same(current, fields):
            results.append({**result, "status": "unchanged"})
            continue
        record = {"_id": nip, **fields, "created_at": (current or {}).get("created_at", now), "updated_at": now}
        writes.append(ReplaceOne({"_id": nip}, record, upsert=True))
        results.append({**result, "status": "updated" if current else "created"})
    if writes:
        db[RECIPIENTS].bulk_write(writes, ordered=False)
    counts = {s: sum(1 for r in results if r["status"] == s) for s in ("created", "updated", "unchanged", "invalid")}
    return {"total": len(results), **counts, "rows": results}


# -- agency operator contacts -----------------------------------------------------------

def put_agency_contact(db, code: str, body: dict, now: datetime) -> tuple[str, dict]:
    code = code.strip().upper()
    known = reference_agency(code)
    if known is None:
        raise NotFound(f"unknown OPD code {code!r}", field="code")
    data = AgencyContactSchema().load(body)
    channels = data["channels"] or (["email"] if data["email"] else ["webhook"])
    fields = {"agency": code, "agency_name": known.name, "name": data["name"], "email": data["email"],
              "phone": data["phone"], "whatsapp": data["whatsapp"], "channels": list(dict.fromkeys(channels))}
    now = _stored(now)
    existing = db[AGENCY_CONTACTS].find_one({"_id": code})
    if existing is not None and all(existing.get(k) == v for k, v in fields.items()):
        return "unchanged", existing
    record = {"_id": code, **fields, "updated_at": now}
    db[AGENCY_CONTACTS].replace_one({"_id": code}, record, upsert=True)
    return ("updated" if existing else "created"), record


def get_agency_contact(db, code: str) -> dict:
    record = db[AGENCY_CONTACTS].find_one({"_id": code.strip().upper()})
    if record is None:
        raise NotFound(f"no operator contact for agency {code}", field="code")
    return record


def agency_contact_view(record: dict) -> dict:
    return {k: record.get(k) for k in ("agency", "agency_name", "name", "email", "phone", "whatsapp", "channels",
                                       "updated_at")}
