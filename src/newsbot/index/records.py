"""How articles and chunks are kept in Chroma: what is written for one article, the
metadata of a registry entry and of a chunk, the filters that find them, and the registry's
fingerprint that tells whether the BM25 index matches it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from chromadb.api.types import Where

from newsbot.models import ArticleRecord, Chunk

_RECORD_FIELDS = ("title", "url", "outlet", "published", "author", "added_at", "added_by")
# The chunk metadata key of the article's publication day (see day_number).
DAY = "day"


def day_number(published: str | None) -> int | None:
    """A publication date ("YYYY-MM-DD...") as the number YYYYMMDD that period filters
    compare (Chroma and tantivy filter numbers, not dates); None when undated or unreadable."""
    if not published or len(published) < 10:
        return None
    year, month, day = published[:4], published[5:7], published[8:10]
    if not (year.isdigit() and month.isdigit() and day.isdigit()):
        return None
    return int(year) * 10000 + int(month) * 100 + int(day)


@dataclass(frozen=True, slots=True)
class StoredArticle:
    """Everything written for one article in one go."""

    record: ArticleRecord
    text: str
    chunks: list[Chunk]
    vectors: np.ndarray  # one row per chunk
    url_key: str | None


def one_of(field: str, values: Sequence[str]) -> Where:
    """A Chroma filter: metadata ``field`` is one of ``values``."""
    # mypy cannot narrow the "$in" key of a nested dict display to Chroma's literal type.
    return cast(Where, {field: {"$in": list(values)}})


def between(field: str, low: int, high: int) -> Where:
    """A Chroma filter: metadata ``field`` is a number from ``low`` to ``high``, inclusive."""
    return cast(Where, {"$and": [{field: {"$gte": low}}, {field: {"$lte": high}}]})


def chunk_metadata(chunk: Chunk, day: int | None) -> dict[str, Any]:
    """What a chunk's record holds beside its vector (its text too: see ChromaStore)."""
    meta: dict[str, Any] = {
        "article_id": chunk.article_id,
        "index": chunk.index,
        "start": chunk.start,
        "end": chunk.end,
        "text": chunk.text,
    }
    if day is not None:
        meta[DAY] = day
    return meta


def record_metadata(record: ArticleRecord, url_key: str | None) -> dict[str, Any]:
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


def record_from_metadata(article_id: str, meta: dict[str, Any] | Any) -> ArticleRecord:
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


def chunk_from_metadata(meta: dict[str, Any] | Any, document: str | None) -> Chunk:
    """A stored chunk; its text is in the metadata, or (written before 2026-11-26) the
    document."""
    text = meta.get("text")
    return Chunk(
        article_id=str(meta["article_id"]),
        index=int(meta["index"]),
        start=int(meta["start"]),
        end=int(meta["end"]),
        text=text if isinstance(text, str) else document or "",
    )


def record_fingerprint(record: ArticleRecord) -> int:
    digest = hashlib.blake2b(
        f"{record.article_id}\0{record.content_hash}\0{record.chunks}".encode(), digest_size=16
    ).digest()
    return int.from_bytes(digest, "big")


def fingerprint(records: Iterable[ArticleRecord]) -> str:
    """An order-independent digest of the registry; see :func:`record_fingerprint`."""
    value = 0
    for record in records:
        value ^= record_fingerprint(record)
    return f"{value:032x}"
