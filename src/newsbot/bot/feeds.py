"""The bot's side of feeds: ``/feed`` for admins, the JobQueue schedule, digests and alerts.

Feeds themselves (``newsbot.feeds``) know nothing of Telegram; the work is
:class:`FeedManager`'s, run in the thread pool through :meth:`Services.call` so the bot keeps
answering while it polls.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Job

from newsbot.bot.context import NewsApplication, NewsContext, Services
from newsbot.bot.render import clip, esc, fitting, link
from newsbot.errors import NewsbotError, StoreError
from newsbot.feeds.manager import FeedManager
from newsbot.feeds.models import Alert, EntryResult, Feed, FeedNotFoundError, PollReport
from newsbot.models import IngestStatus

log = logging.getLogger(__name__)

FEED_JOB = "feeds"
DIGEST_ITEMS = 10  # articles named in one digest message; the rest are counted
USAGE = (
    "<b>/feed</b> manages RSS/Atom subscriptions:\n"
    "• <code>/feed add URL</code> subscribe (a site's page that links its feed works too)\n"
    "• <code>/feed list</code> the feeds and how their polls went\n"
    "• <code>/feed remove ID</code> unsubscribe (articles stay)\n"
    "• <code>/feed poll</code> poll every feed now\n"
    "• <code>/feed digest on|off</code> a message when new articles arrive"
)

# --------------------------------------------------------------------------- rendering


def _entry_line(entry: EntryResult, outlet: str | None = None) -> str:
    title = link(
        entry.link, esc(clip(entry.result.title or entry.title or entry.link or entry.guid, 120))
    )
    updated = " (updated)" if entry.result.status is IngestStatus.UPDATED else ""
    source = f" — {esc(clip(outlet, 60))}" if outlet else ""
    return f"• {title}{updated}{source}"


def render_poll(report: PollReport) -> str:
    """The outcome of one poll, for the admin who asked for it."""
    name = f"<b>{esc(clip(report.name, 100))}</b> (<code>{report.feed_id}</code>)"
    if report.error:
        return f"⚠️ {name}: {esc(clip(report.error, 300))}"
    new = report.new_articles
    failed = [e for e in report.entries if e.result.status is IngestStatus.FAILED]
    lines = [f"📰 {name}: {len(new)} new article{'s' if len(new) != 1 else ''}"]
    lines += [_entry_line(e) for e in new[:DIGEST_ITEMS]]
    if len(new) > DIGEST_ITEMS:
        lines.append(f"… and {len(new) - DIGEST_ITEMS} more")
    for entry in failed[:3]:
        lines.append(f"⚠️ {esc(clip(entry.title or entry.guid, 80))}: ")
        lines[-1] += esc(clip(entry.result.error or "failed", 200))
    return "\n".join(lines)


def render_subscription(feed: Feed, report: PollReport | None) -> str:
    """The answer to ``/feed add``: subscribed with its first poll's outcome, or already."""
    name = f"<b>{esc(clip(feed.name, 100))}</b> (<code>{feed.id}</code>)"
    if report is None:
        return f"Already subscribed: {name}."
    return f"✅ Subscribed to {name}.\n" + render_poll(report)


def render_polls(reports: list[PollReport]) -> str:
    """The outcome of ``/feed poll``: one block per feed, as many as fit in one message."""
    if not reports:
        return "No feeds yet."
    return fitting([render_poll(r) for r in reports], "\n\n", more="… and {n} more feeds")


def render_digest(reports: Iterable[PollReport]) -> str | None:
    items = [(r, e) for r in reports for e in r.new_articles]
    if not items:
        return None
    lines = [f"📰 <b>New from your feeds</b> ({len(items)}):"]
    lines += [_entry_line(e, r.name) for r, e in items[:DIGEST_ITEMS]]
    if len(items) > DIGEST_ITEMS:
        lines.append(f"… and {len(items) - DIGEST_ITEMS} more (see /list)")
    return "\n".join(lines)


def render_alert(report: PollReport) -> str:
    name = f"<b>{esc(clip(report.name, 100))}</b> (<code>{report.feed_id}</code>)"
    if report.alert is Alert.RECOVERED:
        return f"✅ The feed {name} works again."
    return (
        f"⚠️ The feed {name} is failing: {report.failures} polls in a row. "
        f"Last error: {esc(clip(report.error or 'unknown', 300))}\n"
        "It is retried with growing pauses; you will hear when it recovers. "
        f"<code>/feed remove {report.feed_id}</code> unsubscribes."
    )


