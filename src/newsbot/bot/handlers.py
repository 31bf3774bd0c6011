"""The wiring: every handler registered in priority order, and the error handler.

No retrieval or ingestion logic lives in the bot; see :mod:`newsbot.library`. Every text
sent is built by :mod:`newsbot.bot.render` (or is a constant without article text).
"""

from __future__ import annotations

import logging

from telegram import (
    Update,
)
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    InlineQueryHandler,
    MessageHandler,
    filters,
)

from newsbot.bot import feeds as feed_commands
from newsbot.bot.admin import add, list_command, refuse, remove, stats, upload
from newsbot.bot.chat import ADD_CAPTION, is_private, over_limit, reply
from newsbot.bot.context import NewsContext
from newsbot.bot.error_handler import on_error
from newsbot.bot.menus import ADMIN_COMMAND_NAMES
from newsbot.bot.questions import (
    ShowPage,
    ShowPassage,
    ask_command,
    group_text,
    inline_query,
    latest_command,
    new_conversation,
    not_text,
    private_text,
    show_page,
    show_passage,
    stale_button,
    start,
)

log = logging.getLogger(__name__)


async def unknown_command(update: Update, context: NewsContext) -> None:
    """A command the bot does not have: a short pointer to /help (in groups only if addressed)."""
    message = update.effective_message
    if message is None or not message.text:
        return
    command = message.text.split(maxsplit=1)[0]
    if not is_private(message) and not command.lower().endswith(f"@{context.bot.username}".lower()):
        return  # meant for another bot, or for people
    if not await over_limit(update, context):
        await reply(message, "I don't know that command. /help lists what I can do.")


def register(application: Application, admins: frozenset[int]) -> None:
    """Add every handler, in priority order, and the error handler."""
    new = filters.UpdateType.MESSAGE  # edits of old messages are not new questions
    private = filters.ChatType.PRIVATE
    groups = filters.ChatType.GROUPS
    admin = filters.User(user_id=admins, allow_empty=False)
    document_for_bot = filters.Document.ALL & (private | filters.CaptionRegex(ADD_CAPTION))

    application.add_handlers(
        [
            CommandHandler(["start", "help"], start, filters=new),
            CommandHandler("ask", ask_command, filters=new),
            CommandHandler("latest", latest_command, filters=new),
            CommandHandler("new", new_conversation, filters=new),
            CommandHandler("add", add, filters=new & admin),
            CommandHandler("list", list_command, filters=new & admin),
            CommandHandler("remove", remove, filters=new & admin),
            CommandHandler("stats", stats, filters=new & admin),
            CommandHandler("feed", feed_commands.feed_command, filters=new & admin),
            CommandHandler(ADMIN_COMMAND_NAMES, refuse, filters=new),
            MessageHandler(new & admin & document_for_bot, upload),
            MessageHandler(new & document_for_bot, refuse),
            MessageHandler(new & filters.TEXT & ~filters.COMMAND & private, private_text),
            MessageHandler(new & filters.TEXT & ~filters.COMMAND & groups, group_text),
            MessageHandler(new & private & ~filters.TEXT & ~filters.StatusUpdate.ALL, not_text),
            MessageHandler(new & filters.COMMAND, unknown_command),
            CallbackQueryHandler(show_page, pattern=ShowPage),
            CallbackQueryHandler(show_passage, pattern=ShowPassage),
            CallbackQueryHandler(stale_button),  # InvalidCallbackData and anything else
            InlineQueryHandler(inline_query),
        ]
    )
    application.add_error_handler(on_error)
