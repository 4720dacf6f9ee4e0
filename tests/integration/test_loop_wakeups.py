"""What wakes a background loop (shared/background.py, issue 23): a change another client
commits, not a poll; a replica that does not lead waits for the holder's term instead of
trying on every interval; a loop without a change stream polls as before; a lease is trusted
without a command for the first half of its term. On the real store (SecantusDB)."""
from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta

import pytest
from nameko.containers import ServiceContainer
from pymongo import MongoClient, monitoring
from pymongo.errors import OperationFailure

from shared.background import LEASES, Background, Lease, LeasedLoop, StoreClock
from shared.config import load
from shared.mongo import connect
from tests.support import wait_for


@pytest.fixture
def db(mongo_client, db_prefix):
    database = mongo_client[f"{db_prefix}wakeups"]
    database[LEASES].delete_many({})
    database.inbox.delete_many({})
    return database


@pytest.fixture
def settings(db, service_env):
    # A long safety poll: a pass while the stream runs can only come from a change.
    return replace(load("enrollment"), mongo_uri=service_env["MONGO_URI"], db_name=db.name,
                   amqp_uri=service_env["AMQP_URI"], loop_idle_poll_s=600.0, loop_watch_await_s=1.0)


class Inbox:
    """A job that remembers, for each pass, how many records the inbox held."""

    passes: list[int] = []
    streams = True

    def __init__(self, settings):
        self.client = connect(settings)
        self.db = self.client[settings.db_name] if Inbox.streams else NoStreams(self.client[settings.db_name])

    def run_once(self) -> int:
        Inbox.passes.append(self.db.inbox.count_documents({}))
        return 0

    def drain(self) -> None:
        pass

    def close(self) -> None:
        self.client.close()


class NoStreams:
    """A database whose change streams cannot be opened (a store without them)."""

    def __init__(self, db):
        self._db = db

    def __getitem__(self, name):
        return self._db[name]

    def __getattr__(self, name):
        return getattr(self._db, name)

    def watch(self, *args, **kwargs):
        raise OperationFailure("The $changeStream stage is only supported on replica sets")


class Watching:
    name = "watching"
    loop = Background(LeasedLoop("inbox", Inbox, lease="inbox", lease_s=1.0, interval_s=0.1,
                                 watch=("inbox",), watch_operations=("insert",)))


@pytest.fixture
def start(settings):
    started = []

    def start_container(streams: bool = True) -> LeasedLoop:
        Inbox.passes, Inbox.streams = [], streams
        container = ServiceContainer(Watching, settings.nameko_config())
        container.start()
        started.append(container)
        return container.shared_extensions[(LeasedLoop, "inbox")]

    yield start_container
    for container in started:
        container.stop()


def test_a_leading_loop_runs_a_pass_for_a_record_another_client_inserts_and_none_while_nothing_changes(db, start):
    loop = start()
    wait_for(lambda: loop._stream_ok and len(Inbox.passes) >= 2, message="the stream open and its first pass")
    time.sleep(0.5)  # the stream's wakes after opening are over
    before = len(Inbox.passes)
    time.sleep(1.5)  # 15 of the loop's intervals, and its lease of 1 s lapses meanwhile
    assert len(Inbox.passes) == before  # no poll
    db.inbox.insert_one({"text": "work for the loop"})
    wait_for(lambda: Inbox.passes[-1] == 1, message="a pass that found the new record")
    # the idle holder's lapsed term was taken again by that pass
    assert db[LEASES].find_one({"_id": "inbox"})["holder"] == loop.lease.holder
    assert loop.lease.trusted()


def test_a_replica_that_does_not_lead_ignores_wakes_and_takes_over_when_the_holders_term_ends(db, start):
    holder = Lease(db[LEASES], "inbox", "another-replica", seconds=2.0)
    assert holder.acquire()
    loop = start()
    for _ in range(5):
        loop.wake()
        time.sleep(0.1)
    assert Inbox.passes == []  # the other replica's term still runs
    wait_for(lambda: Inbox.passes, timeout=10, message="a pass once the other replica's term ended")
    assert db[LEASES].find_one({"_id": "inbox"})["holder"] == loop.lease.holder


def test_a_loop_whose_change_stream_cannot_open_polls_on_its_interval(db, start):
    loop = start(streams=False)
    wait_for(lambda: len(Inbox.passes) >= 5, message="passes on the loop's interval")
    assert not loop._stream_ok
    db.inbox.insert_one({"text": "found by a poll"})
    wait_for(lambda: Inbox.passes[-1] == 1, message="a poll that found the new record")


class Commands(monitoring.CommandListener):
    def __init__(self):
        self.names: list[str] = []

    def started(self, event):
        self.names.append(event.command_name)

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


def test_a_lease_is_trusted_without_a_command_for_the_first_half_of_its_term(db, mongo_uri):
    commands = Commands()
    client = MongoClient(mongo_uri, tz_aware=True, event_listeners=[commands])
    try:
        lease = Lease(client[db.name][LEASES], "trusted", "me", seconds=1.0, clock=StoreClock(client[db.name]))
        assert lease.acquire()
        commands.names.clear()
        assert all(lease.held() for _ in range(20))
        assert commands.names == []  # nobody can have taken it: no read, no write
        time.sleep(0.6)  # past half the term
        assert lease.held()
        assert commands.names == ["findAndModify"]  # renewed
        until = client[db.name][LEASES].find_one({"_id": "trusted"})["until"]
        assert until > lease.clock.now() + timedelta(seconds=0.5)
    finally:
        client.close()
