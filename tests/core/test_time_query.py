"""Time phrases in a question: the period they name, the latest flag, what is left to search,
and the questions whose years and numbers belong to the subject."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsbot.calendar_days import describe_period
from newsbot.time_query import TimeQuery, read_time

# A Wednesday.
NOW = datetime(2021, 9, 15, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("question", "start", "end", "text"),
    [
        # Days and calendar periods.
        (
            "What happened today in Kabul?",
            date(2021, 9, 15),
            date(2021, 9, 15),
            "What happened in Kabul?",
        ),
        ("What happened yesterday?", date(2021, 9, 14), date(2021, 9, 14), "What happened?"),
        (
            "What did the PM say this morning?",
            date(2021, 9, 15),
            date(2021, 9, 15),
            "What did the PM say?",
        ),
        ("Today's headlines on Kabul", date(2021, 9, 15), date(2021, 9, 15), "headlines on Kabul"),
        ("Kabul news this week", date(2021, 9, 13), date(2021, 9, 19), "Kabul news"),
        (
            "What happened this month in Kabul?",
            date(2021, 9, 1),
            date(2021, 9, 30),
            "What happened in Kabul?",
        ),
        ("Floods this year", date(2021, 1, 1), date(2021, 12, 31), "Floods"),
        ("What happened last week?", date(2021, 9, 6), date(2021, 9, 12), "What happened?"),
        ("Protests last month in Herat", date(2021, 8, 1), date(2021, 8, 31), "Protests in Herat"),
        (
            "Who won elections last year?",
            date(2020, 1, 1),
            date(2020, 12, 31),
            "Who won elections?",
        ),
        (
            "What did last year's budget cut?",
            date(2020, 1, 1),
            date(2020, 12, 31),
            "What did budget cut?",
        ),
        (
            "What happened last Monday in Kabul?",
            date(2021, 9, 13),
            date(2021, 9, 13),
            "What happened in Kabul?",
        ),
        # Rolling windows: up to today, counted back from today's date.
        ("Fires in the past 3 days", date(2021, 9, 12), date(2021, 9, 15), "Fires"),
        ("Floods over the last two weeks", date(2021, 9, 1), date(2021, 9, 15), "Floods"),
        (
            "What did Biden say in the past 6 months?",
            date(2021, 3, 15),
            date(2021, 9, 15),
            "What did Biden say?",
        ),
        ("Syria over the past year", date(2020, 9, 15), date(2021, 9, 15), "Syria"),
        ("Arrests in the last week", date(2021, 9, 8), date(2021, 9, 15), "Arrests"),
        ("Evacuations in the last few days", date(2021, 9, 12), date(2021, 9, 15), "Evacuations"),
        (
            "What happened in the last 24 hours?",
            date(2021, 9, 14),
            date(2021, 9, 15),
            "What happened?",
        ),
        # since / in / on / before / after.
        (
            "News since 3 September about Kabul",
            date(2021, 9, 3),
            date(2021, 9, 15),
            "News about Kabul",
        ),
        ("What changed since 2020?", date(2020, 1, 1), date(2021, 9, 15), "What changed?"),
        ("What changed since Monday?", date(2021, 9, 13), date(2021, 9, 15), "What changed?"),
        ("What changed since last week?", date(2021, 9, 6), date(2021, 9, 15), "What changed?"),
        ("What happened in March 2021?", date(2021, 3, 1), date(2021, 3, 31), "What happened?"),
        ("What happened in March?", date(2021, 3, 1), date(2021, 3, 31), "What happened?"),
        ("What happened in December?", date(2020, 12, 1), date(2020, 12, 31), "What happened?"),
        ("Flights in September", date(2021, 9, 1), date(2021, 9, 30), "Flights"),
        (
            "What happened in 2020 in Kabul?",
            date(2020, 1, 1),
            date(2020, 12, 31),
            "What happened in Kabul?",
        ),
        ("Who spoke during July 2021?", date(2021, 7, 1), date(2021, 7, 31), "Who spoke?"),
        (
            "What happened on 3 September 2021?",
            date(2021, 9, 3),
            date(2021, 9, 3),
            "What happened?",
        ),
        ("What happened on Sep 3, 2021?", date(2021, 9, 3), date(2021, 9, 3), "What happened?"),
        ("What happened on 2021-09-03?", date(2021, 9, 3), date(2021, 9, 3), "What happened?"),
        (
            "What happened on the 3rd of September?",
            date(2021, 9, 3),
            date(2021, 9, 3),
            "What happened?",
        ),
        ("What happened on Monday?", date(2021, 9, 13), date(2021, 9, 13), "What happened?"),
        # "on 20 September" asked on 15 September 2021: the most recent one, a year ago.
        ("What happened on 20 September?", date(2020, 9, 20), date(2020, 9, 20), "What happened?"),
        ("Who led before 2020?", None, date(2019, 12, 31), "Who led?"),
        ("Who led until 2019?", None, date(2019, 12, 31), "Who led?"),
        ("What changed after August 2021?", date(2021, 9, 1), date(2021, 9, 15), "What changed?"),
        # Ranges.
        (
            "What happened between 1 and 5 September 2021?",
            date(2021, 9, 1),
            date(2021, 9, 5),
            "What happened?",
        ),
        ("Talks between 2019 and 2021", date(2019, 1, 1), date(2021, 12, 31), "Talks"),
        (
            "What happened from March to May 2021?",
            date(2021, 3, 1),
            date(2021, 5, 31),
            "What happened?",
        ),
        (
            "Protests from November to February 2021?",
            date(2020, 11, 1),
            date(2021, 2, 28),
            "Protests?",
        ),
        ("News from 3 Sep to now", date(2021, 9, 3), date(2021, 9, 15), "News"),
        ("News from 1-5 September 2021", date(2021, 9, 1), date(2021, 9, 5), "News"),
        # Reversed: the reader still means those years.
        ("Talks from 2021 to 2019", date(2019, 1, 1), date(2021, 12, 31), "Talks"),
        (
            "News from last week about Kabul",
            date(2021, 9, 6),
            date(2021, 9, 12),
            "News about Kabul",
        ),
    ],
)
def test_a_phrase_names_a_period_and_leaves_the_question(
    question: str, start: date | None, end: date | None, text: str
) -> None:
    query = read_time(question, NOW)
    assert (query.start, query.end) == (start, end)
    assert query.text == text
    assert query.problem is None
    assert query.latest is False


@pytest.mark.parametrize(
    ("question", "phrase"),
    [
        ("What happened In MARCH 2021?", "In MARCH 2021"),
        ("Fires in the past 3 days", "in the past 3 days"),
        ("News since 3 September about Kabul", "since 3 September"),
        ("What is the latest on Panjshir?", "the latest"),
        ("the latest news from last week", "from last week"),  # the period's phrase first
    ],
)
def test_the_phrase_is_kept_as_typed(question: str, phrase: str) -> None:
    assert read_time(question, NOW).phrase == phrase


@pytest.mark.parametrize(
    ("question", "text"),
    [
        ("What is the latest on the Taliban?", "What is on the Taliban?"),
        ("What is the latest on Panjshir?", "What is on Panjshir?"),
        ("Newest articles about Kabul", "articles about Kabul"),
        ("Most recent news on the evacuation", "news on the evacuation"),
        ("Recent developments in Kabul?", "developments in Kabul?"),
        ("What did they say in recent weeks?", "What did they say?"),
        ("breaking news Kabul", "news Kabul"),
        ("Breaking: Kabul airport", "Kabul airport"),
    ],
)
def test_latest_words_set_the_flag_and_leave_the_text(question: str, text: str) -> None:
    query = read_time(question, NOW)
    assert query.latest is True
    assert query.text == text
    assert (query.start, query.end, query.problem) == (None, None, None)


@pytest.mark.parametrize(
    "question",
    [
        # "recent(ly)" describes the subject here (46 of 499 RealTimeQA questions say it).
        "According to a recent study, which animal heals slowest?",
        "A judge was recently arrested for doing what?",
        "What did the Taliban say lately?",
        # Time in a sentence before the one that asks tells the story, not what to search.
        "The Taliban spokesman held a press conference on Monday. In which city?",
        "Last week the airport was attacked. Who claimed it?",
        "The latest talks ended in 2020. Who led them?",
    ],
)
def test_time_that_does_not_choose_articles_is_left_alone(question: str) -> None:
    assert read_time(question, NOW) == TimeQuery(text=question)


def test_the_asking_sentence_and_what_follows_it_are_read() -> None:
    query = read_time("Kabul airport was attacked. What happened next in March 2021?", NOW)
    assert (query.start, query.end) == (date(2021, 3, 1), date(2021, 3, 31))
    assert read_time("Who won? In 2020.", NOW).start == date(2020, 1, 1)


def test_latest_and_a_period_together() -> None:
    query = read_time("the latest news from last week", NOW)
    assert query.latest is True
    assert (query.start, query.end) == (date(2021, 9, 6), date(2021, 9, 12))
    assert query.text == "news"


@pytest.mark.parametrize(
    ("question", "latest", "start"),
    [
        ("latest", True, None),
        ("Latest?", True, None),
        ("most recent!", True, None),
        ("last week?", False, date(2021, 9, 6)),
        ("Yesterday", False, date(2021, 9, 14)),
        ("in 2020", False, date(2020, 1, 1)),
        ("latest, last week", True, date(2021, 9, 6)),
    ],
)
def test_a_question_of_only_time_leaves_no_text(
    question: str, latest: bool, start: date | None
) -> None:
    # The caller lists the newest articles (of the period) instead of searching.
    query = read_time(question, NOW)
    assert query.text == ""
    assert query.latest is latest
    assert query.start == start


@pytest.mark.parametrize(
    "question",
    [
        "Who won the 2020 election?",
        "Covid-19 cases in the G20",
        "What happened on 9/11?",
        "Why did 200 people die?",
        "In 2000 homes there was no power",
        "Why did the army leave after 1500 people died?",
        "What changed since the 2016 referendum?",
        "What is in the 2021-22 budget?",
        "What happened in the 1990s?",
        "Who is breaking the ceasefire?",
        "What may happen next?",
        "in may they said the deal was off",
        "What did he do on his last day in office?",
        "What happened in the last week of August?",
        "What happened in September 11 attacks?",
        "Who won Eurovision?",
        "",
        "   ",
        "🙂",
    ],
)
def test_numbers_and_words_of_the_subject_are_not_time(question: str) -> None:
    assert read_time(question, NOW) == TimeQuery(text=question)


@pytest.mark.parametrize(
    "question",
    [
        "What happened in March 2099?",
        "Elections between 2030 and 2040",
        # History's dates, not days of publication (RealTimeQA, 4 July 2025).
        "On July 4, 1776, the Continental Congress met in which city?",
        "In 1803, the US purchased the Louisiana Territory from which country?",
        "Which category will be added to the Golden Globes in 2022?",
        "Who will host the games on 3 March 2030?",
        # A birth's or a founding's date.
        "Which president was born on July 4?",
        "Which players were born between 1990 and 1995?",
        "Which company was founded in 2010?",
    ],
)
def test_a_period_of_history_or_still_to_come_is_the_events_time(question: str) -> None:
    assert read_time(question, NOW) == TimeQuery(text=question)


@pytest.mark.parametrize(
    ("question", "in_problem", "text"),
    [
        ("What happened on 31 February 2021?", "31 February 2021", "What happened?"),
        ("on 2021-02-30", "2021-02-30", ""),
        ("Kabul since tomorrow", "16 Sep 2021", "Kabul"),
        ("Kabul after today", "15 Sep 2021", "Kabul"),
        ("Fires in the past 0 days", "past 0 days", "Fires"),
    ],
)
def test_a_nonsense_period_is_a_problem_not_a_period(
    question: str, in_problem: str, text: str
) -> None:
    query = read_time(question, NOW)
    assert query.problem is not None
    assert in_problem in query.problem
    assert "\n" not in query.problem
    assert (query.start, query.end) == (None, None)
    assert query.text == text


def test_two_day_words_read_the_first() -> None:
    query = read_time("since yesterday tomorrow", NOW)
    assert (query.start, query.end) == (date(2021, 9, 14), date(2021, 9, 15))
    assert query.text == "tomorrow"


@pytest.mark.parametrize(
    ("now", "question", "start", "end"),
    [
        # Across a new year.
        (datetime(2021, 1, 5, 9), "last month", date(2020, 12, 1), date(2020, 12, 31)),
        (datetime(2021, 1, 5, 9), "in December", date(2020, 12, 1), date(2020, 12, 31)),
        (datetime(2021, 1, 5, 9), "last week", date(2020, 12, 28), date(2021, 1, 3)),
        (datetime(2021, 1, 5, 9), "this week", date(2021, 1, 4), date(2021, 1, 10)),
        # A month back from 31 March is the last day of February.
        (datetime(2021, 3, 31, 9), "the past month", date(2021, 2, 28), date(2021, 3, 31)),
        (datetime(2024, 2, 29, 9), "the past year", date(2023, 2, 28), date(2024, 2, 29)),
        # The date is the clock's own, naive or not.
        (datetime(2021, 9, 15, 23, 30), "yesterday", date(2021, 9, 14), date(2021, 9, 14)),
    ],
)
def test_relative_periods_count_from_now(
    now: datetime, question: str, start: date, end: date
) -> None:
    query = read_time(question, now)
    assert (query.start, query.end) == (start, end)


@pytest.mark.parametrize(
    ("unit", "phrase"),
    [
        ("in ", None),
        ("between 1 and Monday ", None),
        ("from 2019 to ", "from 2019"),
        ("the past ", None),
        ("in may ", None),
        ("on 3 Sep ", "on 3 Sep"),
        ("2020 ", None),
        ("latest ", "latest"),
        ("in 2020" + " " * 40, "in 2020"),
        (" ", None),
        ("on 31 February 2021 ", "on 31 February 2021"),
    ],
)
def test_a_long_message_is_read_quickly(unit: str, phrase: str | None) -> None:
    read_time("on 3 September 2021", NOW)  # dateparser loaded: its first call is not timed
    question = (unit * (10_000 // len(unit) + 1))[:10_000]
    began = time.perf_counter()
    query = read_time(question, NOW)
    elapsed = time.perf_counter() - began
    assert query.phrase == phrase
    if phrase is None:
        assert query.text == question
    else:
        assert len(query.text) < len(question)
    # Catastrophic backtracking would take minutes; the reading takes milliseconds.
    assert elapsed < 1.0


def test_dateparser_is_imported_only_for_a_day_date() -> None:
    script = (
        "import sys\n"
        "from datetime import datetime\n"
        "from newsbot.time_query import read_time\n"
        "now = datetime(2021, 9, 15)\n"
        "read_time('the latest news from last week in March 2021', now)\n"
        "assert 'dateparser' not in sys.modules, 'imported too early'\n"
        "read_time('on 3 September 2021', now)\n"
        "assert 'dateparser' in sys.modules, 'never imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("start", "end", "label"),
    [
        (date(2021, 9, 3), date(2021, 9, 3), "3 Sep 2021"),
        (date(2021, 9, 1), date(2021, 9, 15), "1-15 Sep 2021"),
        (date(2021, 9, 1), date(2021, 9, 30), "Sep 2021"),
        (date(2021, 2, 1), date(2021, 2, 28), "Feb 2021"),
        (date(2021, 3, 1), date(2021, 5, 31), "Mar-May 2021"),
        (date(2020, 11, 1), date(2021, 2, 28), "Nov 2020 - Feb 2021"),
        (date(2021, 9, 1), date(2021, 10, 12), "1 Sep - 12 Oct 2021"),
        (date(2020, 12, 28), date(2021, 1, 3), "28 Dec 2020 - 3 Jan 2021"),
        (date(2021, 1, 1), date(2021, 12, 31), "2021"),
        (date(2019, 1, 1), date(2021, 12, 31), "2019-2021"),
        (date(2020, 1, 1), date(2021, 9, 15), "1 Jan 2020 - 15 Sep 2021"),
        (None, date(2019, 12, 31), "until 31 Dec 2019"),
        (date(2021, 9, 3), None, "from 3 Sep 2021"),
        (None, None, "any time"),
    ],
)
def test_describe_period(start: date | None, end: date | None, label: str) -> None:
    assert describe_period(start, end) == label


def test_describe_period_refuses_a_reversed_period() -> None:
    with pytest.raises(ValueError, match="after it ends"):
        describe_period(date(2021, 9, 15), date(2021, 9, 1))


_VOCABULARY = [
    *("in", "on", "since", "between", "and", "from", "to", "until", "before", "after"),
    *("during", "the", "past", "last", "this", "few", "couple", "of", "now", ",", "?", "-", ":"),
    *("May", "may", "March", "Sep", "September", "February", "Monday", "3rd", "3", "31", "0"),
    *("99", "9999", "1800", "2020", "2021", "2099", "2021-02-30", "2021-09-03"),
    *("latest", "recent", "breaking", "news", "yesterday", "today", "tomorrow"),
    *("week", "month", "year", "days", "hours"),
]
_QUESTIONS = st.lists(st.sampled_from(_VOCABULARY), max_size=14).map(" ".join) | st.text(
    max_size=80
)


@settings(max_examples=400, deadline=None)
@given(question=_QUESTIONS, now=st.datetimes())
def test_reading_never_raises_and_keeps_its_promises(question: str, now: datetime) -> None:
    query = read_time(question, now)
    if query.start is not None and query.end is not None:
        assert query.start <= query.end
    if query.start is not None or query.end is not None:
        assert describe_period(query.start, query.end)
    if query.problem is not None:
        assert (query.start, query.end) == (None, None)
    if query.phrase is None:
        assert query == TimeQuery(text=question)
    else:
        assert query.phrase in question
        assert query.text == "" or any(ch.isalnum() for ch in query.text)


def test_a_founding_date_gives_way_to_the_period_after_it() -> None:
    read = read_time("What did the company founded in 2010 announce last week?", NOW)
    assert (
        read.phrase == "last week" and read.text == "What did the company founded in 2010 announce?"
    )
    assert read.start is not None and read.start.year == NOW.year
