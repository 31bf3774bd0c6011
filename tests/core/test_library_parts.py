"""The library's own rules with the fake embedder (tests/fakes.py): dedup, updates, removal
and the answer pipeline, with a real embedded Chroma but no model, so they run in seconds."""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import pytest

from newsbot.config import Settings
from newsbot.index.embedder import Embedder
from newsbot.library import Library
from newsbot.models import Article, IngestStatus
from tests.fakes import FakeEmbedder

HARBOUR = (
    "The harbour authority opened a new container terminal in Rotterdam on Monday. "
    "The terminal can handle two million containers a year, the authority said. "
    "Dock workers had warned that automation would cost jobs at the port."
)
FARM = (
    "Wheat farmers in Kansas expect a smaller harvest after a dry spring. "
    "The state's agriculture department cut its forecast by ten percent on Tuesday. "
    "Prices on the Chicago exchange rose after the report was published."
)


@pytest.fixture
def fake_library(settings: Settings) -> Iterator[Library]:
    with Library.open(settings, embedder=cast(Embedder, FakeEmbedder())) as library:
        yield library


def test_the_fake_embedder_is_deterministic_and_lexical() -> None:
    fake = FakeEmbedder()
    a, b, c = fake.embed(["terminal in Rotterdam", "Rotterdam terminal", "wheat harvest"])
    assert (fake.embed(["terminal in Rotterdam"])[0] == a).all()
    assert float(a @ b) > 0.5 > float(a @ c)


def test_duplicates_updates_and_removal(fake_library: Library) -> None:
    first = fake_library.add_article(
        Article(text=HARBOUR, title="New terminal", url="https://port.example/a"), origin="test"
    )
    assert first.status is IngestStatus.ADDED and first.article_id
    # The same text elsewhere, and the same address again: duplicates, nothing written.
    again = fake_library.add_article(
        Article(text=HARBOUR, title="Copy", url="https://x.example/b"), origin="test"
    )
    same = fake_library.add_article(
        Article(text=HARBOUR, title="New terminal", url="https://port.example/a?utm_source=feed"),
        origin="test",
    )
    assert again.status is same.status is IngestStatus.DUPLICATE
    # A new text at the address: an update of the same article.
    changed = fake_library.add_article(
        Article(
            text=HARBOUR + " Strikes began on Friday.",
            title="New terminal",
            url="https://port.example/a",
        ),
        origin="test",
    )
    assert changed.status is IngestStatus.UPDATED and changed.article_id == first.article_id
    assert fake_library.stats().articles == 1
    fake_library.add_article(Article(text=FARM, title="Harvest"), origin="test")
    assert fake_library.stats().articles == 2
    fake_library.remove(first.article_id)
    assert [r.title for r in fake_library.list_articles()] == ["Harvest"]
    assert not any(
        p.passage.article.article_id == first.article_id
        for p in fake_library.ask("container terminal Rotterdam").passages
    )


def test_the_answer_pipeline_quotes_the_matching_sentence(fake_library: Library) -> None:
    for title, text in (("New terminal", HARBOUR), ("Harvest", FARM)):
        fake_library.add_article(Article(text=text, title=title), origin="test")
    answer = fake_library.ask("How many containers can the Rotterdam terminal handle a year?")
    assert answer.answered
    top = answer.passages[0]
    assert top.passage.article.title == "New terminal"
    assert "two million containers" in top.quote.highlight
    assert top.quote.text in HARBOUR and top.quote.highlight in top.quote.text
    assert fake_library.ask("🙂 ?!").passages == []


def test_the_index_writer_keeps_bm25_stamped_with_the_registry(fake_library: Library) -> None:
    from newsbot.index.records import fingerprint

    harbour = fake_library.add_article(Article(text=HARBOUR, title="Terminal"), origin="test")
    fake_library.add_article(Article(text=FARM, title="Harvest"), origin="test")
    fake_library.remove(harbour.article_id or "")
    # The stamp vouches for exactly the registry: the next opening trusts the BM25 rows.
    assert fake_library.lexical.get_meta("fingerprint") == fingerprint(
        fake_library.store.all_records()
    )
    assert [r.title for r in fake_library.recent_articles(5)] == ["Harvest"]