def render_list(feeds: list[Feed]) -> str:
    if not feeds:
        return "No feeds yet. Subscribe with <code>/feed add URL</code>."
    lines = [f"📰 <b>{len(feeds)} feed{'s' if len(feeds) != 1 else ''}</b>"]
    for feed in feeds:
        state = f"{feed.articles} articles"
        if feed.failures:
            state += f", ⚠️ failing ({feed.failures}x): {esc(clip(feed.last_error or '', 120))}"
        lines.append(
            f"<code>{feed.id}</code> {esc(clip(feed.name, 80))}\n   {esc(clip(feed.address, 120))}"
            f" · {state}"
        )
    return fitting(lines, more="… and {n} more feeds")


# --------------------------------------------------------------------------- /feed


async def feed_command(update: Update, context: NewsContext) -> None:
    """/feed add URL | list | remove ID | poll | digest on|off (admins)."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None:
        return
    args = (message.text or "").split()[1:]
    action = args[0].lower() if args else ""
    services = context.services
    manager = services.feed_manager(context.library)

    async def reply(text: str) -> None:
        await message.reply_text(text, do_quote=message.chat.type != "private")

    try:
        if action == "add" and len(args) == 2:
            status = await message.reply_text(
                "⏳ Subscribing and reading the newest entries…",
                do_quote=message.chat.type != "private",
            )
            try:
                feed, created, report = await services.call(
                    manager.add_and_poll, args[1], added_by=f"telegram:{user.id}"
                )
            except NewsbotError as error:
                if isinstance(error, StoreError):
                    raise
                await status.edit_text(f"⚠️ {esc(clip(str(error), 500))}")
                return
            await status.edit_text(render_subscription(feed, report if created else None))
        elif action == "list" and len(args) == 1:
            await reply(render_list(await services.call(manager.list_feeds)))
        elif action == "remove" and len(args) == 2:
            feed = await services.call(manager.remove, args[1])
            await reply(
                f"🗑 Unsubscribed from <b>{esc(clip(feed.name, 100))}</b>; its articles stay."
            )
        elif action == "poll" and len(args) == 1:
            reports = await services.call(manager.poll_all)
            await reply(render_polls(reports))
        elif action == "digest" and len(args) == 2 and args[1].lower() in ("on", "off"):
            enabled = args[1].lower() == "on"
            await services.call(manager.set_digest, user.id, enabled)
            await reply(
                "🔔 You will get a digest when feeds bring new articles."
                if enabled
                else "🔕 No more feed digests."
            )
        else:
            await reply(USAGE)
    except FeedNotFoundError:
        await reply(f"No feed has the id <code>{esc(clip(args[1], 40))}</code>. See /feed list.")
    except StoreError:
        raise  # the global error handler says the library is unavailable
    except NewsbotError as error:
        await reply(f"⚠️ {esc(clip(str(error), 500))}")


# --------------------------------------------------------------------------- schedule


def schedule(application: NewsApplication) -> Job[NewsContext] | None:
    """Start polling the feeds with PTB's JobQueue (when ``feeds.enabled``).

    One repeating job checks every ``feeds.check_interval`` seconds for feeds that are due;
    each feed's own time carries its interval, backoff and jitter. The first check is
    jittered too, so bots started together do not poll together.
    """
    services = application.bot_data.services
    if services is None or not services.settings.feeds.enabled:
        return None
    if application.job_queue is None:
        log.warning("feeds are not polled: python-telegram-bot's job-queue extra is missing")
        return None
    every = services.settings.feeds.check_interval
    return application.job_queue.run_repeating(
        poll_job,
        interval=every,
        first=random.uniform(0.1, 1.0) * every,
        name=FEED_JOB,
        # A poll still running when the next is due: skip, do not pile up.
        job_kwargs={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
    )


async def poll_job(context: NewsContext) -> None:
    """Poll the due feeds off the event loop, then send digests and alerts."""
    services = context.services
    if services.library is None:
        return
    manager = services.feed_manager(services.library)
    try:
        reports = await services.call(manager.poll_due)
    except NewsbotError as error:  # the store is down: the next run tries again
        log.warning("feed poll failed: %s", error)
        return
    if reports:
        await notify(context, services, manager, reports)


async def notify(
    context: NewsContext, services: Services, manager: FeedManager, reports: list[PollReport]
) -> None:
    """The digest to opted-in admins; failing and recovered feeds to all admins, once."""
    digest = render_digest(reports)
    if digest:
        recipients = await services.call(manager.digest_recipients)
        for user_id in recipients:
            if user_id in services.admins:  # a former admin gets nothing
                await _send(context, user_id, digest)
    for report in reports:
        if report.alert is not None:
            for user_id in sorted(services.admins.ids):
                await _send(context, user_id, render_alert(report))


async def _send(context: NewsContext, chat_id: int, text: str) -> None:
    try:
        await context.bot.send_message(chat_id, text)
    except TelegramError as error:  # e.g. the admin never started a chat with the bot
        log.warning("could not send a feed message to %s: %s", chat_id, error)
