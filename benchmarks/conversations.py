"""The conversational evaluation set: follow-up questions written from RealTimeQA news articles.

``benchmarks/conversations.jsonl`` holds two kinds of entry, one JSON object per line:

- ``"kind": "conversation"``: two or three turns about one article. The first question can be
  answered on its own; the later ones cannot ("Who is its mayor?", "And a nickel?", "Why?"):
  they lean on the turn before through a pronoun, an ellipsis or a definite "the company".
- ``"kind": "standalone"``: a question that looks like a follow-up (short, "Who is X?", a
  pronoun with its noun, "is it true that ...") but stands on its own, asked right after an
  unrelated question (the entry's first turn). Expanding it with the earlier turn's words
  must not make it score worse.

Each entry is ``{"id", "split": "dev" | "test", "kind", "turns": [{"question", "answer",
"article_id"}, ...]}``. The questions were written for this set, not copied; each answer is a
short string that appears verbatim in its article as the library stores it (the text of
``../shared/eval/realtimeqa/articles.jsonl`` after ``newsbot.ingest.clean.clean_text``).
``dev`` entries use articles published before 2026 that the development questions (weeks
before 20260101) retrieved; ``test`` entries, held out, use 2026 articles that the test
questions retrieved. Tune on ``dev`` only.

The measurement this set is for (wired once the library answers follow-ups; not here yet):
ingest the articles of a split with distractors, as ``quality.py`` does, and ask every entry's
turns in order in one chat, once with follow-up handling and once with each question asked on
its own. Report, for the later turns of conversations, answer recall at 1 and 3 on the bold
sentences, the quotes and the passages with and without context; and for the second turn of
standalone entries the same recall with and without it, which must not drop.

Usage:
    python benchmarks/conversations.py --check   # validate the set, print its size
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import RTQA_ARTICLES, RTQA_QUESTIONS, read_jsonl

from newsbot.conversation import leans_on_previous
from newsbot.ingest.clean import clean_text

SET = Path(__file__).resolve().parent / "conversations.jsonl"
SPLITS = ("dev", "test")
KINDS = ("conversation", "standalone")
# The size the set promises; a check fails when an edit shrinks it below this.
MINIMUM = {("dev", "conversation"): 30, ("test", "conversation"): 10}
MINIMUM_STANDALONE = 20
# Words of a question in a row that, found in its article, mean it was copied, not written.
COPIED_RUN = 8
TEST_FROM = "2026-01-01"  # published on or after: a held-out article
TEST_WEEK = "20260101"  # RealTimeQA weeks from this one on are the held-out test questions
_WORD = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class CaseTurn:
    """One question of an entry, the string that answers it, and the article that holds it."""

    question: str
    answer: str
    article_id: str


@dataclass(frozen=True, slots=True)
class Case:
    """One entry of the set: a conversation, or a standalone question after an unrelated one."""

    id: str
    split: str
    kind: str
    turns: tuple[CaseTurn, ...]

    @property
    def later_turns(self) -> tuple[CaseTurn, ...]:
        """The turns after the first: the follow-ups of a conversation, or the standalone
        question of a standalone entry."""
        return self.turns[1:]


def _case(record: dict[str, Any]) -> Case:
    """An entry from its JSON object; ValueError says what is wrong with it."""
    if set(record) != {"id", "split", "kind", "turns"}:
        raise ValueError(f"keys must be id, split, kind, turns; got {sorted(record)}")
    split, kind, turns = record["split"], record["kind"], record["turns"]
    if split not in SPLITS or kind not in KINDS:
        raise ValueError(f"split must be one of {SPLITS} and kind one of {KINDS}")
    allowed = (2, 3) if kind == "conversation" else (2,)
    if not isinstance(turns, list) or len(turns) not in allowed:
        raise ValueError(f"a {kind} has {' or '.join(map(str, allowed))} turns")
    parsed = []
    for turn in turns:
        if not isinstance(turn, dict) or set(turn) != {"question", "answer", "article_id"}:
            raise ValueError("each turn is {question, answer, article_id}")
        if not all(isinstance(v, str) and v.strip() for v in turn.values()):
            raise ValueError("question, answer and article_id are non-empty strings")
        parsed.append(CaseTurn(turn["question"], turn["answer"], turn["article_id"]))
    return Case(str(record["id"]), split, kind, tuple(parsed))


def load_cases(path: Path = SET) -> list[Case]:
    """The entries of the set, in file order.

    Raises:
        ValueError: a line is not JSON or not a valid entry (the message gives its number).
    """
    cases = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                cases.append(_case(json.loads(line)))
            except (ValueError, TypeError, KeyError) as error:
                raise ValueError(f"{path.name}:{number}: {error}") from error
    return cases


def _holds(text: str, phrase: str) -> bool:
    """Whether ``phrase`` is in ``text``, whatever the case, and not inside a longer word
    ("olo" is not in "color")."""
    return re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text, re.IGNORECASE) is not None


def _copied(question: str, text_words: str) -> bool:
    """Whether COPIED_RUN words of ``question`` in a row appear in the article's words."""
    words = [w.lower() for w in _WORD.findall(question)]
    return any(
        f" {' '.join(words[i : i + COPIED_RUN])} " in text_words
        for i in range(len(words) - COPIED_RUN + 1)
    )


