"""Small records kept beside the index, in the same Chroma: feed subscriptions, say."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, cast

import numpy as np
from chromadb.api.types import Where

from newsbot.errors import StoreError
from newsbot.index.failures import describe_failure, translate_errors

if TYPE_CHECKING:
    from newsbot.index.store import ChromaStore


class DocumentCollection:
    """Small records kept in the same Chroma (embedded or server) as the index: an id, a text
    document (JSON, say) and flat metadata. Chroma needs a vector per record; a constant
    one-dimensional vector stands in, since these records are never searched by similarity.
    """

    _VECTOR: ClassVar[list[list[float]]] = [[1.0]]

    def __init__(self, store: ChromaStore, name: str) -> None:
        self.description = store.description
        self.name = name
        self.remote = store.remote
        self._client = store._client
        self._stale = False
        try:
            self._connect()
        except Exception as error:
            raise StoreError(describe_failure(self, error)) from error

    def _connect(self) -> None:
        self._collection = self._client.get_or_create_collection(self.name, embedding_function=None)
        self._stale = False

    @translate_errors
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

    @translate_errors
    def find(self, where: dict[str, Any] | None) -> dict[str, tuple[str, dict[str, Any]]]:
        """Every record whose metadata matches ``where`` (a Chroma filter; None: all)."""
        found: dict[str, tuple[str, dict[str, Any]]] = {}
        offset, page = 0, 1000
        while True:
            got = self._collection.get(
                where=cast(Where, where) if where else None,
                include=["documents", "metadatas"],
                limit=page,
                offset=offset,
            )
            for i, d, m in zip(
                got["ids"], got["documents"] or [], got["metadatas"] or [], strict=True
            ):
                found[i] = (d or "", dict(m or {}))
            if len(got["ids"]) < page:
                return found
            offset += page

    @translate_errors
    def put(self, record_id: str, document: str, metadata: dict[str, Any]) -> None:
        """Insert or replace one record (metadata values: str, int, float or bool)."""
        self._collection.upsert(
            ids=[record_id],
            embeddings=np.asarray(self._VECTOR, dtype=np.float32),
            documents=[document],
            metadatas=[{k: v for k, v in metadata.items() if v is not None} or {"_": 0}],
        )

    @translate_errors
    def put_many(self, records: Sequence[tuple[str, str, dict[str, Any]]]) -> None:
        """Insert or replace ``(id, document, metadata)`` records in one request."""
        if not records:
            return
        self._collection.upsert(
            ids=[r[0] for r in records],
            embeddings=np.asarray(self._VECTOR * len(records), dtype=np.float32),
            documents=[r[1] for r in records],
            metadatas=[
                {k: v for k, v in r[2].items() if v is not None} or {"_": 0} for r in records
            ],
        )

    @translate_errors
    def delete(self, ids: Sequence[str]) -> None:
        if ids:
            self._collection.delete(ids=list(ids))
