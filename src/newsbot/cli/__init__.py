"""The command line: parses arguments, calls :class:`~newsbot.library.Library`, prints results.

One module per group of commands, each registering its commands on the one Typer app of
:mod:`.console`: :mod:`.articles`, :mod:`.feeds` and :mod:`.service` (run, healthcheck).
"""

from __future__ import annotations

import sys

from rich.markup import escape

from newsbot.cli import articles, feeds, service
from newsbot.cli.console import app, err
from newsbot.errors import NewsbotError

COMMAND_MODULES = (articles, feeds, service)  # imported for the commands they register


def main() -> None:
    """Console entry point: domain and config errors become one line on stderr."""
    try:
        app()
    except NewsbotError as error:  # e.g. a bad setting raised before a command ran
        err.print(f"[red]error:[/red] {escape(str(error))}")
        sys.exit(1)
