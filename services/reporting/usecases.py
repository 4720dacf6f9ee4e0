"""The use cases of reporting: load the request schema → check the caller's scope → one
transaction of commands (or a query) → dump the response schema. Also the jobs of the
background loops (``dependencies.py``): counter folding and the shortfall checkpoints, and
the rebuild of every read model that ``POST /admin/rebuild`` starts.
"""
from __future__ import annotations

import bisect
import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Protocol

from marshmallow import Schema, ValidationError
from prometheus_client import Counter, Gauge
from pymongo.errors import DuplicateKeyError
from werkzeug.wrappers import Response

from shared import access_log
from shared.auth import ADMIN, ASN, OPERATOR, Principal
from shared.background import LEASES, Lease, holder_id
from shared.broker_security import expected_publisher
from shared.config import Settings
from shared.errors import Conflict, Invalid, NotFound
from shared.events.common import JENIS_ASN
from shared.nip import NipField
from shared.runtime import ServiceRuntime, clock_of
from shared.store import Store, connect
from shared.timefmt import wib_date, wib_year

from services.reporting import commands, config, domain, queries, schemas
from services.reporting.adapters import dashboard, exports
from services.reporting.adapters.producers import ReplayQueue, Replayed, replay_from_producers
from services.reporting.config import ReportingConfig
from services.reporting.store import (LAYOUT, Pointer, ReadModels, consumer_of, create_indexes,
                                      create_read_model_indexes, current_models, drop_generation, pointer)

log = logging.getLogger(__name__)


# -- start-up ----------------------------------------------------------------------------------------
def prepare_store(db) -> None:
    """The reporting database at start-up (the Mongo dependency): indexes and layout migrations,
    then the current generation brought to the roster layout if an earlier release built it."""
    create_indexes(db)
    current = pointer(db).current
    if queries.layout_of(db) < LAYOUT:
        moved = commands.migrate_to_roster_layout(db, config.load(), current)
        log.info("read models of generation %d brought to the roster layout: %s", current, moved)


# -- events: every public event feeds the read models -------------------------------------------
# The generation pointer this process last read, per (store, database). Not trusted: the
# event's own transaction reads the pointer again in its first read (commands.Projector.prefetch)
# and starts over when it moved, so a rebuild's new generation gets every event from the
# moment its ``building`` is committed, as when the pointer was read before each event.
_POINTERS: dict[tuple, Pointer] = {}


def apply_event(store: Store, event, cfg: ReportingConfig, generations: tuple[int, ...] | None = None,
                fold_counters: bool = True) -> int:
    """Apply ``event`` once to every active generation (or to ``generations``), one transaction
    each; returns how many applied it anew.

    The shared counters move when the folder folds the event's delta (``CounterFolding``);
    ``fold_counters=False`` increments them in the event's transaction instead."""
    if generations:  # a rebuild filling its own generation: no cache, no pointer check
        return sum(int(store.apply_once(
            event, lambda tx, g=g: commands.project(tx, event, g, cfg, fold_counters=fold_counters),
            consumer=consumer_of(g))[0]) for g in generations)
    key = (tuple(sorted(store.db.client.nodes)), store.db.name)
    active = _POINTERS.get(key) or pointer(store.db)
    applied, done_in = 0, set()
    while True:
        try:
            for generation in active.active:
                if generation in done_in:
                    continue
                done, _ = store.apply_once(
                    event, lambda tx, g=generation, p=active: commands.project(
                        tx, event, g, cfg, cache_catalogue=g == p.current, fold_counters=fold_counters,
                        expected=p.active),
                    consumer=consumer_of(generation))
                done_in.add(generation)
                applied += int(done)
            _POINTERS[key] = active
            return applied
        except commands.PointerMoved as moved:
            log.info("read-model generations moved to %s: applying event %s to them", moved.pointer.active, event.id)
            active = _POINTERS[key] = moved.pointer


# -- HTTP: figures -----------------------------------------------------------------------------------
def _load(schema: type[Schema], args: Mapping) -> dict:
    # An empty filter (``agency=``, as a form sends it) means no filter.
    return schema().load({k: v for k, v in args.items() if v != ""})


def _year(runtime: ServiceRuntime, year: int | None) -> int:
    return year if year is not None else wib_year(runtime.now())


