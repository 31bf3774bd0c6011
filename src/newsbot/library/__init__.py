"""The one facade both edges call: add, remove, list, ask, stats.

It owns the embedding model, the Chroma store and the lexical index, opened once by
:meth:`Library.open` and closed by :meth:`Library.close`. It imports nothing from Telegram.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import heapq
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import numpy as np

from newsbot.config import Settings
from newsbot.errors import ArticleNotFoundError, IngestError, StoreError
from newsbot.index.documents import DocumentCollection
from newsbot.index.embedder import Embedder
from newsbot.index.lexical import LexicalIndex
from newsbot.index.sentence_vectors import SentenceVectors
from newsbot.index.store import (
    ChromaStore,
    Recovery,
    StoredArticle,
    fingerprint,
    next_generation,
    record_fingerprint,
)
from newsbot.library import export, identity
from newsbot.library.identity import Item, content_hash, normalise_url
from newsbot.library.passages import Passages
from newsbot.library.retrieval import Retriever
from newsbot.models import (
    Answer,
    Article,
    ArticleRecord,
    IngestResult,
    IngestStatus,
    LibraryStats,
    ReindexReport,
)

log = logging.getLogger(__name__)

# Articles embedded and written together: large enough to keep the model's batches full,
# small enough that a failure or an interruption loses little work.
INGEST_BATCH = 64
DUMP_EXPANSION = 10  # an uploaded dump may expand to this many times ingest.max_bytes
# Newest articles remembered for the "nothing found" hint, which shows up to RECENT_SHOWN;
# the margin lets removals go by without another scan of the registry.
RECENT_KEPT = 20
RECENT_SHOWN = 5
_FINGERPRINT = "fingerprint"
# The lexical fingerprint while a write is under way: a crash leaves it, and the next open
# rebuilds the lexical index from Chroma instead of trusting rows of unfinished articles.
_WRITING = "writing"
_UNVERIFIED = "unverified"  # a rebuild was skipped: the next opening checks the rows again


def _done() -> Future[None]:
    done: Future[None] = Future()
    done.set_result(None)
    return done


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


@dataclasses.dataclass(eq=False)
class _Batch:
    """One ingest batch from its checks to its write (Library._start_batch)."""

    added_by: str | None = None
    results: dict[int, IngestResult] = dataclasses.field(default_factory=dict)
    # (position in the batch, origin, article)
    to_write: list[tuple[int, str, StoredArticle]] = dataclasses.field(default_factory=list)
    # Duplicates of articles queued by an earlier batch, not yet stored: checked again when
    # that batch did not store the article. Position -> (origin, article, the earlier batch,
    # the id of the article it repeats).
    repeats: dict[int, tuple[str, Article, _Batch, str]] = dataclasses.field(default_factory=dict)
    # The batch of the same ingest queued before this one: when it stored nothing, neither
    # does this one (its caller hears of the failure, never of this batch).
    prior: _Batch | None = None
    vectors: Future[np.ndarray] = dataclasses.field(default_factory=Future)
    written: Future[None] = dataclasses.field(default_factory=_done)
    abandoned: bool = False  # the ingest stopped first: the queued write is skipped
    stored: bool = False
    replaced: set[str] = dataclasses.field(default_factory=set)  # ids that had an entry

    def stored_nothing(self) -> bool:
        """Whether the batch had articles to write and wrote none (once ``written`` is done)."""
        return bool(self.to_write) and not self.stored

    def stored_article(self, article_id: str) -> bool:
        """Whether the batch wrote this article (once ``written`` is done)."""
        return self.stored and any(s.record.article_id == article_id for _, _, s in self.to_write)


def _with_vectors(
    items: list[tuple[StoredArticle, ArticleRecord | None]], vectors: np.ndarray
) -> list[tuple[StoredArticle, ArticleRecord | None]]:
    """The articles with their chunks' rows of ``vectors`` (in chunk order)."""
    placed = []
    offset = 0
    for s, previous in items:
        n = len(s.chunks)
        placed.append((dataclasses.replace(s, vectors=vectors[offset : offset + n]), previous))
        offset += n
    return placed


