import uuid

import pytest

from services.issues.adapters.mongo_repository import MongoIssueRepository


@pytest.fixture
async def scratch_database(mongo_client):
    """A database of the test's own, dropped after it."""
    database = mongo_client[f"it_{uuid.uuid4().hex[:10]}"]
    yield database
    await mongo_client.drop_database(database.name)


@pytest.fixture
async def issue_repository(scratch_database):
    repository = MongoIssueRepository(scratch_database["issues"])
    await repository.ensure_indexes()
    return repository
