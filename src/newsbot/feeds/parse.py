"""Fetch a feed safely and turn its bytes into entries (feedparser, never fetching by itself)."""

from __future__ import annotations

import calendar
import contextlib
import hashlib
import html
import io
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from newsbot.config import FeedSettings, IngestSettings
from newsbot.errors import IngestError
from newsbot.ingest.dates import normalise_date
from newsbot.ingest.decode import trusted_charset
from newsbot.ingest.fetch import Fetched, fetch_url
from newsbot.redact import without_credentials

log = logging.getLogger(__name__)

# Media types a feed is served as in the wild; HTML too, so that adding a site's home page
# can find the feed it links to (and a poll can say "an HTML page, not a feed").
FEED_TYPES = frozenset(
    {
        "application/rss+xml",
        "application/atom+xml",
        "application/rdf+xml",
        "application/x-rss+xml",
        "application/xml",
        "text/xml",
        "text/plain",
        "text/html",
        "application/xhtml+xml",
    }
)
_DISCOVERABLE = ("application/rss+xml", "application/atom+xml", "application/rdf+xml")
_HTML_TYPES = ("text/html", "application/xhtml+xml")


class FeedError(IngestError):
    """A feed could not be read: not RSS or Atom, malformed beyond repair."""


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One item of a feed.

    Attributes:
        guid: the entry's id (``<guid>``/``<id>``), else its link, else a digest of its text.
        link: the article URL (http or https only), if any.
        title: the headline, if any.
        published: ``YYYY-MM-DD`` of the entry's published (else updated) date, if any.
        content: the entry's own text (full content, else the summary), HTML or plain.
        content_is_html: whether ``content`` is HTML.
        fingerprint: changes when the entry is edited (title, link, text or updated date).
        timestamp: seconds since the epoch of its date, for ordering (None when undated).
    """

    guid: str
    link: str | None
    title: str | None
    published: str | None
    content: str | None
    content_is_html: bool
    fingerprint: str
    timestamp: float | None


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    title: str | None
    link: str | None
    entries: list[FeedEntry]


def feed_fetch_settings(ingest: IngestSettings, feeds: FeedSettings) -> IngestSettings:
    """The fetch policy of feed documents: the ingest policy with the feed size cap."""
    return ingest.model_copy(update={"max_bytes": feeds.max_bytes})


def fetch_feed(
    url: str,
    settings: IngestSettings,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
) -> Fetched:
    """Download a feed through the safe fetcher, conditionally when a validator is known.

    Raises:
        FetchError: as :func:`newsbot.ingest.fetch.fetch_url` (refused address, too large,
            timeout, HTTP error, a type that is no feed).
    """
    headers: dict[str, str] = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    return fetch_url(url, settings, headers=headers, accept_types=FEED_TYPES)


def parse_feed(
    data: bytes, *, url: str, content_type: str | None = None, charset: str | None = None
) -> ParsedFeed:
    """Parse RSS 0.9x/1.0/2.0 or Atom bytes.

    ``charset`` is the one the server declared (``Content-Type``); it wins over the XML
    declaration, as RFC 7303 says, unless the bytes are valid UTF-8 (``trusted_charset``).

    Raises:
        FeedError: the bytes are not a feed (an HTML page, malformed XML with no entries).
    """
    import feedparser

    if looks_like_html(data, content_type):
        raise FeedError(f"{url} is an HTML page, not an RSS or Atom feed")
    trusted = trusted_charset(data, charset)
    xml_type = "application/xml" + (f"; charset={trusted}" if trusted else "")
    try:
        # A stream, never a string: feedparser fetches a string that looks like a URL itself.
        parsed: Any = feedparser.parse(
            io.BytesIO(data),
            response_headers={"content-location": url, "content-type": xml_type},
            resolve_relative_uris=True,
            sanitize_html=True,
        )
    except Exception as error:  # a parser failure must not escape as a traceback
        log.debug("feedparser failed on %s", url, exc_info=True)
        raise FeedError(f"cannot parse the feed at {url}: {type(error).__name__}") from None
    if not parsed.get("entries") and (parsed.get("bozo") or not parsed.get("version")):
        reason = parsed.get("bozo_exception")
        detail = f": {_one_line(reason)}" if reason else ""
        raise FeedError(f"{url} is not a valid RSS or Atom feed{detail}")
    if parsed.get("bozo"):
        log.info(
            "feed %s is not well-formed (%s); using what could be read",
            url,
            _one_line(parsed.get("bozo_exception")),
        )
    feed = parsed.get("feed", {})
    try:
        written = data.decode(parsed.get("encoding") or "utf-8", "replace")
    except (LookupError, UnicodeError):
        written = data.decode("utf-8", "replace")
    entries = [e for e in (_entry(raw, url, written) for raw in parsed.get("entries", [])) if e]
    return ParsedFeed(
        title=_title(feed),
        link=_http_url(feed.get("link"), url),
        entries=entries,
    )


def looks_like_html(data: bytes, content_type: str | None) -> bool:
    head = data[:2048].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        return True
    return (content_type or "") in _HTML_TYPES and b"<rss" not in head and b"<feed" not in head


def discover_feeds(html: bytes, base_url: str) -> list[str]:
    """The feed URLs a page announces with ``<link rel="alternate" type="application/rss+xml">``."""
    import lxml.html

    try:
        document = lxml.html.fromstring(html)
    except Exception:  # unparseable: no links to find
        return []
    found: list[str] = []
    for link in document.iter("link"):
        rel = (link.get("rel") or "").lower().split()
        kind = (link.get("type") or "").lower().strip()
        href = link.get("href")
        if "alternate" in rel and kind in _DISCOVERABLE and href:
            absolute = _http_url(href, base_url)
            if absolute and absolute not in found:
                found.append(absolute)
    return found


def _entry(raw: Any, base_url: str, written: str) -> FeedEntry | None:
    title = _title(raw)
    link = _http_url(raw.get("link"), base_url)
    made_of_guid = raw.get("guidislink") and raw.get("id") == raw.get("link")
    if link and made_of_guid and not _appears(link, written):
        # A <guid> such as "101" that the feed does not mark as no permalink: feedparser made a
        # link of it, resolved against the feed's address, which leads nowhere and is shared by
        # every feed in that folder using the same numbers.
        link = None
    content, is_html = _content(raw)
    if not (title or link or content):
        return None
    # dict.get: feedparser's own get() maps a missing "updated" to "published", with a warning.
    updated = dict.get(raw, "updated")
    raw_date = dict.get(raw, "published") or updated
    parsed_date = dict.get(raw, "published_parsed") or dict.get(raw, "updated_parsed")
    timestamp = float(calendar.timegm(parsed_date)) if parsed_date else None
    published = normalise_date(raw_date) if raw_date else None
    if published is None and parsed_date:
        published = f"{parsed_date[0]:04d}-{parsed_date[1]:02d}-{parsed_date[2]:02d}"
    fingerprint = hashlib.sha256(
        json.dumps([title, link, content, updated or raw_date]).encode()
    ).hexdigest()[:20]
    guid = _clean(raw.get("id")) or link or "sha:" + fingerprint
    return FeedEntry(
        guid=guid,
        link=link,
        title=title,
        published=published,
        content=content,
        content_is_html=is_html,
        fingerprint=fingerprint,
        timestamp=timestamp,
    )


def _content(raw: Mapping[str, Any]) -> tuple[str | None, bool]:
    """The entry's fullest text: the longest ``content``, else the summary."""
    candidates: list[tuple[str, str]] = []
    for item in raw.get("content") or []:
        value = item.get("value")
        if value and value.strip():
            candidates.append((value, item.get("type") or "text/html"))
    if not candidates:
        summary = raw.get("summary")
        detail = raw.get("summary_detail") or {}
        if summary and summary.strip():
            candidates.append((summary, detail.get("type") or "text/html"))
    if not candidates:
        return None, False
    value, kind = max(candidates, key=lambda c: len(c[0]))
    return value, kind in _HTML_TYPES or "html" in kind


def _http_url(value: Any, base_url: str) -> str | None:
    if not value or not isinstance(value, str):
        return None
    try:
        absolute = urljoin(base_url, value.strip())
        parts = urlsplit(absolute)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return without_credentials(absolute)


def _appears(url: str, written: str) -> bool:
    return url in written or html.escape(url, quote=False) in written


def _title(raw: Mapping[str, Any]) -> str | None:
    """A feed's or entry's title as text: feedparser gives an HTML title (most RSS titles are
    taken for HTML) with its markup and entities, which would show as ``&amp;`` or ``<b>``."""
    title = raw.get("title")
    if (
        title
        and isinstance(title, str)
        and "html" in (raw.get("title_detail") or {}).get("type", "")
    ):
        import lxml.html

        with contextlib.suppress(Exception):  # not even HTML: keep it as written
            title = lxml.html.fragment_fromstring(title, create_parent="div").text_content()
    return _clean(title)


def _clean(value: Any) -> str | None:
    if not value or not isinstance(value, str):
        return None
    cleaned = " ".join(value.split())
    return cleaned or None


def _one_line(error: object) -> str:
    text = " ".join(str(error).split())
    return text[:200] or type(error).__name__
