"""Any OpenAI-compatible `/v1/embeddings` endpoint as the embedding model. Synchronous (the
service calls `embed` off the event loop, in a worker thread); the dimension is learnt from a
first call at start-up."""

import json
import urllib.error
import urllib.request
from collections.abc import Sequence

import numpy as np

from shared.contracts.errors import Unavailable

BATCH = 256


class HttpEmbedder:
    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout: float = 30.0):
        self._url = base_url.rstrip("/") + "/embeddings"
        self._model = model
        self._api_key = api_key
        self._timeout = timeout
        self._dimension = len(self._call(["dimension probe"])[0])

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def model(self) -> str:
        return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        rows = [vector for start in range(0, len(texts), BATCH) for vector in self._call(texts[start:start + BATCH])]
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), self._dimension)

    def _call(self, texts: Sequence[str]) -> list[list[float]]:
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        body = json.dumps({"model": self._model, "input": list(texts)}).encode()
        request = urllib.request.Request(self._url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                data = json.load(response)["data"]
        except (OSError, ValueError, KeyError, urllib.error.HTTPError) as error:
            raise Unavailable(f"the embeddings endpoint {self._url} failed: {error!r}") from error
        return [item["embedding"] for item in sorted(data, key=lambda item: item["index"])]