def _agency(rm: ReadModels, caller: Principal, agency: str | None) -> str | None:
    """The agency filter: an operator sees only its own agency's figures (another is 403)."""
    agency = caller.agency_filter(agency)
    if agency and not queries.known_agency(rm, agency):
        raise Invalid(f"agency {agency!r} is not an OPD code of Kota Bukittinggi", field="agency")
    return agency


def _nip(value: str) -> str:
    """A NIP from the path, printed form accepted; 422 naming ``nip`` otherwise."""
    try:
        return NipField().deserialize(value)
    except ValidationError as exc:
        raise Invalid(f"NIP {exc.messages[0]}", field="nip") from None


def _require_ledger_access(rm: ReadModels, caller: Principal, nip: str) -> None:
    # An operator's scope depends on where the ASN works, an ASN's (other than themself) on
    # whether they are the ASN's supervisor on the roster; an admin's on nothing.
    if caller.role == ADMIN or caller.nip == nip:
        domain.require_ledger_access(caller, nip, None)
        return
    agency, supervisor_nip = queries.ledger_scope(rm, nip)
    domain.require_ledger_access(caller, nip, agency,
                                 supervised=supervisor_nip is not None and supervisor_nip == caller.nip)


def ledger(store: Store, runtime: ServiceRuntime, caller: Principal, nip: str, args: Mapping) -> dict:
    """``GET /ledger/<nip>``: the ASN themself, their supervisor, their agency's operator, an
    admin. A read by anyone but the ASN is recorded in the access log."""
    q = _load(schemas.YearQuery, args)
    nip = _nip(nip)
    rm = current_models(store.db)
    # The scope first: a 404 before it would tell any operator which NIPs the platform knows.
    _require_ledger_access(rm, caller, nip)
    # With the year asked (default this one) against the ASN's own targets: the yearly one and
    # the pro-rated one of its current checkpoint (the portal's home page chart).
    answer = queries.ledger(rm, runtime.config, nip, q["year"], today=wib_date(runtime.now()))
    access_log.record_read(store.db, caller, nip, "ledger", detail=str(q["year"]) if q["year"] else None)
    return schemas.LedgerResponse().dump(answer)


def team(store: Store, runtime: ServiceRuntime, caller: Principal, args: Mapping) -> dict:
    """``GET /team`` ("tim saya"): each staff member of a supervisor (an ASN: themself; admin and
    operator: ``?supervisor=``) with their JP of the year against their own yearly target and
    the current checkpoint's pro-rated one. In name order, never ranked; the summary only for
    a team of at least REPORTING_PEERS_MIN_ASN (5) people. Every member's read is recorded."""
    if caller.role == ASN and not args.get("supervisor"):
        args = {**args, "supervisor": caller.nip}  # an ASN's own team by default; others must name one
    q = _load(schemas.TeamQuery, args)
    rm = current_models(store.db)
    cfg = runtime.config
    supervisor = q["supervisor"]
    if caller.role == ASN:
        domain.require_team_access(caller, supervisor, None)
        agency = None
    else:
        # The scope first: a 404 before it would tell an operator which NIPs the platform knows.
        known = queries.asn_identity(rm, supervisor)
        domain.require_team_access(caller, supervisor, (known or {}).get("agency"))
        if known is None:
            raise NotFound(f"NIP {supervisor} is not known to the platform", field="supervisor")
        agency = caller.agency if caller.role == OPERATOR else None
    year = _year(runtime, q["year"])
    checkpoint = domain.current_checkpoint(cfg, year, wib_date(runtime.now()))
    staff = queries.staff_of(rm, supervisor, agency)
    members = domain.team_members(staff, queries.jp_totals(rm, [a["_id"] for a in staff], year), cfg, year,
                                  checkpoint)
    access_log.record_reads(store.db, caller, [m["nip"] for m in members], "team", detail=str(year))
    return schemas.TeamResponse().dump({
        "year": year, "checkpoint": domain.checkpoint_view(cfg, year, checkpoint),
        "members": members, "summary": domain.team_summary(members, cfg.peers_min_asn)})


