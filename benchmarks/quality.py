"""Retrieval quality of newsbot: RealTimeQA questions over their news articles plus distractors.

Builds a real index (the same ``Library`` the CLI and the bot use) from the RealTimeQA articles
of the chosen split, Reuters-21578 distractors and the VOA sample article, then asks every
question under several search settings and prints one markdown table per split: answer recall
at 1/3/5 on the quotes shown and on the passages retrieved, MRR, the share answered, the
"nothing found" rate on questions the corpus cannot answer, and ``ask`` latency. A second
table per split helps choose ``search.min_similarity`` (the relevance floor).

The data sets live in ``../shared/eval`` beside the project (see its README): they are read from
there, never copied. Tune on ``--split dev`` only; report ``test`` separately.

Usage:
    python benchmarks/quality.py --split dev --questions 120 --distractors 1000
    python benchmarks/quality.py --split both --out results.json

The index is cached in ``--workdir`` under a key made of the chunk settings, the model, the
chunking code and the corpus, so a re-run that only changes search settings skips ingestion.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import os
import re
import shutil
import statistics
import time
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import numpy as np
from common import (
    REUTERS_ARTICLES,
    ROOT,
    RTQA_ARTICLES,
    RTQA_QUESTIONS,
    SHARED,
    code_version,
    log,
    machine_line,
    percentile,
    quiz_clock,
    read_jsonl,
    reuters_article,
    rtqa_article,
)

import newsbot
from newsbot.config import (
    ChunkSettings,
    EmbeddingSettings,
    SearchSettings,
    Settings,
    load_settings,
)
from newsbot.index.embedder import Embedder
from newsbot.ingest.clean import clean_text
from newsbot.library import Library
from newsbot.models import Answer, Article, IngestStatus

SAMPLE_ARTICLE = SHARED / "samples" / "voa-2021-09-06-panjshir.txt"
SAMPLE_QUESTIONS = ROOT / "tests" / "fixtures" / "sample_questions.jsonl"
# Questions about the sample written for the topical library: preambles, other words.
TOPICAL_QUESTIONS = ROOT / "tests" / "fixtures" / "topical_questions.jsonl"
# The topical library: news on the sample's subject, where its questions are hardest.
TOPICAL = re.compile(r"\b(?:Afghanistan|Afghan|Taliban)\b")
SAMPLE_META = {
    "id": "voa-2021-09-06-panjshir",
    "title": "Massoud Vows to Fight on as Taliban Claims Victory Over Resistance",
    "outlet": "VOA",
    "published": "2021-09-06",
}
# The eval README's split: weeks before this are the development set, the rest held out.
DEV_BEFORE = "20260101"
# The reader's view: three excerpts, as the goals count them (``--top-k`` changes it).
TOP_K = 3
RECALL_AT = (1, 3)
FLOORS = (0.15, 0.20, 0.25, 0.30, 0.35, 0.40, 0.45)
INDEX_COMPLETE = "complete.json"
LANGCHAIN = "LangChain baseline"
LANGCHAIN_SENTENCE = "LangChain + best-cosine sentence"

# Questions nothing in the corpus is about: the relevance floor should refuse them.
OFF_TOPIC_QUESTIONS = (
    "How long should I boil an egg to keep the yolk runny?",
    "At what oven temperature should sourdough bread be baked?",
    "How do I make a dark roux for gumbo?",
    "Can I use baking soda instead of baking powder in pancakes?",
    "How much salt should go in pasta water?",
    "What is the best way to caramelize onions?",
    "How do I reverse a linked list in Python?",
    "What does the borrow checker do in Rust?",
    "How do I undo the last git commit but keep my changes?",
    "What is the difference between a process and a thread?",
    "How do I center a div with CSS flexbox?",
    "Why does my SQL query need a GROUP BY clause?",
    "Who won the 1966 FIFA World Cup final?",
    "How many players are on a cricket team?",
    "What is the icing rule in ice hockey?",
    "How long is a marathon in kilometres?",
    "At what temperature does water boil on the summit of Mount Everest?",
    "How many bones are in the adult human body?",
    "Why is the sky blue?",
    "What is the capital of Mongolia?",
    "How do you convert Celsius to Fahrenheit?",
    "What does the Pythagorean theorem state?",
    "How often should I water a cactus?",
    "How do I get a red wine stain out of a carpet?",
    "What is a good name for a goldfish?",
    "How do I tie a bowline knot?",
    "asdf qwerty zxcv uiop",
    "blorp snizzle frumious wabe",
    "lorem ipsum dolor sit amet consectetur",
    "purple monkey dishwasher",
    "zzkq vvbn 8812 plox",
)


# ------------------------------------------------------------------------------------------
# Answer matching, as the eval README defines it
# ------------------------------------------------------------------------------------------

_QUOTE_FORMS = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "`": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
        "\u00ab": '"',
        "\u00bb": '"',
    }
)


def normalise(text: str) -> str:
    """NFKC, one form of each quote mark, single spaces, case-folded."""
    return " ".join(unicodedata.normalize("NFKC", text).translate(_QUOTE_FORMS).casefold().split())


def answer_pattern(answer: str) -> re.Pattern[str]:
    """A pattern for ``answer`` in :func:`normalise`-d text, not inside a longer word.

    Quote marks around the answer (``"Doom"``) are dropped: the labels count ``Doom`` in the
    text. With this rule the script reproduces ``article_ids_with_answer`` for all 980 questions.
    """
    core = normalise(answer).strip("\"' ")
    pattern = re.escape(core).replace(r"\ ", r"\s+")
    if re.match(r"\w", core):
        pattern = r"(?<!\w)" + pattern
    if re.search(r"\w$", core):
        pattern += r"(?!\w)"
    return re.compile(pattern)


def contains(pattern: re.Pattern[str], text: str) -> bool:
    return pattern.search(normalise(text)) is not None


_TAG = re.compile(r"<[^>]*>")


def plain_question(text: str) -> str:
    """The question as a reader sees it: 39 RealTimeQA questions carry the quiz page's links
    (``<a data-analytics-id=... href=...>Dubai</a>``), whose attributes would be searched as
    words."""
    return " ".join(html.unescape(_TAG.sub("", text)).split())


# ------------------------------------------------------------------------------------------
# The corpus and its questions
# ------------------------------------------------------------------------------------------


class QuestionClock:
    """The library's clock, set to each question's day before it is asked."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


