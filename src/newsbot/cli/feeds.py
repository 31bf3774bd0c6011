"""`newsbot feed`: RSS/Atom subscriptions from the command line."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from newsbot.cli.console import State, app, err, open_library, out, print_json, print_result

if TYPE_CHECKING:
    from newsbot.feeds.manager import FeedManager

feed_app = typer.Typer(
    help="RSS/Atom subscriptions: new entries are ingested by `newsbot feed poll` or the bot.",
    no_args_is_help=True,
)
app.add_typer(feed_app, name="feed")


@contextmanager
def _feeds() -> Iterator[FeedManager]:
    from newsbot.feeds.manager import FeedManager

    with open_library() as library:
        yield FeedManager(library)


@feed_app.command("add")
def feed_add(
    url: Annotated[str, typer.Argument(help="The feed's URL (or a page that links to it).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the feed as JSON.")] = False,
) -> None:
    """Subscribe to a feed; its newest entries are ingested on the next poll."""
    with _feeds() as feeds:
        feed, created = feeds.add(url, added_by="cli")
    if as_json:
        print_json({**feed.to_json(), "created": created})
        return
    verb = "subscribed to" if created else "already subscribed to"
    out.print(f"{verb} {feed.id}  {escape(feed.name)}  {escape(feed.address)}")


@feed_app.command("list")
def feed_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List the subscribed feeds and how their polls went."""
    with _feeds() as feeds:
        subscribed = feeds.list_feeds()
    if as_json:
        print_json([f.to_json() for f in subscribed])
        return
    if not subscribed:
        out.print("No feeds. Subscribe with: newsbot feed add URL")
    for f in subscribed:
        state = f"{f.articles} articles"
        if f.failures:
            state += f", [red]failing ({f.failures}x): {escape(f.last_error or '')}[/red]"
        out.print(f"{f.id}  {escape(f.name)}  {escape(f.address)}  [dim]{state}[/dim]")


@feed_app.command("remove")
def feed_remove(
    feed_id: Annotated[str, typer.Argument(help="The id shown by `newsbot feed list`.")],
) -> None:
    """Unsubscribe from a feed (its articles stay in the library)."""
    with _feeds() as feeds:
        feed = feeds.remove(feed_id)
    out.print(f"removed {feed.id}  {escape(feed.name)}")


@feed_app.command("poll")
def feed_poll(
    poll_all: Annotated[bool, typer.Option("--all", help="Poll every feed, due or not.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the reports as JSON.")] = False,
) -> None:
    """Poll the feeds that are due (or all) once now and ingest their new entries."""
    # Each failure is in its report below; the running bot's log line would say it twice.
    if not State.verbose:
        logging.getLogger("newsbot.feeds.manager").setLevel(logging.ERROR)
    with _feeds() as feeds:
        reports = feeds.poll_all() if poll_all else feeds.poll_due()
    if as_json:
        print_json([r.to_json() for r in reports])
    else:
        if not reports:
            err.print("no feed is due (use --all to poll every feed now)")
        for report in reports:
            line = f"{report.feed_id}  {escape(report.name)}: {report.status.value}"
            if report.error:
                err.print(f"[red]{line}[/red]: {escape(report.error)}")
                continue
            out.print(f"{line}, {len(report.new_articles)} new")
            for entry in report.entries:
                print_result(entry.result)
    if any(r.error for r in reports):
        raise typer.Exit(1)
