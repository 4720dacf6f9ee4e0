"""Reporting query latency at scale: agency compliance and the ASN ledger over 1,000,000 ledger entries.

Seeds the read models straight through the store (not HTTP, not the broker), with the
per-ASN-year totals and per-agency-year aggregates derived by the same functions the live
projection uses, then times the two queries the issue names and prints p50/p99.

    .venv/bin/python bench/reporting_queries.py                 # 1,000,000 entries, own SecantusDB
    .venv/bin/python bench/reporting_queries.py --entries 100000
    MONGO_URI=mongodb://... .venv/bin/python bench/reporting_queries.py

Writes bench/results/reporting_queries.json.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pymongo import MongoClient  # noqa: E402

from services.reporting import config as reporting_config  # noqa: E402
from services.reporting import queries  # noqa: E402
from services.reporting.projections import _on_insert, asn_contribution, asn_year_contribution, encode_contribution  # noqa: E402,E501
from services.reporting.store import ReadModels, create_indexes, current_models  # noqa: E402
from shared.events.common import COMPETENCY_TYPES, PROGRAMME_KINDS  # noqa: E402
from shared.reference import agencies  # noqa: E402

YEARS = (2022, 2023, 2024, 2025, 2026)
BATCH = 5000


def start_store() -> tuple[str, object | None]:
    uri = os.environ.get("MONGO_URI")
    if uri:
        return uri, None
    import tempfile

    from deploy.secantus import SecantusServer
    # On disk with a 4 GB cache: an in-memory store of this size failed with an internal
    # error at ~400k entries here.
    home = Path(tempfile.mkdtemp(prefix="bench-secantus-"))
    server = SecantusServer(storage_path=home / "data", log_path=home / "secantus.log",
                            extra_args=("--cache-size", "4G")).start()
    print(f"SecantusDB at {server.uri}, data and log in {home}", flush=True)
    return server.uri, server


def seed(rm: ReadModels, entries: int, cfg, rng: random.Random) -> dict:
    codes = list(agencies())
    per_asn_year = 4
    asn_count = max(1, entries // (per_asn_year * len(YEARS)))
    programmes = [(f"PRG-{i:04d}", rng.choice(PROGRAMME_KINDS), rng.choice(COMPETENCY_TYPES), rng.choice((4, 5, 8, 12, 24)))
                  for i in range(400)]
    started = time.monotonic()
    ledger_batch, year_docs, asn_docs = [], [], []
    agg: dict = defaultdict(lambda: defaultdict(int))
    written = 0
    nips = []
    for a in range(asn_count):
        k = a // 999  # a structurally valid, unique NIP per ASN
        nip = f"{1965 + k % 30}{(k // 30) % 12 + 1:02d}{(k // 360) % 28 + 1:02d}2010{a % 12 + 1:02d}1{a % 999 + 1:03d}"
        nips.append(nip)
        agency = codes[a % len(codes)]
        asn = {"_id": nip, "name": f"ASN {a}", "agency": agency, "agency_name": agencies()[agency].name,
               "id_kind": "nip", "first_seen": datetime(YEARS[0], 1, 2, tzinfo=timezone.utc),
               "first_seen_year": YEARS[0]}
        contribution = asn_contribution(asn)
        asn["contrib"] = encode_contribution(contribution)
        for key, fields in contribution.items():
            for field, n in fields.items():
                agg[key][field] += n
        asn_docs.append(asn)
        for year in YEARS:
            jp_by: dict = defaultdict(int)
            for i in range(per_asn_year):
                code, kind, ctype, jp = rng.choice(programmes)
                done = datetime(year, rng.randint(1, 12), rng.randint(1, 28), 3, tzinfo=timezone.utc)
                jp_by[f"{kind}|{ctype}"] += jp
                ledger_batch.append({"_id": f"{nip}-{year}-{i}", "nip": nip, "name": asn["name"], "agency": agency,
                                     "agency_at_completion": agency, "year": year, "completed_at": done,
                                     "programme_code": code, "programme_title": f"Program {code}", "kind": kind,
                                     "competency_type": ctype, "organisers": ["BKN"], "location": None,
                                     "starts_at": done - timedelta(days=2), "ends_at": done, "jp": jp, "score": 80.0,
                                     "certificate_number": None, "certificate_status": None})
            doc = {"_id": f"{nip}|{year}", "nip": nip, "year": year, "agency": agency,
                   "jp_total": sum(jp_by.values()), "entries": per_asn_year, "jp_by": dict(jp_by)}
            contribution = asn_year_contribution(doc, cfg)
            doc["contrib"] = encode_contribution(contribution)
            for key, fields in contribution.items():
                for field, n in fields.items():
                    agg[key][field] += n
            year_docs.append(doc)
        if len(ledger_batch) >= BATCH:
            rm.ledger_entries.insert_many(ledger_batch, ordered=False)
            written += len(ledger_batch)
            ledger_batch = []
            rm.asn_years.insert_many(year_docs, ordered=False)
            rm.asns.insert_many(asn_docs, ordered=False)
            year_docs, asn_docs = [], []
            if written % 100_000 < BATCH:
                rate = written / (time.monotonic() - started)
                print(f"  seeded {written:,} ledger entries ({rate:,.0f}/s)", flush=True)
    for batch, coll in ((ledger_batch, rm.ledger_entries), (year_docs, rm.asn_years), (asn_docs, rm.asns)):
        if batch:
            coll.insert_many(batch, ordered=False)
    written += len(ledger_batch)
    for (collection, key), fields in agg.items():  # the aggregates, as $inc would have left them
        doc = {"_id": key, **_on_insert(collection, key)}
        for field, n in fields.items():
            node = doc
            parts = field.split(".")
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = n
        getattr(rm, collection).insert_one(doc)
    return {"ledger_entries": written, "asns": asn_count, "seed_seconds": round(time.monotonic() - started, 1),
            "nips": nips}


def timed(fn, runs: int) -> dict:
    samples = []
    for _ in range(5):  # warm caches and connections
        fn()
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return {"runs": runs, "p50_ms": round(statistics.median(samples), 2),
            "p99_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 2),
            "max_ms": round(samples[-1], 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=500)
    args = parser.parse_args()
    cfg = reporting_config.load()
    uri, server = start_store()
    try:
        client = MongoClient(uri, tz_aware=True)
        db = client[f"bench_reporting_{int(time.time())}"]
        create_indexes(db)
        rm = current_models(db)
        print(f"seeding {args.entries:,} ledger entries into {db.name} ...", flush=True)
        seeded = seed(rm, args.entries, cfg, random.Random(42))
        nips = seeded.pop("nips")
        rng = random.Random(7)
        codes = list(agencies())
        results = {
            "compliance_all_agencies": timed(lambda: queries.compliance(rm, cfg, 2026), args.runs),
            "compliance_one_agency_filtered": timed(lambda: queries.compliance(
                rm, cfg, 2026, agency=rng.choice(codes), competency_type="teknis"), args.runs),
            "asn_ledger_one_year": timed(lambda: queries.ledger(rm, cfg, rng.choice(nips), 2026), args.runs),
            "asn_ledger_all_years": timed(lambda: queries.ledger(rm, cfg, rng.choice(nips)), args.runs),
        }
        report = {"when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "store": "SecantusDB" if server
                  else "external MongoDB", **seeded, "target_p99_ms": 50, "queries": results}
        for name, r in results.items():
            verdict = "ok" if r["p99_ms"] < 50 else "OVER TARGET"
            print(f"{name:34s} p50 {r['p50_ms']:7.2f} ms   p99 {r['p99_ms']:7.2f} ms   ({verdict})")
        out = ROOT / "bench" / "results" / "reporting_queries.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"written {out.relative_to(ROOT)}")
        client.drop_database(db.name)
        client.close()
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
