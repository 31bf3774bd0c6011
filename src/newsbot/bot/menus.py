"""The bot's command menus: the user commands for everyone, the admin commands in each
admin's private chat.
"""

from __future__ import annotations

import logging

from telegram import (
    BotCommand,
    BotCommandScopeChat,
)
from telegram.error import TelegramError
from telegram.ext import (
    Application,
)

from newsbot.bot.context import NewsContext

log = logging.getLogger(__name__)


USER_COMMANDS = [
    BotCommand("ask", "Ask a question about the news"),
    BotCommand("latest", "The newest articles, optionally about a topic"),
    BotCommand("new", "Forget the conversation: the next question stands alone"),
    BotCommand("help", "What this bot does"),
    BotCommand("start", "Start here"),
]


ADMIN_COMMANDS = [
    BotCommand("add", "Add an article: a URL, pasted text or a reply"),
    BotCommand("list", "List the articles: /list [page]"),
    BotCommand("remove", "Remove an article: /remove <id>"),
    BotCommand("stats", "Articles, passages, model and store"),
    BotCommand("feed", "RSS/Atom feeds: /feed add|list|remove|poll, /feed digest on|off"),
]


ADMIN_COMMAND_NAMES = [c.command for c in ADMIN_COMMANDS]


async def set_admin_commands(context: NewsContext, user_id: int) -> None:
    try:
        await context.bot.set_my_commands(
            USER_COMMANDS + ADMIN_COMMANDS, scope=BotCommandScopeChat(user_id)
        )
    except TelegramError as error:
        log.warning("could not set the admin command menu: %s", error)


async def set_command_menus(application: Application, admins: frozenset[int]) -> None:
    """User commands for everyone; admin commands too in each admin's private chat."""
    await application.bot.set_my_commands(USER_COMMANDS)
    for user_id in sorted(admins):
        try:
            await application.bot.set_my_commands(
                USER_COMMANDS + ADMIN_COMMANDS, scope=BotCommandScopeChat(user_id)
            )
        except TelegramError as error:  # the admin has not started a chat with the bot yet
            log.warning("admin %s: command menu not set (%s); it is set on /start", user_id, error)
