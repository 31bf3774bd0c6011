"""Publication dates as ``YYYY-MM-DD``, from whatever form pages and feeds give them in."""

from __future__ import annotations

import datetime as dt
import email.utils
import re

_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}
_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:$|[t ]\d)")
_ISO_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})(?:$|t\d)")
_YMD_SLASH = re.compile(r"(\d{4})[/.](\d{1,2})[/.](\d{1,2})$")
_DAY_MONTH_YEAR = re.compile(r"(\d{1,2})(?:st|nd|rd|th)?\s+([a-z]+)\.?,?\s+(\d{4})\b")
_MONTH_DAY_YEAR = re.compile(r"([a-z]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})\b")


def normalise_date(value: str | None) -> str | None:
    """Turn a date as found in metadata or a feed into ``YYYY-MM-DD``.

    Understands ISO 8601 dates and date-times (``2021-09-06``, ``2021-09-06T10:00:00Z``,
    ``20210906``), ``2021/09/06``, RFC 2822 (``Mon, 06 Sep 2021 10:00:00 GMT``) and written dates
    (``6 September 2021``, ``September 6, 2021``, ``Sep. 6th, 2021``). The date is kept as
    written (no time zone conversion). Ambiguous forms such as ``06/09/2021`` give None.

    Returns:
        The date, or None when ``value`` is empty or not understood.
    """
    if not value or not isinstance(value, str):
        return None
    text = " ".join(value.strip().lower().split())
    if not text:
        return None
    for pattern in (_ISO_DATE, _ISO_COMPACT, _YMD_SLASH):
        match = pattern.match(text)
        if match:
            return _ymd(int(match[1]), int(match[2]), int(match[3]))
    try:
        parsed = email.utils.parsedate_tz(value)
    except (TypeError, ValueError, IndexError):
        parsed = None
    if parsed is not None and parsed[0] > 0:
        found = _ymd(parsed[0], parsed[1], parsed[2])
        if found:
            return found
    match = _DAY_MONTH_YEAR.search(text)
    if match and match[2] in _MONTHS:
        return _ymd(int(match[3]), _MONTHS[match[2]], int(match[1]))
    match = _MONTH_DAY_YEAR.search(text)
    if match and match[1] in _MONTHS:
        return _ymd(int(match[3]), _MONTHS[match[1]], int(match[2]))
    return None


def _ymd(year: int, month: int, day: int) -> str | None:
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        return None
