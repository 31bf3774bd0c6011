"""Days of the calendar: the week, month or year around a day, days moved without overflow,
and a short English label for a period, as the bot shows it."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def describe_period(start: date | None, end: date | None) -> str:
    """A compact English label for an inclusive period, as the bot shows it.

    Examples: "3 Sep 2021", "1-15 Sep 2021", "1 Sep - 12 Oct 2021", "28 Dec 2020 - 3 Jan 2021",
    "Sep 2021" (a whole month), "Mar-May 2021", "Nov 2020 - Feb 2021", "2021" (a whole year),
    "2019-2021", and for an open end "until 31 Dec 2019" or "from 3 Sep 2021".

    Args:
        start: First day, inclusive, or None for a period open at the start.
        end: Last day, inclusive, or None for a period open at the end.

    Returns:
        The label; "any time" when both ends are open.

    Raises:
        ValueError: ``start`` is after ``end``.
    """
    if start is None and end is None:
        return "any time"
    if start is None:
        assert end is not None  # narrowed for mypy: both None returned above
        return f"until {_day_label(end)}"
    if end is None:
        return f"from {_day_label(start)}"
    if start > end:
        raise ValueError(f"the period starts ({start}) after it ends ({end})")
    if (start.month, start.day, end.month, end.day) == (1, 1, 12, 31):
        return str(start.year) if start.year == end.year else f"{start.year}-{end.year}"
    if start.day == 1 and end.day == calendar.monthrange(end.year, end.month)[1]:
        first, last = MONTH_NAMES[start.month - 1], MONTH_NAMES[end.month - 1]
        if start.year != end.year:
            return f"{first} {start.year} - {last} {end.year}"
        if start.month == end.month:
            return f"{first} {start.year}"
        return f"{first}-{last} {start.year}"
    if start == end:
        return _day_label(start)
    if (start.year, start.month) == (end.year, end.month):
        return f"{start.day}-{end.day} {MONTH_NAMES[end.month - 1]} {end.year}"
    if start.year == end.year:
        return f"{start.day} {MONTH_NAMES[start.month - 1]} - {_day_label(end)}"
    return f"{_day_label(start)} - {_day_label(end)}"


def _day_label(day: date) -> str:
    # Month names from a table, not strftime("%b"), which follows the process locale.
    return f"{day.day} {MONTH_NAMES[day.month - 1]} {day.year}"


def calendar_period(unit: str, today: date, *, previous: bool) -> tuple[date, date]:
    """The calendar week (Monday to Sunday), month or year holding ``today``, or the one
    before it."""
    if unit == "week":
        monday = today - timedelta(days=today.weekday() + (7 if previous else 0))
        return monday, monday + timedelta(days=6)
    if unit == "month":
        if not previous:
            return month_span(today.year, today.month)
        if today.month == 1:
            return month_span(today.year - 1, 12)
        return month_span(today.year, today.month - 1)
    return year_span(today.year - 1 if previous else today.year)


def month_span(year: int, month: int) -> tuple[date, date]:
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def year_span(year: int) -> tuple[date, date]:
    return date(year, 1, 1), date(year, 12, 31)


def plus_days(day: date, days: int) -> date:
    """``day`` moved by ``days``, held at the calendar's ends instead of overflowing."""
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return date.min if days < 0 else date.max


def months_back(day: date, months: int) -> date:
    """The same day ``months`` earlier (the month's last day when it is shorter)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    if year < date.min.year:
        return date.min  # "the past 5000 years": everything there is
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))
