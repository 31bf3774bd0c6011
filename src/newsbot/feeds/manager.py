"""Feed subscriptions over a :class:`~newsbot.library.Library`: add, list, remove, poll.

State lives in the store beside the index (``<collection>_feeds``), so a restart neither
re-ingests nor misses entries, with an embedded Chroma as with a server. Polling is blocking
(network, embedding): the bot runs it in a worker thread. Imports nothing from Telegram.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from newsbot.config import Settings
from newsbot.errors import IngestError, StoreError
from newsbot.feeds.models import (
    Alert,
    EntryResult,
    Feed,
    FeedNotFoundError,
    PollReport,
    PollStatus,
    SeenEntry,
)
from newsbot.feeds.parse import (
    FeedEntry,
    FeedError,
    ParsedFeed,
    discover_feeds,
    feed_fetch_settings,
    fetch_feed,
    looks_like_html,
    parse_feed,
)
from newsbot.ingest.fetch import Fetched
from newsbot.library import Library
from newsbot.library.identity import normalise_url
from newsbot.models import Article, IngestResult, IngestStatus

log = logging.getLogger(__name__)

MAX_TRIES = 3  # polls an entry whose page and text both failed is tried on
_SEEN_KEEP = 1000  # guids remembered beyond those in the feed's latest document
_KIND_FEED = "feed"
_SETTINGS_ID = "settings"


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def feed_id_for(url: str) -> str:
    """The id of a subscription: stable for the same URL (tracking and case ignored)."""
    return "f" + hashlib.sha256(normalise_url(url).encode()).hexdigest()[:8]


class FeedManager:
    """RSS/Atom subscriptions whose new entries are ingested into a library.

    Args:
        library: the open library entries are ingested into (its store keeps the state).
        settings: the configuration (default: the library's).
        clock: the current UTC time (tests).
        rng: randomness of the jitter (tests).
    """

    def __init__(
        self,
        library: Library,
        settings: Settings | None = None,
        *,
        clock: Callable[[], datetime] = _utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self.library = library
        self.settings = settings or library.settings
        self._docs = library.documents(f"{self.settings.store.collection}_feeds")
        self._fetch_settings = feed_fetch_settings(self.settings.ingest, self.settings.feeds)
        self._clock = clock
        self._rng = rng or random.Random()
        self._state_lock = threading.Lock()  # reads and writes of records
        self._poll_lock = threading.Lock()  # one poll at a time

    # -- subscriptions -----------------------------------------------------------------------

    def add(self, url: str, *, added_by: str | None = None) -> tuple[Feed, bool]:
        """Subscribe to a feed; it is fetched once to check that it is one.

        A web page that announces its feed (``<link rel="alternate" ...>``) subscribes to that
        feed. Entries are ingested by the next poll (the first poll takes the newest
        ``feeds.initial_entries``).

        Returns:
            The feed and whether it is new (False: already subscribed, returned unchanged).

        Raises:
            FetchError: the URL cannot be fetched (refused address, HTTP error...).
            FeedError: it is no feed and announces none.
        """
        url = url.strip()
        existing = self._load(feed_id_for(url))
        if existing is not None:
            return existing, False
        fetched = fetch_feed(url, self._fetch_settings)
        try:
            parsed = parse_feed(
                fetched.content,
                url=fetched.url,
                content_type=fetched.content_type,
                charset=fetched.charset,
            )
        except FeedError:
            announced = (
                discover_feeds(fetched.content, fetched.url)
                if looks_like_html(fetched.content, fetched.content_type)
                else []
            )
            if not announced:
                raise
            url = announced[0]
            existing = self._load(feed_id_for(url))
            if existing is not None:
                return existing, False
            fetched = fetch_feed(url, self._fetch_settings)
            parsed = parse_feed(
                fetched.content,
                url=fetched.url,
                content_type=fetched.content_type,
                charset=fetched.charset,
            )
        now = self._clock()
        feed = Feed(
            id=feed_id_for(url),
            url=url,
            title=parsed.title,
            added_at=now.isoformat(),
            added_by=added_by,
            next_poll=now.isoformat(),
        )
        with self._state_lock:
            self._write(feed)
        log.info("subscribed to %s (%s)", feed.address, feed.id)
        return feed, True

    def add_and_poll(
        self, url: str, *, added_by: str | None = None
    ) -> tuple[Feed, bool, PollReport | None]:
        """Subscribe and poll the new feed at once, with no scheduled poll in between (so the
        caller sees what the first poll ingested).

        Returns:
            The feed, whether it is new, and the first poll's report (None when not new).
        """
        with self._poll_lock:
            feed, created = self.add(url, added_by=added_by)
            if not created:
                return feed, False, None
            return feed, True, self._poll_one(feed)

    def list_feeds(self) -> list[Feed]:
        """Every subscription, oldest first."""
        with self._state_lock:
            found = self._docs.find({"kind": _KIND_FEED})
        feeds = [Feed.from_document(json.loads(doc)) for doc, _ in found.values()]
        return sorted(feeds, key=lambda f: (f.added_at, f.id))

    def get(self, feed_id: str) -> Feed:
        feed = self._load(feed_id)
        if feed is None:
            raise FeedNotFoundError(f"no feed with id {feed_id!r}")
        return feed

    def remove(self, feed_id: str) -> Feed:
        """Unsubscribe; the articles already ingested stay in the library."""
        with self._state_lock:
            feed = self._load_locked(feed_id)
            if feed is None:
                raise FeedNotFoundError(f"no feed with id {feed_id!r}")
            self._docs.delete([feed_id])
        return feed

    # -- digest opt-in -----------------------------------------------------------------------

    def set_digest(self, user_id: int, enabled: bool) -> None:
        """Opt a user (an admin) in or out of the digest of new articles."""
        with self._state_lock:
            users = set(self._digest_locked())
            if enabled:
                users.add(user_id)
            else:
                users.discard(user_id)
            document = json.dumps({"digest": sorted(users)})
            self._docs.put(_SETTINGS_ID, document, {"kind": "settings"})

    def digest_recipients(self) -> list[int]:
        with self._state_lock:
            return self._digest_locked()

    def _digest_locked(self) -> list[int]:
        got = self._docs.get([_SETTINGS_ID]).get(_SETTINGS_ID)
        if got is None:
            return []
        return [int(u) for u in json.loads(got[0]).get("digest", [])]

    # -- polling -----------------------------------------------------------------------------

    def due(self) -> list[Feed]:
        now = self._clock()
        return [f for f in self.list_feeds() if f.next_poll is None or _parse(f.next_poll) <= now]

    def poll_due(self) -> list[PollReport]:
        """Poll every feed whose time has come; one report per feed polled."""
        return self._poll([f.id for f in self.due()], only_due=True)

    def poll_all(self) -> list[PollReport]:
        """Poll every feed now, due or not."""
        return self._poll([f.id for f in self.list_feeds()])

    def poll(self, feed_id: str) -> PollReport:
        """Poll one feed now.

        Raises:
            FeedNotFoundError: no such feed.
        """
        self.get(feed_id)
        reports = self._poll([feed_id])
        if not reports:
            raise FeedNotFoundError(f"no feed with id {feed_id!r}")
        return reports[0]

    def _poll(self, feed_ids: list[str], *, only_due: bool = False) -> list[PollReport]:
        """Poll feeds one after the other; a failing feed never stops the others.

        Raises:
            StoreError: the store itself fails (no feed could be recorded either).
        """
        reports: list[PollReport] = []
        with self._poll_lock:
            for feed_id in feed_ids:
                feed = self._load(feed_id)  # fresh: it may have been removed meanwhile
                if feed is None:
                    continue
                if only_due and feed.next_poll and _parse(feed.next_poll) > self._clock():
                    continue  # polled by someone else while this poll waited for the lock
                reports.append(self._poll_one(feed))
        return reports

    def _poll_one(self, feed: Feed) -> PollReport:
        now = self._clock()
        feed.last_polled = now.isoformat()
        try:
            fetched = fetch_feed(
                feed.url, self._fetch_settings, etag=feed.etag, last_modified=feed.last_modified
            )
            if fetched.not_modified:
                return self._succeeded(feed, now, PollStatus.NOT_MODIFIED, [], fetched, None)
            parsed = parse_feed(
                fetched.content,
                url=fetched.url,
                content_type=fetched.content_type,
                charset=fetched.charset,
            )
            entries, complete = self._take_entries(feed, parsed)
        except IngestError as error:
            return self._failed(feed, now, str(error))
        except StoreError:
            raise
        except Exception as error:  # a bug must not stop the other feeds
            log.exception("unexpected error polling %s", feed.address)
            return self._failed(feed, now, f"unexpected {type(error).__name__}")
        return self._succeeded(
            feed, now, PollStatus.OK, entries, fetched if complete else None, parsed
        )

    def _take_entries(self, feed: Feed, parsed: ParsedFeed) -> tuple[list[EntryResult], bool]:
        """Ingest the new and changed entries; returns their results and whether all were
        taken (False: some wait for the next poll, which must then not be a 304)."""
        pending: list[tuple[FeedEntry, SeenEntry | None]] = []
        for entry in parsed.entries:
            seen = feed.seen.get(entry.guid)
            if (
                seen is None
                or (seen.article_id is not None and seen.fingerprint != entry.fingerprint)
                or (seen.article_id is None and seen.tries < MAX_TRIES)
            ):
                pending.append((entry, seen))
        pending = _newest_first(pending)
        feeds_settings = self.settings.feeds
        if not feed.primed:
            # The back catalogue of a new subscription is marked seen, not ingested.
            for entry, _ in pending[feeds_settings.initial_entries :]:
                feed.seen[entry.guid] = SeenEntry(entry.fingerprint, None, MAX_TRIES)
            pending = pending[: feeds_settings.initial_entries]
        complete = len(pending) <= feeds_settings.max_entries_per_poll
        pending = pending[: feeds_settings.max_entries_per_poll]
        outlet = parsed.title or feed.title
        results: list[EntryResult] = []
        for entry, seen in reversed(pending):  # oldest first: added_at follows publication
            result = self._ingest_entry(feed, entry, seen, outlet)
            results.append(result)
            article_id = result.result.article_id
            if article_id is not None:
                feed.seen[entry.guid] = SeenEntry(entry.fingerprint, article_id, 1)
            else:
                tries = (seen.tries + 1) if seen and seen.article_id is None else 1
                feed.seen[entry.guid] = SeenEntry(entry.fingerprint, None, tries)
                if tries < MAX_TRIES:
                    complete = False  # retry on the next poll, which must read the feed
        feed.primed = True
        feed.articles += sum(r.result.status is IngestStatus.ADDED for r in results)
        _forget_old(feed, {e.guid for e in parsed.entries})
        return results, complete

    def _ingest_entry(
        self, feed: Feed, entry: FeedEntry, seen: SeenEntry | None, outlet: str | None
    ) -> EntryResult:
        """The linked page through the same path as ``/add <url>``; the entry's own text when
        the page cannot be had. The entry's date and the feed's title become metadata."""
        from newsbot.ingest.sources import iter_articles

        origin = entry.link or entry.title or entry.guid
        article: Article | None = None
        via: str | None = None
        errors: list[str] = []
        if entry.link:
            for _, item in iter_articles(entry.link, self.settings.ingest):
                if isinstance(item, Article):
                    article, via = item, "page"
                else:
                    errors.append(str(item))
        if article is None and entry.content:
            try:
                # The entry's text, not the page's: not found by the page's address.
                article, via = replace(_article_from_entry(entry), addressed=False), "feed"
            except IngestError as error:
                errors.append(str(error))
        if article is None:
            reason = "; ".join(errors) or "the entry has no link and no text"
            log.info("feed %s: entry %s failed: %s", feed.id, origin, reason)
            return EntryResult(
                entry.guid,
                entry.link,
                entry.title,
                None,
                IngestResult(origin, IngestStatus.FAILED, title=entry.title, error=reason),
            )
        article = replace(
            article,
            title=entry.title or article.title,
            outlet=outlet or article.outlet,
            published=entry.published or article.published,
            # An edited entry updates the article it became, even if its link changed.
            id=seen.article_id if seen and seen.article_id else None,
        )
        result = self.library.add_article(article, origin=origin, added_by=f"feed:{feed.id}")
        return EntryResult(entry.guid, entry.link, entry.title, via, result)

    # -- outcome bookkeeping -----------------------------------------------------------------

    def _succeeded(
        self,
        feed: Feed,
        now: datetime,
        status: PollStatus,
        entries: list[EntryResult],
        validators: Fetched | None,
        parsed: ParsedFeed | None,
    ) -> PollReport:
        alert = Alert.RECOVERED if feed.alerted else None
        feed.failures, feed.alerted, feed.last_error = 0, False, None
        feed.last_success = now.isoformat()
        if parsed is not None and parsed.title:
            feed.title = parsed.title
        if status is PollStatus.OK:
            # Without every entry taken, the next poll must read the feed again in full.
            feed.etag = validators.etag if validators else None
            feed.last_modified = validators.last_modified if validators else None
        elif validators is not None:
            feed.etag = validators.etag or feed.etag
            feed.last_modified = validators.last_modified or feed.last_modified
        feed.next_poll = (now + self._delay(0)).isoformat()
        self._save(feed)
        return PollReport(
            feed.id,
            feed.address,
            feed.title,
            status,
            entries,
            failures=0,
            next_poll=feed.next_poll,
            alert=alert,
        )

    def _failed(self, feed: Feed, now: datetime, error: str) -> PollReport:
        feed.failures += 1
        feed.last_error = error
        alert = None
        if feed.failures >= self.settings.feeds.alert_after and not feed.alerted:
            feed.alerted, alert = True, Alert.FAILING
        feed.next_poll = (now + self._delay(feed.failures)).isoformat()
        log.warning(
            "feed %s (%s) failed %d time(s): %s", feed.id, feed.address, feed.failures, error
        )
        self._save(feed)
        return PollReport(
            feed.id,
            feed.address,
            feed.title,
            PollStatus.FAILED,
            error=error,
            failures=feed.failures,
            next_poll=feed.next_poll,
            alert=alert,
        )

    def _delay(self, failures: int) -> timedelta:
        """``interval``, doubled per consecutive failure up to ``max_backoff``, jittered."""
        settings = self.settings.feeds
        seconds = settings.interval
        if failures:
            seconds = max(
                settings.interval, min(settings.interval * 2**failures, settings.max_backoff)
            )
        seconds *= 1 + self._rng.uniform(-settings.jitter, settings.jitter)
        return timedelta(seconds=seconds)

    # -- records -----------------------------------------------------------------------------

    def _load(self, feed_id: str) -> Feed | None:
        with self._state_lock:
            return self._load_locked(feed_id)

    def _load_locked(self, feed_id: str) -> Feed | None:
        got = self._docs.get([feed_id]).get(feed_id)
        if got is None or got[1].get("kind") != _KIND_FEED:
            return None
        return Feed.from_document(json.loads(got[0]))

    def _save(self, feed: Feed) -> None:
        """Write a polled feed back, unless it was removed while it was being polled."""
        with self._state_lock:
            if self._docs.get([feed.id]):
                self._write(feed)

    def _write(self, feed: Feed) -> None:
        self._docs.put(
            feed.id,
            json.dumps(feed.to_document(), ensure_ascii=False),
            {"kind": _KIND_FEED, "url": feed.address, "title": feed.title},
        )


def _article_from_entry(entry: FeedEntry) -> Article:
    """The entry's own text as an article (the page could not be fetched)."""
    from newsbot.ingest.extract import article_from_bytes, article_from_text

    text = entry.content or ""
    if entry.content_is_html:
        import html

        page = (
            f"<html><head><title>{html.escape(entry.title or '')}</title></head>"
            f"<body><article>{text}</article></body></html>"
        )
        try:
            return article_from_bytes(page.encode(), content_type="text/html", url=entry.link)
        except IngestError:
            text = _html_text(text)  # too short for the extractor: take the bare text
    return article_from_text(text, title=entry.title, url=entry.link)


def _html_text(fragment: str) -> str:
    import lxml.html

    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except Exception:  # not even HTML: keep it as written
        return fragment
    for block in root.iter("p", "div", "br", "li", "h1", "h2", "h3", "h4", "blockquote"):
        block.tail = "\n\n" + (block.tail or "")
    return str(root.text_content())


def _newest_first(
    pending: list[tuple[FeedEntry, SeenEntry | None]],
) -> list[tuple[FeedEntry, SeenEntry | None]]:
    """Entries by date, newest first, when all are dated; else in feed order (newest first by
    convention)."""
    if pending and all(e.timestamp is not None for e, _ in pending):
        return sorted(pending, key=lambda p: p[0].timestamp or 0.0, reverse=True)
    return pending


def _forget_old(feed: Feed, current: set[str]) -> None:
    """Keep the guids of the feed's latest document and the most recent others."""
    older = [g for g in feed.seen if g not in current]
    for guid in older[: max(0, len(older) - _SEEN_KEEP)]:
        del feed.seen[guid]


def _parse(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
