"""The commands a deployment runs: the bot itself, and its health check."""

from __future__ import annotations

import logging
import time
from typing import Annotated

import typer
from rich.markup import escape

from newsbot import health
from newsbot.cli.console import app, configure_logging, current_settings, err, fail, out
from newsbot.errors import NewsbotError, StoreInUseError


@app.command()
def run() -> None:
    """Run the Telegram bot until SIGINT/SIGTERM (long polling, or a webhook if configured)."""
    settings = current_settings()
    token = settings.telegram.token
    if token is None or not token.get_secret_value().strip():
        raise fail(
            "no bot token: set NEWSBOT_TELEGRAM__TOKEN (or token in [telegram] of config.toml) "
            "to the token from @BotFather"
        )
    # A running bot reports what it does; the request loggers stay at WARNING (token in URLs).
    if logging.getLogger().level > logging.INFO:
        logging.getLogger().setLevel(logging.INFO)
    configure_logging(logging.getLogger().level)
    from newsbot.bot.app import run_bot

    run_bot(settings)


@app.command()
def healthcheck(
    max_age: Annotated[
        float,
        typer.Option(
            "--max-age",
            min=1.0,
            help="Seconds a running bot's health report stays valid.",
        ),
    ] = health.STALE_AFTER,
) -> None:
    """Check that the store answers and its index is readable (container health checks).

    Beside a running bot, it reads the report the bot writes after checking its own store
    every 15 s, and fails when that report is missing, stale or an error: the embedded store
    serves one process at a time. With no bot running (or a Chroma server) it opens the store
    and counts. It never loads the embedding model. Exit status 0 or 1, with one line.
    """
    from newsbot.index.store_lock import store_holder

    started = time.monotonic()
    beat = None
    try:
        settings = current_settings()
        if not settings.store.url:
            beat = health.read(settings.store.path)
            # A report counts only from the process that holds the store (a starting bot may
            # not hold it yet): not from a file left behind or written by anyone else.
            if (
                beat is not None
                and health.writer_alive(beat)
                and beat.fresh(max_age)
                and (beat.starting or store_holder(settings.store.path) == beat.pid)
            ):
                _report_heartbeat(beat)
                return
        from newsbot.library.counting import count_library

        counted = count_library(settings)
    except StoreInUseError as error:
        err.print(f"unhealthy: {_held_without_report(error, beat)}")
        raise typer.Exit(1) from None
    except NewsbotError as error:
        err.print(f"unhealthy: {escape(str(error))}")
        raise typer.Exit(1) from None
    out.print(
        f"healthy: {escape(counted.store)}, {counted.articles} articles, {counted.chunks} chunks "
        f"({time.monotonic() - started:.1f} s)"
    )


def _report_heartbeat(beat: health.Heartbeat) -> None:
    writer, age = f"the bot (pid {beat.pid})", f"{beat.age():.0f} s ago"
    if beat.starting:
        err.print(f"unhealthy: {writer} is starting (since {age})")
        raise typer.Exit(1)
    if beat.error is not None:
        err.print(f"unhealthy: {writer} reports {escape(beat.error)} ({age})")
        raise typer.Exit(1)
    out.print(
        f"healthy: {escape(beat.store)}, {beat.articles} articles, {beat.chunks} chunks "
        f"(checked by {writer} {age})"
    )


def _held_without_report(error: StoreInUseError, beat: health.Heartbeat | None) -> str:
    """Why the process holding the store is not healthy: its report is stale, or it has none."""
    if beat is not None and beat.pid == error.holder:
        doing = "been starting" if beat.starting else "not checked its store"
        return (
            f"the bot (pid {beat.pid}) has {doing} for {beat.age():.0f} s "
            f"(it checks every {health.HEARTBEAT_INTERVAL:.0f} s): stuck or overloaded"
        )
    holder = f"pid {error.holder}" if error.holder else "another process"
    return (
        f"the embedded store is held by {holder}, which reports no health: "
        "a bot still starting, or a command such as ingest"
    )
