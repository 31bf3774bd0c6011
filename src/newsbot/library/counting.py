"""The library's size read straight from its store, for the health check."""

from __future__ import annotations

from newsbot.config import Settings
from newsbot.index.store import ChromaStore
from newsbot.models import LibraryStats


def count_library(settings: Settings) -> LibraryStats:
    """How many articles and chunks the store holds, without opening the library: no model, no
    repair of an interrupted write and no BM25 check, so a health check stays quick and
    changes nothing."""
    store = ChromaStore(settings.store, model=settings.embedding.identity)
    try:
        return LibraryStats(
            articles=store.count_articles(),
            chunks=store.count_chunks(),
            model=store.stored_model,
            store=store.description,
        )
    finally:
        store.close()
