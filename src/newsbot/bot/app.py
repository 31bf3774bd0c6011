"""The application factory and its lifecycle: build, start (polling or webhook), shut down.

Settings are passed in; nothing is read at import. The library is opened once in
``post_init`` (or handed in by the caller, who then owns it) and closed in ``post_shutdown``
after the library calls still running have finished.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
from dataclasses import dataclass
from typing import Any

from telegram import LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import InvalidToken, TelegramError
from telegram.ext import Application, ApplicationBuilder, ContextTypes, Defaults

from newsbot import health
from newsbot.bot import feeds as feed_commands
from newsbot.bot import handlers, menus
from newsbot.bot.access import Admins, QuestionRateLimiter
from newsbot.bot.context import BotData, NewsApplication, NewsContext, Services
from newsbot.bot.delivery import DeliveringRateLimiter
from newsbot.chat_memory import Conversations
from newsbot.config import Settings
from newsbot.errors import ConfigError, NewsbotError
from newsbot.library import Library
from newsbot.redact import RedactToken, quiet_token_leaking_loggers

log = logging.getLogger(__name__)

NO_TOKEN = (
    "no Telegram bot token: set NEWSBOT_TELEGRAM__TOKEN (or token in the [telegram] section "
    "of config.toml) to the token @BotFather gave you"
)
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY, Update.INLINE_QUERY]
HEALTH_JOB = "health report"
SHUTDOWN_GRACE = 30.0  # seconds in-flight library calls get to finish on shutdown


class DropStartupFailure(logging.Filter):
    """python-telegram-bot logs its failure to start (bad token, no Bot API) with a traceback,
    then raises it; :func:`run_bot` turns the raise into one line, which is all the operator
    needs."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith("Network Retry Loop (Bootstrap") and "Aborting" in message)


@dataclass(frozen=True)
class PollingMode:
    """Long polling with getUpdates (the default)."""


@dataclass(frozen=True)
class WebhookMode:
    """Telegram posts updates to ``webhook_url``; a local server listens behind a proxy."""

    listen: str
    port: int
    url_path: str
    webhook_url: str
    secret_token: str | None


def run_mode(settings: Settings) -> PollingMode | WebhookMode:
    """Webhook mode when ``telegram.webhook_url`` is set, else long polling."""
    telegram = settings.telegram
    if not telegram.webhook_url:
        return PollingMode()
    return WebhookMode(
        listen=telegram.webhook_listen,
        port=telegram.webhook_port,
        url_path=telegram.webhook_path.strip("/"),
        webhook_url=telegram.webhook_url,
        secret_token=(
            telegram.webhook_secret.get_secret_value() if telegram.webhook_secret else None
        ),
    )


def build_application(settings: Settings, library: Library | None = None) -> NewsApplication:
    """Build the bot.

    Args:
        settings: the configuration (token, base URLs, admins, limits).
        library: an open library to use (tests); the caller closes it. When None, the
            library is opened in ``post_init`` and closed in ``post_shutdown``.

    Raises:
        ConfigError: no token is configured.
    """
    telegram = settings.telegram
    if telegram.token is None or not telegram.token.get_secret_value().strip():
        raise ConfigError(NO_TOKEN)
    quiet_token_leaking_loggers(telegram.token.get_secret_value())
    services = Services(
        settings=settings,
        library=library,
        admins=Admins(telegram.admins),
        limiter=QuestionRateLimiter(telegram.questions_per_minute),
        owns_library=library is None,
        conversations=Conversations(expiry=telegram.context_minutes * 60),
    )
    application: NewsApplication = (
        ApplicationBuilder()
        .token(telegram.token.get_secret_value())
        .base_url(telegram.base_url)
        .base_file_url(telegram.base_file_url)
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                allow_sending_without_reply=True,
            )
        )
        # Flood control (429) waits retry_after and retries; 5xx, dropped connections and
        # timeouts are retried with backoff: a reply is delayed, not lost.
        .rate_limiter(DeliveringRateLimiter())
        # Answers ride along in the buttons; callback_data on the wire is a 64-byte key.
        .arbitrary_callback_data(2048)
        # Handlers share nothing mutable but the rate limiter (touched on the loop only), and
        # the library is thread-safe: other users are answered while an ingest runs.
        .concurrent_updates(True)
        .context_types(ContextTypes(context=NewsContext, bot_data=BotData))
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
        .build()
    )
    application.bot_data.services = services
    handlers.register(application, services.admins.ids)
    return application


