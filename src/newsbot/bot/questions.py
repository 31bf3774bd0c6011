"""Questions and answers: private and group questions, answer pages and their buttons,
the whole passage (📄) and inline mode.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InlineQueryResultsButton,
    InputTextMessageContent,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest

from newsbot.bot import render
from newsbot.bot.chat import (
    answer_query,
    command_rest,
    is_private,
    limit_wait,
    over_limit,
    reply,
    typing,
    unchanged,
)
from newsbot.bot.context import NewsContext
from newsbot.bot.menus import set_admin_commands
from newsbot.bot.threads import conversation_key
from newsbot.library import Library
from newsbot.models import Answer
from newsbot.periods import time_notes
from newsbot.question import clean_question, has_words

log = logging.getLogger(__name__)


# /latest lists this many articles; a topic longer than a question is cut.
LATEST_SHOWN = 8
MAX_TOPIC_CHARS = 300
# Clients send an inline query on (nearly) every keystroke; a query is answered only if no
# newer one from the same user came within this time, so typing a question costs one search.
INLINE_SETTLE = 0.4


NOT_TEXT = "I read text only: send me your question as a text message."


@dataclass(frozen=True, slots=True)
class ShowPage:
    """A "More"/"Back" button: the answer and the page to show (kept in PTB's data cache)."""

    answer: Answer
    page: int


@dataclass(frozen=True, slots=True)
class ShowPassage:
    """A "full passage" button."""

    answer: Answer
    rank: int


def _from_own_inline_result(message: Message, bot_id: int) -> bool:
    """A message a user sent through this bot's inline mode: a shared excerpt, not a question."""
    return message.via_bot is not None and message.via_bot.id == bot_id


def _without_mentions(message: Message, username: str, bot_id: int) -> tuple[str, bool]:
    """The message's text without its mentions of this bot, and whether there was one."""
    text = message.text or ""
    mentioned = False
    mention = f"@{username}".lower()
    for entity, value in message.parse_entities(
        [MessageEntity.MENTION, MessageEntity.TEXT_MENTION]
    ).items():
        if (entity.type == MessageEntity.MENTION and value.lower() == mention) or (
            entity.user is not None and entity.user.id == bot_id
        ):
            mentioned = True
            text = text.replace(value, " ")
    return text, mentioned


def answer_keyboard(answer: Answer, page: int, page_size: int) -> InlineKeyboardMarkup | None:
    """One "full passage" button per excerpt on the page, and Back/More to page."""
    pages = render.page_count(answer, page_size)
    passages = [
        InlineKeyboardButton(f"📄 {item.rank}", callback_data=ShowPassage(answer, item.rank))
        for item in render.page_items(answer, page, page_size)
    ]
    paging = []
    if page > 0:
        paging.append(InlineKeyboardButton("◀ Back", callback_data=ShowPage(answer, page - 1)))
    if page < pages - 1:
        paging.append(InlineKeyboardButton("More ▶", callback_data=ShowPage(answer, page + 1)))
    rows = [row for row in (passages, paging) if row]
    return InlineKeyboardMarkup(rows) if rows else None


async def start(update: Update, context: NewsContext) -> None:
    """/start and /help: what the bot does and how many articles it knows."""
    message = update.effective_message
    user = update.effective_user
    if message is None or await over_limit(update, context):
        return
    stats = await context.services.call(context.library.stats)
    lines = [
        "📰 <b>I answer questions about the news</b> with quoted excerpts from the articles "
        f"in my library, each with its source. I know <b>{stats.articles}</b> "
        f"article{'s' if stats.articles != 1 else ''}.",
        "",
        "• In a private chat, just send me your question.",
        "• In a group, mention me, reply to one of my messages, or use /ask &lt;question&gt;.",
        "• In any chat, type my username and a question to share an excerpt (inline mode).",
        "• Ask about a time: <i>What happened in Kabul last week?</i>, <i>… in March 2021</i>, "
        "<i>the latest on …</i>; /latest [topic] lists the newest articles.",
        "• Follow up on an answer: <i>and the resistance?</i>, <i>what did he say?</i>, or "
        "<i>more</i> to read on in the article (in a group, reply to my answer); "
        "/new starts afresh.",
        "",
        "Under an answer, 📄 <i>n</i> shows the whole passage of excerpt <i>n</i>, and "
        "<b>More</b> shows further excerpts.",
    ]
    if user is not None and user.id in context.services.admins:
        lines += ["", "<b>Admin</b>: /add, /list [page], /remove &lt;id&gt;, /stats, /feed."]
        if is_private(message):
            await set_admin_commands(context, user.id)
    await reply(message, "\n".join(lines))


async def ask_command(update: Update, context: NewsContext) -> None:
    """/ask <question> (anywhere)."""
    message = update.effective_message
    if message is None:
        return
    question = command_rest(message.text)
    if not question.strip():
        if not await over_limit(update, context):
            await reply(message, "Ask like this: <code>/ask What happened in the valley?</code>")
        return
    await answer_question(update, context, question)


async def new_conversation(update: Update, context: NewsContext) -> None:
    """/new: forget the conversation, so that the next question stands on its own."""
    message = update.effective_message
    if message is None or await over_limit(update, context):
        return
    services = context.services
    key, _, _ = conversation_key(message, context.bot.id, services.threads)
    services.conversations.forget(key)
    await reply(message, render.NEW_CONVERSATION)


async def latest_command(update: Update, context: NewsContext) -> None:
    """/latest [topic]: the newest articles, optionally about a topic, with date and link."""
    message = update.effective_message
    if message is None or await over_limit(update, context):
        return
    topic = clean_question(command_rest(message.text), MAX_TOPIC_CHARS).strip() or None
    async with typing(context, message.chat_id):
        records = await context.services.call(context.library.latest, topic, limit=LATEST_SHOWN)
    await reply(message, render.latest_articles(records, topic))


async def private_text(update: Update, context: NewsContext) -> None:
    """In a private chat any text is a question (a mention of the bot is not part of it)."""
    message = update.effective_message
    if message is None or _from_own_inline_result(message, context.bot.id):
        return
    question, _ = _without_mentions(message, context.bot.username, context.bot.id)
    await answer_question(update, context, question)


async def not_text(update: Update, context: NewsContext) -> None:
    """A photo, voice message, sticker… in a private chat: say what the bot reads."""
    message = update.effective_message
    if message is not None and not await over_limit(update, context):
        await reply(message, NOT_TEXT)


def _addressed_question(message: Message, username: str, bot_id: int) -> str | None:
    """The question of a group message addressed to the bot, or None for other chatter."""
    replied = message.reply_to_message
    text, mentioned = _without_mentions(message, username, bot_id)
    to_bot = mentioned or bool(replied and replied.from_user and replied.from_user.id == bot_id)
    return text if to_bot else None


async def group_text(update: Update, context: NewsContext) -> None:
    """In groups: answer an @mention or a reply to the bot; ignore other chatter."""
    message = update.effective_message
    if message is None or _from_own_inline_result(message, context.bot.id):
        return
    question = _addressed_question(message, context.bot.username, context.bot.id)
    if question is not None:
        await answer_question(update, context, question)


async def answer_question(update: Update, context: NewsContext, question: str) -> None:
    """Check the question, ask the library off the event loop, reply with the first page."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None:
        return
    settings = context.services.settings.telegram
    question = question.strip()
    if await over_limit(update, context):
        return
    if len(question) > settings.max_question_length:
        await reply(
            message,
            f"That question is {len(question):,} characters long; please keep it under "
            f"{settings.max_question_length} characters.",
        )
        return
    if not has_words(question):
        await reply(
            message,
            "Ask me a question in words, for example: <i>Who leads the resistance?</i>",
        )
        return
    services = context.services
    # The conversation is read before the answer is awaited and written after it, on the
    # event loop: two questions of one chat at once each see a whole conversation.
    key, readable, is_reply = conversation_key(message, context.bot.id, services.threads)
    now = services.clock()
    conversation = services.conversations.get(key, now) if readable else None
    async with typing(context, message.chat_id):
        answer = await services.call(
            context.library.converse,
            question,
            conversation,
            now=now,
            is_reply=is_reply,
            expiry=services.conversations.expiry,
            top_k=settings.max_passages,
        )
        # Kept before the reply is sent: a reader may follow up the moment it arrives.
        remembered = services.conversations.remember(key, answer, conversation, now)
        if answer.end_of_article:
            await reply(message, render.END_OF_ARTICLE)
            return
        if not answer.answered:
            count, titles = await services.call(_library_hint, context.library)
            text = render.nothing_found(question, count, titles, time_notes(answer))
            await reply(message, text)
            return
    sent = await reply(
        message,
        render.answer_page(answer, 0, settings.page_size),
        reply_markup=answer_keyboard(answer, 0, settings.page_size),
    )
    if remembered:
        services.threads.remember(sent.chat_id, sent.message_id, key)


def _library_hint(library: Library) -> tuple[int, list[str]]:
    """How many articles the library holds and the newest titles: what "nothing found" shows."""
    return library.count_articles(), [r.title for r in library.recent_articles(3)]


async def show_page(update: Update, context: NewsContext) -> None:
    """The "More"/"Back" buttons: edit the answer to show another page."""
    query = update.callback_query
    if query is None or not isinstance(query.data, ShowPage):
        return
    page_size = context.services.settings.telegram.page_size
    # The keyboard being replaced goes stale now: a second tap on it says so.
    context.drop_callback_data(query)
    await answer_query(query)
    try:
        await query.edit_message_text(
            render.answer_page(query.data.answer, query.data.page, page_size),
            reply_markup=answer_keyboard(query.data.answer, query.data.page, page_size),
        )
    except BadRequest as error:
        if not unchanged(error):  # a double tap
            raise


async def show_passage(update: Update, context: NewsContext) -> None:
    """A 📄 button: send the whole passage the excerpt comes from."""
    query = update.callback_query
    if query is None or not isinstance(query.data, ShowPassage):
        return
    item = next((p for p in query.data.answer.passages if p.rank == query.data.rank), None)
    # Each press sends a message: it counts like a question (the page turns edit theirs).
    wait = limit_wait(context, update.effective_user.id if update.effective_user else None)
    if wait:
        await answer_query(query, f"⏳ Too many requests; please wait {int(wait) + 1} s.")
        return
    await answer_query(query)
    message = query.message
    if item is None or not isinstance(message, Message):
        return
    await message.reply_text(render.passage_view(item), do_quote=True)


async def stale_button(update: Update, context: NewsContext) -> None:
    """A button whose data is gone (bot restarted, or an answer replaced by its next page)."""
    query = update.callback_query
    if query is None:
        return
    await answer_query(
        query, "This button has expired. Please ask your question again.", show_alert=True
    )


async def inline_query(update: Update, context: NewsContext) -> None:
    """``@botname question`` in any chat: the top passages as inline results."""
    query = update.inline_query
    if query is None:
        return
    services = context.services
    settings = services.settings.telegram
    text = clean_question(query.query, settings.max_question_length)
    if len(text) < 3 or not has_words(text):
        await query.answer([], cache_time=10)
        return
    user_id = query.from_user.id
    services.inline_latest[user_id] = query.id
    await asyncio.sleep(INLINE_SETTLE)
    if services.inline_latest.get(user_id) != query.id:
        return  # the user typed on; the newer query is answered instead
    del services.inline_latest[user_id]
    wait = limit_wait(context, user_id)
    if wait:
        await query.answer(
            [],
            cache_time=0,
            button=InlineQueryResultsButton(
                text=f"⏳ Too many questions; please wait {int(wait) + 1} s",
                start_parameter="slow_down",
            ),
        )
        return
    answer = await services.call(context.library.ask, text, top_k=settings.inline_results)
    results = [
        InlineQueryResultArticle(
            # Result ids may be 64 bytes; article ids up to 128 characters.
            id=hashlib.blake2b(item.passage.chunk.chunk_id.encode(), digest_size=16).hexdigest(),
            title=render.inline_title(item),
            description=render.inline_description(item),
            input_message_content=InputTextMessageContent(
                render.inline_message(answer, item),
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            ),
        )
        for item in answer.passages
    ]
    await query.answer(results, cache_time=60)
