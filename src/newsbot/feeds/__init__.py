"""RSS/Atom feed subscriptions: new entries arrive in the library by themselves.

``parse`` fetches (through the safe fetcher) and parses feeds, ``manager`` keeps the
subscriptions in the store and polls them, ``telegram`` is the bot's side (``/feed``, the
JobQueue schedule, digests and alerts) and the only module here that imports Telegram.
"""

from newsbot.feeds.manager import FeedManager, feed_id_for
from newsbot.feeds.models import (
    Alert,
    EntryResult,
    Feed,
    FeedNotFoundError,
    PollReport,
    PollStatus,
)
from newsbot.feeds.parse import FeedError

__all__ = [
    "Alert",
    "EntryResult",
    "Feed",
    "FeedError",
    "FeedManager",
    "FeedNotFoundError",
    "PollReport",
    "PollStatus",
    "feed_id_for",
]
