"""Feeds end to end over real parts: a local HTTP site, the real model, an embedded Chroma."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsbot.config import Settings
from newsbot.errors import FetchError
from newsbot.feeds.manager import FeedManager
from newsbot.feeds.models import Alert, FeedNotFoundError, PollStatus
from newsbot.feeds.parse import FeedError
from newsbot.index.embedder import Embedder
from newsbot.library import Library
from tests.feeds.conftest import (
    BRIDGE_HTML,
    STORM_HTML,
    FeedSite,
    Item,
    article_page,
    day,
    feed_settings,
    rss,
)

pytestmark = pytest.mark.slow

FERRY = article_page(
    "Ferry service returns to the island",
    "The island ferry returned to its full timetable on Monday after a winter of repairs to "
    "the harbour ramp, the operator said in a statement.",
    "Passengers had relied on a single small boat for three months while engineers rebuilt "
    "the concrete ramp that the autumn storms had cracked.",
)
FERRY_V2 = article_page(
    "Ferry service returns to the island, with a night crossing",
    "The island ferry returned to its full timetable on Monday after a winter of repairs to "
    "the harbour ramp, the operator said in a statement.",
    "A new night crossing will run on Fridays and Saturdays from June, the operator added, "
    "after islanders asked for a late boat home from the mainland.",
)
ORCHARD_SUMMARY = (
    "Volunteers planted two hundred apple trees in the old railway cutting on Saturday, "
    "turning the overgrown embankment into a community orchard that the town council hopes "
    "will feed local schools within five years."
)


def entries(site: FeedSite, *, v2: bool = False) -> list[Item]:
    items = [
        Item(
            "bridge-1",
            "Council approves new river bridge",
            site.url("/bridge.html"),
            "The council voted for the bridge.",
            day(1),
        ),
        Item(
            "ferry-1",
            "Ferry service returns",
            site.url("/ferry.html"),
            "The ferry is back.",
            day(2),
        ),
        Item(
            "orchard-1",
            "Volunteers plant a community orchard",
            site.url("/gone.html"),
            ORCHARD_SUMMARY,
            day(3),
        ),
    ]
    if v2:
        items[1] = Item(
            "ferry-1",
            "Ferry service returns, with a night crossing",
            site.url("/ferry.html"),
            "The ferry is back, and at night.",
            day(2),
        )
        items.append(
            Item(
                "storm-1",
                "Storm batters the coast",
                site.url("/storm.html"),
                "A storm hit.",
                day(4),
            )
        )
    return list(reversed(items))  # newest first, as feeds list them


def test_poll_changes_304_and_a_restart_ingest_each_entry_exactly_once(
    tmp_path: Path, site: FeedSite, embedder: Embedder
) -> None:
    settings = feed_settings(tmp_path / "store")
    site.serve_page("/bridge.html", BRIDGE_HTML)
    site.serve_page("/ferry.html", FERRY)
    site.serve_page("/storm.html", STORM_HTML)
    url = site.serve_feed("/news.xml", rss("Valley Gazette", entries(site)), etag='"v1"')

    with Library.open(settings, embedder=embedder) as library:
        feeds = FeedManager(library)
        feed, created = feeds.add(url, added_by="cli")
        assert created and feed.title == "Valley Gazette"
        assert feeds.add(url)[1] is False  # already subscribed
        assert library.list_articles() == []  # adding does not ingest

        (report,) = feeds.poll_due()
        assert report.status is PollStatus.OK and report.error is None
        got = {e.guid: (e.result.status.value, e.via) for e in report.entries}
        assert got == {
            "bridge-1": ("added", "page"),
            "ferry-1": ("added", "page"),
            # its page is gone (404): the entry's own text stands in
            "orchard-1": ("added", "feed"),
        }
        records = {r.title: r for r in library.list_articles()}
        assert set(records) == {
            "Council approves new river bridge",
            "Ferry service returns",
            "Volunteers plant a community orchard",
        }
        for record in records.values():
            assert record.outlet == "Valley Gazette"
            assert record.added_by == f"feed:{feed.id}"
        assert records["Council approves new river bridge"].published == "2024-03-01"
        assert records["Volunteers plant a community orchard"].url == site.url("/gone.html")
        orchard_id = records["Volunteers plant a community orchard"].article_id
        assert "railway cutting" in (library.store.article_text(orchard_id) or "")
        ferry_id = records["Ferry service returns"].article_id

        # Unchanged: a conditional GET, a 304, nothing ingested, no page fetched.
        pages_before = len(site.hits("/ferry.html"))
        (report,) = feeds.poll_all()
        assert report.status is PollStatus.NOT_MODIFIED and report.entries == []
        headers, status = site.hits("/news.xml")[-1]
        assert headers["if-none-match"] == '"v1"' and status == 304
        assert len(site.hits("/ferry.html")) == pages_before
        assert feeds.poll_due() == []  # not due again before the interval

    # Restart: everything comes back from the store.
    site.serve_page("/ferry.html", FERRY_V2)
    site.serve_feed("/news.xml", rss("Valley Gazette", entries(site, v2=True)), etag='"v2"')
    with Library.open(settings, embedder=embedder) as library:
        feeds = FeedManager(library)
        (listed,) = feeds.list_feeds()
        assert listed.id == feed.id and listed.etag == '"v1"' and listed.articles == 3
        (report,) = feeds.poll_all()
        got = {e.guid: e.result.status.value for e in report.entries}
        assert got == {"ferry-1": "updated", "storm-1": "added"}
        updated = next(e for e in report.entries if e.guid == "ferry-1")
        assert updated.result.article_id == ferry_id  # the same article, updated in place
        assert "night crossing" in (library.store.article_text(ferry_id) or "")
        assert library.get_article(ferry_id).title == "Ferry service returns, with a night crossing"
        assert len(library.list_articles()) == 4

        (report,) = feeds.poll_all()
        assert report.status is PollStatus.NOT_MODIFIED
        assert len(library.list_articles()) == 4
        assert feeds.get(feed.id).articles == 4

        removed = feeds.remove(feed.id)
        assert removed.id == feed.id and feeds.list_feeds() == []
        assert len(library.list_articles()) == 4  # articles stay
        with pytest.raises(FeedNotFoundError):
            feeds.remove(feed.id)


def test_an_entry_whose_headline_alone_changed_renames_its_article(
    tmp_path: Path, site: FeedSite, embedder: Embedder
) -> None:
    """Seen: the page's text was unchanged, so the edited entry was a "duplicate" and the old
    headline stayed in every answer."""
    settings = feed_settings(tmp_path / "store")
    site.serve_page("/ferry.html", FERRY)
    ferry = Item("ferry-1", "Ferry service returns", site.url("/ferry.html"), "Back.", day(2))
    url = site.serve_feed("/news.xml", rss("Valley Gazette", [ferry]))
    with Library.open(settings, embedder=embedder) as library:
        feeds = FeedManager(library)
        feeds.add(url)
        (report,) = feeds.poll_all()
        (added,) = report.entries
        assert added.result.status.value == "added"
        renamed = Item(
            "ferry-1", "Island ferry back on full timetable", ferry.link, "Back.", day(2)
        )
        site.serve_feed("/news.xml", rss("Valley Gazette", [renamed]))
        (report,) = feeds.poll_all()
        (entry,) = report.entries
        assert entry.result.status.value == "updated"
        assert entry.result.article_id == added.result.article_id
        (record,) = library.list_articles()
        assert record.title == "Island ferry back on full timetable"
        assert record.published == "2024-03-02"


def test_entries_that_link_to_one_page_without_text_keep_their_own_texts(
    tmp_path: Path, site: FeedSite, embedder: Embedder
) -> None:
    """Seen (a live blog: every entry links to one page the fetcher cannot read): each entry
    fell back to its own text under the page's address, so each replaced the one before."""
    settings = feed_settings(tmp_path / "store")
    live = site.url("/live.html")  # 404: never readable
    updates = [
        Item("live-1", "Polls open", live, ORCHARD_SUMMARY, day(1)),
        Item(
            "live-2",
            "Turnout is high",
            live,
            "Turnout passed sixty percent by noon across the valley districts, the election "
            "office said, the highest midday figure since the new boundaries were drawn.",
            day(2),
        ),
    ]
    url = site.serve_feed("/live.xml", rss("Valley Gazette", updates))
    with Library.open(settings, embedder=embedder) as library:
        feeds = FeedManager(library)
        feeds.add(url)
        (report,) = feeds.poll_all()
        assert sorted((e.guid, e.result.status.value, e.via) for e in report.entries) == [
            ("live-1", "added", "feed"),
            ("live-2", "added", "feed"),
        ]
        records = library.list_articles()
        assert sorted(r.title for r in records) == ["Polls open", "Turnout is high"]
        assert {r.url for r in records} == {live}  # both still link to the page
        texts = [library.store.article_text(r.article_id) or "" for r in records]
        assert any("railway cutting" in t for t in texts) and any("sixty" in t for t in texts)
        export = tmp_path / "export.jsonl"
        assert library.export(export) == 2
    # A restore keeps them apart too.
    restored = feed_settings(tmp_path / "restored")
    with Library.open(restored, embedder=embedder) as library:
        statuses = [r.status.value for r in library.ingest([str(export)])]
        assert statuses == ["added", "added"]
        assert library.stats().articles == 2