CLOCK = QuestionClock()


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    text: str
    answer: str | None  # None: no answer expected (off-topic)
    group: str  # dev | test | sample | offtopic
    answerable: bool
    labelled_articles: frozenset[str] = frozenset()
    # The day the question is asked in (a quiz's week): "this week" and "in 2025" are read
    # against it, as they were by its readers (None: the process clock).
    asked_at: datetime | None = None


@dataclass(slots=True)
class Corpus:
    articles: list[tuple[str, Article]]
    questions: list[Question]
    counts: dict[str, int]
    text_cleaner: str

    def key(self, settings: Settings) -> str:
        """What the built index depends on: model, chunking (settings and code), articles."""
        digest = hashlib.sha256()
        chunk_code = [
            Path(newsbot.__file__).parent / "ingest" / "chunk.py",
            Path(newsbot.__file__).parent / "text.py",
        ]
        header = {
            "model": settings.embedding.identity,
            "chunking": settings.chunking.model_dump(),
            "code": [_file_digest(p) for p in chunk_code],
        }
        digest.update(json.dumps(header, sort_keys=True).encode())
        self._digest_articles(digest)
        return digest.hexdigest()[:16]

    def articles_key(self) -> str:
        """What the LangChain baseline depends on: the articles only (its settings are fixed)."""
        digest = hashlib.sha256(b"langchain\0")
        self._digest_articles(digest)
        return digest.hexdigest()[:16]

    def _digest_articles(self, digest: Any) -> None:
        for origin, article in self.articles:
            for part in (origin, article.id or "", article.title, article.text):
                digest.update(part.encode())
                digest.update(b"\0")


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.exists() else "missing"


def load_topical_corpus(distractors: int) -> Corpus:
    """The sample among every RealTimeQA article that mentions Afghanistan or the Taliban and
    ``distractors`` Reuters texts, asked the sample's questions (``sample`` and ``topical``)
    and the off-topic ones: can newsbot still find the one article that answers?"""
    articles = [
        (f"realtimeqa:{r['id']}", rtqa_article(r))
        for r in read_jsonl(RTQA_ARTICLES)
        if TOPICAL.search(r["text"])
    ]
    rtqa_count = len(articles)
    articles += _reuters_articles(distractors)
    questions: list[Question] = []
    _add_sample(articles, questions)
    for number, r in enumerate(read_jsonl(TOPICAL_QUESTIONS), 1):
        questions.append(
            Question(
                f"topical-{number}",
                r["question"],
                r["answer"],
                "topical",
                True,
                frozenset({SAMPLE_META["id"]}),
            )
        )
    return _corpus(articles, questions, rtqa_count)


