"""fetch_url's feed additions: conditional GET (304), feed media types, validators."""

from __future__ import annotations

import pytest

from newsbot.config import IngestSettings
from newsbot.errors import FetchError
from newsbot.feeds.parse import FEED_TYPES, fetch_feed, parse_feed
from newsbot.ingest.fetch import fetch_url
from tests.feeds.conftest import FeedSite, Item, day, rss

POLICY = IngestSettings(allow_private_urls=True, timeout=2)


def test_conditional_get_returns_not_modified_with_the_validators(site: FeedSite) -> None:
    url = site.serve_feed("/f.xml", rss("T", [Item("a", "A", None, "text", day(1))]), etag='"e1"')
    full = fetch_feed(url, POLICY)
    assert full.status == 200 and not full.not_modified and full.etag == '"e1"'
    assert full.content_type == "application/rss+xml"
    headers, _ = site.hits("/f.xml")[0]
    assert "application/rss+xml" in headers["accept"] and "if-none-match" not in headers

    again = fetch_feed(url, POLICY, etag=full.etag, last_modified="Mon, 04 Mar 2024 09:00:00 GMT")
    assert again.not_modified and again.content == b"" and again.etag == '"e1"'
    headers, status = site.hits("/f.xml")[1]
    assert status == 304 and headers["if-none-match"] == '"e1"'
    assert headers["if-modified-since"] == "Mon, 04 Mar 2024 09:00:00 GMT"


def test_feed_types_only_when_asked_for(site: FeedSite) -> None:
    url = site.serve_feed("/f.xml", rss("T", []))
    with pytest.raises(FetchError, match="unsupported content type application/rss"):
        fetch_url(url, POLICY)  # the article fetcher keeps its own list
    assert fetch_url(url, POLICY, accept_types=FEED_TYPES).content.startswith(b"<?xml")
    image = site.serve("/i.png", b"\x89PNG", "image/png")
    with pytest.raises(FetchError, match="expected application/atom"):
        fetch_feed(image, POLICY)


def test_a_304_without_a_conditional_request_is_an_error(site: FeedSite) -> None:
    url = site.serve("/odd", b"", "text/html", status=304)
    with pytest.raises(FetchError, match="HTTP 304"):
        fetch_url(url, POLICY)


def test_parse_atom_with_relative_links_and_content() -> None:
    atom = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom news</title>
<entry><id>urn:1</id><title>First</title><link href="/story/1"/>
<published>2024-03-05T10:00:00+02:00</published>
<content type="html">&lt;p&gt;Body &amp;amp; more&lt;/p&gt;</content></entry>
<entry><title>No id</title><link href="https://other.example/x"/></entry>
</feed>"""
    parsed = parse_feed(atom, url="https://news.example/feed.atom")
    assert parsed.title == "Atom news"
    one, two = parsed.entries
    assert one.guid == "urn:1" and one.link == "https://news.example/story/1"
    assert one.published == "2024-03-05" and one.content_is_html
    assert "Body &amp; more" in (one.content or "")
    assert two.guid == "https://other.example/x" and two.published is None
