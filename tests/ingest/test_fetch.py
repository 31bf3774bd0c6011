"""The safe URL fetcher, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import re
import time
from urllib.parse import quote

import pytest

from newsbot.config import IngestSettings
from newsbot.errors import BlockedAddressError, FetchError
from newsbot.ingest.fetch import fetch_url, is_blocked_address, resolve_checked

from .conftest import ARTICLE_HTML, PUBLIC_A, SMALL_CAP, FakeInternet, LocalServer

# -- the address checker ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "100.64.0.1",  # shared address space (carrier-grade NAT)
        "169.254.169.254",  # cloud metadata
        "0.0.0.0",
        "224.0.0.1",  # multicast
        "239.255.255.250",
        "240.0.0.1",  # reserved
        "255.255.255.255",
        "192.0.2.10",  # documentation
        "::1",
        "::",
        "fe80::1",
        "fe80::1%eth0",
        "fc00::1",
        "fd12:3456::1",
        "ff02::1",  # multicast
        "::ffff:127.0.0.1",  # IPv4-mapped loopback
        "::ffff:10.1.2.3",
        "::ffff:169.254.169.254",
        "2002:7f00:1::",  # 6to4 wrapping 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "2001:db8::1",  # documentation
        "not an address",
    ],
)
def test_non_public_addresses_are_blocked(address: str) -> None:
    assert is_blocked_address(address)


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450::1"]
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert not is_blocked_address(address)


def test_resolve_checked_refuses_a_host_if_any_address_is_private(
    fake_internet: FakeInternet,
) -> None:
    with pytest.raises(BlockedAddressError, match=r"192\.168\.1\.20"):
        resolve_checked("mixed.example.com", 80, allow_private=False)
    assert resolve_checked("mixed.example.com", 80, allow_private=True) == [
        PUBLIC_A,
        "192.168.1.20",
    ]


# -- allowed fetches -------------------------------------------------------------------------


def test_fetches_a_page_when_private_urls_are_allowed(
    local_server: LocalServer, private_ok: IngestSettings
) -> None:
    fetched = fetch_url(local_server.url("/article.html"), private_ok)
    assert fetched.content == ARTICLE_HTML
    assert fetched.content_type == "text/html"
    assert fetched.url == local_server.url("/article.html")
    assert fetched.filename == "article.html"
    assert local_server.seen[0].headers["user-agent"] == private_ok.user_agent


def test_filename_from_content_disposition(
    local_server: LocalServer, private_ok: IngestSettings
) -> None:
    fetched = fetch_url(local_server.url("/report"), private_ok)
    assert fetched.content_type == "application/pdf"
    assert fetched.filename == "annual report.pdf"


def test_missing_content_type_is_left_to_sniffing(
    local_server: LocalServer, private_ok: IngestSettings
) -> None:
    fetched = fetch_url(local_server.url("/untyped"), private_ok)
    assert fetched.content_type is None
    assert fetched.content.startswith(b"Untyped title")


def test_redirect_chain_within_the_limit(
    local_server: LocalServer, private_ok: IngestSettings
) -> None:
    settings = private_ok.model_copy(update={"max_redirects": 3})
    fetched = fetch_url(local_server.url("/redirect/2"), settings)  # exactly 3 redirects
    assert fetched.url == local_server.url("/article.html")
    assert fetched.content == ARTICLE_HTML
    assert [seen.path for seen in local_server.seen] == [
        "/redirect/2",
        "/redirect/1",
        "/redirect/0",
        "/article.html",
    ]


def test_too_many_redirects(local_server: LocalServer, private_ok: IngestSettings) -> None:
    settings = private_ok.model_copy(update={"max_redirects": 2})
    with pytest.raises(FetchError, match=r"too many redirects \(more than 2\)"):
        fetch_url(local_server.url("/redirect/3"), settings)
    with pytest.raises(FetchError, match="too many redirects"):
        fetch_url(local_server.url("/loop"), settings)
    assert len(local_server.seen) == 3 + 3  # each stops after the third response


# -- refused by the address policy -----------------------------------------------------------


def test_loopback_is_refused_by_default(
    local_server: LocalServer, default_policy: IngestSettings
) -> None:
    for url in (
        local_server.url("/article.html"),
        local_server.url("/article.html", host="localhost"),
        local_server.url("/article.html", host="[::ffff:127.0.0.1]"),
        local_server.url("/article.html", host="2130706433"),  # 127.0.0.1 as one number
        local_server.url("/article.html", host="0x7f.1"),
    ):
        with pytest.raises(BlockedAddressError, match="refusing to fetch"):
            fetch_url(url, default_policy)
    assert local_server.seen == []  # refused before connecting


def test_redirect_from_an_allowed_to_a_refused_host(
    fake_internet: FakeInternet, local_server: LocalServer, default_policy: IngestSettings
) -> None:
    for target in (
        f"http://intranet.example.com:{fake_internet.port}/article.html",
        f"http://metadata.example.com:{fake_internet.port}/latest/meta-data/",
        f"http://127.0.0.1:{fake_internet.port}/article.html",
    ):
        start = f"http://news.example.com:{fake_internet.port}/to?url={quote(target)}"
        with pytest.raises(BlockedAddressError):
            fetch_url(start, default_policy)
    # Only the public first hop was ever contacted.
    assert [seen.path.split("?")[0] for seen in local_server.seen] == ["/to"] * 3
    assert {host for host, _ in fake_internet.connections} == {PUBLIC_A}


def test_connects_to_the_checked_address_with_the_original_host_header(
    fake_internet: FakeInternet, local_server: LocalServer, default_policy: IngestSettings
) -> None:
    # rebind.example.com answers a public address first, then 127.0.0.1: the fetch must use
    # the answer it checked, and look the name up only once.
    url = f"http://rebind.example.com:{fake_internet.port}/echo"
    fetched = fetch_url(url, default_policy)
    assert fake_internet.lookups.count("rebind.example.com") == 1
    assert fake_internet.connections == [(PUBLIC_A, fake_internet.port)]
    assert local_server.seen[0].headers["host"] == f"rebind.example.com:{fake_internet.port}"
    assert fetched.url == url
    assert f"Host: rebind.example.com:{fake_internet.port}" in fetched.content.decode()


def test_relative_redirects_resolve_against_the_host_name(
    fake_internet: FakeInternet, local_server: LocalServer, default_policy: IngestSettings
) -> None:
    fetched = fetch_url(f"http://news.example.com:{fake_internet.port}/redirect/1", default_policy)
    assert fetched.url == f"http://news.example.com:{fake_internet.port}/article.html"
    assert fake_internet.lookups.count("news.example.com") == 3  # one check per hop
    assert {seen.headers["host"] for seen in local_server.seen} == {
        f"news.example.com:{fake_internet.port}"
    }


def test_unresolvable_host(fake_internet: FakeInternet, default_policy: IngestSettings) -> None:
    with pytest.raises(FetchError, match=r"cannot resolve host no-such-host\.example") as info:
        fetch_url("https://no-such-host.example/story", default_policy)
    assert not isinstance(info.value, BlockedAddressError)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/file.txt",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "gopher://127.0.0.1:70/",
        "example.com/no-scheme",
    ],
)
def test_non_http_schemes_are_refused(url: str, default_policy: IngestSettings) -> None:
    with pytest.raises(FetchError, match="only http and https") as info:
        fetch_url(url, default_policy)
    assert "\n" not in str(info.value)


def test_redirect_to_a_non_http_scheme_is_refused(
    local_server: LocalServer, private_ok: IngestSettings
) -> None:
    url = local_server.url("/to?url=" + quote("file:///etc/passwd"))
    with pytest.raises(FetchError, match="only http and https"):
        fetch_url(url, private_ok)


# -- size, type, errors, timeouts ------------------------------------------------------------


def test_oversize_by_content_length_is_refused_early(
    local_server: LocalServer, private_ok: IngestSettings
) -> None:
    with pytest.raises(FetchError, match=rf"too large: .* is {SMALL_CAP * 10:,} bytes"):
        fetch_url(local_server.url("/big-declared"), private_ok)


def test_oversize_stream_without_content_length_is_cut(
    local_server: LocalServer, private_ok: IngestSettings
) -> None:
    with pytest.raises(FetchError, match=rf"too large: .* over the limit of {SMALL_CAP:,} bytes"):
        fetch_url(local_server.url("/big-stream"), private_ok)


def test_gzip_bomb_is_cut_at_the_cap_on_decoded_bytes(
    local_server: LocalServer, private_ok: IngestSettings
) -> None:
    # The declared length (the compressed size) is under the cap; the decoded body is not.
    with pytest.raises(FetchError, match=rf"too large: .* over the limit of {SMALL_CAP:,} bytes"):
        fetch_url(local_server.url("/gzip-bomb"), private_ok)


def test_disallowed_content_type(local_server: LocalServer, private_ok: IngestSettings) -> None:
    with pytest.raises(FetchError, match="unsupported content type image/png"):
        fetch_url(local_server.url("/image.png"), private_ok)


@pytest.mark.parametrize(
    ("path", "message"), [("/missing", "HTTP 404 Not Found"), ("/error", "HTTP 500")]
)
def test_http_errors(
    local_server: LocalServer, private_ok: IngestSettings, path: str, message: str
) -> None:
    url = local_server.url(path)
    with pytest.raises(FetchError) as info:
        fetch_url(url, private_ok)
    assert str(info.value).startswith(message)
    assert str(info.value).endswith(f"for {url}")


def test_read_timeout(local_server: LocalServer) -> None:
    settings = IngestSettings(allow_private_urls=True, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"^timed out after 0\.3 s fetching http://127"):
        fetch_url(local_server.url("/slow"), settings)
    assert time.monotonic() - started < 1.5


def test_a_body_sent_slowly_is_cut_off_at_the_total_timeout(local_server: LocalServer) -> None:
    # Each read returns within `timeout`, so only the whole fetch's deadline stops it (seen:
    # 29 bytes a second held an ingest for as long as the server kept sending).
    settings = IngestSettings(allow_private_urls=True, timeout=0.5, total_timeout=1)
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"^took longer than 1 s fetching http://127.*/drip"):
        fetch_url(local_server.url("/drip"), settings)
    assert time.monotonic() - started < 3


def test_headers_sent_slowly_are_cut_off_at_the_total_timeout(local_server: LocalServer) -> None:
    # httpx reads the status line and headers in one call that no check between reads can
    # interrupt: before the watchdog this fetch took the server's whole 13 s.
    settings = IngestSettings(allow_private_urls=True, timeout=0.5, total_timeout=1)
    started = time.monotonic()
    with pytest.raises(
        FetchError, match=r"^took longer than 1 s fetching http://127.*/drip-headers"
    ):
        fetch_url(local_server.url("/drip-headers"), settings)
    assert time.monotonic() - started < 3


def test_the_declared_charset_is_kept(
    local_server: LocalServer, private_ok: IngestSettings
) -> None:
    fetched = fetch_url(local_server.url("/latin1.html"), private_ok)
    assert fetched.charset == "iso-8859-1" and fetched.content_type == "text/html"


def test_credentials_in_a_url_are_sent_but_never_kept_or_shown(
    local_server: LocalServer, private_ok: IngestSettings
) -> None:
    with_credentials = local_server.url("/echo").replace("http://", "http://alice:s3cret@")
    fetched = fetch_url(with_credentials, private_ok)
    assert "authorization: basic" in fetched.content.decode().lower()  # the server got them
    assert fetched.url == local_server.url("/echo")  # the stored address has none
    # In errors too: as given, as httpx re-encodes it ("p%40ss"), and a redirect's own.
    redirect = local_server.url("/to?url=") + local_server.url("/missing").replace(
        "http://", "http://other:t0ken@"
    )
    for bad in (
        local_server.url("/missing").replace("http://", "http://alice:s3cret@"),
        local_server.url("/missing").replace("http://", "http://alice:p@ss w0rd@"),
        redirect,
        "http://alice:s3cret@[::1/x",
    ):
        with pytest.raises(FetchError) as raised:
            fetch_url(bad, private_ok)
        message = str(raised.value)
        assert not {"s3cret", "alice", "ss%20w0rd", "w0rd", "t0ken"} & set(
            re.split(r"[^\w%]+", message)
        ), message
        assert "s3cret" not in message and "t0ken" not in message and "w0rd" not in message


def test_connection_refused(private_ok: IngestSettings) -> None:
    import socket

    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FetchError, match=r"cannot connect to 127\.0\.0\.1 fetching") as info:
        fetch_url(f"http://127.0.0.1:{port}/", private_ok)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("https://alice:s3cret@news.example/a", "https://news.example/a"),
        (
            "failed: http://a:b@h:8080/x, then //u:p@server",
            "failed: http://h:8080/x, then //server",
        ),
        # An @ inside the user part: nothing of it is left.
        ("http://alice@home:s3cret@host/x?q=1", "http://host/x?q=1"),
        ("HTTP://U:P@H/", "HTTP://H/"),
        (
            "an address to follow: http://h/?next=//u:p@evil",
            "an address to follow: http://h/?next=//evil",
        ),
        ("mail alice@example.org about it", "mail alice@example.org about it"),
    ],
)
def test_credentials_are_removed_from_addresses_and_messages(text: str, shown: str) -> None:
    from newsbot.redact import without_credentials

    assert without_credentials(text) == shown
