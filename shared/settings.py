"""Settings every process reads from its environment (and nothing else)."""

from urllib.parse import urlsplit

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

AMQP_PORT, AMQPS_PORT = 5672, 5671
DEFAULT_AMQP_URL = f"amqp://guest:guest@127.0.0.1:{AMQP_PORT}/"
"""The one broker endpoint every process, script and test falls back on when `AMQP_URL` is not set."""


def amqp_endpoint(url: str) -> tuple[str, int]:
    """The host and port an AMQP URL reaches (the protocol's default port when it names none)."""
    parsed = urlsplit(url)
    return parsed.hostname or "127.0.0.1", parsed.port or (AMQPS_PORT if parsed.scheme == "amqps" else AMQP_PORT)


class CommonSettings(BaseSettings):
    """Connection and naming settings shared by the gateway and every service.

    `BUS_NAMESPACE` prefixes every exchange and queue name so that several stacks (or test
    runs) can share one broker without seeing each other's messages.
    """

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    amqp_url: str = DEFAULT_AMQP_URL
    mongodb_url: str = "mongodb://127.0.0.1:27017/"
    mongodb_database: str = "agent_reliability"
    bus_namespace: str = Field(default="ar", pattern=r"^[a-z0-9][a-z0-9_-]{0,40}$")
    prefetch_count: int = Field(default=32, ge=1, le=1000)
    store_timeout_seconds: float = Field(default=3.0, gt=0)
    log_level: str = "INFO"
    log_format: str = Field(default="auto", pattern="^(auto|json|console)$")
    ops_port: int | None = Field(default=None, ge=0, le=65535)
    ops_host: str = "0.0.0.0"
