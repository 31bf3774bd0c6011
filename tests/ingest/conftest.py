"""Fixtures for ingestion tests: a real HTTP server on 127.0.0.1, a simulated internet, PDFs.

Nothing here sends traffic anywhere but 127.0.0.1: the ``fake_internet`` fixture answers name
look-ups from a table (no DNS query leaves the machine) and turns connections to its made-up
public addresses into connections to the local server.
"""

from __future__ import annotations

import contextlib
import gzip
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from newsbot.config import IngestSettings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
HTML_FIXTURES = FIXTURES / "html"
SAMPLE = FIXTURES / "voa-2021-09-06-panjshir.txt"
# The evaluation corpora live beside the project (../shared/eval), never inside it.
SHARED_EVAL = Path(__file__).resolve().parents[2].parent / "shared" / "eval"

ARTICLE_HTML = (HTML_FIXTURES / "daily-herald-bridge.html").read_bytes()


@dataclass
class SeenRequest:
    path: str
    headers: dict[str, str]


@dataclass
class LocalServer:
    """A real HTTP server on 127.0.0.1 (see :class:`_Handler` for its routes)."""

    port: int
    seen: list[SeenRequest] = field(default_factory=list)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


LATIN1_PAGE = (
    "<html><head><title>La fête près de la rivière</title></head><body><article>"
    + "<p>La fête près de la rivière a réuni des centaines de personnes samedi, "
    "a déclaré la mairie. Le señor Muñoz était là.</p>" * 4 + "</article></body></html>"
)


class _Handler(BaseHTTPRequestHandler):
    """Routes:

    ``/article.html`` a news page; ``/plain.txt``; ``/report`` a PDF-typed body with a
    Content-Disposition file name; ``/untyped`` no Content-Type; ``/image.png``;
    ``/redirect/N`` N hops then the article; ``/loop``; ``/to?url=U`` a 302 to U;
    ``/big-declared`` a Content-Length over the cap; ``/big-stream`` a body over the cap with no
    Content-Length; ``/gzip-bomb`` a small gzip-encoded body that inflates far over the cap;
    ``/latin1.html`` an ISO-8859-1 page whose charset only the header names;
    ``/slow`` headers after 2 s; ``/drip`` 15 bytes every 0.1 s for 10 s; ``/drip-headers`` its
    status line and headers a byte every 0.1 s (over 10 s); ``/missing`` 404;
    ``/error`` 500; ``/echo`` the request headers as text.
    """

    server_version = "TestServer/1.0"
    protocol_version = "HTTP/1.0"  # a body without Content-Length runs until the close
    big_size = 0  # set by the fixture
    gzip_bomb = b""  # set by the fixture

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def do_GET(self) -> None:
        server: Any = self.server
        server.seen.append(SeenRequest(self.path, {k.lower(): v for k, v in self.headers.items()}))
        parts = urlsplit(self.path)
        path = parts.path
        if path == "/article.html":
            self._send(200, ARTICLE_HTML, "text/html; charset=utf-8")
        elif path == "/plain.txt":
            self._send(200, b"Plain title\n\nA plain text article body.", "text/plain")
        elif path == "/report":
            self._send(
                200,
                b"%PDF-1.4 not really",
                "application/pdf",
                {"Content-Disposition": 'attachment; filename="annual report.pdf"'},
            )
        elif path == "/untyped":
            self._send(200, b"Untyped title\n\nBody of an untyped resource.", None)
        elif path == "/image.png":
            self._send(200, b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image/png")
        elif path.startswith("/redirect/"):
            hops = int(path.rsplit("/", 1)[1])
            target = "/article.html" if hops <= 0 else f"/redirect/{hops - 1}"
            self._redirect(target)
        elif path == "/loop":
            self._redirect("/loop")
        elif path == "/to":
            self._redirect(parse_qs(parts.query)["url"][0])
        elif path == "/big-declared":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(self.big_size * 10))
            self.end_headers()
            self.wfile.write(b"<html>" + b"x" * 100)
        elif path == "/big-stream":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            chunk = b"word " * 200
            try:
                for _ in range(self.big_size * 3 // len(chunk) + 1):
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped reading: as expected
        elif path == "/gzip-bomb":
            # A few KB on the wire that inflate to 200 times the cap: httpx decodes
            # Content-Encoding transparently, so only a cap on the decoded bytes stops it.
            self._send(
                200,
                self.gzip_bomb,
                "text/plain",
                {"Content-Encoding": "gzip"},
            )
        elif path == "/slow":
            time.sleep(2)
            self._send(200, b"late", "text/plain")
        elif path == "/drip":  # every wait for data is short; the whole body takes 10 s
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            try:
                for _ in range(100):
                    self.wfile.write(b"drip " * 3)
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:  # the client gave up
                pass
        elif path == "/drip-headers":  # the status line and headers, a byte every 0.1 s
            head = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nX-Padding: " + b"x" * 100
            try:
                for byte in head:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:  # the client gave up
                pass
        elif path == "/latin1.html":  # the charset only in the header, none in the page
            self._send(200, LATIN1_PAGE.encode("iso-8859-1"), "text/html; charset=ISO-8859-1")
        elif path == "/missing":
            self._send(404, b"not here", "text/html")
        elif path == "/error":
            self._send(500, b"oops", "text/html")
        elif path == "/echo":
            body = "".join(f"{k}: {v}\n" for k, v in self.headers.items())
            self._send(200, ("Echo\n\n" + body).encode(), "text/plain")
        else:
            self._send(404, b"no route", "text/plain")

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str | None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()


# A cap small enough for fast oversize tests, large enough for every normal response.
SMALL_CAP = 50_000


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    """A threaded HTTP server on 127.0.0.1, on a free port, stopped after the test."""
    handler = type(
        "Handler",
        (_Handler,),
        {"big_size": SMALL_CAP, "gzip_bomb": gzip.compress(b"\0" * SMALL_CAP * 200)},
    )
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    state = LocalServer(port=httpd.server_address[1])
    httpd.seen = state.seen  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def private_ok() -> IngestSettings:
    """Settings that may fetch from 127.0.0.1 (the local server), with a small size cap."""
    return IngestSettings(allow_private_urls=True, timeout=5, max_bytes=SMALL_CAP)


@pytest.fixture
def default_policy() -> IngestSettings:
    """The default address policy (no private addresses), with a small size cap."""
    return IngestSettings(timeout=5, max_bytes=SMALL_CAP)


@dataclass
class FakeInternet:
    """Name look-ups answered from a table; connections to its public addresses go local."""

    port: int
    answers: dict[str, list[list[str]]]  # host -> successive answers (the last one repeats)
    lookups: list[str] = field(default_factory=list)
    connections: list[tuple[str, int]] = field(default_factory=list)


# Public addresses that stand for web servers; never contacted (see the fixture).
PUBLIC_A = "93.184.216.34"


@pytest.fixture
def fake_internet(monkeypatch: pytest.MonkeyPatch, local_server: LocalServer) -> FakeInternet:
    """Simulate DNS and routing so that a "public" host name leads to the local server.

    ``socket.getaddrinfo`` answers from ``answers`` (literal IPs and ``localhost`` resolve as
    usual; any other name fails, so no DNS query leaves the machine); ``socket.create_connection``
    to ``PUBLIC_A`` goes to 127.0.0.1, to a loopback address as asked, and anywhere else fails.
    """
    internet = FakeInternet(
        port=local_server.port,
        answers={
            "news.example.com": [[PUBLIC_A]],
            "intranet.example.com": [["10.0.0.7"]],
            "mixed.example.com": [[PUBLIC_A, "192.168.1.20"]],
            "metadata.example.com": [["169.254.169.254"]],
            "rebind.example.com": [[PUBLIC_A], ["127.0.0.1"]],
        },
    )
    real_getaddrinfo = socket.getaddrinfo
    real_create_connection = socket.create_connection

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        internet.lookups.append(name)
        if name in internet.answers:
            queue = internet.answers[name]
            answer = queue.pop(0) if len(queue) > 1 else queue[0]
            return [
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port)))
                for address in answer
            ]
        if name == "localhost" or _is_ip(name):
            return real_getaddrinfo(host, port, *args, **kwargs)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        host, port = address[0], address[1]
        internet.connections.append((host, port))
        if host == PUBLIC_A:
            return real_create_connection(("127.0.0.1", port), *args, **kwargs)
        if host in ("127.0.0.1", "::1"):
            return real_create_connection(address, *args, **kwargs)
        raise OSError(f"test network: no route to {host}")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    return internet