def compliance(store: Store, runtime: ServiceRuntime, caller: Principal, args: Mapping) -> dict:
    q = _load(schemas.ComplianceQuery, args)
    rm = current_models(store.db)
    agency = _agency(rm, caller, q["agency"])
    report = queries.compliance(rm, runtime.config, _year(runtime, q["year"]), agency=agency, kind=q["kind"],
                                competency_type=q["competency_type"], sort=q["sort"])
    limit = q["limit"] or runtime.config.default_page_size
    # Every agency is computed anyway (the totals need them): the page is cut from the rows.
    items, next_cursor = domain.page_rows(report["agencies"], "agency", limit, q["cursor"], q["page"])
    return schemas.ComplianceResponse().dump({
        **report, "items": items, "next_cursor": next_cursor, "total_agencies": len(report["agencies"]),
        "page": q["page"] or 1, "per_page": limit, "agencies": items})


def never_enrolled(store: Store, runtime: ServiceRuntime, caller: Principal, args: Mapping) -> dict:
    """``GET /never-enrolled``: the ASN on the roster who never enrolled (an operator: its own
    agency's; an admin: one agency's, or every agency's)."""
    q = _load(schemas.NeverEnrolledQuery, args)
    rm = current_models(store.db)
    agency = _agency(rm, caller, q["agency"])
    year = _year(runtime, q["year"])
    items, next_cursor, total = queries.never_enrolled(rm, year, agency, q["limit"] or runtime.config.default_page_size,
                                                       q["cursor"], q["page"])
    return schemas.NeverEnrolledResponse().dump({"year": year, "agency": agency, "total": total, "items": items,
                                                 "next_cursor": next_cursor})


def programmes(store: Store, runtime: ServiceRuntime, args: Mapping) -> dict:
    q = _load(schemas.ProgrammesQuery, args)
    limit = q["limit"] or runtime.config.default_page_size
    items, next_cursor, total = queries.programmes(current_models(store.db), q["year"], q["kind"],
                                                   q["competency_type"], limit, q["cursor"], q["page"])
    return schemas.ProgrammesResponse().dump({"items": items, "next_cursor": next_cursor, "total": total,
                                              "page": q["page"] or 1, "per_page": limit, "programmes": items})


def programme_stats(store: Store, code: str) -> dict:
    return schemas.ProgrammeStatsResponse().dump(queries.programme_stats(current_models(store.db), code))


def certificates_monthly(store: Store, runtime: ServiceRuntime, caller: Principal, args: Mapping) -> dict:
    q = _load(schemas.DashboardQuery, args)
    rm = current_models(store.db)
    agency = _agency(rm, caller, q["agency"])
    return schemas.CertificatesMonthlyResponse().dump(
        queries.certificates_by_month(rm, _year(runtime, q["year"]), agency))


def dashboard_page(store: Store, runtime: ServiceRuntime, caller: Principal, args: Mapping) -> Response:
    q = _load(schemas.DashboardQuery, args)
    rm = current_models(store.db)
    agency = _agency(rm, caller, q["agency"])
    year = _year(runtime, q["year"])
    report = queries.compliance(rm, runtime.config, year, agency=agency)
    # One agency's page lists its never-enrolled ASN (the first ones; the exports have them all).
    never: list[dict] = []
    if agency:
        never, _, _ = queries.never_enrolled(rm, year, agency, dashboard.NEVER_ENROLLED_SHOWN)
    html = dashboard.render(report, queries.monthly(rm, year, agency), year, agency, runtime.now(),
                            never_enrolled=never)
    return Response(html, mimetype="text/html")


# -- HTTP: exports -------------------------------------------------------------------------------------
def compliance_export(store: Store, runtime: ServiceRuntime, caller: Principal, args: Mapping,
                      form: str) -> Response:
    """Agency compliance as ``form`` ``csv`` or ``xlsx``."""
    q = _load(schemas.ComplianceExportQuery, args)
    rm = current_models(store.db)
    year = _year(runtime, q["year"])
    agency = _agency(rm, caller, q["agency"])
    report = queries.compliance(rm, runtime.config, year, agency=agency, kind=q["kind"],
                                competency_type=q["competency_type"])
    name = f"kepatuhan-jp-{year}" + (f"-{agency}" if agency else "")
    return exports.table(name, f"Kepatuhan JP {year}", exports.COMPLIANCE_HEADER, exports.compliance_rows(report),
                         form)


