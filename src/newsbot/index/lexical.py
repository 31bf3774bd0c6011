"""BM25 beside Chroma: a tantivy index of the chunk texts.

Chroma (embedded) has no sparse index, so exact matching of names, places and numbers lives
here. It holds nothing that Chroma does not: it can always be rebuilt from the store, and a
fingerprint of the registry (kept in its meta file) tells when it must be.

tantivy rather than SQLite FTS5 (the engine until 2026-11-26): FTS5 scores every chunk that
holds a searched word, tantivy skips the blocks that cannot reach the top (block-max WAND).
Measured on 84,257 chunks of ../shared/eval, 200 questions: FTS5 p50 / p95 9.1 / 28.2 ms,
tantivy 0.9 / 5.3 (benchmarks/README.md, "Question latency").
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import tantivy

from newsbot.errors import StoreError
from newsbot.models import Chunk

log = logging.getLogger(__name__)

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
# Words in fewer chunks than this are always searched, however small the index: their lists
# are cheap to score, and in a small library "10 % of the chunks" is a handful.
PRUNE_FLOOR = 1000
# Bumped when the schema or the tokenizer changes: an index of another format is rebuilt.
FORMAT = "tantivy-2"  # 2: the publication day, for questions about a period
_META = "newsbot-meta.json"
_TOKENIZER = "newsbot_en"
# The writer's indexing memory; tantivy wants at least 15 MB per thread.
_WRITER_HEAP = 48_000_000
# Another process (a command-line ingest beside the bot, in server mode) may hold the writer.
_WRITER_WAIT_S = 30.0


@dataclass(frozen=True, slots=True)
class LexicalHit:
    chunk: Chunk
    score: float  # BM25, higher is better


def is_content_word(word: str) -> bool:
    """Whether a lower-cased word carries evidence: not a stopword, not a lone letter."""
    return word not in STOPWORDS and (len(word) > 1 or word.isdigit())


def query_terms(question: str) -> list[str]:
    """The distinct, lower-cased content words of a question, in order."""
    return list(dict.fromkeys(filter(is_content_word, _TOKEN.findall(question.lower()))))


def _analyzer(*, stem: bool) -> tantivy.TextAnalyzer:
    """Words split at anything not a letter or digit, lower-cased, accents folded, and
    (``stem``) reduced to their English stem: "elections" and "election" match."""
    builder = (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
    )
    if stem:
        builder = builder.filter(tantivy.Filter.stemmer("english"))
    return builder.build()


_WORDS = _analyzer(stem=False)
_STEMS = _analyzer(stem=True)


def question_stems(question: str) -> list[str]:
    """The distinct index terms (stems) of a question's content words, in order."""
    seen: dict[str, None] = {}
    for word in filter(is_content_word, _WORDS.analyze(question)):
        for stem in _STEMS.analyze(word):
            seen.setdefault(stem, None)
    return list(seen)


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("article_id", stored=True, tokenizer_name="raw")
    builder.add_integer_field("idx", stored=True)
    builder.add_integer_field("start", stored=True)
    builder.add_integer_field("stop", stored=True)
    # The article's publication day as YYYYMMDD (0: undated), a fast field for period filters.
    builder.add_integer_field("day", fast=True)
    # Term frequencies for BM25; no positions: nothing searches phrases.
    builder.add_text_field("text", stored=True, tokenizer_name=_TOKENIZER, index_option="freq")
    return builder.build()


