"""render: valid Telegram HTML within 4096 characters for any article text (hypothesis).

Every rendered message is parsed with the Bot API stand-in's tdlib-compatible HTML parser.
"""

from __future__ import annotations

from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsbot.bot import render
from newsbot.models import (
    Answer,
    AnsweredPassage,
    ArticleRecord,
    Chunk,
    IngestResult,
    IngestStatus,
    LibraryStats,
    Passage,
    Quote,
)
from tests.servers.botapi import MAX_MESSAGE_LENGTH, parse_html, utf16_length

HOSTILE = [
    "<b>",
    "</b>",
    "</blockquote>",
    "<a href='javascript:alert(1)'>",
    '"',
    "'",
    "&",
    "&amp;",
    "&lt;",
    "&#0;",
    "&#x110000;",
    "&nbsp;",
    "<",
    ">",
    "😀",
    "👩‍👩‍👧",
    "\x00",
    "\x1b",
    "\u2028",
    "\ufeff",
    "\r\n",
    "\n",
    " ",
    "\U0001d518\U0001d52b\U0001d526",  # astral-plane letters: two UTF-16 units each
]
pieces = st.one_of(st.text(max_size=40), st.sampled_from(HOSTILE))
short_text = st.lists(pieces, max_size=12).map("".join)
# Long texts exercise clipping: up to tens of thousands of characters.
long_text = st.builds(lambda s, n: s * n, short_text, st.integers(1, 600))
any_text = st.one_of(short_text, long_text)
urls = st.one_of(
    st.none(),
    st.just('https://example.com/a?b=1&c="2"<x>'),
    st.builds(lambda t: f"https://news.example/{t}", short_text),
    short_text,
)
published = st.one_of(
    st.none(),
    st.dates(min_value=date(1900, 1, 1)).map(date.isoformat),
    st.just("2021-09-06T10:00:00+00:00"),
    short_text,
)


@st.composite
def answered_passages(draw: st.DrawFn, rank: int) -> AnsweredPassage:
    before, highlight, after = draw(any_text), draw(any_text), draw(any_text)
    prefix, suffix = draw(short_text), draw(short_text)
    quote_text = before + highlight + after
    chunk_text = prefix + quote_text + suffix
    article = ArticleRecord(
        article_id=f"a{rank:015d}",
        title=draw(any_text),
        url=draw(urls),
        outlet=draw(st.one_of(st.none(), any_text)),
        published=draw(published),
        author=None,
        added_at="2024-01-01T00:00:00+00:00",
        added_by=None,
        chunks=1,
        content_hash="0" * 64,
    )
    chunk = Chunk(article.article_id, 0, 0, len(chunk_text), chunk_text)
    quote = Quote(
        quote_text,
        len(prefix),
        len(prefix) + len(quote_text),
        len(before),
        len(before) + len(highlight),
    )
    return AnsweredPassage(rank, Passage(chunk, article, 1.0 / rank), quote)


@st.composite
def answers(draw: st.DrawFn) -> Answer:
    count = draw(st.integers(1, 7))
    return Answer(draw(any_text), [draw(answered_passages(rank)) for rank in range(1, count + 1)])


def assert_valid(markup: str) -> str:
    """Valid Telegram HTML, not empty, at most 4096 UTF-16 units after parsing."""
    parsed = parse_html(markup)  # raises on anything Telegram would refuse
    assert parsed.text.strip(), markup
    assert utf16_length(parsed.text) <= MAX_MESSAGE_LENGTH, utf16_length(parsed.text)
    assert utf16_length(parsed.text) <= render.visible_length(markup)
    return parsed.text


common = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@common
@given(answers(), st.integers(1, 5))
def test_every_answer_page_is_valid_and_fits(answer: Answer, page_size: int) -> None:
    pages = render.page_count(answer, page_size)
    for page in range(pages):
        text = assert_valid(render.answer_page(answer, page, page_size))
        for item in render.page_items(answer, page, page_size):
            assert f"{item.rank}." in text  # no excerpt was dropped


@common
@given(answers())
def test_passage_views_and_inline_messages_are_valid(answer: Answer) -> None:
    for item in answer.passages:
        assert_valid(render.passage_view(item))
        assert_valid(render.inline_message(answer, item))
        assert 0 < len(render.inline_title(item)) <= 100
        assert utf16_length(render.inline_description(item)) <= 200


