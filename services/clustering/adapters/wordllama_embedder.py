"""WordLlama's static token embeddings (16 MB, shipped inside its wheel), loaded offline."""

from collections.abc import Sequence
from pathlib import Path

import numpy as np

DIMENSIONS = (64, 128, 256)


class WordLlamaEmbedder:
    """Average-pooled token embeddings of WordLlama's `l2_supercat` model, truncated to
    `dimension` (Matryoshka: the first dimensions carry the most). Loads from the package's own
    folder and never downloads; ~20 µs a short text in a batch on one core."""

    def __init__(self, dimension: int = 256):
        if dimension not in DIMENSIONS:
            raise ValueError(f"dimension must be one of {DIMENSIONS}")
        import wordllama

        self._model = wordllama.WordLlama.load(
            cache_dir=Path(wordllama.__file__).parent,
            disable_download=True,
            trunc_dim=None if dimension == 256 else dimension,
        )
        self._dimension = dimension

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._dimension), dtype=np.float32)
        return np.asarray(self._model.embed(list(texts), norm=False), dtype=np.float32)
