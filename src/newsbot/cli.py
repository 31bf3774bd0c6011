"""The command line: parses arguments, calls :class:`~newsbot.library.Library`, prints results."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from newsbot import health
from newsbot.config import Settings, load_settings
from newsbot.errors import NewsbotError, StoreInUseError
from newsbot.models import Answer, IngestResult, IngestStatus
from newsbot.redact import quiet_token_leaking_loggers

app = typer.Typer(
    help="newsbot: answers questions about news articles with quoted excerpts and sources.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class State:
    config: Path | None = None
    verbose: bool = False


def _settings() -> Settings:
    return load_settings(State.config)


@contextmanager
def _library(*, load_model: bool = False) -> Iterator[Any]:
    from newsbot.library import Library

    library = Library.open(_settings(), load_model=load_model)
    try:
        yield library
    finally:
        library.close()


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(code)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")


@app.callback()
def main_options(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="TOML config file (default: $NEWSBOT_CONFIG or ./config.toml)."
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens.")] = False,
) -> None:
    State.config, State.verbose = config, verbose
    _configure_logging(logging.INFO if verbose else logging.WARNING)


def _configure_logging(level: int) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Request URLs of the Bot API carry the token; these loggers print them at INFO.
    quiet_token_leaking_loggers()
    for name in ("chromadb", "sentence_transformers", "transformers"):
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    # trafilatura logs a page it finds no article in as an ERROR; the result already says so.
    logging.getLogger("trafilatura").setLevel(logging.CRITICAL if level > logging.DEBUG else level)
    # The first run exports the model (about half a minute): say so even when not verbose.
    logging.getLogger("newsbot.index.onnx_model").setLevel(min(level, logging.INFO))
    # pypdf warns about each flaw of a damaged PDF; the ingest result gives the one reason.
    logging.getLogger("pypdf").setLevel(logging.ERROR if level > logging.DEBUG else level)


def _estimate_total(sources: list[str]) -> int:
    total = 0
    for source in sources:
        path = Path(source)
        if source.endswith(".jsonl") and path.is_file():
            with path.open("rb") as handle:
                total += sum(1 for line in handle if line.strip())
        else:
            total += 1
    return total


@app.command()
def ingest(
    sources: Annotated[list[str], typer.Argument(help="Files, URLs or JSON Lines dumps.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print results as JSON.")] = False,
    added_by: Annotated[str | None, typer.Option(help="Who added the articles.")] = None,
) -> None:
    """Add articles: HTML, PDF, text and Markdown files, URLs, and JSON Lines dumps."""
    _ingest(sources, as_json=as_json, added_by=added_by)


@app.command("import")
def import_articles(
    file: Annotated[Path, typer.Argument(help="A JSON Lines file (.jsonl or .jsonl.gz).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print results as JSON.")] = False,
) -> None:
    """Restore articles from `newsbot export`: ids, metadata and provenance are kept."""
    from newsbot.ingest.sources import is_jsonl_name

    if not is_jsonl_name(file.name):
        raise _fail(f"{file}: import reads JSON Lines (.jsonl or .jsonl.gz)", 2)
    # An export is a JSON Lines dump that ingest already reads: one format, one path.
    _ingest([str(file)], as_json=as_json, added_by=None)


@app.command()
def export(
    file: Annotated[
        Path, typer.Argument(help="Where to write (.jsonl, .jsonl.gz, or - for stdout).")
    ],
) -> None:
    """Write every article with its text and metadata as JSON Lines (for `newsbot import`)."""
    from newsbot.ingest.sources import is_jsonl_name

    if str(file) != "-" and not is_jsonl_name(file.name):
        # What import would refuse to read back.
        raise _fail(f"{file}: export writes JSON Lines; name it .jsonl or .jsonl.gz", 2)
    try:
        with _library() as library:
            count = library.export_to(sys.stdout) if str(file) == "-" else library.export(file)
    except NewsbotError as error:
        raise _fail(str(error)) from None
    err.print(f"exported {count} article(s) to {escape(str(file))}")


@app.command()
def reindex(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Rebuild every embedding and the lexical index from the stored text, with the configured
    model (after changing embedding.model); re-run it if it was interrupted."""
    from newsbot.library import Library

    try:
        library = Library.open(_settings(), check_model=False)
        try:
            with _progress() as progress:
                task = progress.add_task("reindexing", total=None)
                report = library.reindex(
                    progress=lambda done, total: progress.update(task, completed=done, total=total)
                )
        finally:
            library.close()
    except NewsbotError as error:
        raise _fail(str(error)) from None
    if as_json:
        _print_json(report.to_json())
    else:
        out.print(
            f"reindexed {report.articles} articles ({report.chunks} chunks) with "
            f"{escape(report.model)} in {report.seconds:.1f} s; {report.embedded} embedded now"
        )