@common
@given(any_text, st.integers(0, 10**6), st.lists(any_text, max_size=5))
def test_nothing_found_is_valid(question: str, articles: int, titles: list[str]) -> None:
    assert_valid(render.nothing_found(question, articles, titles))


@common
@given(st.lists(answered_passages(1), max_size=25), st.integers(-3, 5))
def test_article_list_is_valid(items: list[AnsweredPassage], page: int) -> None:
    records = [item.passage.article for item in items]
    assert_valid(render.article_list(records, page, 10))


@common
@given(
    st.lists(
        st.builds(
            IngestResult,
            source=any_text,
            status=st.sampled_from(list(IngestStatus)),
            article_id=st.one_of(st.none(), short_text),
            title=st.one_of(st.none(), any_text),
            chunks=st.integers(0, 10_000),
            error=st.one_of(st.none(), any_text),
        ),
        max_size=40,
    ),
    st.booleans(),
)
def test_ingest_reports_are_valid(results: list[IngestResult], done: bool) -> None:
    assert_valid(render.ingest_report(results, total=max(len(results), 1), done=done))


@common
@given(st.lists(st.sampled_from(list(IngestStatus)), max_size=40), any_text, any_text)
def test_import_reports_are_valid(statuses: list[IngestStatus], name: str, error: str) -> None:
    results = [IngestResult(f"{name}:{n}", s, error=error) for n, s in enumerate(statuses, 1)]
    assert_valid(render.import_report(name, results))


def test_a_large_import_report_fits_and_counts_every_line() -> None:
    results = [
        IngestResult(f"dump.jsonl:{n}", IngestStatus.ADDED, "a1", "T", 3) for n in range(5000)
    ]
    results += [
        IngestResult(f"dump.jsonl:{n}", IngestStatus.FAILED, error="no text " * 20)
        for n in range(5000, 7000)
    ]
    text = assert_valid(render.import_report("dump.jsonl", results))
    assert "7000 lines" in text and "added 5000" in text and "failed 2000" in text
    assert "dump.jsonl:5000" in text and text.endswith("…")  # the first failures, then a cut


def test_stats_and_removed_are_valid() -> None:
    assert_valid(render.stats_text(LibraryStats(3, 8, "all-MiniLM-L6-v2", "chroma <embedded>")))


def test_excerpt_shape_bold_sentence_and_linked_source() -> None:
    article = ArticleRecord(
        "a1", "Bridge <approved> & funded", "https://x.example/a?b=1&c=2", "The Herald",
        "2024-03-15T08:30:00+00:00", None, "2024-03-15", None, 1, "0" * 64,
    )  # fmt: skip
    text = "Council met. The vote was 9-2 in favour. Work starts soon."
    quote = Quote(text, 0, len(text), 13, 13 + len("The vote was 9-2 in favour."))
    item = AnsweredPassage(1, Passage(Chunk("a1", 0, 0, len(text), text), article, 0.5), quote)
    markup = render.answer_page(Answer("How did <they> vote?", [item]), 0, 3)
    parsed = parse_html(markup)
    kinds = {e["type"]: e for e in parsed.entities}
    assert {"blockquote", "bold", "text_link", "italic"} <= set(kinds)

    def under(entity: dict[str, int]) -> str:
        encoded = parsed.text.encode("utf-16-le")
        start, end = 2 * entity["offset"], 2 * (entity["offset"] + entity["length"])
        return encoded[start:end].decode("utf-16-le")

    bold = [under(e) for e in parsed.entities if e["type"] == "bold"]
    assert "The vote was 9-2 in favour." in bold
    assert under(kinds["text_link"]) == "Bridge <approved> & funded"
    assert kinds["text_link"]["url"] == "https://x.example/a?b=1&c=2"
    assert "The Herald · 15 Mar 2024" in parsed.text
    assert "How did <they> vote?" in parsed.text


def test_clip_never_splits_a_surrogate_pair_and_marks_the_cut() -> None:
    assert render.clip("😀" * 10, 5) == "😀😀…"
    assert render.clip("abcdef", 4, keep_end=True) == "…def"
    assert render.clip("abc", 3) == "abc"
    assert render.utf16_length(render.clip("😀" * 10, 4)) <= 4
