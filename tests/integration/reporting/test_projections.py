"""The projection code against the real store: order independence, duplicates, moves."""
from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from services.reporting import queries
from services.reporting.store import create_indexes, current_models
from shared.store import Store, connect
from tests.integration.reporting import scenario
from tests.integration.reporting.conftest import apply_directly, figures, scenario_events, shuffled_with_duplicates
from tests.unit.reporting import factory as f


@pytest.fixture
def fresh_store(settings):
    """A store in a database of its own, each call."""
    clients = []

    def make() -> Store:
        client = connect(settings)
        clients.append(client)
        s = Store(client, replace(settings, db_name=f"{settings.db_name}_{uuid.uuid4().hex[:6]}"))
        create_indexes(s.db)
        return s

    yield make
    for client in clients:
        client.close()


def test_any_arrival_order_with_duplicates_gives_the_same_figures_as_the_natural_order(fresh_store, cfg):
    events = scenario_events(scenario.with_roster())
    natural = fresh_store()
    apply_directly(natural, events, cfg)
    expected = figures(natural, cfg)

    for seed in (1, 2):
        other = fresh_store()
        apply_directly(other, shuffled_with_duplicates(events, seed), cfg)
        assert figures(other, cfg) == expected

    reversed_order = fresh_store()  # every completed before its enrolled, revoked before certified
    apply_directly(reversed_order, list(reversed(events)), cfg)
    assert figures(reversed_order, cfg) == expected


def test_the_scenario_gives_the_hand_computed_compliance(fresh_store, cfg):
    store = fresh_store()
    apply_directly(store, scenario_events(scenario.with_roster()), cfg)
    report = queries.compliance(current_models(store.db), cfg, 2026)

    rows = {r["agency"]: r for r in report["agencies"] if r["known_asn"]}
    assert set(rows) == set(scenario.AGENCIES_2026)
    for code, expected in scenario.AGENCIES_2026.items():
        assert {k: rows[code][k] for k in expected} == expected, code
    assert {k: report["totals"][k] for k in scenario.TOTALS_2026} == scenario.TOTALS_2026
    assert report["totals"]["distribution"] == scenario.DISTRIBUTION_2026
    # the programme that ended at 00:00 WIB on 1 January counts for 2026, not for 2025
    assert rows["DINKES"]["distribution"]["5-9"] == 1
    last_year = {r["agency"]: r for r in queries.compliance(current_models(store.db), cfg, 2025)["agencies"]
                 if r["known_asn"]}
    # 2025: everyone on the roster but N1 (TMT February 2026); only B2 earned JP (12)
    assert {c: (r["known_asn"], r["never_enrolled"], r["jp_total"]) for c, r in last_year.items()} == \
        {"DISKOMINFO": (4, 4, 0), "SETDA": (3, 2, 12), "DINKES": (2, 1, 0)}


def test_competency_type_and_kind_filters_count_only_that_slice(fresh_store, cfg):
    store = fresh_store()
    apply_directly(store, scenario_events(scenario.with_roster()), cfg)
    rm = current_models(store.db)

    teknis = {r["agency"]: r for r in queries.compliance(rm, cfg, 2026, competency_type="teknis")["agencies"]}
    assert (teknis["DISKOMINFO"]["jp_total"], teknis["DISKOMINFO"]["met_target"]) == (24, 1)
    assert (teknis["SETDA"]["jp_total"], teknis["SETDA"]["met_target"]) == (24, 1)
    assert teknis["DINKES"]["jp_total"] == 0

    seminars = {r["agency"]: r for r in queries.compliance(rm, cfg, 2026, kind="seminar")["agencies"]}
    assert (seminars["SETDA"]["jp_total"], seminars["SETDA"]["asn_with_jp"], seminars["SETDA"]["met_target"]) == (8, 2, 0)
    assert seminars["DISKOMINFO"]["jp_total"] == 4


def test_programme_stats_count_each_enrolment_by_its_latest_state(fresh_store, cfg):
    store = fresh_store()
    apply_directly(store, scenario_events(scenario.with_roster()), cfg)
    stats = queries.programme_stats(current_models(store.db), "PEL-A-2026")
    assert {k: stats[k] for k in scenario.PEL_A_STATS} == scenario.PEL_A_STATS
    assert stats["status"] == "published"


def test_an_asn_who_moved_agency_counts_in_the_new_agency_whatever_the_arrival_order(fresh_store, cfg):
    prog = f.programme("PEL-X", jp=24)
    before_move = f.participant(40, "SETDA")
    after_move = f.participant(40, "DISKOMINFO")
    items = [f.enrolled("x1", prog, before_move), f.completed("x1", prog, before_move, "passed"),
             f.enrolled("x2", prog, after_move, at="2026-06-01T01:00:00Z")]
    events = scenario_events(items)  # later event time = the newer identity

    for order in (events, list(reversed(events))):
        store = fresh_store()
        apply_directly(store, order, cfg)
        rm = current_models(store.db)
        rows = {r["agency"]: r for r in queries.compliance(rm, cfg, 2026)["agencies"]}
        assert (rows["DISKOMINFO"]["known_asn"], rows["DISKOMINFO"]["met_target"], rows["DISKOMINFO"]["jp_total"]) \
            == (1, 1, 24)
        assert (rows["SETDA"]["known_asn"], rows["SETDA"]["jp_total"]) == (0, 0)
        ledger = queries.ledger(rm, cfg, after_move["nip"], 2026)
        assert ledger["agency"] == "DISKOMINFO"
        assert ledger["years"][0]["entries"][0]["agency_at_completion"] == "SETDA"


def test_a_revoked_certificate_shows_in_the_ledger_and_the_jp_stays(fresh_store, cfg):
    store = fresh_store()
    apply_directly(store, scenario_events(scenario.with_roster()), cfg)
    rm = current_models(store.db)
    ledger = queries.ledger(rm, cfg, scenario.B1["nip"], 2026)
    year = ledger["years"][0]
    assert (year["jp_total"], year["target_met"]) == (28, True)
    pel = next(e for e in year["entries"] if e["programme_code"] == "PEL-A-2026")
    assert (pel["certificate_number"], pel["certificate_status"]) == ("0002/BKN-BKT/SERT-PBJ/2026", "revoked")
    certs = queries.certificates_by_month(rm, 2026)
    months = {m["month"]: m for m in certs["months"]}
    assert (months["2026-03"]["issued"], months["2026-04"]["revoked"]) == (2, 1)
    expiring = {m["month"]: m for m in queries.certificates_by_month(rm, 2029)["months"]}
    assert expiring["2029-03"]["expiring"] == 1  # A1's valid certificate; B1's is revoked


def test_a_duplicate_event_is_skipped_and_changes_nothing(fresh_store, cfg):
    store = fresh_store()
    events = scenario_events(scenario.with_roster())
    apply_directly(store, events, cfg)
    before = figures(store, cfg)
    from services.reporting.usecases import apply_event
    assert apply_event(store, f.parsed(events[5]), cfg) == 0
    assert figures(store, cfg) == before