def never_enrolled_export(store: Store, runtime: ServiceRuntime, caller: Principal, args: Mapping,
                          form: str) -> Response:
    """The never-enrolled ASN as ``form`` ``csv`` or ``xlsx`` (an operator: its own agency's)."""
    q = _load(schemas.NeverEnrolledExportQuery, args)
    rm = current_models(store.db)
    year = _year(runtime, q["year"])
    agency = _agency(rm, caller, q["agency"])
    name = f"belum-pernah-ikut-{year}" + (f"-{agency}" if agency else "")
    rows = (exports.never_enrolled_row(year, asn) for asn in queries.never_enrolled_rows(rm, year, agency))
    return exports.table(name, f"Belum pernah ikut {year}", exports.NEVER_ENROLLED_HEADER, rows, form)


def ledger_export(store: Store, runtime: ServiceRuntime, caller: Principal, args: Mapping, form: str,
                  shape: str = "ledger") -> Response:
    """Ledger entries as ``form`` ``csv`` or ``xlsx``, in the ``shape`` of the JP ledger or of
    SIASN's course-history record (``siasn``, riwayat kursus)."""
    q = _load(schemas.LedgerExportQuery, args)
    rm = current_models(store.db)
    year = _year(runtime, q["year"])
    agency = _agency(rm, caller, q["agency"])
    if q["nip"]:
        # The same rule as GET /ledger/<nip>: naming a NIP must not reach past the agency scope.
        _require_ledger_access(rm, caller, q["nip"])
        access_log.record_read(store.db, caller, q["nip"], "ledger", detail=f"export {year}")
    name = f"buku-jp-{year}" + (f"-{agency}" if agency else "") + (f"-{q['nip']}" if q["nip"] else "")
    entries = queries.ledger_rows(rm, year, agency, q["nip"])
    if shape == "siasn":
        mapping = runtime.config.siasn
        return exports.table(f"{name}-siasn", "Riwayat kursus SIASN", exports.SIASN_HEADER,
                             (exports.siasn_row(entry, mapping) for entry in entries), form,
                             exports.SIASN_TEXT_COLUMNS)
    return exports.table(name, "Buku JP", exports.LEDGER_HEADER, map(exports.ledger_row, entries), form,
                         exports.LEDGER_TEXT_COLUMNS)


# -- counter folding (docs/decisions/0043-folded-counters.md) ----------------------------------------------
# Why: every completion of a burst adds to the same programme, month and agency-year counters.
# Incremented in each event's own transaction (even in 8 shards), concurrent handlers of
# several replicas conflicted on them and retried: the 2,000-completion scale proof with three
# replicas fell to 0.4 events/s. Inserting one delta document per event conflicts with nothing,
# and a single folder sums a batch and sends one ``$inc`` per counter document. The counters
# (compliance, programme statistics, monthly figures) trail the events by about one pass; the
# ledger, the ASN-year totals and the state documents are still written in the event's transaction.
FOLD_LOOP = "counter-folding"
FOLD_LEASE = "reporting-counter-folding"
FOLD_INTERVAL_S = 0.25
# Deltas summed in one transaction: ~500 events of a burst touch some hundred counter documents.
FOLD_BATCH = 500
# Batches one pass folds before the loop checks (and renews) its lease.
FOLD_BATCHES_PER_PASS = 20
# Longer than a transaction may retry (shared.store), so a slow fold never outlives its lease.
FOLD_LEASE_S = 30.0

PENDING_DELTAS = Gauge("asn_reporting_counter_deltas_pending",
                       "Counter deltas recorded by event handlers and not yet folded (sampled by the folder)")
FOLDED_DELTAS = Counter("asn_reporting_counter_deltas_folded_total", "Counter deltas folded by this replica")


def fold_all(store: Store, generation: int, limit: int = FOLD_BATCH, max_batches: int | None = None,
             expected: tuple[int, ...] | None = None) -> int:
    """Fold batches (one transaction each) until none is full (or ``max_batches``); how many
    deltas were folded. ``expected``: see ``commands.fold_batch``."""
    folded, batches = 0, 0
    while max_batches is None or batches < max_batches:
        n = store.transaction(lambda tx: commands.fold_batch(tx, generation, limit, expected))
        folded, batches = folded + n, batches + 1
        if n < limit:
            break
    return folded


