"""What the API, the dashboard, the exports and the background jobs read (functions taking
the read models ``rm`` or the database ``db``): answers from the pre-aggregated read models,
no scans of the ledger. The figures are computed by ``domain``; responses are dumped by
``schemas``."""
from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime

from shared.errors import NotFound
from shared.paging import page_of
from shared.reference import agencies as reference_agencies
from shared.timefmt import year_end_wib

from services.reporting.config import ReportingConfig
from services.reporting.domain import (CERTIFICATE_COUNTERS, MONTH_COUNTERS, STATUSES_HOLDING_A_PLACE, add_counters,
                                       agency_name, agency_row, certificate_months, checkpoint_view,
                                       compliance_totals, current_checkpoint, headcount, jenis_of, ledger_year,
                                       never_enrolled_item, own_target, programme_figures, slice_name, sort_rows,
                                       targets_of, tmt_of, year_months)
from services.reporting.store import POINTER_ID, SHORTFALL_RUNS, SHORTFALLS, STATE, ReadModels, pointer


def known_agency(rm: ReadModels, code: str) -> bool:
    return code in reference_agencies() or rm.agency_headcounts.find_one({"_id": code}, {"_id": 1}) is not None


def headcounts(rm: ReadModels, year: int, agency: str | None = None) -> dict[str, dict]:
    """Per agency, its ASN of ``year``: active on the roster (``rostered``), of whom never
    enrolled by the end of it (``never_enrolled``), and not on the roster with JP of it
    (``unlisted``). One headcount document per agency (``domain.asn_contribution``)."""
    return {doc["_id"]: headcount(doc, year)
            for doc in rm.agency_headcounts.find({"_id": agency} if agency else {})}


def known_asn(rm: ReadModels, year: int, agency: str | None = None) -> dict[str, int]:
    """The ``known_asn`` of ``year`` per agency: active on the roster, or not on it with JP."""
    return {code: h["rostered"] + h["unlisted"] for code, h in headcounts(rm, year, agency).items()}


def compliance(rm: ReadModels, cfg: ReportingConfig, year: int, agency: str | None = None, kind: str | None = None,
               competency_type: str | None = None, sort: str = "agency") -> dict:
    """Per agency (every agency, in ``sort`` order): ASN known, who reached the target, average
    JP, distribution, JP by type and kind; and the totals over all of them.

    With ``kind``/``competency_type`` only the JP of that slice count (``met_target``: ASN
    whose JP of that slice alone reach the target).
    """
    heads = headcounts(rm, year, agency)
    query = {"year": year, "slice": slice_name(kind, competency_type), **({"agency": agency} if agency else {})}
    this_year: dict[str, dict] = {}
    # No projection: SecantusDB applies one document by document and it cost a third more.
    for doc in rm.agency_years.find(query):
        add_counters(this_year.setdefault(doc["agency"], {}), doc)
    if agency:
        codes = [agency]
    else:
        codes = list(reference_agencies())
        codes += sorted(set(heads) - set(codes))
    rows = sort_rows([agency_row(code, heads.get(code), this_year.get(code), cfg, kind, competency_type)
                      for code in codes], sort)
    return {"year": year, "target_jp": cfg.jp_target,
            "filters": {"agency": agency, "kind": kind, "competency_type": competency_type},
            "totals": compliance_totals(rows, cfg), "agencies": rows}


def ledger(rm: ReadModels, cfg: ReportingConfig, nip: str, year: int | None = None,
           today: date | None = None) -> dict:
    """One ASN's JP ledger: per year the entries, JP each, total and whether the target is met.
    With ``today`` (WIB) also ``target`` and ``checkpoint``: the ASN's own yearly target of
    ``year`` (default today's) and the pro-rated target of its current checkpoint."""
    asn = rm.asns.find_one({"_id": nip})
    if asn is None:
        raise NotFound(f"NIP {nip} is not known to the platform", field="nip")
    query: dict = {"nip": nip}
    if year is not None:
        query["year"] = year
    totals = {d["year"]: d for d in rm.asn_years.find(query)}
    entries: dict[int, list] = defaultdict(list)
    # Sorted here: SecantusDB's sort cost 25 ms more than the find for an ASN with 600 entries.
    for entry in sorted(rm.ledger_entries.find(query), key=lambda e: (e["year"], e["completed_at"], e["_id"])):
        entries[entry["year"]].append(entry)
    years = sorted({y for y, d in totals.items() if d.get("entries", 0) > 0} | set(entries)
                   | ({year} if year is not None else set()), reverse=True)
    jenis, tmt = (jenis_of(asn), tmt_of(asn)) if asn.get("listed") else (None, None)
    answer = {"nip": nip, "name": asn.get("name"), "agency": asn.get("agency"),
              "agency_name": asn.get("agency_name") or agency_name(asn.get("agency")), "target_jp": cfg.jp_target,
              "years": [ledger_year(y, totals.get(y), entries.get(y, []), cfg, own_target(cfg, y, jenis, tmt))
                        for y in years]}
    if today is not None:
        asked = year if year is not None else today.year
        checkpoint = current_checkpoint(cfg, asked, today)
        target, at_checkpoint = targets_of(cfg, asked, checkpoint, jenis, tmt)
        answer.update(target=target, checkpoint={**checkpoint_view(cfg, asked, checkpoint), "target": at_checkpoint})
    return answer