def test_the_pipeline_counts_queued_articles_in_its_checks(fake_library: Library) -> None:
    import threading

    pipeline = fake_library.pipeline
    gate = threading.Event()
    pipeline._thread.submit(gate.wait, 60)  # the writer thread is busy: batches stay queued
    try:
        first = pipeline.start_batch([("first", Article(text=HARBOUR, title="A"))], None)
        second = pipeline.start_batch([("second", Article(text=HARBOUR, title="B"))], None)
        assert len(pipeline.inflight) == 1  # the copy was never queued
    finally:
        gate.set()
    (added,) = pipeline.finish_batch(first)
    (copy,) = pipeline.finish_batch(second)
    assert added.status is IngestStatus.ADDED
    assert copy.status is IngestStatus.DUPLICATE and copy.article_id == added.article_id
    assert fake_library.stats().articles == 1 and not pipeline.inflight


def test_reindex_builds_a_new_generation_that_answers(fake_library: Library) -> None:
    for title, text in (("New terminal", HARBOUR), ("Harvest", FARM)):
        fake_library.add_article(Article(text=text, title=title), origin="test")
    before = fake_library.store.generation
    report = fake_library.reindex()
    assert report.articles == 2 and report.embedded == 2
    assert fake_library.store.generation != before
    answer = fake_library.ask("How much did the agriculture department cut its forecast?")
    assert answer.passages and answer.passages[0].passage.article.title == "Harvest"


def test_a_source_link_opens_the_article_at_its_bold_sentence(fake_library: Library) -> None:
    from newsbot.text_fragment import parse_text_directive

    fake_library.add_article(
        Article(text=HARBOUR, title="New terminal", url="https://port.example/a#top"),
        origin="test",
    )
    fake_library.add_article(Article(text=FARM, title="Harvest"), origin="test")
    answer = fake_library.ask("How many containers can the Rotterdam terminal handle a year?")
    first = answer.passages[0]
    assert first.link is not None and first.link.startswith("https://port.example/a#top:~:text=")
    (directive,) = first.link.split(":~:text=")[1:]
    decoded = parse_text_directive(directive)
    assert decoded.start in first.quote.highlight and decoded.start in HARBOUR
    assert first.to_json()["link"] == first.link and first.to_json()["url"].endswith("#top")
    # No address, no link.
    farm = fake_library.ask("How much did the agriculture department cut its forecast?")
    assert farm.passages[0].link is None and farm.passages[0].to_json()["link"] is None


def test_links_of_long_sentences_are_built_against_the_whole_article(
    fake_library: Library,
) -> None:
    from newsbot.library.retrieval import link_texts
    from newsbot.models import Chunk, Quote

    long_sentence = "The port " + "and the harbour " * 20 + "reopened."
    text = HARBOUR + " " + long_sentence
    added = fake_library.add_article(
        Article(text=text, title="Terminal", url="https://port.example/a"), origin="test"
    )
    article_id = added.article_id or ""
    chunk = Chunk(article_id, 0, 0, 76, text[:76])
    short = Quote(text=text[:76], start=0, end=76, highlight_start=0, highlight_end=76)
    start = text.index(long_sentence)
    long = Quote(
        text=long_sentence,
        start=start,
        end=start + len(long_sentence),
        highlight_start=0,
        highlight_end=len(long_sentence),
    )
    # A short bold sentence is linked whole, from its passage; a long one needs the article.
    assert link_texts(fake_library.store, [(chunk, short)]) == {article_id: chunk.text}
    assert link_texts(fake_library.store, [(chunk, long)]) == {article_id: text}
