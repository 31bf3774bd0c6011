"""What a question about time searched, in words for the reader, and the wider period tried
when nothing in the reader's own answers."""

from __future__ import annotations

from datetime import date, timedelta

from newsbot.calendar_days import describe_period
from newsbot.models import Answer, Period
from newsbot.time_query import TimeQuery

# Widening adds half the period's length on each side, and at least this many days: "on 3 May"
# becomes 30 Apr - 6 May, "in March 2021" 16 Feb - 15 Apr (a story told a few days after the
# day asked; a step of the period's whole length brought back the neighbouring month's news
# for 45 % of questions about a month without the answer: benchmarks/time_questions.py).
MIN_WIDENING_DAYS = 3


def period_of(when: TimeQuery) -> Period | None:
    """The period a question names, if any."""
    if when.start is None and when.end is None:
        return None
    return Period(when.start, when.end)


def widened(period: Period) -> Period:
    """The period with half its length (at least MIN_WIDENING_DAYS) added on each side; an
    open end stays open."""
    if period.start is not None and period.end is not None:
        length = (period.end - period.start).days + 1
        pad = timedelta(days=max(MIN_WIDENING_DAYS, length // 2))
    else:
        pad = timedelta(days=MIN_WIDENING_DAYS * 10)
    start = _shift(period.start, -pad)
    end = _shift(period.end, pad)
    return Period(start, end)


def _shift(day: date | None, by: timedelta) -> date | None:
    if day is None:
        return None
    try:
        return day + by
    except OverflowError:
        return date.min if by.days < 0 else date.max


def label(period: Period) -> str:
    """The period for the reader: "1-30 Sep 2021", "until 31 Dec 2019", "from 3 Sep 2021"."""
    return describe_period(period.start, period.end)


def time_notes(answer: Answer) -> list[str]:
    """What the reader should know about time in this answer, one plain line each (none for a
    question without a time phrase)."""
    if answer.problem:
        return [answer.problem]
    notes = []
    if answer.no_subject:
        notes.append(
            "Ask about something as well, e.g. “What happened in Kabul last week?”; "
            "/latest lists the newest articles."
        )
    elif answer.empty_period and answer.period is not None:
        notes.append(
            f"No article in the library was published {_published(answer.period)}; ask "
            "without the date to search every article."
        )
    elif answer.asked_period is not None and answer.period is not None:
        notes.append(
            f"Nothing published {_published(answer.asked_period)} answers; these were "
            f"published {_published(answer.period)}."
        )
    elif answer.period is not None and answer.passages:
        notes.append(f"Searched articles published {_published(answer.period)}.")
    elif answer.period is not None:
        notes.append(
            f"Nothing published {_published(answer.period)} (or around then) answers this; "
            "ask without the date to search every article."
        )
    if answer.latest and answer.passages:
        notes.append("Newest articles first.")
    if answer.undated and answer.period is not None and not answer.no_subject:
        plural = "s" if answer.undated != 1 else ""
        notes.append(f"{answer.undated} article{plural} without a date not searched.")
    return notes


def _published(period: Period) -> str:
    text = label(period)
    if text.startswith(("from ", "until ")):
        return text
    # "in 2021", "in Sep 2021", "in 1-30 Sep 2021" read as well as "on 3 Sep 2021" would not.
    return "on " + text if period.start == period.end else "in " + text