def programme_stats(rm: ReadModels, code: str) -> dict:
    prog = rm.programmes.find_one({"_id": code})
    stats = None
    for shard in rm.programme_stats.find({"code": code}, {"_id": 0, "code": 0}):
        stats = add_counters(stats or {}, shard)
    if prog is None and stats is None:
        raise NotFound(f"programme {code} is not known to reporting", field="code")
    return programme_figures(prog, stats, code)


def programmes(rm: ReadModels, year: int | None = None, kind: str | None = None,
               competency_type: str | None = None, limit: int = 50, cursor: str | None = None,
               page: int | None = None) -> tuple[list[dict], str | None, int]:
    """One page of programmes in code order with their figures: (items, next_cursor, total)."""
    query: dict = {}
    if year is not None:
        query["year"] = year
    if kind:
        query["kind"] = kind
    if competency_type:
        query["competency_type"] = competency_type
    total = rm.programmes.count_documents(query)
    progs, next_cursor = page_of(rm.programmes, query, limit=limit, cursor=cursor, page=page)
    stats: dict[str, dict] = {}
    for shard in rm.programme_stats.find({"code": {"$in": [p["_id"] for p in progs]}}, {"_id": 0}):
        add_counters(stats.setdefault(shard.pop("code"), {}), shard)
    return [programme_figures(p, stats.get(p["_id"]), p["_id"]) for p in progs], next_cursor, total


def monthly(rm: ReadModels, year: int, agency: str | None = None) -> list[dict]:
    """Twelve months of completions and certificates (all agencies summed unless one is given)."""
    query: dict = {"year": year}
    if agency:
        query["agency"] = agency
    months = year_months(year, MONTH_COUNTERS)
    for doc in rm.monthly.find(query):
        for counter in MONTH_COUNTERS:
            months[doc["month"]][counter] += doc.get(counter, 0)
    return [{"month": month, **counters} for month, counters in months.items()]


def certificates_by_month(rm: ReadModels, year: int, agency: str | None = None) -> dict:
    """Certificates issued, revoked, expiring and expired per month, per agency and in total."""
    query: dict = {"year": year}
    if agency:
        query["agency"] = agency
    per_agency: dict[str, dict] = defaultdict(lambda: year_months(year, CERTIFICATE_COUNTERS))
    for doc in rm.monthly.find(query):
        if any(doc.get(c) for c in CERTIFICATE_COUNTERS):
            for c in CERTIFICATE_COUNTERS:
                per_agency[doc["agency"]][doc["month"]][c] += doc.get(c, 0)
    totals = year_months(year, CERTIFICATE_COUNTERS)
    for months in per_agency.values():
        for month, values in months.items():
            for c in CERTIFICATE_COUNTERS:
                totals[month][c] += values[c]
    return {
        "year": year,
        "months": certificate_months(totals),
        "agencies": [{"agency": code, "agency_name": agency_name(code), "months": certificate_months(months)}
                     for code, months in sorted(per_agency.items())],
    }


def asn_agency(rm: ReadModels, nip: str) -> str | None:
    """The current agency of ASN ``nip``; None when the platform does not know the NIP."""
    asn = rm.asns.find_one({"_id": nip}, {"agency": 1})
    return asn.get("agency") if asn else None


