"""Follow-up questions through the library: a question read with the conversation before it,
"more" reading on in the article, and a standalone question answered exactly as on its own.

Retrieval quality matters for the pronoun question, so it uses the real model over the VOA
sample and the two other fixture articles; the rules of "more" and expiry use the fake
embedder (tests/fakes.py) with a real embedded Chroma."""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import pytest

from newsbot.chat_memory import Conversations
from newsbot.config import Settings, load_settings
from newsbot.conversation import Conversation
from newsbot.index.embedder import Embedder
from newsbot.library import Library
from newsbot.models import Answer, Article
from newsbot.search import Candidate, fuse_ranked
from newsbot.text import sentence_spans
from tests.conftest import FIXTURES, SAMPLE
from tests.fakes import FakeEmbedder

FIRST = "Who took control of the Panjshir valley?"
PRONOUN = "What did their spokesman say?"
KEY = "chat"

# Eight sentences of about 70 characters: with quote_chars = 80 an excerpt is one sentence.
FERRY = (
    "The harbour ferry service resumed on Monday after a three week strike. "
    "Union leaders accepted a pay rise of four percent on Sunday evening. "
    "The first boat left the north pier at six in the morning, on time. "
    "Commuters said the crossing was crowded but calm during the rush. "
    "The operator will add two evening sailings from the first of June. "
    "Fares stay unchanged until the end of the year, the company said. "
    "A new timetable is posted at every pier and on the city website. "
    "The strike had cost local businesses an estimated two million euros."
)


