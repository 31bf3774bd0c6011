"""Where the library's derived files live (the BM25 index and the sentence vectors)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from newsbot.config import Settings


def lexical_index_path(settings: Settings) -> Path:
    """Where the BM25 index lives: beside an embedded store, in the user's cache for a server."""
    store = settings.store
    if store.lexical_path is not None:
        return store.lexical_path
    if not store.url:
        return store.path / f"{store.collection}-lexical"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    digest = hashlib.sha256(f"{store.url}\0{store.collection}".encode()).hexdigest()[:16]
    return cache / "newsbot" / f"lexical-{digest}"


def remove_fts5_index(lexical_path: Path) -> None:
    """Delete the SQLite FTS5 index of newsbot before 2026-11-26 beside ``lexical_path``:
    derived data, which tantivy's index replaces."""
    for old in ("", "-wal", "-shm"):
        lexical_path.with_name(lexical_path.name + ".sqlite3" + old).unlink(missing_ok=True)
