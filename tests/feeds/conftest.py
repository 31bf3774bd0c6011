"""Fixtures for feed tests: a real HTTP server on 127.0.0.1 serving feeds that change.

The :class:`FeedSite` is a stdlib ``ThreadingHTTPServer`` whose feeds, pages and failures the
test edits between polls. It honours ``If-None-Match`` with a 304, like a well-behaved site.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from newsbot.config import Settings, load_settings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
HTML = FIXTURES / "html"
BRIDGE_HTML = (HTML / "daily-herald-bridge.html").read_bytes()
STORM_HTML = (HTML / "coastal-times-storm.html").read_bytes()


def article_page(title: str, *paragraphs: str) -> bytes:
    """A small news page with enough prose for the extractor."""
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{escape(title)}</title></head>"
        f"<body><article><h1>{escape(title)}</h1>{body}</article></body></html>"
    ).encode()


@dataclass
class Item:
    guid: str
    title: str
    link: str | None
    description: str = ""
    published: datetime | None = None


def rss(title: str, items: list[Item]) -> bytes:
    """An RSS 2.0 document, newest item first as feeds list them."""
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<rss version="2.0"><channel>',
        f"<title>{escape(title)}</title><link>http://example.invalid/</link>",
        "<description>test feed</description>",
    ]
    for item in items:
        parts.append("<item>")
        parts.append(f'<guid isPermaLink="false">{escape(item.guid)}</guid>')
        parts.append(f"<title>{escape(item.title)}</title>")
        if item.link:
            parts.append(f"<link>{escape(item.link)}</link>")
        if item.description:
            parts.append(f"<description>{escape(item.description)}</description>")
        if item.published:
            parts.append(f"<pubDate>{format_datetime(item.published)}</pubDate>")
        parts.append("</item>")
    parts.append("</channel></rss>")
    return "\n".join(parts).encode()


@dataclass
class Resource:
    body: bytes
    content_type: str
    etag: str | None = None
    delay: float = 0.0
    status: int = 200
    location: str | None = None


@dataclass
class FeedSite:
    """What the server serves; edit ``routes`` between polls."""

    port: int
    routes: dict[str, Resource] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str], int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def serve(self, path: str, body: bytes, content_type: str, **options: Any) -> str:
        with self.lock:
            self.routes[path] = Resource(body, content_type, **options)
        return self.url(path)

    def serve_feed(self, path: str, body: bytes, etag: str | None = None) -> str:
        return self.serve(path, body, "application/rss+xml; charset=utf-8", etag=etag)

    def serve_page(self, path: str, body: bytes) -> str:
        return self.serve(path, body, "text/html; charset=utf-8")

    def drop(self, path: str) -> None:
        with self.lock:
            self.routes.pop(path, None)

    def hits(self, path: str) -> list[tuple[dict[str, str], int]]:
        return [(h, s) for p, h, s in self.requests if p == path]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        site: FeedSite = self.server.site  # type: ignore[attr-defined]
        headers = {k.lower(): v for k, v in self.headers.items()}
        with site.lock:
            resource = site.routes.get(self.path)
        if resource is None:
            self._send(404, b"not found", "text/plain", headers)
            return
        if resource.delay:
            time.sleep(resource.delay)
        if resource.location:
            self._send(302, b"", None, headers, {"Location": resource.location})
            return
        extra = {"ETag": resource.etag} if resource.etag else {}
        if resource.etag and headers.get("if-none-match") == resource.etag:
            self._send(304, b"", None, headers, extra)
            return
        self._send(resource.status, resource.body, resource.content_type, headers, extra)

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str | None,
        request_headers: dict[str, str],
        extra: dict[str, str] | None = None,
    ) -> None:
        site: FeedSite = self.server.site  # type: ignore[attr-defined]
        site.requests.append((self.path, request_headers, status))
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)


@pytest.fixture
def site() -> Iterator[FeedSite]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    state = FeedSite(port=httpd.server_address[1])
    httpd.site = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def feed_settings(store: Path, **feeds: Any) -> Settings:
    return load_settings(
        store={"path": store},
        ingest={"allow_private_urls": True, "timeout": 2},
        feeds={"jitter": 0, **feeds},
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return feed_settings(tmp_path / "store")


def day(n: int) -> datetime:
    return datetime(2024, 3, n, 9, 0, tzinfo=UTC)
