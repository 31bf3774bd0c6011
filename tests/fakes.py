"""A deterministic stand-in for the embedding model, for tests of newsbot's own rules.

The dedup, update, removal and pipeline rules of the library do not depend on what the model
knows, so their tests need not load it (simonw/llm tests its core with ``embed-demo`` the same
way). The fake is a hashed bag of words: each word has a fixed random direction and a text is
the normalised sum of its words', so texts that share words are close, as with a real model,
and every run gives the same vectors. End-to-end and quality tests keep the real model.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

_WORD = re.compile(r"\w+")
DIMENSION = 64


def _word_vector(word: str) -> np.ndarray:
    seed = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "big")
    return np.random.default_rng(seed).standard_normal(DIMENSION).astype(np.float32)


class FakeEmbedder:
    """What the library asks of ``newsbot.index.embedder.Embedder``, without a model."""

    name = "all-MiniLM-L6-v2"
    dimension = DIMENSION
    max_tokens = 256

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                vectors[row] += _word_vector(word)
            norm = float(np.linalg.norm(vectors[row]))
            if norm:
                vectors[row] /= norm
        return vectors

    def embed_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        pooled = [
            self.embed([text[a:b] for a, b in s]) for text, s in zip(texts, spans, strict=True)
        ]
        return self.embed(texts), pooled

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(_WORD.findall(text)) for text in texts]
