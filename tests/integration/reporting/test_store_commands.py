"""Store round trips per event: the store serialises every command, so their number per event
bounds how fast reporting keeps up with a burst. Counted with a pymongo CommandListener on the
test's own client against the real SecantusDB; the figures must stay right while counting."""
from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import replace

import pytest
from pymongo import MongoClient, monitoring

from services.reporting import commands as reporting_commands
from services.reporting import config as reporting_config
from services.reporting import queries
from services.reporting import store as reporting_store
from services.reporting.usecases import apply_event
from services.reporting.store import (ReadModels, consumer_of, create_indexes, create_read_model_indexes,
                                      current_models)
from shared.store import Store
from tests.integration.reporting.conftest import figures, fold_now, scenario_events
from tests.unit.reporting import factory as f

# Measured after batching the counters and skipping writes that change nothing (was 19, 11, 12, 5),
# then with the shared counters folded from one delta document per event (completed 13 -> 11),
# then (issue 23) with one read (the pointer and every state document, one aggregate) and one
# write (bulkWrite across collections) per event: apply_once's record, read, write, commit.
PER_EVENT = 4
MAX_COMMANDS = {"completed": PER_EVENT, "enrolled_known_asn": PER_EVENT, "certified": PER_EVENT,
                "revoked": PER_EVENT, "programme_published": PER_EVENT,
                # The roster (issue 19): a new ASN; a move of an ASN with JP (their years and
                # ledger follow); a change that leaves their standing alone.
                "asn_registered": PER_EVENT, "asn_updated_move": PER_EVENT, "asn_updated_same_standing": PER_EVENT}
SHARED_COUNTERS = ("programme_stats", "monthly", "agency_years", "agency_headcounts")


class CommandCounter(monitoring.CommandListener):
    """Counts commands; ``written`` names every collection a write command (or bulkWrite) wrote."""

    def __init__(self) -> None:
        self.counting = False
        self.commands: Counter = Counter()
        self.written: set[str] = set()

    def started(self, event) -> None:
        if not self.counting:
            return
        name, command = event.command_name, event.command
        self.commands[f"{name} {command.get(name)}"] += 1
        if name in ("insert", "update", "delete"):
            self.written.add(command[name])
        elif name == "bulkWrite":
            self.written.update(ns["ns"].partition(".")[2] for ns in command["nsInfo"])

    def succeeded(self, event) -> None:
        pass

    def failed(self, event) -> None:
        pass


@pytest.fixture
def counted(settings):
    """A store in a database of its own whose client counts the commands it sends."""
    counter = CommandCounter()
    client = MongoClient(settings.mongo_uri, tz_aware=True, event_listeners=[counter])
    store = Store(client, replace(settings, db_name=f"{settings.db_name}_{uuid.uuid4().hex[:6]}"))
    create_indexes(store.db)
    # This process reads the generation pointer once per database, then only in each event's read.
    apply_event(store, f.parsed(f.cloud_event(*f.published(f.programme("WARM")))), reporting_config.load())
    yield store, counter
    client.close()


def apply_counting(store: Store, counter: CommandCounter, event: dict, cfg, generations: int = 1) -> Counter:
    counter.commands.clear()
    counter.counting = True
    try:
        assert apply_event(store, f.parsed(event), cfg) == generations
    finally:
        counter.counting = False
    return Counter(counter.commands)


def shared_counters_written(counter: CommandCounter) -> list[str]:
    return sorted(c for c in counter.written if c.endswith(SHARED_COUNTERS))


def burst() -> list:
    """Two programmes; three ASN each enrol, complete and get a certificate, then enrol again."""
    prog = f.programme("PEL-C", jp=24, certificate=True)
    sem = f.programme("SEM-C", kind="seminar", jp=6)
    items = [f.published(prog, capacity=50), f.published(sem, capacity=50)]
    for i in range(3):
        person = f.participant(70 + i, "SETDA")
        items += [f.enrolled(f"c{i}", prog, person), f.completed(f"c{i}", prog, person, "passed"),
                  f.certified(f"k{i}", f"c{i}", prog, person, f"NC{i}"),
                  f.enrolled(f"s{i}", sem, person), f.completed(f"s{i}", sem, person, "passed")]
    # A revocation names no enrolment: the stored certificate does (read in the same command).
    items.append(f.revoked("k2", prog, f.participant(72, "SETDA"), "NC2"))
    return items


