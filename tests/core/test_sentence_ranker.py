"""The evidence that a sentence answers: each feature of the ranker, on sentences made for it."""

from __future__ import annotations

import numpy as np

from newsbot import sentence_ranker
from newsbot.question import analyse
from newsbot.sentence_ranker import FEATURES, PassageInfo


def table(question: str, sentences: list[str], owners: list[int] | None = None) -> np.ndarray:
    owners = owners or [0] * len(sentences)
    passages = [PassageInfo(owner, owner == 0) for owner in owners]
    cosines = np.linspace(0.6, 0.4, len(sentences)).astype(np.float32)
    return sentence_ranker.features(analyse(question), sentences, cosines, passages)


def column(rows: np.ndarray, name: str) -> list[float]:
    return [round(float(v), 4) for v in rows[:, FEATURES.index(name)]]


def test_a_name_the_question_lacks_matches_who() -> None:
    rows = table(
        "Who replaced the minister after the funding scandal?",
        [
            "The minister resigned after the funding scandal.",
            "Her deputy, Jane Roe, takes over the ministry.",
        ],
    )
    assert column(rows, "type_match") == [0.0, 1.0]
    assert column(rows, "new_names") == [0.0, round(2 / 3, 4)]  # Jane, Roe


def test_numbers_and_dates_match_how_many_and_when() -> None:
    sentences = [
        "The penny is no longer worth making, officials said.",
        "About 114 billion pennies are in circulation, the Federal Reserve said.",
        "Production stops in January 2026, the Treasury said.",
    ]
    how_many = table("How many pennies are in circulation?", sentences)
    assert column(how_many, "type_match") == [0.0, 1.0, 1.0]  # 2026 is a number too
    when = table("When will production of the penny stop?", sentences)
    assert column(when, "type_match") == [0.0, 0.0, 1.0]


def test_rare_question_words_and_word_pairs_count() -> None:
    rows = table(
        "Which country is home to the world's best airport?",
        [
            "Airports in the country were busy over the holiday.",
            "Changi in Singapore was again named the world's best airport.",
        ],
    )
    overlap, phrase = column(rows, "overlap"), column(rows, "phrase")
    assert overlap[1] > overlap[0] and phrase[1] > phrase[0] == 0.0
    # "world s", "s best", "best airport", "the world" and "to the"... in order, stemmed.
    assert 0 < phrase[1] < 1


def test_passage_features() -> None:
    rows = table(
        "Which team does he play for?",
        ["Ovechkin scored again.", "He plays for Washington.", "Another story starts here."],
        owners=[0, 0, 1],
    )
    assert column(rows, "passage_rank") == [1.0, 1.0, 0.5]
    assert column(rows, "first_passage") == [1.0, 1.0, 0.0]
    assert column(rows, "cosine") == [0.6, 0.5, 0.4]


def test_the_fitted_weights_prefer_the_sentence_that_answers() -> None:
    rows = table(
        "Which comedian won the top prize at the Edinburgh festival?",
        [
            "The top prize at the festival is one of comedy's most coveted awards.",
            "The comedian Ada Smith won the top prize at the festival for her debut.",
        ],
    )
    rows[:, FEATURES.index("cosine")] = 0.5  # alike by meaning: the other evidence decides
    scores = sentence_ranker.scores(rows)
    assert scores[1] > scores[0]


def test_another_language_has_no_type_evidence() -> None:
    rows = table("Wer hat das Tal eingenommen?", ["Die Taliban haben das Tal eingenommen."])
    assert column(rows, "type_match") == [0.0]
    assert np.isfinite(sentence_ranker.scores(rows)).all()


def test_no_sentences() -> None:
    assert table("Who?", []).shape == (0, len(FEATURES))
