"""The /feed messages: valid Telegram HTML within one message, however many and long the feeds."""

from __future__ import annotations

import pytest

from newsbot.bot.feeds import render_list, render_polls, render_subscription
from newsbot.feeds.models import EntryResult, Feed, PollReport, PollStatus
from newsbot.models import IngestResult, IngestStatus
from tests.bot.test_render import assert_valid


def entry(feed: int, number: int) -> EntryResult:
    link = f"https://news.example/{feed}/{number}?utm_source=rss&amp=1&" + "x" * (number * 7)
    return EntryResult(
        guid=f"{feed}-{number}",
        link=link,
        title=f"Storms & floods <{number}>",
        via="page",
        result=IngestResult(
            link,
            IngestStatus.ADDED,
            article_id=f"a{feed}{number}",
            title=f"Storms & floods: day {number} " + "of rain " * number,
            chunks=3,
        ),
    )


def report(feed: int, entries: int) -> PollReport:
    return PollReport(
        feed_id=f"f{feed:04d}",
        url=f"https://news.example/{feed}/feed.xml",
        title=f"The Herald & Times, edition {feed}",
        status=PollStatus.OK,
        entries=[entry(feed, n) for n in range(entries)],
    )


@pytest.mark.parametrize("feeds", [1, 3, 12, 40])
def test_a_poll_of_many_feeds_is_one_valid_message(feeds: int) -> None:
    # Seen: 3 feeds of 12 new entries each were cut inside an <a> tag, so Telegram refused
    # the reply and the admin never heard what the poll added.
    text = render_polls([report(f, 12) for f in range(feeds)])
    shown = assert_valid(text)
    assert "The Herald & Times, edition 0" in shown
    if feeds > 3:
        assert "more feeds" in shown.splitlines()[-1]


@pytest.mark.parametrize("url_length", [20, 57, 118, 119, 120, 121, 300])
def test_a_long_feed_list_is_one_valid_message(url_length: int) -> None:
    feeds = [
        Feed(
            id=f"f{n:04d}",
            url="https://feeds.example/" + "&" * (url_length % 7) + "p" * url_length,
            title=("Markets & <Money> " * (n % 9)) or None,
            added_at="2026-11-27T00:00:00+00:00",
            failures=n % 3,
            last_error="HTTP 503 & a timeout" if n % 3 else None,
            articles=n,
        )
        for n in range(60)
    ]
    shown = assert_valid(render_list(feeds))
    assert shown.startswith("📰 60 feeds")
    assert "more feeds" in shown.splitlines()[-1]


def test_a_feed_with_a_huge_title_is_named_within_the_limit() -> None:
    # Seen: "Already subscribed" showed a 5,000-character title whole; Telegram refused it and
    # the status message stayed at "Subscribing…".
    for title, url in (
        ("Headline & news " * 320, "https://a.example/rss"),
        (None, "https://a.example/" + "p" * 5000),
    ):
        feed = Feed(id="f0001", url=url, title=title, added_at="2026-11-27T00:00:00+00:00")
        for poll in (None, PollReport(feed.id, feed.url, feed.title, PollStatus.OK)):
            shown = assert_valid(render_subscription(feed, poll))
            assert len(shown) < 300
