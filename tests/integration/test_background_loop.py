"""The one leased background loop of shared/background.py: leases judged by the store's
clock, handed over at a graceful stop, and a loop that runs only while it leads."""
from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from nameko.containers import ServiceContainer

from shared.background import LEASES, Background, Lease, LeasedLoop, StoreClock
from shared.config import load
from shared.mongo import connect
from tests.support import wait_for


@pytest.fixture
def db(mongo_client, db_prefix):
    database = mongo_client[f"{db_prefix}background"]
    database[LEASES].delete_many({})
    return database


def test_only_one_holder_leads_until_the_lease_expires_by_the_stores_clock(db):
    first, second = (Lease(db[LEASES], "job", holder, seconds=0.5) for holder in ("a", "b"))
    assert first.acquire() and not second.acquire()
    assert isinstance(db[LEASES].find_one({"_id": "job"})["until"], datetime)  # store time, not a float
    time.sleep(0.6)
    assert second.acquire() and not first.held()


def test_a_release_hands_the_lease_over_at_once(db):
    first, second = (Lease(db[LEASES], "job", holder, seconds=30) for holder in ("a", "b"))
    assert first.acquire() and not second.acquire()
    first.release()
    assert second.acquire()


def test_a_lease_written_by_the_earlier_version_counts_as_expired(db):
    db[LEASES].insert_one({"_id": "job", "holder": "old-replica", "until": time.time() + 3600})
    assert Lease(db[LEASES], "job", "new", seconds=10).acquire()


def test_the_store_clock_follows_the_server_not_this_process(db):
    clock = StoreClock(db)
    server = db.client.admin.command("hello")["localTime"].replace(tzinfo=timezone.utc)
    assert abs(clock.now() - server) < timedelta(seconds=2)


class Counter:
    """A job that counts its passes and remembers its last pass at a graceful stop."""

    passes: list[str] = []

    def __init__(self, settings):
        self.client = connect(settings)
        self.db = self.client[settings.db_name]

    def run_once(self) -> int:
        Counter.passes.append("pass")
        return 0

    def drain(self) -> None:
        Counter.passes.append("drain")

    def close(self) -> None:
        self.client.close()


class Ticking:
    name = "ticking"
    loop = Background(LeasedLoop("counter", Counter, lease="counter", lease_s=5, interval_s=0.05))


def test_a_leased_loop_runs_while_it_leads_and_drains_and_hands_over_at_a_graceful_stop(db, service_env):
    settings = replace(load("enrollment"), mongo_uri=service_env["MONGO_URI"], db_name=db.name,
                       amqp_uri=service_env["AMQP_URI"])
    Counter.passes = []
    container = ServiceContainer(Ticking, settings.nameko_config())
    container.start()
    wait_for(lambda: Counter.passes.count("pass") >= 3, message="passes while leading")
    container.stop()
    assert Counter.passes[-1] == "drain"
    assert Lease(db[LEASES], "counter", "next-replica", seconds=5).acquire()  # handed over at once

    # another replica holds the lease: this one does no pass
    Counter.passes = []
    db[LEASES].update_one({"_id": "counter"}, {"$set": {"holder": "other", "until": datetime(2100, 1, 1,
                                                                                            tzinfo=timezone.utc)}})
    container = ServiceContainer(Ticking, settings.nameko_config())
    container.start()
    time.sleep(0.5)
    container.stop()
    assert Counter.passes == []
