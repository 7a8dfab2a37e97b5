"""`make api-key WORKSPACE=name`: a new API key for a workspace, on the last line of output.

Takes the settings `make run` takes. With `MONGODB_URL` it writes there (in
`MONGODB_DATABASE`). Otherwise it writes into the embedded store's data file in `VAR_DIR`:
through the server that serves it (a running `make run`), or through one it starts for the
moment. It refuses to write into something else that answers on `EMBEDDED_MONGO_PORT`.
"""

import os
import subprocess
import sys

from deploy.local.config import ConfigError, LocalConfig
from deploy.local.processes import embedded_mongo, free_port, port_open
from deploy.local.store_file import serving
from services.gateway.entrypoints import cli


def main() -> int:
    try:
        config = LocalConfig.from_env()
    except ConfigError as error:
        print(f"make api-key: {error}", file=sys.stderr)
        return 2
    temporary = None
    if config.mongodb_url is None:
        server = serving(config.data_file)
        if server is not None:
            port = server[1]
            if port != config.embedded_mongo_port:
                print(f"make api-key: {config.data_file} is served on port {port} (not EMBEDDED_MONGO_PORT "
                      f"{config.embedded_mongo_port}); writing there", file=sys.stderr)
        elif port_open("127.0.0.1", config.embedded_mongo_port):
            print(f"make api-key: port {config.embedded_mongo_port} (EMBEDDED_MONGO_PORT) answers, but not as the "
                  f"embedded store of {config.data_file}; nothing written. Give make api-key the settings make run "
                  "has (MONGODB_URL, EMBEDDED_MONGO_PORT, VAR_DIR), or stop what holds that port.", file=sys.stderr)
            return 1
        else:
            port = free_port()
            temporary = embedded_mongo(port, str(config.data_file), output=subprocess.DEVNULL)
            temporary.start_listening(port)
        os.environ["MONGODB_URL"] = f"mongodb://127.0.0.1:{port}/"
    try:
        return cli.main(["create-key", *sys.argv[1:]])
    finally:
        if temporary:
            temporary.stop()


if __name__ == "__main__":
    sys.exit(main())
