"""Shortfall detection: at each checkpoint, every known ASN below the yearly JP target gets
one ``shortfall_detected`` event, carrying suggestions of open programmes that fit.

Safe with several replicas: a lease per checkpoint makes one replica the runner (another
takes over if it dies), and each notice is a unique ``<checkpoint>|<nip>`` record written
in the same transaction as its outbox event, so an ASN is flagged once per checkpoint
whatever happens (docs/decisions/0042-shortfall-checkpoints.md).
"""
from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import datetime, timedelta, timezone
from typing import Callable

from pymongo.errors import DuplicateKeyError
from shared.errors import Invalid
from shared.outbox import LEASES, Lease

from services.reporting.config import Checkpoint, ReportingConfig
from services.reporting.queries import agency_name
from services.reporting.store import SHORTFALL_RUNS, SHORTFALLS, ReadModels, current_models
from services.reporting.timefmt import WIB, year_end_wib

log = logging.getLogger(__name__)
BATCH = 500
STATUSES_HOLDING_A_PLACE = ("enrolled", "waitlisted", "completed")


def checkpoint_id(year: int, checkpoint: Checkpoint) -> str:
    return f"{year}-{checkpoint.label}"


def checkpoint_at(year: int, checkpoint: Checkpoint) -> datetime:
    """The moment a checkpoint is due: the end of its day in WIB."""
    day_end = datetime(year, checkpoint.month, checkpoint.day, tzinfo=WIB) + timedelta(days=1)
    return day_end.astimezone(timezone.utc)


def parse_checkpoint(value: str, cfg: ReportingConfig) -> tuple[int, Checkpoint]:
    year, _, label = value.partition("-")
    checkpoint = cfg.checkpoint(label)
    if not year.isdigit() or len(year) != 4 or checkpoint is None:
        labels = ", ".join(c.label for c in cfg.checkpoints)
        raise Invalid(f"checkpoint {value!r} is not YEAR-LABEL with a label among {labels}", field="checkpoint")
    return int(year), checkpoint


def previous_checkpoint(year: int, checkpoint: Checkpoint, cfg: ReportingConfig) -> str:
    index = cfg.checkpoints.index(checkpoint)
    if index == 0:
        return checkpoint_id(year - 1, cfg.checkpoints[-1])
    return checkpoint_id(year, cfg.checkpoints[index - 1])


def due_checkpoints(now: datetime, cfg: ReportingConfig) -> list[str]:
    """Checkpoints whose moment has passed, within the catch-up window, oldest first."""
    window = timedelta(days=cfg.shortfall_catch_up_days)
    due = []
    for year in (now.astimezone(WIB).year - 1, now.astimezone(WIB).year):
        for checkpoint in cfg.checkpoints:
            at = checkpoint_at(year, checkpoint)
            if at <= now <= at + window:
                due.append((at, checkpoint_id(year, checkpoint)))
    return [cid for _, cid in sorted(due)]


def _iso(dt: datetime | None) -> str | None:
    return dt.astimezone(timezone.utc).isoformat().replace("+00:00", "Z") if dt else None


def open_programmes(rm: ReadModels, now: datetime, year: int) -> list[dict]:
    """Published, not cancelled, enrolment open now, and starting in time to count this year."""
    found = rm.programmes.find({"published": True, "cancelled": {"$exists": False},
                                "enrolment_opens_at": {"$lte": now}, "enrolment_closes_at": {"$gte": now}})
    year_end = year_end_wib(year)
    return [p for p in found if p.get("kind") and (p.get("starts_at") is None or p["starts_at"] <= year_end)]


def suggest(programmes: list[dict], jp_missing: int, exclude: set[str], limit: int) -> list[dict]:
    """Programmes that close the gap in one go first, the closest fit first."""
    candidates = [p for p in programmes if p["_id"] not in exclude and (p.get("jp") or 0) > 0]
    candidates.sort(key=lambda p: (p["jp"] < jp_missing, abs(p["jp"] - jp_missing),
                                   p.get("enrolment_closes_at") or datetime.max.replace(tzinfo=timezone.utc), p["_id"]))
    return [{"code": p["_id"], "title": p["title"], "kind": p["kind"], "competency_type": p["competency_type"],
             "jp": p["jp"], "starts_at": _iso(p.get("starts_at")),
             "enrolment_closes_at": _iso(p.get("enrolment_closes_at"))} for p in candidates[:limit]]


def participant_of(asn: dict) -> dict:
    return {"nip": asn["_id"], "id_kind": asn.get("id_kind") or "nip", "name": asn.get("name") or "",
            "agency": asn["agency"], "agency_name": asn.get("agency_name") or agency_name(asn["agency"]),
            "position": asn.get("position")}


