"""What every handler gets: the services of the bot, through a typed callback context."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from telegram.ext import Application, CallbackContext, ExtBot

from newsbot.bot.access import Admins, QuestionRateLimiter
from newsbot.bot.threads import AnswerThreads
from newsbot.chat_memory import Conversations
from newsbot.config import Settings
from newsbot.feeds.manager import FeedManager
from newsbot.library import Library

T = TypeVar("T")


@dataclass
class Services:
    """The bot's dependencies, created by the app factory and shared by all handlers.

    Attributes:
        settings: the configuration.
        library: the article library; None until ``post_init`` opened it.
        owns_library: the bot opened the library and closes it on shutdown.
    """

    settings: Settings
    library: Library | None
    admins: Admins
    limiter: QuestionRateLimiter
    owns_library: bool
    inflight: set[asyncio.Future[Any]] = field(default_factory=set)
    # The newest inline query of each user still waiting to be answered (questions.inline_query).
    inline_latest: dict[int, str] = field(default_factory=dict)
    # Each chat's (each reply thread's, in groups) last turns, for follow-up questions, and
    # which thread each answer sent belongs to; in memory only: a restart forgets them.
    conversations: Conversations = field(default_factory=Conversations)
    threads: AnswerThreads = field(default_factory=AnswerThreads)
    # The conversations' clock: seconds, never going back (tests set another).
    clock: Callable[[], float] = time.monotonic
    _feeds: FeedManager | None = field(default=None, repr=False)

    def feed_manager(self, library: Library) -> FeedManager:
        """The feed manager of the open library: one, since it serialises the polls and
        guards the feeds' records (created on first use)."""
        if self._feeds is None or self._feeds.library is not library:
            self._feeds = FeedManager(library)
        return self._feeds

    async def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking library call in the thread pool; the event loop keeps serving.

        The call is shielded: a handler cancelled at shutdown leaves it to finish, and the
        shutdown waits for it before closing the store.
        """
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, functools.partial(function, *args, **kwargs))
        self.inflight.add(future)
        future.add_done_callback(self.inflight.discard)
        return await asyncio.shield(future)


class BotData:
    """``application.bot_data``: holds the services (set by the app factory)."""

    def __init__(self) -> None:
        self.services: Services | None = None


class NewsContext(CallbackContext[ExtBot[Any], dict[Any, Any], dict[Any, Any], BotData]):
    """The callback context of newsbot's handlers, with typed access to the services."""

    @property
    def services(self) -> Services:
        services = self.bot_data.services
        if services is None:
            raise RuntimeError("the application was not built with build_application()")
        return services

    @property
    def library(self) -> Library:
        library = self.services.library
        if library is None:
            raise RuntimeError("the library is not open yet")
        return library


NewsApplication = Application[
    ExtBot[Any], NewsContext, dict[Any, Any], dict[Any, Any], BotData, Any
]
