"""Telegram handlers: parse the update, call the library off the event loop, render, reply.

No retrieval or ingestion logic lives here; see :mod:`newsbot.library`. Every text sent is
built by :mod:`newsbot.bot.render` (or is a constant without article text).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from telegram import (
    BotCommand,
    BotCommandScopeChat,
    CallbackQuery,
    Document,
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
from telegram.constants import ChatAction, ChatType, ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    InlineQueryHandler,
    InvalidCallbackData,
    MessageHandler,
    filters,
)

from newsbot.bot import feeds as feed_commands
from newsbot.bot import render
from newsbot.bot.context import NewsContext
from newsbot.errors import ArticleNotFoundError, NewsbotError, StoreError
from newsbot.ingest.extract import split_title_line
from newsbot.ingest.sources import is_jsonl_name, is_url
from newsbot.library import Library
from newsbot.models import Answer, IngestResult, IngestStatus
from newsbot.question import clean_question, has_words

log = logging.getLogger(__name__)

USER_COMMANDS = [
    BotCommand("ask", "Ask a question about the news"),
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
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024  # what the Bot API lets a bot download
LIST_PAGE_SIZE = 10
TYPING_REFRESH = 4.5  # Telegram shows "typing" for 5 s
_ADD_CAPTION = re.compile(r"^/add(@\w+)?(\s|$)", re.IGNORECASE)
MIN_PASTED_WORDS = 5  # fewer is a slip ("/add hello there"), not an article
# A message with a link and at most this many other words is a shared link (with a comment),
# whose page is the article; longer text is an article that happens to contain links.
LINK_POST_WORDS = 40
DOWNLOAD_TRIES = 3  # file downloads bypass the Bot API calls' retries, so they have their own
IMPORT_PROGRESS_EVERY = 5.0  # seconds between the status edits of an uploaded dump's import
# Clients send an inline query on (nearly) every keystroke; a query is answered only if no
# newer one from the same user came within this time, so typing a question costs one search.
INLINE_SETTLE = 0.4

UNAVAILABLE = "⚠️ The library is temporarily unavailable. Please try again in a few minutes."
# Admins run the store, so in their private chat they get the reason; everyone else (and
# every group, where others read along) gets UNAVAILABLE without internals such as addresses.
STORE_DOWN_FOR_ADMINS = (
    "⚠️ <b>The article store is unavailable</b>: {reason}\n"
    "I keep running and try the store again on the next request; check the Chroma server "
    "(<code>newsbot healthcheck</code>)."
)
WENT_WRONG = "⚠️ Sorry, something went wrong while handling that. Please try again."
NOT_A_URL = (
    "<code>{token}</code> is not a URL I can fetch: URLs start with <code>http://</code> or "
    "<code>https://</code>. Nothing was added. To add pasted text, put the title on the first "
    "line and the article below it."
)
REFUSED = "🔒 Sorry, only the bot's admins can {what}."
URL_AND_WORDS = (
    "That looks like a URL followed by other words. Nothing was added. To add the page, send "
    "<code>/add URL</code> (several URLs separated by spaces work too); to add pasted text, put "
    "the title on the first line and the article below it."
)
TOO_SHORT = (
    "That is too short to be an article ({words}). Nothing was added. Paste the "
    "article's text with its title on the first line."
)
NOT_TEXT = "I read text only: send me your question as a text message."
ADD_USAGE = (
    "<b>/add</b> takes:\n"
    "• one or more URLs: <code>/add https://example.com/story</code>\n"
    "• pasted text after the command (the first line is the title)\n"
    "• a reply to a message whose text is the article, to a shared link, or to a document\n"
    "You can also send me a document (HTML, PDF, TXT, Markdown, up to 20 MB), or a JSON Lines "
    "dump from <code>newsbot export</code> (.jsonl, .jsonl.gz)."
)


# --------------------------------------------------------------------------- callback data


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


# --------------------------------------------------------------------------- helpers


def _is_private(message: Message) -> bool:
    return message.chat.type == ChatType.PRIVATE


def _added_by(update: Update) -> str | None:
    user = update.effective_user
    return f"telegram:{user.id}" if user else None


def _for_another_bot(message: Message, username: str | None) -> bool:
    """A group document captioned ``/add@other_bot``: the caption filter cannot know our own
    username when the handlers are registered, so the suffix is checked here."""
    match = _ADD_CAPTION.match(message.caption or "")
    suffix = match.group(1) if match else None
    return (
        not _is_private(message)
        and suffix is not None
        and suffix[1:].lower() != (username or "").lower()
    )


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


def _shared_links(message: Message) -> list[str]:
    """The web links of a message that shares them (links, perhaps with a short comment), in
    order, once each; none for a longer text, which is an article that has links in it."""
    entities: list[str | None] = [MessageEntity.URL, MessageEntity.TEXT_LINK]
    found = {**message.parse_entities(entities), **message.parse_caption_entities(entities)}
    text = message.text or message.caption or ""
    links: list[str] = []
    for entity, value in found.items():
        if entity.type == MessageEntity.TEXT_LINK:
            # Only scheme://… reaches ingest: anything else would be read as a path on disk.
            url = entity.url if entity.url and is_url(entity.url) else ""
        else:
            url = value if is_url(value) else f"http://{value}"  # as clients open "site.com/x"
            text = text.replace(value, " ")
        if url and url not in links:
            links.append(url)
    return links if len(text.split()) <= LINK_POST_WORDS else []


def _command_rest(text: str | None) -> str:
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


async def _reply(message: Message, text: str, **kwargs: object) -> Message:
    """Reply in the chat; in groups as a reply to the message it answers."""
    return await message.reply_text(text, do_quote=not _is_private(message), **kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- users


async def start(update: Update, context: NewsContext) -> None:
    """/start and /help: what the bot does and how many articles it knows."""
    message = update.effective_message
    user = update.effective_user
    if message is None or await _over_limit(update, context):
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
        "",
        "Under an answer, 📄 <i>n</i> shows the whole passage of excerpt <i>n</i>, and "
        "<b>More</b> shows further excerpts.",
    ]
    if user is not None and user.id in context.services.admins:
        lines += ["", "<b>Admin</b>: /add, /list [page], /remove &lt;id&gt;, /stats, /feed."]
        if _is_private(message):
            await _set_admin_commands(context, user.id)
    await _reply(message, "\n".join(lines))


async def ask_command(update: Update, context: NewsContext) -> None:
    """/ask <question> (anywhere)."""
    message = update.effective_message
    if message is None:
        return
    question = _command_rest(message.text)
    if not question.strip():
        if not await _over_limit(update, context):
            await _reply(message, "Ask like this: <code>/ask What happened in the valley?</code>")
        return
    await answer_question(update, context, question)


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
    if message is not None and not await _over_limit(update, context):
        await _reply(message, NOT_TEXT)


def _addressed_question(message: Message, username: str, bot_id: int) -> str | None:
    """The question of a group message addressed to the bot, or None for other chatter."""
    reply = message.reply_to_message
    text, mentioned = _without_mentions(message, username, bot_id)
    to_bot = mentioned or bool(reply and reply.from_user and reply.from_user.id == bot_id)
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
    if await _over_limit(update, context):
        return
    if len(question) > settings.max_question_length:
        await _reply(
            message,
            f"That question is {len(question):,} characters long; please keep it under "
            f"{settings.max_question_length} characters.",
        )
        return
    if not has_words(question):
        await _reply(
            message,
            "Ask me a question in words, for example: <i>Who leads the resistance?</i>",
        )
        return
    async with typing(context, message.chat_id):
        answer = await context.services.call(
            context.library.ask, question, top_k=settings.max_passages
        )
        if not answer.answered:
            count, titles = await context.services.call(_library_hint, context.library)
            text = render.nothing_found(question, count, titles)
            await _reply(message, text)
            return
    await _reply(
        message,
        render.answer_page(answer, 0, settings.page_size),
        reply_markup=answer_keyboard(answer, 0, settings.page_size),
    )


def _limit_wait(context: NewsContext, user_id: int | None) -> float:
    """Count a request against its sender's limit (admins have none): 0 when allowed, else
    the seconds until the next one is."""
    if user_id is None or user_id in context.services.admins:
        return 0.0
    return context.services.limiter.check(user_id)


async def _over_limit(update: Update, context: NewsContext) -> bool:
    """Count a message that gets a reply against its sender's limit; True when it is over,
    after telling the sender once per streak."""
    message, user = update.effective_message, update.effective_user
    wait = _limit_wait(context, user.id if user else None)
    if not wait:
        return False
    assert user is not None  # only a known sender is limited
    if message is not None and context.services.limiter.first_notice(user.id, wait):
        await _reply(
            message, f"⏳ You are asking faster than I can read. Please wait {int(wait) + 1} s."
        )
    return True


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
    await _answer_query(query)
    try:
        await query.edit_message_text(
            render.answer_page(query.data.answer, query.data.page, page_size),
            reply_markup=answer_keyboard(query.data.answer, query.data.page, page_size),
        )
    except BadRequest as error:
        if not _unchanged(error):  # a double tap
            raise


def _unchanged(error: BadRequest) -> bool:
    """Whether Telegram refused an edit because the message already reads so."""
    return "not modified" in error.message.lower()


async def show_passage(update: Update, context: NewsContext) -> None:
    """A 📄 button: send the whole passage the excerpt comes from."""
    query = update.callback_query
    if query is None or not isinstance(query.data, ShowPassage):
        return
    item = next((p for p in query.data.answer.passages if p.rank == query.data.rank), None)
    # Each press sends a message: it counts like a question (the page turns edit theirs).
    wait = _limit_wait(context, update.effective_user.id if update.effective_user else None)
    if wait:
        await _answer_query(query, f"⏳ Too many requests; please wait {int(wait) + 1} s.")
        return
    await _answer_query(query)
    message = query.message
    if item is None or not isinstance(message, Message):
        return
    await message.reply_text(render.passage_view(item), do_quote=True)


async def stale_button(update: Update, context: NewsContext) -> None:
    """A button whose data is gone (bot restarted, or an answer replaced by its next page)."""
    query = update.callback_query
    if query is None:
        return
    await _answer_query(
        query, "This button has expired. Please ask your question again.", show_alert=True
    )


async def _answer_query(query: CallbackQuery, text: str | None = None, **kwargs: Any) -> None:
    """Acknowledge a button press. Telegram refuses that once the press is ~15 s old (the
    bot was busy); what the press asked for is still done."""
    try:
        await query.answer(text, **kwargs)
    except BadRequest as error:
        log.info("button press not acknowledged: %s", error.message)


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
    wait = _limit_wait(context, user_id)
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


async def unknown_command(update: Update, context: NewsContext) -> None:
    """A command the bot does not have: a short pointer to /help (in groups only if addressed)."""
    message = update.effective_message
    if message is None or not message.text:
        return
    command = message.text.split(maxsplit=1)[0]
    if not _is_private(message) and not command.lower().endswith(
        f"@{context.bot.username}".lower()
    ):
        return  # meant for another bot, or for people
    if not await _over_limit(update, context):
        await _reply(message, "I don't know that command. /help lists what I can do.")


# --------------------------------------------------------------------------- admins


async def refuse(update: Update, context: NewsContext) -> None:
    """A non-admin used an admin command or sent a document: refuse politely, change nothing."""
    message = update.effective_message
    if message is None or (
        message.document is not None and _for_another_bot(message, context.bot.username)
    ):
        return
    if await _over_limit(update, context):
        return
    if message.document is not None:
        what = "add articles"
    else:
        command = (message.text or "").split(maxsplit=1)[0].split("@")[0]
        what = f"use {render.esc(command)}"
    await _reply(message, REFUSED.format(what=what))


class _Status:
    """One status message, edited as an ingest progresses."""

    def __init__(self, message: Message) -> None:
        self.message = message
        self.text = message.text_html or ""

    async def show(self, text: str) -> None:
        if text == self.text:
            return
        try:
            await self.message.edit_text(text)
            self.text = text
        except BadRequest as error:
            if not _unchanged(error):
                raise


async def _ingest(
    update: Update, context: NewsContext, message: Message, sources: list[str]
) -> None:
    status = _Status(
        await _reply(message, render.ingest_report([], total=len(sources), done=False))
    )
    results: list[IngestResult] = []
    async with typing(context, message.chat_id):
        for source in sources:
            results += await context.services.call(
                lambda s=source: list(context.library.ingest([s], added_by=_added_by(update)))
            )
            if len(results) < len(sources):
                await status.show(render.ingest_report(results, total=len(sources), done=False))
    await status.show(render.ingest_report(results, total=len(results), done=True))


async def _add_text(update: Update, context: NewsContext, message: Message, text: str) -> None:
    # The library's rule for pasted text: a short first line is the title.
    split = split_title_line(text)
    words = len((split[1] if split else text).split())
    if words < MIN_PASTED_WORDS:
        await _reply(message, TOO_SHORT.format(words=f"{words} word{'s' if words != 1 else ''}"))
        return
    status = _Status(await _reply(message, "⏳ Adding the pasted text…"))
    async with typing(context, message.chat_id):
        result = await context.services.call(
            context.library.add_text, text, added_by=_added_by(update)
        )
    await status.show(render.ingest_report([result], total=1, done=True))


async def _add_document(
    update: Update, context: NewsContext, message: Message, document: Document
) -> None:
    name = document.file_name or "document"
    if (document.file_size or 0) > MAX_DOWNLOAD_BYTES:
        result = IngestResult(
            name, IngestStatus.FAILED, error="file is larger than 20 MB, the limit for bots"
        )
        await _reply(message, render.ingest_report([result], total=1, done=True))
        return
    status = _Status(await _reply(message, f"⏳ Downloading {render.esc(name)}…"))
    async with typing(context, message.chat_id):
        try:
            data = await _download(context, document)
        except TelegramError as error:
            log.warning("downloading %s failed: %s", name, error)
            failed = IngestResult(
                name, IngestStatus.FAILED, error="the download from Telegram failed; send it again"
            )
            await status.show(render.ingest_report([failed], total=1, done=True))
            return
        await status.show(f"⏳ Reading {render.esc(name)}…")
        if is_jsonl_name(name):
            await status.show(
                render.import_report(name, await _import(update, context, status, data, name))
            )
            return
        result = await context.services.call(
            context.library.add_file,
            data,
            name=name,
            content_type=document.mime_type,
            added_by=_added_by(update),
        )
    await status.show(render.ingest_report([result], total=1, done=True))


async def _import(
    update: Update, context: NewsContext, status: _Status, data: bytes, name: str
) -> list[IngestResult]:
    """Import a dump, showing how many lines are done meanwhile (thousands take minutes)."""
    done = [0]  # written by the worker thread, read here: an int's assignment is atomic
    work = asyncio.ensure_future(
        context.services.call(
            context.library.import_dump,
            data,
            name=name,
            added_by=_added_by(update),
            progress=lambda count: done.__setitem__(0, count),
        )
    )
    while not work.done():
        await asyncio.wait({work}, timeout=IMPORT_PROGRESS_EVERY)
        if not work.done() and done[0]:
            lines = f"{done[0]:,} line{'s' if done[0] != 1 else ''}"
            # Progress is a courtesy: a failed edit must not cost the final report.
            with contextlib.suppress(TelegramError):
                await status.show(f"⏳ Importing {render.esc(name)}: {lines} done…")
    return work.result()


async def _download(context: NewsContext, document: Document) -> bytes:
    """The document's bytes; a dropped connection or a 5xx is tried again."""
    for attempt in range(DOWNLOAD_TRIES):
        try:
            telegram_file = await context.bot.get_file(document.file_id)
            return bytes(await telegram_file.download_as_bytearray(read_timeout=120))
        except BadRequest:  # a NetworkError too, but no retry mends it ("file is too big")
            raise
        except NetworkError as error:  # TimedOut, 5xx, a hang-up
            if attempt == DOWNLOAD_TRIES - 1:
                raise
            log.info("downloading %s failed (%s); trying again", document.file_name, error)
            await asyncio.sleep(2**attempt)
    raise AssertionError("unreachable")


