"""The clustering service's settings: the common ones, and the embedding model."""

from typing import Literal

from pydantic import Field

from shared.settings import CommonSettings


class ClusteringServiceSettings(CommonSettings):
    """Without `EMBEDDINGS_BASE_URL`, a model inside a wheel embeds in the process
    (`EMBEDDINGS_LOCAL_MODEL`: WordLlama, or MiniLM run with NumPy); with it, that
    OpenAI-compatible endpoint's `/embeddings` with `EMBEDDINGS_MODEL`."""

    embeddings_local_model: Literal["wordllama", "minilm"] = "wordllama"

    embeddings_base_url: str | None = None
    embeddings_model: str = "text-embedding-3-small"
    embeddings_api_key: str | None = None
    embeddings_timeout_seconds: float = Field(default=30.0, gt=0)
    issues_timeout_seconds: float = Field(default=5.0, gt=0)
