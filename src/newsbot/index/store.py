"""Chroma, embedded or server: chunk vectors and the article registry, behind one code path.

Two collections live side by side so the registry is wherever the index is:
``<prefix>_chunks`` (one record per chunk: its text, offsets and vector) and
``<prefix>_articles`` (one record per article: full text and metadata; its vector is the mean of
the article's chunk vectors, as Chroma needs one).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, ParamSpec, TypeVar, cast
from urllib.parse import urlsplit

import numpy as np
from chromadb.api.types import Where

from newsbot.config import StoreSettings
from newsbot.errors import ModelMismatchError, StoreError
from newsbot.models import ArticleRecord, Chunk

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

_MODEL_KEY = "newsbot_model"
_RECORD_FIELDS = ("title", "url", "outlet", "published", "author", "added_at", "added_by")


@dataclass(frozen=True, slots=True)
class StoredArticle:
    """Everything written for one article in one go."""

    record: ArticleRecord
    text: str
    chunks: list[Chunk]
    vectors: np.ndarray  # one row per chunk
    url_key: str | None


def _translate_errors(method: Callable[P, R]) -> Callable[P, R]:
    """Turn Chroma and network failures into StoreError with a message for a person."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except (StoreError, ValueError, TypeError):
            raise
        except Exception as error:
            store = args[0]
            where = getattr(store, "description", "the store")
            raise StoreError(f"{where} is unavailable: {_one_line(error)}") from error

    return wrapper


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:300] if text else type(error).__name__


def record_fingerprint(record: ArticleRecord) -> int:
    digest = hashlib.blake2b(
        f"{record.article_id}\0{record.content_hash}\0{record.chunks}".encode(), digest_size=16
    ).digest()
    return int.from_bytes(digest, "big")