def ledger_scope(rm: ReadModels, nip: str) -> tuple[str | None, str | None]:
    """(current agency, supervisor NIP while aktif on the roster) of ASN ``nip``: who besides
    admins and the ASN may read their ledger. (None, None) when the platform does not know the NIP."""
    asn = rm.asns.find_one({"_id": nip}, {"agency": 1, "listed": 1, "roster": 1})
    if asn is None:
        return None, None
    roster = asn.get("roster") or {}
    active = asn.get("listed") and roster.get("status") == "aktif"
    return asn.get("agency"), roster.get("supervisor_nip") if active else None


# What a member of "tim saya" shows and what their targets depend on.
TEAM_FIELDS = {"name": 1, "agency": 1, "position": 1, "listed": 1, "roster": 1}


def staff_of(rm: ReadModels, supervisor_nip: str, agency: str | None = None) -> list[dict]:
    """The ASN aktif on the roster whose supervisor (atasan langsung) is ``supervisor_nip``
    (only those of ``agency`` when given: an operator's scope)."""
    query: dict = {"roster.supervisor_nip": supervisor_nip, "listed": True, "roster.status": "aktif",
                   "_id": {"$ne": supervisor_nip}}
    if agency:
        query["agency"] = agency
    return list(rm.asns.find(query, TEAM_FIELDS))


def asn_identity(rm: ReadModels, nip: str) -> dict | None:
    """An ASN's name and agency; None when the platform does not know the NIP."""
    return rm.asns.find_one({"_id": nip}, {"name": 1, "agency": 1})


def ledger_rows(rm: ReadModels, year: int, agency: str | None = None, nip: str | None = None):
    """Ledger entries for exports, in NIP order, streamed from the index.

    Both filters apply together: the agency is an operator's scope, so a NIP must never
    widen it (an operator once exported another agency's ASN by naming their NIP).
    """
    query: dict = {"year": year}
    if agency:
        query["agency"] = agency
    if nip:
        query["nip"] = nip
        sort = [("nip", 1), ("year", 1), ("completed_at", 1)]
    elif agency:
        sort = [("agency", 1), ("year", 1), ("nip", 1), ("completed_at", 1)]
    else:
        sort = [("year", 1), ("nip", 1), ("completed_at", 1)]
    sort.append(("_id", 1))  # a stable order for entries completed at the same moment
    return rm.ledger_entries.find(query).sort(sort).batch_size(1000)


def _never_enrolled_query(year: int, agency: str | None) -> dict:
    # Active on the roster in ``year`` and not enrolled by its end: count_from <= year <
    # never_until (which is at most count_until; domain.derive_asn).
    return {**({"agency": agency} if agency else {}), "count_from": {"$lte": year}, "never_until": {"$gt": year}}


def never_enrolled(rm: ReadModels, year: int, agency: str | None = None, limit: int = 50,
                   cursor: str | None = None, page: int | None = None) -> tuple[list[dict], str | None, int]:
    """One page of the ASN on the roster active in ``year`` who never enrolled by its end, in NIP
    order: (items, next_cursor, total)."""
    query = _never_enrolled_query(year, agency)
    total = rm.asns.count_documents(query)
    found, next_cursor = page_of(rm.asns, query, limit=limit, cursor=cursor, page=page)
    return [never_enrolled_item(a) for a in found], next_cursor, total


def never_enrolled_rows(rm: ReadModels, year: int, agency: str | None = None):
    """Every never-enrolled ASN of ``year`` for the exports, by agency then NIP, streamed."""
    found = rm.asns.find(_never_enrolled_query(year, agency)).sort([("agency", 1), ("_id", 1)]).batch_size(1000)
    return (never_enrolled_item(a) for a in found)


def layout_of(db) -> int:
    """The projection layout the current generation was built with (store.LAYOUT)."""
    return (db[STATE].find_one({"_id": POINTER_ID}, {"layout": 1}) or {}).get("layout", 1)


def pending_deltas(db, generation: int | None = None) -> int:
    """Counter deltas not folded yet (of the current generation by default)."""
    generation = pointer(db).current if generation is None else generation
    return ReadModels(db, generation).counter_deltas.count_documents({})


# -- shortfall checkpoints ---------------------------------------------------------------------
def open_programmes(rm: ReadModels, now: datetime, year: int) -> list[dict]:
    """Published, not cancelled, enrolment open now, and starting in time to count this year."""
    found = rm.programmes.find({"published": True, "cancelled": {"$exists": False},
                                "enrolment_opens_at": {"$lte": now}, "enrolment_closes_at": {"$gte": now}})
    year_end = year_end_wib(year)
    return [p for p in found if p.get("kind") and (p.get("starts_at") is None or p["starts_at"] <= year_end)]


