"""The clustering service's settings: the common ones, and the embedding model."""

from typing import Literal

from pydantic import Field, field_validator

from shared.settings import CommonSettings


class ClusteringServiceSettings(CommonSettings):
    """Without `EMBEDDINGS_BASE_URL`, a model inside a wheel embeds in the process
    (`EMBEDDINGS_LOCAL_MODEL`: WordLlama, or MiniLM run with NumPy); with it, that
    OpenAI-compatible endpoint's `/embeddings` with `EMBEDDINGS_MODEL`. With
    `LABEL_MODEL_BASE_URL`, that endpoint's `/chat/completions` with `LABEL_MODEL` titles and
    describes new issues; without it, they are titled from their distinctive terms."""

    embeddings_local_model: Literal["wordllama", "minilm"] = "wordllama"

    embeddings_base_url: str | None = None
    embeddings_model: str = "text-embedding-3-small"
    embeddings_api_key: str | None = None
    embeddings_timeout_seconds: float = Field(default=30.0, gt=0)
    issues_timeout_seconds: float = Field(default=5.0, gt=0)

    label_model_base_url: str | None = None
    label_model: str = "gpt-4o-mini"
    label_model_api_key: str | None = None
    label_model_timeout_seconds: float = Field(default=20.0, gt=0)

    @field_validator("label_model_base_url", "embeddings_base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"must be an http:// or https:// URL, not {value!r}")
        return value or None
