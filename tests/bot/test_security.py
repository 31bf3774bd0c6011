"""Who may do what, and the bot token: admin commands refused for everyone else, the admin list
fixed by the configuration, and the token absent from every log line, error and reply."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from telegram.ext import CommandHandler

from newsbot.bot.access import QuestionRateLimiter
from newsbot.bot.app import build_application
from newsbot.bot.menus import ADMIN_COMMAND_NAMES, USER_COMMANDS
from newsbot.config import Settings
from tests.bot.conftest import (
    ADMIN,
    BOT_USERNAME,
    GROUP,
    SAMPLE,
    TOKEN,
    USER,
    ArticleServer,
    RunningBot,
)
from tests.bot.test_bot import QUESTION, SECRET, message_with
from tests.chroma_server import free_port
from tests.servers.botapi import BotApiServer
from tests.store_checks import cli_env

pytestmark = pytest.mark.slow

REFUSAL = "only the bot's admins"

# Arguments worth trying with each admin command (the command alone is always tried too).
ARGUMENTS: dict[str, list[str]] = {
    "add": [
        "{url}",
        "Pasted title\nSome pasted article text that should never be stored.",
    ],
    "list": ["2"],
    "remove": ["{article_id}"],
    "stats": ["now"],
    "feed": ["add {url}", "list", "remove {article_id}", "poll", "digest on"],
}


def registered_commands(settings: Settings) -> set[str]:
    """Every command the bot has a handler for, read from the application itself."""
    application = build_application(settings)
    return {
        command
        for group in application.handlers.values()
        for handler in group
        if isinstance(handler, CommandHandler)
        for command in handler.commands
    }


def test_every_command_is_either_for_everyone_or_admin_only(settings: Settings) -> None:
    """A new command must be listed as a user or an admin command, so it is tested below."""
    user_commands = {c.command for c in USER_COMMANDS}
    assert registered_commands(settings) == user_commands | set(ADMIN_COMMAND_NAMES)
    assert not user_commands & set(ADMIN_COMMAND_NAMES)


@pytest.mark.parametrize("command", ADMIN_COMMAND_NAMES)
async def test_admin_command_is_refused_for_a_non_admin(
    server: BotApiServer, fresh_bot: Any, article_server: ArticleServer, command: str
) -> None:
    running, library = fresh_bot
    # Refusals count against the rate limit (test_bot.py); here every attempt is to be seen.
    running.application.bot_data.services.limiter = QuestionRateLimiter(0)
    library.add_text(SAMPLE.read_text(encoding="utf-8"))
    (record,) = library.list_articles()
    before = library.stats()
    fetched_before = list(article_server.seen)
    values = {"url": article_server.url("/bridge.html"), "article_id": record.article_id}
    variants = [""] + [a.format(**values) for a in ARGUMENTS.get(command, [])]
    attempts = 0
    for arguments in variants:
        for spelled in (f"/{command}", f"/{command}@{BOT_USERNAME}", f"/{command.upper()}"):
            server.user_message(f"{spelled} {arguments}".strip(), user_id=USER)
            attempts += 1
        server.user_message(
            f"/{command}@{BOT_USERNAME} {arguments}".strip(),
            user_id=USER,
            chat_id=GROUP,
            chat_type="supergroup",
        )
    await server.async_wait_for_messages(USER, attempts)
    await server.async_wait_for_messages(GROUP, len(variants))
    await running.stop()
    replies = server.sent_messages(USER) + server.sent_messages(GROUP)
    assert len(replies) == attempts + len(variants)  # one reply each
    for reply in replies:
        assert REFUSAL in reply["text"] and f"/{command}" in reply["text"].lower()
    assert library.stats() == before
    assert [r.article_id for r in library.list_articles()] == [record.article_id]
    assert article_server.seen == fetched_before  # not even a fetch was tried
    assert library.stats().articles == 1
    assert server.rejected == []


async def test_uploads_from_non_admins_are_refused_without_a_download(
    server: BotApiServer, fresh_bot: Any
) -> None:
    running, library = fresh_bot
    file_id = server.add_file(SAMPLE.read_bytes(), "story.txt", "text/plain")
    server.user_message("", user_id=USER, document=file_id)  # private chat
    server.user_message("Please add this", user_id=USER, document=file_id)
    server.user_message(
        "/add", user_id=USER, chat_id=GROUP, chat_type="supergroup", document=file_id
    )
    upload = server.user_message(
        "", user_id=USER, chat_id=GROUP, chat_type="supergroup", document=file_id
    )["message"]
    # /add as a reply to a document, in the group.
    server.user_message(
        "/add",
        user_id=USER,
        chat_id=GROUP,
        chat_type="supergroup",
        reply_to_message_id=upload["message_id"],
    )
    await server.async_wait_for_messages(USER, 2)
    await server.async_wait_for_messages(GROUP, 2)
    await running.stop()
    replies = server.sent_messages(USER) + server.sent_messages(GROUP)
    assert len(replies) == 4  # a group upload without /add is chatter: ignored
    assert all(REFUSAL in m["text"] for m in replies)
    assert server.call_count("getFile") == 0
    assert library.stats().articles == 0


async def test_nothing_a_user_sends_makes_them_an_admin(
    server: BotApiServer, bot: RunningBot
) -> None:
    admins = bot.application.bot_data.services.admins
    assert admins.ids == frozenset({ADMIN})  # from the settings, and only from them
    # An admin's /stats forwarded by a user, a user named like the admin, a user claiming
    # the admin's id in text: all are the user, who is refused.
    admin_user = server.add_user(ADMIN, first_name="Admin", username="the_admin")
    forwarded = server.user_message("/stats", user_id=USER)
    server.push_update(
        {
            "message": {
                **forwarded["message"],
                "message_id": 999,
                "forward_origin": {"type": "user", "sender_user": admin_user, "date": 1},
            }
        }
    )
    server.user_message("/stats", user_id=USER + 1, username="the_admin", first_name="Admin")
    server.user_message(f"/start admin {ADMIN}", user_id=USER + 2)
    server.user_message(f"/stats as {ADMIN}", user_id=USER + 2)
    await server.async_wait_for_messages(USER, 2)
    await server.async_wait_for_messages(USER + 1, 1)
    await server.async_wait_for_messages(USER + 2, 2)
    await bot.stop()
    for chat in (USER, USER + 1):
        assert all(REFUSAL in m["text"] for m in server.sent_messages(chat))
    # Updates are handled concurrently, so the two replies may come in either order.
    refusals = [m["text"] for m in server.sent_messages(USER + 2) if REFUSAL in m["text"]]
    helps = [m["text"] for m in server.sent_messages(USER + 2) if REFUSAL not in m["text"]]
    assert len(refusals) == 1 and len(helps) == 1  # /stats refused, /start answered
    assert "/add" not in helps[0]  # no admin help for a user
    assert admins.ids == frozenset({ADMIN})
    assert bot.application.bot_data.services.admins is admins


# --------------------------------------------------------------------------- secrets


async def test_a_urls_password_is_not_shown_when_its_add_fails(
    server: BotApiServer, fresh_bot: Any, article_server: ArticleServer
) -> None:
    """Seen: "❌ failed: http://alice:hunter2@…" in the /add reply, which a group reads."""
    good = article_server.url("/panjshir.txt").replace("http://", "http://alice:hunter2@")
    gone = article_server.url("/missing.txt").replace("http://", "http://alice:hunter2@")
    server.user_message(f"/add {good} {gone}", user_id=ADMIN, chat_id=GROUP, chat_type="supergroup")
    done = await message_with(server, GROUP, "Done")
    assert "added" in done["text"] and "failed" in done["text"]
    assert "/missing.txt" in done["text"]
    for message in server.sent_messages(GROUP):
        assert "hunter2" not in message["text"] and "alice" not in message["text"]


@pytest.fixture
def everything_logged() -> Iterator[io.StringIO]:
    """All log output at DEBUG, with tracebacks, as a configured ``newsbot run`` prints it.

    The handler is on the root logger before the bot is built (the command line configures
    logging first), and the loggers that print request URLs are turned up on purpose.
    """
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)
    for name in ("httpx", "httpcore", "telegram"):
        logging.getLogger(name).setLevel(logging.NOTSET)


async def test_token_absent_from_all_logs_of_a_failing_run(
    server: BotApiServer,
    settings: Settings,
    start_bot: Any,
    stocked_library: Any,
    everything_logged: io.StringIO,
    capfd: pytest.CaptureFixture[str],
) -> None:
    running = await start_bot(settings, stocked_library)
    for name in ("httpx", "httpcore", "telegram"):  # as loud as anyone could set them
        logging.getLogger(name).setLevel(logging.DEBUG)
    server.start_outage(502)
    await asyncio.sleep(1.5)
    server.end_outage()
    server.fail_next("sendMessage", status=500)
    server.fail_next("sendMessage", hang_up=True)
    server.user_message(QUESTION, user_id=USER)
    await message_with(server, USER, "excerpt")
    server.fail_next("sendMessage", status=400, description="Bad Request: chat not found")
    server.user_message(QUESTION, user_id=USER)
    await message_with(server, USER, "went wrong")
    server.user_message("/stats", user_id=ADMIN)
    await message_with(server, ADMIN, "Passages")
    await running.stop()

    logged = everything_logged.getvalue()
    captured = capfd.readouterr()
    # The run did fail and did log requests, tracebacks included...
    assert "Bad Gateway" in logged and "Traceback" in logged
    assert "error while handling an update" in logged
    # ... and httpx's request lines were printed with the token redacted.
    assert "HTTP Request: POST" in logged and "/bot<token>/" in logged
    for text in (logged, captured.out, captured.err):
        assert SECRET not in text
    for message in server.sent_messages():
        assert SECRET not in message["text"]


def run_newsbot(base_url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``newsbot -v run`` in a subprocess, as a user would start it."""
    env = {
        **cli_env(),
        "NEWSBOT_TELEGRAM__TOKEN": TOKEN,
        "NEWSBOT_TELEGRAM__ADMINS": f"[{ADMIN}]",
        "NEWSBOT_TELEGRAM__BASE_URL": base_url,
        "NEWSBOT_STORE__PATH": str(tmp_path / "store"),
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    return subprocess.run(
        [sys.executable, "-m", "newsbot", "-v", "run"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_rejected_token_is_one_clear_line_without_the_token(tmp_path: Path) -> None:
    # The stand-in knows another token: it answers 401 as Telegram does, and PTB's own
    # InvalidToken message would quote the token.
    with BotApiServer("999:another-token") as other:
        result = run_newsbot(other.bot_api_url, tmp_path)
    assert result.returncode == 1
    # One line saying what to do (PTB's own traceback of the failure is not printed).
    assert result.stderr.strip().splitlines() == [
        "error: the Telegram Bot API rejected the bot token: check NEWSBOT_TELEGRAM__TOKEN"
    ]
    assert SECRET not in result.stdout + result.stderr


def test_unreachable_bot_api_is_one_clear_line_without_the_token(tmp_path: Path) -> None:
    result = run_newsbot(f"http://127.0.0.1:{free_port()}/bot", tmp_path)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: cannot reach the Telegram Bot API")
    assert SECRET not in result.stdout + result.stderr
