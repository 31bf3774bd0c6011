"""Quote selection: the sentences of each passage that best answer the question."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from newsbot.index.lexical import query_terms
from newsbot.models import QUOTE_GAP, Chunk, Quote
from newsbot.text import passage_sentences, words

# Weight of question-word overlap against cosine similarity when scoring sentences: names,
# numbers and places in a question are strong evidence the embedding alone underrates.
# Measured on the RealTimeQA development questions (benchmarks/quality.py): 1.0 beat 0 and 0.5.
LEXICAL_WEIGHT = 1.0
# The best sentence is quoted with the next best sentences of its passage, in article order,
# while the quote stays within ``search.quote_chars`` and one sentence per SENTENCE_CHARS of it;
# sentences that are not adjacent are joined by QUOTE_GAP. Measured on the RealTimeQA
# development questions (README, "Quality"): answer recall@3 on quotes 0.63 when the best
# sentence grew by its better neighbour (140 characters per sentence), 0.65 with the next best
# sentences anywhere in the passage, 0.67 with them at 100 characters per sentence.
SENTENCE_CHARS = 100
MIN_ANSWER_WORDS = 6

Embed = Callable[[Sequence[str]], np.ndarray]


def _stem(word: str) -> str:
    # A crude prefix stem: "elections"/"election", "ministers"/"minister" meet; cheap and
    # language-agnostic, which matters more here than linguistic precision.
    return word[:6]


def _bag(sentence: str) -> set[str]:
    """The stems of a sentence's words."""
    return {_stem(w) for w in words(sentence)}


def _term_weights(terms: set[str], bags: Sequence[set[str]]) -> dict[str, float]:
    """IDF of each question term over the candidate sentences (their :func:`_bag`).

    A word the question shares with every candidate (the story's subject) tells them apart
    no better than chance; a word only one sentence has (a place, a name) is the evidence.
    """
    total = len(bags)
    return {
        t: math.log(1.0 + total / (1.0 + sum(1 for bag in bags if _stem(t) in bag))) for t in terms
    }


def _overlap(weights: dict[str, float], bag: set[str]) -> float:
    if not weights:
        return 0.0
    found = sum(weight for term, weight in weights.items() if _stem(term) in bag)
    return found / sum(weights.values())


def select_quotes(
    question: str,
    question_vector: np.ndarray,
    chunks: Sequence[Chunk],
    embed: Embed,
    *,
    max_chars: int,
) -> list[Quote]:
    """Pick a quote from each chunk; one batched embedding call for all their sentences."""
    terms = set(query_terms(question))
    spans_per_chunk = [passage_sentences(chunk.text) for chunk in chunks]
    sentences = [
        c.text[a:b] for c, spans in zip(chunks, spans_per_chunk, strict=True) for a, b in spans
    ]
    vectors = embed(sentences)
    similarities = vectors @ question_vector if len(sentences) else np.zeros(0)
    # Each sentence's words, read once: scoring them was a third of quoting's time.
    bags = [_bag(s) for s in sentences]
    weights = _term_weights(terms, bags)

    quotes: list[Quote] = []
    shown: dict[str, list[tuple[int, int]]] = {}  # per article, absolute offsets of excerpts
    offset = 0
    for chunk, spans in zip(chunks, spans_per_chunk, strict=True):
        scores = [
            float(similarities[offset + i]) + LEXICAL_WEIGHT * _overlap(weights, bags[offset + i])
            for i in range(len(spans))
        ]
        offset += len(spans)
        quoted = shown.setdefault(chunk.article_id, [])
        quote = _build_quote(chunk, spans, scores, quoted, max_chars)
        quoted.extend(quote.excerpts)
        quotes.append(quote)
    return quotes


def _build_quote(
    chunk: Chunk,
    spans: list[tuple[int, int]],
    scores: list[float],
    shown: Sequence[tuple[int, int]],
    max_chars: int,
) -> Quote:
    # Headlines, bylines and datelines are short and echo the question's topic; they make poor
    # answers, so they are context at most, never the highlighted sentence. Nor is a sentence
    # another passage of the same article already quotes (chunks share sentences) unless
    # nothing else is left.
    def fresh(a: int, b: int) -> bool:
        return not any(chunk.start + a < end and start < chunk.start + b for start, end in shown)

    short = [len(words(chunk.text[a:b])) < MIN_ANSWER_WORDS for a, b in spans]
    eligible = [i for i, (a, b) in enumerate(spans) if not short[i] and fresh(a, b)] or list(
        range(len(spans))
    )
    best = max(eligible, key=scores.__getitem__)
    # The answer is often not next to the sentence that matches the question best (a name
    # two sentences up, the figure in the next paragraph), so the rest of the quote is the
    # passage's next best sentences wherever they are; a short line only beside one of them.
    chosen = [best]
    max_sentences = max(1, max_chars // SENTENCE_CHARS)
    for i in sorted(range(len(spans)), key=lambda i: -scores[i]):
        if len(chosen) == max_sentences:
            break
        if i in chosen or not fresh(*spans[i]):
            continue
        if short[i] and i - 1 not in chosen and i + 1 not in chosen:
            continue
        if len(_joined(chunk.text, _excerpts(spans, sorted([*chosen, i])))) <= max_chars:
            chosen.append(i)
    return _quote(chunk, spans, sorted(chosen), best, scores[best])


def _excerpts(spans: list[tuple[int, int]], chosen: list[int]) -> list[tuple[int, int]]:
    """Sorted sentence indices as the chunk offsets of runs of adjacent sentences:
    [1, 2, 5] -> [(start of 1, end of 2), (start of 5, end of 5)]."""
    runs: list[tuple[int, int]] = []
    for i in chosen:
        if runs and runs[-1][1] == i - 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return [(spans[a][0], spans[b][1]) for a, b in runs]


def _joined(text: str, excerpts: list[tuple[int, int]]) -> str:
    return QUOTE_GAP.join(text[a:b] for a, b in excerpts)


def _quote(
    chunk: Chunk, spans: list[tuple[int, int]], chosen: list[int], best: int, score: float
) -> Quote:
    """The chosen sentences as verbatim excerpts of the article, the best one highlighted."""
    parts = _excerpts(spans, chosen)
    at = 0  # where the best sentence starts in the quote's text
    for start, end in parts:
        if start <= spans[best][0] < end:
            at += spans[best][0] - start
            break
        at += end - start + len(QUOTE_GAP)
    return Quote(
        text=_joined(chunk.text, parts),
        start=chunk.start + parts[0][0],
        end=chunk.start + parts[-1][1],
        highlight_start=at,
        highlight_end=at + spans[best][1] - spans[best][0],
        score=score,
        parts=tuple((chunk.start + a, chunk.start + b) for a, b in parts) if len(parts) > 1 else (),
    )
