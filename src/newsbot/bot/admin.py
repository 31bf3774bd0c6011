"""The admins' commands: /add (URLs, pasted text, replies, shared links), uploaded
documents and JSON Lines dumps, /list, /remove and /stats.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re

from telegram import (
    Document,
    Message,
    MessageEntity,
    Update,
)
from telegram.error import BadRequest, NetworkError, TelegramError

from newsbot.bot import render
from newsbot.bot.chat import (
    REFUSED,
    added_by,
    command_rest,
    for_another_bot,
    over_limit,
    reply,
    typing,
    unchanged,
)
from newsbot.bot.context import NewsContext
from newsbot.errors import ArticleNotFoundError
from newsbot.ingest.extract import split_title_line
from newsbot.ingest.sources import is_jsonl_name, is_url
from newsbot.models import IngestResult, IngestStatus

log = logging.getLogger(__name__)


MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024  # what the Bot API lets a bot download


LIST_PAGE_SIZE = 10


MIN_PASTED_WORDS = 5  # fewer is a slip ("/add hello there"), not an article


# A message with a link and at most this many other words is a shared link (with a comment),
# whose page is the article; longer text is an article that happens to contain links.
LINK_POST_WORDS = 40


DOWNLOAD_TRIES = 3  # file downloads bypass the Bot API calls' retries, so they have their own


IMPORT_PROGRESS_EVERY = 5.0  # seconds between the status edits of an uploaded dump's import


NOT_A_URL = (
    "<code>{token}</code> is not a URL I can fetch: URLs start with <code>http://</code> or "
    "<code>https://</code>. Nothing was added. To add pasted text, put the title on the first "
    "line and the article below it."
)


URL_AND_WORDS = (
    "That looks like a URL followed by other words. Nothing was added. To add the page, send "
    "<code>/add URL</code> (several URLs separated by spaces work too); to add pasted text, put "
    "the title on the first line and the article below it."
)


TOO_SHORT = (
    "That is too short to be an article ({words}). Nothing was added. Paste the "
    "article's text with its title on the first line."
)


ADD_USAGE = (
    "<b>/add</b> takes:\n"
    "• one or more URLs: <code>/add https://example.com/story</code>\n"
    "• pasted text after the command (the first line is the title)\n"
    "• a reply to a message whose text is the article, to a shared link, or to a document\n"
    "You can also send me a document (HTML, PDF, TXT, Markdown, up to 20 MB), or a JSON Lines "
    "dump from <code>newsbot export</code> (.jsonl, .jsonl.gz)."
)


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


async def refuse(update: Update, context: NewsContext) -> None:
    """A non-admin used an admin command or sent a document: refuse politely, change nothing."""
    message = update.effective_message
    if message is None or (
        message.document is not None and for_another_bot(message, context.bot.username)
    ):
        return
    if await over_limit(update, context):
        return
    if message.document is not None:
        what = "add articles"
    else:
        command = (message.text or "").split(maxsplit=1)[0].split("@")[0]
        what = f"use {render.esc(command)}"
    await reply(message, REFUSED.format(what=what))


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
            if not unchanged(error):
                raise


async def _ingest(
    update: Update, context: NewsContext, message: Message, sources: list[str]
) -> None:
    status = _Status(await reply(message, render.ingest_report([], total=len(sources), done=False)))
    results: list[IngestResult] = []
    async with typing(context, message.chat_id):
        for source in sources:
            results += await context.services.call(
                lambda s=source: list(context.library.ingest([s], added_by=added_by(update)))
            )
            if len(results) < len(sources):
                await status.show(render.ingest_report(results, total=len(sources), done=False))
    await status.show(render.ingest_report(results, total=len(results), done=True))


async def _add_text(update: Update, context: NewsContext, message: Message, text: str) -> None:
    # The library's rule for pasted text: a short first line is the title.
    split = split_title_line(text)
    words = len((split[1] if split else text).split())
    if words < MIN_PASTED_WORDS:
        await reply(message, TOO_SHORT.format(words=f"{words} word{'s' if words != 1 else ''}"))
        return
    status = _Status(await reply(message, "⏳ Adding the pasted text…"))
    async with typing(context, message.chat_id):
        result = await context.services.call(
            context.library.add_text, text, added_by=added_by(update)
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
        await reply(message, render.ingest_report([result], total=1, done=True))
        return
    status = _Status(await reply(message, f"⏳ Downloading {render.esc(name)}…"))
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
            added_by=added_by(update),
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
            added_by=added_by(update),
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
    rest = command_rest(message.text)
    replied = message.reply_to_message
    if rest.strip():
        tokens = rest.split()
        # Any scheme counts as a URL here, so "ftp://..." gets the fetcher's clear "only http
        # and https" refusal. Only scheme://... strings reach library.ingest: anything else
        # would be read as a path on the bot's own disk.
        if all(is_url(token) for token in tokens):
            await _ingest(update, context, message, tokens)
        elif len(tokens) == 1:
            # One word is never an article; it is a mistyped URL ("example.com/story").
            await reply(message, NOT_A_URL.format(token=render.esc(render.clip(tokens[0], 200))))
        elif is_url(tokens[0]) and "\n" not in rest.strip():
            await reply(message, URL_AND_WORDS)  # "/add URL my comment": the URL was meant
        else:
            await _add_text(update, context, message, rest)
    elif replied is not None and replied.document is not None:
        await _add_document(update, context, message, replied.document)
    elif replied is not None and (links := _shared_links(replied)):
        await _ingest(update, context, message, links)
    elif replied is not None and (replied.text or replied.caption):
        await _add_text(update, context, message, replied.text or replied.caption or "")
    else:
        await reply(message, ADD_USAGE)


async def upload(update: Update, context: NewsContext) -> None:
    """A document from an admin (any in a private chat; with an /add caption in groups)."""
    message = update.effective_message
    if message is None or message.document is None:
        return
    if not for_another_bot(message, context.bot.username):
        await _add_document(update, context, message, message.document)


async def list_command(update: Update, context: NewsContext) -> None:
    """/list [page]: ids, titles, outlets and dates, newest first."""
    message = update.effective_message
    if message is None:
        return
    rest = command_rest(message.text).strip()
    # ASCII digits only: "²".isdigit() is True, yet int("²") raises.
    page = int(rest) if re.fullmatch(r"[0-9]{1,9}", rest) else 1
    records = await context.services.call(context.library.list_articles)
    await reply(message, render.article_list(records, page, LIST_PAGE_SIZE))


async def remove(update: Update, context: NewsContext) -> None:
    """/remove <id>."""
    message = update.effective_message
    if message is None:
        return
    article_id = command_rest(message.text).strip()
    if not article_id or " " in article_id:
        await reply(message, "Remove like this: <code>/remove ID</code> (ids are in /list).")
        return
    try:
        record = await context.services.call(context.library.remove, article_id)
    except ArticleNotFoundError:
        await reply(
            message,
            f"No article has the id <code>{render.esc(render.clip(article_id, 80))}</code>. "
            "See /list.",
        )
        return
    await reply(message, render.removed(record))


async def stats(update: Update, context: NewsContext) -> None:
    """/stats: articles, passages, model, store."""
    message = update.effective_message
    if message is None:
        return
    result = await context.services.call(context.library.stats)
    await reply(message, render.stats_text(result))