def test_first_poll_takes_only_the_newest_entries(
    tmp_path: Path, site: FeedSite, embedder: Embedder
) -> None:
    settings = feed_settings(tmp_path / "store", initial_entries=1)
    site.serve_page("/bridge.html", BRIDGE_HTML)
    site.serve_page("/storm.html", STORM_HTML)
    items = [
        Item("old", "Old bridge story", site.url("/bridge.html"), "", day(1)),
        Item("new", "New storm story", site.url("/storm.html"), "", day(5)),
    ]
    url = site.serve_feed("/f.xml", rss("Coast", items))  # no ETag: full fetch every time
    with Library.open(settings, embedder=embedder) as library:
        feeds = FeedManager(library)
        feeds.add(url)
        (report,) = feeds.poll_all()
        assert [(e.guid, e.result.status.value) for e in report.entries] == [("new", "added")]
        (report,) = feeds.poll_all()
        assert report.status is PollStatus.OK and report.entries == []  # old stays skipped
        assert [r.title for r in library.list_articles()] == ["New storm story"]


def test_broken_slow_huge_and_refused_feeds_fail_clearly_and_others_keep_working(
    tmp_path: Path, site: FeedSite, embedder: Embedder
) -> None:
    settings = feed_settings(tmp_path / "store", max_bytes=20_000, alert_after=2, interval=60)
    site.serve_page("/storm.html", STORM_HTML)
    good = site.serve_feed(
        "/good.xml", rss("Coast", [Item("s", "Storm", site.url("/storm.html"), "", day(2))])
    )
    valid = rss("Flaky", [Item("x", "X", None, "Some text for the entry here.", day(1))])
    urls = {name: site.serve_feed(f"/{name}.xml", valid) for name in ("broken", "slow", "huge")}
    with Library.open(settings, embedder=embedder) as library:
        feeds = FeedManager(library)
        ids = {name: feeds.add(u)[0].id for name, u in urls.items()}
        good_id = feeds.add(good)[0].id
        site.serve_feed(
            "/broken.xml", b'<?xml version="1.0"?><rss version="2.0"><channel><title>B</ti'
        )
        site.serve("/slow.xml", valid, "application/rss+xml", delay=3)
        site.serve_feed("/huge.xml", b"<rss>" + b" " * 30_000 + b"</rss>")

        reports = {r.feed_id: r for r in feeds.poll_all()}
        assert reports[good_id].status is PollStatus.OK
        assert [e.result.status.value for e in reports[good_id].entries] == ["added"]
        errors = {name: reports[i].error or "" for name, i in ids.items()}
        assert all(reports[i].status is PollStatus.FAILED for i in ids.values())
        assert "not a valid RSS or Atom feed" in errors["broken"]
        assert "timed out" in errors["slow"]
        assert "too large" in errors["huge"]
        broken = feeds.get(ids["broken"])
        assert broken.failures == 1 and broken.last_error == errors["broken"]
        # Backoff: twice the interval after one failure (no jitter in these settings).
        assert reports[ids["broken"]].next_poll > reports[good_id].next_poll
        assert reports[ids["broken"]].alert is None

        # The second failure in a row alerts, once; recovery is reported once too.
        second = feeds.poll(ids["broken"])
        assert second.alert is Alert.FAILING and second.failures == 2
        assert feeds.poll(ids["broken"]).alert is None
        site.serve_feed("/broken.xml", valid)
        recovered = feeds.poll(ids["broken"])
        assert recovered.status is PollStatus.OK and recovered.alert is Alert.RECOVERED
        assert feeds.poll(ids["broken"]).alert is None
        assert feeds.get(ids["broken"]).failures == 0

    # A feed address newsbot refuses to connect to (default policy): a clear error.
    strict = feed_settings(tmp_path / "store").model_copy(deep=True)
    strict.ingest.allow_private_urls = False
    with Library.open(strict, embedder=embedder) as library:
        feeds = FeedManager(library)
        with pytest.raises(FetchError, match="refusing to fetch"):
            feeds.add(site.url("/elsewhere.xml"))
        report = feeds.poll(good_id)
        assert report.status is PollStatus.FAILED and "refusing to fetch" in (report.error or "")


