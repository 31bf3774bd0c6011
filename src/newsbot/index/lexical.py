"""BM25 beside Chroma: an SQLite FTS5 index of the chunk texts.

Chroma (embedded) has no sparse index, so exact matching of names, places and numbers lives
here. It holds nothing that Chroma does not: it can always be rebuilt from the store, and a
fingerprint of the registry tells when it must be.
"""

from __future__ import annotations

import functools
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import ParamSpec, TypeVar

from newsbot.errors import StoreError
from newsbot.index import sqlite
from newsbot.models import Chunk

P = ParamSpec("P")
R = TypeVar("R")

# Words that carry no evidence in a question; matching them only adds noise to BM25.
_STOPWORD_TEXT = """
    a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for
    from further had has have having he her here hers herself him himself his how i if in
    into is it its itself just me more most my myself no nor not now of off on once only or
    other our ours ourselves out over own same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until up
    very was we were what when where which while who whom why will with would you your
    yours yourself yourselves said says say according also new one two many much may might
    must shall s t
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_TOKEN = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True, slots=True)
class LexicalHit:
    chunk: Chunk
    score: float  # BM25, higher is better


def query_terms(question: str) -> list[str]:
    """The distinct, lower-cased content words of a question, in order."""
    seen: dict[str, None] = {}
    for token in _TOKEN.findall(question.lower()):
        if token not in STOPWORDS and (len(token) > 1 or token.isdigit()):
            seen.setdefault(token, None)
    return list(seen)


def _sqlite_errors(method: Callable[P, R]) -> Callable[P, R]:
    """SQLite failures (disk full, read-only file, I/O error) become a StoreError in words."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except sqlite3.Error as error:
            index = args[0]
            raise StoreError(
                f"the lexical index {getattr(index, 'path', '')} failed: {error} (is the disk "
                "full or the store read-only? it is rebuilt from Chroma when damaged)"
            ) from error

    return wrapper


class LexicalIndex:
    """A persistent FTS5 index of chunks, safe to share between threads."""

    @_sqlite_errors
    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        self._db = sqlite.connect(self.path)
        self._db.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS chunks USING fts5("
            "chunk_id UNINDEXED, article_id UNINDEXED, idx UNINDEXED, start UNINDEXED,"
            " stop UNINDEXED, text, tokenize='porter unicode61 remove_diacritics 2')"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- writes ------------------------------------------------------------------------------

    @_sqlite_errors
    def replace_articles(self, article_ids: Iterable[str], chunks: Iterable[Chunk]) -> None:
        """Atomically drop the chunks of ``article_ids`` and insert ``chunks``."""
        ids = list(article_ids)
        rows = [(c.chunk_id, c.article_id, c.index, c.start, c.end, c.text) for c in chunks]
        with self._lock, sqlite.transaction(self._db):
            self._db.executemany("DELETE FROM chunks WHERE article_id = ?", [(i,) for i in ids])
            self._db.executemany("INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?)", rows)

    def remove_articles(self, article_ids: Iterable[str]) -> None:
        self.replace_articles(article_ids, [])

    @_sqlite_errors
    def clear(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM chunks")
            self._db.execute("DELETE FROM meta")

    # -- reads -------------------------------------------------------------------------------

    @_sqlite_errors
    def search(self, question: str, limit: int) -> list[LexicalHit]:
        """The ``limit`` best chunks for the question's content words (any of them), by BM25."""
        terms = query_terms(question)
        if not terms:
            return []
        match = " OR ".join(f'"{term}"' for term in terms)
        with self._lock:
            rows = self._db.execute(
                "SELECT chunk_id, article_id, idx, start, stop, text, bm25(chunks) AS rank "
                "FROM chunks WHERE chunks MATCH ? ORDER BY rank LIMIT ?",
                (match, limit),
            ).fetchall()
        return [
            LexicalHit(
                chunk=Chunk(article_id=aid, index=int(idx), start=int(a), end=int(b), text=text),
                score=-float(rank),
            )
            for _chunk_id, aid, idx, a, b, text, rank in rows
        ]

    @_sqlite_errors
    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM chunks").fetchone()[0])

    @_sqlite_errors
    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    @_sqlite_errors
    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
