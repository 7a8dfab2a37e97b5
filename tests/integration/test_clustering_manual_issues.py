"""The clustering service's record of manual issues, on the real wire server."""

from services.clustering.adapters.mongo_repository import MongoManualTraces


async def manual(scratch_database) -> MongoManualTraces:
    store = MongoManualTraces(scratch_database["clustering_manual_issues"])
    await store.ensure_indexes()
    return store


async def test_the_traces_of_manual_issues_are_found_by_workspace_as_of_their_latest_version(scratch_database):
    store = await manual(scratch_database)
    await store.record("ws", "iss_1", 1, ["tr_a"])
    await store.record("ws", "iss_1", 3, ["tr_a", "tr_b"])
    await store.record("ws", "iss_1", 2, ["tr_a"])
    await store.record("other", "iss_2", 1, ["tr_c"])

    assert await store.among("ws", ["tr_a", "tr_b", "tr_c", "tr_d"]) == {"tr_a", "tr_b"}

    await store.forget("ws", "iss_1")
    assert await store.among("ws", ["tr_a", "tr_b"]) == set()
    assert await store.among("other", ["tr_c"]) == {"tr_c"}


async def test_an_issue_of_ten_thousand_traces_is_one_write(scratch_database):
    store = await manual(scratch_database)
    trace_ids = [f"tr_{n}" for n in range(10_000)]
    await store.record("ws", "iss_big", 1, trace_ids)

    assert await scratch_database["clustering_manual_issues"].count_documents({}) == 1
    assert await store.among("ws", ["tr_9999", "tr_x"]) == {"tr_9999"}
