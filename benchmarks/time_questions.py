"""Questions about time: does newsbot keep to the period asked, and put the newest news first?

Builds a set of time questions from the dated texts of ``../shared/eval`` and asks them of the
quality benchmark's cached index (``quality.py``: same corpus, same key, so nothing is rebuilt),
opened with ``Library.open(settings, clock=...)`` so that "now" is the day each question is set
in. Every question is asked twice, with its time phrase and without it, and the two are compared.

The set (deterministic; rebuilt from the data on every run, ``--dump-set`` writes it):

- **Base questions**: the split's answerable RealTimeQA questions of quality.py's corpus (the
  first ``--questions``, in file order, like quality.py), as a reader sees them (links
  stripped). The *anchor* is the newest of the question's labelled answering articles
  (``article_ids_with_answer``: "the answer string is in it", so the anchor may only mention
  the answer; ties: the smallest id). The quiz day (the later of ``week`` and
  ``question_date``, noon UTC) is the clock, except where said.
- **Periods that hold the answer** (one question per kind and base question; only base
  questions in which ``read_time`` finds no time phrase of their own):

  - ``day``: "on 3 March 2025", the anchor's day;
  - ``range``: "between 28 February 2025 and 6 March 2025": three days either side of the
    anchor, the end held at the quiz day;
  - ``last_week``: "last week", with the clock on the Wednesday of the calendar week after the
    anchor's (so the period is the anchor's Monday-to-Sunday week);
  - ``month``: "in March 2025"; ``year``: "in 2025".

  The phrase goes in front ("In March 2025, which ...", the first letter lowered only for a
  question word or article) or before the final question mark ("... which animal in March
  2025?"), by a hash of the question id and kind, so each kind gets both; a question of
  several sentences always takes it at the end, since only the asking sentence is read for
  time. Without the phrase the question is the original, asked once per base question.
- **Native periods**: answerable questions whose own text names a period ("this week", "in
  2024"), read by ``read_time`` with the quiz-day clock, against the question with the phrase
  taken out (``TimeQuery.text``). ``native_today`` asks the same with the process clock, as
  quality.py does: "this week" then means this week of the machine's calendar. Questions
  whose phrase is only "latest"-style or reads as a problem ("in 2026" asked in 2025) are
  counted, not asked.
- **Periods that exclude the answer** (same base questions; a period qualifies only when no
  article of the whole corpus published in it contains the answer string):

  - ``other_month``: the nearest month before the anchor's holding at least 3 articles;
  - ``other_year``: the nearest year before the anchor's holding at least 3 articles;
  - ``reuters_1987``: a month of Feb-Oct 1987 (Reuters-21578 distractors only), chosen by a
    hash of the id among those with at least 3 articles;
  - ``empty``: the nearest month before the anchor's with no article at all.

- **"Latest" topics**: names (capitalised words, not a question's first word) in the split's
  questions or answers that the quiz returns to in at least 2 different weeks, not weekdays,
  months or nationality words (a list below), not a sentence-start word (its lower-case form is
  under 10 % as frequent in the articles), not mostly part of a longer name ("John" of "John
  F. Kennedy": over half its occurrences touch another capitalised word), whose relevant
  articles span at least 6 ISO weeks. *Relevant*: the name is in the title, or at least twice
  in the text (case-sensitive, whole words). A name that contains a kept shorter one
  ("President Donald Trump" after "Donald Trump") is dropped. Asked "What is the latest news
  on <name>?" against "What is the news on <name>?", the clock the day after the corpus's
  newest RealTimeQA article, with ``--latest-depth`` passages (default 10) so the rank of
  the *newest relevant article* (the relevant articles of the latest date) can be read beyond
  the three a reader sees.

Development part: the dev split's questions (weeks before 2026-01-01) over the dev index,
whose articles are all older than 2026; test part: the questions from 2026 on, over the test
index. Tune on dev, report test once.

Scores, per kind, with / without the time phrase:

- **inside**: the share of the passages shown whose article was published inside the period
  asked (mean over answered questions; undated articles count as outside); for excluded
  periods, the share of replies with no passage outside the period asked;
- what the reply says it did: the period read as the set means it (``asked_period``, else
  ``period``), **widened** (``period`` wider than ``asked_period``), **any date** (``period``
  None with ``asked_period`` set: nothing published then answered), **said empty**
  (``empty_period``); and the passages outside the period a reply says it searched, which
  should be none;
- **answered**, and **highlight / quote / passage R@3** as quality.py scores them (the answer
  string in the bold sentence / the excerpt / the passage of one of the first three);
- **latest**: R@1 / R@3 of the newest relevant article, its mean rank (a miss counts as
  ``--latest-depth`` + 1), whether the first passage is relevant, and how many days its
  article is older than the newest relevant one (median);
- ``ask`` latency p50 / p95 per kind and of the same questions without phrase (half of those
  asked before their first time question, half after, so neither side gets the warm pages).

Usage:
    python benchmarks/time_questions.py --self-check [--split dev|test]
    python benchmarks/time_questions.py --split dev [--limit N] [--json OUT]
"""

from __future__ import annotations

import argparse
import calendar
import hashlib
import json
import re
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from common import (
    RTQA_QUESTIONS,
    code_version,
    log,
    machine_line,
    noon,
    percentile,
    quiz_clock,
    read_jsonl,
)
from quality import (
    DEV_BEFORE,
    TOP_K,
    Corpus,
    Question,
    answer_pattern,
    load_corpus,
    normalise,
    open_index,
)
from quality import parse_args as quality_args

