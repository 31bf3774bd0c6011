"""The Bot API stand-in, exercised with the real python-telegram-bot client."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    Message,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    Conflict,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import (
    AIORateLimiter,
    ApplicationBuilder,
    CommandHandler,
    ContextTypes,
    Defaults,
    MessageHandler,
    filters,
)
from telegram.warnings import PTBDeprecationWarning

from tests.servers.botapi import BotApiServer, parse_html, utf16_length

TOKEN = "123456:TEST-token"
USER_ID = 4242


@pytest.fixture
def server() -> Iterator[BotApiServer]:
    with BotApiServer(TOKEN) as running:
        running.add_chat(USER_ID)
        yield running


@pytest.fixture
async def bot(server: BotApiServer) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=server.bot_api_url, base_file_url=server.file_api_url) as bot:
        yield bot


def raw_call(url: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    """POST a JSON body with urllib; returns the HTTP status and the decoded answer."""
    data = json.dumps(body or {}).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


# --------------------------------------------------------------------------- HTTP surface


def test_wrong_token_and_unknown_method_answer_like_telegram(server: BotApiServer) -> None:
    assert raw_call(f"{server.base_url}/bot999:nope/getMe") == (
        401,
        {"ok": False, "error_code": 401, "description": "Unauthorized"},
    )
    assert raw_call(f"{server.bot_api_url}{TOKEN}/noSuchMethod") == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found"},
    )


def test_methods_are_case_insensitive_and_json_bodies_work(server: BotApiServer) -> None:
    status, answer = raw_call(f"{server.bot_api_url}{TOKEN}/GETME")
    assert status == 200 and answer["result"]["username"] == "newsbot_test_bot"
    status, answer = raw_call(
        f"{server.bot_api_url}{TOKEN}/sendmessage",
        {"chat_id": USER_ID, "text": "<b>hi</b>", "parse_mode": "HTML"},
    )
    assert status == 200
    assert answer["result"]["text"] == "hi"
    assert server.calls[-1].method == "sendMessage"


async def test_get_me(bot: Bot) -> None:
    me = await bot.get_me()
    assert me.is_bot and me.username == "newsbot_test_bot" and me.id == 123456


async def test_wrong_token_raises_invalid_token(server: BotApiServer) -> None:
    wrong = Bot("999:wrong", base_url=server.bot_api_url)
    with pytest.raises(InvalidToken):
        await wrong.initialize()


# --------------------------------------------------------------------------- sendMessage


async def test_valid_html_is_accepted_with_entities(bot: Bot, server: BotApiServer) -> None:
    html = (
        "  <b>bold</b> <i>it</i> <u>u</u> <s>s</s> <tg-spoiler>sp</tg-spoiler> "
        '<span class="tg-spoiler">sp2</span> <a href="https://example.com/a?b=1&amp;c=2">link</a> '
        '<code>c</code> <pre><code class="language-python">x = 1</code></pre> '
        "<blockquote expandable>quote</blockquote> "
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji> &lt;&gt;&amp;&quot;&#65;&#x42;\n'
    )
    first = await bot.send_message(USER_ID, html, parse_mode="HTML")
    second = await bot.send_message(USER_ID, "plain <b> not parsed")
    assert (first.message_id, second.message_id) == (1, 2)
    assert first.text is not None
    assert first.text.startswith("bold it u s sp sp2 link c x = 1 quote 👍 ")
    assert first.text.endswith('<>&"AB')  # trimmed like Telegram
    assert first.from_user is not None and first.from_user.is_bot
    kinds = {entity.type for entity in first.entities}
    assert kinds >= {
        "bold",
        "italic",
        "underline",
        "strikethrough",
        "spoiler",
        "text_link",
        "code",
        "pre",
        "expandable_blockquote",
        "custom_emoji",
    }
    link = next(e for e in first.entities if e.type == "text_link")
    assert link.url == "https://example.com/a?b=1&c=2"
    assert first.parse_entity(link) == "link"
    pre = next(e for e in first.entities if e.type == "pre")
    assert pre.language == "python" and first.parse_entity(pre) == "x = 1"
    assert second.text == "plain <b> not parsed" and not second.entities
    assert [m["text"] for m in server.sent_messages(USER_ID)] == [first.text, second.text]
    assert server.rejected == []


@pytest.mark.parametrize(
    ("html", "message"),
    [
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("price < 5", 'Unsupported start tag "" at byte offset 6'),
        ("é<br>", 'Unsupported start tag "br" at byte offset 2'),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("<b>x</b", "Unclosed end tag at byte offset 4"),
        ("<b", "Unclosed start tag at byte offset 0"),
        ('<tg-emoji emoji-id="x">y</tg-emoji>', "Invalid custom emoji identifier specified"),
    ],
)
async def test_invalid_html_is_rejected_like_telegram(
    bot: Bot, server: BotApiServer, html: str, message: str
) -> None:
    with pytest.raises(BadRequest) as caught:
        await bot.send_message(USER_ID, html, parse_mode="HTML")
    description = f"Bad Request: can't parse entities: {message}"
    # PTB strips "Bad Request: " and capitalizes, exactly as with the real API.
    assert caught.value.message == description.removeprefix("Bad Request: ").capitalize()
    assert [(r.method, r.status, r.description) for r in server.rejected] == [
        ("sendMessage", 400, description)
    ]
    assert server.sent_messages() == []


async def test_unknown_named_entities_stay_literal_unless_strict(bot: Bot) -> None:
    sent = await bot.send_message(USER_ID, "AT&T &nbsp; &amp", parse_mode="HTML")
    assert sent.text == "AT&T &nbsp; &"
    with pytest.raises(ValueError, match="Unsupported HTML entity at byte offset 2"):
        parse_html("AT&T", strict_entities=True)


async def test_length_is_counted_in_utf16_after_parsing(bot: Bot) -> None:
    await bot.send_message(USER_ID, "a" * 4096)
    await bot.send_message(USER_ID, "<b>" + "a" * 4096 + "</b>", parse_mode="HTML")
    await bot.send_message(USER_ID, "&lt;" * 4096, parse_mode="HTML")
    await bot.send_message(USER_ID, "😀" * 2048)
    assert utf16_length("😀" * 2048) == 4096
    for too_long in ("a" * 4097, "😀" * 2049, "&amp;" * 4097):
        with pytest.raises(BadRequest, match=r"^Message is too long$"):
            await bot.send_message(USER_ID, too_long, parse_mode="HTML")


@pytest.mark.parametrize("text", ["<b></b>", "   \n ", "<i> </i>"])
async def test_empty_text_after_parsing_is_rejected(bot: Bot, text: str) -> None:
    with pytest.raises(BadRequest, match=r"^Message text is empty$"):
        await bot.send_message(USER_ID, text, parse_mode="HTML")


async def test_unknown_chat_is_not_found(bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"^Chat not found$"):
        await bot.send_message(777, "hello")


async def test_callback_data_over_64_bytes_is_rejected(bot: Bot, server: BotApiServer) -> None:
    ok = InlineKeyboardMarkup([[InlineKeyboardButton("fits", callback_data="é" * 32)]])
    sent = await bot.send_message(USER_ID, "pick", reply_markup=ok)
    assert sent.reply_markup == ok
    too_big = InlineKeyboardMarkup([[InlineKeyboardButton("big", callback_data="x" * 65)]])
    with pytest.raises(BadRequest, match=r"^Button_data_invalid$"):
        await bot.send_message(USER_ID, "pick", reply_markup=too_big)
    assert server.rejected[-1].description == "Bad Request: BUTTON_DATA_INVALID"


async def test_reply_to_a_user_message(bot: Bot, server: BotApiServer) -> None:
    asked = server.user_message("what happened?", user_id=USER_ID)["message"]
    answer = await bot.send_message(USER_ID, "this", reply_to_message_id=asked["message_id"])
    assert answer.reply_to_message is not None
    assert answer.reply_to_message.text == "what happened?"
    assert answer.message_id == asked["message_id"] + 1  # one id sequence per chat
    with pytest.raises(BadRequest, match=r"^Message to be replied not found$"):
        await bot.send_message(USER_ID, "x", reply_to_message_id=99)


# --------------------------------------------------------------------------- edits


async def test_edit_message_text(bot: Bot, server: BotApiServer) -> None:
    sent = await bot.send_message(USER_ID, "draft")
    edited = await bot.edit_message_text(
        "<b>final</b>", USER_ID, sent.message_id, parse_mode="HTML"
    )
    assert isinstance(edited, Message) and edited.text == "final"
    assert [m["text"] for m in server.sent_messages(USER_ID)] == ["final"]
    assert server.sent_messages(USER_ID)[0]["edit_date"] >= sent.date.timestamp()
    with pytest.raises(BadRequest, match=r"^Message is not modified: specified new message"):
        await bot.edit_message_text("<b>final</b>", USER_ID, sent.message_id, parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"^Message to edit not found$"):
        await bot.edit_message_text("x", USER_ID, 999)
    # Same text with a new keyboard is a modification.
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("more", callback_data="more")]])
    await bot.edit_message_text(
        "<b>final</b>", USER_ID, sent.message_id, parse_mode="HTML", reply_markup=keyboard
    )
    assert server.sent_messages(USER_ID)[0]["reply_markup"] == keyboard.to_dict()


# --------------------------------------------------------------------------- updates


async def test_get_updates_returns_a_pushed_update(bot: Bot, server: BotApiServer) -> None:
    polling = asyncio.create_task(bot.get_updates(timeout=5))
    await server.async_wait_for(lambda: server.call_count("getUpdates") >= 1)
    started = time.monotonic()
    update_id = server.user_message("/start now", user_id=USER_ID, username="reader")["update_id"]
    updates = await polling
    assert time.monotonic() - started < 2
    assert [u.update_id for u in updates] == [update_id]
    message = updates[0].message
    assert message is not None and message.text == "/start now"
    assert message.from_user is not None and message.from_user.username == "reader"
    assert message.entities[0].type == "bot_command" and message.entities[0].length == 6
    # Confirming with offset forgets it; without an offset it would come again.
    assert await bot.get_updates(offset=update_id + 1, timeout=0) == ()
    assert server.pending_updates == []


async def test_get_updates_long_polls_for_the_timeout(bot: Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == ()
    assert 0.9 <= time.monotonic() - started < 3


async def test_unconfirmed_updates_are_delivered_again(bot: Bot, server: BotApiServer) -> None:
    first = server.user_message("one", user_id=USER_ID)["update_id"]
    second = server.user_message("two", user_id=USER_ID)["update_id"]
    assert [u.update_id for u in await bot.get_updates(timeout=0)] == [first, second]
    assert [u.update_id for u in await bot.get_updates(offset=second, timeout=0)] == [second]


async def test_a_second_poller_terminates_the_first(bot: Bot, server: BotApiServer) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await server.async_wait_for(lambda: server.call_count("getUpdates") == 1)
    async with Bot(TOKEN, base_url=server.bot_api_url) as other:
        assert await other.get_updates(timeout=0) == ()
    with pytest.raises(Conflict, match="terminated by other getUpdates request"):
        await first
    assert server.rejected[-1].status == 409


async def test_group_message_and_document(bot: Bot, server: BotApiServer) -> None:
    file_id = server.add_file(b"%PDF-1.4 hello", "report.pdf", "application/pdf")
    server.user_message(
        "read this", user_id=7, chat_id=-100123, chat_type="supergroup", document=file_id
    )
    (update,) = await bot.get_updates(timeout=0)
    message = update.message
    assert message is not None and message.chat.type == "supergroup"
    assert message.caption == "read this" and message.document is not None
    assert message.document.file_name == "report.pdf" and message.document.file_size == 14
    telegram_file = await bot.get_file(message.document.file_id)
    assert telegram_file.file_size == 14
    assert await telegram_file.download_as_bytearray() == bytearray(b"%PDF-1.4 hello")
    with pytest.raises(BadRequest, match=r"^Invalid file_id$"):
        await bot.get_file("nope")


async def test_callback_query_and_answer(bot: Bot, server: BotApiServer) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("more", callback_data="more:1")]])
    sent = await bot.send_message(USER_ID, "story", reply_markup=keyboard)
    server.callback_query(USER_ID, server.sent_messages(USER_ID)[0], "more:1")
    (update,) = await bot.get_updates(timeout=0)
    query = update.callback_query
    assert query is not None and query.data == "more:1"
    assert query.message is not None and query.message.message_id == sent.message_id
    assert await bot.answer_callback_query(query.id, text="loading")
    assert server.callback_answers[0]["text"] == "loading"
    with pytest.raises(BadRequest, match=r"^Query is too old"):
        await bot.answer_callback_query(query.id)


async def test_inline_query_results_are_validated(bot: Bot, server: BotApiServer) -> None:
    server.inline_query(USER_ID, "climate")
    (update,) = await bot.get_updates(timeout=0)
    assert update.inline_query is not None and update.inline_query.query == "climate"

    def article(number: int, text: str) -> InlineQueryResultArticle:
        content = InputTextMessageContent(text, parse_mode="HTML")
        return InlineQueryResultArticle(str(number), f"t{number}", content)

    query_id = update.inline_query.id
    with pytest.raises(BadRequest, match=r"^Results_too_much$"):
        await bot.answer_inline_query(query_id, [article(n, "x") for n in range(51)])
    with pytest.raises(BadRequest, match=r"^Can't parse entities: unsupported start tag"):
        await bot.answer_inline_query(query_id, [article(1, "<x>")])
    assert await bot.answer_inline_query(query_id, [article(1, "<b>ok</b>")])
    assert server.inline_answers[0]["results"][0]["id"] == "1"


async def test_commands_chat_action_and_webhook(bot: Bot, server: BotApiServer) -> None:
    assert await bot.set_my_commands([BotCommand("ask", "Ask about the news")])
    assert [c.command for c in await bot.get_my_commands()] == ["ask"]
    with pytest.raises(BadRequest, match=r"^Bot_command_invalid$"):
        await bot.set_my_commands([BotCommand("no spaces", "x")])
    assert await bot.delete_my_commands()
    assert await bot.get_my_commands() == ()
    assert await bot.send_chat_action(USER_ID, "typing")
    assert server.chat_actions == [(USER_ID, "typing")]
    assert await bot.set_webhook("https://example.com/hook")
    assert server.webhook is not None
    with pytest.raises(Exception, match="webhook is active"):
        await bot.get_updates(timeout=0)
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert await bot.get_updates(timeout=0) == ()


# --------------------------------------------------------------------------- faults

# PTB itself reads RetryAfter.retry_after as an int, which it deprecates in v22.
ignore_retry_after_deprecation = pytest.mark.filterwarnings(
    f"ignore::{PTBDeprecationWarning.__module__}.{PTBDeprecationWarning.__name__}"
)


@ignore_retry_after_deprecation
async def test_429_raises_retry_after_and_is_counted(bot: Bot, server: BotApiServer) -> None:
    server.fail_next("sendMessage", retry_after=3)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(USER_ID, "hi")
    assert caught.value.message == "Flood control exceeded. Retry in 3 seconds"
    assert caught.value.retry_after == 3
    await bot.send_message(USER_ID, "hi")
    assert server.call_count("sendMessage") == 2
    assert server.faults_served == [("sendMessage", 429)]
    assert server.rejected == []

    server.fail_next("sendMessage", status=500)
    with pytest.raises(NetworkError, match="Internal Server Error"):
        await bot.send_message(USER_ID, "hi")


async def test_hang_up_stall_and_outage_faults(bot: Bot, server: BotApiServer) -> None:
    # A dropped connection: no answer, and the message was not sent.
    server.fail_next("sendMessage", hang_up=True)
    with pytest.raises(NetworkError):
        await bot.send_message(USER_ID, "lost")
    # A stall past the client's read timeout is a timeout; the call is not performed.
    server.fail_next("sendMessage", status=504, stall=1.5)
    with pytest.raises(TimedOut):
        await bot.send_message(USER_ID, "late", read_timeout=0.5)
    # An outage fails everything until it ends, then the API works again.
    server.start_outage(503)
    with pytest.raises(NetworkError, match="Service Unavailable"):
        await bot.get_me()
    with pytest.raises(NetworkError, match="Service Unavailable"):
        await bot.send_message(USER_ID, "down")
    server.end_outage()
    await bot.send_message(USER_ID, "back")
    assert [m["text"] for m in server.sent_messages(USER_ID)] == ["back"]
    assert [status for _, status in server.faults_served] == [0, 504, 503, 503]
    assert server.rejected == []


async def test_outage_ends_a_waiting_long_poll(bot: Bot, server: BotApiServer) -> None:
    polling = asyncio.create_task(bot.get_updates(timeout=10, read_timeout=15))
    await server.async_wait_for(lambda: server.call_count("getUpdates") == 1)
    started = time.monotonic()
    server.start_outage(502)
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await polling
    assert time.monotonic() - started < 3
    server.end_outage()


# --------------------------------------------------------------------------- Application


@ignore_retry_after_deprecation
async def test_application_polls_and_replies(server: BotApiServer) -> None:
    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.text is not None
        await update.message.reply_text(f"echo: <b>{update.message.text}</b>")

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None
        await context.bot.send_message(update.effective_chat.id, "welcome")

    app = (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(server.bot_api_url)
        .base_file_url(server.file_api_url)
        .defaults(Defaults(parse_mode=ParseMode.HTML))
        .rate_limiter(AIORateLimiter(max_retries=1))
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=5)
        server.user_message("/start", user_id=USER_ID)
        # The first reply is throttled once: AIORateLimiter waits retry_after and retries.
        server.fail_next("sendMessage", retry_after=1)
        server.user_message("hello", user_id=USER_ID)
        sent = await server.async_wait_for_messages(USER_ID, 2, timeout=10)
        await app.updater.stop()
        await app.stop()
    assert sorted(m["text"] for m in sent) == ["echo: hello", "welcome"]
    assert server.call_count("sendMessage") == 3
    assert server.faults_served == [("sendMessage", 429)]
    assert server.rejected == []
    assert server.pending_updates == []  # the updater confirmed what it handled


def test_wait_for_refuses_to_block_the_event_loop(server: BotApiServer) -> None:
    async def misuse() -> None:
        server.wait_for(lambda: True)

    with pytest.raises(RuntimeError, match="async_wait_for"):
        asyncio.run(misuse())
    with pytest.raises(TimeoutError, match="1 message"):
        server.wait_for_messages(USER_ID, 1, timeout=0.2)


# --------------------------------------------------------------------------- standalone


def test_runs_standalone_until_stdin_closes() -> None:
    script = Path(__file__).with_name("botapi.py")
    process = subprocess.Popen(
        [sys.executable, str(script), "--port", "0", "--token", "T"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stdin is not None
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        status, me = raw_call(f"{base_url}/botT/getMe")
        assert status == 200 and me["result"]["is_bot"] is True
        raw_call(f"{base_url}/_control/user_message", {"text": "hi", "user_id": 5})
        status, updates = raw_call(f"{base_url}/botT/getUpdates", {"timeout": 0})
        assert [u["message"]["text"] for u in updates["result"]] == ["hi"]
        raw_call(f"{base_url}/botT/sendMessage", {"chat_id": 5, "text": "yo"})
        status, sent = raw_call(f"{base_url}/_control/sent_messages", {"chat_id": 5})
        assert [m["text"] for m in sent["result"]] == ["yo"]
        process.stdin.close()
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