async def add(update: Update, context: NewsContext) -> None:
    """/add URL..., /add + pasted text, or /add as a reply to a text or a document."""
    message = update.effective_message
    if message is None:
        return
    rest = _command_rest(message.text)
    reply = message.reply_to_message
    if rest.strip():
        tokens = rest.split()
        # Any scheme counts as a URL here, so "ftp://..." gets the fetcher's clear "only http
        # and https" refusal. Only scheme://... strings reach library.ingest: anything else
        # would be read as a path on the bot's own disk.
        if all(is_url(token) for token in tokens):
            await _ingest(update, context, message, tokens)
        elif len(tokens) == 1:
            # One word is never an article; it is a mistyped URL ("example.com/story").
            await _reply(message, NOT_A_URL.format(token=render.esc(render.clip(tokens[0], 200))))
        elif is_url(tokens[0]) and "\n" not in rest.strip():
            await _reply(message, URL_AND_WORDS)  # "/add URL my comment": the URL was meant
        else:
            await _add_text(update, context, message, rest)
    elif reply is not None and reply.document is not None:
        await _add_document(update, context, message, reply.document)
    elif reply is not None and (links := _shared_links(reply)):
        await _ingest(update, context, message, links)
    elif reply is not None and (reply.text or reply.caption):
        await _add_text(update, context, message, reply.text or reply.caption or "")
    else:
        await _reply(message, ADD_USAGE)


