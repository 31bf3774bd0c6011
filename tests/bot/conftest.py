"""Fixtures for the bot: the Bot API stand-in, a local article server, a running Application.

Everything is real and local: the ``Application`` polls the stand-in over HTTP on 127.0.0.1,
the library uses the session's real model and an embedded Chroma store in a temporary
directory, and ``/add <url>`` fetches from a stdlib HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from newsbot.bot.app import ALLOWED_UPDATES, build_application
from newsbot.bot.context import NewsApplication
from newsbot.config import Settings, load_settings
from newsbot.index.embedder import Embedder
from newsbot.library import Library
from tests.servers.botapi import BotApiServer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SAMPLE = FIXTURES / "voa-2021-09-06-panjshir.txt"
HTML = FIXTURES / "html"

TOKEN = "123456:SECRET-test-token-xyz"
BOT_USERNAME = "newsbot_test_bot"
ADMIN = 1001
USER = 2002
OTHER_USER = 3003
GROUP = -100500

# Routes of the article server: path -> (content type, body).
PAGES: dict[str, tuple[str, bytes]] = {
    "/panjshir.txt": ("text/plain; charset=utf-8", SAMPLE.read_bytes()),
    "/bridge.html": ("text/html; charset=utf-8", (HTML / "daily-herald-bridge.html").read_bytes()),
    "/storm.html": ("text/html; charset=utf-8", (HTML / "coastal-times-storm.html").read_bytes()),
}


HELD_TEXT = (
    b"Harbour reopens after dredging\n\nThe city harbour reopened on Monday after three months "
    b"of dredging work, the port authority said. Ferries resume their full timetable next week."
)


@dataclass
class ArticleServer:
    """Serves :data:`PAGES`; ``/held.txt`` answers only once ``release`` is set."""

    port: int
    seen: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


class _Pages(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        server: Any = self.server
        server.seen.append(self.path)
        page = PAGES.get(self.path)
        if self.path == "/held.txt":
            server.pages.release.wait(20)
            page = ("text/plain; charset=utf-8", HELD_TEXT)
        if page is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", page[0])
        self.send_header("Content-Length", str(len(page[1])))
        self.end_headers()
        self.wfile.write(page[1])

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def article_server() -> Iterator[ArticleServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    httpd.daemon_threads = True
    pages = ArticleServer(httpd.server_address[1])
    httpd.seen = pages.seen  # type: ignore[attr-defined]
    httpd.pages = pages  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    yield pages
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def server() -> Iterator[BotApiServer]:
    # Strict entities: an unescaped "&" in anything the bot sends is refused, not shown.
    with BotApiServer(TOKEN, bot_username=BOT_USERNAME, strict_html_entities=True) as running:
        for chat in (ADMIN, USER, OTHER_USER):
            running.add_chat(chat)
        running.add_chat(GROUP, "supergroup", title="News fans")
        yield running


def bot_settings(store: Path, server: BotApiServer, **telegram: Any) -> Settings:
    return load_settings(
        store={"path": store},
        ingest={"allow_private_urls": True},
        telegram={
            "token": TOKEN,
            "admins": [ADMIN],
            "base_url": server.bot_api_url,
            "base_file_url": server.file_api_url,
            "page_size": 2,
            **telegram,
        },
    )


@pytest.fixture
def settings(tmp_path: Path, server: BotApiServer) -> Settings:
    return bot_settings(tmp_path / "store", server)


@pytest.fixture(scope="module")
def stocked_library(
    tmp_path_factory: pytest.TempPathFactory, embedder: Embedder, article_server: ArticleServer
) -> Iterator[Library]:
    """A library with the three articles of the article server, shared by read-only tests."""
    settings = load_settings(
        store={"path": tmp_path_factory.mktemp("stocked") / "store"},
        ingest={"allow_private_urls": True},
    )
    with Library.open(settings, embedder=embedder) as library:
        results = list(library.ingest([article_server.url(path) for path in PAGES]))
        assert [r.status.value for r in results] == ["added"] * len(PAGES), results
        yield library


class RunningBot:
    """An Application polling the stand-in, started and stopped like ``run_polling`` does."""

    def __init__(self, application: NewsApplication) -> None:
        self.application = application
        self.running = False

    async def start(self) -> RunningBot:
        app = self.application
        await app.initialize()
        if app.post_init:
            await app.post_init(app)
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=5, allowed_updates=ALLOWED_UPDATES)
        await app.start()
        self.running = True
        return self

    async def stop(self) -> None:
        """Stop fetching, finish every update already fetched, shut down (idempotent)."""
        if not self.running:
            return
        self.running = False
        app = self.application
        assert app.updater is not None
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
        if app.post_shutdown:
            await app.post_shutdown(app)


@pytest.fixture
async def start_bot() -> AsyncIterator[Any]:
    """``await start_bot(settings, library)`` -> a started :class:`RunningBot` (stopped after)."""
    started: list[RunningBot] = []

    async def start(settings: Settings, library: Library | None) -> RunningBot:
        bot = RunningBot(build_application(settings, library))
        started.append(bot)
        return await bot.start()

    yield start
    for bot in started:
        await bot.stop()


@pytest.fixture
async def bot(
    start_bot: Any, settings: Settings, stocked_library: Library
) -> AsyncIterator[RunningBot]:
    """The bot over the shared, read-only library of three articles."""
    yield await start_bot(settings, stocked_library)


@pytest.fixture
async def fresh_bot(start_bot: Any, settings: Settings, embedder: Embedder) -> AsyncIterator[Any]:
    """The bot over an empty library of its own (for tests that add and remove)."""
    with Library.open(settings, embedder=embedder) as library:
        running = await start_bot(settings, library)
        yield running, library
        await running.stop()