def test_a_completed_event_costs_four_store_commands_and_no_event_writes_a_shared_counter(counted, cfg):
    store, counter = counted
    per_event = []
    for event in scenario_events(burst()):
        per_event.append((event["type"].split(".")[-2], apply_counting(store, counter, event, cfg)))
        # Shared counters are written by the folder only: no two handlers conflict on them.
        assert not shared_counters_written(counter), event["type"]
        counter.written.clear()

    completions = [commands for name, commands in per_event if name == "completed"]
    assert len(completions) == 6
    for commands in completions:
        assert sum(commands.values()) <= MAX_COMMANDS["completed"], dict(commands)
    # SecantusDB answers findAndModify by scanning the collection: never on the event path.
    assert not [c for _, commands in per_event for c in commands if c.startswith("findAndModify")]
    # the figures the commands produced once folded: 3 ASN with 24 + 6 JP each
    fold_now(store)
    rows = {r["agency"]: r for r in queries.compliance(current_models(store.db), cfg, 2026)["agencies"]}
    assert (rows["SETDA"]["known_asn"], rows["SETDA"]["jp_total"], rows["SETDA"]["met_target"]) == (3, 90, 3)


def test_enrolment_certificate_and_programme_events_stay_within_their_budgets(counted, cfg):
    store, counter = counted
    events = scenario_events(burst())
    per_event = [(event["type"].split(".")[-2], event["data"].get("enrolment_id", ""),
                  apply_counting(store, counter, event, cfg)) for event in events]

    def most(name: str, *enrolments: str) -> int:
        return max(sum(c.values()) for n, eid, c in per_event if n == name and (not enrolments or eid in enrolments))

    # Seminar enrolments are of ASN the projection already knows.
    assert most("enrolled", "s0", "s1", "s2") <= MAX_COMMANDS["enrolled_known_asn"]
    assert most("certified") <= MAX_COMMANDS["certified"]
    assert most("programme_published") <= MAX_COMMANDS["programme_published"]
    assert most("revoked") <= MAX_COMMANDS["revoked"]

    def pel_entry(person: int) -> dict:
        ledger = queries.ledger(current_models(store.db), cfg, f.participant(person)["nip"], 2026)
        return next(e for e in ledger["years"][0]["entries"] if e["programme_code"] == "PEL-C")

    assert (pel_entry(70)["certificate_number"], pel_entry(70)["certificate_status"]) == ("NC0", "valid")
    assert (pel_entry(72)["certificate_number"], pel_entry(72)["certificate_status"], pel_entry(72)["jp"]) == (
        "NC2", "revoked", 24)


def test_a_ledger_entry_missing_from_the_store_is_written_whole_by_the_next_event(counted, cfg):
    """Only the changed fields of an entry are sent; if the entry is not there, it is rewritten."""
    store, _ = counted
    prog = f.programme("PEL-L", jp=24, certificate=True)
    person = f.participant(80, "DINKES")
    events = scenario_events([f.published(prog), f.enrolled("l1", prog, person),
                              f.completed("l1", prog, person, "passed"),
                              f.certified("kl1", "l1", prog, person, "NL1")])
    for event in events[:3]:
        apply_event(store, f.parsed(event), cfg)
    rm = current_models(store.db)
    rm.ledger_entries.delete_one({"_id": "l1"})

    apply_event(store, f.parsed(events[3]), cfg)

    entry = rm.ledger_entries.find_one({"_id": "l1"})
    assert (entry["agency"], entry["jp"], entry["certificate_number"]) == ("DINKES", 24, "NL1")