# What a checkpoint needs of an ASN's state document.
CHECKPOINT_FIELDS = {"name": 1, "agency": 1, "agency_name": 1, "position": 1, "id_kind": 1, "golongan": 1,
                     "jenis_asn": 1, "listed": 1, "roster": 1, "first_seen": 1, "first_seen_year": 1}


def rostered_active(rm: ReadModels):
    """ASN on the roster with status ``aktif`` (streamed)."""
    return rm.asns.find({"listed": True, "roster.status": "aktif"}, CHECKPOINT_FIELDS).batch_size(1000)


def unlisted_seen_in(rm: ReadModels, year: int, with_jp: set[str]) -> list[dict]:
    """ASN not on the roster seen in ``year``: first seen (enrolled) in it, or with JP of it
    (``with_jp``: the NIPs with an ASN-year of ``year``)."""
    found = {d["_id"]: d for d in rm.asns.find({"listed": {"$ne": True}, "first_seen_year": year},
                                               CHECKPOINT_FIELDS)}
    rest = sorted(with_jp - set(found))
    for i in range(0, len(rest), 1000):
        for d in rm.asns.find({"_id": {"$in": rest[i:i + 1000]}, "listed": {"$ne": True}}, CHECKPOINT_FIELDS):
            found[d["_id"]] = d
    return list(found.values())


def jp_of_year(rm: ReadModels, year: int) -> dict[str, int]:
    """JP of ``year`` per NIP, for every ASN with an ASN-year of it."""
    return {d["nip"]: d.get("jp_total", 0) for d in rm.asn_years.find({"year": year}, {"nip": 1, "jp_total": 1})}


def jp_totals(rm: ReadModels, nips: list[str], year: int) -> dict[str, int]:
    return {d["nip"]: d.get("jp_total", 0) for d in rm.asn_years.find({"_id": {"$in": [f"{n}|{year}" for n in nips]}})}


def places_held(rm: ReadModels, nips: list[str]) -> dict[str, set]:
    """Per NIP, the programmes in which the ASN holds (or held until completion) a place."""
    holding: dict[str, set] = {}
    for e in rm.enrolments.find({"nip": {"$in": nips}, "status": {"$in": list(STATUSES_HOLDING_A_PLACE)}},
                                {"nip": 1, "programme_code": 1}):
        holding.setdefault(e["nip"], set()).add(e["programme_code"])
    return holding


def flagged_at(db, checkpoint: str, nips: list[str]) -> set[str]:
    """Those of ``nips`` already flagged at ``checkpoint``."""
    return {d["nip"] for d in db[SHORTFALLS].find({"checkpoint": checkpoint, "nip": {"$in": nips}}, {"nip": 1})}


def consecutive_shortfalls(db, previous: str, nips: list[str]) -> dict[str, int]:
    """Per NIP, how many checkpoints in a row the ASN fell short of, counting this one."""
    before = {d["nip"]: d.get("consecutive", 1)
              for d in db[SHORTFALLS].find({"_id": {"$in": [f"{previous}|{n}" for n in nips]}},
                                           {"nip": 1, "consecutive": 1})}
    return {nip: before.get(nip, 0) + 1 for nip in nips}


def shortfall_counts(db, checkpoint: str) -> dict[str, int]:
    """The notices of ``checkpoint``: ASN nudged, listed to their OPD, listed to their supervisor."""
    return {"nudged": db[SHORTFALLS].count_documents({"checkpoint": checkpoint}),
            "escalated": db[SHORTFALLS].count_documents({"checkpoint": checkpoint, "escalate_to": "agency"}),
            "supervisor_summaries": db[SHORTFALLS].count_documents({"checkpoint": checkpoint,
                                                                    "escalate_to": "supervisor"})}


def requested_checkpoints(db) -> list[str]:
    """Checkpoints an admin asked for that no replica has finished."""
    return [d["_id"] for d in db[SHORTFALL_RUNS].find({"requested": True, "status": {"$ne": "done"}}, {"_id": 1})]


def checkpoint_run(db, checkpoint: str, done_only: bool = False) -> dict | None:
    return db[SHORTFALL_RUNS].find_one({"_id": checkpoint, **({"status": "done"} if done_only else {})})
