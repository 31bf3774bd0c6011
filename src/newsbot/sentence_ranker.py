"""Which sentence answers: evidence for each sentence of the candidate passages, weighed by a
few weights fitted on the RealTimeQA development weeks.

A sentence that resembles the question (cosine) is not always the one that answers it: it
may restate the question's preamble, or define the thing the question names. So beside
resemblance the ranker weighs the question's rare words and word pairs found in the sentence,
whether it holds something new of the kind asked for (a name the question lacks, a date, a
number), and where retrieval put its passage. How the weights were fitted, what else was
tried, and what they give: ``benchmarks/fit_ranker.py`` and ``benchmarks/README.md``.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from newsbot.index.lexical import is_content_word
from newsbot.question import AnswerType, QuestionShape
from newsbot.text import words

# A word in capitals inside a sentence: a name, a place, an organisation, a title.
_CAPITALISED = re.compile(r"(?<![\w'\u2019])[A-Z][\w'\u2019&.-]*")  # ' or a curly one inside
# A word that is a number: it has a digit, or it is a number's name.
_NUMBER_WORD = re.compile(
    r"\w*\d\w*|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty"
    r"|thirty|forty|fifty|hundred|thousand|million|billion|trillion|dozen|half)\b",
    re.IGNORECASE,
)
_DATE = re.compile(
    r"\b(?:1[89]\d\d|20\d\d)\b|\b(?:jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec)\.|\b(?:january"
    r"|february|march|april|may|june|july|august|september|october|november|december|monday"
    r"|tuesday|wednesday|thursday|friday|saturday|sunday|yesterday|tomorrow|tonight"
    r"|last (?:week|month|year)|next (?:week|month|year))\b",
    re.IGNORECASE,
)
_QUOTED = re.compile(r"[\u201c\"\u2018][^\u201d\"\u2019]{2,80}[\u201d\"\u2019]")  # curly too

FEATURES = (
    "cosine",  # the sentence's cosine similarity to the question
    "overlap",  # IDF-weighted share of the question's content words the sentence holds
    "phrase",  # share of the question's word pairs the sentence holds, in order
    "new_names",  # capitalised words the question does not have (0-1, saturating at 3)
    "type_match",  # holds the kind of answer the question asks for
    "passage_rank",  # 1 / (1 + the passage's rank in retrieval)
    "first_passage",  # the passage opens its article
)
# How much each feature counts; only the order of the scores matters. Fitted by
# benchmarks/fit_ranker.py (the block is rewritten by its --write).
# fitted: begin
# 262 development questions, 19853 sentences, 10 passages each
_FITTED = {
    "cosine": 3.8508,
    "overlap": 3.6948,
    "phrase": 14.0134,
    "new_names": 2.8758,
    "type_match": 3.2276,
    "passage_rank": 0.9905,
    "first_passage": 2.7994,
}
# fitted: end
WEIGHTS = np.array([_FITTED.get(name, 0.0) for name in FEATURES], dtype=np.float32)


def stem(word: str) -> str:
    # A crude prefix stem: "elections"/"election", "ministers"/"minister" meet; cheap and
    # language-agnostic, which matters more here than linguistic precision.
    return word[:6]


@dataclass(frozen=True, slots=True)
class PassageInfo:
    """What retrieval knows of a candidate passage."""

    rank: int  # 0 for the best
    opens_article: bool


def _idf(terms: Sequence[str], bags: Sequence[set[str]]) -> dict[str, float]:
    """IDF of each question term over the candidate sentences (their stem bags).

    A word the question shares with every candidate (the story's subject) tells them apart
    no better than chance; a word only one sentence has (a place, a name) is the evidence.
    """
    total = len(bags)
    return {
        t: math.log(1.0 + total / (1.0 + sum(1 for bag in bags if stem(t) in bag))) for t in terms
    }


def _share(weights: dict[str, float], bag: set[str]) -> float:
    if not weights:
        return 0.0
    found = sum(weight for term, weight in weights.items() if stem(term) in bag)
    return found / sum(weights.values())


def features(
    shape: QuestionShape,
    sentences: Sequence[str],
    cosines: np.ndarray,
    passages: Sequence[PassageInfo],
) -> np.ndarray:
    """The feature matrix (one row per sentence, columns as :data:`FEATURES`);
    ``passages[i]`` describes the passage ``sentences[i]`` comes from."""
    rows = np.zeros((len(sentences), len(FEATURES)), dtype=np.float32)
    stems = [[stem(w) for w in words(s)] for s in sentences]
    bags = [set(ss) for ss in stems]
    weights = _idf(shape.terms, bags)
    question_stems = {stem(w) for w in shape.words}
    pairs = _pairs(shape.ordered_words)
    column = {name: n for n, name in enumerate(FEATURES)}
    rows[:, column["cosine"]] = cosines
    for i, (sentence, sentence_stems, bag) in enumerate(zip(sentences, stems, bags, strict=True)):
        names = {
            name
            for m in _CAPITALISED.finditer(sentence)
            if m.start() > 0  # a sentence's first word is capitalised anyway
            and (name := m.group().lower().strip(".'\u2019"))
            and stem(name) not in question_stems
        }
        row = rows[i]
        row[column["overlap"]] = _share(weights, bag)
        if pairs:
            # As _pairs, lone letters skipped; the question's pairs hold a content word already.
            kept = (s for s in sentence_stems if len(s) > 1 or s.isdigit())
            found = pairs.intersection(itertools.pairwise(kept))
            row[column["phrase"]] = len(found) / len(pairs)
        row[column["new_names"]] = min(len(names), 3) / 3
        row[column["type_match"]] = _type_match(shape.answer_type, sentence, names, question_stems)
        row[column["passage_rank"]] = 1.0 / (1.0 + passages[i].rank)
        row[column["first_passage"]] = passages[i].opens_article
    return rows


def _pairs(words: Sequence[str]) -> set[tuple[str, str]]:
    """Adjacent word pairs (stemmed) with a content word in them: "best airport", "in Kabul".

    A lone letter (the "s" of "Taliban's") is skipped, so "the Taliban's spokesman" meets
    "Taliban spokesman".
    """
    kept = [w for w in words if len(w) > 1 or w.isdigit()]
    return {
        (stem(a), stem(b))
        for a, b in itertools.pairwise(kept)
        if is_content_word(a) or is_content_word(b)
    }


def _type_match(
    answer_type: AnswerType | None, sentence: str, names: set[str], question_stems: set[str]
) -> float:
    """Whether ``sentence`` holds something new of the kind asked for (only what the type
    needs is looked for: this runs for every candidate sentence of every question)."""
    if answer_type is None:
        return 0.0
    if answer_type is AnswerType.NUMBER:
        numbers = (m.group().lower() for m in _NUMBER_WORD.finditer(sentence))
        return float(
            any(ch in sentence for ch in "$€£%")
            or any(stem(n) not in question_stems for n in numbers)
        )
    if answer_type is AnswerType.DATE:
        return float(_DATE.search(sentence) is not None)
    if answer_type is AnswerType.NAME:
        return float(bool(names) or _QUOTED.search(sentence) is not None)
    return float(bool(names))  # a person or a place: a name the question does not have


def scores(rows: np.ndarray) -> np.ndarray:
    """How well each sentence answers (higher is better)."""
    return rows @ WEIGHTS
