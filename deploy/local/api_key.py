"""`make api-key WORKSPACE=name`: a new API key for a workspace, on the last line of output.

Talks to `MONGODB_URL` when set, otherwise to the embedded server of `make run`, starting it
for the moment if it is not running.
"""

import os
import sys

from deploy.local.processes import ROOT, embedded_mongo, port_open
from deploy.local.run import EMBEDDED_MONGO_PORT
from services.gateway.entrypoints import cli


def main() -> int:
    temporary = None
    if "MONGODB_URL" not in os.environ:
        os.environ["MONGODB_URL"] = f"mongodb://127.0.0.1:{EMBEDDED_MONGO_PORT}/"
        if not port_open("127.0.0.1", EMBEDDED_MONGO_PORT):
            path = str(ROOT / "var" / "mongo" / "data.sqlite")
            temporary = embedded_mongo(EMBEDDED_MONGO_PORT, path, output=open(os.devnull, "w"))
            temporary.start_listening(EMBEDDED_MONGO_PORT)
    try:
        return cli.main(["create-key", *sys.argv[1:]])
    finally:
        if temporary:
            temporary.stop()


if __name__ == "__main__":
    sys.exit(main())
