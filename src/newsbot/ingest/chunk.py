"""Sentence-aware chunking with overlap; every chunk is an exact slice of the article text."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from newsbot.models import Chunk
from newsbot.text import sentence_spans

TokenCounter = Callable[[Sequence[str]], list[int]]


def chunk_article(
    article_id: str,
    text: str,
    *,
    max_tokens: int,
    overlap_sentences: int,
    count_tokens: TokenCounter,
) -> list[Chunk]:
    """Pack whole sentences into chunks of at most ``max_tokens`` model tokens.

    Each chunk after the first starts with the last ``overlap_sentences`` sentences of the one
    before (when they leave room for new text), so an answer that straddles a boundary is still
    found whole in one chunk. A sentence longer than ``max_tokens`` is cut at word boundaries.

    Args:
        article_id: the id the chunks belong to.
        text: the article text; ``text[chunk.start:chunk.end] == chunk.text`` for every chunk.
        max_tokens: the budget per chunk in the embedding model's tokens.
        overlap_sentences: sentences repeated between neighbouring chunks.
        count_tokens: returns the token count of each given string (batched for speed).
    """
    spans = _fit_spans(text, sentence_spans(text), max_tokens, count_tokens)
    if not spans:
        return []
    sizes = count_tokens([text[a:b] for a, b in spans])

    groups: list[tuple[int, int]] = []  # [first, last) sentence indexes per chunk
    first = 0
    while first < len(spans):
        last, used = first, 0
        while last < len(spans) and (last == first or used + sizes[last] <= max_tokens):
            used += sizes[last]
            last += 1
        groups.append((first, last))
        if last >= len(spans):
            break
        # Step back for overlap, but always make progress past the previous chunk's start.
        first = max(last - overlap_sentences, first + 1)

    return [
        Chunk(
            article_id=article_id,
            index=index,
            start=spans[a][0],
            end=spans[b - 1][1],
            text=text[spans[a][0] : spans[b - 1][1]],
        )
        for index, (a, b) in enumerate(groups)
    ]


def _fit_spans(
    text: str, spans: list[tuple[int, int]], max_tokens: int, count_tokens: TokenCounter
) -> list[tuple[int, int]]:
    """Cut sentences longer than ``max_tokens`` into word-aligned pieces that fit."""
    sizes = count_tokens([text[a:b] for a, b in spans]) if spans else []
    fitted: list[tuple[int, int]] = []
    for (start, end), size in zip(spans, sizes, strict=True):
        if size <= max_tokens:
            fitted.append((start, end))
            continue
        pieces = -(-size // max_tokens) + 1  # ceil, plus slack for uneven words
        target = max(1, (end - start) // pieces)
        cursor = start
        while cursor < end:
            cut = min(end, cursor + target)
            if cut < end:
                space = text.rfind(" ", cursor + 1, cut + 1)
                cut = space if space > cursor else cut
            piece_start, piece_end = cursor, cut
            while piece_start < piece_end and text[piece_start].isspace():
                piece_start += 1
            if piece_start < piece_end:
                fitted.append((piece_start, piece_end))
            cursor = cut
    return fitted