class CounterFolding:
    """The job of the counter-folding loop: one pass folds what waits in every active
    generation. Only the lease holder runs it, for throughput, not correctness: two folds at
    once conflict on the deltas they both delete, and one retries on what is left.

    The generations to fold are those of the pointer this job last read; each fold reads the
    pointer again with its deltas and the pass starts over on the new generations when it
    moved (a rebuild), so a pass costs one read, plus a write and a commit when it folds."""

    def __init__(self, store: Store, client=None):
        self.store, self.db, self._client = store, store.db, client
        self._pointer: Pointer | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> CounterFolding:
        # Its own connection: the loop runs outside any worker's unit of work.
        client = connect(settings)
        return cls(Store(client, settings), client)

    def run_once(self) -> int:
        active = self._pointer or pointer(self.db)
        folded, done_in = 0, set()
        while True:
            try:
                for generation in active.active:
                    if generation in done_in:
                        continue
                    n = fold_all(self.store, generation, max_batches=FOLD_BATCHES_PER_PASS, expected=active.active)
                    if n >= FOLD_BATCH * FOLD_BATCHES_PER_PASS:
                        log.info("folded %d counter deltas of generation %d; more are waiting", n, generation)
                    folded += n
                    done_in.add(generation)
                break
            except commands.PointerMoved as moved:
                active = moved.pointer
        self._pointer = active
        FOLDED_DELTAS.inc(folded)
        # Counting costs a scan: only when the last batch was full is a backlog likely.
        PENDING_DELTAS.set(queries.pending_deltas(self.db) if folded >= FOLD_BATCH else 0)
        return folded

    def drain(self) -> None:
        self.run_once()  # entrypoints have stopped: fold what this replica recorded

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


# -- shortfall checkpoints (docs/decisions/0042-shortfall-checkpoints.md) ----------------------------------
# At each checkpoint every ASN it checks (active on the roster by its day, and ASN not on the
# roster seen in its year) who is below their pro-rated target gets one ``shortfall_detected``
# event: suggestions of open programmes, how their agency's colleagues stand, their supervisor
# and who gets a summary listing them. A run is a job: a first pass counts the population and
# the agencies' figures, then batches nudge and save the progress (``shortfall_runs``). Safe
# with several replicas: a lease per checkpoint makes one replica the runner (another takes
# over if it dies; the admin trigger and the loop meet on it), and each notice is a unique
# ``<checkpoint>|<nip>`` record written in the same transaction as its outbox event, so an ASN
# is nudged once per checkpoint.
SHORTFALL_LOOP = "shortfall-checkpoints"
SHORTFALL_LEASE = "reporting-shortfall-checkpoints"
SHORTFALL_BATCH = 500

# What ``ShortfallDetector.run`` did.
DONE, ALREADY_DONE, RUNNING_ELSEWHERE, LEASE_LOST, STOPPED = (
    "done", "already_done", "running_elsewhere", "lease_lost", "stopped")


class Population:
    """Whom a checkpoint checks, with each one's target, and what the nudges compare with:
    counted in one pass before any nudge, so the colleague figures are the whole roster's."""

    def __init__(self, rm: ReadModels, cfg: ReportingConfig, year: int, cp: config.Checkpoint):
        self.jp = queries.jp_of_year(rm, year)
        self.members: dict[str, tuple[dict, int]] = {}  # NIP -> (ASN, target at the checkpoint)
        self.active_names: dict[str, str | None] = {}  # every active rostered ASN: who may be a supervisor
        counts: dict[str, list[int]] = {}  # agency -> [active rostered ASN checked, of whom met their target]
        for asn in queries.rostered_active(rm):
            self.active_names[asn["_id"]] = asn.get("name")
            target = domain.checked_target(asn, year, cp, cfg)
            if target is None or not asn.get("agency"):
                continue
            self.members[asn["_id"]] = (asn, target)
            agency = counts.setdefault(asn["agency"], [0, 0])
            agency[0] += 1
            agency[1] += int(self.jp.get(asn["_id"], 0) >= target)
        for asn in queries.unlisted_seen_in(rm, year, set(self.jp)):
            target = domain.checked_target(asn, year, cp, cfg)
            if target is not None and asn.get("agency"):
                self.members[asn["_id"]] = (asn, target)
        self.nips = sorted(self.members)
        self.peers = domain.peer_figures(counts, cfg.peers_min_asn)

    def supervisor_of(self, asn: dict) -> dict | None:
        """The ASN's supervisor (atasan langsung) from the roster, when an active rostered ASN."""
        nip = (asn.get("roster") or {}).get("supervisor_nip")
        if not nip or nip == asn["_id"] or nip not in self.active_names:
            return None
        return {"nip": nip, "name": self.active_names[nip]}


