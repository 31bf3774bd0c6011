"""The app factory, run modes, lifecycle and the ``newsbot run`` command."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from telegram.ext import Application
from typer.testing import CliRunner

from newsbot import health
from newsbot.bot import app as bot_app
from newsbot.bot.access import QuestionRateLimiter
from newsbot.bot.app import PollingMode, WebhookMode, build_application, run_bot, run_mode
from newsbot.cli import app as cli
from newsbot.config import Settings, load_settings
from newsbot.errors import ConfigError
from newsbot.index.embedder import Embedder
from newsbot.library import Library
from tests.bot.conftest import ADMIN, TOKEN, USER, RunningBot, bot_settings
from tests.servers.botapi import BotApiServer
from tests.store_checks import run_cli

# --------------------------------------------------------------------------- run modes


def test_long_polling_by_default() -> None:
    assert run_mode(load_settings()) == PollingMode()


def test_webhook_mode_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSBOT_TELEGRAM__WEBHOOK_URL", "https://bot.example.com/hook-path")
    monkeypatch.setenv("NEWSBOT_TELEGRAM__WEBHOOK_LISTEN", "0.0.0.0")
    monkeypatch.setenv("NEWSBOT_TELEGRAM__WEBHOOK_PORT", "8443")
    monkeypatch.setenv("NEWSBOT_TELEGRAM__WEBHOOK_PATH", "/hook-path/")
    monkeypatch.setenv("NEWSBOT_TELEGRAM__WEBHOOK_SECRET", "s3cret_token-1")
    settings = load_settings()
    assert run_mode(settings) == WebhookMode(
        listen="0.0.0.0",
        port=8443,
        url_path="hook-path",
        webhook_url="https://bot.example.com/hook-path",
        secret_token="s3cret_token-1",
    )
    assert "s3cret_token-1" not in repr(settings)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("webhook_url", "http://bot.example.com/hook"),
        ("webhook_secret", "has spaces"),
        ("webhook_port", 0),
        ("max_question_length", 0),
        ("page_size", 9),
    ],
)
def test_bad_telegram_settings_are_refused(key: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=f"telegram.{key}"):
        load_settings(telegram={key: value})


def test_run_bot_selects_polling_or_webhook(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(
        Application, "run_polling", lambda self, **kw: calls.append(("polling", kw))
    )
    monkeypatch.setattr(
        Application, "run_webhook", lambda self, **kw: calls.append(("webhook", kw))
    )
    monkeypatch.setattr(bot_app, "webhooks_available", lambda: True)
    base = {"token": TOKEN}
    run_bot(load_settings(telegram=base, store={"path": tmp_path}))
    run_bot(
        load_settings(
            telegram={
                **base,
                "webhook_url": "https://bot.example.com/tg",
                "webhook_secret": "abc",
                "webhook_port": 9000,
            },
            store={"path": tmp_path},
        )
    )
    (polling, polled), (webhook, hooked) = calls
    assert polling == "polling" and "message" in polled["allowed_updates"]
    assert webhook == "webhook"
    assert hooked["webhook_url"] == "https://bot.example.com/tg"
    assert (hooked["listen"], hooked["port"], hooked["url_path"]) == ("127.0.0.1", 9000, "telegram")
    assert hooked["secret_token"] == "abc"


def test_webhook_mode_without_the_extra_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bot_app, "webhooks_available", lambda: False)
    settings = load_settings(telegram={"token": TOKEN, "webhook_url": "https://x.example/t"})
    with pytest.raises(ConfigError, match=r"python-telegram-bot\[webhooks\]"):
        run_bot(settings)


def test_no_token_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="NEWSBOT_TELEGRAM__TOKEN"):
        build_application(load_settings())


# --------------------------------------------------------------------------- CLI


def test_cli_run_without_token_exits_with_one_clear_line() -> None:
    result = CliRunner().invoke(cli, ["run"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "NEWSBOT_TELEGRAM__TOKEN" in lines[0]


def test_cli_run_starts_the_bot_with_quiet_request_loggers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[Settings] = []
    monkeypatch.setattr("newsbot.bot.app.run_bot", started.append)
    monkeypatch.setenv("NEWSBOT_TELEGRAM__TOKEN", TOKEN)
    logging.getLogger("httpx").setLevel(logging.NOTSET)
    result = CliRunner().invoke(cli, ["-v", "run"])
    assert result.exit_code == 0, result.output
    assert started and started[0].telegram.token is not None
    assert logging.getLogger("httpx").getEffectiveLevel() >= logging.WARNING
    assert logging.getLogger("httpcore").getEffectiveLevel() >= logging.WARNING
    assert TOKEN not in result.output


# --------------------------------------------------------------------------- lifecycle


async def test_owned_library_is_opened_in_post_init_and_closed_on_shutdown(
    server: BotApiServer,
    settings: Settings,
    embedder: Embedder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    opened: list[Library] = []
    closed: list[Library] = []

    def open_library(settings: Settings) -> Library:
        library = Library.open(settings, embedder=embedder)
        close = library.close

        def recording_close() -> None:
            closed.append(library)
            close()

        library.close = recording_close  # type: ignore[method-assign]
        opened.append(library)
        return library

    monkeypatch.setattr(bot_app, "_open_library", open_library)
    bot = RunningBot(build_application(settings))
    await bot.start()
    assert len(opened) == 1 and not closed
    server.user_message("/start", user_id=USER)
    await server.async_wait_for_messages(USER, 1)
    await bot.stop()
    assert closed == opened


async def test_the_bot_reports_its_health_for_the_health_check(
    settings: Settings, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = settings.store.path
    at_open: list[health.Heartbeat | None] = []

    def open_library(settings: Settings) -> Library:
        at_open.append(health.read(settings.store.path))
        return Library.open(settings, embedder=embedder)

    monkeypatch.setattr(bot_app, "_open_library", open_library)
    bot = RunningBot(build_application(settings))
    await bot.start()
    try:
        # "Starting" is on record before the store is opened, so a check meanwhile leaves it be.
        assert at_open[0] is not None and at_open[0].starting and at_open[0].pid == os.getpid()
        beat = await wait_for_report(store)
        assert (beat.pid, beat.articles, beat.chunks, beat.error) == (os.getpid(), 0, 0, None)
        # A separate process, as the container's HEALTHCHECK runs, beside the bot's lock.
        checked = await asyncio.to_thread(run_cli, store, "healthcheck")
        assert checked.returncode == 0, checked.stderr
        assert f"checked by the bot (pid {os.getpid()})" in checked.stdout
    finally:
        await bot.stop()
    assert health.read(store) is None  # a clean stop leaves no report to misread


async def wait_for_report(store: Path) -> health.Heartbeat:
    for _ in range(200):
        beat = health.read(store)
        if beat is not None and not beat.starting:
            return beat
        await asyncio.sleep(0.05)
    raise AssertionError(f"no health report in {store}")


def test_rate_limiter_window() -> None:
    now = [0.0]
    limiter = QuestionRateLimiter(2, clock=lambda: now[0])
    assert limiter.check(1) == 0 and limiter.check(1) == 0
    assert limiter.check(1) == pytest.approx(60.0)
    assert limiter.check(2) == 0  # per user
    now[0] = 30.0
    assert limiter.check(1) == pytest.approx(30.0)
    now[0] = 60.0
    assert limiter.check(1) == 0
    assert QuestionRateLimiter(0).check(1) == 0  # disabled


def test_a_refused_user_is_told_once_per_streak() -> None:
    now = [0.0]
    limiter = QuestionRateLimiter(1, clock=lambda: now[0])
    assert limiter.check(1) == 0
    told = [limiter.first_notice(1, limiter.check(1)) for _ in range(5)]
    assert told == [True, False, False, False, False]
    assert limiter.first_notice(2, limiter.check(2) or 60.0)  # per user
    now[0] = 61.0  # the limit is over: a new streak is told again
    assert limiter.check(1) == 0
    assert limiter.first_notice(1, limiter.check(1))


# --------------------------------------------------------------------------- webhook


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_webhook_mode_against_the_stand_in(
    server: BotApiServer, tmp_path: Path, stocked_library: Library
) -> None:
    """A real webhook run: setWebhook on the stand-in, an update posted with the secret."""
    import asyncio

    port = _free_port()
    settings = bot_settings(
        tmp_path / "store",
        server,
        webhook_url="https://bot.example.com/tg",
        webhook_port=port,
        webhook_path="tg",
        webhook_secret="shh-secret",
    )
    mode = run_mode(settings)
    assert isinstance(mode, WebhookMode)
    application = build_application(settings, stocked_library)
    await application.initialize()
    assert application.post_init is not None and application.updater is not None
    await application.post_init(application)
    await application.updater.start_webhook(
        listen=mode.listen,
        port=mode.port,
        url_path=mode.url_path,
        webhook_url=mode.webhook_url,
        secret_token=mode.secret_token,
    )
    await application.start()
    try:
        assert server.webhook is not None
        assert server.webhook["url"] == "https://bot.example.com/tg"
        assert server.webhook["secret_token"] == "shh-secret"
        # Queued on the stand-in only to build a realistic update; it is posted below.
        update = server.user_message("/start", user_id=ADMIN)

        def post(secret: str) -> int:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/tg",
                json.dumps(update).encode(),
                {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret},
            )
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    return int(response.status)
            except urllib.error.HTTPError as error:
                return error.code

        assert await asyncio.to_thread(post, "wrong") == 403
        assert await asyncio.to_thread(post, "shh-secret") == 200
        (welcome,) = await server.async_wait_for_messages(ADMIN, 1)
        assert "I know" in welcome["text"]
    finally:
        await application.updater.stop()
        await application.stop()
        await application.shutdown()


def test_token_is_redacted_even_if_httpx_is_turned_up(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    build_application(settings)
    assert logging.getLogger("httpx").level == logging.WARNING
    httpx_logger = logging.getLogger("httpx")
    httpx_logger.setLevel(logging.INFO)
    try:
        caplog.set_level(logging.DEBUG)
        httpx_logger.info("HTTP Request: POST %s/getMe", f"http://x/bot{TOKEN}")
    finally:
        httpx_logger.setLevel(logging.WARNING)
    assert "/bot<token>/getMe" in caplog.text
    assert TOKEN.split(":")[1] not in caplog.text