def _reuters_articles(distractors: int) -> list[tuple[str, Article]]:
    """Every ``k``-th Reuters document, ``distractors`` of them."""
    if not distractors:
        return []
    reuters = list(read_jsonl(REUTERS_ARTICLES))
    step = max(1, len(reuters) // distractors)
    return [(f"reuters21578:{r['id']}", reuters_article(r)) for r in reuters[::step][:distractors]]


def _add_sample(articles: list[tuple[str, Article]], questions: list[Question]) -> None:
    """The VOA sample article and its questions (group ``sample``)."""
    articles.append(
        (
            str(SAMPLE_ARTICLE.name),
            Article(
                text=clean_text(SAMPLE_ARTICLE.read_text(encoding="utf-8")),
                title=SAMPLE_META["title"],
                outlet=SAMPLE_META["outlet"],
                published=SAMPLE_META["published"],
                id=SAMPLE_META["id"],
            ),
        )
    )
    for number, r in enumerate(read_jsonl(SAMPLE_QUESTIONS), 1):
        questions.append(
            Question(
                id=f"sample-{number}",
                text=r["question"],
                answer=r["answer"],
                group="sample",
                answerable=True,
                labelled_articles=frozenset({SAMPLE_META["id"]}),
            )
        )


def load_corpus(split: str, max_questions: int | None, distractors: int) -> Corpus:
    """The questions of ``split`` and the articles they need, plus distractors and the sample.

    Articles: every article retrieved for an answerable question of the split (the first
    ``max_questions`` of them, in file order), every ``k``-th Reuters document up to
    ``distractors``, and the VOA sample. Unanswerable questions (the first ``max_questions``)
    are asked over the same corpus; their own retrieved articles are *not* added, so they test
    refusal on questions from the same weeks of news, not on the exact pages that fail them.
    """
    groups = ["dev", "test"] if split == "both" else [split]
    questions: list[Question] = []
    needed: set[str] = set()
    for group in groups:
        records = [
            r for r in read_jsonl(RTQA_QUESTIONS) if (r["week"] < DEV_BEFORE) == (group == "dev")
        ]
        answerable = [r for r in records if r["article_ids_with_answer"]]
        unanswerable = [r for r in records if not r["article_ids_with_answer"]]
        if max_questions is not None:
            answerable = answerable[:max_questions]
            unanswerable = unanswerable[:max_questions]
        for r in answerable + unanswerable:
            questions.append(
                Question(
                    id=r["id"],
                    text=plain_question(r["question"]),
                    answer=r["answer_text"],
                    group=group,
                    answerable=bool(r["article_ids_with_answer"]),
                    labelled_articles=frozenset(r["article_ids_with_answer"]),
                    asked_at=quiz_clock(r),
                )
            )
        for r in answerable:
            needed.update(r["retrieved_article_ids"])

    articles = [
        (f"realtimeqa:{r['id']}", rtqa_article(r))
        for r in read_jsonl(RTQA_ARTICLES)
        if r["id"] in needed
    ]
    missing = needed - {a.id for _, a in articles}
    if missing:
        raise SystemExit(f"{len(missing)} retrieved articles are missing from {RTQA_ARTICLES}")
    rtqa_count = len(articles)
    articles += _reuters_articles(distractors)
    _add_sample(articles, questions)
    return _corpus(articles, questions, rtqa_count)


def _corpus(
    articles: list[tuple[str, Article]], questions: list[Question], rtqa_count: int
) -> Corpus:
    """The corpus, with the off-topic questions added and every group counted."""
    for number, text in enumerate(OFF_TOPIC_QUESTIONS, 1):
        questions.append(Question(f"offtopic-{number}", text, None, "offtopic", False))
    counts = {
        "realtimeqa_articles": rtqa_count,
        "reuters_distractors": len(articles) - rtqa_count - 1,
        "sample_articles": 1,
    }
    for group in ("dev", "test", "sample", "topical", "offtopic"):
        members = [q for q in questions if q.group == group]
        if members:
            counts[f"{group}_answerable"] = sum(q.answerable for q in members)
            counts[f"{group}_unanswerable"] = sum(not q.answerable for q in members)
    return Corpus(articles, questions, counts, "newsbot.ingest.clean.clean_text")


# ------------------------------------------------------------------------------------------
# The index
# ------------------------------------------------------------------------------------------


def build_settings(index_dir: Path, args: argparse.Namespace) -> Settings:
    # An empty config file keeps a ./config.toml (or NEWSBOT_CONFIG) out of the measurement.
    index_dir.mkdir(parents=True, exist_ok=True)
    empty_config = index_dir.parent / "empty-config.toml"
    empty_config.write_text("")
    return load_settings(
        empty_config,
        store={"path": index_dir / "store"},
        embedding={"backend": args.backend},
        chunking={
            "max_tokens": args.max_tokens,
            "overlap_sentences": args.overlap,
            "embed_title": not args.no_embed_title,
            "vectors": args.vectors,
        },
    )


def open_index(corpus: Corpus, args: argparse.Namespace) -> tuple[Library, dict[str, Any]]:
    """Open the cached index for this corpus and chunking, or ingest it into a new one."""
    workdir = Path(args.workdir).expanduser().resolve()
    probe = build_settings(workdir / "probe", args)
    key = corpus.key(probe)
    shutil.rmtree(workdir / "probe", ignore_errors=True)
    index_dir = workdir / f"index-{key}"
    settings = build_settings(index_dir, args)
    marker = index_dir / INDEX_COMPLETE
    if marker.exists() and not args.rebuild:
        report = json.loads(marker.read_text())
        report["cached"] = True
        log(f"reusing the index in {index_dir} (built in {report['seconds']:.0f} s)")
        return Library.open(settings, clock=CLOCK), report

    if args.rebuild:
        shutil.rmtree(index_dir / "store", ignore_errors=True)
    library = Library.open(settings, clock=CLOCK)
    # An interrupted ingest resumes: stored articles come back as duplicates, unembedded.
    before = library.stats()
    if before.articles:
        log(f"resuming: {before.articles} articles are already in {index_dir}")
    started = time.perf_counter()
    statuses: Counter[str] = Counter()
    errors: list[str] = []
    for done, result in enumerate(library.add_articles(corpus.articles), 1):
        statuses[result.status.value] += 1
        if result.status is IngestStatus.FAILED and len(errors) < 10:
            errors.append(f"{result.source}: {result.error}")
        if done % 256 == 0:
            rate = done / (time.perf_counter() - started)
            log(f"  ingested {done}/{len(corpus.articles)} articles ({rate:.1f}/s)")
    seconds = time.perf_counter() - started
    stats = library.stats()
    report = {
        "key": key,
        "index": str(index_dir),
        "seconds": round(seconds, 1),
        "articles_in": len(corpus.articles),
        "articles": stats.articles,
        "chunks": stats.chunks,
        "chunks_added": stats.chunks - before.chunks,
        "resumed_from": {"articles": before.articles, "chunks": before.chunks},
        "statuses": dict(statuses),
        "errors": errors,
        "chunking": settings.chunking.model_dump(),
        "text_cleaner": corpus.text_cleaner,
        "index_mb": round(_disk_mb(index_dir), 1),
    }
    marker.write_text(json.dumps(report, indent=2))
    report["cached"] = False
    return library, report


def _disk_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


# ------------------------------------------------------------------------------------------
# Asking
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    search: dict[str, Any] = field(default_factory=dict)


def build_variants(search: SearchSettings) -> list[Variant]:
    """The defaults first (with --reuse-embeddings only its latency is cold), then one change
    at a time around them."""
    floors_off = {"min_similarity": -1.0}
    for lower in ("passage_min_similarity", "agreement_min_similarity"):
        if lower in SearchSettings.model_fields:
            floors_off[lower] = -1.0
    variants = [
        Variant("hybrid (defaults)"),
        Variant("dense only", {"hybrid": False}),
        Variant("no relevance floor", floors_off),
        Variant("BM25 on every word", {"lexical_max_df": 1.0, "lexical_max_terms": 0}),
    ]
    for key, values in (
        ("rrf_k", (10, 20, 60)),
        ("per_article", (1, 2, 3)),
        ("candidates", (20, 40, 80)),
        ("quote_chars", (420, 600, 800)),
        ("rerank", (0, 10, 20)),
        ("lexical_max_df", (0.05, 0.1, 1.0)),
        ("lexical_max_terms", (0, 3, 4, 5)),
    ):
        variants += [
            Variant(f"{key}={value}", {key: value})
            for value in values
            if value != getattr(search, key)
        ]
    return variants


class MemoEmbedder:
    """An embedder that remembers vectors by text, so variants reuse the same quote sentences.

    Only for ``--reuse-embeddings``: it makes every variant after the first much faster on a
    small CPU, at the price of their latencies no longer including the model.
    """

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.dimension = inner.dimension
        self._vectors: dict[str, np.ndarray] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)  # anything else the library reads (name, limits)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            for text, vector in zip(missing, self.inner.embed(missing), strict=True):
                self._vectors[text] = vector
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([self._vectors[t] for t in texts])

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.inner.count_tokens(texts)