class ShortfallDetector:
    """Runs checkpoints over the current read models. ``stopping`` says when a graceful stop
    wants the run to end after its batch (the progress is saved; the run resumes later)."""

    def __init__(self, store: Store, cfg: ReportingConfig, clock: Callable[[], datetime], holder: str | None = None,
                 stopping: Callable[[], bool] = lambda: False):
        self.store, self.cfg, self.clock, self.stopping = store, cfg, clock, stopping
        self.db = store.db
        self.holder = holder or holder_id()

    def run_due(self) -> list[tuple[str, str]]:
        """Run every due checkpoint and every requested one not yet done (the loop's pass),
        oldest first; [(checkpoint, what happened)]."""
        wanted = {}
        for cid in domain.due_checkpoints(self.clock(), self.cfg) + queries.requested_checkpoints(self.db):
            try:
                year, cp = domain.parse_checkpoint(cid, self.cfg)
            except Invalid:
                log.warning("requested checkpoint %s is not one of REPORTING_SHORTFALL_CHECKPOINTS: skipped", cid)
                continue
            wanted[cid] = domain.checkpoint_at(year, cp)
        return [(cid, self.run(cid)) for cid in sorted(wanted, key=lambda c: (wanted[c], c))
                if queries.checkpoint_run(self.db, cid, done_only=True) is None]

    def run(self, checkpoint: str) -> str:
        year, cp = domain.parse_checkpoint(checkpoint, self.cfg)
        if queries.checkpoint_run(self.db, checkpoint, done_only=True):
            return ALREADY_DONE
        lease = Lease(self.db[LEASES], f"shortfall:{checkpoint}", self.holder, self.cfg.shortfall_lease_s)
        if not lease.acquire():
            return RUNNING_ELSEWHERE
        try:
            run = queries.checkpoint_run(self.db, checkpoint) or {}
            if run.get("status") == "done":  # finished by another replica since we looked
                return ALREADY_DONE
            return self._run(checkpoint, year, cp, run, lease)
        finally:
            lease.release()

    def _run(self, checkpoint: str, year: int, cp: config.Checkpoint, run: dict, lease: Lease) -> str:
        now = self.clock()
        rm = current_models(self.db)
        population = Population(rm, self.cfg, year, cp)
        # A run that stopped (a crash, a graceful stop) goes on after the last NIP it saved.
        cursor = run.get("cursor")
        start = bisect.bisect_right(population.nips, cursor) if cursor else 0
        targets = {jenis: domain.checkpoint_target(self.cfg, year, cp, jenis, None) for jenis in JENIS_ASN}
        commands.start_checkpoint_run(self.db, checkpoint, year, self.holder, now, len(population.nips), targets,
                                      checked=start, first_start=not run.get("started_at"))
        counts = queries.shortfall_counts(self.db, checkpoint)
        programmes = queries.open_programmes(rm, now, year)
        previous = domain.previous_checkpoint(year, cp, self.cfg)
        for i in range(start, len(population.nips), SHORTFALL_BATCH):
            if self.stopping():
                log.info("shortfall checkpoint %s stopped after %d of %d ASN; it resumes later",
                         checkpoint, i, len(population.nips))
                commands.pause_checkpoint_run(self.db, checkpoint, self.holder)
                return STOPPED
            if not lease.acquire():  # renews it; lost only if we stalled past its expiry
                return LEASE_LOST
            batch = population.nips[i:i + SHORTFALL_BATCH]
            self._check(checkpoint, year, rm, population, batch, programmes, previous, now, counts)
            commands.record_checkpoint_progress(self.db, checkpoint, self.holder, batch[-1], i + len(batch), counts)
        # Counted from the notices: exact even when a replica that lost its lease also nudged.
        counts = queries.shortfall_counts(self.db, checkpoint)
        commands.finish_checkpoint_run(self.db, checkpoint, len(population.nips), counts, self.cfg.jp_target,
                                       self.clock())
        log.info("shortfall checkpoint %s done: %d ASN checked, %d nudged, %d listed to a supervisor, "
                 "%d to their OPD", checkpoint, len(population.nips), counts["nudged"],
                 counts["supervisor_summaries"], counts["escalated"])
        return DONE

    def _check(self, checkpoint: str, year: int, rm: ReadModels, population: Population, batch: list[str],
               programmes: list[dict], previous: str, now: datetime, counts: dict) -> None:
        """Nudge the ASN of ``batch`` below their target and not nudged yet; ``counts`` follows."""
        below = [n for n in batch if population.jp.get(n, 0) < population.members[n][1]]
        if not below:
            return
        flagged = queries.flagged_at(self.db, checkpoint, below)
        below = [n for n in below if n not in flagged]
        holding = queries.places_held(rm, below)
        consecutive = queries.consecutive_shortfalls(self.db, previous, below)
        for nip in below:
            asn, target = population.members[nip]
            jp = population.jp.get(nip, 0)
            supervisor = population.supervisor_of(asn)
            escalate_to = domain.escalation(consecutive[nip], supervisor is not None, self.cfg.escalation_threshold)
            data = domain.shortfall_data(
                checkpoint, year, asn, jp, target,
                domain.yearly_target_of(self.cfg, year, domain.jenis_of(asn), domain.tmt_of(asn)),
                consecutive[nip],
                domain.suggest(programmes, target - jp, holding.get(nip, set()), self.cfg.max_suggestions),
                population.peers.get(asn["agency"]), supervisor, escalate_to)
            try:
                self.store.transaction(lambda tx: commands.flag_shortfall(tx, checkpoint, year, asn, jp,
                                                                          consecutive[nip], now, data))
            except DuplicateKeyError:  # another replica nudged this ASN a moment ago
                continue
            counts["nudged"] += 1
            counts["escalated"] += int("agency" in escalate_to)
            counts["supervisor_summaries"] += int("supervisor" in escalate_to)


