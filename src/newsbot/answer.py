"""Quote selection: the sentences of each passage that best answer the question."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from newsbot.index.lexical import query_terms
from newsbot.models import Chunk, Quote
from newsbot.text import passage_sentences, words

# Weight of question-word overlap against cosine similarity when scoring sentences: names,
# numbers and places in a question are strong evidence the embedding alone underrates.
# Measured on the RealTimeQA development questions (benchmarks/quality.py): 1.0 beat 0 and 0.5.
LEXICAL_WEIGHT = 1.0
# The best sentence is quoted with its better-scoring neighbours while the quote stays within
# ``search.quote_chars`` and one sentence per SENTENCE_CHARS of it. On the development
# questions, answer recall@3 on quotes rose from 0.39 (the best sentence alone) to 0.49 at
# 420 characters and 0.61 at 800 (README, "Quality").
SENTENCE_CHARS = 140
SHORT_SENTENCE_CHARS = 80
MIN_ANSWER_WORDS = 6

Embed = Callable[[Sequence[str]], np.ndarray]


def _stem(word: str) -> str:
    # A crude prefix stem: "elections"/"election", "ministers"/"minister" meet; cheap and
    # language-agnostic, which matters more here than linguistic precision.
    return word[:6]


def _term_weights(terms: set[str], sentences: Sequence[str]) -> dict[str, float]:
    """IDF of each question term over the candidate sentences.

    A word the question shares with every candidate (the story's subject) tells them apart
    no better than chance; a word only one sentence has (a place, a name) is the evidence.
    """
    bags = [{_stem(w) for w in words(s)} for s in sentences]
    total = len(bags)
    return {
        t: math.log(1.0 + total / (1.0 + sum(1 for bag in bags if _stem(t) in bag))) for t in terms
    }


def _overlap(weights: dict[str, float], sentence: str) -> float:
    if not weights:
        return 0.0
    present = {_stem(w) for w in words(sentence)}
    found = sum(weight for term, weight in weights.items() if _stem(term) in present)
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
    weights = _term_weights(terms, sentences)

    quotes: list[Quote] = []
    highlighted: dict[str, list[tuple[int, int]]] = {}  # per article, absolute offsets
    offset = 0
    for chunk, spans in zip(chunks, spans_per_chunk, strict=True):
        scores = [
            float(similarities[offset + i]) + LEXICAL_WEIGHT * _overlap(weights, chunk.text[a:b])
            for i, (a, b) in enumerate(spans)
        ]
        offset += len(spans)
        used = highlighted.setdefault(chunk.article_id, [])
        quote = _build_quote(chunk, spans, scores, used, max_chars)
        used.append((quote.start + quote.highlight_start, quote.start + quote.highlight_end))
        quotes.append(quote)
    return quotes


def _build_quote(
    chunk: Chunk,
    spans: list[tuple[int, int]],
    scores: list[float],
    used: list[tuple[int, int]],
    max_chars: int,
) -> Quote:
    # Headlines, bylines and datelines are short and echo the question's topic; they make poor
    # answers, so they are context at most, never the highlighted sentence. Nor is a sentence
    # already highlighted for another passage of the same article (chunks share sentences).
    def fresh(a: int, b: int) -> bool:
        return not any(chunk.start + a < end and start < chunk.start + b for start, end in used)

    eligible = [
        i
        for i, (a, b) in enumerate(spans)
        if len(words(chunk.text[a:b])) >= MIN_ANSWER_WORDS and fresh(a, b)
    ] or list(range(len(spans)))
    best = max(eligible, key=scores.__getitem__)
    max_sentences = max(1, max_chars // SENTENCE_CHARS)
    first = last = best
    while last - first + 1 < max_sentences:
        length = spans[last][1] - spans[first][0]
        options = []
        if first > 0:
            options.append((scores[first - 1], first - 1))
        if last + 1 < len(spans):
            options.append((scores[last + 1], last + 1))
        if not options:
            break
        _, index = max(options)
        new_first, new_last = min(first, index), max(last, index)
        too_long = spans[new_last][1] - spans[new_first][0] > max_chars
        if too_long and length >= SHORT_SENTENCE_CHARS:
            break
        first, last = new_first, new_last

    start, end = spans[first][0], spans[last][1]
    return Quote(
        text=chunk.text[start:end],
        start=chunk.start + start,
        end=chunk.start + end,
        highlight_start=spans[best][0] - start,
        highlight_end=spans[best][1] - start,
        score=scores[best],
    )
