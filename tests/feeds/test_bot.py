"""/feed through the Bot API stand-in, and the JobQueue poll with its digest and alerts."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from newsbot.config import Settings, load_settings
from newsbot.index.embedder import Embedder
from newsbot.library import Library
from tests.bot.conftest import ADMIN, TOKEN, USER, server, start_bot  # noqa: F401 (fixtures)
from tests.bot.test_bot import message_with
from tests.feeds.conftest import BRIDGE_HTML, STORM_HTML, FeedSite, Item, day, rss
from tests.servers.botapi import BotApiServer

pytestmark = pytest.mark.slow


def bot_feed_settings(store: Path, api: BotApiServer) -> Settings:
    return load_settings(
        store={"path": store},
        ingest={"allow_private_urls": True, "timeout": 2},
        telegram={
            "token": TOKEN,
            "admins": [ADMIN],
            "base_url": api.bot_api_url,
            "base_file_url": api.file_api_url,
        },
        feeds={
            "interval": 0.5,
            "check_interval": 0.3,
            "jitter": 0,
            "max_backoff": 1,
            "alert_after": 2,
        },
    )


async def test_feed_commands_scheduled_poll_digest_and_one_alert(
    tmp_path: Path,
    server: BotApiServer,  # noqa: F811
    start_bot: Any,  # noqa: F811
    site: FeedSite,
    embedder: Embedder,
) -> None:
    settings = bot_feed_settings(tmp_path / "store", server)
    site.serve_page("/bridge.html", BRIDGE_HTML)
    site.serve_page("/storm.html", STORM_HTML)
    first = Item("bridge", "Bridge approved", site.url("/bridge.html"), "", day(1))
    url = site.serve_feed("/news.xml", rss("Herald", [first]), etag='"1"')
    flaky = site.serve_feed("/flaky.xml", rss("Flaky", []))

    with Library.open(settings, embedder=embedder) as library:
        await start_bot(settings, library)

        server.user_message(f"/feed add {url}", user_id=USER)
        await message_with(server, USER, "only the bot's admins can use /feed")

        server.user_message(f"/feed add {url}", user_id=ADMIN)
        added = await message_with(server, ADMIN, "new article")
        assert "Subscribed to" in added["text"] and "Herald" in added["text"]
        assert "Bridge approved" in added["text"]
        server.user_message("/feed digest on", user_id=ADMIN)
        await message_with(server, ADMIN, "You will get a digest")

        # A new entry: the scheduled poll ingests it and the opted-in admin hears of it.
        second = Item("storm", "Storm batters the coast", site.url("/storm.html"), "", day(2))
        site.serve_feed("/news.xml", rss("Herald", [second, first]), etag='"2"')
        digest = await message_with(server, ADMIN, "New from your feeds")
        assert "Storm batters the coast" in digest["text"] and "Herald" in digest["text"]
        assert "Bridge approved" not in digest["text"]
        titles = sorted(r.title for r in library.list_articles())
        assert titles == ["Bridge approved", "Storm batters the coast"]
        assert all(r.outlet == "Herald" for r in library.list_articles())

        # A feed that breaks: admins are told once, however many polls fail.
        server.user_message(f"/feed add {flaky}", user_id=ADMIN)
        await message_with(server, ADMIN, "0 new articles")
        site.serve_feed("/flaky.xml", b"this is no feed")
        await message_with(server, ADMIN, "is failing")
        polls = len(site.hits("/flaky.xml"))
        await server.async_wait_for(
            lambda: len(site.hits("/flaky.xml")) >= polls + 2 or None, 15, what="more polls"
        )
        alerts = [m for m in server.sent_messages(ADMIN) if "is failing" in m["text"]]
        assert len(alerts) == 1
        site.serve_feed("/flaky.xml", rss("Flaky", []))
        await message_with(server, ADMIN, "works again")

        server.user_message("/feed list", user_id=ADMIN)
        listed = await message_with(server, ADMIN, "2 feeds")
        assert "Herald" in listed["text"] and "Flaky" in listed["text"]
        await asyncio.sleep(1)  # a few more scheduled polls: nothing is ingested twice
        assert len(library.list_articles()) == 2
        digests = [m for m in server.sent_messages(ADMIN) if "New from your feeds" in m["text"]]
        assert len(digests) == 1
        assert not any("New from your feeds" in m["text"] for m in server.sent_messages(USER))
        assert server.rejected == []
