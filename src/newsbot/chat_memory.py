"""The conversations of every chat, in memory: bounded, expiring, and packed small.

The pure rules of follow-ups (what a turn keeps, what leans on it) are newsbot.conversation;
this is where the bot and ``newsbot chat`` keep them between messages.
"""

from __future__ import annotations

from collections.abc import Hashable

from newsbot.conversation import (
    DEFAULT_EXPIRY_S,
    DEFAULT_MAX_CONVERSATIONS,
    FIELD_SEP,
    ITEM_SEP,
    MAX_CONTEXT_CHARS,
    MAX_TURNS,
    TIME_SEP,
    TURN_SEP,
    Conversation,
    QuotePosition,
    Turn,
    turn_of,
)
from newsbot.models import Answer

# A chat's context is kept packed in one string, the time of its last turn first: a Turn's
# objects (the dataclass, three tuples, a string per word) take about 1.5 kB, its packed text
# about 250 bytes, and a (float, str) pair would add 80 bytes to each chat. These control
# characters separate the time, turns, fields and items; Turn.bounded keeps them out of every
# field.


def _pack_turn(turn: Turn) -> str:
    quote = turn.last_quote
    return FIELD_SEP.join(
        (
            turn.question,
            " ".join(turn.topic_words),
            ITEM_SEP.join(turn.article_ids),
            " ".join(turn.names),
            f"{quote.article_id}{ITEM_SEP}{quote.end}" if quote is not None else "",
        )
    )


def _unpack_turn(packed: str) -> Turn:
    question, topic, ids, names, quote = packed.split(FIELD_SEP)
    position = None
    if quote:
        article_id, end = quote.split(ITEM_SEP)
        position = QuotePosition(article_id, int(end))
    return Turn(
        question=question,
        topic_words=tuple(topic.split(" ")) if topic else (),
        article_ids=tuple(ids.split(ITEM_SEP)) if ids else (),
        names=tuple(names.split(" ")) if names else (),
        last_quote=position,
    )


def _pack(conversation: Conversation) -> str:
    turns = TURN_SEP.join(map(_pack_turn, conversation.turns))
    return f"{conversation.last_time!r}{TIME_SEP}{turns}"


def _packed_time(packed: str) -> float:
    return float(packed[: packed.index(TIME_SEP)])


def _unpack(packed: str) -> Conversation:
    last_time, _, turns = packed.partition(TIME_SEP)
    return Conversation(tuple(map(_unpack_turn, turns.split(TURN_SEP))), float(last_time))


def _names_only(turn: Turn) -> Turn:
    """What expansion reads of a turn that is no longer the last: its names."""
    asked = tuple(w for w in turn.topic_words if w[:1].isupper())
    return Turn(question="", topic_words=asked, names=turn.names)


class Conversations:
    """The conversations of every chat, in memory, bounded and expiring.

    Keys are opaque and hashable (the bot uses ``(chat_id, reply_root)``); nothing of one key
    is ever returned for another. A conversation is forgotten ``expiry`` seconds after its
    last turn; past ``max_conversations``, the one whose last turn is oldest goes first. Each
    keeps at most ``max_turns`` turns in at most MAX_CONTEXT_CHARS characters (older turns
    go first). Not thread-safe: the bot's handlers run on one event loop.
    """

    def __init__(
        self,
        *,
        expiry: float = DEFAULT_EXPIRY_S,
        max_conversations: int = DEFAULT_MAX_CONVERSATIONS,
        max_turns: int = MAX_TURNS,
    ) -> None:
        if expiry < 0 or max_conversations < 1 or max_turns < 1:
            raise ValueError("expiry must be >= 0, max_conversations and max_turns >= 1")
        self.expiry = expiry
        self.max_conversations = max_conversations
        self.max_turns = max_turns
        # Packed conversations (_pack), in the order of their last turn, oldest first: the
        # front is what expires, and what is evicted, first. A plain dict rather than an
        # OrderedDict (about 100 bytes less per chat); reaching its front scans the holes
        # that deletions left there, until its next resize compacts it.
        self._conversations: dict[Hashable, str] = {}

    def __len__(self) -> int:
        return len(self._conversations)

    def get(self, key: Hashable, now: float) -> Conversation | None:
        """The conversation of ``key``, or None when there is none or it has expired."""
        stored = self._conversations.get(key)
        if stored is None:
            return None
        conversation = _unpack(stored)
        if conversation.expired(now, self.expiry):
            del self._conversations[key]
            return None
        return conversation

    def record(self, key: Hashable, turn: Turn, now: float) -> Conversation:
        """Add ``turn`` to the conversation of ``key`` (a new one when it has none or it
        expired) and return it: its last ``max_turns`` turns, as many as fit in
        MAX_CONTEXT_CHARS, the earlier ones reduced to their names."""
        self._drop_expired(now)
        previous = self.get(key, now)
        self._conversations.pop(key, None)
        earlier = previous.turns[1 - self.max_turns :] if previous and self.max_turns > 1 else ()
        last = turn.bounded()
        kept = [last]
        size = len(_pack_turn(last))
        for older in map(_names_only, reversed(earlier)):
            size += len(_pack_turn(older)) + 1
            if size > MAX_CONTEXT_CHARS:
                break
            kept.append(older)
        conversation = Conversation(tuple(reversed(kept)), now)
        self._conversations[key] = _pack(conversation)
        while len(self._conversations) > self.max_conversations:
            del self._conversations[next(iter(self._conversations))]
        return conversation

    def remember(
        self, key: Hashable, answer: Answer, conversation: Conversation | None, now: float
    ) -> bool:
        """Keep what ``answer`` (to the conversation ``key`` had, ``conversation``) showed, as
        the bot and ``newsbot chat`` do after every question; return whether it is kept.

        An answer that showed something becomes the conversation's last turn
        (:func:`newsbot.conversation.turn_of`). One that found nothing ends the conversation:
        the next question, even one that leans ("and in Europe?"), stands alone, as a reply
        to a "nothing found" does. "More" past the end of the article changes nothing.
        """
        turn = turn_of(answer, conversation)
        if turn is not None:
            self.record(key, turn, now)
            return True
        if not answer.end_of_article:
            self.forget(key)
        return False

    def forget(self, key: Hashable) -> None:
        """Drop the conversation of ``key`` at once (``/new``); no error when there is none."""
        self._conversations.pop(key, None)

    def _drop_expired(self, now: float) -> None:
        stale = []
        for key, packed in self._conversations.items():
            if now - _packed_time(packed) <= self.expiry:
                break
            stale.append(key)
        for key in stale:
            del self._conversations[key]