from newsbot.library import Library
from newsbot.models import Answer
from newsbot.time_query import TimeQuery, read_time


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


INSIDE_KINDS = ("day", "range", "last_week", "month", "year", "native", "native_today")
OUTSIDE_KINDS = ("other_month", "other_year", "reuters_1987", "empty")
LATEST_KIND = "latest"
RECALL_AT = 3
RANGE_DAYS = 3  # "between": the anchor's day and this many either side
MIN_ARTICLES = 3  # an excluding period holds at least this many articles (but "empty")
LOOK_BACK_MONTHS = 120
# "Latest" topics: how often the quiz and the news return to them.
TOPIC_QUESTION_WEEKS = 2
TOPIC_ARTICLE_WEEKS = 6
# Names from lists, not calendar.month_name, which follows the process locale.
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# Nationality and group words: a reader asks the latest on Russia, not "on Russian".
NATIONALITIES = _words(
    """African Africans American Americans Arab Arabs Asian Asians Australian Australians
    Brazilian British Canadian Canadians Chinese Democrat Democrats Dutch English European
    Europeans French German Germans Greek Indian Indians Iranian Iranians Iraqi Irish Israeli
    Israelis Italian Italians Japanese Korean Koreans Latino Latinos Mexican Mexicans
    Palestinian Palestinians Republican Republicans Russian Russians Saudi Scottish Spanish
    Swedish Syrian Syrians Turkish Ukrainian Ukrainians Venezuelan Venezuelans Welsh"""
)
# A name: capitalised words or acronyms in a row ("Elon Musk", "NASA", "White House").
NAME = re.compile(r"(?<![\w.'\u2019])(?:[A-Z][a-z]+|[A-Z]{2,})(?:\s(?:[A-Z][a-z]+|[A-Z]{2,}))*\b")
SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+(?=\S)")  # as newsbot.time_query reads sentences
# Words whose first letter is lowered when a phrase goes in front of the question.
LOWER_FIRST = _words(
    "a an the which what who whom whose where when why how in on at after before according "
    "this these that those during for to with as following since of from by is are was were "
    "do does did has have had can could will would should many more most another"
)


# ------------------------------------------------------------------------------------------
# The set
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Window:
    """An inclusive period of days; an open end is None."""

    start: date | None
    end: date | None

    def __contains__(self, day: object) -> bool:
        if not isinstance(day, date):
            return False
        return (self.start is None or self.start <= day) and (self.end is None or day <= self.end)

    def to_json(self) -> dict[str, str | None]:
        return {
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
        }


@dataclass(frozen=True, slots=True)
class TimeQuestion:
    """One question of the set: asked with its time phrase and, to compare, without it."""

    id: str  # <RealTimeQA id or topic>:<kind>
    kind: str
    question: str  # with the time phrase
    plain: str  # without it
    now: datetime  # the clock both are asked with
    period: Window | None  # the period the phrase names (None: "latest")
    holds_answer: bool | None  # the period holds an article with the answer (None: latest)
    answer: str | None = None
    anchor: str | None = None  # the answering article the period was built around
    articles_in_period: int | None = None  # articles of the corpus published in the period
    topic: str | None = None  # latest: the name asked about
    relevant: frozenset[str] = frozenset()  # latest: articles that are about the topic
    newest: frozenset[str] = frozenset()  # latest: the relevant articles of the latest date
    newest_date: date | None = None

    @property
    def family(self) -> str:
        if self.kind in OUTSIDE_KINDS:
            return "outside"
        return "latest" if self.kind == LATEST_KIND else "inside"

    def to_json(self) -> dict[str, Any]:
        """Ids, questions and periods only: no article text."""
        return {
            "id": self.id,
            "kind": self.kind,
            "question": self.question,
            "plain": self.plain,
            "now": self.now.isoformat(),
            "period": self.period.to_json() if self.period else None,
            "holds_answer": self.holds_answer,
            "anchor": self.anchor,
            "articles_in_period": self.articles_in_period,
            "topic": self.topic,
            "newest": sorted(self.newest),
            "newest_date": self.newest_date.isoformat() if self.newest_date else None,
            "relevant": len(self.relevant),
        }


@dataclass(slots=True)
class TimeSet:
    questions: list[TimeQuestion]
    skipped: Counter[str] = field(default_factory=Counter)  # why base questions gave no kind

    def counts(self) -> dict[str, int]:
        found = Counter(q.kind for q in self.questions)
        return {kind: found[kind] for kind in (*INSIDE_KINDS, *OUTSIDE_KINDS, LATEST_KIND)}


def published_day(published: str | None) -> date | None:
    """The day of an ISO date or date-time ("1987-02-26T15:01:01"), None when unknown."""
    if not published:
        return None
    try:
        return date.fromisoformat(published[:10])
    except ValueError:
        return None


def day_phrase(day: date) -> str:
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def month_window(year: int, month: int) -> Window:
    return Window(date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1]))


def months_before(day: date, count: int) -> Iterable[tuple[int, int]]:
    """The ``count`` months before ``day``'s month, newest first."""
    index = day.year * 12 + day.month - 1
    for back in range(1, count + 1):
        year, month = divmod(index - back, 12)
        yield year, month + 1


