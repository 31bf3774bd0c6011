"""The SQLite files kept beside the index (the sentence vectors): one way to open them and
one way to write to them."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def connect(path: str) -> sqlite3.Connection:
    """Open ``path`` (or ``":memory:"``), creating its folder, for several threads.

    The caller serialises access with its own lock. Autocommit mode, so a write is a
    :func:`transaction`; WAL, so a reader never waits for a writer.
    """
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    return db


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """All the statements of the block, or none of them."""
    db.execute("BEGIN")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
