"""Chroma segment folders that no collection owns any more, removed when a store opens.

Embedded Chroma (1.5.9) keeps each collection's vector index in ``<store>/<segment id>/``, and
``delete_collection`` drops the collection's rows but leaves that folder on disk (upstream
chroma-core/chroma#5259: file removal belongs to a garbage collector the embedded mode does not
run). Every ``reindex`` drops a generation of collections, so a store grew by the size of its
vector index with each one. The rule below is the one ``chops db clean`` (chromadb-ops) uses;
it relies on Chroma's ``segments`` table, and deletes nothing when that cannot be read.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import uuid
from pathlib import Path

log = logging.getLogger(__name__)

# What an HNSW segment folder holds; a folder with anything else is never ours to remove.
_SEGMENT_FILES = {
    "header.bin",
    "data_level0.bin",
    "length.bin",
    "link_lists.bin",
    "index_metadata.pickle",
}


def orphan_segment_folders(store: Path) -> list[Path]:
    """The segment folders in ``store`` that no segment of Chroma's catalogue names.

    Call it with no Chroma client open on ``store`` (the store lock held): folders are listed
    before the catalogue is read, so one created meanwhile would be seen as live anyway.
    """
    candidates = [path for path in _folders(store) if _looks_like_segment(path)]
    if not candidates:
        return []
    catalogue = store / "chroma.sqlite3"
    if not catalogue.is_file():
        return []
    try:
        db = sqlite3.connect(f"{catalogue.as_uri()}?mode=ro", uri=True)
        try:
            segments = db.execute("SELECT id, type FROM segments").fetchall()
        finally:
            db.close()
    except sqlite3.Error as error:  # another Chroma layout: leave everything as it is
        log.debug("Chroma's segment catalogue is unreadable (%s); no folder removed", error)
        return []
    if not any("hnsw" in str(kind) for _, kind in segments):
        # A newsbot store always has vector segments; a catalogue that names none is one this
        # rule does not know (another Chroma version): every folder would look orphaned.
        return []
    live = {str(segment) for segment, _ in segments}
    return [path for path in candidates if path.name not in live]


def remove_orphan_segments(store: Path) -> int:
    """Remove what :func:`orphan_segment_folders` finds; returns the bytes freed."""
    freed = 0
    for path in orphan_segment_folders(store):
        size = sum(f.stat().st_size for f in path.iterdir() if f.is_file())
        try:
            shutil.rmtree(path)
        except OSError as error:  # only disk space is at stake
            log.warning("cannot remove %s, left by a dropped collection: %s", path, error)
            continue
        freed += size
    if freed:
        log.info("removed %.1f MB of vector index left by dropped collections", freed / 1e6)
    return freed


def _folders(store: Path) -> list[Path]:
    try:
        with os.scandir(store) as entries:
            return [Path(e.path) for e in entries if e.is_dir(follow_symlinks=False)]
    except OSError:
        return []


def _looks_like_segment(path: Path) -> bool:
    try:
        if str(uuid.UUID(path.name)) != path.name:
            return False
        with os.scandir(path) as entries:
            found = [(e.name, e.is_file(follow_symlinks=False)) for e in entries]
    except (ValueError, OSError):
        return False
    return bool(found) and all(name in _SEGMENT_FILES and is_file for name, is_file in found)