def test_adding_a_page_subscribes_to_the_feed_it_announces_and_a_non_feed_is_refused(
    tmp_path: Path, site: FeedSite, settings: Settings, embedder: Embedder
) -> None:
    feed_url = site.serve_feed("/rss", rss("Announced", []))
    site.serve_page(
        "/home",
        b"<!DOCTYPE html><html><head><title>Home</title>"
        b'<link rel="alternate" type="application/rss+xml" href="/rss"></head>'
        b"<body><p>Welcome</p></body></html>",
    )
    site.serve_page("/plain", b"<!DOCTYPE html><html><body><p>No feed here.</p></body></html>")
    with Library.open(settings, embedder=embedder) as library:
        feeds = FeedManager(library)
        feed, created = feeds.add(site.url("/home"))
        assert created and feed.url == feed_url and feed.title == "Announced"
        with pytest.raises(FeedError, match="HTML page, not an RSS or Atom feed"):
            feeds.add(site.url("/plain"))
        with pytest.raises(FetchError, match="404"):
            feeds.add(site.url("/nothing"))
        assert [f.url for f in feeds.list_feeds()] == [feed_url]


def test_digest_opt_in_persists(settings: Settings, embedder: Embedder) -> None:
    with Library.open(settings, embedder=embedder) as library:
        feeds = FeedManager(library)
        feeds.set_digest(1, True)
        feeds.set_digest(2, True)
        feeds.set_digest(2, False)
    with Library.open(settings, embedder=embedder) as library:
        assert FeedManager(library).digest_recipients() == [1]
