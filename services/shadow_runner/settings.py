from pydantic import Field

from shared.settings import CommonSettings


class RunnerSettings(CommonSettings):
    """The model endpoints are any OpenAI-compatible API (`<base url>/chat/completions`)."""

    replay_model_base_url: str | None = None
    replay_model_api_key: str | None = None
    replay_model: str | None = None
    judge_model_base_url: str | None = None
    judge_model_api_key: str | None = None
    judge_model: str = "gpt-4o-mini"
    replay_concurrency: int = Field(default=8, ge=1, le=256)
    model_timeout_seconds: float = Field(default=60.0, gt=0)
    model_max_attempts: int = Field(default=4, ge=1, le=10)
    score_margin: float = Field(default=0.05, ge=0, lt=1)
    lookup_timeout_seconds: float = Field(default=5.0, gt=0)
    max_replay_steps: int = Field(default=10, ge=1, le=100)
    """Model calls one trace's replay makes at most; still asking for tools then, it is `errored` (step limit)."""
