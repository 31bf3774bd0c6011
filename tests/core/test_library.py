"""The library end to end: the real model and a real embedded Chroma in a temporary folder."""

from __future__ import annotations

import dataclasses
import itertools
import json
import shutil
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from newsbot.config import Settings, load_settings
from newsbot.errors import ArticleNotFoundError, ConfigError, ModelMismatchError, StoreError
from newsbot.index.embedder import Embedder
from newsbot.index.records import fingerprint
from newsbot.library import Library
from newsbot.library.identity import normalise_url
from newsbot.library.writer import with_vectors
from newsbot.models import QUOTE_GAP, Article, IngestResult, IngestStatus, Quote
from tests.conftest import FIXTURES
from tests.store_checks import read_embedded, short_reuters

SAMPLE_URL = "https://www.voanews.com/a/massoud-vows-to-fight-on/6214433.html"


def sample_article(text: str, **changes: str) -> Article:
    fields = {
        "text": text,
        "title": "Massoud Vows to Fight on as Taliban Claims Victory Over Resistance",
        "url": SAMPLE_URL,
        "outlet": "VOA",
        "published": "2021-09-06",
        "author": "Ayesha Tanzeem",
    }
    fields.update(changes)
    return Article(**fields)  # type: ignore[arg-type]


def filler_articles(count: int) -> list[Article]:
    topics = ["wheat harvest", "copper prices", "central bank rates", "oil output", "shipping"]
    return [
        Article(
            text=f"Report {i} on {topics[i % 5]}. Traders said volumes in week {i} rose by {i % 7} "
            f"percent compared with the previous week. Analysts expect {topics[(i + 1) % 5]} "
            "to stay volatile.",
            title=f"Market report {i}",
            outlet="Wire",
        )
        for i in range(count)
    ]


@pytest.fixture
def stocked(library: Library, sample_text: str) -> Library:
    result = library.add_article(sample_article(sample_text), origin="sample")
    assert result.status is IngestStatus.ADDED
    results = list(library.add_articles((f"f{i}", a) for i, a in enumerate(filler_articles(30))))
    assert all(r.status is IngestStatus.ADDED for r in results)
    return library