def problems(
    cases: Sequence[Case],
    articles: dict[str, dict[str, Any]],
    retrieved: dict[str, set[str]],
) -> list[str]:
    """What is wrong with the set, one line per problem (empty when it is valid).

    Args:
        cases: The entries.
        articles: RealTimeQA articles by id.
        retrieved: Per split, the ids of the articles its questions retrieved.
    """
    found: list[str] = []
    for id_, count in Counter(case.id for case in cases).items():
        if count > 1:
            found.append(f"{id_}: the id is used {count} times")
    cleaned: dict[str, str] = {}
    for case in cases:
        for n, turn in enumerate(case.turns, 1):
            where = f"{case.id} turn {n}"
            article = articles.get(turn.article_id)
            if article is None:
                found.append(f"{where}: no article {turn.article_id}")
                continue
            text = cleaned.setdefault(turn.article_id, clean_text(article["text"]))
            if turn.answer not in text or turn.answer not in article["text"]:
                found.append(f"{where}: {turn.answer!r} is not in {turn.article_id}'s text")
            if _holds(turn.question, turn.answer):
                found.append(f"{where}: the question gives its answer away")
            if _copied(turn.question, f" {' '.join(_WORD.findall(text.lower()))} "):
                found.append(f"{where}: the question copies its article's words")
            held_out = article["published"] >= TEST_FROM
            if held_out != (case.split == "test"):
                found.append(f"{where}: a {article['published']} article in the {case.split} split")
            if turn.article_id not in retrieved[case.split]:
                found.append(f"{where}: {turn.article_id} was not retrieved for {case.split}")
    sizes = Counter((case.split, case.kind) for case in cases)
    for (split, kind), least in MINIMUM.items():
        if sizes[split, kind] < least:
            found.append(f"{split}: {sizes[split, kind]} {kind}s, fewer than {least}")
    standalone = sum(n for (_, kind), n in sizes.items() if kind == "standalone")
    if standalone < MINIMUM_STANDALONE:
        found.append(f"{standalone} standalone entries, fewer than {MINIMUM_STANDALONE}")
    return found


def describe(cases: Sequence[Case]) -> list[str]:
    """The set's size per split and kind, and how newsbot's follow-up test reads it."""
    lines = []
    for split in SPLITS:
        for kind in KINDS:
            chosen = [c for c in cases if c.split == split and c.kind == kind]
            turns = Counter(len(c.turns) for c in chosen)
            shape = ", ".join(f"{n} of {k} turns" for k, n in sorted(turns.items()))
            lines.append(f"{split} {kind}s: {len(chosen)} ({shape})")
    firsts = [c.turns[0].question for c in cases]
    later = [t.question for c in cases if c.kind == "conversation" for t in c.later_turns]
    alone = [t.question for c in cases if c.kind == "standalone" for t in c.later_turns]
    lines += [
        f"later turns read as leaning on the one before: {_leaning(later)}",
        f"first turns read as leaning (should stand alone): {_leaning(firsts)}",
        f"standalone questions read as leaning (a reply would expand them): {_leaning(alone)}",
    ]
    return lines


def _leaning(questions: Iterable[str]) -> str:
    flags = [leans_on_previous(q) for q in questions]
    return f"{sum(flags)} of {len(flags)}"


def _retrieved_by_split() -> dict[str, set[str]]:
    retrieved: dict[str, set[str]] = {split: set() for split in SPLITS}
    for question in read_jsonl(RTQA_QUESTIONS):
        split = "test" if question["week"] >= TEST_WEEK else "dev"
        retrieved[split].update(question["retrieved_article_ids"])
    return retrieved


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="validate the set and describe it")
    parser.add_argument("--set", type=Path, default=SET, help="the JSON Lines file to read")
    args = parser.parse_args(argv)
    if not args.check:
        parser.error("nothing to do: the measurement is not wired yet (see the docstring)")
    try:
        cases = load_cases(args.set)
    except ValueError as error:
        print(f"invalid: {error}", file=sys.stderr)
        return 1
    articles = {a["id"]: a for a in read_jsonl(RTQA_ARTICLES)}
    found = problems(cases, articles, _retrieved_by_split())
    for line in found:
        print(f"invalid: {line}")
    for line in describe(cases):
        print(line)
    print("invalid" if found else "valid", f"({len(cases)} entries, {args.set.name})")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
