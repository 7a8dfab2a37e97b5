from pydantic import Field

from shared.settings import CommonSettings


class TracesSettings(CommonSettings):
    otlp_quiet_period_seconds: float = Field(default=30.0, gt=0)
    """An OTLP trace whose root span, or a parent some span names, has not arrived is assembled
    from what did once no span of it has arrived for this long (docs/otlp.md)."""