class ChromaStore:
    """Chunk vectors and the article registry in Chroma."""

    def __init__(self, settings: StoreSettings, *, model: str) -> None:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        try:
            if settings.url:
                parts = urlsplit(settings.url)
                self.description = f"Chroma server {parts.scheme}://{parts.netloc}"
                self._client = chromadb.HttpClient(
                    host=parts.hostname or "localhost",
                    port=parts.port or (443 if parts.scheme == "https" else 8000),
                    ssl=parts.scheme == "https",
                    settings=chroma_settings,
                )
            else:
                self.description = f"embedded Chroma at {settings.path}"
                settings.path.mkdir(parents=True, exist_ok=True)
                self._client = chromadb.PersistentClient(
                    path=str(settings.path), settings=chroma_settings
                )
            self.max_batch = int(self._client.get_max_batch_size())
            self._chunks = self._client.get_or_create_collection(
                f"{settings.collection}_chunks",
                configuration={"hnsw": {"space": "cosine"}},
                metadata={_MODEL_KEY: model},
                embedding_function=None,
            )
            self._articles = self._client.get_or_create_collection(
                f"{settings.collection}_articles",
                configuration={"hnsw": {"space": "cosine"}},
                embedding_function=None,
            )
        except Exception as error:
            if isinstance(error, StoreError):
                raise
            where = getattr(self, "description", "the store")
            raise StoreError(f"cannot open {where}: {_one_line(error)}") from error
        self.model = model
        stored = (self._chunks.metadata or {}).get(_MODEL_KEY)
        if stored is not None and stored != model:
            raise ModelMismatchError(
                f"the index was built with the embedding model {stored!r}, but {model!r} is "
                "configured; set embedding.model back, or rebuild the index with the new model"
            )

    def close(self) -> None:
        # PersistentClient holds no handles we can release explicitly; drop references.
        with contextlib.suppress(Exception):
            self._client.clear_system_cache()

    def documents(self, name: str) -> DocumentCollection:
        """A collection of small JSON documents beside the index (e.g. feed subscriptions).

        Args:
            name: the full collection name, e.g. ``newsbot_feeds``.
        """
        return DocumentCollection(self, name)

    # -- registry ----------------------------------------------------------------------------

    @_translate_errors
    def get_records(self, article_ids: Sequence[str]) -> dict[str, ArticleRecord]:
        if not article_ids:
            return {}
        got = self._articles.get(ids=list(article_ids), include=["metadatas"])
        return {i: _record(i, m) for i, m in zip(got["ids"], got["metadatas"] or [], strict=True)}

    @_translate_errors
    def find_records(self, field: str, values: Sequence[str]) -> dict[str, ArticleRecord]:
        """Registry entries whose metadata ``field`` is one of ``values``, keyed by that value."""
        if not values:
            return {}
        got = self._articles.get(
            where=_one_of(field, list(dict.fromkeys(values))), include=["metadatas"]
        )
        found: dict[str, ArticleRecord] = {}
        for article_id, meta in zip(got["ids"], got["metadatas"] or [], strict=True):
            found[str(meta[field])] = _record(article_id, meta)
        return found

    @_translate_errors
    def all_records(self) -> list[ArticleRecord]:
        records: list[ArticleRecord] = []
        for offset in range(0, self.count_articles(), self.max_batch):
            got = self._articles.get(include=["metadatas"], limit=self.max_batch, offset=offset)
            records.extend(
                _record(i, m) for i, m in zip(got["ids"], got["metadatas"] or [], strict=True)
            )
        return records

    @_translate_errors
    def article_text(self, article_id: str) -> str | None:
        got = self._articles.get(ids=[article_id], include=["documents"])
        documents = got["documents"] or []
        return documents[0] if documents else None

    @_translate_errors
    def count_articles(self) -> int:
        return int(self._articles.count())

    @_translate_errors
    def count_chunks(self) -> int:
        return int(self._chunks.count())

    # -- writes ------------------------------------------------------------------------------

    @_translate_errors
    def delete_chunks(self, article_ids: Sequence[str]) -> None:
        for start in range(0, len(article_ids), 100):
            self._chunks.delete(where=_one_of("article_id", article_ids[start : start + 100]))

    @_translate_errors
    def write_chunks(self, articles: Sequence[StoredArticle]) -> None:
        """Upsert the chunks of ``articles``, in batches within Chroma's limit."""
        chunks = [c for a in articles for c in a.chunks]
        if not chunks:
            return
        vectors = np.concatenate([a.vectors for a in articles])
        for start in range(0, len(chunks), self.max_batch):
            batch = chunks[start : start + self.max_batch]
            self._chunks.upsert(
                ids=[c.chunk_id for c in batch],
                embeddings=vectors[start : start + len(batch)],
                documents=[c.text for c in batch],
                metadatas=[
                    {"article_id": c.article_id, "index": c.index, "start": c.start, "end": c.end}
                    for c in batch
                ],
            )

    @_translate_errors
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
                metadatas=[_metadata(a.record, a.url_key) for a in batch],
            )

    @_translate_errors
    def delete_records(self, article_ids: Sequence[str]) -> None:
        if article_ids:
            self._articles.delete(ids=list(article_ids))

    # -- reads for search --------------------------------------------------------------------

    @_translate_errors
    def query(self, vector: np.ndarray, limit: int) -> list[tuple[Chunk, float]]:
        """Nearest chunks to ``vector`` with their cosine similarity."""
        if limit <= 0 or self.count_chunks() == 0:
            return []
        got = self._chunks.query(
            query_embeddings=[vector],
            n_results=limit,
            include=["documents", "metadatas", "distances"],
        )
        metadatas, documents, distances = got["metadatas"], got["documents"], got["distances"]
        if metadatas is None or documents is None or distances is None:
            raise StoreError(f"{self.description} returned an incomplete query result")
        hits = []
        for meta, text, distance in zip(metadatas[0], documents[0], distances[0], strict=True):
            hits.append((_chunk(meta, text), 1.0 - float(distance)))
        return hits

    @_translate_errors
    def chunk_vectors(self, chunks: Sequence[Chunk]) -> dict[str, np.ndarray]:
        """The stored vectors of ``chunks``, by chunk id."""
        if not chunks:
            return {}
        got = self._chunks.get(ids=[c.chunk_id for c in chunks], include=["embeddings"])
        embeddings = got["embeddings"] if got["embeddings"] is not None else []
        return {
            i: np.asarray(v, dtype=np.float32) for i, v in zip(got["ids"], embeddings, strict=True)
        }

    @_translate_errors
    def iter_chunks(self) -> Iterator[list[Chunk]]:
        """All stored chunks, a page at a time (for rebuilding the lexical index)."""
        total = self.count_chunks()
        for offset in range(0, total, self.max_batch):
            got = self._chunks.get(
                include=["documents", "metadatas"], limit=self.max_batch, offset=offset
            )
            yield [
                _chunk(m, t)
                for m, t in zip(got["metadatas"] or [], got["documents"] or [], strict=True)
            ]


