"""What `make run` and `make api-key` read from the environment, read when they run, with an
error naming the variable to change when a value cannot work."""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from deploy.local.processes import ROOT, SERVICES, port_free
from services.gateway.domain.api_keys import KEY_PREFIX, is_well_formed


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Port:
    port: int
    host: str
    what: str
    variable: str
    offset: int | None = None

    @property
    def setting(self) -> str:
        return self.variable if self.offset is None else f"{self.variable}+{self.offset}"


@dataclass(frozen=True)
class LocalConfig:
    gateway_host: str
    gateway_port: int
    ops_host: str
    first_ops_port: int
    embedded_mongo_port: int
    demo_model_port: int
    var_dir: Path
    mongodb_url: str | None
    replay_model_base_url: str | None
    init_api_key: str | None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "LocalConfig":
        init_api_key = environ.get("INIT_API_KEY") or None
        if init_api_key is not None and not is_well_formed(init_api_key):
            raise ConfigError(f"INIT_API_KEY {_what_is_wrong(init_api_key)}: a key is {KEY_PREFIX} followed by "
                              "16-128 letters, digits, '-' or '_' (unset it to have one made for you)")
        return cls(
            gateway_host=environ.get("GATEWAY_HOST", "0.0.0.0"),
            gateway_port=_port(environ, "GATEWAY_PORT", 8080),
            ops_host=environ.get("OPS_HOST", "0.0.0.0"),
            first_ops_port=_port(environ, "FIRST_OPS_PORT", 8181, room=len(SERVICES) - 1),
            embedded_mongo_port=_port(environ, "EMBEDDED_MONGO_PORT", 27018),
            demo_model_port=_port(environ, "DEMO_MODEL_PORT", 8089),
            var_dir=Path(environ.get("VAR_DIR") or ROOT / "var").expanduser().resolve(),
            mongodb_url=environ.get("MONGODB_URL") or None,
            replay_model_base_url=environ.get("REPLAY_MODEL_BASE_URL") or None,
            init_api_key=init_api_key,
        )

    @property
    def data_file(self) -> Path:
        return self.var_dir / "mongo" / "data.sqlite"

    @property
    def api_key_file(self) -> Path:
        return self.var_dir / "api-key"

    @property
    def ops_ports(self) -> dict[str, int]:
        return {name: self.first_ops_port + index for index, name in enumerate(SERVICES)}

    def ports(self) -> list[Port]:
        """Every port `make run` listens on with these settings."""
        ports = [Port(self.gateway_port, self.gateway_host, "the gateway", "GATEWAY_PORT")]
        if self.mongodb_url is None:
            ports.append(Port(self.embedded_mongo_port, "127.0.0.1", "the embedded MongoDB", "EMBEDDED_MONGO_PORT"))
        if self.replay_model_base_url is None:
            ports.append(Port(self.demo_model_port, "127.0.0.1", "the demo model", "DEMO_MODEL_PORT"))
        for index, (name, port) in enumerate(self.ops_ports.items()):
            ports.append(Port(port, self.ops_host, f"the {name} service's ops endpoint", "FIRST_OPS_PORT", index))
        return ports

    def port_problems(self) -> list[str]:
        """Why `make run` could not listen on its ports, one line each, naming what to change."""
        problems, seen = [], {}
        for port in self.ports():
            if first := seen.get(port.port):
                problems.append(f"port {port.port} is both {first.setting} ({first.what}) and {port.setting} "
                                f"({port.what}); change one of them")
            elif not port_free(port.host, port.port):
                hint = (f"set {port.variable} so that it and the next {len(SERVICES) - 1} ports are free"
                        if port.offset is not None else f"set {port.variable} to a free port")
                problems.append(f"port {port.port} ({port.setting}, {port.what}) is taken; {hint}")
            seen.setdefault(port.port, port)
        return problems


def _port(environ: Mapping[str, str], variable: str, default: int, room: int = 0) -> int:
    raw = environ.get(variable) or str(default)
    try:
        port = int(raw)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535 - room:
        raise ConfigError(f"{variable} must be a port number from 1 to {65535 - room}, not {raw!r}")
    return port


def _what_is_wrong(key: str) -> str:
    if not key.startswith(KEY_PREFIX):
        return f"does not start with {KEY_PREFIX}"
    rest = key.removeprefix(KEY_PREFIX)
    if not 16 <= len(rest) <= 128:
        return f"has {len(rest)} characters after {KEY_PREFIX}"
    return "holds characters other than letters, digits, '-' and '_'"
