"""Who may do what: admin checks and the per-user question rate limit."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable


class Admins:
    """The Telegram user ids allowed to manage articles."""

    def __init__(self, user_ids: Iterable[int]) -> None:
        self.ids = frozenset(user_ids)

    def __contains__(self, user_id: object) -> bool:
        return user_id in self.ids


class QuestionRateLimiter:
    """A sliding window: at most ``per_minute`` questions per user in any 60 seconds.

    Used from the event loop only (no locking). ``per_minute == 0`` disables the limit.
    """

    WINDOW = 60.0

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._asked: dict[int, deque[float]] = {}
        self._told: dict[int, float] = {}  # user -> when the limit they were told of ends

    def check(self, user_id: int) -> float:
        """Record a question; returns 0 when allowed, else the seconds until the next one is."""
        if self.per_minute <= 0:
            return 0.0
        now = self._clock()
        asked = self._asked.setdefault(user_id, deque())
        while asked and now - asked[0] >= self.WINDOW:
            asked.popleft()
        if len(asked) >= self.per_minute:
            return max(asked[0] + self.WINDOW - now, 0.1)
        asked.append(now)
        if len(self._asked) > 10_000:  # forget idle users now and then
            self._asked = {u: q for u, q in self._asked.items() if q and now - q[-1] < self.WINDOW}
            self._told = {u: t for u, t in self._told.items() if t > now}
        return 0.0

    def first_notice(self, user_id: int, wait: float) -> bool:
        """Whether to tell a user who was just refused (``check`` returned ``wait``): once per
        refusal streak. Telling a flooder every time would spend the bot's own send budget
        (20 messages a minute in a group) and delay everyone else's answers."""
        now = self._clock()
        if self._told.get(user_id, 0.0) > now:
            return False
        self._told[user_id] = now + wait
        return True
