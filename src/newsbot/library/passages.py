"""Passages: an article's text cut into sentence-aware chunks, and their vectors, with each
sentence's vector from the same model pass kept for quoting."""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from newsbot.config import ChunkSettings
from newsbot.index.embedder import Embedder
from newsbot.index.sentence_vectors import SentenceVectors
from newsbot.ingest.chunk import chunk_article
from newsbot.models import Chunk
from newsbot.text import passage_sentences

log = logging.getLogger(__name__)


class Passages:
    """Chunks and their vectors, as the library's chunking settings say now."""

    def __init__(
        self,
        chunking: Callable[[], ChunkSettings],
        embedder: Callable[[], Embedder],
        sentences: SentenceVectors,
    ) -> None:
        self._chunking = chunking
        self._embedder = embedder  # the model loads on first use
        self._sentences = sentences
        self._warned_max_tokens = False

    def vectors(self, chunks: list[tuple[str, Chunk]]) -> np.ndarray:
        """The vectors of ``(article title, chunk)`` pairs, as ``chunking.vectors`` says."""
        if self._chunking().vectors == "text":
            # The title gives every chunk the article's subject, which a chunk from deep
            # inside a story often never names.
            prefixes = [f"{title}\n" if self._chunking().embed_title else "" for title, _ in chunks]
            spans = [passage_sentences(c.text) for _, c in chunks]
            vectors, sentence_vectors = self._embedder().embed_spans(
                [p + c.text for p, (_, c) in zip(prefixes, chunks, strict=True)],
                [
                    [(a + len(p), b + len(p)) for a, b in s]
                    for p, s in zip(prefixes, spans, strict=True)
                ],
            )
            # The chunk's sentences, read in it by the same forward pass, are what quoting
            # scores against the question: keeping them now means no question waits for the
            # model to embed its passages' sentences (benchmarks/README.md, "Question latency").
            texts, rows = [], []
            for (_, chunk), chunk_spans, pooled in zip(
                chunks, spans, sentence_vectors, strict=True
            ):
                for (a, b), vector in zip(chunk_spans, pooled, strict=True):
                    if vector.any():  # a sentence past the model's length limit has none
                        texts.append(chunk.text[a:b])
                        rows.append(vector)
            if rows:
                self._sentences.put(texts, np.stack(rows))
            return vectors
        # Each sentence embedded once, though overlapping chunks share some: ~25% fewer
        # tokens than embedding the chunks, and the vectors are kept, so quoting needs no
        # model call. The price is recall: the mean of a chunk's sentence vectors retrieves
        # worse than the chunk's own vector (benchmarks/README.md).
        if not chunks:
            return np.zeros((0, 0), dtype=np.float32)
        per_chunk = [[c.text[a:b] for a, b in passage_sentences(c.text)] for _, c in chunks]
        unique = list(dict.fromkeys(text for texts in per_chunk for text in texts))
        vectors = self._sentences.embed(unique, self._embedder().embed)
        row = {text: i for i, text in enumerate(unique)}
        pooled = np.stack([vectors[[row[t] for t in texts]].mean(axis=0) for texts in per_chunk])
        pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return pooled.astype(np.float32)

    def chunks_of(self, article_id: str, text: str) -> list[Chunk]:
        max_tokens = self._chunking().max_tokens
        if max_tokens > self._embedder().max_tokens:
            # Words past the model's limit would be in no vector: never found, never quoted.
            if not self._warned_max_tokens:
                log.warning(
                    "chunking.max_tokens = %d is more than %s reads (%d tokens); "
                    "chunks are cut at %d",
                    max_tokens,
                    self._embedder().name,
                    self._embedder().max_tokens,
                    self._embedder().max_tokens,
                )
                self._warned_max_tokens = True
            max_tokens = self._embedder().max_tokens
        return chunk_article(
            article_id,
            text,
            max_tokens=max_tokens,
            overlap_sentences=self._chunking().overlap_sentences,
            count_tokens=self._embedder().count_tokens,
        )
