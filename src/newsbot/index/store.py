"""Chroma, embedded or server: chunk vectors and the article registry, behind one code path.

Two collections live side by side so the registry is wherever the index is:
``<prefix>_chunks`` (one record per chunk: its text, offsets and vector) and
``<prefix>_articles`` (one record per article: full text and metadata; its vector is the mean of
the article's chunk vectors, as Chroma needs one).

Three more small collections keep the index safe to change:
``<prefix>_pending`` is a write journal (an article is listed there while its chunks and registry
entry are being written, so a crash leaves a trace to roll back instead of orphans), and
``<prefix>_index`` points at the active *generation* of the chunk and registry collections, so
``newsbot reindex`` can build a complete new index beside the old one and switch with one write.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import logging
import os
import re
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ParamSpec, TypeVar
from urllib.parse import urlsplit

import numpy as np
from chromadb.api.types import Metadata

from newsbot.config import INT8_SUFFIX, StoreSettings
from newsbot.errors import ModelMismatchError, StoreError
from newsbot.index.documents import DocumentCollection
from newsbot.index.failures import describe_failure, translate_errors
from newsbot.index.orphans import remove_orphan_segments
from newsbot.index.records import (
    DAY,
    StoredArticle,
    between,
    chunk_from_metadata,
    chunk_metadata,
    day_number,
    one_of,
    record_from_metadata,
    record_metadata,
)
from newsbot.index.store_lock import lock_embedded, process_alive, sole_opening, unlock_embedded
from newsbot.models import ArticleRecord, Chunk, chunk_id

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

_MODEL_KEY = "newsbot_model"
_ACTIVE = "active"


def generation_names(prefix: str, generation: str) -> tuple[str, str, str]:
    """The chunks, registry and journal collections of one generation of the index."""
    suffix = f"_{generation}" if generation else ""
    return f"{prefix}_chunks{suffix}", f"{prefix}_articles{suffix}", f"{prefix}_pending{suffix}"


def next_generation(model: str, current: str, chunking: str = "") -> str:
    """The generation a reindex of ``current`` with ``model`` and ``chunking`` builds.

    Deterministic, so an interrupted reindex resumes into the same collections; different from
    ``current``, so the live index is never written to; and different for other chunking
    settings, so a reindex resumed with them does not keep chunks cut the old way.
    """
    build = f"{model}\0{current}" + (f"\0{chunking}" if chunking else "")
    return "g" + hashlib.sha256(build.encode()).hexdigest()[:10]


@dataclass(frozen=True, slots=True)
class Recovery:
    """What :meth:`ChromaStore.recover` found in the write journal."""

    completed: list[str] = field(default_factory=list)  # fully written, only the mark was left
    rolled_back: list[str] = field(default_factory=list)  # partial writes removed
    in_flight: list[str] = field(default_factory=list)  # being written by a live process


class ChromaStore:
    """Chunk vectors and the article registry in Chroma."""

    def __init__(
        self,
        settings: StoreSettings,
        *,
        model: str,
        generation: str | None = None,
        check_model: bool = True,
        lock_wait: float = 0.0,
    ) -> None:
        """Connect to Chroma and open the collections of the active (or given) generation.

        Args:
            settings: where the store is.
            model: the configured embedding model.
            generation: open this generation instead of the active one (reindex builds one).
            check_model: raise ModelMismatchError when the index was built with another model.
                Off only to read the stored articles for a reindex.
            lock_wait: seconds to wait for another process to let go of an embedded store
                before StoreInUseError.
        """
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        self.settings = settings
        self.model = model
        self._pinned_generation = generation
        self._check_model = check_model
        self._stale = False
        self.remote = bool(settings.url)
        self._lock: Path | None = None
        self._owns_client = True
        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        try:
            if settings.url:
                parts = urlsplit(settings.url)
                port = parts.port or (443 if parts.scheme == "https" else 8000)
                self.description = f"Chroma server {parts.scheme}://{parts.hostname}:{port}"
                self._client = chromadb.HttpClient(
                    host=parts.hostname or "localhost",
                    port=port,
                    ssl=parts.scheme == "https",
                    settings=chroma_settings,
                )
            else:
                self.description = f"embedded Chroma at {settings.path}"
                settings.path.mkdir(parents=True, exist_ok=True)
                self._lock = lock_embedded(settings.path, lock_wait)
                if sole_opening(self._lock):  # no client of ours is open on it
                    remove_orphan_segments(settings.path)
                self._client = chromadb.PersistentClient(
                    path=str(settings.path), settings=chroma_settings
                )
            self.max_batch = int(self._client.get_max_batch_size())
            self._connect()
        except BaseException as error:
            self._release()
            if isinstance(error, Exception) and not isinstance(error, StoreError):
                raise StoreError(describe_failure(self, error)) from error
            raise

    def _connect(self) -> None:
        """Look up the generation and its collections (again, after a failure)."""
        prefix = self.settings.collection
        self._control = DocumentCollection(self, f"{prefix}_index")
        if self._pinned_generation is not None:
            generation = self._pinned_generation
        else:
            pointer = self._control.get([_ACTIVE]).get(_ACTIVE)
            generation = str(pointer[1].get("generation", "")) if pointer else ""
        chunks_name, articles_name, pending_name = generation_names(prefix, generation)
        self._chunks = self._client.get_or_create_collection(
            chunks_name,
            configuration={"hnsw": {"space": "cosine"}},
            metadata={_MODEL_KEY: self.model},
            embedding_function=None,
        )
        self._articles = self._client.get_or_create_collection(
            articles_name,
            configuration={"hnsw": {"space": "cosine"}},
            embedding_function=None,
        )
        self._pending = DocumentCollection(self, pending_name)
        self.generation = generation
        self.stored_model = str((self._chunks.metadata or {}).get(_MODEL_KEY) or self.model)
        self._stale = False
        if self._check_model and self.stored_model != self.model:
            raise ModelMismatchError(
                f"the index was built with the embedding model {self.stored_model!r}, but "
                f"{self.model!r} is configured; set {_setting_to_restore(self.stored_model)} "
                "back, or run `newsbot reindex` to rebuild the index with the new model"
            )

    def generation_store(self, generation: str) -> ChromaStore:
        """The same store opened at another generation, sharing this one's client."""
        other = copy.copy(self)
        other._lock = None  # this store holds it, and the client
        other._owns_client = False
        other._pinned_generation = generation
        other._check_model = True
        other._connect()
        return other

    @translate_errors
    def activate(self) -> None:
        """Make this store's generation the one every later open uses: one atomic write."""
        self._control.put(_ACTIVE, "", {"generation": self.generation, "model": self.model})

    @translate_errors
    def drop_other_generations(self) -> list[str]:
        """Delete the collections of every generation but this one (after a reindex)."""
        prefix = re.escape(self.settings.collection)
        ours = set(generation_names(self.settings.collection, self.generation))
        pattern = re.compile(rf"^{prefix}_(chunks|articles|pending)(_g[0-9a-f]{{10}})?$")
        dropped = []
        for collection in self._client.list_collections():
            name = collection if isinstance(collection, str) else collection.name
            if pattern.match(name) and name not in ours:
                self._client.delete_collection(name)
                dropped.append(name)
        return dropped

    def hand_over(self, other: ChromaStore) -> None:
        """Make ``other`` (a generation of this store) the one that holds the lock and the
        client, and so releases them when closed."""
        other._lock, other._owns_client = self._lock, self._owns_client
        self._lock, self._owns_client = None, False

    def close(self) -> None:
        if not self._owns_client:
            return
        # PersistentClient holds no handles we can release explicitly; drop references. Only
        # at the last opening of the folder in this process: Chroma shares one system per
        # folder, and clearing it under another opening lost that one's unflushed writes.
        if self._lock is None or sole_opening(self._lock):
            with contextlib.suppress(Exception):
                self._client.clear_system_cache()
        self._release()

    def _release(self) -> None:
        if self._lock is not None:
            unlock_embedded(self._lock)
            self._lock = None

    def documents(self, name: str) -> DocumentCollection:
        """A collection of small JSON documents beside the index (e.g. feed subscriptions).

        Args:
            name: the full collection name, e.g. ``newsbot_feeds``.
        """
        return DocumentCollection(self, name)

    # -- registry ----------------------------------------------------------------------------

    @translate_errors
    def get_records(self, article_ids: Sequence[str]) -> dict[str, ArticleRecord]:
        if not article_ids:
            return {}
        # Chroma refuses a repeated id (two inputs of one batch may name one article).
        got = self._articles.get(ids=list(dict.fromkeys(article_ids)), include=["metadatas"])
        return {
            i: record_from_metadata(i, m)
            for i, m in zip(got["ids"], got["metadatas"] or [], strict=True)
        }

    @translate_errors
    def find_records(self, field: str, values: Sequence[str]) -> dict[str, ArticleRecord]:
        """Registry entries whose metadata ``field`` is one of ``values``, keyed by that value."""
        if not values:
            return {}
        got = self._articles.get(
            where=one_of(field, list(dict.fromkeys(values))), include=["metadatas"]
        )
        found: dict[str, ArticleRecord] = {}
        for article_id, meta in zip(got["ids"], got["metadatas"] or [], strict=True):
            found[str(meta[field])] = record_from_metadata(article_id, meta)
        return found

    @translate_errors
    def all_records(self) -> list[ArticleRecord]:
        records: list[ArticleRecord] = []
        for offset in range(0, self.count_articles(), self.max_batch):
            got = self._articles.get(include=["metadatas"], limit=self.max_batch, offset=offset)
            records.extend(
                record_from_metadata(i, m)
                for i, m in zip(got["ids"], got["metadatas"] or [], strict=True)
            )
        return records

    @translate_errors
    def article_text(self, article_id: str) -> str | None:
        return self.article_texts([article_id]).get(article_id)

    @translate_errors
    def article_texts(self, article_ids: Sequence[str]) -> dict[str, str]:
        """The stored texts of those of ``article_ids`` that exist."""
        if not article_ids:
            return {}
        got = self._articles.get(ids=list(dict.fromkeys(article_ids)), include=["documents"])
        return {i: d for i, d in zip(got["ids"], got["documents"] or [], strict=True) if d}

    @translate_errors
    def count_articles(self) -> int:
        return int(self._articles.count())

    @translate_errors
    def count_chunks(self) -> int:
        return int(self._chunks.count())

    # -- writes ------------------------------------------------------------------------------

    @translate_errors
    def delete_chunks(self, article_ids: Sequence[str]) -> None:
        for start in range(0, len(article_ids), 100):
            self._chunks.delete(where=one_of("article_id", article_ids[start : start + 100]))

    @translate_errors
    def write_chunks(self, articles: Sequence[StoredArticle]) -> None:
        """Upsert the chunks of ``articles``, in batches within Chroma's limit."""
        chunks = [c for a in articles for c in a.chunks]
        if not chunks:
            return
        days = {a.record.article_id: day_number(a.record.published) for a in articles}
        vectors = np.concatenate([a.vectors for a in articles])
        for start in range(0, len(chunks), self.max_batch):
            batch = chunks[start : start + self.max_batch]
            # The text goes in the metadata, not the document: embedded Chroma indexes every
            # document for a full-text search newsbot never asks for (BM25 is tantivy's), which
            # cost about as much CPU as the rest of the write (docs/architecture.md).
            self._chunks.upsert(
                ids=[c.chunk_id for c in batch],
                embeddings=vectors[start : start + len(batch)],
                metadatas=[chunk_metadata(c, days.get(c.article_id)) for c in batch],
            )

    @translate_errors
    def write_records(self, articles: Sequence[StoredArticle]) -> None:
        """Upsert the registry entries: written last, they mark an article as complete."""
        for start in range(0, len(articles), self.max_batch):
            batch = articles[start : start + self.max_batch]
            centroids = []
            for a in batch:
                mean = a.vectors.mean(axis=0)
                norm = float(np.linalg.norm(mean)) or 1.0
                centroids.append(mean / norm)
            self._articles.upsert(
                ids=[a.record.article_id for a in batch],
                embeddings=np.asarray(centroids, dtype=np.float32),
                documents=[a.text for a in batch],
                metadatas=[record_metadata(a.record, a.url_key) for a in batch],
            )

    @translate_errors
    def delete_records(self, article_ids: Sequence[str]) -> None:
        if article_ids:
            self._articles.delete(ids=list(article_ids))

    # -- write journal -----------------------------------------------------------------------

    @translate_errors
    def begin_writes(self, changes: Sequence[tuple[str, str]]) -> None:
        """Note ``(article_id, content_hash)`` pairs about to be written ("" hash: removal).

        Written before anything else of the articles, so whatever a crash leaves behind is
        listed here for :meth:`recover`.
        """
        writer = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}
        self._pending.put_many(
            [(article_id, "", {**writer, "content_hash": h}) for article_id, h in changes]
        )

    @translate_errors
    def end_writes(self, article_ids: Sequence[str]) -> None:
        self._pending.delete(article_ids)

    @translate_errors
    def recover(self, *, stale_after: float = 3600.0) -> Recovery:
        """Finish the bookkeeping of writes that ended, and roll back those a crash cut short.

        Cheap when nothing was interrupted: one read of the (empty) journal. An entry of a
        process still running on this host is left alone (it is writing now); one of another
        host counts as abandoned after ``stale_after`` seconds. An entry whose registry entry
        carries the hash it announced was complete; any other is removed entirely, chunks and
        registry entry: an interrupted update has lost its old chunks already, so the article
        is absent afterwards and the next ingest adds it again.
        """
        entries = self._pending.find(None)
        if not entries:
            return Recovery()
        host, now = socket.gethostname(), time.time()
        abandoned: dict[str, str] = {}
        recovery = Recovery()
        for article_id, (_, meta) in entries.items():
            mine = meta.get("host") == host
            if (mine and process_alive(int(meta.get("pid", 0)))) or (
                not mine and now - float(meta.get("started", 0.0)) < stale_after
            ):
                recovery.in_flight.append(article_id)
                continue
            abandoned[article_id] = str(meta.get("content_hash", ""))
        records = self.get_records(list(abandoned))
        for article_id, announced in abandoned.items():
            record = records.get(article_id)
            if announced and record is not None and record.content_hash == announced:
                recovery.completed.append(article_id)
            else:
                recovery.rolled_back.append(article_id)
        if recovery.rolled_back:
            log.warning(
                "rolling back %d article(s) an interrupted write left incomplete: %s",
                len(recovery.rolled_back),
                ", ".join(recovery.rolled_back[:10]),
            )
            # Registry first, as in a removal: the article is gone for readers at once.
            self.delete_records(recovery.rolled_back)
            self.delete_chunks(recovery.rolled_back)
        self.end_writes(list(abandoned))
        return recovery

    @translate_errors
    def iter_articles(self) -> Iterator[list[tuple[ArticleRecord, str, str | None]]]:
        """Every registry entry with its full text and URL key, a page at a time."""
        total = self.count_articles()
        for offset in range(0, total, self.max_batch):
            got = self._articles.get(
                include=["metadatas", "documents"], limit=self.max_batch, offset=offset
            )
            page: list[tuple[ArticleRecord, str, str | None]] = []
            for i, m, d in zip(
                got["ids"], got["metadatas"] or [], got["documents"] or [], strict=True
            ):
                url_key = (m or {}).get("url_key")
                page.append(
                    (
                        record_from_metadata(i, m),
                        d or "",
                        url_key if isinstance(url_key, str) else None,
                    )
                )
            yield page

    # -- reads for search --------------------------------------------------------------------

    @translate_errors
    def query(
        self, vector: np.ndarray, limit: int, *, days: tuple[int, int] | None = None
    ) -> list[tuple[Chunk, float]]:
        """Nearest chunks to ``vector`` with their cosine similarity; ``days``: only chunks of
        articles published on those days (YYYYMMDD, inclusive)."""
        # No count() first: Chroma answers an empty or small collection with fewer hits, and
        # the count cost ~2 ms of every question.
        if limit <= 0:
            return []
        got = self._chunks.query(
            query_embeddings=[vector],
            n_results=limit,
            where=None if days is None else between(DAY, *days),
            include=["documents", "metadatas", "distances"],
        )
        metadatas, documents, distances = got["metadatas"], got["documents"], got["distances"]
        if metadatas is None or documents is None or distances is None:
            raise StoreError(f"{self.description} returned an incomplete query result")
        hits = []
        for meta, text, distance in zip(metadatas[0], documents[0], distances[0], strict=True):
            hits.append((chunk_from_metadata(meta, text), 1.0 - float(distance)))
        return hits

    @translate_errors
    def chunk_vectors(self, chunks: Sequence[Chunk]) -> dict[str, np.ndarray]:
        """The stored vectors of ``chunks``, by chunk id."""
        if not chunks:
            return {}
        got = self._chunks.get(ids=[c.chunk_id for c in chunks], include=["embeddings"])
        embeddings = got["embeddings"] if got["embeddings"] is not None else []
        return {
            i: np.asarray(v, dtype=np.float32) for i, v in zip(got["ids"], embeddings, strict=True)
        }

    @translate_errors
    def has_chunk_days(self) -> bool:
        """Whether every chunk of a dated article carries its day (see :meth:`add_chunk_days`)."""
        return bool(self._control.get([self._days_mark()]))

    @translate_errors
    def add_chunk_days(self, records: Sequence[ArticleRecord]) -> int:
        """Give the chunks of ``records`` their article's publication day, without embedding
        again (a store from before period filters), and mark the store as done; returns the
        number of chunks updated. Chunk ids follow from the article id and chunk count."""
        ids: list[str] = []
        metadatas: list[Metadata] = []
        for record in records:
            day = day_number(record.published)
            if day is not None:
                chunk_ids = [chunk_id(record.article_id, i) for i in range(record.chunks)]
                ids.extend(chunk_ids)
                metadatas.extend({DAY: day} for _ in chunk_ids)
        # Chroma's update merges these keys into each chunk's metadata.
        for start in range(0, len(ids), self.max_batch):
            self._chunks.update(
                ids=ids[start : start + self.max_batch],
                metadatas=metadatas[start : start + self.max_batch],
            )
        self._control.put(self._days_mark(), "", {"chunks": len(ids)})
        return len(ids)

    def _days_mark(self) -> str:
        return f"chunk-days:{self.generation or 'first'}"

    @translate_errors
    def iter_chunks(self) -> Iterator[list[Chunk]]:
        """All stored chunks, a page at a time (for rebuilding the lexical index)."""
        total = self.count_chunks()
        for offset in range(0, total, self.max_batch):
            got = self._chunks.get(
                include=["documents", "metadatas"], limit=self.max_batch, offset=offset
            )
            yield [
                chunk_from_metadata(m, t)
                for m, t in zip(got["metadatas"] or [], got["documents"] or [], strict=True)
            ]


def _setting_to_restore(stored_model: str) -> str:
    # Indexes record int8 vectors as "<model> (int8)" (EmbeddingSettings.identity); one built
    # before onnx-int8 became the default names the bare model and needs torch (or onnx).
    if stored_model.endswith(INT8_SUFFIX):
        return 'embedding.model (and embedding.backend = "onnx-int8")'
    return 'embedding.model (and embedding.backend = "torch" or "onnx")'
