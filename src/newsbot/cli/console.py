"""What every command shares: the Typer app and its global options, the consoles, the
settings, the library opened for one command, and errors turned into one line."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from newsbot.config import Settings, load_settings
from newsbot.errors import NewsbotError
from newsbot.models import IngestResult, IngestStatus
from newsbot.redact import quiet_token_leaking_loggers

if TYPE_CHECKING:
    from newsbot.library import Library


class _Commands(TyperGroup):
    """The app's commands, with one rule for errors: a NewsbotError (bad input, a setting, a
    store that cannot open) raised by a command or the global options becomes one line on
    stderr and exit status 1, not a traceback."""

    def invoke(self, ctx: Any) -> Any:  # typer's Context: its own click since 0.2x, or click's
        try:
            return super().invoke(ctx)
        except NewsbotError as error:
            raise fail(str(error)) from None


app = typer.Typer(
    cls=_Commands,
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


def current_settings() -> Settings:
    return load_settings(State.config)


@contextmanager
def open_library(*, load_model: bool = False) -> Iterator[Library]:
    from newsbot.library import Library

    library = Library.open(current_settings(), load_model=load_model)
    try:
        yield library
    finally:
        library.close()


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(code)


def print_json(data: Any) -> None:
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
    configure_logging(logging.INFO if verbose else logging.WARNING)


def configure_logging(level: int) -> None:
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


def print_result(result: IngestResult) -> None:
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