class CheckpointRunner(Protocol):
    """What starts a requested run in the background (``dependencies.CheckpointRuns``)."""

    def start_run(self, checkpoint: str) -> None: ...


def shortfall_job(run: dict) -> dict:
    """A run document as the job the API answers."""
    # Runs of the first version kept asn_checked and emitted.
    checked, nudged = run.get("checked", run.get("asn_checked", 0)), run.get("nudged", run.get("emitted", 0))
    return {**run, "checked": checked, "nudged": nudged, "progress": domain.job_progress(run),
            "already_done": run.get("status") == "done", "asn_checked": checked, "flagged": nudged}


def request_checkpoint(store: Store, runtime: ServiceRuntime, runs: CheckpointRunner,
                       checkpoint: str) -> tuple[int, dict]:
    """``POST /admin/shortfall/<checkpoint>/run``: 202 with the job, run in the background
    (``runs``: this container's ``dependencies.CheckpointRuns``); a checkpoint done already: 200
    with its result. The run document keeps the request, so the loop takes it up if this
    replica stops before it is done."""
    year, _ = domain.parse_checkpoint(checkpoint, runtime.config)
    done = queries.checkpoint_run(store.db, checkpoint, done_only=True)
    if done:
        return 200, schemas.ShortfallJob().dump(shortfall_job(done))
    run = commands.request_checkpoint_run(store.db, checkpoint, year, runtime.now())
    runs.start_run(checkpoint)
    return 202, schemas.ShortfallJob().dump(shortfall_job(run))


def checkpoint_job(store: Store, runtime: ServiceRuntime, checkpoint: str) -> dict:
    """``GET /admin/shortfall/<checkpoint>``: the job's status, progress and result."""
    domain.parse_checkpoint(checkpoint, runtime.config)
    run = queries.checkpoint_run(store.db, checkpoint)
    if run is None:
        raise NotFound(f"checkpoint {checkpoint} has not been run nor requested", field="checkpoint")
    return schemas.ShortfallJob().dump(shortfall_job(run))


class ShortfallTick:
    """The job of the shortfall loop: each pass runs the checkpoints that are due, and those
    an admin requested that no replica finished."""

    def __init__(self, settings: Settings):
        self.client = connect(settings)
        self.store = Store(self.client, settings)  # RelayedLoop gives it the container's relay
        self.detector = ShortfallDetector(self.store, config.load(settings), clock_of(settings))
        self.db = self.detector.db

    def run_once(self) -> int:
        # Only checkpoints finished now count: one run elsewhere must not make the loop spin.
        return sum(1 for _, outcome in self.detector.run_due() if outcome == DONE)

    def drain(self) -> None:
        pass  # a checkpoint left unfinished is taken up by the next holder

    def close(self) -> None:
        self.client.close()


