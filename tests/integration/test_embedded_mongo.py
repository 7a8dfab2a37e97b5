"""The embedded store's engines (deploy/local/embedded_mongo.py) skip mongoeco's scan of every
stored `_id` on each write, and still refuse every duplicate id."""

import pytest
from bson import ObjectId
from mongoeco.wire import AsyncMongoEcoProxyServer
from pymongo import AsyncMongoClient
from pymongo.errors import BulkWriteError, DuplicateKeyError

from deploy.local.embedded_mongo import ExactIdMemoryEngine, ExactIdSQLiteEngine


@pytest.fixture(params=["memory", "sqlite"])
async def collection(request, tmp_path):
    engine = ExactIdMemoryEngine() if request.param == "memory" else ExactIdSQLiteEngine(str(tmp_path / "data.sqlite"))
    async with AsyncMongoEcoProxyServer(engine=engine, host="127.0.0.1", port=0) as server:
        client = AsyncMongoClient(f"mongodb://127.0.0.1:{server.address.port}")
        try:
            yield client.db.things
        finally:
            await client.close()


async def test_a_duplicate_string_id_is_refused_alone_and_in_a_batch(collection):
    await collection.insert_many([{"_id": f"ws/tr_{n}", "n": n} for n in range(50)])

    with pytest.raises(DuplicateKeyError):
        await collection.insert_one({"_id": "ws/tr_7"})
    with pytest.raises(BulkWriteError):
        await collection.insert_many([{"_id": "ws/tr_new"}, {"_id": "ws/tr_3"}])
    assert await collection.count_documents({}) == 51
    assert (await collection.find_one({"_id": "ws/tr_7"}))["n"] == 7


async def test_object_ids_and_ids_equal_as_numbers_still_collide(collection):
    first = ObjectId()
    await collection.insert_one({"_id": first})
    with pytest.raises(DuplicateKeyError):
        await collection.insert_one({"_id": first})

    await collection.insert_one({"_id": 1})
    with pytest.raises(DuplicateKeyError):
        await collection.insert_one({"_id": 1.0})


async def test_an_update_keeps_its_document_and_an_upsert_adds_one(collection):
    await collection.insert_one({"_id": "a", "v": 1})
    await collection.update_one({"_id": "a"}, {"$set": {"v": 2}})
    await collection.update_one({"_id": "b"}, {"$set": {"v": 3}}, upsert=True)

    assert {d["_id"]: d["v"] async for d in collection.find({})} == {"a": 2, "b": 3}
