"""Dense and lexical retrieval fused by reciprocal rank, and diversified across articles."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from newsbot.index.lexical import LexicalHit
from newsbot.models import Chunk


@dataclass(slots=True)
class Candidate:
    chunk: Chunk
    score: float = 0.0
    dense_score: float | None = None
    lexical_score: float | None = None
    sources: set[str] = field(default_factory=set)


def fuse(
    dense: Sequence[tuple[Chunk, float]],
    lexical: Sequence[LexicalHit],
    *,
    rrf_k: int,
    lexical_weight: float = 1.0,
) -> list[Candidate]:
    """Reciprocal rank fusion: ``sum(weight / (rrf_k + rank))`` over the lists a chunk is in.

    Rank fusion needs no calibration between cosine similarities and BM25 scores, which live on
    unrelated scales.
    """
    candidates: dict[tuple[str, int], Candidate] = {}
    for rank, (chunk, similarity) in enumerate(dense, start=1):
        cand = candidates.setdefault((chunk.article_id, chunk.index), Candidate(chunk))
        cand.dense_score = similarity
        cand.score += 1.0 / (rrf_k + rank)
        cand.sources.add("dense")
    for rank, hit in enumerate(lexical, start=1):
        key = (hit.chunk.article_id, hit.chunk.index)
        cand = candidates.setdefault(key, Candidate(hit.chunk))
        cand.lexical_score = hit.score
        cand.score += lexical_weight / (rrf_k + rank)
        cand.sources.add("lexical")
    return sorted(candidates.values(), key=lambda c: c.score, reverse=True)


def fuse_ranked(lists: Sequence[Sequence[Candidate]], *, rrf_k: int) -> list[Candidate]:
    """Reciprocal rank fusion of already fused lists (a follow-up searched with and without
    its conversation's words): ``sum(1 / (rrf_k + rank))`` over the lists a chunk is in.

    A chunk keeps the highest cosine and BM25 score any list gave it, and the sources of all.
    """
    candidates: dict[tuple[str, int], Candidate] = {}
    for ranked in lists:
        for rank, found in enumerate(ranked, start=1):
            key = (found.chunk.article_id, found.chunk.index)
            cand = candidates.setdefault(key, Candidate(found.chunk))
            cand.score += 1.0 / (rrf_k + rank)
            cand.dense_score = _highest(cand.dense_score, found.dense_score)
            cand.lexical_score = _highest(cand.lexical_score, found.lexical_score)
            cand.sources |= found.sources
    return sorted(candidates.values(), key=lambda c: c.score, reverse=True)


def _highest(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def diversify(candidates: Sequence[Candidate], *, per_article: int, limit: int) -> list[Candidate]:
    """Keep the best-ranked candidates, at most ``per_article`` from one article while others
    are left; when too few articles are relevant, fill up from the best ones.

    Neighbouring chunks share their overlap sentences; a chunk that is mostly the same text as
    one already chosen is skipped (the quote selection avoids quoting a shared sentence twice).
    """
    chosen: list[Candidate] = []
    taken: dict[str, list[Chunk]] = {}

    def take(cand: Candidate, cap: int | None) -> None:
        same_article = taken.setdefault(cand.chunk.article_id, [])
        if cap is not None and len(same_article) >= cap:
            return
        if any(_mostly_overlaps(cand.chunk, c) for c in same_article):
            return
        same_article.append(cand.chunk)
        chosen.append(cand)

    for cap in (per_article, None):
        for cand in candidates:
            if len(chosen) >= limit:
                break
            if cand not in chosen:
                take(cand, cap)
    position = {id(c): i for i, c in enumerate(candidates)}
    return sorted(chosen, key=lambda c: position[id(c)])


def _mostly_overlaps(a: Chunk, b: Chunk) -> bool:
    shared = min(a.end, b.end) - max(a.start, b.start)
    return shared > 0.5 * min(a.end - a.start, b.end - b.start)
