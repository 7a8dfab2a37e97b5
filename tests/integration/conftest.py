import uuid

import pytest

from services.issues.adapters.mongo_repository import MongoIssueRepository


@pytest.fixture
async def issue_repository(mongo_client):
    collection = mongo_client[f"it_{uuid.uuid4().hex[:10]}"]["issues"]
    repository = MongoIssueRepository(collection)
    await repository.ensure_indexes()
    yield repository
    await mongo_client.drop_database(collection.database.name)
