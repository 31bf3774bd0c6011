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

The measurement: the split's entries are asked of the quality benchmark's cached index
(``quality.py --split SPLIT``, every question by default, so that every article of the set is
in it: same corpus, same key, nothing rebuilt), each entry's turns in order in one chat
(``Library.converse``, recording each answer's turn, 30 s apart, as the bot and ``newsbot chat``
do) three ways:

- **alone**: every question asked on its own (``Library.ask``): the feature off;
- **follow-ups**: a private chat's handling, where a question follows on when it leans on the
  last one (``conversation.follows_on``);
- **replies**: every later question sent as a reply to the answer before it, which always
  follows on (a group's only way): the most expansion can do, and the most it can harm.

The split's answerable quiz questions (quality.py's, 560 dev and 420 test) are asked too, one
after another in one private chat, alone and as follow-ups: every one stands on its own, so the
follow-up handling must leave their scores as they are ("standalone questions must score the
same with the feature on", on hundreds of real questions rather than the set's look-alikes).

Scores, as ``quality.py`` scores them: answer recall at 1 and 3 on the bold sentence, the
quote and the passage (the answer string in that of one of the first ``--top-k``), for the
later turns of conversations and for the standalone questions (which must not drop), and the
share read with context (``Answer.context`` set).

Usage:
    python benchmarks/conversations.py --check   # validate the set, print its size
    python benchmarks/conversations.py --split dev [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from common import (
    RTQA_ARTICLES,
    RTQA_QUESTIONS,
    code_version,
    log,
    machine_line,
    percentile,
    read_jsonl,
)

from newsbot.chat_memory import Conversations
from newsbot.ingest.clean import clean_text
from newsbot.leaning import leans_on_previous
from newsbot.library import Library
from newsbot.models import Answer

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


MODES = ("alone", "follow-ups", "replies")
TURN_SECONDS = 30.0  # between two questions of a conversation: well within its expiry
RECALL = (1, 3)
MEASURES = ("highlight", "quote", "passage")


@dataclass(frozen=True, slots=True)
class Scored:
    """One later turn asked one way: the first rank holding its answer, per measure."""

    case: str
    kind: str
    mode: str
    question: str
    ranks: dict[str, int | None]
    context: list[str] | None
    answered: bool
    seconds: float  # to answer it (two searches when read with context)


def ask_case(library: Library, case: Case, mode: str, top_k: int) -> list[Scored]:
    """Ask ``case``'s turns in order, ``mode`` of MODES; score its later turns."""
    from quality import Question

    conversations = Conversations()
    scored = []
    for number, turn in enumerate(case.turns):
        now = number * TURN_SECONDS
        conversation = conversations.get("chat", now)
        if mode == "alone":
            answer, seconds = _timed(partial(library.ask, turn.question, top_k=top_k))
        else:
            answer, seconds = _timed(
                partial(
                    library.converse,
                    turn.question,
                    conversation,
                    now=now,
                    is_reply=mode == "replies" and number > 0,
                    expiry=conversations.expiry,
                    top_k=top_k,
                )
            )
        if mode != "alone":
            conversations.remember("chat", answer, conversation, now)
        if number == 0:
            continue
        question = Question(
            f"{case.id}-{number}",
            turn.question,
            turn.answer,
            case.kind,
            True,
            frozenset({turn.article_id}),
        )
        scored.append(scored_as(case.id, case.kind, mode, question, answer, seconds))
    return scored


QUIZ = "quiz"  # the kind of the split's quiz questions, asked one after another in one chat
QUIZ_MODES = ("alone", "follow-ups")


def ask_quiz(library: Library, questions: Sequence[Any], top_k: int) -> list[Scored]:
    """Ask the split's answerable quiz questions (quality.py's) one after another in one
    private chat, TURN_SECONDS apart, alone and as follow-ups: each stands on its own and
    follows an unrelated question, so what the feature does to it is what it does to any
    standalone question asked soon after another. Each is asked on its quiz day."""
    from quality import CLOCK

    scored = []
    conversations = Conversations()
    for number, question in enumerate(questions):
        now = number * TURN_SECONDS
        CLOCK.now = question.asked_at or datetime.now(UTC)
        conversation = conversations.get("chat", now)
        ways = {
            "alone": partial(library.ask, question.text, top_k=top_k),
            "follow-ups": partial(
                library.converse,
                question.text,
                conversation,
                now=now,
                expiry=conversations.expiry,
                top_k=top_k,
            ),
        }
        # Taken in turns: the second asking of a question finds the pages the first read in
        # memory, which would flatter whichever way came second.
        order = QUIZ_MODES if number % 2 == 0 else QUIZ_MODES[::-1]
        timed = {mode: _timed(ways[mode]) for mode in order}
        conversations.remember("chat", timed["follow-ups"][0], conversation, now)
        for mode in QUIZ_MODES:
            answer, seconds = timed[mode]
            scored.append(scored_as(question.id, QUIZ, mode, question, answer, seconds))
    return scored


def scored_as(
    case: str, kind: str, mode: str, question: Any, answer: Answer, seconds: float
) -> Scored:
    """``answer`` to quality.py's ``question`` scored as quality.py scores it."""
    from quality import score

    outcome = score(question, answer, 0.0)
    ranks = {
        "highlight": outcome.highlight_rank,
        "quote": outcome.quote_rank,
        "passage": outcome.passage_rank,
    }
    return Scored(case, kind, mode, question.text, ranks, answer.context, answer.answered, seconds)


def _timed(ask: Callable[[], Answer]) -> tuple[Answer, float]:
    started = time.perf_counter()
    answer = ask()
    return answer, time.perf_counter() - started


def summary_row(scored: Sequence[Scored]) -> dict[str, float]:
    """Recall at 1 and 3 per measure, and the shares answered and read with context."""
    n = len(scored)
    row = {
        f"{measure}_r@{k}": sum(
            s.ranks[measure] is not None and s.ranks[measure] <= k  # type: ignore[operator]
            for s in scored
        )
        / n
        for measure in MEASURES
        for k in RECALL
    }
    row["answered"] = sum(s.answered for s in scored) / n
    row["with_context"] = sum(s.context is not None for s in scored) / n
    times = sorted(s.seconds for s in scored)
    row["median_ms"] = 1000 * percentile(times, 50)
    row["p95_ms"] = 1000 * percentile(times, 95)
    return row


def results_table(scored: Sequence[Scored]) -> str:
    """One row per kind and mode: the recall columns, answered, read with context, and the
    time to answer (median and 95th percentile, in one run, both ways interleaved)."""
    head = [f"{m} R@{k}" for m in MEASURES for k in RECALL]
    head += ["answered", "with context", "median ms", "p95 ms"]
    lines = [
        "| questions | asked | " + " | ".join(head) + " |",
        "|---|---|" + "---:|" * len(head),
    ]
    labels = {
        "conversation": "later turns of conversations",
        "standalone": "standalone look-alikes",
        QUIZ: "quiz questions, each after another",
    }
    for kind in (*KINDS, QUIZ):
        for mode in MODES:
            chosen = [s for s in scored if s.kind == kind and s.mode == mode]
            if not chosen:
                continue
            row = summary_row(chosen)
            cells = [f"{100 * row[f'{m}_r@{k}']:.1f}" for m in MEASURES for k in RECALL]
            cells += [f"{100 * row['answered']:.0f} %", f"{100 * row['with_context']:.0f} %"]
            cells += [f"{row['median_ms']:.0f}", f"{row['p95_ms']:.0f}"]
            lines.append(f"| {labels[kind]} ({len(chosen)}) | {mode} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def measure(args: argparse.Namespace, cases: Sequence[Case]) -> int:
    """Ask the split's entries of the quality benchmark's index, print the table."""
    from quality import load_corpus, open_index
    from quality import parse_args as quality_args

    chosen = [c for c in cases if c.split == args.split]
    questions = None if args.questions == "all" else int(args.questions)
    corpus = load_corpus(args.split, questions, args.distractors)
    present = {a.id for _, a in corpus.articles}
    missing = sorted({t.article_id for c in chosen for t in c.turns} - present)
    if missing:
        log(f"{len(missing)} articles of the set are not in this corpus: {missing[:5]} ...")
        return 1
    quality = ["--split", args.split, "--distractors", str(args.distractors)]
    if questions is not None:
        quality += ["--questions", str(questions)]
    if args.workdir:
        quality += ["--workdir", args.workdir]
    machine_at_start, version = machine_line(), code_version()
    library, ingest = open_index(corpus, quality_args(quality))
    try:
        library.ask("warm-up question about the news", top_k=args.top_k)  # loads the model
        # The ways are taken in turns, as in ask_quiz: whichever comes second would find
        # the pages the first read in memory.
        scored = [
            s
            for number, case in enumerate(chosen)
            for mode in MODES[number % len(MODES) :] + MODES[: number % len(MODES)]
            for s in ask_case(library, case, mode, args.top_k)
        ]
        if args.quiz:
            quiz = [q for q in corpus.questions if q.group == args.split and q.answerable]
            scored += ask_quiz(library, quiz, args.top_k)
    finally:
        library.close()
    print(f"# newsbot: follow-up questions, {args.split}\n")
    print(f"at start: {machine_at_start}\nat end:   {machine_line()}\ncode: {version}")
    print(
        f"index: {ingest['articles']} articles, {ingest['chunks']} chunks (quality.py --split "
        f"{args.split} --questions {args.questions}); top_k={args.top_k}; {len(chosen)} entries\n"
    )
    print(results_table(scored))
    if args.json:
        payload = {
            "split": args.split,
            "code": version,
            "index": ingest,
            "summary": {
                f"{kind}/{mode}": summary_row(
                    [s for s in scored if s.kind == kind and s.mode == mode]
                )
                for kind in (*KINDS, QUIZ)
                for mode in MODES
                if any(s.kind == kind and s.mode == mode for s in scored)
            },
            "turns": [
                {
                    "case": s.case,
                    "mode": s.mode,
                    "question": s.question,
                    "ranks": s.ranks,
                    "context": s.context,
                }
                for s in scored
            ],
        }
        args.json.write_text(json.dumps(payload, indent=1))
        log(f"wrote {args.json}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="validate the set and describe it")
    parser.add_argument("--set", type=Path, default=SET, help="the JSON Lines file to read")
    parser.add_argument("--split", choices=SPLITS, default="dev")
    parser.add_argument(
        "--questions",
        default="all",
        metavar="N|all",
        help="quality.py's --questions: which corpus and cached index (default: %(default)s, "
        "the one holding every article of the set)",
    )
    parser.add_argument("--distractors", type=int, default=1000, metavar="N")
    parser.add_argument("--top-k", type=int, default=3, help="passages a reader sees")
    parser.add_argument("--workdir", default=None, help="quality.py's --workdir (its default)")
    parser.add_argument("--json", type=Path, default=None, metavar="OUT", help="write results")
    parser.add_argument(
        "--no-quiz",
        dest="quiz",
        action="store_false",
        help="leave the quiz questions out (a quicker look at the set alone)",
    )
    args = parser.parse_args(argv)
    if not args.check:
        try:
            return measure(args, load_cases(args.set))
        except ValueError as error:
            print(f"invalid: {error}", file=sys.stderr)
            return 1
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