class Library:
    """A library of news articles that answers questions with quotes and sources."""

    def __init__(
        self,
        settings: Settings,
        store: ChromaStore,
        lexical: LexicalIndex,
        embedder: Embedder | None = None,
        sentences: SentenceVectors | None = None,
    ) -> None:
        self.settings = settings
        self.sentences = sentences or SentenceVectors(":memory:", model=settings.embedding.identity)
        self._embedder = embedder
        self._embedder_lock = threading.Lock()
        self.store = store
        self.lexical = lexical
        self._write_lock = threading.Lock()
        self._fingerprint = 0
        # The newest articles, from the registry scan at open and this process's writes since
        # (None: not known, scan on demand). Reading the whole registry for them took 2 s a
        # "nothing found" reply at 25,167 articles.
        self._recent: list[ArticleRecord] | None = None
        # A write of this process failed half-way (outage, full disk): repair before the next.
        self._unfinished = False
        self._lexical_unverified = False
        # Why writes are refused until a restart: the embedded Chroma blocks on every write after
        # one failed (measured with a file size limit), so failing fast beats hanging the bot.
        self._writes_refused: str | None = None
        # BM25 needs only the question's words, so it runs beside the question's embedding and
        # dense search (tantivy and onnxruntime release the GIL): a question waits for the
        # slower of the two, not their sum (benchmarks/README.md, "Question latency").
        self._lexical_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bm25")
        self._passages = Passages(
            lambda: self.settings.chunking, lambda: self.embedder, self.sentences
        )
        self._retriever = Retriever(
            lambda texts: self.embedder.embed(texts), self.sentences, lexical, self._lexical_worker
        )
        # A write's BM25 rows are committed beside its Chroma chunks, not after them.
        self._lexical_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bm25-write")
        # Ingest stores a batch on this thread while the next is embedded; one thread, so
        # batches are stored in the order they were checked.
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-write")
        # Articles checked and queued for writing, not yet in the registry (_start_batch).
        self._inflight: list[tuple[StoredArticle, _Batch]] = []
        self._inflight_lock = threading.Lock()

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        embedder: Embedder | None = None,
        check_model: bool = True,
        load_model: bool = False,
        lock_wait: float = 0.0,
    ) -> Library:
        """Open the store, repair what an interrupted write left, sync the lexical index.

        Args:
            settings: the configuration.
            embedder: an already loaded model to share (tests, several libraries in one process).
            check_model: refuse an index built with another model (off only for reindex).
            load_model: load the embedding model now, on a thread of its own while the store
                opens and its registry is read (both ~1 s at 10,000 articles), rather than on
                first use; for what answers questions at once (the bot, ``ask``).
            lock_wait: seconds to wait for another process to let go of an embedded store
                before StoreInUseError (the bot, which a health check may briefly precede).
        """
        loading: Future[Embedder] | None = None
        if load_model and embedder is None:
            loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-load")
            loading = loader.submit(Embedder, settings.embedding)
            loader.shutdown(wait=False)
        try:
            # What opened is closed again if a later step fails: above all the store, whose
            # lock would otherwise keep every other process out while this one lives.
            with contextlib.ExitStack() as opened:
                store = ChromaStore(
                    settings.store,
                    model=settings.embedding.identity,
                    check_model=check_model,
                    lock_wait=lock_wait,
                )
                opened.callback(store.close)
                lexical_path = _lexical_path(settings)
                if settings.store.lexical_path is None:  # a path of newsbot's own choosing
                    _remove_fts5_index(lexical_path)
                lexical = LexicalIndex(lexical_path)
                opened.callback(lexical.close)
                sentences = SentenceVectors(
                    lexical_path.with_suffix(".sentences.sqlite3"),
                    model=settings.embedding.identity,
                )
                opened.callback(sentences.close)
                library = cls(settings, store, lexical, embedder, sentences)
                with library._write_lock:
                    recovery = library._recover_locked()
                    library._sync_lexical_locked(others_writing=bool(recovery.in_flight))
                opened.pop_all()
        except BaseException:
            if loading is not None:
                wait([loading])  # no model left loading behind the error
            raise
        if loading is not None:
            try:
                library._embedder = loading.result()
            except BaseException:
                library.close()
                raise
        return library

    def _recover_locked(self) -> Recovery:
        """Roll back what a crashed or failed write left (see ChromaStore.recover)."""
        recovery = self.store.recover()
        if recovery.rolled_back:
            self.lexical.remove_articles(recovery.rolled_back)
        if recovery.rolled_back or self._unfinished:
            # The registry changed under the running fingerprint: recount it from the store.
            self._sync_lexical_locked(others_writing=bool(recovery.in_flight))
        self._unfinished = False
        return recovery

    @property
    def embedder(self) -> Embedder:
        """The embedding model, loaded on first use: listing or removing needs no model."""
        if self._embedder is None:
            with self._embedder_lock:
                if self._embedder is None:
                    self._embedder = Embedder(self.settings.embedding)
        return self._embedder

    @property
    def remote(self) -> bool:
        """Whether the library lives on a Chroma server (else in an embedded store)."""
        return self.store.remote

    @property
    def description(self) -> str:
        """Where the library lives, for a person ("embedded Chroma at ...")."""
        return self.store.description

    def documents(self, name: str) -> DocumentCollection:
        """A collection of small records kept beside the index (feed subscriptions)."""
        return self.store.documents(name)

    def close(self) -> None:
        self._lexical_worker.shutdown(wait=True)
        self._writer.shutdown(wait=True)
        self._lexical_writer.shutdown(wait=True)
        try:
            self.sentences.close()
            self.lexical.close()
        finally:
            self.store.close()  # whatever failed above, the store's lock is released

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- ingestion ---------------------------------------------------------------------------

    def ingest(
        self,
        sources: Iterable[str],
        *,
        added_by: str | None = None,
        max_expanded: int | None = None,
    ) -> Iterator[IngestResult]:
        """Ingest files, URLs and JSON Lines dumps; one result per article, in input order.

        A failing source is reported and the others go on. Raises StoreError when the store
        itself fails, since no later source could succeed either. ``max_expanded``: see
        :func:`~newsbot.ingest.sources.iter_articles`.
        """
        from newsbot.ingest.sources import iter_articles

        def items() -> Iterator[Item]:
            for source in sources:
                try:
                    yield from iter_articles(
                        source, self.settings.ingest, max_expanded=max_expanded
                    )
                except IngestError as error:
                    yield source, error

        yield from self.add_articles(items(), added_by=added_by)

    def add_articles(
        self, items: Iterable[Item], *, added_by: str | None = None
    ) -> Iterator[IngestResult]:
        """Index extracted articles (or report the errors that stand in their place)."""
        with self._write_lock:
            self._check_writable()
            self._recover_locked()  # another process may have crashed since we opened
        # Two batches in flight: this thread embeds the next while the writer thread stores
        # the one before (Chroma's writes keep one core busy, the model both).
        started: list[_Batch] = []
        try:
            for batch in identity.batches(items, INGEST_BATCH):
                prior = started[-1] if started else None
                started.append(self._start_batch(batch, added_by, prior=prior))
                if len(started) == 2:
                    yield from self._finish_batch(started.pop(0))
            while started:
                yield from self._finish_batch(started.pop(0))
        finally:
            # Stopped early (an error, or the caller stopped reading): a batch not reported is
            # not written either, unless its write had begun (it ends: articles stay whole).
            for batch_left in started:
                batch_left.abandoned = True
            wait([b.written for b in started])

    def add_article(
        self, article: Article, *, origin: str, added_by: str | None = None
    ) -> IngestResult:
        """Index one article (pasted text, an upload, a fetched page)."""
        return next(iter(self._add_batch([(origin, article)], added_by)))

    def add_text(
        self, text: str, *, title: str | None = None, added_by: str | None = None
    ) -> IngestResult:
        """Index pasted text; without a title its first line is the title."""
        from newsbot.ingest.extract import article_from_text

        try:
            article = article_from_text(text, title=title)
        except IngestError as error:
            return IngestResult("text", IngestStatus.FAILED, error=str(error))
        return self.add_article(article, origin="text", added_by=added_by)

    def add_file(
        self,
        data: bytes,
        *,
        name: str | None = None,
        content_type: str | None = None,
        added_by: str | None = None,
    ) -> IngestResult:
        """Index an uploaded file (HTML, PDF, text or Markdown)."""
        from newsbot.ingest.extract import article_from_bytes

        origin = name or "upload"
        if len(data) > self.settings.ingest.max_bytes:
            limit = self.settings.ingest.max_bytes // (1024 * 1024)
            return IngestResult(
                origin, IngestStatus.FAILED, error=f"file is larger than {limit} MB"
            )
        try:
            article = article_from_bytes(data, name=name, content_type=content_type)
        except IngestError as error:
            return IngestResult(origin, IngestStatus.FAILED, error=str(error))
        return self.add_article(article, origin=origin, added_by=added_by)

    def import_dump(
        self,
        data: bytes,
        *,
        name: str,
        added_by: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> list[IngestResult]:
        """Index an uploaded JSON Lines dump (``.jsonl``, ``.jsonl.gz``: what ``newsbot
        export`` writes) as ``newsbot import`` does; one result per line, from ``name:LINE``.
        ``progress`` is called with the number of lines done after each one.

        A gzipped dump that expands past ``DUMP_EXPANSION`` times ``ingest.max_bytes`` is
        refused: a few kilobytes of gzip can hold a gigabyte of blank lines, each one read.
        """
        limit = DUMP_EXPANSION * self.settings.ingest.max_bytes
        with tempfile.TemporaryDirectory(prefix="newsbot-upload-") as folder:
            path = str(
                Path(folder)
                / ("upload.jsonl.gz" if name.lower().endswith(".gz") else "upload.jsonl")
            )
            Path(path).write_bytes(data)
            results = []
            for result in self.ingest([path], added_by=added_by, max_expanded=limit):
                results.append(result)
                if progress is not None:
                    progress(len(results))
        return [
            dataclasses.replace(
                result,
                source=result.source.replace(path, name),
                error=result.error.replace(path, name) if result.error else None,
            )
            for result in results
        ]

    def _add_batch(self, batch: list[Item], added_by: str | None) -> list[IngestResult]:
        return self._finish_batch(self._start_batch(batch, added_by))

    def _after_failed_write(self, store: ChromaStore, error: BaseException) -> None:
        self._unfinished = True
        if not store.remote and isinstance(error, StoreError):
            self._writes_refused = (
                f"{error}; newsbot must be restarted before it writes to {store.description} "
                "again (what an interrupted write left is rolled back on start)"
            )

    def _check_writable(self) -> None:
        if self._writes_refused:
            raise StoreError(self._writes_refused)

    def _start_batch(
        self, batch: list[Item], added_by: str | None, *, prior: _Batch | None = None
    ) -> _Batch:
        """Check and chunk a batch, queue its write, and embed it on this thread; the write
        runs on the writer thread once the vectors are there and earlier batches are stored.

        Articles queued and not yet stored count as stored for the duplicate checks of the
        batches after them (this ingest's or another's).

        Args:
            prior: the batch of the same ingest before this one, when not yet reported.
        """
        self._check_writable()
        if self._unfinished:
            with self._write_lock:
                self._recover_locked()
        with self._inflight_lock:
            job = self._check_batch(batch, added_by)
            job.prior = prior
            if job.to_write:
                self._inflight.extend((s, job) for _, _, s in job.to_write)
                job.written = self._writer.submit(self._write_batch, job)
        if job.to_write:
            try:
                pairs = [(s.record.title, c) for _, _, s in job.to_write for c in s.chunks]
                job.vectors.set_result(self._passages.vectors(pairs))
            except BaseException as error:
                job.vectors.set_exception(error)  # the queued write raises it instead
        return job

    def _write_batch(self, job: _Batch) -> None:
        """The writer thread's part of a batch: store it whole, or (abandoned) not at all."""
        try:
            vectors = job.vectors.result()
            # The prior batch ran before this one on this thread: its outcome is known.
            if job.abandoned or (job.prior is not None and job.prior.stored_nothing()):
                return
            with self._write_lock:
                self._check_writable()
                if self._unfinished:
                    self._recover_locked()
                placed = _with_vectors([(s, None) for _, _, s in job.to_write], vectors)
                writing = self._recheck_locked(job, [s for s, _ in placed])
                if writing:
                    self._store_articles(writing)
                job.stored = True
        finally:
            with self._inflight_lock:
                self._inflight = [(s, owner) for s, owner in self._inflight if owner is not job]

    def _recheck_locked(
        self, job: _Batch, articles: list[StoredArticle]
    ) -> list[tuple[StoredArticle, ArticleRecord | None]]:
        """The batch's articles to write, each with the entry it replaces, as the store
        stands now: every batch queued before this one has been written or has failed, and
        the checks assumed they would be written (or another process wrote meanwhile).

        Drops from ``job.to_write`` what the checks would refuse now; one new article with
        text another article holds (a queued update of that one failed) is a duplicate.
        """
        ids = [s.record.article_id for s in articles]
        current = self.store.get_records(ids)
        new = [s for s in articles if s.record.article_id not in current]
        same_text = self.store.find_records("content_hash", [s.record.content_hash for s in new])
        same_url = self.store.find_records("url_key", [s.url_key for s in new if s.url_key])
        # A stored text or address this batch replaces no longer stands for its article.
        rewritten = {s.record.article_id: s for s in articles if s.record.article_id in current}
        same_text = identity.still_standing(same_text, rewritten, identity.text_of)
        same_url = identity.still_standing(same_url, rewritten, identity.address_of)
        writing: list[tuple[StoredArticle, ArticleRecord | None]] = []
        kept: list[tuple[int, str, StoredArticle]] = []
        for (position, origin, _), stored in zip(job.to_write, articles, strict=True):
            record = stored.record
            previous = current.get(record.article_id)
            twin = identity.repeated(
                previous,
                same_text.get(record.content_hash),
                record.content_hash,
                identity.description_of(record),
            )
            holder = same_url.get(stored.url_key) if previous is None and stored.url_key else None
            if twin is not None:
                job.results[position] = IngestResult(
                    origin,
                    IngestStatus.DUPLICATE,
                    article_id=twin.article_id,
                    title=record.title,
                )
            elif holder is not None:
                job.results[position] = IngestResult(
                    origin,
                    IngestStatus.FAILED,
                    error=f"its address now belongs to article {holder.article_id}, which "
                    "changed meanwhile; add it again",
                )
            else:
                writing.append((stored, previous))
                kept.append((position, origin, stored))
        if len(kept) < len(job.to_write):
            # No longer about to be stored, for the checks (by position: ``articles`` are
            # copies of the queued ones, with their vectors).
            kept_at = {position for position, _, _ in kept}
            dropped = {id(s) for position, _, s in job.to_write if position not in kept_at}
            with self._inflight_lock:
                self._inflight = [(s, o) for s, o in self._inflight if id(s) not in dropped]
        job.to_write = kept
        job.replaced = {s.record.article_id for s, previous in writing if previous is not None}
        return writing

    def _finish_batch(self, job: _Batch) -> list[IngestResult]:
        """Wait for the batch's write; its results, in input order."""
        job.written.result()
        if job.stored_nothing():
            raise StoreError("the batch was not written: an earlier one failed")
        results = dict(job.results)
        for position, origin, stored in job.to_write:
            results[position] = IngestResult(
                origin,
                IngestStatus.UPDATED
                if stored.record.article_id in job.replaced
                else IngestStatus.ADDED,
                article_id=stored.record.article_id,
                title=stored.record.title,
                chunks=stored.record.chunks,
            )
        # A duplicate of an article another batch had queued stands only if that was stored;
        # if not, it is checked and written now, after the batches queued meanwhile (which
        # may make it an update of an article of a later input).
        again = []
        for position, (origin, article, owner, matched_id) in sorted(job.repeats.items()):
            wait([owner.written])
            if not owner.stored_article(matched_id):
                again.append((position, (origin, article)))
        if again:
            try:
                checked = self._add_batch([item for _, item in again], job.added_by)
            except Exception as error:  # the batch's own articles are stored: report them
                checked = [
                    IngestResult(o, IngestStatus.FAILED, error=str(error)) for _, (o, _) in again
                ]
            results.update(zip([p for p, _ in again], checked, strict=True))
        return [results[i] for i in sorted(results)]

    def _check_batch(self, batch: list[Item], added_by: str | None) -> _Batch:
        """Sort a batch into failures, duplicates and articles to write (chunked)."""
        job = _Batch(added_by=added_by)
        results = job.results
        pending: list[tuple[int, str, Article, str | None, str]] = []
        for position, (origin, item) in enumerate(batch):
            if isinstance(item, Article):
                url_key = normalise_url(item.url) if item.url and item.addressed else None
                pending.append((position, origin, item, url_key, content_hash(item.text)))
            else:
                results[position] = IngestResult(origin, IngestStatus.FAILED, error=str(item))

        by_url = self.store.find_records("url_key", [p[3] for p in pending if p[3]])
        by_hash = self.store.find_records("content_hash", [p[4] for p in pending])
        by_id = self.store.get_records([p[2].id for p in pending if p[2].id])
        # Queued articles are newer than what the store holds (the last queued wins): a
        # stored text or URL they are about to replace no longer stands for their article.
        queued = {s.record.article_id: (s, owner) for s, owner in self._inflight}
        replacing = {article_id: s for article_id, (s, _) in queued.items()}
        by_url = identity.still_standing(by_url, replacing, identity.address_of)
        by_hash = identity.still_standing(by_hash, replacing, identity.text_of)
        owners: dict[int, _Batch] = {}
        for queued_article, owner in queued.values():
            record = queued_article.record
            if queued_article.url_key:
                by_url[queued_article.url_key] = record
            by_hash[record.content_hash] = record
            by_id[record.article_id] = record
            owners[id(record)] = owner

        to_write = job.to_write
        seen_urls: dict[str, str] = {}
        seen_hashes: dict[str, str] = {}
        seen_ids: set[str] = set()
        for position, origin, article, url_key, digest in pending:
            previous = (by_url.get(url_key) if url_key else None) or (
                by_id.get(article.id) if article.id else None
            )
            article_id = (
                previous.article_id if previous else identity.article_id(article, url_key, digest)
            )
            article = identity.described(article, previous)
            if url_key is None and article.url and article.addressed:
                # An update by id keeps the address it came with, and with it the article's
                # address key: only if it had one (not a feed entry's own text).
                key = normalise_url(article.url)
                holder = self.store.find_records("url_key", [key]).get(key) if key else None
                url_key = key if holder is not None and holder.article_id == article_id else None
            twin_id = (
                seen_hashes.get(digest)
                or (seen_urls.get(url_key) if url_key else None)
                # Two inputs of one batch that are one article (one id; an id and its old
                # address): the first is written, as with two inputs at one address.
                or (article_id if article_id in seen_ids else None)
            )
            repeated = identity.repeated(
                previous, by_hash.get(digest), digest, identity.description_of(article)
            )
            if twin_id or repeated:
                if not twin_id and repeated is not None and id(repeated) in owners:
                    owner = owners[id(repeated)]
                    job.repeats[position] = (origin, article, owner, repeated.article_id)
                results[position] = IngestResult(
                    origin,
                    IngestStatus.DUPLICATE,
                    article_id=twin_id or (repeated.article_id if repeated else None),
                    title=article.title,
                    error=None,
                )
                continue
            chunks = self._passages.chunks_of(article_id, article.text)
            if not chunks:
                results[position] = IngestResult(
                    origin, IngestStatus.FAILED, error="no text to index"
                )
                continue
            record = ArticleRecord(
                article_id=article_id,
                title=article.title,
                url=article.url,
                outlet=article.outlet,
                published=article.published,
                author=article.author,
                added_at=(previous.added_at if previous else None) or article.added_at or _now(),
                added_by=article.added_by or added_by,
                chunks=len(chunks),
                content_hash=digest,
            )
            stored = StoredArticle(record, article.text, chunks, np.empty(0), url_key)
            to_write.append((position, origin, stored))
            seen_hashes[digest] = article_id
            seen_ids.add(article_id)
            if url_key:
                seen_urls[url_key] = article_id

        return job

    def _write(
        self,
        items: list[tuple[StoredArticle, ArticleRecord | None]],
        store: ChromaStore | None = None,
    ) -> None:
        """Embed and store articles in one go (a reindex; ingest embeds and stores a batch on
        two threads, see :meth:`_start_batch`)."""
        vectors = self._passages.vectors([(s.record.title, c) for s, _ in items for c in s.chunks])
        self._store_articles(_with_vectors(items, vectors), store)

    def _store_articles(
        self,
        items: list[tuple[StoredArticle, ArticleRecord | None]],
        store: ChromaStore | None = None,
    ) -> None:
        """Write embedded articles: the one storing path of ingest, import and reindex.

        Order: journal entry, chunks and lexical rows (side by side: tantivy's commit runs
        while Chroma writes), registry entry (which marks the article done for readers), then
        the journal entry goes. A crash anywhere leaves the journal entry for
        :meth:`ChromaStore.recover` and a lexical index marked for a rebuild.

        Args:
            items: the articles with their vectors, each with the registry entry it replaces
                (None when new).
            store: where to write; the live store unless a reindex builds another generation.
        """
        store = store or self.store
        stored = [s for s, _ in items]
        ids = [s.record.article_id for s in stored]
        try:
            store.begin_writes([(s.record.article_id, s.record.content_hash) for s in stored])
            self.lexical.set_meta(_FINGERPRINT, _WRITING)
            replaced = [prev.article_id for _, prev in items if prev is not None]
            if replaced:
                store.delete_chunks(replaced)
            lexical = self._lexical_writer.submit(
                self.lexical.replace_articles, ids, [c for s in stored for c in s.chunks]
            )
            try:
                store.write_chunks(stored)
            finally:
                wait([lexical])  # neither write outlives this one
            lexical.result()
            store.write_records(stored)
            store.end_writes(ids)
        except BaseException as error:
            self._after_failed_write(self.store if store is None else store, error)
            raise
        for s, prev in items:
            if prev is not None:
                self._fingerprint ^= record_fingerprint(prev)
            self._fingerprint ^= record_fingerprint(s.record)
        self.lexical.set_meta(_FINGERPRINT, self._fingerprint_text())
        if store is self.store and self._recent is not None:
            self._recent = _newest([s.record for s in stored] + self._recent)

    # -- management --------------------------------------------------------------------------

    def get_article(self, article_id: str) -> ArticleRecord:
        record = self.store.get_records([article_id]).get(article_id)
        if record is None:
            raise ArticleNotFoundError(f"no article with id {article_id!r}")
        return record

    def remove(self, article_id: str) -> ArticleRecord:
        """Delete an article and all its chunks."""
        with self._write_lock:
            self._check_writable()
            if self._unfinished:
                self._recover_locked()
            record = self.get_article(article_id)
            # Registry first: from this moment the article is gone for readers; the journal
            # entry ("" hash: a removal) gets the chunks deleted even if the process dies now.
            try:
                self.store.begin_writes([(article_id, "")])
                self.store.delete_records([article_id])
                self.store.delete_chunks([article_id])
                self.lexical.remove_articles([article_id])
                self.store.end_writes([article_id])
            except BaseException as error:
                self._after_failed_write(self.store, error)
                raise
            self._fingerprint ^= record_fingerprint(record)
            self.lexical.set_meta(_FINGERPRINT, self._fingerprint_text())
            if self._recent is not None:
                kept = [r for r in self._recent if r.article_id != article_id]
                # Too few left to show: read the registry again when next asked.
                self._recent = kept if len(kept) >= RECENT_SHOWN else None
        return record

    def list_articles(self) -> list[ArticleRecord]:
        """All articles, newest first."""
        return sorted(self.store.all_records(), key=lambda r: r.added_at, reverse=True)

    def count_articles(self) -> int:
        """How many articles the library holds (cheaper than :meth:`stats`, which counts
        chunks too: 12-500 ms at 84,601 chunks)."""
        return self.store.count_articles()

    def recent_articles(self, limit: int = 3) -> list[ArticleRecord]:
        """The newest articles (at most RECENT_SHOWN) without reading the whole registry.

        Kept from the registry scan at open and this process's writes since; articles another
        process added meanwhile show after a restart, ones it removed are left out here.
        """
        recent = self._recent
        if recent is None:
            recent = self._recent = _newest(self.store.all_records())
        if not recent:
            return []
        present = self.store.get_records([r.article_id for r in recent])
        return [r for r in recent if r.article_id in present][: min(limit, RECENT_SHOWN)]

    def stats(self) -> LibraryStats:
        return LibraryStats(
            articles=self.store.count_articles(),
            chunks=self.store.count_chunks(),
            model=self.settings.embedding.identity,
            store=self.store.description,
        )

    # -- whole-library operations ------------------------------------------------------------

    def reindex(self, *, progress: Callable[[int, int], None] | None = None) -> ReindexReport:
        """Rebuild every chunk, vector and lexical row from the stored article text.

        Uses the configured model and chunking, and never fetches a source again. The new index
        is built beside the live one (a new generation of collections), article by article
        through the same path as ingest; the live index answers until one write switches to the
        new one. Interrupted, it resumes on the next run: articles already in the new generation
        are kept.

        Args:
            progress: called with (articles done, articles in all) after every batch.
        """
        started = time.monotonic()
        with self._write_lock:
            self._recover_locked()
            source = self.store
            target = source.generation_store(
                next_generation(
                    self.settings.embedding.identity,
                    source.generation,
                    self.settings.chunking.model_dump_json(),
                )
            )
            target.recover()  # a reindex killed before may have left a partial batch
            done = {r.article_id: r.content_hash for r in target.all_records()}
            total, embedded, finished = source.count_articles(), 0, 0
            for page in source.iter_articles():
                todo: list[tuple[StoredArticle, ArticleRecord | None]] = []
                for record, text, url_key in page:
                    if done.get(record.article_id) == record.content_hash:
                        continue
                    chunks = self._passages.chunks_of(record.article_id, text)
                    if not chunks:
                        log.warning("reindex: %s has no text to index", record.article_id)
                        continue
                    record = dataclasses.replace(record, chunks=len(chunks))
                    todo.append((StoredArticle(record, text, chunks, np.empty(0), url_key), None))
                for start in range(0, len(todo), INGEST_BATCH):
                    self._write(todo[start : start + INGEST_BATCH], store=target)
                embedded += len(todo)
                finished += len(page)
                if progress is not None:
                    progress(finished, total)
            # Articles removed from the live index meanwhile (by another process) go too.
            live = {r.article_id for r in source.all_records()}
            gone = [i for i in done if i not in live]
            if gone:
                target.delete_records(gone)
                target.delete_chunks(gone)
            target.activate()
            source.hand_over(target)  # the lock and the client go with the live generation
            self.store = target
            # The old generation goes; its store object shares our client, so it is not closed.
            target.drop_other_generations()
            records = target.all_records()
            self._remember_registry(records)
            self._rebuild_lexical_locked({r.article_id for r in records})
        return ReindexReport(
            articles=target.count_articles(),
            embedded=embedded,
            chunks=target.count_chunks(),
            model=self.settings.embedding.identity,
            previous_model=source.stored_model,
            seconds=round(time.monotonic() - started, 1),
        )

    def export(self, path: Path) -> int:
        """Write every article, its text and metadata, as JSON Lines (``.gz``: compressed);
        see :func:`newsbot.library.export.export`. Returns the number of articles written."""
        return export.export(self.store, path)

    def export_to(self, handle: TextIO) -> int:
        """Write the JSON Lines of :meth:`export` to an open text stream (e.g. stdout)."""
        return export.export_to(self.store, handle)

    # -- questions ---------------------------------------------------------------------------

    def ask(self, question: str, *, top_k: int | None = None) -> Answer:
        """Find the passages that answer ``question`` and quote them.

        Returns an Answer with no passages when nothing in the library is relevant enough.
        """
        search = self.settings.search
        return self._retriever.ask(question, self.store, search, top_k or search.top_k)

    # -- lexical index upkeep ----------------------------------------------------------------

    def _remember_registry(self, records: list[ArticleRecord]) -> str:
        """Take the running fingerprint and the newest articles from one scan of the registry
        (the scan is the slow part: 2.5 s at 25,167 articles); returns the fingerprint."""
        current = fingerprint(records)
        self._fingerprint = int(current, 16)
        self._recent = _newest(records)
        return current

    def _sync_lexical_locked(self, *, others_writing: bool = False) -> None:
        records = self.store.all_records()
        current = self._remember_registry(records)
        stamped = self.lexical.get_meta(_FINGERPRINT)
        if stamped == current:
            return
        if others_writing and stamped == _WRITING:
            # Another process sharing a Chroma server and this folder is writing now: its
            # index rows are committed before its registry entries, so a rebuild from the
            # registry would drop them for good. The fingerprint it writes when done tells the
            # next opening whether a rebuild is due. (Journal entries of this process never
            # count as in flight: ChromaStore.recover takes them for abandoned.)
            log.info("another writer is active; the lexical index is checked at the next start")
            self._lexical_unverified = True
            return
        log.info("rebuilding the lexical index from %s", self.store.description)
        self._rebuild_lexical_locked({r.article_id for r in records})

    def rebuild_lexical(self, article_ids: set[str] | None = None) -> None:
        """Rebuild the BM25 index from the chunks stored in Chroma."""
        with self._write_lock:
            self._rebuild_lexical_locked(article_ids)

    def _rebuild_lexical_locked(self, article_ids: set[str] | None) -> None:
        if article_ids is None:
            article_ids = {r.article_id for r in self.store.all_records()}
        self.lexical.clear()
        for page in self.store.iter_chunks():
            # Only registered articles: chunks without a registry entry are unfinished writes.
            live = [c for c in page if c.article_id in article_ids]
            self.lexical.replace_articles([], live)
        self._lexical_unverified = False
        self.lexical.set_meta(_FINGERPRINT, self._fingerprint_text())

    def _fingerprint_text(self) -> str:
        """What a write stamps on the lexical index: the registry's fingerprint, unless the
        rows were never checked against the registry (then no fingerprint may vouch for them)."""
        return _UNVERIFIED if self._lexical_unverified else f"{self._fingerprint:032x}"


def _newest(records: Iterable[ArticleRecord]) -> list[ArticleRecord]:
    """The RECENT_KEPT newest records, one per article (the first given wins)."""
    unique: dict[str, ArticleRecord] = {}
    for record in records:
        unique.setdefault(record.article_id, record)
    return heapq.nlargest(RECENT_KEPT, unique.values(), key=lambda r: r.added_at)


def _lexical_path(settings: Settings) -> Path:
    """Where the BM25 index lives: beside an embedded store, in the user's cache for a server."""
    store = settings.store
    if store.lexical_path is not None:
        return store.lexical_path
    if not store.url:
        path = store.path / f"{store.collection}-lexical"
    else:
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        digest = hashlib.sha256(f"{store.url}\0{store.collection}".encode()).hexdigest()[:16]
        path = cache / "newsbot" / f"lexical-{digest}"
    return path


def _remove_fts5_index(lexical_path: Path) -> None:
    """Delete the SQLite FTS5 index of newsbot before 2026-11-26 beside ``lexical_path``:
    derived data, which tantivy's index replaces."""
    for old in ("", "-wal", "-shm"):
        lexical_path.with_name(lexical_path.name + ".sqlite3" + old).unlink(missing_ok=True)
