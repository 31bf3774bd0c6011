"""Vectors of article sentences, kept on disk so quoting a passage costs no model call.

Quote selection scores every sentence of the passages it shows against the question. Embedding
those 30-40 sentences was ~90% of the time of a question; read from here it is a few
milliseconds. The library fills this at ingest, at no extra model cost: with chunk vectors a
sentence's vector is pooled from its chunk's forward pass, with pooled sentence vectors it is
embedded there anyway. A miss (an index built before this existed, another process ingested the
article) embeds the sentence on its own and keeps it. Derived data: deleting the file only makes
the next questions slower until it refills.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from newsbot.index import sqlite

log = logging.getLogger(__name__)

Embed = Callable[[Sequence[str]], np.ndarray]


def pack(vector: np.ndarray) -> bytes:
    """A vector as its scale (float32) and int8 components: half the bytes of float16, and
    quote recall unchanged (benchmarks/README.md)."""
    values = np.asarray(vector, dtype=np.float32)
    scale = float(np.abs(values).max()) / 127 or 1.0
    return np.float32(scale).tobytes() + np.round(values / scale).astype(np.int8).tobytes()


def unpack(blob: bytes) -> np.ndarray:
    """The vector ``pack`` stored (empty for a truncated row)."""
    if len(blob) <= 4:
        return np.zeros(0, dtype=np.float32)
    scale = np.frombuffer(blob[:4], dtype=np.float32)[0]
    return np.frombuffer(blob[4:], dtype=np.int8).astype(np.float32) * scale


class SentenceVectors:
    """A persistent map from (model, sentence text) to its unit vector, as int8 (``pack``).

    A file written before int8 keeps its float16 rows in the ``vectors`` table; they are
    read when a sentence has no int8 row.
    """

    def __init__(self, path: Path | str, *, model: str) -> None:
        self.path = str(path)
        self._model = model
        self._lock = threading.Lock()
        self._float16 = False  # whether the file has rows written before int8
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as error:
            # Derived data: a damaged file is set aside (for a post-mortem) and started
            # afresh, rather than stopping the bot.
            aside = f"{self.path}.corrupt"
            log.warning(
                "sentence-vector cache %s is unreadable (%s); moved to %s", path, error, aside
            )
            os.replace(self.path, aside)
            for suffix in ("-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(self.path + suffix)
            self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        db = sqlite.connect(self.path)
        try:
            db.execute(
                "CREATE TABLE IF NOT EXISTS vectors8 (key BLOB PRIMARY KEY, vector BLOB NOT NULL)"
                " WITHOUT ROWID"
            )
            self._float16 = db.execute(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'vectors')"
            ).fetchone()[0]
        except sqlite3.Error:
            db.close()
            raise
        return db

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _key(self, text: str) -> bytes:
        # The model is part of the key: a model change must never reuse old vectors.
        return hashlib.blake2b(f"{self._model}\0{text}".encode(), digest_size=16).digest()

    def put(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Keep the vectors of ``texts``; a cache that cannot be written (disk full, read-only
        file) only costs speed, so that is logged, not raised."""
        rows = [(self._key(t), pack(v)) for t, v in zip(texts, vectors, strict=True)]
        if not rows:
            return
        try:
            with self._lock, sqlite.transaction(self._db):
                self._db.executemany("INSERT OR REPLACE INTO vectors8 VALUES (?, ?)", rows)
        except sqlite3.Error as error:
            log.warning("sentence-vector cache not written: %s", error)

    def embed(self, texts: Sequence[str], embed: Embed) -> np.ndarray:
        """Vectors for ``texts``: stored ones read back, the others embedded and stored."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        keys = [self._key(t) for t in texts]
        found: dict[bytes, np.ndarray] = {}
        try:
            with self._lock:
                self._read(found, "vectors8", keys, unpack)
                if self._float16 and len(found) < len(set(keys)):
                    rest = [k for k in keys if k not in found]
                    self._read(found, "vectors", rest, lambda b: np.frombuffer(b, np.float16))
        except sqlite3.Error as error:
            # A cache that cannot be read costs speed, never the answer.
            log.warning("sentence-vector cache unreadable, using the model: %s", error)
            found.clear()
        missing = list(dict.fromkeys(t for t, k in zip(texts, keys, strict=True) if k not in found))
        if missing:
            vectors = embed(missing)
            self.put(missing, vectors)
            for text, vector in zip(missing, vectors, strict=True):
                # Rounded as stored, so an answer does not depend on whether it was cached.
                found[self._key(text)] = unpack(pack(vector))
        return np.stack([found[k] for k in keys]).astype(np.float32)

    def _read(
        self,
        found: dict[bytes, np.ndarray],
        table: str,
        keys: Sequence[bytes],
        decode: Callable[[bytes], np.ndarray],
    ) -> None:
        for start in range(0, len(keys), 500):  # SQLite's bound-parameter limit
            part = list(dict.fromkeys(keys[start : start + 500]))
            marks = ",".join("?" * len(part))
            for key, blob in self._db.execute(
                f"SELECT key, vector FROM {table} WHERE key IN ({marks})", part
            ):
                vector = decode(blob)
                if vector.size:  # a truncated row is a miss, not an answer
                    found[key] = vector
