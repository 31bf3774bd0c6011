"""The index writer: the one path that changes what the library holds.

It keeps the write order that makes a crash harmless (journal entry, chunks beside their BM25
rows, registry entry, journal entry gone), the registry's running fingerprint that tells the
next opening whether the BM25 index matches Chroma, and the newest articles for the "nothing
found" hint. Ingest, removal and reindex all write through it.
"""

from __future__ import annotations

import dataclasses
import heapq
import logging
import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np

from newsbot.errors import ArticleNotFoundError, StoreError
from newsbot.index.lexical import LexicalIndex
from newsbot.index.records import StoredArticle, day_number, fingerprint, record_fingerprint
from newsbot.index.store import ChromaStore, Recovery
from newsbot.models import ArticleRecord

log = logging.getLogger(__name__)

# Newest articles remembered for the "nothing found" hint, which shows up to RECENT_SHOWN;
# the margin lets removals go by without another scan of the registry.
RECENT_KEPT = 20
RECENT_SHOWN = 5
_FINGERPRINT = "fingerprint"
# The lexical fingerprint while a write is under way: a crash leaves it, and the next open
# rebuilds the lexical index from Chroma instead of trusting rows of unfinished articles.
_WRITING = "writing"
_UNVERIFIED = "unverified"  # a rebuild was skipped: the next opening checks the rows again

# An article ready to store, with the registry entry it replaces (None when new).
Placed = tuple[StoredArticle, ArticleRecord | None]


def with_vectors(items: list[Placed], vectors: np.ndarray) -> list[Placed]:
    """The articles with their chunks' rows of ``vectors`` (in chunk order)."""
    placed = []
    offset = 0
    for s, previous in items:
        n = len(s.chunks)
        placed.append((dataclasses.replace(s, vectors=vectors[offset : offset + n]), previous))
        offset += n
    return placed


