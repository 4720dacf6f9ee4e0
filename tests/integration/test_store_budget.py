"""The store's work per completion stays within its budget (issue 23).

The four services run as processes (deploy.launcher.Stack) on the real SecantusDB and
RabbitMQ, with the benchmark's settings; K completions of a certifying programme go through
end to end (certificate, two emails, ledger entry each) and every service's /metrics says
how many store commands each context sent (shared.metrics: a reliable handler's event, an
HTTP route, a background loop). The store serialises every command and is the pipeline's
bound, so a change that adds a round trip to the path of a completion must show here: each
budget is the figure measured when it was written plus less than one command.

The background loops are budgeted by their idle rate (commands per second with nothing to
do): their work per completion depends on how many records one pass finds, which depends
on timing; bench/pipeline.py measures it at scale.
"""
from __future__ import annotations

import time

import pytest

from bench import store_commands
from bench.common import SERVICE_ENV, MailSink, make_people
from bench.pipeline import Scenario, settle
from deploy.launcher import Stack, free_ports
from shared.config import SERVICES

K = 20
# Below one command: one more round trip per event fails the test, while a transaction retried
# after a write conflict now and then (a few commands over K events) does not.
HEADROOM = 0.9
COMPLETION = "http:POST /enrolments/<string:enrolment_id>/completion"
# Commands per event handled (per request for the route), as measured on 2026-12-08 (f1f9dd7).
PER_EVENT = {
    ("enrollment", COMPLETION): 4,  # enrolment and programme in one aggregate (R4, issue 23)
    ("certification", "event:enrollment.completed"): 3,  # one upsert, no looks (R4, issue 23)
    ("notification", "event:enrollment.completed"): 7,  # agency in one upsert, deliveries in one insert (R2)
    ("notification", "event:certification.certified"): 6,  # the message is inserted in the inbox (R2)
    # apply_once's record, one read (pointer and state documents), one bulkWrite, commit (R3)
    ("reporting", "event:enrollment.completed"): 4,
    ("reporting", "event:certification.certified"): 4,
}
# Commands per completion of what a completion's events and requests cause in each service
# (handlers, routes, and notification's sends, which run in the delivery pool's green
# threads and so count as "other" until that pool carries the loop's context).
# notification: 7 + 6 + the sends, about 4 (3 per email alone; outcomes accepted together are
# recorded together, R2).
# reporting: 4 + 4 (R3).
PER_COMPLETION = {"enrollment": 4, "certification": 3, "notification": 17, "reporting": 8}
# Store commands per second with nothing to do, per service (measured; + about 20 %). The
# loops poll on fixed intervals, so a slower machine only lowers these.
IDLE_PER_S = {"enrollment": 5.6, "certification": 13.6, "notification": 9.6, "reporting": 24.4}
IDLE_SECONDS = 15.0


@pytest.fixture(scope="module")
def mail():
    sink = MailSink().start()
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
def stack(mongo_uri, amqp_uri, db_prefix, mail, tmp_path_factory):
    env = {**SERVICE_ENV, "NOTIFICATION_SMTP_PORT": str(mail.port)}
    with Stack(mongo_uri=mongo_uri, amqp_uri=amqp_uri, db_prefix=db_prefix, ports=free_ports(),
               log_dir=tmp_path_factory.mktemp("store-budget-logs"), extra_env=env, ready_timeout=120) as running:
        yield running


@pytest.fixture(scope="module")
def counted(stack, mongo_uri, amqp_uri, db_prefix, mail):
    """K completions end to end; the store commands they cost, per service and context."""
    scenario = Scenario(stack, mongo_uri, db_prefix, amqp_uri, mail, "BUDGET-PBJ", stall_s=60)
    urls = {s: stack.url(s) for s in SERVICES}
    ids = scenario.setup(make_people(K), timeout=300)
    settle(scenario, urls)
    before = store_commands.scrape_all(urls)
    result = scenario.measure(ids, concurrency=2, rate=None, timeout=300)
    settle(scenario, urls)
    delta = store_commands.deltas(before, store_commands.scrape_all(urls))
    yield scenario, urls, result, delta
    scenario.close()


def test_every_completion_gets_its_certificate_emails_and_ledger_entry_exactly_once(counted):
    _, _, result, _ = counted
    losses = result["losses"]
    assert result["complete"], losses
    assert (losses["missing_total"], losses["doubled_total"]) == (0, 0), losses


def test_each_event_and_the_completion_request_cost_no_more_store_commands_than_measured(counted):
    _, _, _, delta = counted
    table = store_commands.per_completion(delta, K)
    over = {}
    for (service, context), budget in PER_EVENT.items():
        row = table["services"][service]["contexts"].get(context)
        assert row is not None, f"{service} sent no store command under {context}: {table['services'][service]}"
        per_event = row.get("commands_per_event", row["commands"])  # a route: per request (one per completion)
        if per_event > budget + HEADROOM:
            over[(service, context)] = (per_event, budget)
    assert not over, f"store commands per event over budget (measured, budget): {over}"


def test_what_a_completion_causes_in_each_service_stays_within_its_budget(counted):
    _, _, _, delta = counted
    table = store_commands.per_completion(delta, K)
    caused = {service: round(sum(row["commands"] for context, row in s["contexts"].items()
                                 if context.startswith(("event:", "http:")) or context == "other"), 2)
              for service, s in table["services"].items()}
    over = {s: (caused[s], budget) for s, budget in PER_COMPLETION.items() if caused.get(s, 0) > budget + HEADROOM}
    assert not over, f"store commands per completion over budget (measured, budget): {over}; {caused}"


def test_with_nothing_to_do_the_services_poll_the_store_no_more_than_measured(counted):
    scenario, urls, _, _ = counted
    settle(scenario, urls)
    before = store_commands.scrape_all(urls)
    time.sleep(IDLE_SECONDS)
    idle = store_commands.per_second(store_commands.deltas(before, store_commands.scrape_all(urls)))
    rates = {s: idle["services"][s]["commands_per_s"] for s in SERVICES}
    over = {s: (rates[s], budget) for s, budget in IDLE_PER_S.items() if rates[s] > budget}
    assert not over, f"idle store commands per second over budget (measured, budget): {over}; {idle['services']}"