def _progress() -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


def _ingest(sources: list[str], *, as_json: bool, added_by: str | None) -> None:
    results: list[IngestResult] = []
    try:
        with _library() as library, _progress() as progress:
            task = progress.add_task("ingesting", total=_estimate_total(sources))
            for result in library.ingest(sources, added_by=added_by):
                results.append(result)
                progress.advance(task)
                if not as_json:
                    _print_result(result)
    except NewsbotError as error:
        if as_json and results:
            _print_json([r.to_json() for r in results])
        raise _fail(str(error)) from None

    failed = [r for r in results if r.status is IngestStatus.FAILED]
    if as_json:
        _print_json([r.to_json() for r in results])
    else:
        counts = {s: sum(r.status is s for r in results) for s in IngestStatus}
        summary = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n)
        err.print(summary or "nothing to ingest")
    if failed:
        err.print(f"[red]{len(failed)} source(s) failed[/red]")
        raise typer.Exit(1)


def _print_result(result: IngestResult) -> None:
    colour = {"added": "green", "updated": "cyan", "duplicate": "yellow", "failed": "red"}[
        result.status.value
    ]
    line = f"[{colour}]{result.status.value:9}[/{colour}] {escape(result.source)}"
    if result.status is IngestStatus.FAILED:
        err.print(f"{line}: {escape(result.error or 'failed')}")
    else:
        detail = f"{result.article_id}  {escape(result.title or '')}"
        if result.status is not IngestStatus.DUPLICATE:
            detail += f"  ({result.chunks} chunks)"
        out.print(f"{line}  {detail}")


@app.command()
def ask(
    question: Annotated[str | None, typer.Argument(help="The question.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")] = False,
    top_k: Annotated[
        int | None, typer.Option("--top-k", "-k", min=1, max=50, help="Passages to show.")
    ] = None,
    questions: Annotated[
        Path | None, typer.Option("--questions", help="A file with one question per line.")
    ] = None,
) -> None:
    """Answer a question with quoted passages and their sources."""
    if (question is None) == (questions is None):
        raise _fail("give either a QUESTION or --questions FILE", 2)
    if questions is not None:
        try:
            lines = [q.strip() for q in questions.read_text(encoding="utf-8").splitlines()]
        except (OSError, UnicodeDecodeError) as error:
            raise _fail(f"cannot read {questions}: {error}") from None
        asked = [q for q in lines if q]
    else:
        asked = [question or ""]
    try:
        with _library(load_model=True) as library:
            for q in asked:
                answer = library.ask(q, top_k=top_k)
                if as_json:
                    _print_json(answer.to_json())
                else:
                    _print_answer(answer)
    except NewsbotError as error:
        raise _fail(str(error)) from None


def _print_answer(answer: Answer) -> None:
    if not answer.answered:
        out.print(f"Nothing in the library answers: {escape(answer.question)}")
        return
    out.print(f"[bold]{escape(answer.question)}[/bold]\n")
    for item in answer.passages:
        quote, article = item.quote, item.passage.article
        out.print(
            f"{item.rank}. “{escape(quote.before)}[bold yellow]{escape(quote.highlight)}"
            f"[/bold yellow]{escape(quote.after)}”"
        )
        source = " · ".join(x for x in (article.title, article.outlet, article.published) if x)
        out.print(f"   — {escape(source)}")
        if article.url:
            out.print(f"     {escape(article.url)}")
        out.print(f"     [dim]id {article.article_id}, score {item.passage.score:.4f}[/dim]\n")