def test_roster_events_stay_within_their_budgets_and_write_no_shared_counter(counted, cfg):
    store, counter = counted
    prog = f.programme("PEL-R", jp=24)
    person = f.participant(75, "SETDA")
    items = [f.published(prog), f.registered(f.roster_entry(person)), f.enrolled("r0", prog, person),
             f.completed("r0", prog, person, "passed"),
             f.updated({**f.roster_entry(person, agency="DINKES"), "version": 2}, ["agency"]),
             f.updated({**f.roster_entry(person, agency="DINKES", golongan="III/d"), "version": 3}, ["golongan"])]
    per_event = [apply_counting(store, counter, event, cfg) for event in scenario_events(items)]
    registered, moved, same = per_event[1], per_event[4], per_event[5]

    assert sum(registered.values()) <= MAX_COMMANDS["asn_registered"], dict(registered)
    assert sum(moved.values()) <= MAX_COMMANDS["asn_updated_move"], dict(moved)
    assert sum(same.values()) <= MAX_COMMANDS["asn_updated_same_standing"], dict(same)
    assert not shared_counters_written(counter)
    fold_now(store)
    rows = {r["agency"]: r for r in queries.compliance(current_models(store.db), cfg, 2026)["agencies"]}
    assert (rows["DINKES"]["rostered_asn"], rows["DINKES"]["jp_total"], rows["SETDA"]["rostered_asn"]) == (1, 24, 0)


def test_an_event_reaches_a_generation_a_rebuild_starts_after_this_process_read_the_pointer(counted, cfg):
    """The pointer is cached between events but read again in each event's transaction: an
    event applied after ``building`` is committed reaches the building generation too, and
    after the swap only the new current one."""
    store, counter = counted
    prog = f.programme("PEL-G", jp=12)
    person = f.participant(90, "DINKES")
    first, second, third = scenario_events([f.enrolled("g1", prog, person), f.completed("g1", prog, person, "passed"),
                                            f.enrolled("g2", prog, person)])
    apply_counting(store, counter, first, cfg)  # generation 1 only, as this process knows
    create_read_model_indexes(store.db, 2)
    reporting_commands.start_building(store.db, 2)

    apply_counting(store, counter, second, cfg, generations=2)

    processed = store.db.processed_events
    assert processed.count_documents({"event_id": second["id"], "consumer": {"$in": [consumer_of(1), consumer_of(2)]}}) == 2
    assert ReadModels(store.db, 2).enrolments.find_one({"_id": "g1"})["status"] == "completed"
    reporting_commands.make_current(store.db, 2, previous=1, jp_target=cfg.jp_target)

    apply_counting(store, counter, third, cfg)

    assert ReadModels(store.db, 2).enrolments.find_one({"_id": "g2"})["status"] == "enrolled"
    assert ReadModels(store.db, 1).enrolments.find_one({"_id": "g2"}) is None


def test_a_store_without_cross_collection_bulk_writes_gets_one_write_per_collection_and_the_same_figures(
        counted, cfg, settings, monkeypatch):
    """MongoDB before 8.0 has no bulkWrite across collections (the deploy manifests' 7.0):
    the same writes go as one bulk_write per collection, in order, to the same read models."""
    store, counter = counted
    events = scenario_events(burst())
    for event in events:
        apply_event(store, f.parsed(event), cfg)
    fold_now(store)
    expected = figures(store, cfg)

    older = Store(store.client, replace(settings, db_name=f"{settings.db_name}_{uuid.uuid4().hex[:6]}"))
    create_indexes(older.db)
    apply_event(older, f.parsed(f.cloud_event(*f.published(f.programme("WARM")))), cfg)  # as the fixture did
    monkeypatch.setattr(reporting_store, "_NO_CLIENT_BULK", {frozenset(store.client.nodes)})
    per_event = [apply_counting(older, counter, event, cfg) for event in events]
    fold_now(older)

    assert figures(older, cfg) == expected
    assert not [c for commands in per_event for c in commands if c.startswith("bulkWrite")]
    completed = per_event[3]  # writes its enrolment, ASN, ASN-year, ledger entry and counter delta
    assert sum(completed.values()) == 3 + 5, dict(completed)  # record, read, commit; five writes
