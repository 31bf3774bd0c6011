"""The commands on articles: ingest, import, export, reindex, ask, list, remove, stats."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from newsbot.cli.console import (
    app,
    current_settings,
    err,
    fail,
    open_library,
    out,
    print_json,
    print_result,
)
from newsbot.errors import NewsbotError
from newsbot.models import Answer, IngestResult, IngestStatus
from newsbot.periods import time_notes


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
        raise fail(f"{file}: import reads JSON Lines (.jsonl or .jsonl.gz)", 2)
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
        raise fail(f"{file}: export writes JSON Lines; name it .jsonl or .jsonl.gz", 2)
    with open_library() as library:
        count = library.export_to(sys.stdout) if str(file) == "-" else library.export(file)
    err.print(f"exported {count} article(s) to {escape(str(file))}")


@app.command()
def reindex(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Rebuild every embedding and the lexical index from the stored text, with the configured
    model (after changing embedding.model); re-run it if it was interrupted."""
    from newsbot.library import Library

    library = Library.open(current_settings(), check_model=False)
    try:
        with _progress() as progress:
            task = progress.add_task("reindexing", total=None)
            report = library.reindex(
                progress=lambda done, total: progress.update(task, completed=done, total=total)
            )
    finally:
        library.close()
    if as_json:
        print_json(report.to_json())
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
        with open_library() as library, _progress() as progress:
            task = progress.add_task("ingesting", total=_estimate_total(sources))
            for result in library.ingest(sources, added_by=added_by):
                results.append(result)
                progress.advance(task)
                if not as_json:
                    print_result(result)
    except NewsbotError as error:
        if as_json and results:
            print_json([r.to_json() for r in results])
        raise fail(str(error)) from None

    failed = [r for r in results if r.status is IngestStatus.FAILED]
    if as_json:
        print_json([r.to_json() for r in results])
    else:
        counts = {s: sum(r.status is s for r in results) for s in IngestStatus}
        summary = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n)
        err.print(summary or "nothing to ingest")
    if failed:
        err.print(f"[red]{len(failed)} source(s) failed[/red]")
        raise typer.Exit(1)


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
        raise fail("give either a QUESTION or --questions FILE", 2)
    if questions is not None:
        try:
            lines = [q.strip() for q in questions.read_text(encoding="utf-8").splitlines()]
        except (OSError, UnicodeDecodeError) as error:
            raise fail(f"cannot read {questions}: {error}") from None
        asked = [q for q in lines if q]
    else:
        asked = [question or ""]
    with open_library(load_model=True) as library:
        for q in asked:
            answer = library.ask(q, top_k=top_k)
            if as_json:
                print_json(answer.to_json())
            else:
                _print_answer(answer)


# What `chat` reads as "forget the conversation", as the bot's /new.
NEW_CONVERSATION = "/new"
# The key of the one conversation `chat` keeps (the bot keys its own by chat and thread).
CHAT_KEY = "cli"


@app.command()
def chat(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print each answer as JSON, one per line.")
    ] = False,
    top_k: Annotated[
        int | None, typer.Option("--top-k", "-k", min=1, max=50, help="Passages to show.")
    ] = None,
) -> None:
    """Ask questions one per line (a prompt, or piped stdin), with follow-ups: "and the
    resistance?" is read with the questions before it, "more" reads on in the article, and a
    line /new forgets the conversation."""
    from newsbot.chat_memory import Conversations

    settings = current_settings()
    conversations = Conversations(expiry=settings.telegram.context_minutes * 60)
    with open_library(load_model=True) as library:
        for line in _lines(prompt=sys.stdin.isatty() and not as_json):
            question = line.strip()
            if not question:
                continue
            if question == NEW_CONVERSATION:
                conversations.forget(CHAT_KEY)
                err.print("[dim]the conversation is forgotten[/dim]")
                continue
            now = time.time()  # a wall clock: `chat` is one process, a restart forgets
            conversation = conversations.get(CHAT_KEY, now)
            answer = library.converse(
                question,
                conversation,
                now=now,
                expiry=conversations.expiry,
                top_k=top_k,
            )
            conversations.remember(CHAT_KEY, answer, conversation, now)
            if as_json:
                print_json(answer.to_json())
            else:
                _print_answer(answer)