class DocumentCollection:
    """Small records kept in the same Chroma (embedded or server) as the index: an id, a text
    document (JSON, say) and flat metadata. Chroma needs a vector per record; a constant
    one-dimensional vector stands in, since these records are never searched by similarity.
    """

    _VECTOR: ClassVar[list[list[float]]] = [[1.0]]

    def __init__(self, store: ChromaStore, name: str) -> None:
        self.description = store.description
        self.name = name
        try:
            self._collection = store._client.get_or_create_collection(name, embedding_function=None)
        except Exception as error:
            raise StoreError(
                f"cannot open {name} in {store.description}: {_one_line(error)}"
            ) from error

    @_translate_errors
    def get(self, ids: Sequence[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        """The documents and metadata of ``ids`` that exist."""
        if not ids:
            return {}
        got = self._collection.get(ids=list(ids), include=["documents", "metadatas"])
        return {
            i: (d or "", dict(m or {}))
            for i, d, m in zip(
                got["ids"], got["documents"] or [], got["metadatas"] or [], strict=True
            )
        }

    @_translate_errors
    def find(self, where: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
        """Every record whose metadata matches ``where`` (a Chroma filter)."""
        found: dict[str, tuple[str, dict[str, Any]]] = {}
        offset, page = 0, 1000
        while True:
            got = self._collection.get(
                where=where, include=["documents", "metadatas"], limit=page, offset=offset
            )
            for i, d, m in zip(
                got["ids"], got["documents"] or [], got["metadatas"] or [], strict=True
            ):
                found[i] = (d or "", dict(m or {}))
            if len(got["ids"]) < page:
                return found
            offset += page

    @_translate_errors
    def put(self, record_id: str, document: str, metadata: dict[str, Any]) -> None:
        """Insert or replace one record (metadata values: str, int, float or bool)."""
        self._collection.upsert(
            ids=[record_id],
            embeddings=np.asarray(self._VECTOR, dtype=np.float32),
            documents=[document],
            metadatas=[{k: v for k, v in metadata.items() if v is not None} or {"_": 0}],
        )

    @_translate_errors
    def delete(self, ids: Sequence[str]) -> None:
        if ids:
            self._collection.delete(ids=list(ids))


def _one_of(field: str, values: Sequence[str]) -> Where:
    """A Chroma filter: metadata ``field`` is one of ``values``."""
    # mypy cannot narrow the "$in" key of a nested dict display to Chroma's literal type.
    return cast(Where, {field: {"$in": list(values)}})


def _metadata(record: ArticleRecord, url_key: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "chunks": record.chunks,
        "content_hash": record.content_hash,
    }
    for name in _RECORD_FIELDS:
        value = getattr(record, name)
        if value is not None:
            meta[name] = value
    if url_key is not None:
        meta["url_key"] = url_key
    return meta


def _record(article_id: str, meta: dict[str, Any] | Any) -> ArticleRecord:
    meta = dict(meta or {})
    return ArticleRecord(
        article_id=article_id,
        title=str(meta.get("title") or "Untitled"),
        url=meta.get("url"),
        outlet=meta.get("outlet"),
        published=meta.get("published"),
        author=meta.get("author"),
        added_at=str(meta.get("added_at") or ""),
        added_by=meta.get("added_by"),
        chunks=int(meta.get("chunks") or 0),
        content_hash=str(meta.get("content_hash") or ""),
    )


def _chunk(meta: dict[str, Any] | Any, text: str) -> Chunk:
    return Chunk(
        article_id=str(meta["article_id"]),
        index=int(meta["index"]),
        start=int(meta["start"]),
        end=int(meta["end"]),
        text=text,
    )


def fingerprint(records: Iterable[ArticleRecord]) -> str:
    """An order-independent digest of the registry; see :func:`record_fingerprint`."""
    value = 0
    for record in records:
        value ^= record_fingerprint(record)
    return f"{value:032x}"