@app.command("list")
def list_articles(
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List the articles in the library, newest first."""
    try:
        with _library() as library:
            records = library.list_articles()
    except NewsbotError as error:
        raise _fail(str(error)) from None
    if as_json:
        _print_json([r.to_json() for r in records])
        return
    if not records:
        out.print("The library is empty. Add articles with: newsbot ingest SOURCE...")
    for r in records:
        meta = " · ".join(x for x in (r.outlet, r.published) if x)
        out.print(
            f"{r.article_id}  {escape(r.title)}" + (f"  [dim]{escape(meta)}[/dim]" if meta else "")
        )


@app.command()
def remove(
    article_id: Annotated[str, typer.Argument(help="The id shown by `newsbot list`.")],
) -> None:
    """Remove an article and all its passages."""
    try:
        with _library() as library:
            record = library.remove(article_id)
    except NewsbotError as error:
        raise _fail(str(error)) from None
    out.print(f"removed {record.article_id}  {escape(record.title)}")


@app.command()
def stats(as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False) -> None:
    """Show how many articles and passages the library holds."""
    try:
        with _library() as library:
            result = library.stats()
    except NewsbotError as error:
        raise _fail(str(error)) from None
    if as_json:
        _print_json(result.to_json())
    else:
        out.print(
            f"articles: {result.articles}\nchunks:   {result.chunks}\n"
            f"model:    {result.model}\nstore:    {result.store}"
        )


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
        settings = _settings()
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
        description, articles, chunks = _count_store(settings)
    except StoreInUseError as error:
        err.print(f"unhealthy: {_held_without_report(error, beat)}")
        raise typer.Exit(1) from None
    except NewsbotError as error:
        err.print(f"unhealthy: {escape(str(error))}")
        raise typer.Exit(1) from None
    out.print(
        f"healthy: {escape(description)}, {articles} articles, {chunks} chunks "
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


def _count_store(settings: Settings) -> tuple[str, int, int]:
    from newsbot.index.store import ChromaStore

    store = ChromaStore(settings.store, model=settings.embedding.identity)
    try:
        return store.description, store.count_articles(), store.count_chunks()
    finally:
        store.close()


@app.command()
def run() -> None:
    """Run the Telegram bot until SIGINT/SIGTERM (long polling, or a webhook if configured)."""
    settings = _settings()
    token = settings.telegram.token
    if token is None or not token.get_secret_value().strip():
        raise _fail(
            "no bot token: set NEWSBOT_TELEGRAM__TOKEN (or token in [telegram] of config.toml) "
            "to the token from @BotFather"
        )
    # A running bot reports what it does; the request loggers stay at WARNING (token in URLs).
    if logging.getLogger().level > logging.INFO:
        logging.getLogger().setLevel(logging.INFO)
    _configure_logging(logging.getLogger().level)
    from newsbot.bot.app import run_bot

    try:
        run_bot(settings)
    except NewsbotError as error:
        raise _fail(str(error)) from None


def main() -> None:
    """Console entry point: domain and config errors become one line on stderr."""
    try:
        app()
    except NewsbotError as error:  # e.g. a bad setting raised before a command ran
        err.print(f"[red]error:[/red] {escape(str(error))}")
        sys.exit(1)


# --------------------------------------------------------------------------- feeds

feed_app = typer.Typer(
    help="RSS/Atom subscriptions: new entries are ingested by `newsbot feed poll` or the bot.",
    no_args_is_help=True,
)
app.add_typer(feed_app, name="feed")


@contextmanager
def _feeds() -> Iterator[Any]:
    from newsbot.feeds.manager import FeedManager

    with _library() as library:
        yield FeedManager(library)


@feed_app.command("add")
def feed_add(
    url: Annotated[str, typer.Argument(help="The feed's URL (or a page that links to it).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the feed as JSON.")] = False,
) -> None:
    """Subscribe to a feed; its newest entries are ingested on the next poll."""
    try:
        with _feeds() as feeds:
            feed, created = feeds.add(url, added_by="cli")
    except NewsbotError as error:
        raise _fail(str(error)) from None
    if as_json:
        _print_json({**feed.to_json(), "created": created})
        return
    verb = "subscribed to" if created else "already subscribed to"
    out.print(f"{verb} {feed.id}  {escape(feed.name)}  {escape(feed.address)}")


@feed_app.command("list")
def feed_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List the subscribed feeds and how their polls went."""
    try:
        with _feeds() as feeds:
            subscribed = feeds.list_feeds()
    except NewsbotError as error:
        raise _fail(str(error)) from None
    if as_json:
        _print_json([f.to_json() for f in subscribed])
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
    try:
        with _feeds() as feeds:
            feed = feeds.remove(feed_id)
    except NewsbotError as error:
        raise _fail(str(error)) from None
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
    try:
        with _feeds() as feeds:
            reports = feeds.poll_all() if poll_all else feeds.poll_due()
    except NewsbotError as error:
        raise _fail(str(error)) from None
    if as_json:
        _print_json([r.to_json() for r in reports])
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
                _print_result(entry.result)
    if any(r.error for r in reports):
        raise typer.Exit(1)