@dataclass(slots=True)
class Outcome:
    """One question under one variant: the first rank whose quote / passage has the answer."""

    question_id: str
    group: str
    answerable: bool
    answered: bool
    highlight_rank: int | None  # the first rank whose bold sentence holds the answer
    quote_rank: int | None
    passage_rank: int | None
    hit_in_labelled: bool | None  # the first passage hit comes from a labelled article
    hit_similarity: float | None  # cosine of the first passage hit (None: lexical only)
    top_article: str | None
    seconds: float
    chars_shown: int = 0  # characters of the excerpts shown (what a reader wades through)


def ask_all(library: Library, questions: Iterable[Question], top_k: int) -> list[Outcome]:
    outcomes = []
    for question in questions:
        CLOCK.now = question.asked_at or datetime.now(UTC)
        started = time.perf_counter()
        answer = library.ask(question.text, top_k=top_k)
        seconds = time.perf_counter() - started
        outcomes.append(score(question, answer, seconds))
    return outcomes


def score(question: Question, answer: Answer, seconds: float) -> Outcome:
    highlight_rank = quote_rank = passage_rank = None
    hit_in_labelled = None
    hit_similarity = None
    if question.answer is not None:
        pattern = answer_pattern(question.answer)
        for item in answer.passages:
            if highlight_rank is None and contains(pattern, item.quote.highlight):
                highlight_rank = item.rank
            if quote_rank is None and contains(pattern, item.quote.text):
                quote_rank = item.rank
            if passage_rank is None and contains(pattern, item.passage.chunk.text):
                passage_rank = item.rank
                hit_in_labelled = item.passage.article.article_id in question.labelled_articles
                hit_similarity = item.passage.dense_score
    return Outcome(
        question_id=question.id,
        group=question.group,
        answerable=question.answerable,
        answered=answer.answered,
        highlight_rank=highlight_rank,
        quote_rank=quote_rank,
        passage_rank=passage_rank,
        hit_in_labelled=hit_in_labelled,
        hit_similarity=hit_similarity,
        top_article=answer.passages[0].passage.article.article_id if answer.passages else None,
        seconds=seconds,
        chars_shown=sum(len(item.quote.text) for item in answer.passages),
    )


