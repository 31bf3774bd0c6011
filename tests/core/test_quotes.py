"""Which sentence of a passage is the answer, and which of its neighbours make its context."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from newsbot.answer import MAX_CONTEXT_SENTENCES, _build_quote, is_statement
from newsbot.furniture import is_furniture
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


def passage(*lines: str, sentences: list[str] = SENTENCES) -> tuple[Chunk, list[tuple[int, int]]]:
    """The ``sentences`` as one paragraph, after ``lines`` (a byline, a dateline) of their own."""
    text = "".join(f"{line}\n\n" for line in lines) + " ".join(sentences)
    spans, at = [], 0
    for piece in (*lines, *sentences):
        at = text.index(piece, at)
        spans.append((at, at + len(piece)))
        at += len(piece)
    return Chunk("a1", 0, len(PREFIX), len(PREFIX) + len(text), text), spans


def quote_of(
    chunk: Chunk,
    spans: list[tuple[int, int]],
    scores: list[float],
    shown: list[tuple[int, int]] | None = None,
    max_chars: int = 400,
) -> Quote:
    texts = [chunk.text[a:b] for a, b in spans]
    return _build_quote(
        chunk,
        spans,
        scores,
        lambda i: is_furniture(texts[i]),
        lambda i: not is_statement(texts[i]),
        shown or [],
        max_chars,
    )


def check_verbatim(quote: Quote, chunk: Chunk) -> None:
    article = PREFIX + chunk.text
    assert QUOTE_GAP.join(article[a:b] for a, b in quote.excerpts) == quote.text
    at = quote.article_offset(quote.highlight_start)
    assert article[at : at + len(quote.highlight)] == quote.highlight


def test_the_best_sentence_is_bold_and_its_better_neighbour_is_context() -> None:
    chunk, spans = passage()
    scores = [0.2, 0.7, 0.1, 0.3, 0.9, 0.1]  # best: 4; neighbours 3 (0.3) and 5 (0.1)
    quote = quote_of(chunk, spans, scores, max_chars=140)
    assert quote.highlight == SENTENCES[4]
    # Sentence 1 scores higher, but it is not beside the answer: a reply shows no far jumps.
    assert quote.text == SENTENCES[3] + " " + SENTENCES[4]
    assert quote.parts == () and quote.score == 0.9
    check_verbatim(quote, chunk)


def test_context_is_at_most_two_sentences() -> None:
    chunk, spans = passage()
    quote = quote_of(chunk, spans, [0.1, 0.2, 0.8, 0.9, 0.7, 0.6], max_chars=2000)
    assert quote.highlight == SENTENCES[3]
    assert quote.text.count(".") == 1 + MAX_CONTEXT_SENTENCES
    assert quote.text == " ".join(SENTENCES[2:5])


def test_a_sentence_that_refers_back_brings_the_one_before() -> None:
    sentences = [
        "Officials met in Madrid on Monday to discuss the new housing rules.",
        "The housing minister, Isabel Rodríguez, proposed a cap on tourist flats.",
        "She said the cap would take effect in January next year.",
        "Hotels welcomed the announcement, which they had long asked for.",
    ]
    chunk, spans = passage(sentences=sentences)
    # The next sentence scores higher, but "She" needs its name.
    quote = quote_of(chunk, spans, [0.1, 0.2, 0.9, 0.5], max_chars=140)
    assert quote.highlight == sentences[2]
    assert quote.text == sentences[1] + " " + sentences[2]


def test_a_sentence_another_passage_quotes_is_not_repeated() -> None:
    chunk, spans = passage()

    def shown(*sentences: int) -> list[tuple[int, int]]:
        return [(chunk.start + spans[i][0], chunk.start + spans[i][1]) for i in sentences]

    # Not highlighted again: the next best sentence is.
    scores = [0.1, 0.7, 0.1, 0.1, 0.9, 0.1]
    quote = quote_of(chunk, spans, scores, shown(4), max_chars=150)
    assert quote.highlight == SENTENCES[1]
    check_verbatim(quote, chunk)
    # Nor added as context.
    scores = [0.1, 0.1, 0.1, 0.6, 0.9, 0.2]
    quote = quote_of(chunk, spans, scores, shown(3), max_chars=200)
    assert SENTENCES[3] not in quote.text
    assert quote.text == SENTENCES[4] + " " + SENTENCES[5]
    # When another passage quotes every sentence, the best is still quoted, alone.
    alone = quote_of(chunk, spans, scores, shown(*range(len(SENTENCES))), max_chars=200)
    assert alone.text == SENTENCES[4]


def test_furniture_and_short_lines_are_neither_bold_nor_context() -> None:
    promo = "Need a news break? Check out the all new PLAY hub with puzzles, games and more!"
    stamp = "Updated May 2, 2026, 2:00 p.m. ET"
    chunk, spans = passage(promo, stamp, "By Ayesha Tanzeem")
    # The furniture scores highest, and sits right before the best sentence of the story.
    scores = [2.0, 1.5, 1.8, 0.9, 0.1, 0.1, 0.1, 0.1, 0.1]
    quote = quote_of(chunk, spans, scores, max_chars=400)
    assert quote.highlight == SENTENCES[0]
    assert quote.text.startswith(SENTENCES[0])
    for line in (promo, stamp, "By Ayesha Tanzeem"):
        assert line not in quote.text
    check_verbatim(quote, chunk)


def test_a_headline_is_bold_only_when_nothing_else_is_left() -> None:
    headline = "Massoud Vows to Fight on as Taliban Claims Victory Over Resistance"
    chunk, spans = passage(headline)
    quote = quote_of(chunk, spans, [2.0, 0.1, 0.5, 0.1, 0.1, 0.1, 0.1])
    assert quote.highlight == SENTENCES[1] and headline not in quote.text
    assert is_statement(SENTENCES[0]) and not is_statement(headline)
    assert is_statement("“We choose the latter,” he said of the last stand.")
    assert not is_statement("Officials met in Madrid.")  # too short to answer
    only, only_spans = passage(sentences=[headline])
    alone = quote_of(only, only_spans, [0.3])
    assert alone.highlight == headline and alone.score < -1000  # shown after real answers


def test_a_passage_of_furniture_alone_scores_as_no_answer() -> None:
    lines = ["Sign up for our newsletter to get the latest news of the day", "Advertisement"]
    chunk, spans = passage(*lines, sentences=["Share this update with your friends today."])
    quote = quote_of(chunk, spans, [0.9, 0.9, 0.9])
    assert quote.score < -1000


@given(
    scores=st.lists(st.floats(-1, 2), min_size=len(SENTENCES), max_size=len(SENTENCES)),
    max_chars=st.integers(80, 800),
)
def test_quotes_are_verbatim_and_within_the_limit(scores: list[float], max_chars: int) -> None:
    chunk, spans = passage()
    quote = quote_of(chunk, spans, scores, max_chars=max_chars)
    check_verbatim(quote, chunk)
    assert quote.highlight in SENTENCES
    assert len(quote.text) <= max_chars or quote.text == quote.highlight
    assert quote.score == max(scores)  # every sentence here is long enough to answer
    assert quote.highlight == SENTENCES[scores.index(max(scores))]
    # One excerpt of adjacent sentences, the answer among them.
    taken = [i for i, s in enumerate(SENTENCES) if s in quote.text]
    assert taken == list(range(taken[0], taken[-1] + 1))
    assert len(taken) <= 1 + MAX_CONTEXT_SENTENCES
