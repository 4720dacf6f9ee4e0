"""The access log (shared/access_log.py) on a real store: the whole log newest first, a page
at a time, every record exactly once across days, gaps and the ``since`` bound."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from shared import access_log
from shared.access_log import AccessLogQuery
from shared.auth import Principal
from shared.errors import Invalid

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=timezone.utc)
ADMIN = Principal(subject="admin:bkn", role="admin")
SUPERVISOR = Principal(subject="198001012005011001", role="asn", nip="198001012005011001")


@pytest.fixture
def db(mongo_client, request):
    database = mongo_client[f"access_log_{request.node.name[:40]}"]
    access_log.ensure_indexes(database)
    yield database
    mongo_client.drop_database(database.name)


def _walk(db, **filters) -> list[dict]:
    seen, cursor = [], None
    for _ in range(50):
        query = AccessLogQuery().load({"limit": "2", **filters, **({"cursor": cursor} if cursor else {})})
        page = access_log.list_reads(db, query)
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("the pages never ended")


def test_the_whole_log_is_listed_newest_first_across_days_each_record_once(db):
    written = []  # oldest first, as reads happen
    for days_ago, nip in ((46, "199001012015011006"), (45, "199001012015011005"), (3, "199001012015011004"),
                          (1, "199001012015011003"), (0, "199001012015011002"), (0, "199001012015011001")):
        access_log.record_reads(db, ADMIN, [nip], "ledger", now=NOW - timedelta(days=days_ago))
        written.insert(0, nip)
    # a person's own read is not recorded
    assert access_log.record_read(db, Principal(subject="x", role="asn", nip=written[0]), written[0], "inbox") == 0
    assert db.access_log.count_documents({}) == 6

    listed = _walk(db)

    assert [item["subject_nip"] for item in listed] == written  # newest first, each once, across the gap
    assert all(item["reader"]["subject"] == "admin:bkn" and item["what"] == "ledger" for item in listed)


def test_since_bounds_the_walk_and_a_filter_by_person_or_reader_pages_by_its_index(db):
    access_log.record_reads(db, SUPERVISOR, ["199001012015011001", "199001012015011002"], "team",
                            now=NOW - timedelta(days=10))
    access_log.record_reads(db, ADMIN, ["199001012015011001"], "certificates", "0001/BKN-BKT/SERT/2026", now=NOW)

    recent = _walk(db, since=(NOW - timedelta(days=2)).isoformat())
    by_person = _walk(db, nip="199001012015011001")
    by_reader = _walk(db, reader=SUPERVISOR.subject)

    assert [(r["subject_nip"], r["what"]) for r in recent] == [("199001012015011001", "certificates")]
    assert [r["what"] for r in by_person] == ["certificates", "team"]
    assert sorted(r["subject_nip"] for r in by_reader) == ["199001012015011001", "199001012015011002"]


def test_a_cursor_not_given_out_is_refused_naming_the_cursor(db):
    with pytest.raises(Invalid) as refused:
        access_log.list_reads(db, AccessLogQuery().load({"cursor": "bm90LWEtY3Vyc29y"}))
    assert refused.value.field == "cursor"


def test_a_log_longer_than_a_block_pages_through_every_record_once_newest_first(db):
    # a supervisor's team of 130 read three times: 390 records over four numbered blocks
    team = [f"1990010120150110{n:02d}"[:15] + f"{n:03d}" for n in range(1, 131)]
    for minutes in (30, 20, 10):
        access_log.record_reads(db, SUPERVISOR, team, "team", now=NOW - timedelta(minutes=minutes))

    seen, cursor = [], None
    while True:
        query = AccessLogQuery().load({"limit": "100", **({"cursor": cursor} if cursor else {})})
        page = access_log.list_reads(db, query)
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    recent = access_log.list_reads(db, AccessLogQuery().load({"since": (NOW - timedelta(minutes=15)).isoformat()}))

    assert len(seen) == 390 and len({item["id"] for item in seen}) == 390
    assert [item["at"] for item in seen] == sorted((item["at"] for item in seen), reverse=True)
    assert len(recent["items"]) == 100 and recent["next_cursor"] is not None  # 130 newer than 15 min, a page of 100