def _lines(*, prompt: bool) -> Iterator[str]:
    """The questions: typed at a prompt on a terminal (until Ctrl-D or Ctrl-C), else read
    from stdin line by line."""
    if not prompt:
        yield from sys.stdin
        return
    while True:
        try:
            yield out.input("[bold]?[/bold] ")
        except (EOFError, KeyboardInterrupt):
            out.print()
            return


def _print_answer(answer: Answer) -> None:
    notes = time_notes(answer)
    if answer.end_of_article:
        out.print("That is the end of the article: nothing follows the last excerpt.")
        return
    if not answer.answered:
        for note in notes:
            out.print(escape(note))
        out.print(f"Nothing in the library answers: {escape(answer.question)}")
        return
    heading = "Reading on after the last excerpt" if answer.continued else answer.question
    out.print(f"[bold]{escape(heading)}[/bold]")
    for note in notes:
        out.print(f"[dim]{escape(note)}[/dim]")
    if answer.context:
        out.print(f"[dim]about: {escape(', '.join(answer.context))}[/dim]")
    out.print()
    for item in answer.passages:
        quote, article = item.quote, item.passage.article
        out.print(
            f"{item.rank}. “{escape(quote.before)}[bold yellow]{escape(quote.highlight)}"
            f"[/bold yellow]{escape(quote.after)}”"
        )
        source = " · ".join(x for x in (article.title, article.outlet, article.published) if x)
        out.print(f"   — {escape(source)}")
        if item.link or article.url:
            out.print(f"     {escape(item.link or article.url or '')}")
        out.print(f"     [dim]id {article.article_id}, score {item.passage.score:.4f}[/dim]\n")


@app.command("list")
def list_articles(
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List the articles in the library, newest first."""
    with open_library() as library:
        records = library.list_articles()
    if as_json:
        print_json([r.to_json() for r in records])
        return
    if not records:
        out.print("The library is empty. Add articles with: newsbot ingest SOURCE...")
    for r in records:
        meta = " · ".join(x for x in (r.outlet, r.published) if x)
        out.print(
            f"{r.article_id}  {escape(r.title)}" + (f"  [dim]{escape(meta)}[/dim]" if meta else "")
        )


@app.command()
def latest(
    topic: Annotated[
        str | None, typer.Argument(help="Only articles about this (words or a question).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=100)] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List the newest articles by publication date, optionally about a topic."""
    with open_library(load_model=bool(topic)) as library:
        records = library.latest(topic, limit=limit)
    if as_json:
        print_json([r.to_json() for r in records])
        return
    if not records:
        out.print("Nothing about that in the library." if topic else "The library is empty.")
    for r in records:
        meta = " · ".join(x for x in (r.published or "undated", r.outlet) if x)
        out.print(f"{escape(meta)}  [bold]{escape(r.title)}[/bold]")
        if r.url:
            out.print(f"    {escape(r.url)}")


@app.command()
def remove(
    article_id: Annotated[str, typer.Argument(help="The id shown by `newsbot list`.")],
) -> None:
    """Remove an article and all its passages."""
    with open_library() as library:
        record = library.remove(article_id)
    out.print(f"removed {record.article_id}  {escape(record.title)}")


@app.command()
def stats(as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False) -> None:
    """Show how many articles and passages the library holds."""
    with open_library() as library:
        result = library.stats()
    if as_json:
        print_json(result.to_json())
    else:
        out.print(
            f"articles: {result.articles}\nchunks:   {result.chunks}\n"
            f"model:    {result.model}\nstore:    {result.store}"
        )
