"""A sentence's vector from its chunk's forward pass: the mean of the token vectors inside it.

Both encoders (torch in ``embedder``, ONNX in ``onnx_model``) use these, so they live apart
from either.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

Span = tuple[int, int]


def pools_token_means(model: Any) -> bool:
    """Whether a sentence-transformers model's text vector is the mean of its token vectors
    (up to normalisation), so that the mean over a span's tokens is a vector of that span."""
    names = [type(module).__name__ for module in model]
    if names[:2] != ["Transformer", "Pooling"] or any(n != "Normalize" for n in names[2:]):
        return False
    pooling = model[1]
    mode = getattr(pooling, "pooling_mode", None)  # sentence-transformers 6
    if mode is None and hasattr(pooling, "get_pooling_mode_str"):  # 5
        mode = pooling.get_pooling_mode_str()
    return bool(mode == "mean")


def pool_spans(tokens: np.ndarray, offsets: np.ndarray, spans: Sequence[Span]) -> np.ndarray:
    """Unit-length means of the token vectors inside each character span (zero when none).

    ``tokens`` (n, dimension) and ``offsets`` (n, 2) are one text's model outputs and the
    tokens' character offsets; special and padding tokens have empty offsets and never count.
    """
    out = np.zeros((len(spans), tokens.shape[1]), dtype=np.float32)
    if not len(spans):
        return out
    starts, ends = offsets[:, 0], offsets[:, 1]
    real = ends > starts
    for row, (a, b) in enumerate(spans):
        inside = real & (starts >= a) & (ends <= b)
        if inside.any():
            mean = tokens[inside].mean(axis=0)
            out[row] = mean / max(float(np.linalg.norm(mean)), 1e-12)
    return out
