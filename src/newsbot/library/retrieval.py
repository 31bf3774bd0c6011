"""Retrieval: a question's passages (dense and BM25, fused, floored, diversified) and the
sentence of each that answers."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import numpy as np

from newsbot.answer import select_quotes
from newsbot.config import SearchSettings
from newsbot.index.lexical import LexicalHit, LexicalIndex
from newsbot.index.sentence_vectors import SentenceVectors
from newsbot.index.store import ChromaStore
from newsbot.models import (
    Answer,
    AnsweredPassage,
    ArticleRecord,
    Chunk,
    FollowUp,
    Passage,
    Quote,
)
from newsbot.question import analyse, clean_question, has_words
from newsbot.search import Candidate, diversify, fuse, fuse_ranked
from newsbot.sentence_ranker import PassageInfo
from newsbot.text import valid_unicode
from newsbot.text_fragment import EXACT_MAX_CHARS, fragment_link

MAX_QUESTION_CHARS = 2000
# Ranks within which the dense and lexical sides must agree for the lower answer floor.
AGREEMENT_RANKS = 5
# "Latest" questions: an article's recency (1 for the newest candidate, halving every
# RECENCY_HALF_LIFE days before it) is added to its passages' fused score (RRF: 1/(k + rank))
# and to their best sentence's score (the answer ranker's scale); see benchmarks/README.md.
RECENCY_HALF_LIFE = 30.0
RECENCY_FUSED = 1 / 21  # a first rank on one side, at rrf_k = 20
RECENCY_SENTENCE = 2.0
# A follow-up: the passages of the articles the previous answer cited get this much added to
# their fused score (half a first rank on one side at rrf_k = 20: it lifts a cited passage
# past others of about its rank, not past a clearly better one) and to their best sentence's
# score (the answer ranker's scale); see benchmarks/README.md, "Follow-up questions".
CITED_FUSED = 1 / 42
CITED_SENTENCE = 1.0
# Longer links are left plain: the bot refuses to render a link past 2,000 characters.
MAX_LINK_CHARS = 2000


class Retriever:
    """Answers questions over whichever store the library has now (a reindex swaps it)."""

    def __init__(
        self,
        embed: Callable[[Sequence[str]], np.ndarray],
        sentences: SentenceVectors,
        lexical: LexicalIndex,
        worker: ThreadPoolExecutor,
    ) -> None:
        self._embed = embed  # the model loads on first use
        self._sentences = sentences
        self._lexical = lexical
        self._worker = worker  # BM25 runs here, beside the question's embedding

    def ask(
        self,
        question: str,
        store: ChromaStore,
        search: SearchSettings,
        limit: int,
        *,
        days: tuple[int, int] | None = None,
        newer_first: Mapping[str, int | None] | None = None,
        follow_up: FollowUp | None = None,
    ) -> Answer:
        """The ``limit`` passages of ``store`` that answer ``question``, quoted; none when
        nothing is relevant enough.

        Args:
            days: only articles published on these days (YYYYMMDD, inclusive).
            newer_first: each article's publication day (YYYYMMDD, None: undated), to rank
                newer articles higher (a "latest" question).
            follow_up: the conversation's words and cited articles, for a question that
                leans on the previous one; None (or no words): the question alone.
        """
        question = valid_unicode(clean_question(question, MAX_QUESTION_CHARS))
        if not has_words(question):
            return Answer(question)
        pool_size = max(limit * 4, 20)
        if follow_up is not None and follow_up.words:
            found = self._search_with_context(question, follow_up, store, search, pool_size, days)
        else:
            found = self._search(question, store, search, pool_size, days, floor=True)
        if found is None:
            return Answer(question)
        question_vector, relevant = found
        recency = _recency(relevant, newer_first) if newer_first is not None else {}
        cited = set(follow_up.cited) if follow_up is not None and follow_up.words else set()

        def bonus(article_id: str, for_recency: float, for_cited: float) -> float:
            """What asking for the latest (newer articles) and following on (the articles
            just cited) add to a score."""
            return for_recency * recency.get(article_id, 0.0) + for_cited * (article_id in cited)

        if recency or cited:
            for cand in relevant:
                cand.score += bonus(cand.chunk.article_id, RECENCY_FUSED, CITED_FUSED)
            relevant.sort(key=lambda c: -c.score)
        # Fetch more than needed: chunks of an article removed meanwhile are dropped below.
        pool = max(limit, search.rerank)
        candidates = diversify(relevant, per_article=search.per_article, limit=pool * 2)
        records = store.get_records(list({c.chunk.article_id for c in candidates}))
        candidates = [c for c in candidates if c.chunk.article_id in records][:pool]
        if not candidates:
            return Answer(question)
        quotes = select_quotes(
            analyse(question),
            question_vector,
            [c.chunk for c in candidates],
            [PassageInfo(rank, c.chunk.index == 0) for rank, c in enumerate(candidates)],
            lambda texts: self._sentences.embed(texts, self._embed),
            max_chars=search.quote_chars,
        )
        quoted = list(zip(candidates, quotes, strict=True))
        if search.rerank or recency or cited:
            # The passages whose sentences answer best (and, asked for the latest, are
            # newest; asked as a follow-up, are from the articles just cited) come first.
            quoted.sort(
                key=lambda pair: (
                    -(
                        pair[1].score
                        + bonus(pair[0].chunk.article_id, RECENCY_SENTENCE, CITED_SENTENCE)
                    )
                )
            )
            chosen = diversify([c for c, _ in quoted], per_article=search.per_article, limit=limit)
            keep = {id(c) for c in chosen}
            quoted = [(c, q) for c, q in quoted if id(c) in keep]
        shown = quoted[:limit]
        linked = [(records[c.chunk.article_id], q) for c, q in shown]
        texts = link_texts(store, [(c.chunk, q) for c, q in shown])
        links = source_links(linked, texts)
        return Answer(
            question,
            [
                AnsweredPassage(
                    rank,
                    Passage(
                        chunk=c.chunk,
                        article=records[c.chunk.article_id],
                        score=c.score,
                        dense_score=c.dense_score,
                        lexical_score=c.lexical_score,
                    ),
                    quote,
                    links.get(c.chunk.article_id),
                )
                for rank, (c, quote) in enumerate(shown, 1)
            ],
        )

    def articles_about(
        self, topic: str, store: ChromaStore, search: SearchSettings, limit: int
    ) -> list[str]:
        """The ids of up to ``limit`` articles with a passage about ``topic``, best first.

        Unlike :meth:`ask`, no answer floor: a topic of a word or two ("Taliban") is far
        from any passage in cosine, but a passage above the passage floor is about it.
        """
        topic = valid_unicode(clean_question(topic, MAX_QUESTION_CHARS))
        found = self._search(topic, store, search, search.candidates * 2, None, floor=False)
        ids = dict.fromkeys(c.chunk.article_id for c in (found[1] if found else []))
        return list(ids)[:limit]

    def _search_with_context(
        self,
        question: str,
        follow_up: FollowUp,
        store: ChromaStore,
        search: SearchSettings,
        limit: int,
        days: tuple[int, int] | None,
    ) -> tuple[np.ndarray, list[Candidate]] | None:
        """A follow-up's passages: the question searched alone and with the conversation's
        words added (HQE: expanded, never rewritten), the two lists fused by reciprocal rank;
        the vector is the question's own, so its sentences are weighed against what it
        asks. None when neither search finds anything relevant enough."""
        expanded = f"{question} {' '.join(follow_up.words)}"
        vectors = self._embed([question, expanded])
        alone = self._search(question, store, search, limit, days, floor=True, vector=vectors[0])
        wider = self._search(expanded, store, search, limit, days, floor=True, vector=vectors[1])
        lists = [found[1] for found in (alone, wider) if found is not None]
        if not lists:
            return None
        return vectors[0], fuse_ranked(lists, rrf_k=search.rrf_k)[:limit]

    def _search(
        self,
        question: str,
        store: ChromaStore,
        search: SearchSettings,
        limit: int,
        days: tuple[int, int] | None,
        *,
        floor: bool,
        vector: np.ndarray | None = None,
    ) -> tuple[np.ndarray, list[Candidate]] | None:
        """The question's vector (``vector`` when given) and its fused passages above the
        passage floor, best first; None when ``floor`` and nothing in the library is
        relevant enough to answer."""
        lexical_search = (
            self._worker.submit(
                self._lexical.search,
                question,
                search.candidates,
                max_df=search.lexical_max_df,
                max_terms=search.lexical_max_terms,
                days=days,
            )
            if search.hybrid
            else None
        )
        question_vector = self._embed([question])[0] if vector is None else vector
        dense = store.query(question_vector, search.candidates, days=days)
        lexical = lexical_search.result() if lexical_search is not None else []
        if floor and not _relevant_enough(dense, lexical, search):
            return None
        fused = fuse(dense, lexical, rrf_k=search.rrf_k)[:limit]
        # Lexical-only candidates get their cosine from the stored vectors, so one relevance
        # floor applies to every passage: a keyword match alone does not make a passage an answer.
        missing = [c.chunk for c in fused if c.dense_score is None]
        vectors = store.chunk_vectors(missing)
        for cand in fused:
            vector = vectors.get(cand.chunk.chunk_id)
            if cand.dense_score is None and vector is not None:
                cand.dense_score = float(vector @ question_vector)
        relevant = [c for c in fused if (c.dense_score or 0.0) >= search.passage_min_similarity]
        return question_vector, relevant


def _recency(candidates: Sequence[Candidate], days: Mapping[str, int | None]) -> dict[str, float]:
    """Each candidate article's recency: 1 for the newest among them, halving every
    RECENCY_HALF_LIFE days before it; 0 when undated."""
    dated = {c.chunk.article_id: _as_date(days.get(c.chunk.article_id)) for c in candidates}
    newest = max((d for d in dated.values() if d is not None), default=None)
    return {
        article_id: 0.0
        if day is None or newest is None
        else 0.5 ** ((newest - day).days / RECENCY_HALF_LIFE)
        for article_id, day in dated.items()
    }


def _as_date(day: int | None) -> date | None:
    if not day:
        return None
    try:
        return date(day // 10000, day // 100 % 100, day % 100)
    except ValueError:
        return None


def link_texts(store: ChromaStore, shown: Sequence[tuple[Chunk, Quote]]) -> dict[str, str]:
    """What each shown article's link is built against: its shown passages when every
    bold sentence of it is short (a short sentence is linked whole, as Chrome does, and
    reading the article's text was most of a link's cost: benchmarks/README.md), else
    the article's text, in which a longer one's start and end words must be unique."""
    passages: dict[str, list[str]] = {}
    whole: set[str] = set()
    for chunk, quote in shown:
        passages.setdefault(chunk.article_id, []).append(chunk.text)
        if len(quote.highlight) > EXACT_MAX_CHARS or "\n" in quote.highlight:
            whole.add(chunk.article_id)
    texts = {article_id: "\n".join(texts) for article_id, texts in passages.items()}
    if whole:
        texts.update(store.article_texts(sorted(whole)))
    return texts


def source_links(
    shown: Sequence[tuple[ArticleRecord, Quote]], texts: Mapping[str, str]
) -> dict[str, str]:
    """Each shown article's address with a text fragment at the bold sentences shown from it
    (``texts``: the articles' stored texts), so a browser opens the page there; the plain
    address when no fragment fits."""
    articles: dict[str, ArticleRecord] = {}
    highlights: dict[str, list[str]] = {}
    for article, quote in shown:
        if article.url:
            articles[article.article_id] = article
            sentences = highlights.setdefault(article.article_id, [])
            if quote.highlight.strip():
                sentences.append(quote.highlight)
    links = {}
    for article_id, article in articles.items():
        url = article.url or ""
        link = fragment_link(url, texts.get(article_id, ""), highlights[article_id])
        links[article_id] = link if link is not None and len(link) <= MAX_LINK_CHARS else url
    return links


def _relevant_enough(
    dense: list[tuple[Chunk, float]], lexical: list[LexicalHit], search: SearchSettings
) -> bool:
    """Whether anything in the library is close enough to the question to quote.

    Cosine alone separates badly: short questions score low against the passage that
    answers them, and long off-topic ones score high against unrelated news. A passage
    both retrievers put in their top ranks is strong evidence at a lower similarity, and
    one both put first at the passage floor itself. Measured on RealTimeQA development
    questions and off-topic questions (benchmarks/README.md, "Relevance floor").
    """
    if not dense:
        return False
    best, best_similarity = dense[0]
    if best_similarity >= search.min_similarity:
        return True
    keys = [(h.chunk.article_id, h.chunk.index) for h in lexical[:AGREEMENT_RANKS]]
    if keys[:1] == [(best.article_id, best.index)]:
        return best_similarity >= search.passage_min_similarity
    return any(
        similarity >= search.agreement_min_similarity and (chunk.article_id, chunk.index) in keys
        for chunk, similarity in dense[:AGREEMENT_RANKS]
    )
