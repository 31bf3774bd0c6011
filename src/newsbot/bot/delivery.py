"""Getting every Bot API request through: flood control and transient network errors.

python-telegram-bot's ``AIORateLimiter`` spaces requests out and, on a 429, waits
``retry_after`` and tries again. It does not retry anything else, so a reply that meets a
502 from Telegram, a dropped connection or a timeout would be lost (the handler fails and the
user gets an apology instead of the answer). :class:`DeliveringRateLimiter` adds retries with
exponential backoff for those transient errors, within a time budget.

``getUpdates`` is left alone: the updater's own loop already retries it with backoff, and a
poll retried here would hold up shutdown. So is ``getMe``, called once at start-up: a Bot API
that cannot be reached then (a wrong base URL, no network) should stop ``newsbot run`` with a
clear error at once, for the operator or the service manager to act on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from telegram.error import BadRequest, NetworkError
from telegram.ext import AIORateLimiter

log = logging.getLogger(__name__)

# Lower-cased methods not retried here (see the module docstring).
NOT_RETRIED = frozenset({"getupdates", "getme"})


def is_transient(error: BaseException) -> bool:
    """A failure worth retrying: the request may succeed unchanged a moment later.

    PTB raises ``NetworkError`` for 5xx answers, dropped connections and HTTP-level failures,
    and ``TimedOut`` (a ``NetworkError``) for timeouts. ``BadRequest`` is a ``NetworkError``
    subclass too, but a request Telegram refused stays refused.
    """
    return isinstance(error, NetworkError) and not isinstance(error, BadRequest)


class DeliveringRateLimiter(AIORateLimiter):
    """``AIORateLimiter`` that also retries transient errors with exponential backoff.

    Args:
        max_retries: retries of a 429 (flood control), as in ``AIORateLimiter``.
        budget: seconds a request may keep being retried after a transient error, counted
            from its first attempt; then the error is raised to the handler.
        first_delay: the first backoff; each further one doubles, up to ``max_delay``.
        max_delay: the longest single backoff.
        clock: the time source (tests).

    A read timeout is ambiguous: Telegram may have performed the request before the answer
    was lost. Retrying risks a duplicate message; not retrying loses it. Losing an answer is
    the worse outcome, so timeouts are retried too.
    """

    def __init__(
        self,
        *,
        max_retries: int = 5,
        budget: float = 120.0,
        first_delay: float = 0.5,
        max_delay: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(max_retries=max_retries)
        self.budget = budget
        self.first_delay = first_delay
        self.max_delay = max_delay
        self._clock = clock

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        started = self._clock()
        delay = self.first_delay
        attempt = 1
        while True:
            try:
                return await super().process_request(
                    callback, args, kwargs, endpoint, data, rate_limit_args
                )
            except NetworkError as error:
                if endpoint.lower() in NOT_RETRIED or not is_transient(error):
                    raise
                if self._clock() - started + delay > self.budget:
                    log.warning("%s failed %d times, giving up: %s", endpoint, attempt, error)
                    raise
                # The message names the error only: PTB's texts carry no URL, hence no token.
                log.warning("%s failed (%s); retry %d in %.1f s", endpoint, error, attempt, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_delay)
                attempt += 1
