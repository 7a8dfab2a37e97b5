"""The `api_keys` collection, owned by the gateway: key hash → workspace and owner."""

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from services.gateway.domain.api_keys import Principal
from shared.contracts.common import utc_now
from shared.store.mongo import store_call


class MongoApiKeyStore:
    def __init__(self, collection: AsyncCollection):
        self._collection = collection

    async def ensure_indexes(self) -> None:
        await self._collection.create_indexes([IndexModel([("keyId", ASCENDING)], unique=True)])

    async def add(self, key_hash: str, principal: Principal) -> Principal:
        """Stores the key; if this hash is stored already, returns the principal it has."""
        try:
            await self._collection.insert_one(
                {
                    "_id": key_hash,
                    "keyId": principal.key_id,
                    "workspace": principal.workspace,
                    "owner": principal.owner,
                    "createdAt": utc_now(),
                }
            )
            return principal
        except DuplicateKeyError:
            existing = await self.find(key_hash)
            if existing is None:
                raise
            return existing

    @store_call
    async def find(self, key_hash: str) -> Principal | None:
        document = await self._collection.find_one({"_id": key_hash})
        if document is None:
            return None
        return Principal(document["workspace"], document["keyId"], document["owner"])