# -- rebuild (docs/decisions/0041-read-model-rebuild.md) -------------------------------------------------------
# 1. take the rebuild lease; pick a fresh generation G and mark it ``building`` (live handlers
#    now apply each new event to G as well);
# 2. have each producer republish its sent outbox history into a temporary queue;
# 3. apply every replayed event to G with the same projection code the live handlers use
#    (idempotency keys are per generation, so a live copy and a replayed copy apply once); a
#    replayed copy counts only when the broker vouches that its producer published it (ADR 0061);
# 4. swap: G becomes ``current``; the old generation is kept as ``previous`` (a rollback), the
#    one before it is dropped.
REBUILD_LEASE = "read-model-rebuild"


def rebuild_read_models(store: Store, runtime: ServiceRuntime, authorization: str, body: dict) -> dict:
    """``POST /admin/rebuild``: the producers replay on the calling admin's authority (their
    bearer token is passed on)."""
    request = schemas.RebuildRequest().load(body)
    token = authorization.partition(" ")[2].strip()
    summary = rebuild(store.settings, lambda queue: replay_from_producers(token, queue), runtime.config,
                      idle_timeout_s=request["idle_timeout_s"])
    return schemas.RebuildResponse().dump(summary)


def rebuild(settings: Settings, replay: Callable[[str], int], cfg: ReportingConfig,
            idle_timeout_s: float | None = None, holder: str | None = None) -> dict:
    """Rebuild all read models; ``replay(queue)`` makes the producers publish into ``queue``."""
    idle_timeout_s = idle_timeout_s or cfg.rebuild_idle_timeout_s
    started = time.monotonic()
    client = connect(settings)
    store = Store(client, settings)
    db = store.db
    lease = Lease(db[LEASES], REBUILD_LEASE, holder or holder_id(), max(60.0, idle_timeout_s * 2))
    if not lease.acquire():
        client.close()
        raise Conflict("a rebuild of the read models is already running")
    before = pointer(db)
    target = max(g for g in (before.current, before.building, before.previous) if g) + 1
    try:
        with ReplayQueue(settings, idle_timeout_s) as queue:
            try:
                drop_generation(db, target)  # leftovers of an interrupted attempt
                create_read_model_indexes(db, target)
                commands.start_building(db, target)
                log.info("rebuilding read models into generation %d from queue %s", target, queue.name)
                expected = replay(queue.name)
                counts = _apply_replayed(store, cfg, queue.receive(expected), target, lease, queue.own_user)
                # The new generation answers with every replayed event counted.
                fold_all(store, target)
                commands.make_current(db, target, previous=pointer(db).current, jp_target=cfg.jp_target)
            except BaseException:
                commands.abandon_building(db, target)
                drop_generation(db, target)
                raise
        # Handlers that read the pointer just before the swap may still write the old
        # current generation: it stays as ``previous``; only the one before it goes.
        if before.previous and before.previous not in (target, before.current):
            drop_generation(db, before.previous)
    finally:
        lease.release()
        client.close()
    summary = {"generation": target, "previous_generation": before.current, "events": expected,
               **counts, "seconds": round(time.monotonic() - started, 2)}
    log.info("read models rebuilt: %s", summary)
    return summary


def _apply_replayed(store: Store, cfg: ReportingConfig, replayed, generation: int, lease: Lease,
                    own_user: str) -> dict:
    counts = {"applied": 0, "duplicates": 0, "ignored": 0, "malformed": 0, "unauthorised": 0}
    for taken, r in enumerate(replayed, 1):
        counts[_apply_one(store, cfg, r, generation, own_user)] += 1
        if taken % 500 == 0:
            lease.acquire()
            log.info("rebuild progress: %d events", taken)
    return counts


def _apply_one(store: Store, cfg: ReportingConfig, r: Replayed, generation: int, own_user: str) -> str:
    if r.event is None:
        log.error("replayed message is malformed and skipped: %s", r.malformed)
        return "malformed"
    if r.publisher != expected_publisher(r.event.service, "reporting", own_user):
        log.error("replayed event %s from broker user %s, not its producer: skipped", r.event.id, r.publisher)
        return "unauthorised"
    if (r.event.service, r.event.name) not in domain.CONSUMED:
        return "ignored"
    return "applied" if apply_event(store, r.event, cfg, generations=(generation,)) else "duplicates"