class IndexWriter:
    """Writes to the live store (which a reindex replaces) and keeps BM25 in step with it.

    ``lock`` serialises writes, repairs and the BM25 index's rebuilds within the process;
    methods named ``*_locked`` expect the caller to hold it.
    """

    def __init__(self, store: ChromaStore, lexical: LexicalIndex) -> None:
        self.store = store
        self.lexical = lexical
        self.lock = threading.Lock()
        self._fingerprint = 0
        # The newest articles, from the registry scan at open and this process's writes since
        # (None: not known, scan on demand). Reading the whole registry for them took 2 s a
        # "nothing found" reply at 25,167 articles.
        self._recent: list[ArticleRecord] | None = None
        # Each article's publication day (YYYYMMDD, None: undated), from the same scan and
        # writes: how many articles a period holds, and how many it cannot hold, is known at
        # once (see published_in).
        self._days: dict[str, int | None] = {}
        # A write of this process failed half-way (outage, full disk): repair before the next.
        self.unfinished = False
        self._lexical_unverified = False
        # Why writes are refused until a restart: the embedded Chroma blocks on every write after
        # one failed (measured with a file size limit), so failing fast beats hanging the bot.
        self._writes_refused: str | None = None
        # A write's BM25 rows are committed beside its Chroma chunks, not after them.
        self._lexical_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bm25-write")

    def close(self) -> None:
        self._lexical_thread.shutdown(wait=True)

    # -- the state of writes -----------------------------------------------------------------

    def check_writable(self) -> None:
        """Raise StoreError when an earlier failure means writes must wait for a restart."""
        if self._writes_refused:
            raise StoreError(self._writes_refused)

    def recover_locked(self) -> Recovery:
        """Roll back what a crashed or failed write left (see ChromaStore.recover)."""
        recovery = self.store.recover()
        if recovery.rolled_back:
            self.lexical.remove_articles(recovery.rolled_back)
        if recovery.rolled_back or self.unfinished:
            # The registry changed under the running fingerprint: recount it from the store.
            self.sync_lexical_locked(others_writing=bool(recovery.in_flight))
        self.unfinished = False
        return recovery

    def repair_locked(self) -> None:
        """Before a write: refuse if writes are refused, roll back a failed write of ours."""
        self.check_writable()
        if self.unfinished:
            self.recover_locked()

    def _after_failed_write(self, store: ChromaStore, error: BaseException) -> None:
        self.unfinished = True
        if not store.remote and isinstance(error, StoreError):
            self._writes_refused = (
                f"{error}; newsbot must be restarted before it writes to {store.description} "
                "again (what an interrupted write left is rolled back on start)"
            )

    # -- writes ------------------------------------------------------------------------------

    def store_articles(self, items: list[Placed], store: ChromaStore | None = None) -> None:
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
        target = store or self.store
        stored = [s for s, _ in items]
        ids = [s.record.article_id for s in stored]
        days = {s.record.article_id: day_number(s.record.published) for s in stored}
        try:
            target.begin_writes([(s.record.article_id, s.record.content_hash) for s in stored])
            self.lexical.set_meta(_FINGERPRINT, _WRITING)
            replaced = [prev.article_id for _, prev in items if prev is not None]
            if replaced:
                target.delete_chunks(replaced)
            lexical = self._lexical_thread.submit(
                self.lexical.replace_articles,
                ids,
                [c for s in stored for c in s.chunks],
                days,
            )
            try:
                target.write_chunks(stored)
            finally:
                wait([lexical])  # neither write outlives this one
            lexical.result()
            target.write_records(stored)
            target.end_writes(ids)
        except BaseException as error:
            self._after_failed_write(target, error)
            raise
        for s, prev in items:
            if prev is not None:
                self._fingerprint ^= record_fingerprint(prev)
            self._fingerprint ^= record_fingerprint(s.record)
        self.lexical.set_meta(_FINGERPRINT, self._fingerprint_text())
        if target is self.store:
            if self._recent is not None:
                self._recent = newest([s.record for s in stored] + self._recent)
            self._days.update(days)

    def get_article(self, article_id: str) -> ArticleRecord:
        record = self.store.get_records([article_id]).get(article_id)
        if record is None:
            raise ArticleNotFoundError(f"no article with id {article_id!r}")
        return record

    def remove(self, article_id: str) -> ArticleRecord:
        """Delete an article and all its chunks."""
        with self.lock:
            self.repair_locked()
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
            self._days.pop(article_id, None)
            if self._recent is not None:
                kept = [r for r in self._recent if r.article_id != article_id]
                # Too few left to show: read the registry again when next asked.
                self._recent = kept if len(kept) >= RECENT_SHOWN else None
        return record

    def switch_to_locked(self, target: ChromaStore) -> None:
        """Make a finished reindex generation the live store, and BM25 its rows."""
        self.store.hand_over(target)  # the lock and the client go with the live generation
        self.store = target
        # The old generation goes; its store object shares our client, so it is not closed.
        target.drop_other_generations()
        records = target.all_records()
        self._remember_registry(records)
        if not target.has_chunk_days():  # a reindex begun before period filters, resumed
            target.add_chunk_days(records)
        self.rebuild_lexical_locked(records)

    # -- the newest articles -----------------------------------------------------------------

    def recent_articles(self, limit: int) -> list[ArticleRecord]:
        """The newest articles (at most RECENT_SHOWN) without reading the whole registry.

        Kept from the registry scan at open and this process's writes since; articles another
        process added meanwhile show after a restart, ones it removed are left out here.
        """
        recent = self._recent
        if recent is None:
            recent = self._recent = newest(self.store.all_records())
        if not recent:
            return []
        present = self.store.get_records([r.article_id for r in recent])
        return [r for r in recent if r.article_id in present][: min(limit, RECENT_SHOWN)]

    def published_in(self, days: tuple[int, int]) -> tuple[int, int]:
        """How many articles were published on ``days`` (YYYYMMDD, inclusive), and how many
        have no date (so no period can hold them)."""
        low, high = days
        # A copy in one step: a write on another thread may change the map meanwhile.
        known = list(self._days.values())
        inside = sum(1 for d in known if d is not None and low <= d <= high)
        return inside, sum(1 for d in known if d is None)

    def publication_days(self) -> Mapping[str, int | None]:
        """Each article's publication day (YYYYMMDD; None: undated), kept up to date."""
        return self._days

    # -- the BM25 index in step with the registry --------------------------------------------

    def _remember_registry(self, records: list[ArticleRecord]) -> str:
        """Take the running fingerprint and the newest articles from one scan of the registry
        (the scan is the slow part: 2.5 s at 25,167 articles); returns the fingerprint."""
        current = fingerprint(records)
        self._fingerprint = int(current, 16)
        self._recent = newest(records)
        self._days = {r.article_id: day_number(r.published) for r in records}
        return current

    def sync_lexical_locked(self, *, others_writing: bool = False) -> None:
        """Rebuild the BM25 index unless its stamp says it matches the registry (and give the
        chunks of a store from before period filters their days)."""
        records = self.store.all_records()
        current = self._remember_registry(records)
        if not self.store.has_chunk_days():
            log.info("adding publication days to the chunks of %s", self.store.description)
            self.store.add_chunk_days(records)
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
        self.rebuild_lexical_locked(records)

    def rebuild_lexical_locked(self, records: list[ArticleRecord] | None = None) -> None:
        """Rebuild the BM25 index from the chunks stored in Chroma, for ``records`` (default:
        the registry's)."""
        if records is None:
            records = self.store.all_records()
        # Only registered articles: chunks without a registry entry are unfinished writes.
        days = {r.article_id: day_number(r.published) for r in records}
        self.lexical.clear()
        for page in self.store.iter_chunks():
            self.lexical.replace_articles([], [c for c in page if c.article_id in days], days)
        self._lexical_unverified = False
        self.lexical.set_meta(_FINGERPRINT, self._fingerprint_text())

    def _fingerprint_text(self) -> str:
        """What a write stamps on the lexical index: the registry's fingerprint, unless the
        rows were never checked against the registry (then no fingerprint may vouch for them)."""
        return _UNVERIFIED if self._lexical_unverified else f"{self._fingerprint:032x}"


def newest(records: Iterable[ArticleRecord]) -> list[ArticleRecord]:
    """The RECENT_KEPT newest records, one per article (the first given wins)."""
    unique: dict[str, ArticleRecord] = {}
    for record in records:
        unique.setdefault(record.article_id, record)
    return heapq.nlargest(RECENT_KEPT, unique.values(), key=lambda r: r.added_at)
