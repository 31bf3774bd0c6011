"""Faults around the bot: Telegram flood control, 5xx, dropped connections, timeouts, a Bot API
outage, and a Chroma server that goes away. Every reply arrives exactly once, late at worst.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from telegram.warnings import PTBDeprecationWarning

from newsbot.config import load_settings
from newsbot.index.embedder import Embedder
from newsbot.library import Library
from tests.bot.conftest import ADMIN, OTHER_USER, SAMPLE, USER, RunningBot, bot_settings
from tests.bot.test_bot import QUESTION, assert_answer_about_massoud, message_where, message_with
from tests.chroma_server import chroma_server, free_port
from tests.servers.botapi import FILE_DOWNLOAD, BotApiServer

pytestmark = [
    pytest.mark.slow,
    # PTB's AIORateLimiter reads RetryAfter.retry_after as an int, which PTB itself deprecates.
    pytest.mark.filterwarnings(
        f"ignore::{PTBDeprecationWarning.__module__}.{PTBDeprecationWarning.__name__}"
    ),
]


async def test_429_5xx_hang_ups_and_timeouts_delay_replies_but_lose_none(
    server: BotApiServer, bot: RunningBot
) -> None:
    faults: list[dict[str, Any]] = [
        {"retry_after": 1},
        {"status": 502, "times": 2},
        {"status": 500},
        {"status": 503, "description": "Service Unavailable"},
        {"hang_up": True},
        {"status": 429, "retry_after": 2},
    ]
    for number, fault in enumerate(faults, 1):
        server.fail_next("sendMessage", **fault)
        server.user_message(QUESTION, user_id=USER)
        await server.async_wait_for_messages(USER, number, timeout=30)
        answer = server.sent_messages(USER)[-1]
        assert_answer_about_massoud(answer)
    assert len(server.sent_messages(USER)) == len(faults)  # each exactly once
    assert [status for _, status in server.faults_served] == [429, 502, 502, 500, 503, 0, 429]
    assert server.rejected == []


async def test_a_reply_that_times_out_is_sent_again(server: BotApiServer, bot: RunningBot) -> None:
    # The stand-in holds the request past PTB's 5 s read timeout and does not perform it.
    server.fail_next("sendMessage", status=504, stall=6)
    started = time.monotonic()
    server.user_message(QUESTION, user_id=USER)
    answer = await message_with(server, USER, "excerpt")
    assert time.monotonic() - started >= 5
    assert_answer_about_massoud(answer)
    await asyncio.sleep(0.5)
    assert len(server.sent_messages(USER)) == 1
    assert server.faults_served == [("sendMessage", 504)]


async def test_an_admins_ingest_status_survives_faulty_edits(
    server: BotApiServer, fresh_bot: Any
) -> None:
    _, library = fresh_bot
    server.fail_next("editMessageText", status=502)
    server.fail_next("editMessageText", retry_after=1)
    server.user_message(
        "/add Harbour reopens after dredging\nThe city harbour reopened on Monday after three "
        "months of dredging work, the port authority said.",
        user_id=ADMIN,
    )
    status = await message_with(server, ADMIN, "Done")
    assert "added" in status["text"]
    assert len(server.sent_messages(ADMIN)) == 1
    assert [t for t in (r.title for r in library.list_articles())] == [
        "Harbour reopens after dredging"
    ]
    assert server.faults_served == [("editMessageText", 502), ("editMessageText", 429)]


@pytest.mark.parametrize("hang_up", [False, True], ids=["api-502", "api-unreachable"])
async def test_polling_resumes_after_an_outage_and_no_update_is_lost(
    server: BotApiServer, bot: RunningBot, hang_up: bool
) -> None:
    server.start_outage(502, hang_up=hang_up)
    server.user_message(QUESTION, user_id=USER)
    server.user_message("/start", user_id=USER)
    await asyncio.sleep(3)  # long enough for several failed polls and backoffs
    assert server.sent_messages(USER) == []
    polls_during_outage = server.call_count("getUpdates")
    server.end_outage()
    await server.async_wait_for_messages(USER, 2, timeout=40)
    await bot.stop()
    texts = [m["text"] for m in server.sent_messages(USER)]
    assert len(texts) == 2, texts
    (_welcome,) = [m for m in server.sent_messages(USER) if "I know" in m["text"]]
    (answer,) = [m for m in server.sent_messages(USER) if "I know" not in m["text"]]
    assert_answer_about_massoud(answer)
    assert polls_during_outage >= 2  # the updater kept trying, with backoff
    assert server.rejected == []


async def test_flood_control_on_get_updates_delays_polling(
    server: BotApiServer, bot: RunningBot
) -> None:
    server.fail_next("getUpdates", retry_after=2, times=2)
    server.user_message(QUESTION, user_id=USER)
    answer = await message_with(server, USER, "excerpt")
    assert_answer_about_massoud(answer)
    await bot.stop()
    assert len(server.sent_messages(USER)) == 1


async def test_chroma_server_down_users_told_unavailable_admins_told_why_bot_keeps_running(
    server: BotApiServer, start_bot: Any, tmp_path: Path, embedder: Embedder
) -> None:
    port = free_port()
    data = tmp_path / "chroma"
    with chroma_server(data, port) as url:
        settings = load_settings(store={"url": url})
        library = Library.open(settings, embedder=embedder)
        library.add_text(SAMPLE.read_text(encoding="utf-8"))
    # The server is gone now (terminated by the context manager).
    try:
        await start_bot(bot_settings(tmp_path / "unused", server), library)
        server.user_message(QUESTION, user_id=USER)
        down = await message_with(server, USER, "temporarily unavailable")
        assert "Chroma" not in down["text"] and "127.0.0.1" not in down["text"]

        server.user_message("/stats", user_id=ADMIN)
        admin = await message_with(server, ADMIN, "store is unavailable")
        assert "Chroma server" in admin["text"]  # the admin learns what is wrong
        server.user_message("/add A story\nBody of the story, never stored.", user_id=ADMIN)
        await server.async_wait_for(
            lambda: (
                sum("store is unavailable" in m["text"] for m in server.sent_messages(ADMIN)) == 2
            ),
            what="the admin's /add reported as a store error",
        )
        # Still running: the same chat is answered again, once per question.
        server.user_message(QUESTION, user_id=USER)
        await server.async_wait_for_messages(USER, 2)
        assert all("temporarily unavailable" in m["text"] for m in server.sent_messages(USER))

        # The server comes back on the same port: the bot answers again by itself.
        with chroma_server(data, port):
            server.user_message(QUESTION, user_id=USER)
            await server.async_wait_for_messages(USER, 3, timeout=30)
            assert_answer_about_massoud(server.sent_messages(USER)[-1], linked=False)
            assert library.stats().articles == 1  # the failed /add wrote nothing
    finally:
        library.close()
    assert server.rejected == []


async def test_a_late_button_press_still_turns_the_page(
    server: BotApiServer, bot: RunningBot
) -> None:
    """Telegram refuses to acknowledge a press ~15 s old (a busy bot): seen, that aborted the
    page turn with "something went wrong" and left the buttons expired for good."""
    server.user_message(QUESTION, user_id=USER)
    first = await message_with(server, USER, "Page 1 of")
    keyboard = first["reply_markup"]["inline_keyboard"]
    more = next(b for row in keyboard for b in row if b["text"].startswith("More"))
    too_old = "Bad Request: query is too old and response timeout expired or query ID is invalid"
    server.fail_next("answerCallbackQuery", status=400, description=too_old)
    server.callback_query(USER, first, more["callback_data"])
    second = await message_with(server, USER, "Page 2 of")
    buttons = second["reply_markup"]["inline_keyboard"]
    passage = next(b for row in buttons for b in row if b["text"].startswith("📄"))
    server.fail_next("answerCallbackQuery", status=400, description=too_old)
    server.callback_query(USER, second, passage["callback_data"])
    await message_with(server, USER, "Passage")
    assert not any("went wrong" in m["text"] for m in server.sent_messages(USER))


async def test_an_upload_whose_download_fails_once_is_fetched_again(
    server: BotApiServer, fresh_bot: Any
) -> None:
    _, library = fresh_bot
    server.fail_next(FILE_DOWNLOAD, status=502)
    server.user_message("", user_id=ADMIN, document=server.add_file(SAMPLE.read_bytes(), "a.txt"))
    done = await message_with(server, ADMIN, "Done")
    assert "added" in done["text"] and library.stats().articles == 1

    # A download that keeps failing: the status message says so, nothing is added.
    server.fail_next(FILE_DOWNLOAD, hang_up=True, times=3)
    story = b"Harbour reopens\n\nThe city harbour reopened on Monday after dredging work."
    server.user_message("", user_id=ADMIN, document=server.add_file(story, "b.txt"))
    failed = await message_where(
        server, ADMIN, lambda m: "b.txt" in m["text"] and "Done" in m["text"], "b.txt failed"
    )
    assert "download from Telegram failed" in failed["text"]
    assert library.stats().articles == 1
    assert [s for m, s in server.faults_served if m == FILE_DOWNLOAD] == [502, 0, 0, 0]
    assert not any("went wrong" in m["text"] for m in server.sent_messages(ADMIN))

    # A refusal no retry mends is not retried.
    calls = server.call_count("getFile")
    server.fail_next("getFile", status=400, description="Bad Request: file is too big")
    server.user_message("", user_id=ADMIN, document=server.add_file(story, "c.txt"))
    await message_where(
        server, ADMIN, lambda m: "c.txt" in m["text"] and "Done" in m["text"], "c.txt failed"
    )
    assert server.call_count("getFile") == calls + 1


async def test_a_user_who_blocked_the_bot_is_a_warning_not_a_traceback(
    server: BotApiServer, bot: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    blocked_text = "Forbidden: bot was blocked by the user"
    server.fail_next("sendMessage", status=403, description=blocked_text)
    server.user_message(QUESTION, user_id=USER)
    await server.async_wait_for(lambda: server.faults_served, what="the 403")
    server.user_message(QUESTION, user_id=OTHER_USER)  # and the bot goes on
    await message_with(server, OTHER_USER, "excerpt")
    blocked = [r for r in caplog.records if "blocked by the user" in r.getMessage()]
    assert blocked and all(r.levelno == logging.WARNING and not r.exc_info for r in blocked)