def langchain_outcomes(
    corpus: Corpus, args: argparse.Namespace
) -> tuple[list[Outcome], list[Outcome], dict[str, Any]]:
    """Build (or reuse) the LangChain baseline index on this corpus and ask every question.

    Two rows: its passages as they come (no highlight, every character shown), and the naive
    highlight a developer would add, each passage's best-cosine sentence shown alone. LangChain
    always answers: its "nothing found" rates are zero by construction.
    """
    from langchain_pipeline import DESCRIPTION, LangChainPipeline

    from newsbot.text import passage_sentences

    directory = Path(args.workdir).expanduser().resolve() / f"langchain-{corpus.articles_key()}"
    marker = directory / INDEX_COMPLETE
    if marker.exists() and not args.rebuild:
        report = json.loads(marker.read_text())
        pipeline = LangChainPipeline(directory / "chroma")
    else:
        shutil.rmtree(directory, ignore_errors=True)
        pipeline = LangChainPipeline(directory / "chroma")
        started = time.perf_counter()
        n_articles, n_chunks = pipeline.add(article for _, article in corpus.articles)
        report = {
            "pipeline": DESCRIPTION,
            "seconds": round(time.perf_counter() - started, 1),
            "articles": n_articles,
            "chunks": n_chunks,
        }
        marker.write_text(json.dumps(report, indent=2))
    log(f"LangChain index: {report['chunks']} chunks, built in {report['seconds']:.0f} s")
    passages, sentences = [], []
    for question in corpus.questions:
        started = time.perf_counter()
        hits, _ = pipeline.search(question.text, args.top_k)
        seconds = time.perf_counter() - started
        query = np.asarray(pipeline.embeddings.embed_query(question.text))
        best = []
        for hit in hits:
            spans = passage_sentences(hit.text)
            texts = [hit.text[a:b] for a, b in spans]
            vectors = np.asarray(pipeline.embeddings.embed_documents(texts))
            best.append(texts[int(np.argmax(vectors @ query))])
        pattern = answer_pattern(question.answer) if question.answer is not None else None
        for texts in ([h.text for h in hits], best):
            ranks = [n for n, t in enumerate(texts, 1) if pattern and contains(pattern, t)]
            first = ranks[0] if ranks else None
            outcome = Outcome(
                question_id=question.id,
                group=question.group,
                answerable=question.answerable,
                answered=bool(hits),
                highlight_rank=first if texts is best else None,
                quote_rank=None,
                passage_rank=first,
                hit_in_labelled=(
                    hits[first - 1].article_id in question.labelled_articles if first else None
                ),
                hit_similarity=None,
                top_article=hits[0].article_id if hits else None,
                seconds=seconds,
                chars_shown=sum(len(t) for t in texts),
            )
            (sentences if texts is best else passages).append(outcome)
    # The sentence row shows sentences: its passage columns are the passages'.
    for sentence, passage in zip(sentences, passages, strict=True):
        sentence.passage_rank = passage.passage_rank
    return passages, sentences, report


