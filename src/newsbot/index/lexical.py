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
_TOKENIZE = "'porter unicode61 remove_diacritics 2'"
# Words in fewer chunks than this are always searched, however small the index: their lists
# are cheap to score, and in a small library "10 % of the chunks" is a handful.
PRUNE_FLOOR = 1000
# Stems whose chunk counts are remembered between writes (~100 bytes each).
FREQUENCIES_KEPT = 100_000


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
        # Chunks holding each stem, as of the row count in [0]: FTS5 counts them by reading the
        # stem's whole list (~0.3 ms a word at 84,601 chunks, most of a question's BM25 time
        # for the common words that recur from question to question).
        self._frequencies: tuple[int, dict[str, int]] = (-1, {})
        self._db = sqlite.connect(self.path)
        self._db.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS chunks USING fts5("
            "chunk_id UNINDEXED, article_id UNINDEXED, idx UNINDEXED, start UNINDEXED,"
            f" stop UNINDEXED, text, tokenize={_TOKENIZE})"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        # Which FTS rows hold an article's chunks: FTS5 cannot index article_id, so deleting
        # by it read every row (~0.1 s per article at 100k chunks, on every re-add and remove).
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS article_rows (article_id TEXT NOT NULL,"
            " row INTEGER NOT NULL, PRIMARY KEY (article_id, row)) WITHOUT ROWID"
        )
        self._index_article_rows()
        # Per connection, in memory: the index's term statistics, and a one-row table that
        # runs a question through the index's own tokenizer (porter stems) to look them up.
        self._db.execute(
            "CREATE VIRTUAL TABLE temp.chunk_terms USING fts5vocab(main, 'chunks', 'row')"
        )
        self._db.execute(
            f"CREATE VIRTUAL TABLE temp.question USING fts5(text, tokenize={_TOKENIZE})"
        )
        self._db.execute(
            "CREATE VIRTUAL TABLE temp.question_terms USING fts5vocab(temp, 'question', 'instance')"
        )

    def _index_article_rows(self) -> None:
        """Fill ``article_rows`` for an index written before it existed (once)."""
        has_rows = self._db.execute("SELECT EXISTS (SELECT 1 FROM article_rows)").fetchone()[0]
        if has_rows or not self._db.execute("SELECT EXISTS (SELECT 1 FROM chunks)").fetchone()[0]:
            return
        with sqlite.transaction(self._db):
            self._db.execute(
                "INSERT OR IGNORE INTO article_rows SELECT article_id, rowid FROM chunks"
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- writes ------------------------------------------------------------------------------

    @_sqlite_errors
    def replace_articles(self, article_ids: Iterable[str], chunks: Iterable[Chunk]) -> None:
        """Atomically drop the chunks of ``article_ids`` and insert ``chunks``."""
        ids = [(i,) for i in article_ids]
        rows = [(c.chunk_id, c.article_id, c.index, c.start, c.end, c.text) for c in chunks]
        with self._lock, sqlite.transaction(self._db):
            self._frequencies = (-1, {})
            self._db.executemany(
                "DELETE FROM chunks WHERE rowid IN"
                " (SELECT row FROM article_rows WHERE article_id = ?)",
                ids,
            )
            self._db.executemany("DELETE FROM article_rows WHERE article_id = ?", ids)
            placed = []
            for row in rows:
                cursor = self._db.execute("INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?)", row)
                placed.append((row[1], cursor.lastrowid))
            self._db.executemany("INSERT INTO article_rows VALUES (?, ?)", placed)

    def remove_articles(self, article_ids: Iterable[str]) -> None:
        self.replace_articles(article_ids, [])

    @_sqlite_errors
    def clear(self) -> None:
        with self._lock:
            self._frequencies = (-1, {})
            self._db.execute("DELETE FROM chunks")
            self._db.execute("DELETE FROM article_rows")
            self._db.execute("DELETE FROM meta")

    # -- reads -------------------------------------------------------------------------------

    @_sqlite_errors
    def search(
        self, question: str, limit: int, *, max_df: float = 1.0, max_terms: int = 0
    ) -> list[LexicalHit]:
        """The ``limit`` best chunks for the question's content words (any of them), by BM25.

        Words in more than ``max_df`` of the chunks are left out while a rarer one is left,
        and only the ``max_terms`` rarest are searched (0: all).
        """
        terms = query_terms(question)
        if not terms:
            return []
        with self._lock:
            if max_df < 1.0 or max_terms:
                terms = self._rare_terms(terms, max_df, max_terms)
                if not terms:
                    return []
            match = " OR ".join(f'"{term}"' for term in terms)
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

    def _rare_terms(self, terms: list[str], max_df: float, max_terms: int) -> list[str]:
        """The ``max_terms`` rarest of ``terms`` (0: all) in at most ``max_df`` of the chunks
        (or PRUNE_FLOOR), or the rarest one if none is; none when no term is in the index."""
        # Stems are what the index counts: each term goes through the index's own tokenizer
        # as row i of a scratch table (a term of several tokens, "covid_19", is a phrase:
        # in no more chunks than its rarest token).
        self._db.executemany(
            "INSERT INTO temp.question(rowid, text) VALUES (?, ?)", enumerate(terms)
        )
        try:
            stems = self._db.execute("SELECT term, doc FROM temp.question_terms").fetchall()
        finally:
            self._db.execute("DELETE FROM temp.question")
        rows = self._row_count()
        if self._frequencies[0] != rows or len(self._frequencies[1]) > FREQUENCIES_KEPT:
            self._frequencies = (rows, {})  # written since, here or by another process
        known = self._frequencies[1]
        counts: dict[int, int] = {}
        for stem, i in stems:
            if stem not in known:
                row = self._db.execute(
                    "SELECT doc FROM temp.chunk_terms WHERE term = ?", (stem,)
                ).fetchone()
                known[stem] = int(row[0]) if row is not None else 0
            counts[i] = min(counts.get(i, known[stem]), known[stem])
        frequency = [counts.get(i, 0) for i in range(len(terms))]
        present = sorted((n, i) for i, n in enumerate(frequency) if n > 0)
        if not present:
            return []
        limit = max(max_df * rows, PRUNE_FLOOR)
        kept = [(n, i) for n, i in present if n <= limit] or present[:1]
        return [terms[i] for _, i in kept[: max_terms or None]]

    def _row_count(self) -> int:
        """Chunks in the index, read from the FTS5 "averages" record that BM25 itself uses:
        its first varint is the row count. O(1), where count(*) reads every row."""
        row = self._db.execute("SELECT block FROM chunks_data WHERE id = 1").fetchone()
        if row is None or not row[0]:
            return 0
        value = 0
        for i, byte in enumerate(bytes(row[0])[:9]):  # an SQLite varint, big-endian
            if i == 8:
                return (value << 8) | byte
            value = (value << 7) | (byte & 0x7F)
            if byte < 0x80:
                return value
        return value

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