@pytest.fixture(scope="module")
def news(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[Library]:
    """The sample and the two fixture pages (a bridge, a storm), with the real model."""
    store = tmp_path_factory.mktemp("follow-ups") / "store"
    with Library.open(load_settings(store={"path": store}), embedder=embedder) as library:
        sources = [SAMPLE, FIXTURES / "html" / "daily-herald-bridge.html"]
        sources.append(FIXTURES / "html" / "coastal-times-storm.html")
        assert all(r.article_id for r in library.ingest(map(str, sources)))
        yield library


@pytest.fixture
def ferry(settings: Settings) -> Iterator[tuple[Library, str]]:
    """The ferry article alone, with the fake embedder and one-sentence excerpts."""
    settings = settings.model_copy(
        update={"search": settings.search.model_copy(update={"quote_chars": 80})}
    )
    with Library.open(settings, embedder=cast(Embedder, FakeEmbedder())) as library:
        result = library.add_article(Article(text=FERRY, title="Ferries sail again"), origin="t")
        assert result.article_id
        yield library, result.article_id


def converse(
    library: Library, conversations: Conversations, question: str, now: float = 0.0
) -> Answer:
    """What the bot and `newsbot chat` do with a message: read, answer, record."""
    conversation = conversations.get(KEY, now)
    answer = library.converse(question, conversation, now=now, expiry=conversations.expiry)
    conversations.remember(KEY, answer, conversation, now)
    return answer


def test_a_pronoun_question_is_read_with_the_question_before_it(news: Library) -> None:
    alone = news.ask(PRONOUN)
    assert not any("Mujahid" in p.quote.highlight for p in alone.passages)
    conversations = Conversations()
    first = converse(news, conversations, FIRST, now=0.0)
    assert first.context is None and "Taliban" in first.passages[0].quote.highlight
    follow = converse(news, conversations, PRONOUN, now=30.0)
    assert follow.context is not None and {"Panjshir", "Taliban"} <= set(follow.context)
    assert "Zabiullah Mujahid" in follow.passages[0].quote.highlight
    assert follow.to_json()["context"] == follow.context
    # The same question after /new (the conversation forgotten) is a stranger again.
    conversations.forget(KEY)
    again = converse(news, conversations, PRONOUN, now=40.0)
    assert again.context is None and again.to_json() == alone.to_json()


def test_a_standalone_question_is_answered_exactly_as_on_its_own(news: Library) -> None:
    question = "Which bridge across the Ashwater River did the council approve?"
    conversations = Conversations()
    converse(news, conversations, FIRST, now=0.0)
    conversation = conversations.get(KEY, 1.0)
    assert conversation is not None
    within = news.converse(question, conversation, now=1.0)
    assert within.context is None
    assert within.to_json() == news.ask(question).to_json()
    assert news.converse(question, None, now=1.0).to_json() == news.ask(question).to_json()


def test_a_question_that_finds_nothing_ends_the_conversation(news: Library) -> None:
    conversations = Conversations()
    converse(news, conversations, FIRST, now=0.0)
    nothing = converse(news, conversations, "What is the best recipe for banana bread?", 10.0)
    assert not nothing.answered and conversations.get(KEY, 10.0) is None
    after = converse(news, conversations, PRONOUN, now=20.0)
    assert after.context is None and after.to_json() == news.ask(PRONOUN).to_json()


def test_more_reads_on_verbatim_until_the_article_ends(ferry: tuple[Library, str]) -> None:
    library, article_id = ferry
    sentences = [FERRY[a:b] for a, b in sentence_spans(FERRY)]
    conversations = Conversations()
    first = converse(library, conversations, "How much was the pay rise the union accepted?")
    assert first.passages[0].quote.highlight == sentences[1]
    shown = [sentences[1]]
    for expected in sentences[2:]:
        more = converse(library, conversations, "more")
        (item,) = more.passages
        assert more.continued and more.context is None
        assert item.quote.text == item.quote.highlight == expected
        assert FERRY[item.quote.start : item.quote.end] == expected
        assert item.passage.article.article_id == article_id
        assert item.to_json()["excerpts"] == [expected]
        shown.append(item.quote.highlight)
    assert shown == sentences[1:]
    end = converse(library, conversations, "go on")
    assert end.end_of_article and not end.passages and end.to_json()["end_of_article"]
    # The end of the article ends no conversation: a question after it may still lean on it.
    assert conversations.get(KEY, 0.0) is not None


def test_more_reads_as_much_as_an_excerpt_holds(settings: Settings) -> None:
    with Library.open(settings, embedder=cast(Embedder, FakeEmbedder())) as library:
        added = library.add_article(Article(text=FERRY, title="Ferries"), origin="t")
        spans = sentence_spans(FERRY)
        more = library.continue_after(added.article_id or "", spans[0][1])
        (item,) = more.passages
        # Three sentences fit in 400 characters: the first in bold, two after it.
        assert item.quote.text == FERRY[spans[1][0] : spans[3][1]]
        assert item.quote.highlight == FERRY[spans[1][0] : spans[1][1]]
        gone = library.continue_after("no-such-article", 0)
        assert gone.continued and not gone.passages and not gone.end_of_article


def test_more_after_the_conversation_expired_is_a_question(ferry: tuple[Library, str]) -> None:
    library, _ = ferry
    conversations = Conversations(expiry=600)
    converse(library, conversations, "How much was the pay rise the union accepted?", now=0.0)
    assert converse(library, conversations, "more", now=599.0).continued
    kept = conversations.get(KEY, 600.0)
    assert kept is not None
    # Ten minutes after the last answer, "more" is a question of its own ("more" is in no
    # article): nothing is continued.
    late = converse(library, conversations, "more", now=1200.0)
    assert not late.continued and not late.passages
    # The library, too, reads an expired conversation as none.
    stale = Conversation(kept.turns, kept.last_time)
    assert library.converse("more", stale, now=1199.0, expiry=600).continued
    assert not library.converse("more", stale, now=1200.0, expiry=600).continued


def test_two_ranked_lists_fuse_by_reciprocal_rank() -> None:
    from newsbot.models import Chunk

    def cand(index: int, dense: float | None, lexical: float | None = None) -> Candidate:
        return Candidate(Chunk("a", index, 0, 1, "x"), 1.0, dense, lexical, {"dense"})

    fused = fuse_ranked([[cand(1, 0.5), cand(2, 0.4)], [cand(2, 0.6, 3.0), cand(3, 0.3)]], rrf_k=20)
    assert [c.chunk.index for c in fused] == [2, 1, 3]
    assert fused[0].score == pytest.approx(1 / 22 + 1 / 21)
    assert fused[0].dense_score == 0.6 and fused[0].lexical_score == 3.0