def summarise(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    answerable = [o for o in outcomes if o.answerable]
    unanswerable = [o for o in outcomes if not o.answerable]
    metrics: dict[str, Any] = {"answerable": len(answerable), "unanswerable": len(unanswerable)}
    if answerable:
        n = len(answerable)
        for k in RECALL_AT:
            metrics[f"highlight_r@{k}"] = (
                sum(o.highlight_rank is not None and o.highlight_rank <= k for o in answerable) / n
            )
            metrics[f"quote_r@{k}"] = (
                sum(o.quote_rank is not None and o.quote_rank <= k for o in answerable) / n
            )
            metrics[f"passage_r@{k}"] = (
                sum(o.passage_rank is not None and o.passage_rank <= k for o in answerable) / n
            )
        metrics["mrr"] = sum(1 / o.passage_rank for o in answerable if o.passage_rank) / n
        metrics["answered"] = sum(o.answered for o in answerable) / n
        shown = [o.chars_shown for o in answerable if o.answered]
        metrics["chars_shown"] = statistics.mean(shown) if shown else None
        hits = [o for o in answerable if o.passage_rank is not None]
        metrics["hits_from_labelled_article"] = (
            sum(bool(o.hit_in_labelled) for o in hits) / len(hits) if hits else None
        )
    if unanswerable:
        metrics["nothing_found"] = sum(not o.answered for o in unanswerable) / len(unanswerable)
    latencies = sorted(o.seconds for o in outcomes)
    if latencies:
        metrics["p50_ms"] = 1000 * percentile(latencies, 50)
        metrics["p95_ms"] = 1000 * percentile(latencies, 95)
    return metrics


def top_similarities(library: Library, questions: Sequence[Question]) -> dict[str, float]:
    """The best cosine similarity of any chunk to each question (what the floor compares)."""
    vectors = library.embedder.embed([" ".join(q.text.split()) for q in questions])
    best: dict[str, float] = {}
    for question, vector in zip(questions, vectors, strict=True):
        hits = library.store.query(vector, 1)
        best[question.id] = hits[0][1] if hits else -1.0
    return best


def floor_update(search: SearchSettings, floor: float) -> dict[str, float]:
    """Search settings for answer floor ``floor``; the lower floors never sit above it."""
    update = {"min_similarity": floor}
    for lower in ("passage_min_similarity", "agreement_min_similarity"):
        value = getattr(search, lower, None)
        if value is not None:
            update[lower] = min(value, floor)
    return update


def floor_rows(
    questions: Sequence[Question],
    similarity: dict[str, float],
    sweep: dict[float, dict[str, Outcome]],
) -> list[dict[str, Any]]:
    """Per floor: the share answered or refused, by a cosine-only rule and by newsbot's own.

    "cosine only" answers when the best chunk's cosine reaches the floor; "newsbot" is what
    ``library.ask`` did with ``min_similarity`` set to the floor (its rule may add more).
    """
    answerable = [q for q in questions if q.answerable and q.group in ("dev", "test")]
    unanswerable = [q for q in questions if not q.answerable and q.group in ("dev", "test")]
    offtopic = [q for q in questions if q.group == "offtopic"]
    sample = [q for q in questions if q.group == "sample"]

    def cosine(items: Sequence[Question], floor: float, answered: bool) -> float | None:
        if not items:
            return None
        return sum((similarity[q.id] >= floor) == answered for q in items) / len(items)

    def actual(items: Sequence[Question], floor: float, answered: bool) -> float | None:
        if not items:
            return None
        return sum(sweep[floor][q.id].answered == answered for q in items) / len(items)

    def recall(items: Sequence[Question], floor: float) -> float | None:
        if not items:
            return None
        return sum(sweep[floor][q.id].passage_rank is not None for q in items) / len(items)

    return [
        {
            "floor": floor,
            "answerable_answered_cosine": cosine(answerable, floor, True),
            "answerable_answered": actual(answerable, floor, True),
            "passage_r@5": recall(answerable, floor),
            "unanswerable_refused_cosine": cosine(unanswerable, floor, False),
            "unanswerable_refused": actual(unanswerable, floor, False),
            "offtopic_refused_cosine": cosine(offtopic, floor, False),
            "offtopic_refused": actual(offtopic, floor, False),
            "sample_answered": actual(sample, floor, True),
            "sample_passage_r@5": recall(sample, floor),
        }
        for floor in sorted(sweep)
    ]


# ------------------------------------------------------------------------------------------
# Output
# ------------------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def results_table(rows: list[tuple[str, dict[str, Any]]]) -> str:
    recalls = [f"R@{k} {kind}" for kind in ("highlight", "quote", "passage") for k in RECALL_AT]
    header = (
        "| variant | "
        + " | ".join(recalls)
        + " | chars shown | MRR | answered | nothing found: unanswerable | nothing found: "
        "off-topic | p50 ms | p95 ms |"
    )
    lines = [header, "|" + "---|" * (len(recalls) + 8)]
    for name, m in rows:
        cells = [name]
        for kind in ("highlight", "quote", "passage"):
            cells += [_pct(m.get(f"{kind}_r@{k}")) for k in RECALL_AT]
        cells.append("-" if m.get("chars_shown") is None else f"{m['chars_shown']:.0f}")
        cells.append("-" if "mrr" not in m else f"{m['mrr']:.3f}")
        cells.append(_pct(m.get("answered")))
        cells.append(_pct(m.get("nothing_found")))
        cells.append(_pct(m.get("offtopic_nothing_found")))
        mark = "*" if m.get("latency_warm") else ""
        cells.append(f"{m['p50_ms']:.0f}{mark}" if "p50_ms" in m else "-")
        cells.append(f"{m['p95_ms']:.0f}{mark}" if "p95_ms" in m else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def floor_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| min_similarity | answerable answered: cosine only / newsbot | passage R@5 "
        "| unanswerable refused: cosine only / newsbot | off-topic refused: cosine only / "
        "newsbot | sample answered | sample R@5 passage |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [
            f"{r['floor']:.2f}",
            f"{_pct(r['answerable_answered_cosine'])} / {_pct(r['answerable_answered'])}",
            _pct(r["passage_r@5"]),
            f"{_pct(r['unanswerable_refused_cosine'])} / {_pct(r['unanswerable_refused'])}",
            f"{_pct(r['offtopic_refused_cosine'])} / {_pct(r['offtopic_refused'])}",
            _pct(r["sample_answered"]),
            _pct(r["sample_passage_r@5"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def similarity_summary(values: Sequence[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    return (
        f"min {ordered[0]:.2f}, p10 {percentile(ordered, 10):.2f}, "
        f"median {statistics.median(ordered):.2f}, p90 {percentile(ordered, 90):.2f}, "
        f"max {ordered[-1]:.2f}"
    )


# ------------------------------------------------------------------------------------------
# main
# ------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--split",
        choices=("dev", "test", "both", "topical"),
        default="dev",
        help="topical: the sample among the RealTimeQA texts on Afghanistan or the Taliban "
        "and --distractors Reuters texts, asked questions about the sample",
    )
    parser.add_argument(
        "--questions",
        type=int,
        default=None,
        metavar="N",
        help="only the first N answerable and first N unanswerable questions of each split",
    )
    parser.add_argument("--distractors", type=int, default=1000, metavar="N")
    parser.add_argument(
        "--top-k", type=int, default=TOP_K, help="excerpts per answer (default: %(default)s)"
    )
    chunking = ChunkSettings()
    parser.add_argument("--max-tokens", type=int, default=chunking.max_tokens)
    parser.add_argument(
        "--overlap", type=int, default=chunking.overlap_sentences, help="overlap in sentences"
    )
    parser.add_argument("--no-embed-title", action="store_true")
    parser.add_argument(
        "--vectors",
        choices=("sentences", "text"),
        default="text",
        help="chunking.vectors: chunk vectors as the mean of sentence vectors, or the chunk "
        "embedded whole (default: %(default)s)",
    )
    parser.add_argument(
        "--backend",
        choices=("torch", "onnx", "onnx-int8"),
        default=EmbeddingSettings.model_fields["backend"].default,
        help="embedding.backend (default: %(default)s)",
    )
    parser.add_argument(
        "--langchain",
        action="store_true",
        help="also build the LangChain baseline (benchmarks/langchain_pipeline.py) on the same "
        "corpus and score its passages (needs the bench extra)",
    )
    parser.add_argument(
        "--variants",
        default=None,
        help="comma-separated variant names to run (default: all): 'hybrid (defaults)', "
        "'dense only', 'no relevance floor', 'BM25 on every word', and rrf_k=, per_article=, "
        "candidates= at values "
        "other than the defaults (rrf_k 10/20/60, per_article 1/2/3, candidates 20/40/80, "
        "quote_chars 420/600/800, rerank 0/10/20, lexical_max_df 0.05/0.1/1.0, "
        "lexical_max_terms 0/3/4/5)",
    )
    parser.add_argument(
        "--floors",
        default=",".join(f"{f:.2f}" for f in FLOORS),
        help="answer floors (search.min_similarity) to sweep, comma-separated; '' skips "
        "(default: %(default)s)",
    )
    parser.add_argument("--out", type=Path, default=None, help="also write results as JSON")
    parser.add_argument(
        "--workdir",
        default=str(
            Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "newsbot-quality"
        ),
        help="where built indexes are cached (default: %(default)s)",
    )
    parser.add_argument(
        "--reuse-embeddings",
        action="store_true",
        help="remember question and sentence vectors across variants: much faster, but only "
        "the first variant's latency is then end to end",
    )
    parser.add_argument(
        "--rebuild", action="store_true", help="ingest from scratch even if cached or partial"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    floors = [float(f) for f in args.floors.split(",") if f.strip()]
    for path in (RTQA_QUESTIONS, RTQA_ARTICLES, REUTERS_ARTICLES, SAMPLE_ARTICLE):
        if not path.exists():
            raise SystemExit(f"missing data file {path} (see ../shared/eval/README.md)")

    timings: dict[str, float] = {}
    machine_at_start = machine_line()
    version = code_version()  # the code imported now is the code measured
    started = time.perf_counter()
    corpus = (
        load_topical_corpus(args.distractors)
        if args.split == "topical"
        else load_corpus(args.split, args.questions, args.distractors)
    )
    timings["load_data_s"] = time.perf_counter() - started
    log(f"corpus: {len(corpus.articles)} articles, {len(corpus.questions)} questions")

    started = time.perf_counter()
    library, ingest = open_index(corpus, args)
    timings["open_or_ingest_s"] = time.perf_counter() - started
    base = library.settings
    variants = build_variants(base.search)
    if args.variants:
        wanted = {name.strip() for name in args.variants.split(",")}
        unknown = wanted - {v.name for v in variants}
        if unknown:
            library.close()
            names = "; ".join(v.name for v in variants)
            raise SystemExit(f"unknown variants: {', '.join(sorted(unknown))} (known: {names})")
        variants = [v for v in variants if v.name in wanted]
    try:
        started = time.perf_counter()
        library.ask("warm-up question about the news", top_k=args.top_k)  # loads the model
        timings["model_load_s"] = time.perf_counter() - started
        if args.reuse_embeddings:
            memo = MemoEmbedder(library.embedder)
            library.close()
            library = Library.open(base, embedder=cast(Embedder, memo), clock=CLOCK)

        results: dict[str, list[Outcome]] = {}
        for variant in variants:
            library.settings = base.model_copy(
                update={"search": base.search.model_copy(update=variant.search)}
            )
            started = time.perf_counter()
            results[variant.name] = ask_all(library, corpus.questions, args.top_k)
            timings[f"variant {variant.name} s"] = time.perf_counter() - started
            log(f"  {variant.name}: {timings[f'variant {variant.name} s']:.0f} s")
        library.settings = base

        started = time.perf_counter()
        similarity = top_similarities(library, corpus.questions)
        timings["similarity_scan_s"] = time.perf_counter() - started

        # The floor sweep needs answers, not timings: always reuse vectors for it.
        if floors and not args.reuse_embeddings:
            inner = library.embedder
            library.close()
            library = Library.open(base, embedder=cast(Embedder, MemoEmbedder(inner)), clock=CLOCK)
        sweep: dict[float, dict[str, Outcome]] = {}
        started = time.perf_counter()
        for floor in floors:
            library.settings = base.model_copy(
                update={"search": base.search.model_copy(update=floor_update(base.search, floor))}
            )
            sweep[floor] = {
                o.question_id: o for o in ask_all(library, corpus.questions, args.top_k)
            }
            log(f"  floor {floor:.2f} done")
        library.settings = base
        timings["floor_sweep_s"] = time.perf_counter() - started
    finally:
        library.close()

    langchain_report: dict[str, Any] | None = None
    if args.langchain:
        started = time.perf_counter()
        results[LANGCHAIN], results[LANGCHAIN_SENTENCE], langchain_report = langchain_outcomes(
            corpus, args
        )
        timings["langchain_s"] = time.perf_counter() - started

    groups = [g for g in ("dev", "test") if any(q.group == g for q in corpus.questions)]
    groups.append("sample")
    if any(q.group == "topical" for q in corpus.questions):
        groups.append("topical")
    summary: dict[str, dict[str, dict[str, Any]]] = {}
    for position, (name, outcomes) in enumerate(results.items()):
        offtopic = [o for o in outcomes if o.group == "offtopic"]
        refused = sum(not o.answered for o in offtopic) / len(offtopic)
        summary[name] = {}
        for group in groups:
            summary[name][group] = summarise([o for o in outcomes if o.group == group])
            summary[name][group]["offtopic_nothing_found"] = refused
            summary[name][group]["latency_warm"] = args.reuse_embeddings and position > 0
            if name in (LANGCHAIN, LANGCHAIN_SENTENCE):  # no quotes to report
                for k in RECALL_AT:
                    summary[name][group][f"quote_r@{k}"] = None
            if name == LANGCHAIN:  # passages, no bold sentence
                for k in RECALL_AT:
                    summary[name][group][f"highlight_r@{k}"] = None
    floor_tables: dict[str, list[dict[str, Any]]] = {}
    if sweep:
        for group in groups[:-1]:
            members = [q for q in corpus.questions if q.group in (group, "offtopic", "sample")]
            floor_tables[group] = floor_rows(members, similarity, sweep)

    # -- print --------------------------------------------------------------------------------
    print("# newsbot retrieval quality\n")
    print(f"at start: {machine_at_start}")
    print(f"at end:   {machine_line()}")
    print(f"code: {version}")
    print(
        f"newsbot at {ROOT}; model {base.embedding.identity} ({base.embedding.backend}); chunking "
        f"max_tokens={base.chunking.max_tokens} overlap={base.chunking.overlap_sentences} "
        f"embed_title={base.chunking.embed_title} vectors={base.chunking.vectors}; "
        f"base search {base.search.model_dump()}; "
        f"top_k={args.top_k}"
    )
    print(
        f"corpus: {corpus.counts['realtimeqa_articles']} RealTimeQA + "
        f"{corpus.counts['reuters_distractors']} Reuters distractors + 1 sample article; "
        f"text cleaning: {corpus.text_cleaner}"
    )
    cached = " (cached index)" if ingest["cached"] else ""
    resumed = ingest.get("resumed_from", {}).get("articles", 0)
    added = ingest.get("chunks_added", ingest["chunks"])
    print(
        f"ingest{cached}: {ingest['articles']} articles, {ingest['chunks']} chunks; "
        f"{added} chunks embedded in {ingest['seconds']:.0f} s "
        f"({added / max(ingest['seconds'], 1e-9):.1f} chunks/s)"
        + (f", resumed over {resumed} stored articles" if resumed else "")
        + f"; statuses {ingest['statuses']}; index {ingest.get('index_mb', '?')} MB"
    )
    timing_text = ", ".join(f"{k} {v:.0f}" for k, v in timings.items())
    if langchain_report is not None:
        print(
            f"{LANGCHAIN}: {langchain_report['pipeline']}; {langchain_report['chunks']} chunks, "
            f"built in {langchain_report['seconds']:.0f} s"
        )
    print(f"timings: {timing_text}\n")

    for group in groups:
        any_variant = next(iter(summary.values()))[group]
        title = {
            "dev": "dev (weeks < 20260101: tune on these)",
            "test": "test (weeks >= 20260101: report only, never tune)",
            "sample": "sample article (tests/fixtures/sample_questions.jsonl)",
            "topical": "sample article, topical questions (tests/fixtures/topical_questions.jsonl)",
        }[group]
        print(
            f"## {title}: {any_variant['answerable']} answerable, "
            f"{any_variant['unanswerable']} unanswerable questions\n"
        )
        print(results_table([(name, s[group]) for name, s in summary.items()]))
        if args.reuse_embeddings and len(summary) > 1:
            print(
                "\n\\* --reuse-embeddings: vectors cached by the first variant, so this "
                "latency leaves out most of the model time"
            )
        labelled = summary.get("hybrid (defaults)", next(iter(summary.values())))[group].get(
            "hits_from_labelled_article"
        )
        print(
            f"\nPassage hits (hybrid defaults) whose article is labelled with the answer: "
            f"{_pct(labelled)}% (the rest match the answer string elsewhere)\n"
        )
        if group in floor_tables:
            print(
                f"### relevance floor ({group}; off-topic: {len(OFF_TOPIC_QUESTIONS)} "
                "questions written in this script)\n"
            )
            print(
                "'cosine only': answered when the best chunk's cosine reaches the floor. "
                "'newsbot': library.ask with search.min_similarity at the floor (and "
                "passage_min_similarity no higher), hybrid defaults otherwise.\n"
            )
            print(floor_table(floor_tables[group]))
            for kind, members in (
                ("answerable", [q for q in corpus.questions if q.group == group and q.answerable]),
                (
                    "unanswerable",
                    [q for q in corpus.questions if q.group == group and not q.answerable],
                ),
                ("off-topic", [q for q in corpus.questions if q.group == "offtopic"]),
            ):
                values = [similarity[q.id] for q in members]
                print(f"\ntop cosine, {kind}: {similarity_summary(values)}", end="")
            print("\n")

    if args.out:
        payload = {
            "machine": {"start": machine_at_start, "end": machine_line()},
            "code": version,
            "settings": base.model_dump(mode="json", exclude={"telegram"}),
            "corpus": corpus.counts,
            "ingest": ingest,
            "timings_s": {k: round(v, 2) for k, v in timings.items()},
            "variants": {v.name: v.search for v in variants},
            "summary": summary,
            "floors": floor_tables,
            "questions": {
                q.id: {
                    "group": q.group,
                    "question": q.text,
                    "answer": q.answer,
                    "top_similarity": round(similarity[q.id], 4),
                }
                for q in corpus.questions
            },
            "outcomes": {name: [asdict(o) for o in outs] for name, outs in results.items()},
        }
        args.out.write_text(json.dumps(payload, indent=1))
        log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
