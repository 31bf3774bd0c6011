"""Quote selection: the sentence of each passage that answers the question, in bold, with the
little context that makes it readable."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from newsbot import sentence_ranker
from newsbot.furniture import is_furniture
from newsbot.models import Chunk, Quote
from newsbot.question import QuestionShape
from newsbot.sentence_ranker import PassageInfo
from newsbot.text import passage_sentences, words

# Short lines (a dateline, a label) and lines without a sentence's closing punctuation (a
# headline, a subhead, a caption) echo the story's topic; they are bold only when a passage
# has nothing else.
MIN_ANSWER_WORDS = 6
_CLOSED = re.compile(r"[.!?…:;)\]\"'\u201d\u2019]\s*$")
# Context around the answer: a sentence or two, no more (the whole passage is one tap away).
MAX_CONTEXT_SENTENCES = 2
# A sentence opening with one of these leans on the one before it for its meaning.
_REFERS_BACK = re.compile(
    r"^(?:he|she|it|they|his|her|its|their|them|this|that|these|those|there|but|and|so|yet"
    r"|however|also|still|meanwhile|instead|then|the latter|the former|such|both|neither"
    r"|which|whose)\b",
    re.IGNORECASE,
)
# Far below any real sentence's score: a passage with no sentence that may answer (furniture,
# headlines) is shown last.
_NO_ANSWER = -1e6

Embed = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True, slots=True)
class SentenceTable:
    """The sentences of the candidate passages and the ranker's features of each."""

    spans: list[list[tuple[int, int]]]  # per passage, its sentences' offsets in its text
    sentences: list[str]  # every passage's sentences, in order
    owners: list[int]  # the index of the passage each sentence comes from
    rows: np.ndarray  # one row of features per sentence (sentence_ranker.FEATURES)


def sentence_table(
    question: QuestionShape,
    question_vector: np.ndarray,
    chunks: Sequence[Chunk],
    passages: Sequence[PassageInfo],
    embed: Embed,
) -> SentenceTable:
    """Split the passages into sentences and read the ranker's features of each, with one
    batched embedding call; what quoting ranks, and what benchmarks/fit_ranker.py fits on."""
    spans = [passage_sentences(chunk.text) for chunk in chunks]
    owners = [i for i, chunk_spans in enumerate(spans) for _ in chunk_spans]
    sentences = [
        c.text[a:b] for c, chunk_spans in zip(chunks, spans, strict=True) for a, b in chunk_spans
    ]
    vectors = embed(sentences) if sentences else np.zeros((0, len(question_vector)))
    rows = sentence_ranker.features(
        question, sentences, vectors @ question_vector, [passages[i] for i in owners]
    )
    return SentenceTable(spans, sentences, owners, rows)


def select_quotes(
    question: QuestionShape,
    question_vector: np.ndarray,
    chunks: Sequence[Chunk],
    passages: Sequence[PassageInfo],
    embed: Embed,
    *,
    max_chars: int,
) -> list[Quote]:
    """A quote from each chunk (in the chunks' order), its ``score`` how well its highlighted
    sentence answers; one batched embedding call for all their sentences.

    Quotes are built best first, so where two passages of one article share a sentence
    (chunks overlap), the better one keeps it and the other highlights another.
    """
    table = sentence_table(question, question_vector, chunks, passages, embed)
    spans_per_chunk, sentences = table.spans, table.sentences
    scores = sentence_ranker.scores(table.rows).tolist()
    # Whether a sentence is furniture or a minor line is asked lazily, best scores first:
    # most of a passage's sentences are never looked at (the rules are a third of the cost).
    furniture = _Lazy(sentences, is_furniture)
    minor = _Lazy(sentences, lambda s: not is_statement(s))
    bounds = np.cumsum([0] + [len(spans) for spans in spans_per_chunk]).tolist()

    def best_score(i: int) -> float:
        for j in sorted(range(bounds[i], bounds[i + 1]), key=lambda j: -scores[j]):
            if not minor[j] and not furniture[j]:
                return scores[j]
        return _NO_ANSWER

    quotes: dict[int, Quote] = {}
    shown: dict[str, list[tuple[int, int]]] = {}  # per article, absolute offsets of excerpts
    for i in sorted(range(len(chunks)), key=best_score, reverse=True):
        offset = bounds[i]
        quoted = shown.setdefault(chunks[i].article_id, [])
        quote = _build_quote(
            chunks[i],
            spans_per_chunk[i],
            scores[offset : bounds[i + 1]],
            furniture.shifted(offset),
            minor.shifted(offset),
            quoted,
            max_chars,
        )
        quoted.extend(quote.excerpts)
        quotes[i] = quote
    return [quotes[i] for i in range(len(chunks))]