class ShortfallDetector:
    """Runs one checkpoint over the current read models; ``store`` is a shared.store.Store."""

    def __init__(self, store, cfg: ReportingConfig, clock: Callable[[], datetime], holder: str | None = None):
        self.store, self.cfg, self.clock = store, cfg, clock
        self.db = store.db
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"

    def run_due(self) -> list[dict]:
        """The scheduler's tick: run every due checkpoint not yet done."""
        results = []
        for cid in due_checkpoints(self.clock(), self.cfg):
            run = self.db[SHORTFALL_RUNS].find_one({"_id": cid}, {"status": 1})
            if not run or run.get("status") != "done":
                results.append(self.run(cid))
        return results

    def run(self, checkpoint: str) -> dict:
        year, cp = parse_checkpoint(checkpoint, self.cfg)
        runs = self.db[SHORTFALL_RUNS]
        done = runs.find_one({"_id": checkpoint, "status": "done"})
        if done:
            return self._summary(done, already_done=True)
        lease = Lease(self.db[LEASES], f"shortfall:{checkpoint}", self.holder, self.cfg.shortfall_lease_s)
        if not lease.acquire():
            return {"checkpoint": checkpoint, "status": "running_elsewhere"}
        try:
            now = self.clock()
            runs.update_one({"_id": checkpoint},
                            {"$setOnInsert": {"started_at": now, "year": year},
                             "$set": {"status": "running", "holder": self.holder}}, upsert=True)
            checked, emitted = self._scan(checkpoint, year, cp, now, lease)
            if checked is None:
                return {"checkpoint": checkpoint, "status": "lease_lost"}
            total = self.db[SHORTFALLS].count_documents({"checkpoint": checkpoint})
            runs.update_one({"_id": checkpoint}, {"$set": {
                "status": "done", "finished_at": self.clock(), "asn_checked": checked, "emitted": total,
                "jp_target": self.cfg.jp_target}})
            log.info("shortfall checkpoint %s done: %d ASN checked, %d flagged (%d in this run)",
                     checkpoint, checked, total, emitted)
            return self._summary(runs.find_one({"_id": checkpoint}), already_done=False, emitted_now=emitted)
        finally:
            lease.release()

    def _scan(self, checkpoint: str, year: int, cp: Checkpoint, now: datetime, lease: Lease):
        rm = current_models(self.db)
        programmes = open_programmes(rm, now, year)
        previous = previous_checkpoint(year, cp, self.cfg)
        checked = emitted = 0
        last = ""
        while True:
            if not lease.acquire():  # renews it; lost only if we stalled past its expiry
                return None, emitted
            batch = list(rm.asns.find({"first_seen_year": {"$lte": year}, "_id": {"$gt": last}})
                         .sort("_id", 1).limit(BATCH))
            if not batch:
                return checked, emitted
            last = batch[-1]["_id"]
            nips = [a["_id"] for a in batch]
            totals = {d["nip"]: d.get("jp_total", 0)
                      for d in rm.asn_years.find({"_id": {"$in": [f"{n}|{year}" for n in nips]}})}
            holding: dict[str, set] = {}
            for e in rm.enrolments.find({"nip": {"$in": nips}, "status": {"$in": list(STATUSES_HOLDING_A_PLACE)}},
                                        {"nip": 1, "programme_code": 1}):
                holding.setdefault(e["nip"], set()).add(e["programme_code"])
            flagged = {d["nip"] for d in self.db[SHORTFALLS].find(
                {"checkpoint": checkpoint, "nip": {"$in": nips}}, {"nip": 1})}
            for asn in batch:
                checked += 1
                jp = totals.get(asn["_id"], 0)
                if jp >= self.cfg.jp_target or asn["_id"] in flagged or not asn.get("agency"):
                    continue
                suggestions = suggest(programmes, self.cfg.jp_target - jp, holding.get(asn["_id"], set()),
                                      self.cfg.max_suggestions)
                if self._flag(checkpoint, previous, year, asn, jp, suggestions, now):
                    emitted += 1

    def _flag(self, checkpoint: str, previous: str, year: int, asn: dict, jp: int, suggestions: list,
              now: datetime) -> bool:
        nip = asn["_id"]
        before = self.db[SHORTFALLS].find_one({"_id": f"{previous}|{nip}"}, {"consecutive": 1})
        consecutive = (before["consecutive"] + 1) if before else 1
        data = {"participant": participant_of(asn), "year": year, "checkpoint": checkpoint, "jp_total": jp,
                "jp_target": self.cfg.jp_target, "jp_missing": self.cfg.jp_target - jp,
                "consecutive_shortfalls": consecutive, "suggested_programmes": suggestions}

        def flag(tx):
            tx.db[SHORTFALLS].insert_one({"_id": f"{checkpoint}|{nip}", "checkpoint": checkpoint, "nip": nip,
                                          "year": year, "jp_total": jp, "consecutive": consecutive,
                                          "checkpoint_at": now, "agency": asn["agency"]}, session=tx.session)
            tx.emit("shortfall_detected", nip, data)

        try:
            self.store.transaction(flag)
            return True
        except DuplicateKeyError:  # another replica flagged this ASN a moment ago
            return False

    @staticmethod
    def _summary(run: dict, already_done: bool, emitted_now: int = 0) -> dict:
        return {"checkpoint": run["_id"], "status": run.get("status"), "already_done": already_done,
                "asn_checked": run.get("asn_checked", 0), "flagged": run.get("emitted", 0),
                "flagged_now": emitted_now, "started_at": run.get("started_at"),
                "finished_at": run.get("finished_at")}
