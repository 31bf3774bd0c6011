"""What every handler uses to talk in a chat: replies, the typing indicator, the rate
limit, who sent what, and the texts shared by several features.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

from telegram import (
    CallbackQuery,
    Message,
    Update,
)
from telegram.constants import ChatAction, ChatType
from telegram.error import BadRequest, TelegramError

from newsbot.bot.context import NewsContext

log = logging.getLogger(__name__)


TYPING_REFRESH = 4.5  # Telegram shows "typing" for 5 s


ADD_CAPTION = re.compile(r"^/add(@\w+)?(\s|$)", re.IGNORECASE)


UNAVAILABLE = "⚠️ The library is temporarily unavailable. Please try again in a few minutes."


# Admins run the store, so in their private chat they get the reason; everyone else (and
# every group, where others read along) gets UNAVAILABLE without internals such as addresses.
STORE_DOWN_FOR_ADMINS = (
    "⚠️ <b>The article store is unavailable</b>: {reason}\n"
    "I keep running and try the store again on the next request; check the Chroma server "
    "(<code>newsbot healthcheck</code>)."
)


WENT_WRONG = "⚠️ Sorry, something went wrong while handling that. Please try again."


REFUSED = "🔒 Sorry, only the bot's admins can {what}."


def is_private(message: Message) -> bool:
    return message.chat.type == ChatType.PRIVATE


def added_by(update: Update) -> str | None:
    user = update.effective_user
    return f"telegram:{user.id}" if user else None


def for_another_bot(message: Message, username: str | None) -> bool:
    """A group document captioned ``/add@other_bot``: the caption filter cannot know our own
    username when the handlers are registered, so the suffix is checked here."""
    match = ADD_CAPTION.match(message.caption or "")
    suffix = match.group(1) if match else None
    return (
        not is_private(message)
        and suffix is not None
        and suffix[1:].lower() != (username or "").lower()
    )


def command_rest(text: str | None) -> str:
    """What follows the command: ``"/add Title\\nBody"`` -> ``"Title\\nBody"``."""
    parts = (text or "").split(maxsplit=1)
    return parts[1] if len(parts) > 1 else ""


@contextlib.asynccontextmanager
async def typing(context: NewsContext, chat_id: int) -> AsyncIterator[None]:
    """Show "typing…" in the chat until the block ends."""

    async def keep_typing() -> None:
        while True:
            try:
                await context.bot.send_chat_action(chat_id, ChatAction.TYPING)
            except TelegramError as error:  # cosmetic: never fail the work for it
                log.debug("chat action failed: %s", error)
            await asyncio.sleep(TYPING_REFRESH)

    task = asyncio.create_task(keep_typing())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def reply(message: Message, text: str, **kwargs: object) -> Message:
    """Reply in the chat; in groups as a reply to the message it answers."""
    return await message.reply_text(text, do_quote=not is_private(message), **kwargs)  # type: ignore[arg-type]


def limit_wait(context: NewsContext, user_id: int | None) -> float:
    """Count a request against its sender's limit (admins have none): 0 when allowed, else
    the seconds until the next one is."""
    if user_id is None or user_id in context.services.admins:
        return 0.0
    return context.services.limiter.check(user_id)


async def over_limit(update: Update, context: NewsContext) -> bool:
    """Count a message that gets a reply against its sender's limit; True when it is over,
    after telling the sender once per streak."""
    message, user = update.effective_message, update.effective_user
    wait = limit_wait(context, user.id if user else None)
    if not wait:
        return False
    assert user is not None  # only a known sender is limited
    if message is not None and context.services.limiter.first_notice(user.id, wait):
        await reply(
            message, f"⏳ You are asking faster than I can read. Please wait {int(wait) + 1} s."
        )
    return True


def unchanged(error: BadRequest) -> bool:
    """Whether Telegram refused an edit because the message already reads so."""
    return "not modified" in error.message.lower()


async def answer_query(query: CallbackQuery, text: str | None = None, **kwargs: Any) -> None:
    """Acknowledge a button press. Telegram refuses that once the press is ~15 s old (the
    bot was busy); what the press asked for is still done."""
    try:
        await query.answer(text, **kwargs)
    except BadRequest as error:
        log.info("button press not acknowledged: %s", error.message)
