"""Time in a question: "latest", "last week", "in March 2021", "since 3 September".

A reader narrows a question to a period, or asks for the newest news, with a few English
phrases. Rules find them, and only where a trigger word introduces a date ("in", "on",
"since", "between", ...): a year that belongs to the subject ("the 2020 election",
"Covid-19", "the G20", "9/11", "2000 people") stays in the question. Dates with a day in them
("3rd of Sept. 2021", "Sep 3", "last Monday") are read by dateparser, imported only when
such a date was found, since its import and first call take about a quarter of a second;
months, years and relative periods are plain calendar arithmetic.

Nothing here raises on odd input: a date that is not in the calendar, or a period that has
not begun, comes back as a one-line ``problem`` for the reader instead of a period.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from newsbot.calendar_days import (
    MONTH_NAMES,
    calendar_period,
    describe_period,
    month_span,
    months_back,
    plus_days,
    year_span,
)
from newsbot.question_sentences import asking_sentence_start


@dataclass(frozen=True, slots=True)
class TimeQuery:
    """A question read for time: what to search, and which articles' dates fit.

    Attributes:
        text: The question with its time phrases taken out, to embed and search. Empty when
            nothing but time phrases and punctuation was asked ("latest", "last week?"); the
            question unchanged when it held no time phrase.
        phrase: The period's phrase as the reader typed it ("in March 2021"), or the first
            "latest"-style word when there is no period; None when neither was found.
        start: First day of the period, inclusive; None when the period is open at the start
            ("before 2020") or there is none.
        end: Last day of the period, inclusive. It may lie after now for the current week,
            month or year; None when open at the end or there is none.
        latest: The reader asked for the newest news ("latest", "most recent", "breaking
            news"): rank newer articles higher.
        problem: A polite one-line explanation when the phrase names no usable period (a day
            not in the calendar, a period still to come); start and end are then None.
    """

    text: str
    phrase: str | None = None
    start: date | None = None
    end: date | None = None
    latest: bool = False
    problem: str | None = None


# --- The date grammar ------------------------------------------------------------------------
# Every piece is bounded (no nested repetition), so a long message is scanned in linear time.

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\b(?:\.(?=\s*\d))?"
)
_DAY = r"\d{1,2}(?:st|nd|rd|th)?\b"
# 1900-2099: a four-digit number outside it is a count or a date in history ("In 1803, the US
# purchased ..."), never a year news articles were published in.
_YEAR = r"(?:19|20)\d\d\b"
# A year right after a day that the grammar did not take ("On July 4, 1776"): the day is
# history's, not a day of publication.
_OTHER_YEAR_AFTER = re.compile(r",?\s*\d{3,4}\b")
# Words that may follow a number that ends a date. Any other lower-case word makes the number
# part of the subject: "in 2000 homes", "after 1500 people died", "in September 11 attacks".
_FOLLOWERS = (
    "a|about|after|against|ago|all|along|amid|among|an|and|any|are|around|as|at|be|been|before"
    "|but|by|can|could|did|do|does|during|for|from|had|has|have|he|her|his|how|i|if|in|into|is"
    "|it|its|may|might|near|news|nor|of|on|or|over|regarding|she|should|since|so|than|that|the"
    "|their|then|there|these|they|this|those|through|till|to|under|until|up|was|we|were|what"
    "|when|where|whether|which|while|who|whom|whose|why|will|with|within|without|would|yet|you"
)
_NUMBER_END = (
    rf"(?![-/.:]\d|\s*%|\s+(?!(?:{_FOLLOWERS})\b)(?-i:[a-z]))"  # e.g. not "2021-22", "2020 polls"
)


_FORMS: tuple[tuple[str, str], ...] = (
    ("iso", r"\d{4}-\d{1,2}-\d{1,2}\b(?![-/.:]\d)"),
    ("day_month", rf"(?:the\s+)?{_DAY}(?:\s+of)?\s+{_MONTH}(?:,?\s+{_YEAR}{_NUMBER_END})?"),
    ("month_day", rf"{_MONTH}\s+(?:the\s+)?{_DAY}(?:,?\s+{_YEAR})?{_NUMBER_END}"),
    ("month_year", rf"{_MONTH},?\s+(?:of\s+)?{_YEAR}{_NUMBER_END}"),
    ("month", rf"{_MONTH}(?!\s*\d)"),
    ("year", rf"{_YEAR}{_NUMBER_END}"),
    ("weekday", r"(?:last\s+)?(?:mon|tues|wednes|thurs|fri|satur|sun)day\b"),
    ("relative_day", r"(?:today|yesterday|tomorrow)\b"),
    ("relative_period", r"(?:this|last)\s+(?:week|month|year)\b"),
)
# Alternatives are tried in order, so the longer forms come first.
_DATE = "(?:" + "|".join(pattern for _, pattern in _FORMS) + ")"
_FORM_PATTERNS = tuple((name, re.compile(pattern, re.IGNORECASE)) for name, pattern in _FORMS)
_MONTH_WORD = re.compile(_MONTH, re.IGNORECASE)
_FOUR_DIGITS = re.compile(r"\d{4}")
_APOSTROPHE_S = r"(?:['\u2019]s)?"

# One pattern for both range phrasings, so the long date grammar is compiled twice, not four
# times; the handler checks that "between" goes with "and" and "from" with "to".
_RANGE = re.compile(
    rf"\b(?P<opening>between|from)\s+(?P<first>{_DATE}|{_DAY})"
    rf"\s*(?P<link>\b(?:and|to|until|till|through)\b|[-\u2013])\s*(?P<last>{_DATE}|now\b)",
    re.IGNORECASE,
)
# A date right after these is when someone was born or something founded, never a day news
# about it was published ("Which president was born on July 4?"): searched as words.
_LIFE_EVENT_BEFORE = re.compile(r"\b(?:born|founded|established)\s*$", re.IGNORECASE)
_TRIGGERED = re.compile(
    r"\b(?P<trigger>(?:ever\s+)?since|after|before|prior\s+to|until|till|up\s+to"
    rf"|in|on|during|from)\s+(?P<date>{_DATE})",
    re.IGNORECASE,
)

_NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "few": 3,
    "a few": 3,
    "couple of": 2,
    "a couple of": 2,
}
_COUNT = r"\d{1,4}|a\s+few|a\s+couple\s+of|couple\s+of|" + "|".join(
    word for word in _NUMBER_WORDS if " " not in word
)
_LEAD_IN = r"(?:(?:in|during|over|within|for|from)\s+)?"
_UNIT = r"(?:hour|day|week|month|year)"
_ROLLING = re.compile(
    rf"\b{_LEAD_IN}(?P<the>the\s+)?(?P<which>(?:this\s+)?past|last|previous)\s+"
    rf"(?:(?P<count>{_COUNT})\s+(?P<units>{_UNIT})s?|(?P<unit>{_UNIT}))"
    rf"{_APOSTROPHE_S}\b(?!\s+of\b)",  # "the last week of August" is not the past week
    re.IGNORECASE,
)
_CURRENT = re.compile(
    rf"\b{_LEAD_IN}(?:this|the\s+current)\s+(?P<unit>week|month|year){_APOSTROPHE_S}\b"
    r"(?!\s+of\b)",
    re.IGNORECASE,
)
_DAY_WORD = re.compile(
    rf"\b(?:(?:from|for|in|of)\s+)?(?P<day>today|yesterday|this\s+(?:morning|afternoon|evening))"
    rf"{_APOSTROPHE_S}\b",
    re.IGNORECASE,
)
_LAST_WEEKDAY = re.compile(r"\blast\s+(?:mon|tues|wednes|thurs|fri|satur|sun)day\b", re.IGNORECASE)
_LATEST = re.compile(
    r"\b(?:(?:in|over|during)\s+)?(?:the\s+)?(?:most\s+)?recent\s+(?:days|weeks|months|times)\b"
    r"|\b(?:the\s+)?(?:very\s+)?(?:latest|newest|most\s+recent)\b"
    # "recent" alone describes the subject far more often than it asks for the newest news
    # ("a recent study", "was recently diagnosed": 46 of 499 RealTimeQA questions).
    r"|\brecent(?=\s+(?:news|events|developments|updates|articles|stories)\b)"
    # "breaking" only as news: "Who is breaking the ceasefire?" asks for no newest articles.
    r"|\bbreaking(?=\s+news\b)|^\s*breaking\b(?=\s*(?::|-|$))",
    re.IGNORECASE,
)


# --- Reading -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Reading:
    """What one matched phrase means: a period (either end may be open) or a problem."""

    start: date | None = None
    end: date | None = None
    problem: str | None = None


_Span = tuple[date, date]
# A date read from text: its inclusive span, a problem for the reader, or None when the text
# turned out not to be a time expression after all ("may" the verb).
_DateRead = _Span | str | None
# What a rule's handler makes of its match: None when it is no time phrase after all.
_Read = _Reading | None


def read_time(question: str, now: datetime) -> TimeQuery:
    """Read the time phrases of an English question.

    Args:
        question: The reader's question, as typed.
        now: The current time; relative phrases ("last week", "in March") count from its date.

    Returns:
        The question without its time phrases, the period it names (the first one, when it
        names several), whether it asks for the latest news, and a problem when the period is
        not usable. Never raises.
    """
    asking = asking_sentence_start(question)
    chosen = _first_period(question, now, asking)
    period_span, reading = chosen if chosen is not None else ((0, 0), _Reading())
    # The latest-style words outside the period's phrase ("the latest news from last week").
    latest_spans = [
        match.span()
        for match in _LATEST.finditer(question, asking)
        if not (match.start() < period_span[1] and period_span[0] < match.end())
    ]
    if chosen is None and not latest_spans:
        return TimeQuery(text=question)
    removed = [period_span, *latest_spans] if chosen is not None else latest_spans
    first_cut = removed[0]
    return TimeQuery(
        text=_without(question, removed),
        phrase=question[first_cut[0] : first_cut[1]].strip(),
        start=reading.start,
        end=reading.end,
        latest=bool(latest_spans),
        problem=reading.problem,
    )


def _first_period(
    question: str, now: datetime, asking: int = 0
) -> tuple[tuple[int, int], _Reading] | None:
    """The earliest (then longest) phrase from ``asking`` on that reads as a period, with what
    it means."""
    candidates: list[tuple[int, int, re.Match[str], Callable[[re.Match[str], datetime], _Read]]]
    candidates = [
        (match.start(), -len(match.group()), match, handler)
        for pattern, handler in _RULES
        for match in pattern.finditer(question, asking)
    ]
    candidates.sort(key=lambda candidate: candidate[:2])
    for _, _, match, handler in candidates:
        try:
            reading = handler(match, now)
        except (ValueError, OverflowError):
            # Only a clock near the ends of the calendar (year 1 or 9999) gets here: the
            # arithmetic below stays inside it for every date a reader can type.
            reading = _Reading(problem="That period lies outside the calendar I can read.")
        if reading is not None:
            return match.span(), reading
    return None


def _read_range(match: re.Match[str], now: datetime) -> _Read:
    if _LIFE_EVENT_BEFORE.search(match.string, 0, match.start()):
        return None  # "born between 1990 and 2000": a birth's dates, not the news's
    first, last, today = match["first"], match["last"], now.date()
    if (match["opening"].lower() == "between") != (match["link"].lower() == "and"):
        return None  # "between 2019 to 2021", "from 2019 and ...": not one of our phrasings
    if last.lower() == "now" and match["opening"].lower() == "between":
        return None  # "between 2019 and now" is not said; "from 2019 to now" is
    bare_day = re.fullmatch(_DAY, first) is not None
    if bare_day and _form_of(last) not in ("iso", "day_month", "month_day"):
        return None  # "between 5 and 2020": a count, not a day (and no parsing was spent)
    last_span = (today, today) if last.lower() == "now" else _date_span(last, now)
    if not isinstance(last_span, tuple):
        return _as_reading(last_span)
    first_span: _DateRead
    if bare_day:
        # "between 1 and 5 September 2021": the day takes the month and year of the end.
        day = int(re.sub(r"\D", "", first))
        base = last_span[0]
        try:
            first_day = date(base.year, base.month, day)
        except ValueError:
            return _Reading(problem=f"There is no {day} {MONTH_NAMES[base.month - 1]} {base.year}.")
        first_span = (first_day, first_day)
    elif _form_of(first) == "month":
        # "from November to February 2021": the month of the latest year not after the end.
        month = _month_of(first)
        year = last_span[0].year if month <= last_span[0].month else last_span[0].year - 1
        first_span = month_span(year, month)
    else:
        first_span = _date_span(first, now)
        if not isinstance(first_span, tuple):
            return _as_reading(first_span)
    # A reversed range ("from 2021 to 2019") still says which years the reader means.
    start, end = min(first_span[0], last_span[0]), max(first_span[1], last_span[1])
    if start > today:
        # A period still to come names no articles (none is published yet): in "Which
        # category will be added to the Golden Globes in 2026?" (RealTimeQA, asked in 2025)
        # the date is the event's, so it stays in the question and no period is read.
        return None
    return _Reading(start, end)


def _read_triggered(match: re.Match[str], now: datetime) -> _Read:
    today = now.date()
    if _OTHER_YEAR_AFTER.match(match.string, match.end()):
        return None
    if _LIFE_EVENT_BEFORE.search(match.string, 0, match.start()):
        return None  # "born on July 4", "founded in 2010": the event's date, not the news's
    span = _date_span(match["date"], now)
    if not isinstance(span, tuple):
        return _as_reading(span)
    trigger = match["trigger"].lower()
    if trigger.startswith(("before", "prior")):
        return _Reading(None, plus_days(span[0], -1))
    if trigger.startswith(("until", "till", "up")):
        return _Reading(None, span[1])
    if trigger == "after":
        if span[1] >= today:
            return _Reading(problem=f"There is no news after {describe_period(*span)} yet.")
        return _Reading(span[1] + timedelta(days=1), today)
    if span[0] > today and not trigger.endswith("since"):
        return None  # still to come: the event's time (see _read_range)
    if span[0] > today:
        return _Reading(problem=_future(*span))
    if trigger.endswith("since"):
        return _Reading(span[0], today)
    return _Reading(*span)  # in, on, during, from


def _read_last_weekday(match: re.Match[str], now: datetime) -> _Read:
    span = _date_span(match.group(), now)
    return _Reading(*span) if isinstance(span, tuple) else _as_reading(span)


def _read_rolling(match: re.Match[str], now: datetime) -> _Read:
    today = now.date()
    unit = (match["unit"] or match["units"]).lower()
    which = match["which"].lower()
    if match["count"] is None and not match["the"] and which == "last":
        if unit in ("hour", "day"):
            return None  # "his last day": no period, and "last day" is never said for yesterday
        # "last week" without "the": the calendar week, month or year before this one.
        return _Reading(*calendar_period(unit, today, previous=True))
    count = _count_of(match["count"]) if match["count"] else 1
    if count < 1:
        return _Reading(problem=f'"{match.group().strip()}" covers no time at all.')
    if unit == "hour":
        start = (now - timedelta(hours=count)).date()
    elif unit == "day":
        start = plus_days(today, -count)
    elif unit == "week":
        start = plus_days(today, -7 * count)
    else:
        start = months_back(today, count * (12 if unit == "year" else 1))
    return _Reading(start, today)


def _read_current(match: re.Match[str], now: datetime) -> _Read:
    return _Reading(*calendar_period(match["unit"].lower(), now.date(), previous=False))


def _read_day_word(match: re.Match[str], now: datetime) -> _Read:
    today = now.date()
    day = today - timedelta(days=1) if match["day"].lower() == "yesterday" else today
    return _Reading(day, day)


_RULES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str], datetime], _Read]], ...] = (
    (_RANGE, _read_range),
    (_TRIGGERED, _read_triggered),
    (_ROLLING, _read_rolling),
    (_CURRENT, _read_current),
    (_DAY_WORD, _read_day_word),
    (_LAST_WEEKDAY, _read_last_weekday),
)


def _date_span(text: str, now: datetime) -> _DateRead:
    """The inclusive span of one date expression of the grammar above."""
    today = now.date()
    form = _form_of(text)
    if form == "iso":
        year, month, day = (int(part) for part in text.split("-"))
        try:
            found = date(year, month, day)
        except ValueError:
            return _no_such_day(text)
        return found, found
    if form in ("day_month", "month_day", "weekday"):
        parsed = _parse_day(text, now)
        return (parsed, parsed) if parsed is not None else _no_such_day(text)
    if form == "month_year":
        return month_span(_year_of(text), _month_of(text))
    if form == "month":
        # "may" and "march" are verbs far more often than months: the month is capitalised.
        if text.lower().rstrip(".") in ("may", "march") and not text[0].isupper():
            return None
        month = _month_of(text)
        return month_span(today.year if month <= today.month else today.year - 1, month)
    if form == "year":
        return year_span(_year_of(text))
    if form == "relative_day":
        offset = {"today": 0, "yesterday": -1, "tomorrow": 1}[text.lower()]
        moved = plus_days(today, offset)
        return moved, moved
    if form == "relative_period":
        which, unit = text.lower().split()
        return calendar_period(unit, today, previous=which == "last")
    return None


def _form_of(text: str) -> str | None:
    return next((name for name, pattern in _FORM_PATTERNS if pattern.fullmatch(text)), None)


def _parse_day(text: str, now: datetime) -> date | None:
    """A day read by dateparser ("3rd of Sept. 2021", "Sep 3", "last Monday"), or None."""
    # Imported here: only a question with such a date pays for it (see the module docstring).
    import dateparser

    settings = {
        # Naive: only the date is kept, and a time zone would shift it across midnight.
        "RELATIVE_BASE": now.replace(tzinfo=None),
        "PREFER_DATES_FROM": "past",  # "on 20 September" asked on 15 September 2021: 2020
        "PREFER_DAY_OF_MONTH": "first",
    }
    try:
        parsed = dateparser.parse(text, languages=["en"], settings=settings)
    except Exception:  # a parser's internal error on odd input must not reach the reader
        return None
    return parsed.date() if isinstance(parsed, datetime) else None


def _as_reading(read: str | None) -> _Read:
    return None if read is None else _Reading(problem=read)


def _no_such_day(text: str) -> str:
    return f"There is no {' '.join(text.split())} in the calendar."


def _future(start: date, end: date) -> str:
    return f"{describe_period(start, end)} is still to come, so there is no news from it yet."


def _month_of(text: str) -> int:
    found = _MONTH_WORD.search(text)
    assert found is not None  # only called on text of a form that holds a month name
    return MONTH_NAMES.index(found.group()[:3].title()) + 1


def _year_of(text: str) -> int:
    found = _FOUR_DIGITS.search(text)
    assert found is not None  # only called on text of a form that holds a year
    return int(found.group())


def _count_of(text: str) -> int:
    words = " ".join(text.lower().split())
    return int(words) if words.isdigit() else _NUMBER_WORDS[words]


def _without(question: str, spans: list[tuple[int, int]]) -> str:
    """``question`` with ``spans`` cut out and the punctuation around the cuts tidied."""
    pieces, cursor = [], 0
    for begin, finish in sorted(spans):
        pieces.append(question[cursor:begin])
        cursor = finish
    pieces.append(question[cursor:])
    text = " ".join(" ".join(pieces).split())
    text = re.sub(r"\s+([?.!,;:])", r"\1", text)  # "What happened ?" -> "What happened?"
    text = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", text)  # "In Kabul, , what" -> "In Kabul, what"
    text = text.strip(" ,;:-")
    return text if any(ch.isalnum() for ch in text) else ""