def test_recent_articles_follow_writes_without_reading_the_registry(
    settings: Settings, embedder: Embedder, sample_text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What "nothing found" lists: kept from the scan at open and this library's writes, so a
    reply does not read every record of the registry (2 s at 25,000 articles)."""
    clock = itertools.count()
    monkeypatch.setattr(
        "newsbot.library.pipeline._now", lambda: f"2026-01-01T00:{next(clock):02d}:00"
    )
    with Library.open(settings, embedder=embedder) as library:
        assert library.recent_articles() == []
        added = list(library.add_articles((f"f{i}", a) for i, a in enumerate(filler_articles(8))))
        ids = [r.article_id for r in added]

        def no_scan() -> None:
            raise AssertionError("read the whole registry")

        monkeypatch.setattr(library.store, "all_records", no_scan)

        def recent(limit: int) -> list[str]:
            return [r.article_id for r in library.recent_articles(limit)]

        assert recent(5) == ids[::-1][:5]
        library.remove(ids[-1])
        assert recent(3) == [ids[-2], ids[-3], ids[-4]]
        new = library.add_article(sample_article(sample_text), origin="sample").article_id
        assert recent(2) == [new, ids[-2]]
        # Removed by another writer: left out, not shown as if it were still there.
        library.store.delete_records([ids[-2]])
        assert recent(3) == [new, ids[-3], ids[-4]]
        monkeypatch.undo()
    monkeypatch.setattr(
        "newsbot.library.writer.RECENT_KEPT", 5
    )  # fewer kept than the library holds
    with Library.open(settings, embedder=embedder) as library:
        assert [r.article_id for r in library.recent_articles(3)] == [new, ids[-3], ids[-4]]
        # Removals that leave too few to show read the registry again: all three left.
        for article_id in [new, ids[-3], ids[-4], ids[-5]]:
            library.remove(article_id)
        assert [r.article_id for r in library.recent_articles(9)] == [ids[2], ids[1], ids[0]]


def excerpts(quote: Quote) -> list[str]:
    return quote.text.split(QUOTE_GAP)


def assert_verbatim(quote: Quote, article_text: str) -> None:
    """The quote is the article's text at its offsets, excerpts joined by QUOTE_GAP, and its
    highlighted sentence sits where ``article_offset`` says."""
    assert QUOTE_GAP.join(article_text[a:b] for a, b in quote.excerpts) == quote.text
    assert (quote.excerpts[0][0], quote.excerpts[-1][1]) == (quote.start, quote.end)
    at = quote.article_offset(quote.highlight_start)
    assert quote.highlight.strip() and article_text[at : at + len(quote.highlight)] == (
        quote.highlight
    )


def test_add_records_registry_entry(library: Library, sample_text: str) -> None:
    result = library.add_article(sample_article(sample_text), origin="sample", added_by="tg:42")
    assert result.status is IngestStatus.ADDED and result.chunks >= 2
    (record,) = library.list_articles()
    assert record.article_id == result.article_id
    assert record.title.startswith("Massoud Vows")
    assert (record.url, record.outlet, record.published) == (SAMPLE_URL, "VOA", "2021-09-06")
    assert record.added_by == "tg:42" and record.added_at.startswith("20")
    assert record.chunks == result.chunks
    stats = library.stats()
    assert (stats.articles, stats.chunks) == (1, result.chunks)
    assert stats.model == "all-MiniLM-L6-v2 (int8)" and "embedded Chroma" in stats.store


def test_answers_with_exact_quotes_and_sources(stocked: Library, sample_text: str) -> None:
    questions = [json.loads(line) for line in (FIXTURES / "sample_questions.jsonl").open()]
    assert len(questions) >= 10
    hits = 0
    refused = []
    for item in questions:
        answer = stocked.ask(item["question"], top_k=3)
        if not answer.answered:
            refused.append(item["question"])
        for passage in answer.passages:
            quote = passage.quote
            article = passage.passage.article
            if article.title.startswith("Massoud"):
                # Every quote shown is made of exact substrings of the article, at its offsets.
                assert_verbatim(quote, sample_text)
                assert (
                    passage.passage.chunk.text
                    == sample_text[passage.passage.chunk.start : passage.passage.chunk.end]
                )
            assert all(excerpt in passage.passage.chunk.text for excerpt in excerpts(quote))
        if any(item["answer"].lower() in p.quote.highlight.lower() for p in answer.passages):
            hits += 1
    # The sample questions are answerable from the sample. Measured with 256-token chunks:
    # 13 of 20 answers are in the bold sentence of a top-3 excerpt (one is in a byline, which
    # is never bold), and one question is refused (its best chunk's cosine, 0.24, is under the
    # passage floor: a detail diluted in a long chunk). Guard against a regression below 11
    # or above one refusal; the measured numbers are benchmarks/quality.py's.
    assert len(refused) <= 1, refused
    assert hits / len(questions) >= 0.55, f"{hits}/{len(questions)}"


def test_top_answer_for_the_headline_question(stocked: Library) -> None:
    answer = stocked.ask("Who took control of the Panjshir valley?")
    top = answer.passages[0]
    assert top.passage.article.url == SAMPLE_URL
    assert top.passage.article.outlet == "VOA" and top.passage.article.published == "2021-09-06"
    assert "Taliban" in top.quote.highlight


def test_bm25_runs_beside_the_question_embedding(
    stocked: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The model waits until BM25 has started: asked one after the other, the two would
    # never meet and the wait would time out.
    started = threading.Event()
    search, embed = stocked.lexical.search, stocked.embedder.embed

    def searching(*args: Any, **kwargs: Any) -> Any:
        started.set()
        return search(*args, **kwargs)

    def embedding(texts: Sequence[str]) -> np.ndarray:
        assert started.wait(timeout=10), "BM25 had not started while the question was embedded"
        return embed(texts)

    monkeypatch.setattr(stocked.lexical, "search", searching)
    monkeypatch.setattr(stocked.embedder, "embed", embedding)
    top = stocked.ask("Who took control of the Panjshir valley?").passages[0]
    assert top.passage.article.url == SAMPLE_URL and "Taliban" in top.quote.highlight


def test_nothing_found_for_off_topic_questions(stocked: Library) -> None:
    for question in [
        "How long should I boil an egg for a soft yolk?",
        "What is the time complexity of quicksort?",
        "🙂🙂🙂",
        "   ",
        "?!",
    ]:
        assert not stocked.ask(question).answered, question


def test_empty_library_answers_nothing(library: Library) -> None:
    answer = library.ask("Who took control of the Panjshir valley?")
    assert not answer.answered and answer.passages == []


def test_duplicates_by_url_and_by_text(library: Library, sample_text: str) -> None:
    first = library.add_article(sample_article(sample_text), origin="a")
    # Same URL with tracking parameters, fragment and trailing slash.
    again = library.add_article(
        sample_article(sample_text, url=SAMPLE_URL + "/?utm_source=x#top"), origin="b"
    )
    assert again.status is IngestStatus.DUPLICATE and again.article_id == first.article_id
    # Same text (different case and spacing) at another URL.
    reworded = "  ".join(sample_text.upper().split())
    copy = library.add_article(sample_article(reworded, url="https://mirror.example/x"), origin="c")
    assert copy.status is IngestStatus.DUPLICATE and copy.article_id == first.article_id
    assert library.stats().articles == 1
    assert library.stats().chunks == first.chunks


def test_duplicates_inside_one_batch(library: Library) -> None:
    articles = filler_articles(5)
    items = [(str(i), a) for i, a in enumerate(articles + articles[:2])]
    statuses = [r.status for r in library.add_articles(items)]
    assert statuses == [IngestStatus.ADDED] * 5 + [IngestStatus.DUPLICATE] * 2
    assert library.stats().articles == 5


def test_a_new_title_or_date_updates_the_article_and_what_an_input_lacks_stays(
    library: Library, sample_text: str
) -> None:
    """Seen: a feed entry whose headline alone changed, or an imported line with a corrected
    date, was matched by its text and dropped as a duplicate; the old title stayed."""
    first = library.add_article(sample_article(sample_text), origin="a")
    retitled = sample_article(sample_text, title="Massoud: the resistance fights on")
    updated = library.add_article(retitled, origin="a")
    assert updated.status is IngestStatus.UPDATED and updated.article_id == first.article_id
    redated = library.add_article(replace(retitled, published="2021-09-07"), origin="a")
    assert redated.status is IngestStatus.UPDATED
    # An input that knows less (no date, no author, no outlet) is the same article again; it
    # does not erase what the library knows.
    less = replace(retitled, published=None, author=None, outlet=None)
    assert library.add_article(less, origin="a").status is IngestStatus.DUPLICATE
    (record,) = library.list_articles()
    assert record.title == "Massoud: the resistance fights on"
    assert (record.published, record.author, record.outlet) == (
        "2021-09-07",
        "Ayesha Tanzeem",
        "VOA",
    )
    answer = library.ask("Who took control of the Panjshir valley?")
    assert {p.passage.article.title for p in answer.passages} == {record.title}
    assert library.stats().chunks == first.chunks  # the old chunks went with the old title


def test_an_update_by_id_keeps_whether_the_article_is_found_by_its_address(
    library: Library, sample_text: str
) -> None:
    """A review found a feed entry's own text (not its page) updated by id without a url
    inherit the page's address key: the page, added later, then replaced the entry."""
    entry = Article(
        text="Turnout passed sixty percent by noon, the election office said. " * 3,
        title="Turnout is high",
        url="https://example.com/live",
        addressed=False,
    )
    first = library.add_article(entry, origin="feed")
    renamed = Article(text=entry.text, title="Turnout is very high", id=first.article_id)
    assert library.add_article(renamed, origin="import").status is IngestStatus.UPDATED
    (record,) = library.list_articles()
    assert record.url == entry.url and record.title == "Turnout is very high"
    page = sample_article(sample_text, url="https://example.com/live")
    assert library.add_article(page, origin="page").status is IngestStatus.ADDED
    # And an article found by its address keeps that after an update by id.
    again = dataclasses.replace(page, title="Massoud vows to fight on", url=None)
    added = next(r for r in library.list_articles() if r.url and r.title != record.title)
    updated = library.add_article(dataclasses.replace(again, id=added.article_id), origin="id")
    assert updated.status is IngestStatus.UPDATED
    assert library.add_article(page, origin="page").status is IngestStatus.UPDATED  # by URL


def test_changed_text_replaces_old_chunks(library: Library, sample_text: str) -> None:
    first = library.add_article(sample_article(sample_text), origin="a")
    correction = (
        "Correction: the valley was retaken by resistance fighters on Tuesday, officials said."
    )
    updated = library.add_article(sample_article(correction), origin="a")
    assert updated.status is IngestStatus.UPDATED
    assert updated.article_id == first.article_id
    assert library.stats().chunks == updated.chunks == 1
    assert library.lexical.count() == 1
    answer = library.ask("Who retook the valley?")
    assert [p.quote.text for p in answer.passages] == [correction]
    (record,) = library.list_articles()
    assert record.chunks == 1


def test_remove_deletes_article_and_chunks(stocked: Library) -> None:
    (record,) = [r for r in stocked.list_articles() if r.url == SAMPLE_URL]
    before = stocked.stats()
    removed = stocked.remove(record.article_id)
    assert removed.article_id == record.article_id
    after = stocked.stats()
    assert after.articles == before.articles - 1
    assert after.chunks == before.chunks - record.chunks
    assert stocked.lexical.count() == after.chunks
    answer = stocked.ask("Who took control of the Panjshir valley?")
    assert all(p.passage.article.article_id != record.article_id for p in answer.passages)
    with pytest.raises(ArticleNotFoundError):
        stocked.remove(record.article_id)


def stored_sample(
    settings: Settings, embedder: Embedder, sample_text: str
) -> tuple[IngestResult, Path]:
    """The sample article added to a closed library, and where its lexical index lives."""
    with Library.open(settings, embedder=embedder) as library:
        added = library.add_article(sample_article(sample_text), origin="a")
        return added, Path(library.lexical.path)


def test_persistence_and_lexical_rebuild(
    settings: Settings, embedder: Embedder, sample_text: str
) -> None:
    added, lexical_path = stored_sample(settings, embedder, sample_text)
    # The lexical index is derived data: delete it and it is rebuilt from Chroma on open.
    shutil.rmtree(lexical_path)
    with Library.open(settings, embedder=embedder) as library:
        assert library.lexical.count() == added.chunks
        hits = library.lexical.search("Zabiullah Mujahid", 5)
        assert hits and "Mujahid" in hits[0].chunk.text
        assert library.ask("What did Zabiullah Mujahid say?").answered


def test_an_older_sqlite_lexical_index_is_replaced_on_open(
    settings: Settings, embedder: Embedder, sample_text: str
) -> None:
    """A store from before tantivy: its FTS5 files go, and the index is built from Chroma."""
    added, lexical_path = stored_sample(settings, embedder, sample_text)
    shutil.rmtree(lexical_path)
    old = [settings.store.path / f"newsbot-lexical.sqlite3{end}" for end in ("", "-wal", "-shm")]
    for path in old:
        path.write_bytes(b"SQLite format 3\x00" + bytes(100))
    with Library.open(settings, embedder=embedder) as library:
        assert not any(path.exists() for path in old)
        assert library.lexical.count() == added.chunks
        assert library.ask("What did Zabiullah Mujahid say?").answered


def test_a_failed_lexical_write_leaves_no_half_article(
    settings: Settings, embedder: Embedder, sample_text: str
) -> None:
    """BM25 rows are committed beside Chroma's chunks: when that commit fails (its folder
    vanished here), the article is not registered, and the next open makes all whole."""
    with Library.open(settings, embedder=embedder) as library:
        kept = library.add_text("Harbour reopens\nThe harbour reopened on Friday after repairs.")
        shutil.rmtree(library.lexical.path)
        with pytest.raises(StoreError, match=r"the lexical index .* failed"):
            library.add_article(sample_article(sample_text), origin="a")
        assert library.stats().articles == 1
    with Library.open(settings, embedder=embedder) as library:
        assert library.stats().articles == 1
        assert library.lexical.count() == kept.chunks
        assert library.ask("When did the harbour reopen?").answered
    read_embedded(settings.store.path).assert_whole_articles()


def test_stale_lexical_index_is_rebuilt(
    settings: Settings, embedder: Embedder, sample_text: str
) -> None:
    with Library.open(settings, embedder=embedder) as library:
        library.add_article(sample_article(sample_text), origin="a")
        library.lexical.clear()  # as if another process changed the store meanwhile
    with Library.open(settings, embedder=embedder) as library:
        assert library.lexical.count() == library.stats().chunks > 0


def test_index_refuses_another_model(
    settings: Settings, embedder: Embedder, sample_text: str
) -> None:
    with Library.open(settings, embedder=embedder) as library:
        library.add_article(sample_article(sample_text), origin="a")
    other = settings.model_copy(
        update={
            "embedding": settings.embedding.model_copy(update={"model": "paraphrase-MiniLM-L3-v2"})
        }
    )
    with pytest.raises(ModelMismatchError, match="all-MiniLM-L6-v2"):
        Library.open(other)


def test_hybrid_finds_exact_names_dense_misses(library: Library) -> None:
    articles = [
        *filler_articles(40),
        Article(
            text="The shipment, code-named XR-7734, left the port of Gdansk on Friday. "
            "Officials declined to say what it carried.",
            title="Mystery cargo leaves port",
            outlet="Wire",
        ),
    ]
    list(library.add_articles((str(i), a) for i, a in enumerate(articles)))
    answer = library.ask("Where did XR-7734 leave from?")
    assert "Gdansk" in answer.passages[0].quote.text


def test_normalise_url() -> None:
    assert (
        normalise_url("HTTP://Example.COM:80/a/b/?utm_source=x&id=3#frag")
        == "https://example.com/a/b?id=3"
    )
    assert normalise_url("https://example.com") == "https://example.com/"
    # A query of bare words names the article as much as key=value does.
    assert normalise_url("http://h/story.php?1001") != normalise_url("http://h/story.php?1002")
    assert normalise_url("http://h/s?a=1&b=2&c&utm_medium=x") == "https://h/s?a=1&b=2&c"
    # Credentials are never part of the key (nor, see fetch, of a stored address).
    assert normalise_url("https://alice:s3cret@h/s") == "https://h/s"
    assert normalise_url("http://h:99999/x") == "http://h:99999/x"  # no crash, no port to drop


def test_a_question_with_undecodable_characters_is_answered(stocked: Library) -> None:
    # A lone surrogate: what a command line makes of a byte that is not UTF-8.
    answer = stocked.ask("Who controls the Panjshir \udcff valley?")
    assert answer.passages and "\ufffd" in answer.question


def test_longer_quotes_stay_exact_and_within_the_limit(stocked: Library, sample_text: str) -> None:
    question = "What did Massoud say about the resistance?"
    stocked.settings.search.quote_chars = 150
    short = stocked.ask(question, top_k=3)
    stocked.settings.search.quote_chars = 800
    long = stocked.ask(question, top_k=3)
    assert [p.passage.chunk for p in short.passages] == [p.passage.chunk for p in long.passages]
    for before, after in zip(short.passages, long.passages, strict=True):
        quote = after.quote
        assert all(excerpt in after.passage.chunk.text for excerpt in excerpts(quote))
        if after.passage.article.title.startswith("Massoud"):
            assert_verbatim(quote, sample_text)
        # A longer allowance only adds context to the same answer.
        assert quote.highlight == before.quote.highlight
        assert before.quote.highlight in before.quote.text and quote.highlight in quote.text
        assert len(before.quote.text) <= 150 or before.quote.text == before.quote.highlight
        assert len(quote.text) <= 800 or quote.text == quote.highlight
    assert sum(len(p.quote.text) for p in long.passages) > sum(
        len(p.quote.text) for p in short.passages
    )


def test_rerank_orders_passages_by_their_answering_sentence(stocked: Library) -> None:
    question = "Who took control of the Panjshir valley?"
    stocked.settings.search.rerank = 0
    plain = stocked.ask(question, top_k=5)
    stocked.settings.search.rerank = 10
    reranked = stocked.ask(question, top_k=5)
    assert reranked.answered and len(reranked.passages) >= 3
    assert [p.rank for p in reranked.passages] == list(range(1, len(reranked.passages) + 1))
    # The passage whose bold sentence answers best comes first, the others in that order.
    scores = [p.quote.score for p in reranked.passages]
    assert scores == sorted(scores, reverse=True)
    assert "Taliban" in reranked.passages[0].quote.highlight
    # Without reranking the order is retrieval's, whatever the quotes score.
    assert [p.passage.score for p in plain.passages] == sorted(
        (p.passage.score for p in plain.passages), reverse=True
    )


def test_chunks_stored_by_an_older_newsbot_still_answer(
    settings: Settings, embedder: Embedder, sample_text: str
) -> None:
    """Chunk texts were Chroma documents before 2026-11-26 (now metadata): both are read."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    added, lexical_path = stored_sample(settings, embedder, sample_text)
    client = chromadb.PersistentClient(
        path=str(settings.store.path), settings=ChromaSettings(anonymized_telemetry=False)
    )
    chunks = client.get_collection("newsbot_chunks")
    got = chunks.get(include=["metadatas", "embeddings"])
    assert all("text" in m for m in got["metadatas"])
    old = [{k: v for k, v in m.items() if k != "text"} for m in got["metadatas"]]
    chunks.delete(ids=got["ids"])
    chunks.add(
        ids=got["ids"],
        embeddings=got["embeddings"],
        metadatas=old,
        documents=[m["text"] for m in got["metadatas"]],
    )
    client.clear_system_cache()
    shutil.rmtree(lexical_path)  # rebuilt from the old chunks' documents on open
    with Library.open(settings, embedder=embedder) as library:
        assert library.lexical.count() == added.chunks
        answer = library.ask("What did Zabiullah Mujahid say?")
        assert answer.answered and "Mujahid" in answer.passages[0].passage.chunk.text
        first = answer.passages[0].passage.chunk
        assert sample_text[first.start : first.end] == first.text


def reuters_items(count: int, *, skip: int = 0) -> list[tuple[str, Article]]:
    return [
        (
            f"eval:{a['id']}",
            Article(
                title=a["title"],
                text=a["text"],
                url=f"https://news.example/{a['id']}",
                id=a["id"],
            ),
        )
        for a in short_reuters(count, skip=skip)
    ]


def test_a_later_batch_sees_the_articles_of_the_batch_being_written(
    settings: Settings, embedder: Embedder
) -> None:
    """Batch 2 is checked while batch 1 may still be on its way to the store: a copy of one of
    its articles is a duplicate, a new text at one's URL an update of it, as if stored."""
    items = reuters_items(66)
    first, second = items[3][1], items[5][1]
    items.append(("copy", dataclasses.replace(first, url="https://elsewhere.example/x", id="")))
    changed = dataclasses.replace(second, text=second.text + " Shares rose 3 pct on Friday.")
    items.append(("changed", changed))
    with Library.open(settings, embedder=embedder) as library:
        results = list(library.add_articles(items))
        assert [r.status for r in results[:66]] == [IngestStatus.ADDED] * 66
        copy, update = results[66:]
        assert copy.status is IngestStatus.DUPLICATE and copy.article_id == results[3].article_id
        assert update.status is IngestStatus.UPDATED and update.article_id == results[5].article_id
        assert library.store.article_text(results[5].article_id) == changed.text
        assert library.stats().articles == 66
    read_embedded(settings.store.path).assert_whole_articles()


def test_an_ingest_stopped_early_leaves_whole_articles(
    settings: Settings, embedder: Embedder
) -> None:
    items = reuters_items(130)
    with Library.open(settings, embedder=embedder) as library:
        ingest = library.add_articles(items)
        seen = [next(ingest) for _ in range(10)]
        ingest.close()  # the caller stops reading: batch 2 was embedded and queued by now
        stored = {r.article_id for r in library.store.all_records()}
        assert {r.article_id for r in seen} <= stored
        assert 64 <= len(stored) <= 128  # batch 1, and batch 2 if its write had begun
        assert not library.pipeline.inflight
        # The same ingest again completes it: what was stored is a duplicate now.
        again = list(library.add_articles(items))
        assert {r.article_id for r in again if r.status is IngestStatus.DUPLICATE} == stored
        assert library.stats().articles == 130
    read_embedded(settings.store.path).assert_whole_articles()


@contextmanager
def writer_held(library: Library) -> Iterator[None]:
    """Keep the library's writer thread busy: batches started meanwhile queue behind it."""
    gate = threading.Event()
    library.pipeline._thread.submit(gate.wait, 60)
    try:
        yield
    finally:
        gate.set()


def queue_update(library: Library, sample_text: str) -> Any:
    """Check and queue a new text for the sample article (its batch, not yet written)."""
    changed = sample_article(sample_text + " Talks resumed on Monday.")
    return library.pipeline.start_batch([("update", changed)], None)


def test_a_duplicate_of_a_queued_article_never_stored_is_added_after_all(
    settings: Settings, embedder: Embedder, sample_text: str
) -> None:
    """A copy checked while the original waits to be written is a duplicate only if the
    original lands; here its ingest stopped first (what add_articles does when stopped)."""
    with Library.open(settings, embedder=embedder) as library:
        with writer_held(library):
            original = library.pipeline.start_batch(
                [("original", sample_article(sample_text))], None
            )
            elsewhere = sample_article(sample_text, url="https://elsewhere.example/x")
            copy = library.pipeline.start_batch([("copy", elsewhere)], None)
            assert copy.results[0].status is IngestStatus.DUPLICATE  # as things stood
            original.abandoned = True
        (result,) = library.pipeline.finish_batch(copy)
        assert result.status is IngestStatus.ADDED
        assert library.store.article_text(result.article_id) == sample_text
        assert [r.url for r in library.list_articles()] == [elsewhere.url]
    read_embedded(settings.store.path).assert_whole_articles()


def test_an_update_queued_before_a_removal_is_stored_as_new(
    settings: Settings, embedder: Embedder, sample_text: str
) -> None:
    """What a write replaces is read when it is written: the article removed meanwhile has
    no old chunks to drop, and the registry fingerprint stays true (no rebuild at start)."""
    with Library.open(settings, embedder=embedder) as library:
        added = library.add_article(sample_article(sample_text), origin="a")
        with writer_held(library):
            update = queue_update(library, sample_text)
            library.remove(added.article_id)
        (result,) = library.pipeline.finish_batch(update)
        assert result.status is IngestStatus.ADDED and result.article_id == added.article_id
        assert library.stats().articles == 1
        assert library.lexical.get_meta("fingerprint") == fingerprint(library.store.all_records())
    read_embedded(settings.store.path).assert_whole_articles()


def test_a_copy_of_the_text_a_queued_update_replaces_is_a_new_article(
    settings: Settings, embedder: Embedder, sample_text: str
) -> None:
    """Once an update is queued, the article's old text no longer stands for it."""
    with Library.open(settings, embedder=embedder) as library:
        added = library.add_article(sample_article(sample_text), origin="a")
        with writer_held(library):
            update = queue_update(library, sample_text)
            old_text = sample_article(sample_text, url="https://elsewhere.example/x")
            copy = library.pipeline.start_batch([("copy", old_text)], None)
        (updated,) = library.pipeline.finish_batch(update)
        (copied,) = library.pipeline.finish_batch(copy)
        assert updated.status is IngestStatus.UPDATED and updated.article_id == added.article_id
        assert copied.status is IngestStatus.ADDED and copied.article_id != added.article_id
        assert library.store.article_text(copied.article_id) == sample_text
        assert library.stats().articles == 2
    read_embedded(settings.store.path).assert_whole_articles()


def test_a_batch_after_one_that_stored_nothing_is_not_written(
    settings: Settings, embedder: Embedder
) -> None:
    """The ingest reports the first batch's failure and stops: the next is not stored unseen."""
    items = reuters_items(2)
    with Library.open(settings, embedder=embedder) as library:
        with writer_held(library):
            first = library.pipeline.start_batch(items[:1], None)
            second = library.pipeline.start_batch(items[1:], None, prior=first)
            first.abandoned = True
        with pytest.raises(StoreError, match="not written"):
            library.pipeline.finish_batch(second)
        assert library.stats().articles == 0 and not library.pipeline.inflight


def test_a_failed_recheck_of_a_duplicate_leaves_the_rest_of_its_batch_reported(
    settings: Settings, embedder: Embedder, sample_text: str
) -> None:
    """The copy must be checked again (its original never landed) and that fails: the copy
    is reported failed, the new article written beside it is reported added."""
    with Library.open(settings, embedder=embedder) as library:
        with writer_held(library):
            original = library.pipeline.start_batch(
                [("original", sample_article(sample_text))], None
            )
            copy = sample_article(sample_text, url="https://elsewhere.example/x")
            fresh = Article(text="The harbour reopened on Friday after repairs.", title="Harbour")
            batch = library.pipeline.start_batch([("copy", copy), ("fresh", fresh)], None)
            original.abandoned = True
        batch.written.result()
        shutil.rmtree(library.lexical.path)  # every write from now on fails
        failed, added = library.pipeline.finish_batch(batch)
        assert failed.status is IngestStatus.FAILED and "lexical index" in (failed.error or "")
        assert added.status is IngestStatus.ADDED
        assert [r.title for r in library.store.all_records()] == ["Harbour"]


def test_a_copy_of_the_old_text_is_a_duplicate_when_the_queued_update_never_lands(
    settings: Settings, embedder: Embedder, sample_text: str
) -> None:
    """Checked while an update was queued, the copy looked new; written after that update
    was dropped, it is what it is: a duplicate of the unchanged article."""
    with Library.open(settings, embedder=embedder) as library:
        added = library.add_article(sample_article(sample_text), origin="a")
        with writer_held(library):
            update = queue_update(library, sample_text)
            old_text = sample_article(sample_text, url="https://elsewhere.example/x")
            copy = library.pipeline.start_batch([("copy", old_text)], None)
            assert not copy.results  # as things stood, a new article
            update.abandoned = True
        (result,) = library.pipeline.finish_batch(copy)
        assert result.status is IngestStatus.DUPLICATE and result.article_id == added.article_id
        assert library.stats().articles == 1
        assert library.store.article_text(added.article_id) == sample_text
    read_embedded(settings.store.path).assert_whole_articles()


def test_a_duplicate_of_a_queued_article_the_write_then_dropped_is_checked_again(
    settings: Settings, embedder: Embedder, sample_text: str
) -> None:
    """Three copies of one text in flight: the article they repeat is the one that lands."""
    with Library.open(settings, embedder=embedder) as library:
        added = library.add_article(sample_article(sample_text), origin="a")
        with writer_held(library):
            update = queue_update(library, sample_text)
            first = sample_article(sample_text, url="https://elsewhere.example/1")
            first_copy = library.pipeline.start_batch([("first", first)], None)
            second = sample_article(sample_text, url="https://elsewhere.example/2")
            second_copy = library.pipeline.start_batch([("second", second)], None)
            assert second_copy.results[0].status is IngestStatus.DUPLICATE  # of the first
            update.abandoned = True
        (one,) = library.pipeline.finish_batch(first_copy)
        (two,) = library.pipeline.finish_batch(second_copy)
        assert one.status is two.status is IngestStatus.DUPLICATE
        assert one.article_id == two.article_id == added.article_id
        assert library.stats().articles == 1 and not library.pipeline.inflight


def test_an_update_back_to_the_stored_text_is_a_duplicate(
    settings: Settings, embedder: Embedder, sample_text: str
) -> None:
    """Checked against a queued update, the old text looked like a change; that update never
    landed, so the article already holds it."""
    with Library.open(settings, embedder=embedder) as library:
        added = library.add_article(sample_article(sample_text), origin="a")
        with writer_held(library):
            update = queue_update(library, sample_text)
            back = library.pipeline.start_batch([("back", sample_article(sample_text))], None)
            update.abandoned = True
        (result,) = library.pipeline.finish_batch(back)
        assert result.status is IngestStatus.DUPLICATE and result.article_id == added.article_id
        assert library.store.article_text(added.article_id) == sample_text


@pytest.mark.parametrize("between", [0, 70])
def test_one_article_twice_in_an_ingest_is_updated_by_the_later_input(
    library: Library, sample_text: str, between: int
) -> None:
    """Two inputs with one id or one address and different texts (an export edited by hand, a
    dump with a corrected story): the later one is an update, whether the two fall in one
    batch or not (seen: in one batch the later was a "duplicate" and its text was lost)."""
    fillers = [(f"filler {i}", a) for i, a in enumerate(filler_articles(between))]
    for key, changes in (("id", {"id": "voa-panjshir"}), ("url", {})):
        first = sample_article(sample_text, **changes)
        second = sample_article(
            sample_text + f" Talks resumed ({key}).",
            **changes,
            **({"url": "https://elsewhere.example/x"} if key == "id" else {}),
        )
        results = list(library.add_articles([("first", first), *fillers, ("second", second)]))
        added, updated = results[0], results[-1]
        assert added.status is IngestStatus.ADDED, (key, added)
        assert updated.status is IngestStatus.UPDATED and updated.article_id == added.article_id
        assert library.store.article_text(added.article_id) == second.text
        library.remove(added.article_id)
        for result in results[1:-1]:
            library.remove(result.article_id or "")


def test_two_ingests_at_once_store_each_article_once(
    settings: Settings, embedder: Embedder
) -> None:
    """The bot's /add beside a feed poll: two ingests of overlapping articles, copies at other
    addresses and changed texts, at once. Each article is stored once, whole, and every
    result names an article that is there."""
    items = reuters_items(200)
    copies = [
        (f"copy:{origin}", dataclasses.replace(a, url=f"{a.url}/copy", id=""))
        for origin, a in items[:40]
    ]
    changed = [
        (f"changed:{origin}", dataclasses.replace(a, text=f"{a.text} Shares rose 3 pct."))
        for origin, a in items[150:170]
    ]
    inputs = {"first": items[:130], "second": items[70:] + copies + changed}
    results: dict[str, list[IngestResult]] = {}
    with Library.open(settings, embedder=embedder) as library:

        def ingest(name: str) -> None:
            results[name] = list(library.add_articles(inputs[name]))

        threads = [threading.Thread(target=ingest, args=(name,)) for name in inputs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=600)
        assert [len(results[name]) for name in inputs] == [130, 190]
        registry = {r.article_id: r for r in library.store.all_records()}
        assert len(registry) == 200 and not library.pipeline.inflight
        everything = results["first"] + results["second"]
        assert all(r.article_id in registry for r in everything), everything
        by_source: dict[str, list[IngestStatus]] = {}
        for r in everything:
            by_source.setdefault(r.source, []).append(r.status)
        for origin, _ in items[70:130]:  # in both: added by one, a duplicate for the other
            assert sorted(s.value for s in by_source[origin]) == ["added", "duplicate"]
        for (origin, _), (copy, _) in zip(items[:40], copies, strict=True):
            assert sorted(s.value for s in by_source[origin] + by_source[copy]) == [
                "added",
                "duplicate",
            ]
        for (_, article), (change, new) in zip(items[150:170], changed, strict=True):
            assert by_source[change] == [IngestStatus.UPDATED]
            assert library.store.article_text(article.id) == new.text
        assert library.lexical.get_meta("fingerprint") == fingerprint(list(registry.values()))
    read_embedded(settings.store.path).assert_whole_articles()


def test_the_model_can_load_while_the_store_opens(tmp_path: Path, model_cache: Path) -> None:
    """What the bot and ``ask`` do: the model is ready when the open returns, and a model
    that cannot load stops the open with its reason."""
    settings = load_settings(
        store={"path": tmp_path / "store"}, embedding={"cache_dir": model_cache}
    )
    with Library.open(settings, load_model=True) as library:
        assert library._embedder is not None  # loaded, not left for the first question
        assert library.embedder.embed(["The harbour reopened."]).shape == (1, 384)
    broken = load_settings(
        store={"path": tmp_path / "other"},
        embedding={"cache_dir": model_cache, "model": str(tmp_path / "no-such-model")},
    )
    with pytest.raises(ConfigError, match="no-such-model"):
        Library.open(broken, load_model=True)


def test_a_text_its_own_batch_replaces_is_free_for_a_new_article(
    settings: Settings, embedder: Embedder, sample_text: str
) -> None:
    """The update that retired the old text never landed, but the copy's own batch changes
    the article again: the old text is no article's when the copy is written."""
    with Library.open(settings, embedder=embedder) as library:
        added = library.add_article(sample_article(sample_text), origin="a")
        with writer_held(library):
            update = queue_update(library, sample_text)
            newest = sample_article(sample_text + " A ceasefire was agreed on Tuesday.")
            old_text = sample_article(sample_text, url="https://elsewhere.example/x")
            batch = library.pipeline.start_batch([("newest", newest), ("copy", old_text)], None)
            update.abandoned = True
        updated, copied = library.pipeline.finish_batch(batch)
        assert updated.status is IngestStatus.UPDATED and updated.article_id == added.article_id
        assert copied.status is IngestStatus.ADDED and copied.article_id != added.article_id
        assert library.store.article_text(added.article_id) == newest.text
        assert library.store.article_text(copied.article_id) == sample_text
    read_embedded(settings.store.path).assert_whole_articles()


def test_an_article_the_write_time_check_drops_leaves_the_queue_alone(
    settings: Settings, embedder: Embedder, sample_text: str
) -> None:
    """Only what the check drops stops counting as about to be stored; the rest of its batch,
    still being written, counts for the checks of other ingests meanwhile."""
    with Library.open(settings, embedder=embedder) as library:
        library.add_article(sample_article(sample_text), origin="a")
        with writer_held(library):
            update = queue_update(library, sample_text)
            old_text = sample_article(sample_text, url="https://elsewhere.example/x")
            fresh = Article(text="The harbour reopened on Friday after repairs.", title="Harbour")
            batch = library.pipeline.start_batch([("copy", old_text), ("fresh", fresh)], None)
            # The update never lands; the write of the batch starts here, by hand.
            vectors = batch.vectors.result()
            with library.index.lock:
                placed = with_vectors([(s, None) for _, _, s in batch.to_write], vectors)
                writing = library.pipeline.recheck_locked(batch, [s for s, _ in placed])
            queued = {s.url_key for s, _ in library.pipeline.inflight}
            update.abandoned = batch.abandoned = True  # the writer thread leaves both
        assert [s.record.title for s, _ in writing] == ["Harbour"]
        assert batch.results[0].status is IngestStatus.DUPLICATE
        # The update and the fresh article are still on their way; the copy is not.
        assert queued == {normalise_url(SAMPLE_URL), None}


def test_chunks_longer_than_the_model_reads_are_cut_at_its_limit(
    tmp_path: Path, embedder: Embedder, sample_text: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Seen: max_tokens = 4000 made the sample one chunk; the model read its first 256 tokens,
    # so the rest of the article was in no vector and was never quoted.
    sizes = []
    for max_tokens in (256, 4000):
        settings = load_settings(
            store={"path": tmp_path / str(max_tokens)}, chunking={"max_tokens": max_tokens}
        )
        with Library.open(settings, embedder=embedder) as library:
            result = library.add_article(sample_article(sample_text), origin="sample")
            sizes.append(result.chunks)
    assert sizes[0] == sizes[1] > 1
    assert "chunking.max_tokens = 4000 is more than" in caplog.text