async def upload(update: Update, context: NewsContext) -> None:
    """A document from an admin (any in a private chat; with an /add caption in groups)."""
    message = update.effective_message
    if message is None or message.document is None:
        return
    if not _for_another_bot(message, context.bot.username):
        await _add_document(update, context, message, message.document)


async def list_command(update: Update, context: NewsContext) -> None:
    """/list [page]: ids, titles, outlets and dates, newest first."""
    message = update.effective_message
    if message is None:
        return
    rest = _command_rest(message.text).strip()
    # ASCII digits only: "²".isdigit() is True, yet int("²") raises.
    page = int(rest) if re.fullmatch(r"[0-9]{1,9}", rest) else 1
    records = await context.services.call(context.library.list_articles)
    await _reply(message, render.article_list(records, page, LIST_PAGE_SIZE))


async def remove(update: Update, context: NewsContext) -> None:
    """/remove <id>."""
    message = update.effective_message
    if message is None:
        return
    article_id = _command_rest(message.text).strip()
    if not article_id or " " in article_id:
        await _reply(message, "Remove like this: <code>/remove ID</code> (ids are in /list).")
        return
    try:
        record = await context.services.call(context.library.remove, article_id)
    except ArticleNotFoundError:
        await _reply(
            message,
            f"No article has the id <code>{render.esc(render.clip(article_id, 80))}</code>. "
            "See /list.",
        )
        return
    await _reply(message, render.removed(record))