def stable_number(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def with_phrase(question: str, phrase: str, key: str) -> str:
    """``question`` with ``phrase`` in front or before its final question mark (by ``key``).

    A question of several sentences takes it at the end: only the sentence that asks is read
    for time ("Another tradition is football. Which team ...?").
    """
    text = question.strip()
    if stable_number(key) % 2 == 0 and not SENTENCE_BREAK.search(text):
        first, _, rest = text.partition(" ")
        if re.sub(r"\W", "", first).lower() in LOWER_FIRST:
            text = first[:1].lower() + first[1:] + (" " + rest if rest else "")
        return f"{phrase[:1].upper()}{phrase[1:]}, {text}"
    if text.endswith("?"):
        return f"{text[:-1].rstrip()} {phrase}?"
    return f"{text} {phrase}"


class CorpusDates:
    """When the corpus's articles were published, and which of them hold a given answer."""

    def __init__(self, corpus: Corpus) -> None:
        self.days: dict[str, date] = {}
        self.normalised: dict[str, str] = {}
        for _, article in corpus.articles:
            assert article.id is not None  # every benchmark article carries its id
            day = published_day(article.published)
            if day is not None:
                self.days[article.id] = day
            self.normalised[article.id] = normalise(article.text)
        self.months = Counter((d.year, d.month) for d in self.days.values())
        self.years = Counter(d.year for d in self.days.values())

    def count_in(self, window: Window) -> int:
        return sum(day in window for day in self.days.values())

    def answer_days(self, answer: str) -> list[date]:
        """The publication days of every article whose text holds ``answer``."""
        pattern = answer_pattern(answer)
        core = normalise(answer).strip("\"' ")
        return [
            self.days[article_id]
            for article_id, text in self.normalised.items()
            if article_id in self.days and core in text and pattern.search(text)
        ]


def build_set(
    corpus: Corpus, dates: CorpusDates, split: str, limit: int | None, now: datetime
) -> TimeSet:
    """The time questions of ``split`` over ``corpus`` (``now``: the process clock)."""
    records = {r["id"]: r for r in read_jsonl(RTQA_QUESTIONS)}
    base = [q for q in corpus.questions if q.group == split and q.answerable]
    if limit is not None:
        base = base[:limit]
    found = TimeSet([])
    for question in base:
        assert question.answer is not None  # answerable
        quiz_now = quiz_clock(records[question.id])
        own = read_time(question.text, quiz_now)
        labelled = [a for a in question.labelled_articles if a in dates.days]
        if not labelled:
            found.skipped["no dated answering article"] += 1
            continue
        if own.phrase is not None:
            found.questions += native_questions(question, own, quiz_now, now, dates, labelled)
            if own.problem is not None:
                found.skipped["own time phrase: a problem (not asked)"] += 1
            elif own.start is None and own.end is None:
                found.skipped["own time phrase: latest-style only (not asked)"] += 1
            continue
        anchor = min(labelled, key=lambda a: (-dates.days[a].toordinal(), a))
        found.questions += inside_questions(question, anchor, quiz_now, dates)
        found.questions += outside_questions(question, anchor, quiz_now, dates)
    found.questions += latest_questions(corpus, split, dates, limit)
    return found


def native_questions(
    question: Question,
    own: TimeQuery,
    quiz_now: datetime,
    process_now: datetime,
    dates: CorpusDates,
    labelled: list[str],
) -> list[TimeQuestion]:
    """The question as the quiz wrote it, when its own phrase names a period."""
    if own.problem is not None or (own.start is None and own.end is None):
        return []
    made = []
    for kind, clock in (("native", quiz_now), ("native_today", process_now)):
        reading = read_time(question.text, clock)
        if reading.problem is not None or (reading.start is None and reading.end is None):
            continue
        window = Window(reading.start, reading.end)
        made.append(
            TimeQuestion(
                id=f"{question.id}:{kind}",
                kind=kind,
                question=question.text,
                plain=reading.text,
                now=clock,
                period=window,
                holds_answer=any(dates.days[a] in window for a in labelled),
                answer=question.answer,
                articles_in_period=dates.count_in(window),
            )
        )
    return made


def inside_questions(
    question: Question, anchor: str, quiz_now: datetime, dates: CorpusDates
) -> list[TimeQuestion]:
    """Periods built around the anchor: its day, its week, last week, its month, its year."""
    day = dates.days[anchor]
    monday = day - timedelta(days=day.weekday())
    first, last = (
        day - timedelta(days=RANGE_DAYS),
        min(day + timedelta(days=RANGE_DAYS), quiz_now.date()),
    )
    made: list[tuple[str, str, Window, datetime]] = [
        ("day", f"on {day_phrase(day)}", Window(day, day), quiz_now),
        (
            "range",
            f"between {day_phrase(first)} and {day_phrase(last)}",
            Window(first, last),
            quiz_now,
        ),
        (
            "last_week",
            "last week",
            Window(monday, monday + timedelta(days=6)),
            noon(monday + timedelta(days=9)),
        ),
        (
            "month",
            f"in {MONTHS[day.month - 1]} {day.year}",
            month_window(day.year, day.month),
            quiz_now,
        ),
        ("year", f"in {day.year}", Window(date(day.year, 1, 1), date(day.year, 12, 31)), quiz_now),
    ]
    return [
        with_period(question, anchor, kind, phrase, window, clock, dates, holds_answer=True)
        for kind, phrase, window, clock in made
    ]


def outside_questions(
    question: Question, anchor: str, quiz_now: datetime, dates: CorpusDates
) -> list[TimeQuestion]:
    """Periods with no article that holds the answer: another month, year, 1987, nothing."""
    day = dates.days[anchor]
    assert question.answer is not None  # answerable
    answer_days = dates.answer_days(question.answer)

    def free(window: Window) -> bool:
        return not any(d in window for d in answer_days)

    chosen: list[tuple[str, str, Window]] = []
    for year, month in months_before(day, LOOK_BACK_MONTHS):
        window = month_window(year, month)
        if dates.months[year, month] >= MIN_ARTICLES and free(window):
            chosen.append(("other_month", f"in {MONTHS[month - 1]} {year}", window))
            break
    for year in range(day.year - 1, day.year - 1 - LOOK_BACK_MONTHS // 12, -1):
        window = Window(date(year, 1, 1), date(year, 12, 31))
        if dates.years[year] >= MIN_ARTICLES and free(window):
            chosen.append(("other_year", f"in {year}", window))
            break
    reuters = [
        month
        for month in range(2, 11)
        if dates.months[1987, month] >= MIN_ARTICLES and free(month_window(1987, month))
    ]
    if reuters:
        month = reuters[stable_number(question.id) % len(reuters)]
        chosen.append(("reuters_1987", f"in {MONTHS[month - 1]} 1987", month_window(1987, month)))
    for year, month in months_before(day, LOOK_BACK_MONTHS):
        if dates.months[year, month] == 0:
            chosen.append(("empty", f"in {MONTHS[month - 1]} {year}", month_window(year, month)))
            break
    return [
        with_period(question, anchor, kind, phrase, window, quiz_now, dates, holds_answer=False)
        for kind, phrase, window in chosen
    ]


def with_period(
    question: Question,
    anchor: str,
    kind: str,
    phrase: str,
    window: Window,
    now: datetime,
    dates: CorpusDates,
    *,
    holds_answer: bool,
) -> TimeQuestion:
    """``question`` asked with ``phrase`` (naming ``window``), against it asked plain."""
    return TimeQuestion(
        id=f"{question.id}:{kind}",
        kind=kind,
        question=with_phrase(question.text, phrase, f"{question.id}:{kind}"),
        plain=question.text,
        now=now,
        period=window,
        holds_answer=holds_answer,
        answer=question.answer,
        anchor=anchor,
        articles_in_period=dates.count_in(window),
    )


def latest_questions(
    corpus: Corpus, split: str, dates: CorpusDates, limit: int | None
) -> list[TimeQuestion]:
    """ "What is the latest news on <name>?" for the names the quiz and the news return to."""
    records = {r["id"]: r for r in read_jsonl(RTQA_QUESTIONS)}
    question_weeks: defaultdict[str, set[str]] = defaultdict(set)
    for question in corpus.questions:
        if question.group != split:
            continue
        week = records[question.id]["week"]
        for match in NAME.finditer(question.text):
            if match.start() > 0:
                question_weeks[match.group()].add(week)
        answer = (question.answer or "").strip()
        if NAME.fullmatch(answer):
            question_weeks[answer].add(week)
    articles = [a for origin, a in corpus.articles if origin.startswith("realtimeqa:")]
    everything = "\n".join(a.text for a in articles)
    texts = [(a.id, a.title, a.text) for _, a in corpus.articles]
    rtqa_days = [dates.days[a.id] for a in articles if a.id in dates.days]
    clock = noon(max(rtqa_days) + timedelta(days=1))

    kept: list[tuple[int, str, frozenset[str]]] = []
    for name, weeks in question_weeks.items():
        if len(weeks) < TOPIC_QUESTION_WEEKS or name in NATIONALITIES:
            continue
        if name in MONTHS or name in WEEKDAYS:
            continue
        whole = re.compile(rf"(?<!\w){re.escape(name)}(?!\w)")
        capitalised = len(whole.findall(everything))
        lower = len(re.findall(rf"(?<!\w){re.escape(name.lower())}(?!\w)", everything))
        if not capitalised or lower > 0.1 * capitalised:
            continue
        if " " not in name:
            touching = len(
                re.findall(
                    rf"(?:[A-Z]\w*\s{re.escape(name)}(?!\w)|(?<!\w){re.escape(name)}\s[A-Z])",
                    everything,
                )
            )
            if touching > 0.5 * capitalised:
                continue
        relevant = frozenset(
            article_id
            for article_id, title, text in texts
            if article_id is not None and (whole.search(title) or len(whole.findall(text)) >= 2)
        )
        weeks_about = {dates.days[a].isocalendar()[:2] for a in relevant if a in dates.days}
        if len(weeks_about) >= TOPIC_ARTICLE_WEEKS:
            kept.append((len(weeks_about), name, relevant))
    # Shorter names first, so "President Donald Trump" finds "Donald Trump" already kept.
    kept.sort(key=lambda item: (len(item[1]), item[1]))
    names: list[str] = []
    topics = []
    for spread, name, relevant in kept:
        if any(re.search(rf"(?<!\w){re.escape(shorter)}(?!\w)", name) for shorter in names):
            continue
        names.append(name)
        topics.append((spread, name, relevant))
    topics.sort(key=lambda item: (-item[0], item[1]))
    if limit is not None:
        topics = topics[:limit]

    made = []
    for _, name, relevant in topics:
        newest_date = max(dates.days[a] for a in relevant if a in dates.days)
        made.append(
            TimeQuestion(
                id=f"{name}:{LATEST_KIND}",
                kind=LATEST_KIND,
                question=f"What is the latest news on {name}?",
                plain=f"What is the news on {name}?",
                now=clock,
                period=None,
                holds_answer=None,
                topic=name,
                relevant=relevant,
                newest=frozenset(a for a in relevant if dates.days.get(a) == newest_date),
                newest_date=newest_date,
            )
        )
    return made


def check_set(found: TimeSet, dates: CorpusDates) -> tuple[list[str], list[str]]:
    """What is wrong with the set: a period that does not hold or exclude what it claims, or a
    phrase that ``read_time`` reads otherwise (problems); and questions whose words left to
    search differ from the plain question's (notes: the period is right, the words are not).
    """
    problems: list[str] = []
    notes: list[str] = []
    for q in found.questions:
        reading = read_time(q.question, q.now)
        if q.family == "latest":
            if not reading.latest or reading.start or reading.end:
                problems.append(f"{q.id}: {q.question!r} does not read as latest: {reading}")
            if read_time(q.plain, q.now).phrase is not None:
                problems.append(f"{q.id}: the plain question {q.plain!r} has a time phrase")
            if not q.newest or any(dates.days.get(a) != q.newest_date for a in q.newest):
                problems.append(f"{q.id}: the newest relevant articles are not of one date")
            continue
        assert q.period is not None  # not latest
        if (reading.start, reading.end) != (q.period.start, q.period.end) or reading.problem:
            problems.append(
                f"{q.id}: {q.question!r} at {q.now.date()} reads as {reading.start}..{reading.end}"
                f" ({reading.problem or reading.phrase}), not {q.period.start}..{q.period.end}"
            )
        native = q.kind in ("native", "native_today")  # the quiz may say "latest" too
        if reading.latest and not native:
            problems.append(f"{q.id}: {q.question!r} reads as latest too")
        if q.family == "inside" and not native:
            if q.anchor is None or dates.days[q.anchor] not in q.period:
                problems.append(f"{q.id}: the anchor {q.anchor} is not in {q.period}")
            if reading.text.casefold() != q.plain.casefold():
                notes.append(f"{q.id}: {q.question!r} searches {reading.text!r}")
        if q.family == "outside":
            assert q.answer is not None
            inside = [d for d in dates.answer_days(q.answer) if d in q.period]
            if inside:
                problems.append(f"{q.id}: {len(inside)} articles in {q.period} hold the answer")
            if (q.kind == "empty") != (dates.count_in(q.period) == 0):
                problems.append(f"{q.id}: {dates.count_in(q.period)} articles in {q.period}")
            if q.kind != "empty" and dates.count_in(q.period) < MIN_ARTICLES:
                problems.append(f"{q.id}: only {dates.count_in(q.period)} articles in the period")
    return problems, notes


# ------------------------------------------------------------------------------------------
# Asking and scoring
# ------------------------------------------------------------------------------------------


class Clock:
    """The library's clock, set to each question's day before it is asked."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass(slots=True)
class Reply:
    """What one ask showed, scored against its question."""

    seconds: float
    answered: bool
    shown: int
    inside: int  # passages whose article lies in the period asked
    undated: int
    searched: dict[str, str | None] | None  # Answer.period: the period searched
    asked: dict[str, str | None] | None  # Answer.asked_period: the period the library read
    empty_period: bool  # Answer.empty_period: no article at all in the period
    problem: str | None  # Answer.problem: why the time phrase could not be used
    outside_searched: int  # passages outside the period the answer says it searched
    read_latest: bool  # Answer.latest
    highlight_rank: int | None = None
    quote_rank: int | None = None
    passage_rank: int | None = None
    newest_rank: int | None = None  # latest: first rank of a newest relevant article
    top_relevant: bool | None = None
    top_days_behind: int | None = None  # latest: newest relevant date - first passage's date


def score(q: TimeQuestion, answer: Answer, seconds: float) -> Reply:
    searched = Window(answer.period.start, answer.period.end) if answer.period else None
    # asked_period is set only when the search was widened beyond it.
    asked_period = answer.asked_period or answer.period
    asked = Window(asked_period.start, asked_period.end) if asked_period else None
    days = [published_day(item.passage.article.published) for item in answer.passages]
    reply = Reply(
        seconds=seconds,
        answered=answer.answered,
        shown=len(answer.passages),
        inside=sum(q.period is not None and day in q.period for day in days),
        undated=sum(day is None for day in days),
        searched=searched.to_json() if searched else None,
        asked=asked.to_json() if asked else None,
        empty_period=answer.empty_period,
        problem=answer.problem,
        outside_searched=sum(day not in searched for day in days) if searched else 0,
        read_latest=answer.latest,
    )
    if q.answer is not None:
        pattern = answer_pattern(q.answer)
        for item in answer.passages:
            if reply.highlight_rank is None and pattern.search(normalise(item.quote.highlight)):
                reply.highlight_rank = item.rank
            if reply.quote_rank is None and pattern.search(normalise(item.quote.text)):
                reply.quote_rank = item.rank
            if reply.passage_rank is None and pattern.search(normalise(item.passage.chunk.text)):
                reply.passage_rank = item.rank
    if q.family == "latest" and answer.passages:
        ids = [item.passage.article.article_id for item in answer.passages]
        reply.newest_rank = next(
            (item.rank for item, a in zip(answer.passages, ids, strict=True) if a in q.newest),
            None,
        )
        reply.top_relevant = ids[0] in q.relevant
        if days[0] is not None and q.newest_date is not None:
            reply.top_days_behind = (q.newest_date - days[0]).days
    return reply


@dataclass(slots=True)
class Outcome:
    question: TimeQuestion
    with_phrase: Reply
    without: Reply


def ask_all(
    library: Library, clock: Clock, questions: Sequence[TimeQuestion], top_k: int, depth: int
) -> list[Outcome]:
    """Ask each question with and without its phrase; a plain question (no time phrase, so
    the clock does not matter) is asked once: the kinds of one base question share it.

    The first ask of a base question finds its passages' pages cold and warms them for the
    next, so half the plain questions (by a hash) go before their first time question, half
    after: neither side's latency gets all the warm asks.
    """

    def timed(text: str, k: int) -> tuple[Answer, float]:
        started = time.perf_counter()
        answer = library.ask(text, top_k=k)
        return answer, time.perf_counter() - started

    plain_replies: dict[tuple[str, int], tuple[Answer, float]] = {}
    outcomes = []
    for done, q in enumerate(questions, 1):
        k = depth if q.family == "latest" else top_k
        clock.now = q.now
        key = (q.plain, k)
        if key not in plain_replies and stable_number(q.plain) % 2 == 0:
            plain_replies[key] = timed(q.plain, k)
        answer, seconds = timed(q.question, k)
        if key not in plain_replies:
            plain_replies[key] = timed(q.plain, k)
        plain, plain_seconds = plain_replies[key]
        outcomes.append(Outcome(q, score(q, answer, seconds), score(q, plain, plain_seconds)))
        if done % 200 == 0:
            log(f"  asked {done}/{len(questions)}")
    return outcomes


def _share(values: Sequence[bool]) -> float | None:
    return sum(values) / len(values) if values else None


def _mean(values: Sequence[float]) -> float | None:
    return statistics.mean(values) if values else None


def summarise_reply(outcomes: Sequence[Outcome], which: str, depth: int) -> dict[str, Any]:
    replies = [getattr(o, which) for o in outcomes]
    answered = [r for r in replies if r.answered]
    metrics: dict[str, Any] = {
        "questions": len(replies),
        "answered": _share([r.answered for r in replies]),
        "inside": _mean([r.inside / r.shown for r in answered]),
        "nothing_outside": _share([r.inside == r.shown for r in replies]),
        # Passages outside the period the reply says it searched: a bug if ever above zero.
        "outside_declared_period": sum(r.outside_searched for r in replies),
        "nothing_shown": _share([not r.answered for r in replies]),
        # The library read the period the set meant (Answer.asked_period).
        "period_read": _share(
            [
                r.asked == o.question.period.to_json()
                for r, o in zip(replies, outcomes, strict=True)
                if o.question.period is not None
            ]
        ),
        "widened": _share([r.searched is not None and r.searched != r.asked for r in replies]),
        # Nothing published then (or around then) answered: passages from any date, said so.
        "any_date": _share([r.asked is not None and r.searched is None for r in replies]),
        "empty_period": _share([r.empty_period for r in replies]),
        "undated_shown": sum(r.undated for r in replies),
        "read_latest": _share([r.read_latest for r in replies]),
    }
    for name in ("highlight", "quote", "passage"):
        ranks = [getattr(r, f"{name}_rank") for r in replies]
        metrics[f"{name}_r@{RECALL_AT}"] = _share(
            [rank is not None and rank <= RECALL_AT for rank in ranks]
        )
    if outcomes and outcomes[0].question.family == "latest":
        ranks = [r.newest_rank for r in replies]
        metrics["newest_r@1"] = _share([rank == 1 for rank in ranks])
        metrics["newest_r@3"] = _share([rank is not None and rank <= 3 for rank in ranks])
        metrics["newest_mean_rank"] = _mean([rank or depth + 1 for rank in ranks])
        metrics["newest_mrr"] = _mean([1 / rank if rank else 0.0 for rank in ranks])
        metrics["top_relevant"] = _share([bool(r.top_relevant) for r in answered])
        behind = [r.top_days_behind for r in answered if r.top_days_behind is not None]
        metrics["top_days_behind_median"] = statistics.median(behind) if behind else None
    latencies = sorted(r.seconds for r in replies)
    if latencies:
        metrics["p50_ms"] = 1000 * percentile(latencies, 50)
        metrics["p95_ms"] = 1000 * percentile(latencies, 95)
    return metrics


def summarise(outcomes: Sequence[Outcome], depth: int) -> dict[str, dict[str, Any]]:
    by_kind: defaultdict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        by_kind[outcome.question.kind].append(outcome)
    summary: dict[str, dict[str, Any]] = {}
    for kind in (*INSIDE_KINDS, *OUTSIDE_KINDS, LATEST_KIND):
        if by_kind[kind]:
            summary[kind] = {
                "with": summarise_reply(by_kind[kind], "with_phrase", depth),
                "without": summarise_reply(by_kind[kind], "without", depth),
                "holds_answer": _share([bool(o.question.holds_answer) for o in by_kind[kind]]),
            }
    return summary


# ------------------------------------------------------------------------------------------
# Printing
# ------------------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _pair(row: dict[str, Any], key: str) -> str:
    return f"{_pct(row['with'][key])} / {_pct(row['without'][key])}"


KIND_LABELS = {
    "day": 'on the day ("on 3 March 2025")',
    "range": 'a week ("between 28 February 2025 and 6 March 2025")',
    "last_week": '"last week" (clock: the week after)',
    "month": '"in March 2025"',
    "year": '"in 2025"',
    "native": "the quiz's own phrase (quiz-day clock)",
    "native_today": "the quiz's own phrase (process clock)",
    "other_month": "an earlier month",
    "other_year": "an earlier year",
    "reuters_1987": "a month of 1987 (Reuters only)",
    "empty": "a month with no article",
}


def inside_table(summary: dict[str, dict[str, Any]]) -> str:
    lines = [
        f"| period holding the answer | questions | passages inside, mean % | answered % "
        f"| highlight R@{RECALL_AT} | quote R@{RECALL_AT} | passage R@{RECALL_AT} "
        "| period read % | widened % | any date % |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for kind in INSIDE_KINDS:
        if kind not in summary:
            continue
        row = summary[kind]
        questions = row["with"]["questions"]
        holding = f" ({_pct(row['holds_answer'])} % hold it)" if kind.startswith("native") else ""
        lines.append(
            f"| {KIND_LABELS[kind]} | {questions}{holding} | {_pair(row, 'inside')} "
            f"| {_pair(row, 'answered')} | {_pair(row, f'highlight_r@{RECALL_AT}')} "
            f"| {_pair(row, f'quote_r@{RECALL_AT}')} | {_pair(row, f'passage_r@{RECALL_AT}')} "
            f"| {_pct(row['with']['period_read'])} | {_pct(row['with']['widened'])} "
            f"| {_pct(row['with']['any_date'])} |"
        )
    return "\n".join(lines)


def outside_table(summary: dict[str, dict[str, Any]], found: TimeSet) -> str:
    lines = [
        "| period without the answer | questions | articles in it, median "
        "| nothing outside the period % | nothing shown % | said empty % | widened % "
        "| any date % | answer shown (passage R@3) % |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for kind in OUTSIDE_KINDS:
        if kind not in summary:
            continue
        row = summary[kind]
        sizes = [q.articles_in_period or 0 for q in found.questions if q.kind == kind]
        lines.append(
            f"| {KIND_LABELS[kind]} | {row['with']['questions']} | {statistics.median(sizes):.0f} "
            f"| {_pair(row, 'nothing_outside')} "
            f"| {_pair(row, 'nothing_shown')} | {_pct(row['with']['empty_period'])} "
            f"| {_pct(row['with']['widened'])} | {_pct(row['with']['any_date'])} "
            f"| {_pair(row, f'passage_r@{RECALL_AT}')} |"
        )
    return "\n".join(lines)


def latest_table(summary: dict[str, dict[str, Any]], depth: int) -> str:
    lines = [
        f"| asked | topics | newest R@1 % | newest R@3 % | newest mean rank (miss = {depth + 1}) "
        "| newest MRR | first passage relevant % | first passage, days behind newest (median) "
        "| read as latest % |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    row = summary.get(LATEST_KIND)
    if row is None:
        return "(no latest topics)"
    for label, which in (
        ('"What is the latest news on X?"', "with"),
        ('"... the news on X?"', "without"),
    ):
        r = row[which]
        rank = "-" if r["newest_mean_rank"] is None else f"{r['newest_mean_rank']:.2f}"
        mrr = "-" if r["newest_mrr"] is None else f"{r['newest_mrr']:.3f}"
        behind = r["top_days_behind_median"]
        lines.append(
            f"| {label} | {r['questions']} | {_pct(r['newest_r@1'])} | {_pct(r['newest_r@3'])} "
            f"| {rank} | {mrr} | {_pct(r['top_relevant'])} "
            f"| {'-' if behind is None else f'{behind:.0f}'} | {_pct(r['read_latest'])} |"
        )
    return "\n".join(lines)


def latency_table(outcomes: Sequence[Outcome], depth: int) -> str:
    """p50 / p95 of ``ask``: every time question, each kind, and the questions without phrase
    (each asked once; the latest ones with ``depth`` passages, so compare them together)."""
    latest = [o for o in outcomes if o.question.family == "latest"]
    periods = [o for o in outcomes if o.question.family != "latest"]
    groups: list[tuple[str, list[float]]] = [
        ("with a period phrase, all", [o.with_phrase.seconds for o in periods]),
        *(
            (
                f"... {KIND_LABELS[kind]}",
                [o.with_phrase.seconds for o in periods if o.question.kind == kind],
            )
            for kind in (*INSIDE_KINDS, *OUTSIDE_KINDS)
        ),
        (
            "the same questions without the phrase",
            list({o.question.plain: o.without.seconds for o in periods}.values()),
        ),
        (f'"latest" (top_k={depth})', [o.with_phrase.seconds for o in latest]),
        (f'the same without "latest" (top_k={depth})', [o.without.seconds for o in latest]),
    ]
    lines = ["| questions | asks | p50 ms | p95 ms |", "|---|---|---|---|"]
    for label, seconds in groups:
        ordered = sorted(seconds)
        if ordered:
            lines.append(
                f"| {label} | {len(ordered)} | {1000 * percentile(ordered, 50):.1f} "
                f"| {1000 * percentile(ordered, 95):.1f} |"
            )
    return "\n".join(lines)


def counts_table(found: TimeSet) -> str:
    counts = found.counts()
    lines = ["| kind | questions |", "|---|---|"]
    lines += [f"| {kind} | {n} |" for kind, n in counts.items()]
    lines += [f"| (skipped: {why}) | {n} |" for why, n in sorted(found.skipped.items())]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------
# main
# ------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--split", choices=("dev", "test"), default="dev")
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        metavar="N",
        help="only the first N base questions and the N most spread latest topics",
    )
    parser.add_argument(
        "--questions",
        default="120",
        metavar="N|all",
        help="quality.py's --questions: which corpus (and cached index) to use "
        "(default: %(default)s, the index quality.py's usual runs build)",
    )
    parser.add_argument("--distractors", type=int, default=1000, metavar="N")
    parser.add_argument("--top-k", type=int, default=TOP_K, help="passages a reader sees")
    parser.add_argument(
        "--latest-depth",
        type=int,
        default=10,
        metavar="K",
        help="passages asked for latest questions, to read the newest article's rank",
    )
    parser.add_argument("--workdir", default=None, help="quality.py's --workdir (its default)")
    parser.add_argument("--json", type=Path, default=None, metavar="OUT", help="write results")
    parser.add_argument(
        "--self-check",
        action="store_true",
        help="build and validate the set only (no index, no model); exit 1 on a problem",
    )
    parser.add_argument(
        "--dump-set", type=Path, default=None, metavar="OUT", help="write the set as JSON Lines"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    machine_at_start = machine_line()
    version = code_version()
    questions = None if args.questions == "all" else int(args.questions)
    corpus = load_corpus(args.split, questions, args.distractors)
    started = time.perf_counter()
    dates = CorpusDates(corpus)
    found = build_set(corpus, dates, args.split, args.limit, datetime.now(UTC))
    log(f"built {len(found.questions)} time questions in {time.perf_counter() - started:.0f} s")
    if args.dump_set:
        with args.dump_set.open("w", encoding="utf-8") as out:
            for q in found.questions:
                out.write(json.dumps(q.to_json(), ensure_ascii=False) + "\n")
    problems, notes = check_set(found, dates)
    for problem in problems:
        log(f"problem: {problem}")
    for note in notes:
        log(f"note: {note}")
    if args.self_check:
        print(
            f"# time questions, {args.split} (corpus of quality.py --questions {args.questions})\n"
        )
        print(counts_table(found))
        print(
            f"\n{len(problems)} problems (a period that does not hold or exclude what it "
            f"claims, or is read otherwise); {len(notes)} notes (other words left to search)"
        )
        return 1 if problems else 0

    quality = ["--split", args.split, "--distractors", str(args.distractors)]
    if questions is not None:
        quality += ["--questions", str(questions)]
    if args.workdir:
        quality += ["--workdir", args.workdir]
    quality_namespace = quality_args(quality)
    library, ingest = open_index(corpus, quality_namespace)
    settings = library.settings
    library.close()
    clock = Clock()
    library = Library.open(settings, clock=clock)
    try:
        library.ask("warm-up question about the news", top_k=args.top_k)  # loads the model
        started = time.perf_counter()
        outcomes = ask_all(library, clock, found.questions, args.top_k, args.latest_depth)
        asking = time.perf_counter() - started
    finally:
        library.close()
    summary = summarise(outcomes, args.latest_depth)

    split = "weeks < " + DEV_BEFORE if args.split == "dev" else "weeks >= " + DEV_BEFORE
    print(f"# newsbot: questions about time, {args.split} ({split})\n")
    print(f"at start: {machine_at_start}")
    print(f"at end:   {machine_line()}")
    print(f"code: {version}")
    print(
        f"index: {settings.store.path} ({ingest['articles']} articles, {ingest['chunks']} chunks; "
        f"quality.py --split {args.split} --questions {args.questions}); top_k={args.top_k}, "
        f"latest asked with top_k={args.latest_depth}; {len(outcomes)} questions in {asking:.0f} s"
    )
    if problems:
        print(f"**{len(problems)} questions of the set failed the self-check** (see stderr)")
    print("\nCells: with the time phrase / without it.\n")
    print("## Periods that hold the answer\n")
    print(inside_table(summary))
    print("\n## Periods that exclude the answer\n")
    print(outside_table(summary, found))
    print("\n## Latest\n")
    print(latest_table(summary, args.latest_depth))
    print("\n## ask latency\n")
    print(latency_table(outcomes, args.latest_depth))
    declared = sum(row["with"]["outside_declared_period"] for row in summary.values())
    print(f"\nPassages outside the period a reply says it searched: {declared}")

    if args.json:
        payload = {
            "machine": {"start": machine_at_start, "end": machine_line()},
            "code": version,
            "split": args.split,
            "index": ingest,
            "set": found.counts(),
            "skipped": dict(found.skipped),
            "problems": problems,
            "notes": notes,
            "summary": summary,
            "outcomes": [
                {
                    "question": o.question.to_json(),
                    "with": asdict(o.with_phrase),
                    "without": asdict(o.without),
                }
                for o in outcomes
            ],
        }
        args.json.write_text(json.dumps(payload, indent=1))
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
