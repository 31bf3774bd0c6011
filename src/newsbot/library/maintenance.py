"""Whole-library maintenance: a reindex builds every chunk and vector again beside the live
index, from the stored text, and switches to it in one step."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable

import numpy as np

import newsbot.library.pipeline as pipeline
from newsbot.config import Settings
from newsbot.index.records import StoredArticle
from newsbot.index.store import ChromaStore, next_generation
from newsbot.library.passages import Passages
from newsbot.library.writer import IndexWriter, Placed, with_vectors
from newsbot.models import ReindexReport

log = logging.getLogger(__name__)


def reindex(
    index: IndexWriter,
    passages: Passages,
    settings: Settings,
    progress: Callable[[int, int], None] | None = None,
) -> ReindexReport:
    """Rebuild every chunk, vector and lexical row from the stored article text (see
    :meth:`newsbot.library.Library.reindex`)."""
    started = time.monotonic()
    with index.lock:
        index.recover_locked()
        source = index.store
        target = source.generation_store(
            next_generation(
                settings.embedding.identity,
                source.generation,
                settings.chunking.model_dump_json(),
            )
        )
        target.recover()  # a reindex killed before may have left a partial batch
        done = {r.article_id: r.content_hash for r in target.all_records()}
        if not done and not target.has_chunk_days():
            target.add_chunk_days([])  # a new generation: its chunks are written with days
        total, embedded, finished = source.count_articles(), 0, 0
        for page in source.iter_articles():
            todo: list[Placed] = []
            for record, text, url_key in page:
                if done.get(record.article_id) == record.content_hash:
                    continue
                chunks = passages.chunks_of(record.article_id, text)
                if not chunks:
                    log.warning("reindex: %s has no text to index", record.article_id)
                    continue
                record = dataclasses.replace(record, chunks=len(chunks))
                todo.append((StoredArticle(record, text, chunks, np.empty(0), url_key), None))
            for start in range(0, len(todo), pipeline.INGEST_BATCH):
                _embed_and_store(
                    index, passages, todo[start : start + pipeline.INGEST_BATCH], target
                )
            embedded += len(todo)
            finished += len(page)
            if progress is not None:
                progress(finished, total)
        # Articles removed from the live index meanwhile (by another process) go too.
        live = {r.article_id for r in source.all_records()}
        gone = [i for i in done if i not in live]
        if gone:
            target.delete_records(gone)
            target.delete_chunks(gone)
        target.activate()
        index.switch_to_locked(target)
    return ReindexReport(
        articles=target.count_articles(),
        embedded=embedded,
        chunks=target.count_chunks(),
        model=settings.embedding.identity,
        previous_model=source.stored_model,
        seconds=round(time.monotonic() - started, 1),
    )


def _embed_and_store(
    index: IndexWriter, passages: Passages, items: list[Placed], store: ChromaStore
) -> None:
    """Embed and store articles in one go (ingest embeds and stores a batch on two threads,
    see :class:`~newsbot.library.pipeline.IngestPipeline`)."""
    vectors = passages.vectors([(s.record.title, c) for s, _ in items for c in s.chunks])
    index.store_articles(with_vectors(items, vectors), store)
