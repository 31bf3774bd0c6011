"""``newsbot feed add|list|remove|poll`` in process, against the local feed site."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from newsbot.cli import app
from tests.feeds.conftest import BRIDGE_HTML, FeedSite, Item, day, rss

pytestmark = pytest.mark.slow
runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_feed_commands(
    tmp_path: Path,
    site: FeedSite,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Restored after the test: `feed poll` turns the manager's warnings off in its process.
    caplog.set_level(logging.WARNING, logger="newsbot.feeds.manager")
    monkeypatch.setenv("NEWSBOT_STORE__PATH", str(tmp_path / "store"))
    monkeypatch.setenv("NEWSBOT_INGEST__ALLOW_PRIVATE_URLS", "true")
    site.serve_page("/bridge.html", BRIDGE_HTML)
    url = site.serve_feed(
        "/news.xml",
        rss("Herald", [Item("b1", "Bridge approved", site.url("/bridge.html"), "", day(1))]),
        etag='"1"',
    )

    code, out, err = invoke("feed", "add", url)
    assert code == 0, err
    assert "subscribed to" in out and "Herald" in out
    code, out, _ = invoke("feed", "list", "--json")
    (feed,) = json.loads(out)
    assert feed["url"] == url and feed["title"] == "Herald" and feed["articles"] == 0

    code, out, err = invoke("feed", "poll", "--json")
    assert code == 0, err
    (report,) = json.loads(out)
    assert report["status"] == "ok"
    assert [(e["guid"], e["status"], e["via"]) for e in report["entries"]] == [
        ("b1", "added", "page")
    ]
    code, out, err = invoke("feed", "poll")
    assert code == 0 and "no feed is due" in err
    code, out, _ = invoke("feed", "poll", "--all")
    assert code == 0 and "not_modified, 0 new" in out

    code, out, _ = invoke("list", "--json")
    (article,) = json.loads(out)
    assert article["title"] == "Bridge approved" and article["source"] == "Herald"

    site.serve_feed("/news.xml", b"not a feed at all")
    code, out, err = invoke("feed", "poll", "--all")
    assert code == 1 and "failed" in err and "not a valid RSS or Atom feed" in err
    # Said once, in the report: not again as the running bot's log line.
    assert not [r for r in caplog.records if r.name == "newsbot.feeds.manager"], caplog.text

    code, _, err = invoke("feed", "add", site.url("/missing.xml"))
    assert code == 1 and "404" in err
    code, _, err = invoke("feed", "remove", "nope")
    assert code == 1 and "no feed with id" in err
    code, out, _ = invoke("feed", "remove", feed["id"])
    assert code == 0 and "removed" in out
    code, out, _ = invoke("feed", "list")
    assert "No feeds" in out
