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


def test_titles_are_text_not_html() -> None:
    feed = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Smith &amp;amp; Sons Gazette</title><link>http://h/</link>
<item><guid isPermaLink="false">1</guid><link>http://h/1</link>
<title>Q&amp;amp;A: what the &lt;b&gt;new budget&lt;/b&gt; means</title></item>
</channel></rss>"""
    parsed = parse_feed(feed, url="http://h/feed.xml")
    assert parsed.title == "Smith & Sons Gazette"
    assert parsed.entries[0].title == "Q&A: what the new budget means"


def test_a_guid_that_is_no_address_makes_no_link() -> None:
    # RSS takes a <guid> without isPermaLink="false" for a link; "101" resolved against the
    # feed's folder led nowhere, and two feeds there numbering alike shared their articles.
    feed = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>News</title><link>http://h/</link>
<item><title>Bike lanes approved</title><guid>101</guid><description>Text.</description></item>
<item><title>Real link</title><guid>http://h/a?x=1&amp;y=2</guid></item>
</channel></rss>"""
    numbered, linked = parse_feed(feed, url="http://h/feeds/news.xml").entries
    assert numbered.link is None and numbered.title == "Bike lanes approved"
    assert linked.link == "http://h/a?x=1&y=2"
    # The same feed in UTF-16: its permalink is found in the text as the feed encodes it.
    wide = feed.decode().replace('encoding="utf-8"', 'encoding="utf-16"').encode("utf-16")
    numbered, linked = parse_feed(wide, url="http://h/feeds/news.xml").entries
    assert numbered.link is None and linked.link == "http://h/a?x=1&y=2"


def test_the_servers_charset_reads_a_feed_without_an_encoding() -> None:
    feed = """<?xml version="1.0"?>
<rss version="2.0"><channel><title>Новости города</title><link>http://h/</link>
<item><guid isPermaLink="false">1</guid><title>Новый мост открыт</title></item>
</channel></rss>"""
    parsed = parse_feed(feed.encode("cp1251"), url="http://h/f.xml", charset="windows-1251")
    assert parsed.title == "Новости города"
    assert parsed.entries[0].title == "Новый мост открыт"
    utf8 = parse_feed(feed.encode(), url="http://h/f.xml", charset="iso-8859-1")
    assert utf8.title == "Новости города"  # valid UTF-8 over a default-looking header


def test_links_resolved_against_a_private_feed_carry_no_credentials() -> None:
    feed = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Private</title><link>/</link>
<item><guid isPermaLink="false">1</guid><title>Memo</title><link>/memo/1</link></item>
</channel></rss>"""
    parsed = parse_feed(feed, url="https://user:token@h.example/feed.xml")
    assert parsed.entries[0].link == "https://h.example/memo/1"
    assert parsed.link == "https://h.example/"