def _services(application: Application[Any, Any, Any, Any, Any, Any]) -> Services:
    services = application.bot_data.services
    if services is None:
        raise RuntimeError("the application was not built with build_application()")
    return services  # type: ignore[no-any-return]


# A health check may hold the store for the second it takes to count it just as the bot
# starts (before the bot's first report says "starting"); the bot waits for it to let go.
STORE_LOCK_WAIT = 15.0


def _open_library(settings: Settings) -> Library:
    # The model loads now, beside the store's opening, not on the first question.
    return Library.open(settings, load_model=True, lock_wait=STORE_LOCK_WAIT)


async def _post_init(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    services = _services(application)
    if services.library is None:
        store = services.settings.store
        if not store.url:
            await asyncio.to_thread(health.report_starting, store.path)
        log.info("opening the library")
        services.library = await asyncio.to_thread(_open_library, services.settings)
    await menus.set_command_menus(application, services.admins.ids)
    await _schedule_health_reports(application)
    feed_commands.schedule(application)
    log.info("bot @%s is ready", application.bot.username)


async def _post_shutdown(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    services = _services(application)
    if services.inflight:
        log.info("waiting for %d library call(s) to finish", len(services.inflight))
        await asyncio.wait(set(services.inflight), timeout=SHUTDOWN_GRACE)
    library = services.library
    if library is not None and not library.remote:
        await asyncio.to_thread(health.remove, library.settings.store.path, os.getpid())
    if services.owns_library and library is not None:
        services.library = None
        await asyncio.to_thread(library.close)
        log.info("library closed")


async def _schedule_health_reports(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Check an embedded store now and every ``health.HEARTBEAT_INTERVAL`` seconds, for
    ``newsbot healthcheck`` (which must not open it beside the bot)."""
    services = _services(application)
    if services.library is None or services.library.remote:
        return
    await _report_health(services)
    if application.job_queue is None:
        log.warning("no health reports: python-telegram-bot's job-queue extra is missing")
        return
    application.job_queue.run_repeating(
        _health_report_job,
        interval=health.HEARTBEAT_INTERVAL,
        name=HEALTH_JOB,
        job_kwargs={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
    )


async def _health_report_job(context: NewsContext) -> None:
    await _report_health(context.services)


async def _report_health(services: Services) -> None:
    if services.library is not None:
        beat = await services.call(health.report, services.library)
        if beat.error is not None:
            log.warning("health check failed: %s", beat.error)


def webhooks_available() -> bool:
    """PTB's webhook server needs tornado (``python-telegram-bot[webhooks]``)."""
    return importlib.util.find_spec("tornado") is not None


def run_bot(settings: Settings) -> None:
    """Run until SIGINT/SIGTERM: long polling, or a webhook server when configured.

    Raises:
        ConfigError: no token, a token the Bot API rejects, or webhook mode without
            python-telegram-bot's webhook extra.
        NewsbotError: the Bot API cannot be reached at start-up.
    """
    mode = run_mode(settings)
    if isinstance(mode, WebhookMode) and not webhooks_available():
        raise ConfigError(
            "webhook mode needs python-telegram-bot's webhooks extra: "
            "pip install 'python-telegram-bot[webhooks]'"
        )
    if not settings.store.url:
        # First thing: a health check meanwhile must not take the store the bot is about to.
        health.report_starting(settings.store.path)
    application = build_application(settings)
    token = settings.telegram.token.get_secret_value() if settings.telegram.token else ""
    startup = DropStartupFailure()
    ptb = logging.getLogger("telegram.ext")
    ptb.addFilter(startup)
    try:
        _run(application, mode)
    except InvalidToken:
        # PTB's own message quotes the token; ours does not.
        raise ConfigError(
            "the Telegram Bot API rejected the bot token: check NEWSBOT_TELEGRAM__TOKEN"
        ) from None
    except TelegramError as error:  # the Bot API is unreachable at start-up
        reason = RedactToken(token).redact(str(error)) if token else str(error)
        raise NewsbotError(f"cannot reach the Telegram Bot API: {reason}") from None
    finally:
        ptb.removeFilter(startup)


def _run(application: NewsApplication, mode: PollingMode | WebhookMode) -> None:
    if isinstance(mode, WebhookMode):
        application.run_webhook(
            listen=mode.listen,
            port=mode.port,
            url_path=mode.url_path,
            webhook_url=mode.webhook_url,
            secret_token=mode.secret_token,
            allowed_updates=ALLOWED_UPDATES,
        )
    else:
        application.run_polling(allowed_updates=ALLOWED_UPDATES)