async def stats(update: Update, context: NewsContext) -> None:
    """/stats: articles, passages, model, store."""
    message = update.effective_message
    if message is None:
        return
    result = await context.services.call(context.library.stats)
    await _reply(message, render.stats_text(result))


# --------------------------------------------------------------------------- errors


async def on_error(update: object, context: NewsContext) -> None:
    """Log the error with its traceback, tell the user, keep running."""
    error = context.error
    user = update.effective_user if isinstance(update, Update) else None
    text: str | None  # what to tell the user, if they can be told
    if isinstance(error, StoreError):
        log.warning("the store is unavailable: %s", error)
        message = update.effective_message if isinstance(update, Update) else None
        private = message is not None and _is_private(message)
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


# --------------------------------------------------------------------------- wiring


async def _set_admin_commands(context: NewsContext, user_id: int) -> None:
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


def register(application: Application, admins: frozenset[int]) -> None:
    """Add every handler, in priority order, and the error handler."""
    new = filters.UpdateType.MESSAGE  # edits of old messages are not new questions
    private = filters.ChatType.PRIVATE
    groups = filters.ChatType.GROUPS
    admin = filters.User(user_id=admins, allow_empty=False)
    document_for_bot = filters.Document.ALL & (private | filters.CaptionRegex(_ADD_CAPTION))

    application.add_handlers(
        [
            CommandHandler(["start", "help"], start, filters=new),
            CommandHandler("ask", ask_command, filters=new),
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


__all__ = [
    "ADMIN_COMMANDS",
    "USER_COMMANDS",
    "InvalidCallbackData",
    "ShowPage",
    "ShowPassage",
    "register",
    "set_command_menus",
]
