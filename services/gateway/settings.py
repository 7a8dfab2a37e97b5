from pydantic import Field

from shared.settings import CommonSettings


class GatewaySettings(CommonSettings):
    gateway_host: str = "0.0.0.0"
    gateway_port: int = Field(default=8080, ge=0, le=65535)
    rpc_timeout_seconds: float = Field(default=10.0, gt=0)
    rpc_start_margin_seconds: float = Field(default=4.0, ge=0)
    shadow_execution_timeout_seconds: float = Field(default=30.0, gt=0)
    trace_ingest_timeout_seconds: float = Field(default=30.0, gt=0)
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    init_api_key: str | None = None
    api_key_cache_seconds: float = Field(default=30.0, ge=0)
    rate_limit_burst: int = Field(default=120, ge=1)
    rate_limit_per_second: float = Field(default=20.0, gt=0)
    auth_failure_burst: int = Field(default=10, ge=1)
    auth_failure_per_second: float = Field(default=1.0, gt=0)
