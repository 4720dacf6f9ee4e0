"""shared.store helpers against the real store."""
from __future__ import annotations

from shared.store import update_by_id


def test_update_by_id_returns_the_updated_document_and_none_when_nothing_matched(mongo_client, db_prefix):
    coll = mongo_client[f"{db_prefix}helpers"]["seats"]
    coll.insert_one({"_id": "PEL-1", "taken": 3, "open": True})

    assert update_by_id(coll, "PEL-1", {"$inc": {"taken": 1}}) == {"_id": "PEL-1", "taken": 4, "open": True}
    # A claim: only while the condition holds; a second claim finds nothing and changes nothing.
    assert update_by_id(coll, "PEL-1", {"$set": {"open": False}}, condition={"open": True})["open"] is False
    assert update_by_id(coll, "PEL-1", {"$inc": {"taken": 1}}, condition={"open": True}) is None
    assert update_by_id(coll, "NOPE", {"$inc": {"taken": 1}}) is None
    assert coll.find_one({"_id": "PEL-1"}) == {"_id": "PEL-1", "taken": 4, "open": False}
    assert coll.count_documents({}) == 1


def test_update_by_id_inside_a_transaction_is_rolled_back_with_it(mongo_client, db_prefix):
    coll = mongo_client[f"{db_prefix}helpers"]["counters"]
    coll.insert_one({"_id": "number:2026", "seq": 41})
    with mongo_client.start_session() as session:
        session.start_transaction()
        assert update_by_id(coll, "number:2026", {"$inc": {"seq": 1}}, session)["seq"] == 42
        session.abort_transaction()
    assert coll.find_one({"_id": "number:2026"})["seq"] == 41
