"""The ingest pipeline: articles checked, chunked and embedded in batches, and written in
order on a thread of their own.

Two batches are in flight: the caller's thread embeds the next while the writer thread stores
the one before (Chroma's writes keep one core busy, the model both). Articles queued and not
yet stored count as stored for the "same article" checks of the batches after them.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime

import numpy as np

import newsbot.library.identity as identity
from newsbot.errors import StoreError
from newsbot.index.records import StoredArticle
from newsbot.library.identity import Item, content_hash, normalise_url
from newsbot.library.passages import Passages
from newsbot.library.writer import IndexWriter, Placed, with_vectors
from newsbot.models import Article, ArticleRecord, IngestResult, IngestStatus

# Articles embedded and written together: large enough to keep the model's batches full,
# small enough that a failure or an interruption loses little work.
INGEST_BATCH = 64


def _done() -> Future[None]:
    done: Future[None] = Future()
    done.set_result(None)
    return done


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


@dataclasses.dataclass(eq=False)
class Batch:
    """One ingest batch from its checks to its write (IngestPipeline.start_batch)."""

    added_by: str | None = None
    results: dict[int, IngestResult] = dataclasses.field(default_factory=dict)
    # (position in the batch, origin, article)
    to_write: list[tuple[int, str, StoredArticle]] = dataclasses.field(default_factory=list)
    # Duplicates of articles queued by an earlier batch, not yet stored: checked again when
    # that batch did not store the article. Position -> (origin, article, the earlier batch,
    # the id of the article it repeats).
    repeats: dict[int, tuple[str, Article, Batch, str]] = dataclasses.field(default_factory=dict)
    # The batch of the same ingest queued before this one: when it stored nothing, neither
    # does this one (its caller hears of the failure, never of this batch).
    prior: Batch | None = None
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


class IngestPipeline:
    """Adds articles to the index through ``index``, embedding with ``passages``."""

    def __init__(self, index: IndexWriter, passages: Passages) -> None:
        self._index = index
        self._passages = passages
        # Ingest stores a batch on this thread while the next is embedded; one thread, so
        # batches are stored in the order they were checked.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-write")
        # Articles checked and queued for writing, not yet in the registry (start_batch).
        self.inflight: list[tuple[StoredArticle, Batch]] = []
        self.inflight_lock = threading.Lock()

    def close(self) -> None:
        self._thread.shutdown(wait=True)

    def add_articles(
        self, items: Iterable[Item], *, added_by: str | None = None
    ) -> Iterator[IngestResult]:
        """Index extracted articles (or report the errors that stand in their place)."""
        with self._index.lock:
            self._index.check_writable()
            self._index.recover_locked()  # another process may have crashed since we opened
        # Two batches in flight: this thread embeds the next while the writer thread stores
        # the one before (Chroma's writes keep one core busy, the model both).
        started: list[Batch] = []
        try:
            for batch in identity.batches(items, INGEST_BATCH):
                prior = started[-1] if started else None
                started.append(self.start_batch(batch, added_by, prior=prior))
                if len(started) == 2:
                    yield from self.finish_batch(started.pop(0))
            while started:
                yield from self.finish_batch(started.pop(0))
        finally:
            # Stopped early (an error, or the caller stopped reading): a batch not reported is
            # not written either, unless its write had begun (it ends: articles stay whole).
            for batch_left in started:
                batch_left.abandoned = True
            wait([b.written for b in started])

    def add_batch(self, batch: list[Item], added_by: str | None) -> list[IngestResult]:
        return self.finish_batch(self.start_batch(batch, added_by))

    def start_batch(
        self, batch: list[Item], added_by: str | None, *, prior: Batch | None = None
    ) -> Batch:
        """Check and chunk a batch, queue its write, and embed it on this thread; the write
        runs on the writer thread once the vectors are there and earlier batches are stored.

        Articles queued and not yet stored count as stored for the duplicate checks of the
        batches after them (this ingest's or another's).

        Args:
            prior: the batch of the same ingest before this one, when not yet reported.
        """
        self._index.check_writable()
        if self._index.unfinished:
            with self._index.lock:
                self._index.recover_locked()
        with self.inflight_lock:
            job = self.check_batch(batch, added_by)
            job.prior = prior
            if job.to_write:
                self.inflight.extend((s, job) for _, _, s in job.to_write)
                job.written = self._thread.submit(self.write_batch, job)
        if job.to_write:
            try:
                pairs = [(s.record.title, c) for _, _, s in job.to_write for c in s.chunks]
                job.vectors.set_result(self._passages.vectors(pairs))
            except BaseException as error:
                job.vectors.set_exception(error)  # the queued write raises it instead
        return job

    def write_batch(self, job: Batch) -> None:
        """The writer thread's part of a batch: store it whole, or (abandoned) not at all."""
        try:
            vectors = job.vectors.result()
            # The prior batch ran before this one on this thread: its outcome is known.
            if job.abandoned or (job.prior is not None and job.prior.stored_nothing()):
                return
            with self._index.lock:
                self._index.repair_locked()
                placed = with_vectors([(s, None) for _, _, s in job.to_write], vectors)
                writing = self.recheck_locked(job, [s for s, _ in placed])
                if writing:
                    self._index.store_articles(writing)
                job.stored = True
        finally:
            with self.inflight_lock:
                self.inflight = [(s, owner) for s, owner in self.inflight if owner is not job]

    def recheck_locked(self, job: Batch, articles: list[StoredArticle]) -> list[Placed]:
        """The batch's articles to write, each with the entry it replaces, as the store
        stands now: every batch queued before this one has been written or has failed, and
        the checks assumed they would be written (or another process wrote meanwhile).

        Drops from ``job.to_write`` what the checks would refuse now; one new article with
        text another article holds (a queued update of that one failed) is a duplicate.
        """
        ids = [s.record.article_id for s in articles]
        store = self._index.store
        current = store.get_records(ids)
        new = [s for s in articles if s.record.article_id not in current]
        same_text = store.find_records("content_hash", [s.record.content_hash for s in new])
        same_url = store.find_records("url_key", [s.url_key for s in new if s.url_key])
        # A stored text or address this batch replaces no longer stands for its article.
        rewritten = {s.record.article_id: s for s in articles if s.record.article_id in current}
        same_text = identity.still_standing(same_text, rewritten, identity.text_of)
        same_url = identity.still_standing(same_url, rewritten, identity.address_of)
        writing: list[Placed] = []
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
            with self.inflight_lock:
                self.inflight = [(s, o) for s, o in self.inflight if id(s) not in dropped]
        job.to_write = kept
        job.replaced = {s.record.article_id for s, previous in writing if previous is not None}
        return writing

    def finish_batch(self, job: Batch) -> list[IngestResult]:
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
                checked = self.add_batch([item for _, item in again], job.added_by)
            except Exception as error:  # the batch's own articles are stored: report them
                checked = [
                    IngestResult(o, IngestStatus.FAILED, error=str(error)) for _, (o, _) in again
                ]
            results.update(zip([p for p, _ in again], checked, strict=True))
        return [results[i] for i in sorted(results)]

    def check_batch(self, batch: list[Item], added_by: str | None) -> Batch:
        """Sort a batch into failures, duplicates and articles to write (chunked)."""
        job = Batch(added_by=added_by)
        results = job.results
        pending: list[tuple[int, str, Article, str | None, str]] = []
        for position, (origin, item) in enumerate(batch):
            if isinstance(item, Article):
                url_key = normalise_url(item.url) if item.url and item.addressed else None
                pending.append((position, origin, item, url_key, content_hash(item.text)))
            else:
                results[position] = IngestResult(origin, IngestStatus.FAILED, error=str(item))

        store = self._index.store
        by_url = store.find_records("url_key", [p[3] for p in pending if p[3]])
        by_hash = store.find_records("content_hash", [p[4] for p in pending])
        by_id = store.get_records([p[2].id for p in pending if p[2].id])
        # Queued articles are newer than what the store holds (the last queued wins): a
        # stored text or URL they are about to replace no longer stands for their article.
        queued = {s.record.article_id: (s, owner) for s, owner in self.inflight}
        replacing = {article_id: s for article_id, (s, _) in queued.items()}
        by_url = identity.still_standing(by_url, replacing, identity.address_of)
        by_hash = identity.still_standing(by_hash, replacing, identity.text_of)
        owners: dict[int, Batch] = {}
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
                holder = store.find_records("url_key", [key]).get(key) if key else None
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
