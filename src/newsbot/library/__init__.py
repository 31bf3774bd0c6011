"""The one facade both edges call: add, remove, list, ask, stats.

It owns the embedding model, the Chroma store and the lexical index, opened once by
:meth:`Library.open` and closed by :meth:`Library.close`, and hands each verb to one part:
the ingest pipeline (:mod:`.pipeline`), the index writer (:mod:`.writer`), retrieval
(:mod:`.retrieval`), maintenance (:mod:`.maintenance`) and export (:mod:`.export`). It imports
nothing from Telegram.
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from newsbot.config import Settings
from newsbot.conversation import (
    DEFAULT_EXPIRY_S,
    Conversation,
    asks_for_more,
    expansion_words,
    follows_on,
)
from newsbot.errors import IngestError
from newsbot.index.documents import DocumentCollection
from newsbot.index.embedder import Embedder
from newsbot.index.lexical import LexicalIndex
from newsbot.index.sentence_vectors import SentenceVectors
from newsbot.index.store import ChromaStore
from newsbot.library import asking, continuation, export, maintenance
from newsbot.library.identity import Item
from newsbot.library.locations import lexical_index_path, remove_fts5_index
from newsbot.library.passages import Passages
from newsbot.library.pipeline import IngestPipeline
from newsbot.library.retrieval import Retriever
from newsbot.library.writer import IndexWriter
from newsbot.models import (
    Answer,
    Article,
    ArticleRecord,
    FollowUp,
    IngestResult,
    IngestStatus,
    LibraryStats,
    ReindexReport,
)

DUMP_EXPANSION = 10  # an uploaded dump may expand to this many times ingest.max_bytes


class Library:
    """A library of news articles that answers questions with quotes and sources."""

    def __init__(
        self,
        settings: Settings,
        store: ChromaStore,
        lexical: LexicalIndex,
        embedder: Embedder | None = None,
        sentences: SentenceVectors | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings
        # "Now" for questions about time ("last week"): the process clock unless a test or a
        # benchmark sets another.
        self._clock = clock or (lambda: datetime.now(UTC))
        self.sentences = sentences or SentenceVectors(":memory:", model=settings.embedding.identity)
        self._embedder = embedder
        self._embedder_lock = threading.Lock()
        self.lexical = lexical
        self.index = IndexWriter(store, lexical)
        self.passages = Passages(
            lambda: self.settings.chunking, lambda: self.embedder, self.sentences
        )
        self.pipeline = IngestPipeline(self.index, self.passages)
        # BM25 needs only the question's words, so it runs beside the question's embedding and
        # dense search (tantivy and onnxruntime release the GIL): a question waits for the
        # slower of the two, not their sum (benchmarks/README.md, "Question latency").
        self._lexical_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bm25")
        self._retriever = Retriever(
            lambda texts: self.embedder.embed(texts), self.sentences, lexical, self._lexical_worker
        )

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        embedder: Embedder | None = None,
        check_model: bool = True,
        load_model: bool = False,
        lock_wait: float = 0.0,
        clock: Callable[[], datetime] | None = None,
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
            clock: "now" for questions about time (default: the process clock).
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
                lexical_path = lexical_index_path(settings)
                if settings.store.lexical_path is None:  # a path of newsbot's own choosing
                    remove_fts5_index(lexical_path)
                lexical = LexicalIndex(lexical_path)
                opened.callback(lexical.close)
                sentences = SentenceVectors(
                    lexical_path.with_suffix(".sentences.sqlite3"),
                    model=settings.embedding.identity,
                )
                opened.callback(sentences.close)
                library = cls(settings, store, lexical, embedder, sentences, clock)
                with library.index.lock:
                    recovery = library.index.recover_locked()
                    library.index.sync_lexical_locked(others_writing=bool(recovery.in_flight))
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

    @property
    def store(self) -> ChromaStore:
        """The live store (a reindex replaces it); only the library's parts write to it."""
        return self.index.store

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
        self.pipeline.close()
        self.index.close()
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
        return self.pipeline.add_articles(items, added_by=added_by)

    def add_article(
        self, article: Article, *, origin: str, added_by: str | None = None
    ) -> IngestResult:
        """Index one article (pasted text, an upload, a fetched page)."""
        return next(iter(self.pipeline.add_batch([(origin, article)], added_by)))

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

    # -- management --------------------------------------------------------------------------

    def get_article(self, article_id: str) -> ArticleRecord:
        return self.index.get_article(article_id)

    def remove(self, article_id: str) -> ArticleRecord:
        """Delete an article and all its chunks."""
        return self.index.remove(article_id)

    def list_articles(self) -> list[ArticleRecord]:
        """All articles, newest first."""
        return sorted(self.store.all_records(), key=lambda r: r.added_at, reverse=True)

    def count_articles(self) -> int:
        """How many articles the library holds (cheaper than :meth:`stats`, which counts
        chunks too: 12-500 ms at 84,601 chunks)."""
        return self.store.count_articles()

    def recent_articles(self, limit: int = 3) -> list[ArticleRecord]:
        """The newest articles (see :meth:`IndexWriter.recent_articles`)."""
        return self.index.recent_articles(limit)

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
        return maintenance.reindex(self.index, self.passages, self.settings, progress)

    def export(self, path: Path) -> int:
        """Write every article, its text and metadata, as JSON Lines (``.gz``: compressed);
        see :func:`newsbot.library.export.export`. Returns the number of articles written."""
        return export.export(self.store, path)

    def export_to(self, handle: TextIO) -> int:
        """Write the JSON Lines of :meth:`export` to an open text stream (e.g. stdout)."""
        return export.export_to(self.store, handle)

    # -- questions ---------------------------------------------------------------------------

    def ask(
        self, question: str, *, top_k: int | None = None, follow_up: FollowUp | None = None
    ) -> Answer:
        """Find the passages that answer ``question`` and quote them.

        A time phrase in the question ("in March 2021", "last week", "latest") narrows the
        search to the articles published then, or ranks newer ones higher; the Answer says
        what was searched. Returns an Answer with no passages when nothing in the library is
        relevant enough.

        Args:
            follow_up: for a question that leans on the previous one, the conversation's
                words to search with as well and the articles just cited (see
                :meth:`converse`); the Answer's ``context`` names the words.
        """
        return asking.ask(
            question,
            self._retriever,
            self.index,
            self.settings.search,
            top_k or self.settings.search.top_k,
            self._clock(),
            follow_up,
        )

    def continue_after(self, article_id: str, end: int, *, question: str = "more") -> Answer:
        """The sentences of an article after offset ``end`` (where the last quote shown
        ended), verbatim, with their source: what "more" shows. No search; see
        :func:`newsbot.library.continuation.continue_after`."""
        return continuation.continue_after(
            self.store, article_id, end, self.settings.search.quote_chars, question
        )

    def converse(
        self,
        question: str,
        conversation: Conversation | None,
        *,
        now: float,
        is_reply: bool = False,
        expiry: float = DEFAULT_EXPIRY_S,
        top_k: int | None = None,
    ) -> Answer:
        """Answer ``question`` as the next message of ``conversation``: what the bot and
        ``newsbot chat`` call. They keep the conversations
        (:class:`newsbot.chat_memory.Conversations`) and record the turn of each Answer
        (:func:`newsbot.conversation.turn_of`).

        "More", "next", "go on" continue the last quote (:meth:`continue_after`); a question
        that follows on (:func:`~newsbot.conversation.follows_on`: a reply to an answer, or
        leaning on the last question) is searched with the conversation's words as well and
        the articles just cited weigh more; anything else, and everything without a live
        conversation, is :meth:`ask` as it stands.

        Args:
            now: the current time, in the clock the conversation's times are in.
            is_reply: the message replies to the answer the conversation ended with.
            expiry: seconds after its last turn when a conversation no longer counts.
        """
        last = conversation.last_turn if conversation is not None else None
        live = conversation is not None and not conversation.expired(now, expiry)
        if live and last is not None and last.last_quote is not None and asks_for_more(question):
            quote = last.last_quote
            return self.continue_after(quote.article_id, quote.end, question=question)
        if conversation is not None and follows_on(
            question, conversation, now, is_reply=is_reply, expiry=expiry
        ):
            words = expansion_words(question, conversation)
            cited = last.article_ids if last is not None else ()
            if words:
                return self.ask(question, top_k=top_k, follow_up=FollowUp(tuple(words), cited))
        return self.ask(question, top_k=top_k)

    def latest(self, topic: str | None = None, *, limit: int = 10) -> list[ArticleRecord]:
        """The newest articles by publication date, or the newest about ``topic``."""
        return asking.latest(topic, self._retriever, self.index, self.settings.search, limit)

    # -- lexical index upkeep ----------------------------------------------------------------

    def rebuild_lexical(self) -> None:
        """Rebuild the BM25 index from the chunks stored in Chroma."""
        with self.index.lock:
            self.index.rebuild_lexical_locked()