def _store_errors(method: Callable[P, R]) -> Callable[P, R]:
    """Index failures (disk full, read-only folder, I/O error) become a StoreError in words."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except (OSError, ValueError, RuntimeError) as error:
            index = args[0]
            raise StoreError(
                f"the lexical index {getattr(index, 'path', '')} failed: {error} (is the disk "
                "full or the store read-only? it is rebuilt from Chroma when damaged)"
            ) from error

    return wrapper


class LexicalIndex:
    """A persistent BM25 index of chunks in one folder, safe to share between threads.

    Searches read a snapshot and never wait for a write; writes (one at a time) are
    committed whole or not at all.
    """

    @_store_errors
    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._folder = Path(path)
        self._lock = threading.Lock()
        self._schema = _schema()
        self._open()

    def _open(self) -> None:
        """Open the index, or start an empty one where there is none, an older format, or a
        damaged one (it is derived data: the library rebuilds it from Chroma)."""
        meta = self._read_meta()
        # Without tantivy's own meta file the index opens empty, whatever ours says.
        lost = bool(meta) and not (self._folder / "meta.json").exists()
        if self._folder.exists() and (lost or meta.get("format") != FORMAT):
            self._check_ours()
            log.warning(
                "replacing %s (another format, damaged or incomplete): it is rebuilt", self.path
            )
            self._discard()
            meta = {}
        self._folder.mkdir(parents=True, exist_ok=True)
        try:
            self._index = tantivy.Index(self._schema, path=self.path, reuse=True)
        except ValueError as error:
            log.warning("replacing %s (%s): it is rebuilt", self.path, error)
            self._discard()
            self._folder.mkdir(parents=True)
            self._index = tantivy.Index(self._schema, path=self.path, reuse=True)
            meta = {}
        self._index.register_tokenizer(_TOKENIZER, _STEMS)
        if not meta:
            self._write_meta({"format": FORMAT})

    def _check_ours(self) -> None:
        """Refuse to replace what is not a lexical index: a folder of other files, say."""
        if self._folder.is_file():
            with self._folder.open("rb") as handle:
                ours = handle.read(16) == b"SQLite format 3\x00"  # an FTS5 index, before
        else:
            names = {p.name for p in self._folder.iterdir()}
            ours = not names or bool(names & {_META, "meta.json"})
        if not ours:
            raise StoreError(
                f"{self.path} is not a lexical index of newsbot; set store.lexical_path to a "
                "folder of its own"
            )

    def _discard(self) -> None:
        if self._folder.is_dir():
            shutil.rmtree(self._folder)
        else:
            self._folder.unlink(missing_ok=True)

    def _read_meta(self) -> dict[str, str]:
        try:
            meta = json.loads((self._folder / _META).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return meta if isinstance(meta, dict) else {}

    def _write_meta(self, meta: dict[str, str]) -> None:
        """Replace the meta file at once: a crash leaves the old one or the new one."""
        # A scratch name of its own: another process sharing the folder writes its meta too.
        scratch = self._folder / f"{_META}.{uuid.uuid4().hex}.tmp"
        try:
            with scratch.open("x", encoding="utf-8") as handle:
                json.dump(meta, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(scratch, self._folder / _META)
        except BaseException:
            scratch.unlink(missing_ok=True)
            raise

    def close(self) -> None:
        """Nothing to release: a write's writer is gone when the write is."""

    # -- writes ------------------------------------------------------------------------------

    @_store_errors
    def replace_articles(
        self,
        article_ids: Iterable[str],
        chunks: Iterable[Chunk],
        days: Mapping[str, int | None] | None = None,
    ) -> None:
        """Atomically drop the chunks of ``article_ids`` and insert ``chunks``, each with its
        article's publication day from ``days`` (see :func:`~newsbot.index.records.day_number`;
        missing: undated)."""
        days = days or {}
        with self._committed() as writer:
            for article_id in article_ids:
                writer.delete_documents_by_term("article_id", article_id)
            for c in chunks:
                writer.add_document(
                    tantivy.Document(
                        article_id=c.article_id,
                        idx=c.index,
                        start=c.start,
                        stop=c.end,
                        day=days.get(c.article_id) or 0,
                        text=c.text,
                    )
                )

    @contextmanager
    def _committed(self) -> Iterator[Any]:
        """A writer whose changes are committed whole at the end of the block, or rolled back;
        searches see them from then on."""
        with self._lock:
            writer = self._writer()
            try:
                yield writer
                writer.commit()
            except BaseException:
                writer.rollback()
                raise
            finally:
                writer.wait_merging_threads()  # and let the writer (and its lock) go
            self._index.reload()

    def _writer(self) -> Any:
        """A writer for one write: holding one between writes would keep its lock from
        another process that shares this index (and its memory from the process)."""
        deadline = time.monotonic() + _WRITER_WAIT_S
        while True:
            try:
                return self._index.writer(heap_size=_WRITER_HEAP, num_threads=1)
            except ValueError as error:
                if "LockBusy" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def remove_articles(self, article_ids: Iterable[str]) -> None:
        self.replace_articles(article_ids, [])

    @_store_errors
    def clear(self) -> None:
        with self._committed() as writer:
            writer.delete_all_documents()
        with self._lock:
            self._write_meta({"format": FORMAT})

    # -- reads -------------------------------------------------------------------------------

    @_store_errors
    def search(
        self,
        question: str,
        limit: int,
        *,
        max_df: float = 1.0,
        max_terms: int = 0,
        days: tuple[int, int] | None = None,
    ) -> list[LexicalHit]:
        """The ``limit`` best chunks for the question's content words (any of them), by BM25.

        Words in more than ``max_df`` of the chunks are left out while a rarer one is left,
        and only the ``max_terms`` rarest are searched (0: all). ``days``: only chunks of
        articles published on those days (YYYYMMDD, inclusive).
        """
        stems = question_stems(question)
        searcher = self._index.searcher()
        if max_df < 1.0 or max_terms:
            stems = _rare_stems(searcher, stems, max_df, max_terms)
        if not stems:
            return []
        query = tantivy.Query.boolean_query(
            [
                (tantivy.Occur.Should, tantivy.Query.term_query(self._schema, "text", stem))
                for stem in stems
            ]
        )
        if days is not None:
            period = tantivy.Query.range_query(
                self._schema, "day", tantivy.FieldType.Integer, days[0], days[1]
            )
            query = tantivy.Query.boolean_query(
                [(tantivy.Occur.Must, query), (tantivy.Occur.Must, period)]
            )
        hits = []
        for score, address in searcher.search(query, limit, count=False).hits:
            doc = searcher.doc(address)
            hits.append(
                LexicalHit(
                    chunk=Chunk(
                        article_id=doc["article_id"][0],
                        index=doc["idx"][0],
                        start=doc["start"][0],
                        end=doc["stop"][0],
                        text=doc["text"][0],
                    ),
                    score=float(score),
                )
            )
        return hits

    @_store_errors
    def count(self) -> int:
        return int(self._index.searcher().num_docs)

    def get_meta(self, key: str) -> str | None:
        """A value from the meta file, as written last (by any process)."""
        return self._read_meta().get(key)

    @_store_errors
    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._write_meta({**self._read_meta(), "format": FORMAT, key: value})


def _rare_stems(searcher: Any, stems: list[str], max_df: float, max_terms: int) -> list[str]:
    """The ``max_terms`` rarest of ``stems`` (0: all) in at most ``max_df`` of the chunks (or
    PRUNE_FLOOR), or the rarest one if none is; none when no stem is in the index."""
    present = sorted(
        (n, i) for i, n in enumerate(searcher.doc_freq("text", s) for s in stems) if n > 0
    )
    if not present:
        return []
    limit = max(max_df * searcher.num_docs, PRUNE_FLOOR)
    kept = [(n, i) for n, i in present if n <= limit] or present[:1]
    return [stems[i] for _, i in kept[: max_terms or None]]
