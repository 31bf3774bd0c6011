"""Which conversation each of the bot's answers belongs to: a reply to an answer continues
that answer's conversation (its reply thread, in a group)."""

from __future__ import annotations

from collections.abc import Hashable

from telegram import Message

# Answers remembered; the oldest is forgotten first. Twice the conversations kept
# (conversation.DEFAULT_MAX_CONVERSATIONS): a conversation has an answer or three, and a
# reply to an older one than these finds its conversation expired anyway. About 200 bytes
# an answer: 4 MB at most.
MAX_ANSWERS = 20_000


class AnswerThreads:
    """A bounded map from the bot's answers ``(chat id, message id)`` to the key of the
    conversation they answered in. Not thread-safe: touched on the event loop only."""

    def __init__(self, max_answers: int = MAX_ANSWERS) -> None:
        if max_answers < 1:
            raise ValueError("max_answers must be >= 1")
        self.max_answers = max_answers
        self._keys: dict[tuple[int, int], Hashable] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def remember(self, chat_id: int, message_id: int, key: Hashable) -> None:
        self._keys[chat_id, message_id] = key
        while len(self._keys) > self.max_answers:
            del self._keys[next(iter(self._keys))]

    def key_of(self, chat_id: int, message_id: int) -> Hashable | None:
        return self._keys.get((chat_id, message_id))


def conversation_key(
    message: Message, bot_id: int, threads: AnswerThreads
) -> tuple[Hashable, bool, bool]:
    """Where a question belongs: its conversation's key, whether that conversation may be
    read (False: the question stands alone, and starts the conversation of its key), and
    whether it replies to one of the bot's remembered answers.

    A reply to an answer the bot remembers continues that answer's conversation, in any
    chat. A reply to any other message of the bot (one from before a restart, a "nothing
    found", an answer forgotten since) stands alone. Otherwise a private chat is one
    conversation, and a group question starts a thread of its own: in a group only a reply
    follows on, so one member's question never reads another's.
    """
    chat_id = message.chat_id
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and replied.from_user.id == bot_id:
        key = threads.key_of(chat_id, replied.message_id)
        if key is not None:
            return key, True, True
        return _own_key(message), False, False
    return _own_key(message), message.chat.type == "private", False


def _own_key(message: Message) -> Hashable:
    if message.chat.type == "private":
        return ("chat", message.chat_id)
    return ("thread", message.chat_id, message.message_id)
