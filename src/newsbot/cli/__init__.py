"""The command line: parses arguments, calls :class:`~newsbot.library.Library`, prints results.

One module per group of commands, each registering its commands on the one Typer app of
:mod:`.console`: :mod:`.articles`, :mod:`.feeds` and :mod:`.service` (run, healthcheck).
"""

from __future__ import annotations

from newsbot.cli import articles, feeds, service
from newsbot.cli.console import app

COMMAND_MODULES = (articles, feeds, service)  # imported for the commands they register


def main() -> None:
    """Console entry point (errors become one line on stderr: see console._Commands)."""
    app()
