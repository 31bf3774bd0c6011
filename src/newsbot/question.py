"""What a question asks for: the kind of answer it expects (a person, a place, a date, a
number, a named thing), read from the clause that holds its question word.

Quiz and chat questions often carry a preamble ("The minister resigned on Monday after a
funding scandal. Who replaced her?"); the asking clause, not the preamble, says what kind of
thing answers. A sentence that holds that kind of thing is evidence that it answers. The rules
are English; a question in another language has no type, and its sentences are ranked on
similarity and shared words (benchmarks/README.md: weighting the asking clause's words more
was measured and not taken).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from newsbot.index.lexical import is_content_word
from newsbot.text import words

_WH = re.compile(r"\b(?:who|whom|whose|what|which|when|where|why|how)\b", re.IGNORECASE)
# The question's clauses: a preamble sentence, or a lead-in before a comma ("According to a
# recent study, which animal ...").
_CLAUSE = re.compile(r"(?<=[.!?;:])\s+|,\s+")


class AnswerType(enum.Enum):
    PERSON = "person"
    PLACE = "place"
    DATE = "date"
    NUMBER = "number"
    NAME = "name"  # which/what X: a named thing, often capitalised or in quotes


_PLACE_NOUNS = (
    "country|countries|city|cities|state|states|nation|region|town|island|continent|province"
    "|county|capital|village|port|territory|river|mountain|sea|ocean|airport|venue|location"
)
_TYPE_RULES: tuple[tuple[AnswerType, re.Pattern[str]], ...] = (
    (
        AnswerType.NUMBER,
        re.compile(
            r"\bhow (?:many|much|old|long|far|tall|big|large|high|fast|often)\b"
            r"|\bwhat (?:percentage|percent|share|number|amount|age|price|sum|proportion)\b",
            re.IGNORECASE,
        ),
    ),
    (
        AnswerType.DATE,
        re.compile(
            r"\bwhen\b|\b(?:what|which) (?:year|day|month|date|decade|century|time)\b"
            r"|\bin what year\b",
            re.IGNORECASE,
        ),
    ),
    (AnswerType.PERSON, re.compile(r"\bwho(?:m|se)?\b", re.IGNORECASE)),
    (
        AnswerType.PLACE,
        re.compile(rf"\bwhere\b|\b(?:which|what) (?:\w+ )?(?:{_PLACE_NOUNS})\b", re.IGNORECASE),
    ),
    (AnswerType.NAME, re.compile(r"\b(?:which|what)\b", re.IGNORECASE)),
)


def clean_question(text: str, limit: int) -> str:
    """A question as it is searched: whitespace runs made one space, cut at ``limit``."""
    return " ".join(text.split())[:limit]


def has_words(text: str) -> bool:
    """Whether ``text`` holds a letter or digit: emoji and punctuation alone ask nothing."""
    return any(ch.isalnum() for ch in text)


@dataclass(frozen=True, slots=True)
class QuestionShape:
    """What the sentence ranker reads of a question."""

    ordered_words: tuple[str, ...]  # the lower-cased words of the question, in order
    terms: tuple[str, ...]  # its content words, in order, once each
    answer_type: AnswerType | None  # what the clause with the question word asks for

    @property
    def words(self) -> frozenset[str]:
        return frozenset(self.ordered_words)


def analyse(question: str) -> QuestionShape:
    """The words of ``question`` and the answer type its asking clause expects (none when no
    rule applies)."""
    ordered = tuple(words(question))
    terms = tuple(dict.fromkeys(filter(is_content_word, ordered)))
    clauses = [c for c in _CLAUSE.split(question) if c.strip()]
    # The last clause with a question word is what is asked; the ones before set the scene
    # ("The minister who resigned on Monday ... Where is she now?" asks for a place).
    asking = next((c for c in reversed(clauses) if _WH.search(c)), None)
    answer_type = None
    if asking is not None:
        answer_type = next((t for t, rule in _TYPE_RULES if rule.search(asking)), None)
    return QuestionShape(ordered, terms, answer_type)
