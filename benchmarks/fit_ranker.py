"""Fit the sentence ranker's weights (``newsbot/sentence_ranker.py``) on the development weeks.

For every answerable development question, newsbot retrieves its candidate passages as
``ask`` does (``--pool`` of them, in retrieval order); every sentence of them that may be
highlighted (not furniture, not a short line) is a row of the ranker's features, labelled by
whether it holds the answer string (the eval README's matching rule).

The weights are what the reader sees, optimised directly: a logistic regression on
standardised features gives the starting point, then coordinate ascent moves one weight at a
time while the number of questions whose best sentence holds the answer, plus those where one
of the best sentences of three distinct passages does, grows. Grouped 5-fold cross-validation
by question (twice, reshuffled) reports both rates for the fitted weights and for the rule
before (cosine + word overlap); then the weights are fitted on all the questions, folded back
onto the raw features and printed (``--write`` puts them in ``sentence_ranker.py``).

Only the development weeks are read: the test weeks stay held out for ``quality.py``.

Usage:
    python benchmarks/fit_ranker.py --questions 262 --distractors 1000 [--write]
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from quality import (
    CLOCK,
    Question,
    answer_pattern,
    contains,
    load_corpus,
    open_index,
    parse_args,
)

from newsbot import sentence_ranker
from newsbot.answer import is_statement, sentence_table
from newsbot.furniture import is_furniture
from newsbot.library import Library
from newsbot.question import analyse
from newsbot.sentence_ranker import FEATURES, PassageInfo

RANKER = Path(sentence_ranker.__file__)
_BLOCK = re.compile(r"(# fitted: begin\n).*?(# fitted: end\n)", re.DOTALL)
STEPS = (1.0, 0.5, 0.25, 0.1)

# One question: its sentences' features, whether each holds the answer, its passage's index.
Group = tuple[np.ndarray, np.ndarray, list[int]]


def question_rows(library: Library, question: Question, pool: int) -> Group:
    """The features, labels and passage index of each sentence that may be highlighted, the
    question asked on its quiz day, as quality.py asks it."""
    CLOCK.now = question.asked_at or datetime.now(UTC)
    answer = library.ask(question.text, top_k=pool)
    if not answer.answered or question.answer is None:
        return np.zeros((0, len(FEATURES))), np.zeros(0), []
    pattern = answer_pattern(question.answer)
    # The features exactly as quoting reads them: over every sentence of the candidates.
    table = sentence_table(
        analyse(answer.question),
        library.embedder.embed([answer.question])[0],
        [item.passage.chunk for item in answer.passages],
        [PassageInfo(n, item.passage.chunk.index == 0) for n, item in enumerate(answer.passages)],
        lambda texts: library.sentences.embed(texts, library.embedder.embed),
    )
    # Only what may be bold is ranked.
    keep = [not is_furniture(s) and is_statement(s) for s in table.sentences]
    if not any(keep):
        return np.zeros((0, len(FEATURES))), np.zeros(0), []
    labels = np.array(
        [contains(pattern, s) for s, k in zip(table.sentences, keep, strict=True) if k],
        dtype=np.float32,
    )
    owners = [o for o, k in zip(table.owners, keep, strict=True) if k]
    return table.rows[keep], labels, owners


def top_hits(scores: np.ndarray, labels: np.ndarray, owners: Sequence[int], k: int) -> bool:
    """Whether one of the ``k`` best sentences, one per passage, holds the answer."""
    seen: set[int] = set()
    for i in np.argsort(-scores, kind="stable"):
        if owners[i] in seen:
            continue
        seen.add(owners[i])
        if labels[i]:
            return True
        if len(seen) == k:
            return False
    return False


def reader_hits(weights: np.ndarray, groups: Sequence[Group]) -> tuple[int, int]:
    """Questions whose best sentence holds the answer, and whose best three (one per
    passage) do."""
    at1 = at3 = 0
    for rows, labels, owners in groups:
        if len(labels):
            scores = rows @ weights
            at1 += top_hits(scores, labels, owners, 1)
            at3 += top_hits(scores, labels, owners, 3)
    return at1, at3


def fit(groups: Sequence[Group], mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Weights on standardised features: a logistic regression, then coordinate ascent on
    the reader's hits (top 1 + top 3)."""
    from sklearn.linear_model import LogisticRegression

    z = [((rows - mean) / std, labels, owners) for rows, labels, owners in groups]
    x = np.concatenate([g[0] for g in z])
    y = np.concatenate([g[1] for g in z])
    start = LogisticRegression(C=0.1, max_iter=3000).fit(x, y).coef_[0]
    weights = start / np.abs(start).max()
    best = sum(reader_hits(weights, z))
    for step in STEPS:
        improved = True
        while improved:
            improved = False
            for j in range(len(weights)):
                for delta in (step, -step):
                    trial = weights.copy()
                    trial[j] += delta
                    hits = sum(reader_hits(trial, z))
                    if hits > best:
                        best, weights, improved = hits, trial, True
    return weights


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--write", action="store_true", help="write the weights into the ranker")
    parser.add_argument("--pool", type=int, default=10, help="candidate passages per question")
    own, rest = parser.parse_known_args(argv)
    args = parse_args(["--split", "dev", *rest])
    from sklearn.model_selection import GroupKFold

    corpus = load_corpus("dev", args.questions, args.distractors)
    library, _ = open_index(corpus, args)
    library.settings.search.rerank = 0  # the candidates in retrieval order, unranked
    try:
        groups = [
            question_rows(library, q, own.pool)
            for q in corpus.questions
            if q.group == "dev" and q.answerable
        ]
    finally:
        library.close()
    x = np.concatenate([g[0] for g in groups])
    y = np.concatenate([g[1] for g in groups])
    reachable = sum(bool(g[1].any()) for g in groups)
    print(
        f"{len(groups)} questions, {len(y)} sentences, {int(y.sum())} hold the answer; "
        f"{reachable / len(groups):.3f} of the questions have one in {own.pool} passages"
    )
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-6
    before = np.zeros(len(FEATURES))
    before[[FEATURES.index("cosine"), FEATURES.index("overlap")]] = 1.0
    totals: dict[str, list[int]] = {"cosine + overlap (before)": [0, 0], "fitted": [0, 0]}
    index = np.arange(len(groups))
    for repeat in range(2):
        for train, test in GroupKFold(5, shuffle=True, random_state=repeat).split(
            index, groups=index
        ):
            weights = fit([groups[i] for i in train], mean, std) / std
            for name, w in (("cosine + overlap (before)", before), ("fitted", weights)):
                at1, at3 = reader_hits(w, [groups[i] for i in test])
                totals[name][0] += at1
                totals[name][1] += at3
    for name, (at1, at3) in totals.items():
        print(
            f"{name}: the best sentence holds the answer {at1 / len(groups) / 2:.3f}, one of "
            f"the best 3 {at3 / len(groups) / 2:.3f} (5-fold by question, twice)"
        )

    weights = fit(groups, mean, std) / std
    lines = [f'    "{name}": {w:.4f},\n' for name, w in zip(FEATURES, weights, strict=True)]
    block = (
        f"# {len(groups)} development questions, {len(y)} sentences, {own.pool} passages each\n"
        "_FITTED = {\n" + "".join(lines) + "}\n"
    )
    print(block)
    if own.write:
        source = RANKER.read_text()
        updated, count = _BLOCK.subn(lambda m: m.group(1) + block + m.group(2), source)
        if count != 1:
            raise SystemExit(f"no '# fitted: begin/end' block in {RANKER}")
        RANKER.write_text(updated)
        print(f"wrote {RANKER}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
