"""Hot counters split into shards (docs/performance.md): the figures a user reads stay exact."""
from __future__ import annotations

import uuid
from dataclasses import replace


from services.reporting import queries
from services.reporting.domain import logical_id
from services.reporting.store import create_indexes, current_models
from shared.store import Store, connect
from tests.integration.reporting.conftest import apply_directly, scenario_events
from tests.unit.reporting import factory as f


def test_sixty_enrolments_spread_over_shards_still_count_sixty_in_programme_and_compliance(fresh_store, cfg):
    prog = f.programme("PEL-S", jp=24)
    items = [f.published(prog, capacity=100)]
    for i in range(60):
        person = f.participant(i, "DISKOMINFO" if i % 2 else "SETDA")
        items += [f.enrolled(f"s{i}", prog, person), f.completed(f"s{i}", prog, person, "passed")]
    apply_directly(fresh_store, scenario_events(items), cfg)
    rm = current_models(fresh_store.db)

    assert rm.programme_stats.count_documents({"code": "PEL-S"}) > 1  # really sharded
    stats = queries.programme_stats(rm, "PEL-S")
    assert (stats["completed"], stats["passed"], stats["enrolled"]) == (60, 60, 0)
    listed = queries.programmes(rm, 2026)[0]
    assert [(p["code"], p["completed"]) for p in listed] == [("PEL-S", 60)]
    rows = {r["agency"]: r for r in queries.compliance(rm, cfg, 2026)["agencies"]}
    assert (rows["SETDA"]["known_asn"], rows["SETDA"]["met_target"], rows["SETDA"]["jp_total"]) == (30, 30, 720)
    assert rows["DISKOMINFO"]["jp_by_kind"]["pelatihan"] == 720
    march = {m["month"]: m for m in queries.monthly(rm, 2026)}["2026-03"]
    assert (march["completions"], march["jp_credited"]) == (60, 1440)


def test_an_enrolment_projected_before_sharding_takes_back_its_count_from_the_old_document(fresh_store, cfg):
    prog = f.programme("PEL-L")
    person = f.participant(7)
    events = scenario_events([f.published(prog), f.enrolled("l1", prog, person),
                              f.cancelled("l1", prog, person, at="2026-01-21T04:00:00Z")])
    apply_directly(fresh_store, events[:2], cfg)
    rm = current_models(fresh_store.db)
    # Rewrite what was projected into the layout of a read model built before sharding.
    for shard in list(rm.programme_stats.find({"code": "PEL-L"})):
        rm.programme_stats.delete_one({"_id": shard["_id"]})
        rm.programme_stats.update_one({"_id": "PEL-L"}, {"$inc": {"enrolled": shard["enrolled"]},
                                                         "$set": {"code": "PEL-L"}}, upsert=True)
    doc = rm.enrolments.find_one({"_id": "l1"})
    old_layout = [[coll, logical_id(coll, _id), fields] for coll, _id, fields in doc["contrib"]]
    rm.enrolments.update_one({"_id": "l1"}, {"$set": {"contrib": old_layout}})

    apply_directly(fresh_store, events[2:], cfg)

    stats = queries.programme_stats(rm, "PEL-L")
    assert (stats["enrolled"], stats["cancelled"]) == (0, 1)
    assert rm.programme_stats.find_one({"_id": "PEL-L"})["enrolled"] == 0


def test_the_catalogue_shows_the_latest_programme_state_whatever_the_arrival_order(fresh_store, cfg, settings):
    before = f.programme("PEL-C", title="Judul lama")
    after = f.programme("PEL-C", title="Judul baru")
    published = f.published(before)
    updated = ("programme_updated", {**f.published(after)[1]})
    items = [published, f.enrolled("c1", before, f.participant(1)), updated,
             f.enrolled("c2", after, f.participant(2))]
    events = scenario_events(items)
    client = connect(settings)
    try:
        for order in (events, list(reversed(events)), [events[1], events[3], events[0], events[2]]):
            store = Store(client, replace(settings, db_name=f"{settings.db_name}_{uuid.uuid4().hex[:6]}"))
            create_indexes(store.db)
            apply_directly(store, order, cfg)
            listed = queries.programmes(current_models(store.db), 2026)[0]
            assert [(p["code"], p["title"], p["enrolled"]) for p in listed] == [("PEL-C", "Judul baru", 2)]
    finally:
        client.close()


def test_enrolment_events_alone_fill_the_catalogue_until_the_programme_event_arrives(fresh_store, cfg):
    prog = f.programme("PEL-E", title="Pelatihan Tanpa Pengumuman")
    apply_directly(fresh_store, scenario_events([f.enrolled("e1", prog, f.participant(3))]), cfg)
    stats = queries.programme_stats(current_models(fresh_store.db), "PEL-E")
    assert (stats["title"], stats["enrolled"], stats["status"]) == ("Pelatihan Tanpa Pengumuman", 1, "unknown")


def test_known_asn_counted_in_the_old_sharded_cohorts_move_to_the_agency_headcounts_at_start_up(fresh_store, cfg):
    from services.reporting import store as reporting_store
    from services.reporting.domain import shard_of

    prog = f.programme("PEL-M", jp=24)
    people = [f.participant(i, "SETDA" if i < 3 else "DISKOMINFO") for i in range(5)]
    items = [f.published(prog, capacity=10)]
    for i, person in enumerate(people):
        # On the roster since 2026: the headcount is the roster's (issue 19).
        items += [f.registered(f.roster_entry(person, tmt="2026-01-02")),
                  f.enrolled(f"m{i}", prog, person), f.completed(f"m{i}", prog, person, "passed")]
    apply_directly(fresh_store, scenario_events(items), cfg)
    rm = current_models(fresh_store.db)
    # Rewrite the headcounts into the layout of an earlier release: per (year, agency), sharded.
    old = rm.db[f"rm{rm.generation}_{reporting_store.OLD_COHORTS}"]
    for asn in rm.asns.find():
        key = f"{asn['first_seen_year']}|{asn['agency']}#{shard_of(asn['_id'])}"
        old.update_one({"_id": key}, {"$inc": {"new_asn": 1},
                                      "$set": {"year": asn["first_seen_year"], "agency": asn["agency"]}}, upsert=True)
        contrib = [c for c in asn["contrib"] if c[0] != "agency_headcounts"]
        contrib.append([reporting_store.OLD_COHORTS, key, [["new_asn", 1]]])
        rm.asns.update_one({"_id": asn["_id"]}, {"$set": {"contrib": contrib}})
    rm.agency_headcounts.drop()
    assert queries.known_asn(rm, 2026) == {}  # what the new release would read before migrating

    reporting_store.create_indexes(fresh_store.db)

    assert queries.known_asn(rm, 2026) == {"SETDA": 3, "DISKOMINFO": 2}
    assert queries.known_asn(rm, 2025) == {"SETDA": 0, "DISKOMINFO": 0}
    assert old.name not in rm.db.list_collection_names()
    # A second start finds nothing to move; a later event of a moved ASN changes nothing twice.
    reporting_store.create_indexes(fresh_store.db)
    again = scenario_events([f.completed("m0", prog, people[0], "passed", at="2026-03-20T04:00:00Z")])
    apply_directly(fresh_store, again, cfg)
    rows = {r["agency"]: r for r in queries.compliance(rm, cfg, 2026)["agencies"]}
    assert (rows["SETDA"]["known_asn"], rows["DISKOMINFO"]["known_asn"]) == (3, 2)
