"""Which sentences of a passage make its quote."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from newsbot.answer import _build_quote
from newsbot.models import QUOTE_GAP, Chunk, Quote

SENTENCES = [
    "Officials met in Madrid on Monday to discuss the new housing rules.",  # 0
    "The Spanish government ordered the platform to remove 65,000 listings.",  # 1
    "Short-term rentals have grown quickly in the last decade.",  # 2
    "Many residents say the rentals push rents up in city centres.",  # 3
    "The company said it would appeal the decision in court.",  # 4
    "A spokesperson declined to comment further on the matter.",  # 5
]
# The article this passage sits in starts with an unrelated paragraph.
PREFIX = "An earlier paragraph of the article.\n\n"


def passage(*lines: str) -> tuple[Chunk, list[tuple[int, int]]]:
    """The SENTENCES as one paragraph, after ``lines`` (a byline, a dateline) of their own."""
    text = "".join(f"{line}\n\n" for line in lines) + " ".join(SENTENCES)
    spans, at = [], 0
    for piece in (*lines, *SENTENCES):
        at = text.index(piece, at)
        spans.append((at, at + len(piece)))
        at += len(piece)
    return Chunk("a1", 0, len(PREFIX), len(PREFIX) + len(text), text), spans


def check_verbatim(quote: Quote, chunk: Chunk) -> None:
    article = PREFIX + chunk.text
    assert QUOTE_GAP.join(article[a:b] for a, b in quote.excerpts) == quote.text
    at = quote.article_offset(quote.highlight_start)
    assert article[at : at + len(quote.highlight)] == quote.highlight


def test_the_next_best_sentence_joins_wherever_it_is() -> None:
    chunk, spans = passage()
    scores = [0.2, 0.7, 0.1, 0.1, 0.9, 0.3]  # best: 4; next best: 1, far from it
    quote = _build_quote(chunk, spans, scores, [], max_chars=200)
    assert quote.highlight == SENTENCES[4]
    assert quote.text == SENTENCES[1] + QUOTE_GAP + SENTENCES[4]
    assert len(quote.excerpts) == 2
    check_verbatim(quote, chunk)


def test_adjacent_sentences_are_one_excerpt() -> None:
    chunk, spans = passage()
    scores = [0.1, 0.2, 0.8, 0.9, 0.1, 0.1]
    quote = _build_quote(chunk, spans, scores, [], max_chars=200)
    assert quote.text == SENTENCES[2] + " " + SENTENCES[3]
    assert quote.parts == () and quote.excerpts == ((quote.start, quote.end),)
    assert quote.highlight == SENTENCES[3]
    check_verbatim(quote, chunk)


def test_a_sentence_another_passage_quotes_is_not_repeated() -> None:
    chunk, spans = passage()

    def shown(*sentences: int) -> list[tuple[int, int]]:
        return [(chunk.start + spans[i][0], chunk.start + spans[i][1]) for i in sentences]

    # Not highlighted again: the next best sentence is.
    scores = [0.1, 0.7, 0.1, 0.1, 0.9, 0.1]
    quote = _build_quote(chunk, spans, scores, shown(4), max_chars=150)
    assert quote.highlight == SENTENCES[1]
    check_verbatim(quote, chunk)
    # Nor added as context.
    scores = [0.1, 0.7, 0.1, 0.1, 0.9, 0.6]
    quote = _build_quote(chunk, spans, scores, shown(1), max_chars=200)
    assert SENTENCES[1] not in quote.text
    assert quote.text == SENTENCES[4] + " " + SENTENCES[5]
    # When another passage quotes every sentence, the best is still quoted, alone.
    alone = _build_quote(chunk, spans, scores, shown(*range(len(SENTENCES))), max_chars=200)
    assert alone.text == SENTENCES[4]


def test_a_short_line_joins_only_beside_a_chosen_sentence() -> None:
    byline, dateline = "By Ayesha Tanzeem", "Published 6 September 2021"
    chunk, spans = passage(byline, dateline)
    # The byline scores high, but stands apart from the chosen sentences: left out.
    far = _build_quote(chunk, spans, [0.8, 0.1, 0.1, 0.1, 0.1, 0.1, 0.9, 0.7], [], max_chars=300)
    assert byline not in far.text and far.highlight == SENTENCES[4]
    # The dateline sits next to the best sentence: it joins as its context.
    near = _build_quote(chunk, spans, [0.1, 0.8, 0.9, 0.1, 0.1, 0.1, 0.1, 0.1], [], max_chars=300)
    assert f"{dateline}\n\n{SENTENCES[0]}" in near.text and near.highlight == SENTENCES[0]
    check_verbatim(far, chunk)
    check_verbatim(near, chunk)


@given(
    scores=st.lists(st.floats(-1, 2), min_size=len(SENTENCES), max_size=len(SENTENCES)),
    max_chars=st.integers(80, 800),
)
def test_quotes_are_verbatim_and_within_the_limit(scores: list[float], max_chars: int) -> None:
    chunk, spans = passage()
    quote = _build_quote(chunk, spans, scores, [], max_chars=max_chars)
    check_verbatim(quote, chunk)
    assert quote.highlight in SENTENCES
    assert len(quote.text) <= max_chars or quote.text == quote.highlight
    assert quote.score == max(scores)  # every sentence here is long enough to answer
    # No sentence left out scores above one taken in, unless it would not fit.
    taken = [s for s in SENTENCES if s in quote.text]
    for i, sentence in enumerate(SENTENCES):
        if sentence not in taken and len(taken) < max_chars // 100:
            better_taken = [s for s in taken if scores[SENTENCES.index(s)] < scores[i]]
            assert not better_taken or len(quote.text) + len(sentence) + 1 > max_chars