def _is_ip(name: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------------------------
# PDFs
# --------------------------------------------------------------------------------------------


def make_pdf(
    pages: list[list[str]], *, title: str | None = None, author: str | None = None
) -> bytes:
    """A small, valid PDF: one text line per string, Helvetica, with an Info dictionary."""

    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    objects: list[bytes] = []  # object n is objects[n - 1]
    page_ids = [4 + 2 * i for i in range(len(pages))]
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = " ".join(f"{pid} 0 R" for pid in page_ids)
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for lines in pages:
        ops = ["BT", "/F1 11 Tf", "14 TL", "72 720 Td"]
        for line in lines:
            ops.append(f"({escape(line)}) Tj T*")
        ops.append("ET")
        stream = zlib.compress("\n".join(ops).encode("latin-1"))
        page_id = 4 + len(objects) - 3
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {page_id + 1} 0 R >>".encode()
        )
        objects.append(
            f"<< /Length {len(stream)} /Filter /FlateDecode >>\nstream\n".encode()
            + stream
            + b"\nendstream"
        )
    info_entries = []
    if title is not None:
        info_entries.append(f"/Title ({escape(title)})")
    if author is not None:
        info_entries.append(f"/Author ({escape(author)})")
    info_entries.append("/CreationDate (D:20240315083000Z)")
    objects.append(f"<< {' '.join(info_entries)} >>".encode())
    info_id = len(objects)

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info {info_id} 0 R >>\n"
        f"startxref\n{xref}\n%%EOF\n"
    ).encode()
    return bytes(out)


@pytest.fixture
def pdf_factory() -> Callable[..., bytes]:
    return make_pdf
