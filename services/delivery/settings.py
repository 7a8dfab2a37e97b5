from pydantic import Field, field_validator

from shared.settings import CommonSettings

DEFAULT_RETRY_DELAYS = "5,30,120,600,1800,3600,7200,14400,28800,28800"
"""Seconds before each retry after a failed attempt: ten retries over about 23.7 hours."""
MAX_RETRIES = 20


class DeliverySettings(CommonSettings):
    """`WEBHOOK_RETRY_DELAYS_SECONDS` is the backoff schedule (each delay stretched by up to a
    fifth at random: the jitter); tests compress it, and `WEBHOOK_DISABLE_AFTER_SECONDS`."""

    webhook_allow_private: bool = False
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    webhook_retry_delays_seconds: str = DEFAULT_RETRY_DELAYS
    webhook_disable_after_seconds: float = Field(default=86_400.0, gt=0)
    webhook_sweep_interval_seconds: float = Field(default=30.0, gt=0)

    @field_validator("webhook_retry_delays_seconds")
    @classmethod
    def _delays(cls, value: str) -> str:
        try:
            delays = [float(part) for part in value.split(",")]
        except ValueError:
            raise ValueError("must be seconds separated by commas, e.g. 5,30,120") from None
        if not 1 <= len(delays) <= MAX_RETRIES or any(delay <= 0 for delay in delays):
            raise ValueError(f"must hold 1 to {MAX_RETRIES} delays, each above 0")
        return value

    @property
    def retry_delays(self) -> tuple[float, ...]:
        return tuple(float(part) for part in self.webhook_retry_delays_seconds.split(","))
