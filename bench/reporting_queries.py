"""Reporting query latency at scale: agency compliance and the ASN ledger over 1,000,000 ledger entries.

Seeds the reporting read models straight through the store (``insert_many`` in large
batches; not HTTP, not the broker). Every document is computed by the service's own pure
functions, exactly as the live projection computes it from the enrolment and certificate
state: ``ledger_entry`` for the JP ledger, ``enrolment_contribution`` for the per-ASN-year
totals, monthly and programme counters, ``asn_year_contribution`` / ``asn_contribution``
for the per-agency counters (and the counter shards the projection writes them to, when it
shards). The counters are the sums the projection's ``$inc`` would have left, so they are
consistent with the entries. The indexes are the service's own (``create_indexes``, built
after the load because a bulk build is faster than maintaining them row by row).

The population: about 15,000 ASN over the 31 OPD of Kota Bukittinggi (agencies of very
different sizes), 2019-2026, some appointed later, a few moved to another OPD; ledger
entries drawn from yearly catalogues of mostly short programmes (e-learning, seminars:
2-4 JP) and some long ones (pelatihan, sertifikasi: 16-40 JP), spread over ASN-years by an
activity level per ASN, so some ASN have no JP in a year and others far more than 20.

Then it times, at the function level (``services.reporting.queries``) and through HTTP
(the reporting service run as a process, ``python -m services reporting``, on the
seeded database, called as admin), p50/p99 of:

- compliance of all agencies for a year,
- compliance of one agency with a kind and/or competency-type filter,
- an ASN's ledger for one year, and for all years.

    .venv/bin/python bench/reporting_queries.py                 # 1,000,000 entries, own SecantusDB
    .venv/bin/python bench/reporting_queries.py --entries 50000 --runs 100
    MONGO_URI=mongodb://... .venv/bin/python bench/reporting_queries.py

Prints the figures and writes bench/results/reporting_queries.json.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from pymongo import MongoClient  # noqa: E402

from bench.common import SERVICE_ENV, log, machine, percentiles, write_result  # noqa: E402
from services.reporting import config as reporting_config  # noqa: E402
from services.reporting import domain, queries  # noqa: E402
from services.reporting.store import ReadModels, create_indexes, current_models  # noqa: E402
from shared.timefmt import parse_time  # noqa: E402
from shared.events.common import COMPETENCY_TYPES  # noqa: E402
from shared.reference import agencies  # noqa: E402

YEARS = tuple(range(2019, 2027))
TARGET_P99_MS = 50
BATCH = 10_000
# Share of catalogue entries (what ASN actually complete) and JP choices per programme kind.
KINDS = {
    "e-learning": (0.34, (2, 3, 4)),
    "seminar": (0.28, (2, 3)),
    "coaching": (0.10, (2, 4)),
    "mentoring": (0.10, (2, 4)),
    "lokakarya": (0.10, (4, 6, 8)),
    "pelatihan": (0.06, (16, 24, 32, 40)),
    "sertifikasi": (0.02, (16, 24)),
}
CERTIFYING = ("pelatihan", "sertifikasi")
COMPETENCY_WEIGHTS = (0.45, 0.2, 0.15, 0.2)  # teknis, manajerial, sosial_kultural, pemerintahan
# Relative headcount of an OPD by its kind (education and health are by far the largest).
AGENCY_SIZE = {"DISDIKBUD": 12.0, "DINKES": 6.0, "RSUD": 8.0}
POSITIONS = ("Pelaksana", "Analis Kebijakan", "Pranata Komputer", "Guru", "Perawat", "Kepala Seksi",
             "Kepala Bidang", "Bendahara", "Arsiparis")


# -- the store --------------------------------------------------------------------------------
def start_store() -> tuple[str, object | None]:
    uri = os.environ.get("MONGO_URI")
    if uri:
        return uri, None
    from deploy.secantus import SecantusServer

    # On disk with a 4 GB cache: an in-memory store of this size failed with an internal
    # error at ~400k entries.
    home = Path(tempfile.mkdtemp(prefix="bench-secantus-"))
    server = SecantusServer(storage_path=home / "data", log_path=home / "secantus.log",
                            extra_args=("--cache-size", "4G")).start()
    log(f"SecantusDB at {server.uri}, data and log in {home}")
    return server.uri, server


def stored(contribution: dict, source_id: str) -> dict:
    """Contribution keys as the projection stores them (counter shards, when it shards)."""
    return domain.physical(contribution, domain.shard_of(source_id))


def add(into: dict, contribution: dict) -> None:
    for key, fields in contribution.items():
        target = into.setdefault(key, defaultdict(int))
        for field, n in fields.items():
            target[field] += n


def set_dotted(doc: dict, field: str, value) -> None:
    """What ``$inc`` does with a dotted field name: nested documents."""
    *path, last = field.split(".")
    for part in path:
        doc = doc.setdefault(part, {})
    doc[last] = value


# -- the population ---------------------------------------------------------------------------
def nip_of(i: int, rng: random.Random) -> str:
    """A structurally valid NIP, unique per ``i`` (the sequence number and birth date differ)."""
    birth = datetime(1966, 1, 1) + timedelta(days=(i // 999) * 3 % 12000)
    appointed = max(birth.year + 22 + rng.randint(0, 8), 1990)
    return f"{birth:%Y%m%d}{min(appointed, 2025)}{rng.randint(1, 12):02d}{rng.randint(1, 2)}{i % 999 + 1:03d}"


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def catalogue(rng: random.Random) -> dict[int, list[tuple[dict, datetime, datetime]]]:
    """Per year, 250 programmes: the slim snapshot the projection keeps (times as the events
    carry them), with its start and end."""
    kinds = list(KINDS)
    weights = [KINDS[k][0] for k in kinds]
    out: dict[int, list[dict]] = {}
    for year in YEARS:
        progs = []
        for i in range(250):
            kind = rng.choices(kinds, weights)[0]
            ctype = rng.choices(COMPETENCY_TYPES, COMPETENCY_WEIGHTS)[0]
            jp = rng.choice(KINDS[kind][1])
            starts = datetime(year, 1, 8, 1, tzinfo=timezone.utc) + timedelta(days=rng.randint(0, 330))
            days = max(1, jp // 8)
            ends = starts + timedelta(days=days, hours=6)
            progs.append(({
                "code": f"{year}-{kind[:3].upper()}-{i:03d}", "title": f"{kind.title()} {ctype} {year} #{i}",
                "kind": kind, "competency_type": ctype, "jp": jp,
                "organisers": ["BKN"] if i % 3 == 0 else ["PEMKOT_BUKITTINGGI"], "speakers": [],
                "starts_at": iso(starts), "ends_at": iso(ends),
                "location": None if kind == "e-learning" else "Balai Sidang Bung Hatta, Bukittinggi",
                "grants_certificate": kind in CERTIFYING,
                "certificate_validity_months": 36 if kind in CERTIFYING else None,
                "certification_line": None,
            }, starts, ends))
        out[year] = progs
    return out


def population(entries: int, asn_count: int, rng: random.Random) -> tuple[list[dict], list[int]]:
    """ASN with agency, first year and activity; and how many entries each ASN-year gets."""
    codes = list(agencies())
    sizes = [AGENCY_SIZE.get(c, 1.0) * rng.lognormvariate(0, 0.5) for c in codes]
    people, slots, weights = [], [], []
    for i in range(asn_count):
        first_year = YEARS[0] if rng.random() < 0.7 else rng.choice(YEARS[1:])
        agency = rng.choices(codes, sizes)[0]
        moved = None
        if rng.random() < 0.03 and first_year < YEARS[-1]:  # moved to another OPD in some year
            moved = (rng.choice([y for y in YEARS if y > first_year]), rng.choice(codes))
        person = {"i": i, "nip": nip_of(i, rng), "agency": agency, "first_year": first_year, "moved": moved,
                  "position": rng.choice(POSITIONS), "slots": []}
        activity = rng.gammavariate(1.6, 1.0)
        for year in YEARS:
            if year >= first_year:
                person["slots"].append(len(slots))
                slots.append((i, year))
                weights.append(activity * (0.6 if year == YEARS[-1] else 1.0))  # the year is not over
        people.append(person)
    # Exactly ``entries`` entries over the ASN-years, in proportion to each one's activity.
    counts = [0] * len(slots)
    cumulative, total = [], 0.0
    for w in weights:
        total += w
        cumulative.append(total)
    for slot in rng.choices(range(len(slots)), cum_weights=cumulative, k=entries):
        counts[slot] += 1
    return people, counts


# -- seeding ----------------------------------------------------------------------------------
def seed(rm: ReadModels, entries: int, asn_count: int, cfg, rng: random.Random) -> dict:
    started = time.monotonic()
    names = {code: a.name for code, a in agencies().items()}
    progs = catalogue(rng)
    people, counts = population(entries, asn_count, rng)
    log(f"population: {len(people):,} ASN, {sum(1 for c in counts if c):,} ASN-years with entries")
    now = datetime.now(timezone.utc)
    counters: dict = {}  # (collection, stored id) -> {field: n}, the sums $inc would have left
    ledger, asn_years, asns, certificates = [], [], [], []
    written = {"ledger_entries": 0, "asn_years": 0, "asns": 0, "certificates": 0}
    cert_seq = 0

    # Batches go to the store from a writer thread while the next ones are computed.
    writer = ThreadPoolExecutor(max_workers=2, thread_name_prefix="seed-writer")
    pending: list = []

    def flush(final: bool = False) -> None:
        for name, batch in (("ledger_entries", ledger), ("asn_years", asn_years), ("asns", asns),
                            ("certificates", certificates)):
            if batch and (final or len(batch) >= BATCH):
                pending.append(writer.submit(getattr(rm, name).insert_many, list(batch), ordered=False))
                written[name] += len(batch)
                batch.clear()
        while len(pending) > 4 or (final and pending):
            pending.pop(0).result()

    reported = 0
    for person in people:
        nip, home = person["nip"], person["agency"]
        current = person["moved"][1] if person["moved"] else home
        first_seen = datetime(person["first_year"], 1, 6, 2, tzinfo=timezone.utc)
        participant = {"nip": nip, "name": f"ASN Bukittinggi {person['i']}", "agency": current,
                       "agency_name": names[current], "id_kind": "nip", "position": person["position"]}
        asn = {"_id": nip, "snapshot_v": [first_seen, str(uuid.UUID(int=rng.getrandbits(128), version=4))],
               "name": participant["name"], "agency": current, "agency_name": names[current], "id_kind": "nip",
               "position": person["position"], "first_seen": first_seen, "first_seen_year": person["first_year"]}
        contribution = stored(domain.asn_contribution(asn), nip)
        asn["contrib"] = domain.encode_contribution(contribution)
        add(counters, contribution)
        asns.append(asn)
        per_year: dict = {}
        for slot, year in zip(person["slots"], [y for y in YEARS if y >= person["first_year"]]):
            n = counts[slot]
            if not n:
                continue
            at_agency = home if not person["moved"] or year < person["moved"][0] else current
            chosen: dict = {}
            while len(chosen) < n:  # distinct programmes within a year
                p = rng.choice(progs[year])
                chosen[p[0]["code"]] = p
            for programme, starts, ends in chosen.values():
                eid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
                completed_at = ends + timedelta(hours=rng.randint(1, 20))
                doc = {"_id": eid, "programme": programme, "participant": {**participant, "agency": at_agency,
                                                                             "agency_name": names[at_agency]},
                       "nip": nip, "programme_code": programme["code"],
                       "enrolled": {"at": starts - timedelta(days=7), "event_id": eid,
                                    "promoted_from_waitlist": False},
                       "completed": {"at": completed_at, "event_id": eid, "result": "passed", "passed": True,
                                     "attended": True, "score": float(rng.randint(70, 100)),
                                     "jp_earned": programme["jp"]}}
                if programme["grants_certificate"]:
                    cert_seq += 1
                    certificate = certificate_doc(cert_seq, doc, now, rng)
                    certificates.append(certificate)
                    doc["certificate"] = {"certificate_id": certificate["_id"], "number": certificate["number"],
                                          "status": certificate["status"], "issued_on": certificate["issued_on"],
                                          "valid_until": certificate["valid_until"]}
                ledger.append(domain.ledger_entry(doc, current))
                contribution = stored(domain.enrolment_contribution(doc), eid)
                for (collection, _id), fields in contribution.items():
                    if collection == "asn_years":  # kept apart: the ASN-year document itself
                        add(per_year, {(collection, _id): fields})
                    else:
                        add(counters, {(collection, _id): fields})
        for (_, _id), fields in per_year.items():
            nip_, _, year = _id.partition("|")
            doc = {"_id": _id, "nip": nip_, "year": int(year), "agency": current}
            for field, n in fields.items():
                set_dotted(doc, field, n)
            contribution = stored(domain.asn_year_contribution(doc, cfg), _id)
            doc["contrib"] = domain.encode_contribution(contribution)
            add(counters, contribution)
            asn_years.append(doc)
        flush()
        if written["ledger_entries"] - reported >= 100_000:
            reported = written["ledger_entries"]
            rate = reported / (time.monotonic() - started)
            log(f"  {reported:,} ledger entries ({rate:,.0f}/s)")
    flush(final=True)
    writer.shutdown()
    by_collection: dict = defaultdict(list)
    for (collection, _id), fields in counters.items():
        doc = {"_id": _id, **domain.counter_identity(collection, _id)}
        for field, n in fields.items():
            set_dotted(doc, field, n)
        by_collection[collection].append(doc)
    for collection, docs in by_collection.items():
        for i in range(0, len(docs), BATCH):
            getattr(rm, collection).insert_many(docs[i:i + BATCH], ordered=False)
        written[collection] = len(docs)
    rm.programmes.insert_many([programme_doc(*p) for year in YEARS for p in progs[year]], ordered=False)
    written["programmes"] = len(YEARS) * len(progs[YEARS[0]])
    seconds = time.monotonic() - started
    log(f"seeded in {seconds:,.0f} s: " + ", ".join(f"{k} {v:,}" for k, v in written.items()))
    return {"documents": written, "seed_seconds": round(seconds, 1),
            "people": [(p["nip"], p["agency"] if not p["moved"] else p["moved"][1]) for p in people]}


def certificate_doc(seq: int, enrolment: dict, now: datetime, rng: random.Random) -> dict:
    """A certificate's state document as the projection keeps it after ``certified`` (and
    ``expired`` once its validity ended)."""
    programme, holder, at = enrolment["programme"], enrolment["participant"], enrolment["completed"]["at"]
    day = (at + timedelta(days=2)).date()  # calendar dates (WIB), as the events carry them
    issued_on, valid_until = parse_time(day.isoformat()), parse_time((day + timedelta(days=1096)).isoformat())
    cid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    doc = {"_id": cid, "snapshot_v": [issued_on, cid], "number": f"BKT/{issued_on.year}/{seq:07d}",
           "holder": dict(holder), "nip": holder["nip"], "programme": programme,
           "enrolment_id": enrolment["_id"], "issued_on": issued_on, "jp": programme["jp"], "supersedes": None,
           "validity_v": [issued_on, cid], "valid_until": valid_until}
    if valid_until < now:
        doc["expired"] = True
    doc["status"] = domain.certificate_status(doc)
    doc["contrib"] = domain.encode_contribution(stored(domain.certificate_contribution(doc), cid))
    return doc


def programme_doc(p: dict, at: datetime, _ends: datetime) -> dict:
    return {"_id": p["code"], "snapshot_v": [at - timedelta(days=30), p["code"]], "programme": p,
            "title": p["title"], "kind": p["kind"], "competency_type": p["competency_type"], "jp": p["jp"],
            "starts_at": at, "year": at.year, "window_v": [at - timedelta(days=30), p["code"]], "published": True,
            "capacity": 200, "enrolment_opens_at": at - timedelta(days=30),
            "enrolment_closes_at": at - timedelta(days=1), "passing_score": 70}


# -- checking ---------------------------------------------------------------------------------
def check_consistency(rm: ReadModels, cfg, year: int, rng: random.Random, samples: int = 3) -> dict:
    """The compliance answer for a few agencies against their ledger entries, counted apart:
    JP total and ASN with JP (slice "all"), and with a competency-type filter."""
    checked = []
    for code in rng.sample(list(agencies()), samples):
        ctype = rng.choice(COMPETENCY_TYPES)
        jp, asn, jp_t, asn_t = 0, set(), 0, set()
        for e in rm.ledger_entries.find({"agency": code, "year": year}, {"nip": 1, "jp": 1, "competency_type": 1}):
            jp += e["jp"]
            asn.add(e["nip"])
            if e["competency_type"] == ctype:
                jp_t += e["jp"]
                asn_t.add(e["nip"])
        row = queries.compliance(rm, cfg, year, agency=code)["agencies"][0]
        row_t = queries.compliance(rm, cfg, year, agency=code, competency_type=ctype)["agencies"][0]
        got = {"agency": code, "competency_type": ctype, "ledger_jp": jp, "compliance_jp": row["jp_total"],
               "ledger_asn": len(asn), "compliance_asn_with_jp": row["asn_with_jp"],
               "ledger_jp_of_type": jp_t, "compliance_jp_of_type": row_t["jp_total"],
               "ledger_asn_of_type": len(asn_t), "compliance_asn_of_type": row_t["asn_with_jp"],
               "known_asn": row["known_asn"], "met_target": row["met_target"]}
        got["equal"] = (jp, len(asn), jp_t, len(asn_t)) == (row["jp_total"], row["asn_with_jp"],
                                                             row_t["jp_total"], row_t["asn_with_jp"])
        checked.append(got)
    return {"equal": all(c["equal"] for c in checked), "agencies": checked}


# -- measuring --------------------------------------------------------------------------------
def timed(fn, runs: int) -> dict:
    for _ in range(5):  # warm caches and connections
        fn()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return percentiles(samples)


def query_plan(rng: random.Random, people: list[tuple[str, str]], year: int):
    """The four queries, each a function of a fresh random choice (agency, filter, ASN)."""
    codes = list(agencies())
    kinds = list(KINDS)

    def a_filter() -> dict:
        pick = rng.randrange(3)
        out = {"agency": rng.choice(codes)}
        if pick in (0, 2):
            out["kind"] = rng.choice(kinds)
        if pick in (1, 2):
            out["competency_type"] = rng.choice(COMPETENCY_TYPES)
        return out

    return {
        "compliance_all_agencies": lambda: {"year": year},
        "compliance_one_agency_filtered": lambda: {"year": year, **a_filter()},
        "asn_ledger_one_year": lambda: {"nip": rng.choice(people)[0], "year": year},
        "asn_ledger_all_years": lambda: {"nip": rng.choice(people)[0]},
    }


def function_level(rm: ReadModels, cfg, plan: dict, runs: int) -> dict:
    def call(name: str):
        args = plan[name]()
        if name.startswith("compliance"):
            result = queries.compliance(rm, cfg, **args)
            assert result["agencies"], "compliance answered no agency"
        else:
            result = queries.ledger(rm, cfg, args["nip"], args.get("year"))
            # An ASN known to the platform may have no JP at all: an answer without years.
            assert result["nip"] == args["nip"], "ledger answered another ASN"

    return {name: timed(lambda n=name: call(n), runs) for name in plan}


def http_level(base: str, headers: dict, plan: dict, runs: int) -> dict:
    session = requests.Session()
    session.headers.update(headers)

    def call(name: str):
        args = plan[name]()
        if name.startswith("compliance"):
            response = session.get(f"{base}/compliance", params=args, timeout=30)
        else:
            nip = args.pop("nip")
            response = session.get(f"{base}/ledger/{nip}", params=args, timeout=30)
        response.raise_for_status()
        response.json()

    return {name: timed(lambda n=name: call(n), runs) for name in plan}


def start_service(mongo_uri: str, prefix: str):
    """The reporting service as a process on the seeded database, a vhost of its own."""
    from deploy import rabbit
    from deploy.processes import free_port, port_open, spawn, tail, wait_until
    from shared import auth

    rabbit.ensure_running()
    vhost = f"bench-rq-{os.getpid()}-{uuid.uuid4().hex[:4]}"
    rabbit.create_vhost(vhost)
    port = free_port()
    env = {**os.environ, **SERVICE_ENV, "AMQP_URI": rabbit.amqp_uri_for(vhost), "MONGO_URI": mongo_uri,
           "MONGO_DB_PREFIX": prefix, "REPORTING_HTTP_ADDRESS": f"127.0.0.1:{port}"}
    env.setdefault("AUTH_SECRET", auth.generate_secret())  # a throw-away key for this run
    admin = {"Authorization": "Bearer " + auth.issue_token(auth.load_config(environ=env), role="admin")}
    log_path = Path(tempfile.gettempdir()) / f"bench-reporting-queries-{os.getpid()}.log"
    proc = spawn([sys.executable, "-m", "services", "reporting"], log_path=log_path, env=env, cwd=ROOT)
    if not wait_until(lambda: port_open("127.0.0.1", port), 120, alive=proc):
        raise RuntimeError(f"reporting service did not start:\n{tail(log_path)}")
    return proc, f"http://127.0.0.1:{port}", admin, vhost


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--asns", type=int, default=15_000)
    parser.add_argument("--runs", type=int, default=500, help="timed calls per query and level")
    parser.add_argument("--year", type=int, default=2026)
    parser.add_argument("--no-http", action="store_true", help="function level only")
    parser.add_argument("--keep", action="store_true", help="keep the seeded database (also kept on failure)")
    parser.add_argument("--reuse", metavar="DB", help="query a database seeded by an earlier --keep run "
                        "(with MONGO_URI), without seeding again")
    args = parser.parse_args(argv)
    cfg = reporting_config.load()
    report = {"when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
              "ledger_entries": args.entries, "asns": args.asns, "years": [YEARS[0], YEARS[-1]],
              "year_queried": args.year, "target_p99_ms": TARGET_P99_MS}
    uri, server = start_store()
    report["store"] = "SecantusDB (on disk, 4 GB cache)" if server else "external MongoDB"
    prefix = args.reuse.removesuffix("reporting") if args.reuse else f"benchrq{uuid.uuid4().hex[:6]}_"
    client = MongoClient(uri, tz_aware=True)
    db = client[f"{prefix}reporting"]
    report["database"] = db.name
    proc = vhost = None
    done = False
    try:
        if args.reuse:
            rm = current_models(db)
            people = [(d["_id"], d["agency"]) for d in rm.asns.find({}, {"agency": 1})]
            report.update(reused=True, asns=len(people),
                          ledger_entries=rm.ledger_entries.estimated_document_count())
            log(f"querying {db.name}: {report['ledger_entries']:,} ledger entries, {len(people):,} ASN")
        else:
            log(f"seeding {args.entries:,} ledger entries into {db.name} ...")
            # Generation 1 is the one a fresh pointer names current.
            seeded = seed(ReadModels(db, 1), args.entries, args.asns, cfg, random.Random(42))
            people = seeded.pop("people")
            report.update(seeded)
            started = time.monotonic()
            create_indexes(db)  # the service's own indexes (and its read-model pointer)
            report["index_seconds"] = round(time.monotonic() - started, 1)
            log(f"indexes built in {report['index_seconds']} s")
            rm = current_models(db)
            assert rm.ledger_entries.estimated_document_count() == args.entries
        report["consistency"] = check_consistency(rm, cfg, args.year, random.Random(3))
        log("compliance equals the ledger entries counted apart: " + ("yes" if report["consistency"]["equal"]
                                                                      else f"NO {report['consistency']}"))
        report["load_average_before_queries"] = [round(x, 2) for x in os.getloadavg()]
        log("function level ...")
        report["function_level"] = function_level(rm, cfg, query_plan(random.Random(7), people, args.year),
                                                  args.runs)
        if not args.no_http:
            proc, base, admin, vhost = start_service(uri, prefix)
            log(f"HTTP, reporting service at {base} ...")
            report["http"] = http_level(base, admin, query_plan(random.Random(7), people, args.year), args.runs)
        report["load_average_after_queries"] = [round(x, 2) for x in os.getloadavg()]
        for level in ("function_level", "http"):
            for name, r in report.get(level, {}).items():
                verdict = "ok" if r["p99_ms"] < TARGET_P99_MS else "OVER TARGET"
                print(f"{level:15s} {name:31s} p50 {r['p50_ms']:7.1f} ms   p99 {r['p99_ms']:7.1f} ms   "
                      f"max {r['max_ms']:7.1f} ms   ({verdict})", flush=True)
        out = write_result("reporting_queries", report)
        print(f"load average before/after the queries: {report['load_average_before_queries']} / "
              f"{report['load_average_after_queries']}")
        print(f"written {out.relative_to(ROOT)}")
        done = True
    finally:
        if proc is not None:
            from deploy.processes import stop
            stop(proc, 15)
        if vhost is not None:
            from deploy import rabbit
            rabbit.delete_vhost(vhost)
        if done and not args.keep and not args.reuse:
            client.drop_database(db.name)
        else:
            log(f"kept database {db.name}")
        client.close()
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
