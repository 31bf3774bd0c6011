"""What a question asks for: the kind of answer its asking clause expects."""

from __future__ import annotations

import pytest

from newsbot.question import AnswerType, analyse


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Who took control of the Panjshir valley?", AnswerType.PERSON),
        ("Whose resignation was announced on Monday?", AnswerType.PERSON),
        ("When did the Taliban enter Kabul?", AnswerType.DATE),
        ("In what year was the treaty signed?", AnswerType.DATE),
        ("How many people were evacuated?", AnswerType.NUMBER),
        ("How much is the proposed baby bonus?", AnswerType.NUMBER),
        ("What percentage of voters backed the plan?", AnswerType.NUMBER),
        ("Where will the induction ceremony take place?", AnswerType.PLACE),
        ("Which country is home to the world's best airport?", AnswerType.PLACE),
        ("In which city did the Taliban spokesman speak to reporters?", AnswerType.PLACE),
        ("Which golfer is favoured to win the tournament?", AnswerType.NAME),
        ("What animal has been terrorizing an English village?", AnswerType.NAME),
        ("Tell me about the Panjshir valley", None),
        ("Wer hat das Panjshir-Tal eingenommen?", None),  # another language: no rule
    ],
)
def test_the_expected_answer_type(question: str, expected: AnswerType | None) -> None:
    assert analyse(question).answer_type is expected


def test_the_asking_clause_decides_not_the_preamble() -> None:
    # The preamble has "who"; the question asks where.
    shape = analyse("The minister who resigned on Monday left the country. Where is she now?")
    assert shape.answer_type is AnswerType.PLACE
    shape = analyse("According to a recent study, which animal species heals slowest?")
    assert shape.answer_type is AnswerType.NAME
    shape = analyse("The minister resigned after a funding scandal. Who replaced her?")
    assert shape.answer_type is AnswerType.PERSON
    assert {"minister", "resigned", "scandal", "replaced"} <= set(shape.terms)
    assert shape.ordered_words[:2] == ("the", "minister") and "who" in shape.words
