"""Questions about time, end to end through the library with the fake embedder and a real
embedded Chroma and tantivy: periods filter both retrievers, "latest" puts newer articles
first, and the answer says what was searched."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import cast

import pytest

from newsbot.bot import render
from newsbot.config import Settings
from newsbot.index.embedder import Embedder
from newsbot.index.lexical import LexicalIndex
from newsbot.library import Library
from newsbot.models import Article, Chunk, Period
from newsbot.periods import time_notes, widened
from tests.fakes import FakeEmbedder

NOW = datetime(2021, 9, 20, 10, tzinfo=UTC)
TERMINAL = (
    "The harbour authority opened a new container terminal in Rotterdam on {day}. "
    "The terminal can handle {n} million containers a year, the authority said. "
    "Dock workers had warned that automation would cost jobs at the port."
)
FARM = (
    "Wheat farmers in Kansas expect a smaller harvest after a dry spring. "
    "The state's agriculture department cut its forecast by ten percent on Tuesday."
)
QUESTION = "How many containers can the Rotterdam terminal handle a year"


def open_library(settings: Settings) -> Library:
    return Library.open(settings, embedder=cast(Embedder, FakeEmbedder()), clock=lambda: NOW)


@pytest.fixture
def dated(settings: Settings) -> Iterator[Library]:
    with open_library(settings) as library:
        for title, text, published in (
            ("Terminal opens", TERMINAL.format(day="Friday", n="two"), "2021-09-03"),
            ("Terminal planned", TERMINAL.format(day="Monday", n="one"), "2021-05-03"),
            ("Harvest", FARM, "2021-09-01"),
            ("Undated terminal", TERMINAL.format(day="Sunday", n="three"), None),
        ):
            library.add_article(Article(text=text, title=title, published=published), origin="t")
        yield library


def titles(answer_passages: list) -> list[str]:  # type: ignore[type-arg]
    return [p.passage.article.title for p in answer_passages]


def test_a_period_keeps_only_its_articles_and_says_so(dated: Library) -> None:
    plain = dated.ask(f"{QUESTION}?")
    assert {"Terminal opens", "Terminal planned", "Undated terminal"} <= set(titles(plain.passages))
    assert plain.period is None and time_notes(plain) == []

    september = dated.ask(f"{QUESTION} in September 2021?")
    assert titles(september.passages) == ["Terminal opens"]
    assert september.period == Period(date(2021, 9, 1), date(2021, 9, 30))
    assert september.to_json()["period"] == {"start": "2021-09-01", "end": "2021-09-30"}
    assert september.question == f"{QUESTION} in September 2021?"  # as asked
    assert september.undated == 1
    notes = time_notes(september)
    assert "Searched articles published in Sep 2021." in notes
    assert "1 article without a date not searched." in notes

    may = dated.ask(f"In May 2021, {QUESTION}?")
    assert titles(may.passages) == ["Terminal planned"]


def test_the_lexical_side_filters_by_day_too(tmp_path: Path) -> None:
    index = LexicalIndex(tmp_path / "lexical")
    try:
        index.replace_articles(
            [],
            [Chunk("a", 0, 0, 9, "harbour reopened"), Chunk("b", 0, 0, 9, "harbour closed")],
            {"a": 20210903, "b": 20211015},
        )
        assert {h.chunk.article_id for h in index.search("harbour", 10)} == {"a", "b"}
        found = index.search("harbour", 10, days=(20210901, 20210930))
        assert [h.chunk.article_id for h in found] == ["a"]
    finally:
        index.close()


def test_a_period_without_articles_says_nothing_was_published_then(dated: Library) -> None:
    answer = dated.ask(f"{QUESTION} in 2020?")
    assert not answer.passages and answer.empty_period  # nothing from other dates
    assert answer.to_json()["period"] == {"start": "2020-01-01", "end": "2020-12-31"}
    assert time_notes(answer)[0] == (
        "No article in the library was published in 2020; ask without the date to search "
        "every article."
    )
    reply = render.nothing_found(answer.question, 4, ["Terminal opens"], time_notes(answer))
    assert "No article in the library was published in 2020" in reply
    assert "Terminal opens" in reply  # the newest titles, not noise


def test_nothing_answering_in_the_period_widens_it_once(dated: Library) -> None:
    # On 1 September only the harvest story was published; the terminal opened two days later.
    answer = dated.ask(f"{QUESTION} on 1 September 2021?")
    assert titles(answer.passages) == ["Terminal opens"]
    assert answer.asked_period == Period(date(2021, 9, 1), date(2021, 9, 1))
    assert (
        answer.period == widened(answer.asked_period) == Period(date(2021, 8, 29), date(2021, 9, 4))
    )
    (note, *_) = time_notes(answer)
    assert (
        note
        == "Nothing published on 1 Sep 2021 answers; these were published in 29 Aug - 4 Sep 2021."
    )


def test_nothing_answering_in_or_around_the_period_says_so(dated: Library) -> None:
    # Only a rain story was published on or around 20 June 2021.
    rain = Article(text=FARM + " Rain came late.", title="Rain", published="2021-06-20")
    dated.add_article(rain, origin="t")
    answer = dated.ask(f"{QUESTION} on 20 June 2021?")
    assert not answer.passages and not answer.empty_period  # nothing from other dates
    assert time_notes(answer)[0] == (
        "Nothing published on 20 Jun 2021 (or around then) answers this; ask without the "
        "date to search every article."
    )
    assert widened(Period(date(2021, 3, 1), date(2021, 3, 31))) == Period(
        date(2021, 2, 14), date(2021, 4, 15)
    )


def test_latest_puts_the_newest_article_first(dated: Library) -> None:
    answer = dated.ask("What is the latest on the Rotterdam container terminal?")
    assert answer.latest and answer.period is None
    assert titles(answer.passages)[0] == "Terminal opens"
    assert "Newest articles first." in time_notes(answer)
    assert answer.to_json()["latest"] is True


@pytest.mark.parametrize(
    ("question", "problem"),
    [
        (f"{QUESTION} since tomorrow?", "still to come"),
        (f"{QUESTION} on 31 February 2021?", "no 31 February"),
    ],
)
def test_impossible_dates_get_a_clear_reply(dated: Library, question: str, problem: str) -> None:
    answer = dated.ask(question)
    assert not answer.passages and answer.problem and problem in answer.problem
    assert time_notes(answer) == [answer.problem]
    reply = render.nothing_found(answer.question, 4, [], time_notes(answer))
    assert problem in reply and reply.strip()


def test_a_question_that_is_only_a_time_phrase_asks_for_a_subject(dated: Library) -> None:
    for question in ("last week?", "latest", "In September 2021"):
        answer = dated.ask(question)
        assert answer.no_subject and not answer.passages, question
        assert "Ask about something as well" in time_notes(answer)[0]


def test_latest_lists_the_newest_articles_optionally_about_a_topic(dated: Library) -> None:
    newest = dated.latest(limit=3)
    assert [r.title for r in newest] == ["Terminal opens", "Harvest", "Terminal planned"]
    about = dated.latest(
        "the harbour authority and its new container terminal in Rotterdam", limit=5
    )
    assert [r.title for r in about][:2] == ["Terminal opens", "Terminal planned"]
    assert "Harvest" not in [r.title for r in about]
    page = render.latest_articles(
        about, "the harbour authority and its new container terminal in Rotterdam"
    )
    assert "The newest articles" in page and "3 Sep 2021" in page


def test_a_store_from_before_periods_gets_its_days_on_open(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from newsbot.index import store as store_module

    with monkeypatch.context() as old_code:
        # Chunks written without their day, and no mark that days were added.
        old_code.setattr(store_module, "day_number", lambda published: None)
        old_code.setattr(store_module.ChromaStore, "has_chunk_days", lambda self: True)
        with open_library(settings) as library:
            library.add_article(
                Article(
                    text=TERMINAL.format(day="Friday", n="two"),
                    title="Terminal opens",
                    published="2021-09-03",
                ),
                origin="t",
            )
            stored = library.store._chunks.get(include=["metadatas"])["metadatas"] or []
            assert stored and not any("day" in meta for meta in stored)
    with open_library(settings) as library:  # today's code: days added, nothing re-embedded
        assert library.store.has_chunk_days()
        answer = library.ask(f"{QUESTION} in September 2021?")
        assert titles(answer.passages) == ["Terminal opens"]
