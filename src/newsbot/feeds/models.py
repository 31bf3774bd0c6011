"""The types of feed subscriptions: a feed and its polling state, and what a poll did."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any

from newsbot.errors import NewsbotError
from newsbot.models import IngestResult, IngestStatus
from newsbot.redact import without_credentials


class FeedNotFoundError(NewsbotError):
    """No feed with the given id is subscribed."""


@dataclass(slots=True)
class SeenEntry:
    """What is remembered of an entry: its fingerprint, the article it became, the tries."""

    fingerprint: str
    article_id: str | None
    tries: int = 1

    def to_list(self) -> list[Any]:
        return [self.fingerprint, self.article_id, self.tries]

    @classmethod
    def from_list(cls, value: list[Any]) -> SeenEntry:
        return cls(str(value[0]), value[1], int(value[2]))


@dataclass(slots=True)
class Feed:
    """A subscription and its state, persisted in the store (``<collection>_feeds``).

    Attributes:
        id: short, stable (derived from the URL).
        etag, last_modified: the validators of the last full fetch (conditional GET).
        seen: entry guid -> what became of it, in the order they were first seen.
        primed: the feed was read once; its first poll ingests only the newest entries.
        failures: consecutive failed polls; ``alerted`` once admins were told about them.
        next_poll: ISO 8601 UTC time the feed is due.
    """

    id: str
    url: str
    title: str | None
    added_at: str
    added_by: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    seen: dict[str, SeenEntry] = field(default_factory=dict)
    primed: bool = False
    last_polled: str | None = None
    last_success: str | None = None
    last_error: str | None = None
    failures: int = 0
    alerted: bool = False
    next_poll: str | None = None
    articles: int = 0

    @property
    def address(self) -> str:
        """The URL as shown and logged: without a ``user:password@`` part (``url`` keeps it,
        to poll a private feed)."""
        return without_credentials(self.url)

    @property
    def name(self) -> str:
        return self.title or self.address

    def to_document(self) -> dict[str, Any]:
        data = asdict(self)
        data["seen"] = {guid: seen.to_list() for guid, seen in self.seen.items()}
        return data

    @classmethod
    def from_document(cls, data: dict[str, Any]) -> Feed:
        seen = {guid: SeenEntry.from_list(v) for guid, v in (data.get("seen") or {}).items()}
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "seen"}
        return cls(**known, seen=seen)

    def to_json(self) -> dict[str, Any]:
        """The public JSON shape used by ``newsbot feed list --json``."""
        return {
            "id": self.id,
            "url": self.address,
            "title": self.title,
            "added_at": self.added_at,
            "added_by": self.added_by,
            "articles": self.articles,
            "entries_seen": len(self.seen),
            "last_success": self.last_success,
            "last_error": self.last_error,
            "failures": self.failures,
            "next_poll": self.next_poll,
        }


class PollStatus(enum.StrEnum):
    OK = "ok"  # fetched and read
    NOT_MODIFIED = "not_modified"  # 304: nothing new
    FAILED = "failed"


class Alert(enum.StrEnum):
    FAILING = "failing"  # the feed just reached the alert threshold of consecutive failures
    RECOVERED = "recovered"  # a feed admins were told about works again


@dataclass(frozen=True, slots=True)
class EntryResult:
    """What became of one new or updated entry.

    ``via`` is ``"page"`` when the linked page was ingested, ``"feed"`` when the entry's own
    text stood in for a page that could not be fetched, None when both failed.
    """

    guid: str
    link: str | None
    title: str | None
    via: str | None
    result: IngestResult

    @property
    def is_new_article(self) -> bool:
        return self.result.status in (IngestStatus.ADDED, IngestStatus.UPDATED)

    def to_json(self) -> dict[str, Any]:
        return {"guid": self.guid, "link": self.link, "via": self.via, **self.result.to_json()}


@dataclass(frozen=True, slots=True)
class PollReport:
    """The outcome of polling one feed."""

    feed_id: str
    url: str  # the feed's address as shown: Feed.address, without credentials
    title: str | None
    status: PollStatus
    entries: list[EntryResult] = field(default_factory=list)
    error: str | None = None
    failures: int = 0
    next_poll: str | None = None
    alert: Alert | None = None

    @property
    def name(self) -> str:
        return self.title or self.url

    @property
    def new_articles(self) -> list[EntryResult]:
        return [e for e in self.entries if e.is_new_article]

    def to_json(self) -> dict[str, Any]:
        return {
            "feed_id": self.feed_id,
            "url": self.url,
            "title": self.title,
            "status": self.status.value,
            "error": self.error,
            "failures": self.failures,
            "next_poll": self.next_poll,
            "alert": self.alert.value if self.alert else None,
            "entries": [e.to_json() for e in self.entries],
        }
