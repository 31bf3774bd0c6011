"""The one error handler: log first, tell the user in words, keep running."""

from __future__ import annotations

import contextlib
import logging

from telegram import (
    Update,
)
from telegram.error import Forbidden, TelegramError

from newsbot.bot import render
from newsbot.bot.chat import STORE_DOWN_FOR_ADMINS, UNAVAILABLE, WENT_WRONG, is_private
from newsbot.bot.context import NewsContext
from newsbot.errors import NewsbotError, StoreError

log = logging.getLogger(__name__)


async def on_error(update: object, context: NewsContext) -> None:
    """Log the error with its traceback, tell the user, keep running."""
    error = context.error
    user = update.effective_user if isinstance(update, Update) else None
    text: str | None  # what to tell the user, if they can be told
    if isinstance(error, StoreError):
        log.warning("the store is unavailable: %s", error)
        message = update.effective_message if isinstance(update, Update) else None
        private = message is not None and is_private(message)
        if private and user is not None and user.id in context.services.admins:
            reason = render.esc(render.clip(str(error) or type(error).__name__, 300))
            text = STORE_DOWN_FOR_ADMINS.format(reason=reason)
        else:
            text = UNAVAILABLE
    elif isinstance(error, Forbidden):  # blocked by the user, removed from the group
        log.warning("cannot write to that chat: %s", error.message)
        text = None
    elif isinstance(error, NewsbotError):
        log.warning("handler failed: %s", error)
        text = f"⚠️ {render.esc(render.clip(str(error), 500))}"
    else:
        log.error("error while handling an update", exc_info=error)
        text = WENT_WRONG
    if text is not None and isinstance(update, Update) and update.effective_message is not None:
        try:
            await update.effective_message.reply_text(text)
        except TelegramError as failure:  # e.g. the chat is gone; nothing more to do
            log.warning("could not report the error to the user: %s", failure)
    if isinstance(update, Update) and update.callback_query is not None:
        with contextlib.suppress(TelegramError):
            await update.callback_query.answer()
