"""`python -m services.gateway.entrypoints.cli create-key --workspace NAME [--owner WHO]`

Creates an API key for a workspace and prints it on the last line of output. The key is
shown once; only its hash is stored.
"""

import argparse
import asyncio
import sys

from services.gateway.adapters.api_key_store import MongoApiKeyStore
from services.gateway.handlers import create_api_key
from services.gateway.settings import GatewaySettings
from shared.store.mongo import mongo_client


async def _create_key(workspace: str, owner: str | None) -> None:
    settings = GatewaySettings()
    mongo = mongo_client(settings, "gateway-cli")
    try:
        store = MongoApiKeyStore(mongo[settings.mongodb_database]["api_keys"])
        await store.ensure_indexes()
        issued = await create_api_key(store, workspace, owner)
    finally:
        await mongo.close()
    print(f"workspace: {issued.principal.workspace}")
    print(f"key id:    {issued.principal.key_id}")
    print("API key (shown once, keep it secret):")
    print(issued.secret)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="services.gateway.entrypoints.cli")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-key", help="create an API key for a workspace")
    create.add_argument("--workspace", required=True)
    create.add_argument("--owner", help="who the key is for (shown as a fix's author); defaults to the key id")
    args = parser.parse_args(argv)
    try:
        asyncio.run(_create_key(args.workspace, args.owner))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