class _Lazy:
    """``test(texts[i])``, computed the first time index ``i`` is asked for."""

    def __init__(self, texts: Sequence[str], test: Callable[[str], bool]) -> None:
        self._texts, self._test = texts, test
        self._known: dict[int, bool] = {}

    def __getitem__(self, i: int) -> bool:
        if i not in self._known:
            self._known[i] = self._test(self._texts[i])
        return self._known[i]

    def shifted(self, offset: int) -> Callable[[int], bool]:
        """The same test, indexed from ``offset`` (one passage's sentences)."""
        return lambda i: self[offset + i]


def is_statement(sentence: str) -> bool:
    """Whether ``sentence`` reads as a sentence that may answer: long enough, and closed by
    punctuation (headlines and subheads are not)."""
    return len(words(sentence)) >= MIN_ANSWER_WORDS and _CLOSED.search(sentence) is not None


def _build_quote(
    chunk: Chunk,
    spans: list[tuple[int, int]],
    scores: list[float],
    furniture: Callable[[int], bool],
    minor: Callable[[int], bool],
    shown: Sequence[tuple[int, int]],
    max_chars: int,
) -> Quote:
    """The quote of one passage: ``furniture(i)`` and ``minor(i)`` say whether its sentence
    ``i`` is page furniture or a minor line (short, or a headline)."""

    def fresh(i: int) -> bool:
        a, b = chunk.start + spans[i][0], chunk.start + spans[i][1]
        return not any(a < end and start < b for start, end in shown)

    # The highlight is the best sentence that is neither a minor line nor furniture, nor
    # already quoted from another passage of the article, unless nothing else is left.
    order = sorted(range(len(spans)), key=lambda i: -scores[i])
    tiers: tuple[Callable[[int], bool], ...] = (
        lambda i: fresh(i) and not minor(i) and not furniture(i),
        lambda i: fresh(i) and not furniture(i),
        lambda i: not furniture(i),
    )
    best = next((i for tier in tiers for i in order if tier(i)), order[0])
    # A passage whose best is furniture or a headline comes after every real answer.
    score = scores[best] + (_NO_ANSWER if minor(best) or furniture(best) else 0.0)

    def context(i: int) -> bool:
        return 0 <= i < len(spans) and fresh(i) and not minor(i) and not furniture(i)

    chosen = _with_context(chunk.text, spans, scores, best, context, max_chars)
    return _quote(chunk, spans, chosen, best, score)


def _with_context(
    text: str,
    spans: list[tuple[int, int]],
    scores: list[float],
    best: int,
    context: Callable[[int], bool],
    max_chars: int,
) -> list[int]:
    """The answer and up to MAX_CONTEXT_SENTENCES neighbours, within ``max_chars``.

    A sentence that refers back ("He said...", "It was...") takes the one before it first;
    then the better of the two neighbours, and so on outwards, while it fits. Only sentences
    for which ``context`` is true may be added: furniture, minor lines and what another
    passage of the article already quotes are not.
    """
    chosen = [best]

    def length(indices: list[int]) -> int:
        return spans[max(indices)][1] - spans[min(indices)][0]

    refers_back = _REFERS_BACK.match(text[spans[best][0] : spans[best][1]])
    if refers_back and context(best - 1) and length([best - 1, best]) <= max_chars:
        chosen.append(best - 1)
    while len(chosen) <= MAX_CONTEXT_SENTENCES:
        options = [i for i in (min(chosen) - 1, max(chosen) + 1) if context(i)]
        options = [i for i in options if length([*chosen, i]) <= max_chars]
        if not options:
            break
        chosen.append(max(options, key=scores.__getitem__))
    return sorted(chosen)


def _quote(
    chunk: Chunk, spans: list[tuple[int, int]], chosen: list[int], best: int, score: float
) -> Quote:
    """Adjacent sentences ``chosen`` as one verbatim excerpt, the ``best`` one highlighted."""
    start, end = spans[chosen[0]][0], spans[chosen[-1]][1]
    at = spans[best][0] - start
    return Quote(
        text=chunk.text[start:end],
        start=chunk.start + start,
        end=chunk.start + end,
        highlight_start=at,
        highlight_end=at + spans[best][1] - spans[best][0],
        score=score,
    )
