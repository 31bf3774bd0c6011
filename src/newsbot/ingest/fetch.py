"""Safe HTTP fetching of article URLs.

Every hop of a fetch (the URL itself and each redirect) is resolved here, every resolved address
is checked (no loopback, private, link-local, multicast, reserved... unless allowed), and the
connection then goes to the very address that was checked: the request URL carries the checked
IP while the ``Host`` header and the TLS server name (``sni_hostname`` request extension, also used
for certificate verification) keep the original host name. A DNS answer that changes between the
check and the connection (DNS rebinding) therefore cannot redirect the fetch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import email.message
import ipaddress
import posixpath
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import httpx

from newsbot.config import IngestSettings
from newsbot.errors import BlockedAddressError, FetchError
from newsbot.redact import without_credentials

ALLOWED_CONTENT_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "application/pdf",
        "text/plain",
        "text/markdown",
        "text/x-markdown",
    }
)
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_ALLOWED_SCHEMES = ("http", "https")
_NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")


@dataclass(frozen=True)
class Fetched:
    """A downloaded resource.

    Attributes:
        url: the final URL, after redirects.
        content: the body (decoded from any ``Content-Encoding``), at most ``max_bytes`` long.
        content_type: the media type only, lowercased (``"text/html"``), or None when the server
            sent none.
        filename: from ``Content-Disposition``, else the last segment of the URL path, if any.
        status: the HTTP status: 200, or 304 for a conditional request whose resource has not
            changed (then ``content`` is empty).
        etag: the ``ETag`` response header, for the next conditional request.
        last_modified: the ``Last-Modified`` response header, likewise.
        charset: the ``charset`` of the ``Content-Type`` header, if any (``"iso-8859-1"``).
    """

    url: str
    content: bytes
    content_type: str | None
    filename: str | None
    status: int = 200
    etag: str | None = None
    last_modified: str | None = None
    charset: str | None = None

    @property
    def not_modified(self) -> bool:
        """The server answered 304 Not Modified to a conditional request."""
        return self.status == 304


def is_blocked_address(address: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether newsbot refuses to connect to this IP address.

    Anything that is not globally routable is refused: loopback, private, shared (CGNAT),
    link-local, multicast, reserved, unspecified and documentation ranges, in IPv4 and IPv6, and
    IPv6 forms that embed such an IPv4 address (IPv4-mapped, 6to4, NAT64).

    Args:
        address: an IP address, as text (an IPv6 zone suffix such as ``%eth0`` is allowed) or an
            ``ipaddress`` object.
    """
    if isinstance(address, str):
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return True  # not an address we understand: refuse rather than guess
    else:
        ip = address
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64_PREFIX:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None and is_blocked_address(embedded):
            return True
    # ``is_global`` alone lets multicast through (224.0.0.0/4 is not "private"), hence the rest.
    return (
        not ip.is_global
        or ip.is_multicast
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_unspecified
    )


def resolve_checked(host: str, port: int, *, allow_private: bool) -> list[str]:
    """Resolve ``host`` and check every address it resolves to.

    Returns:
        The addresses to connect to, in resolver order, without duplicates.

    Raises:
        BlockedAddressError: an address is not globally routable and ``allow_private`` is False.
            One bad address refuses the host: which one a later lookup returns is not ours to
            choose.
        FetchError: the host does not resolve.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError) as error:
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
        raise FetchError(f"cannot resolve host {host}: {reason}") from None
    addresses: list[str] = []
    for _family, _type, _proto, _canonname, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise FetchError(f"cannot resolve host {host}: no addresses")
    if not allow_private:
        for address in addresses:
            if is_blocked_address(address):
                raise BlockedAddressError(
                    f"refusing to fetch from {host}: it resolves to {address}, "
                    "a private, loopback or otherwise non-public address"
                )
    return addresses


def fetch_url(
    url: str,
    settings: IngestSettings,
    *,
    headers: Mapping[str, str] | None = None,
    accept_types: frozenset[str] | None = None,
) -> Fetched:
    """Download ``url`` safely.

    Redirects are followed by hand (at most ``settings.max_redirects``) so that each hop's
    scheme and addresses are checked before connecting.

    Args:
        url: an http or https URL.
        settings: address policy, timeout, size cap, User-Agent.
        headers: extra request headers. With ``If-None-Match`` or ``If-Modified-Since`` among
            them, a 304 answer is returned as a :class:`Fetched` whose ``not_modified`` is True.
        accept_types: the media types accepted instead of :data:`ALLOWED_CONTENT_TYPES` (feeds:
            ``application/rss+xml``...); they also make the ``Accept`` header.

    Raises:
        BlockedAddressError: a hop resolves to a non-public address (unless
            ``settings.allow_private_urls``).
        FetchError: bad scheme or URL, network error, timeout, HTTP error status, too many
            redirects, a body larger than ``settings.max_bytes``, or a content type that is not
            an article (HTML, XHTML, PDF, plain text, Markdown).
    """
    try:
        fetched = _fetch(url, settings, headers=headers, accept_types=accept_types)
    except FetchError as error:
        message = str(error)
        cleaned = without_credentials(message)
        if cleaned != message:  # a password in a URL (or a redirect's) never reaches a message
            raise type(error)(cleaned) from None
        raise
    return dataclasses.replace(fetched, url=without_credentials(fetched.url))


def _fetch(
    url: str,
    settings: IngestSettings,
    *,
    headers: Mapping[str, str] | None = None,
    accept_types: frozenset[str] | None = None,
) -> Fetched:
    """See :func:`fetch_url`."""
    current = _parse_url(url)
    deadline = time.monotonic() + settings.total_timeout
    timeout = httpx.Timeout(settings.timeout)
    allowed = ALLOWED_CONTENT_TYPES if accept_types is None else accept_types
    accept = _ACCEPT if accept_types is None else ",".join([*sorted(accept_types), "*/*;q=0.1"])
    extra = dict(headers or {})
    conditional = any(name.lower() in ("if-none-match", "if-modified-since") for name in extra)
    request_headers = {"User-Agent": settings.user_agent, "Accept": accept, **extra}
    redirects = 0
    # trust_env=False: no proxy from the environment, which would resolve names itself.
    with (
        httpx.Client(timeout=timeout, trust_env=False, follow_redirects=False) as client,
        _Watchdog(deadline) as watchdog,
    ):
        try:
            while True:
                _check_deadline(deadline, url, settings)
                with _open(client, current, request_headers, settings, watchdog) as response:
                    location = response.headers.get("location")
                    if response.status_code in _REDIRECT_STATUSES and location:
                        redirects += 1
                        if redirects > settings.max_redirects:
                            raise FetchError(
                                f"too many redirects (more than {settings.max_redirects}) "
                                f"fetching {url}"
                            )
                        try:
                            target = current.join(location)
                        except (httpx.InvalidURL, ValueError):
                            raise FetchError(f"invalid redirect from {current}") from None
                        current = _check_scheme(target, original=url)
                        continue
                    if response.status_code == 304 and conditional:
                        return Fetched(
                            url=str(current),
                            content=b"",
                            content_type=None,
                            filename=None,
                            status=304,
                            etag=response.headers.get("etag"),
                            last_modified=response.headers.get("last-modified"),
                        )
                    if response.status_code >= 300:
                        reason = response.reason_phrase or ""
                        raise FetchError(
                            f"HTTP {response.status_code} {reason}".rstrip() + f" for {current}"
                        )
                    content_type = _media_type(response.headers.get("content-type"))
                    if content_type is not None and content_type not in allowed:
                        expected = (
                            "HTML, PDF, plain text or Markdown"
                            if accept_types is None
                            else ", ".join(sorted(accept_types))
                        )
                        raise FetchError(
                            f"unsupported content type {content_type} at {current} "
                            f"(expected {expected})"
                        )
                    content = _read_capped(response, current, settings, watchdog)
                    return Fetched(
                        charset=_charset(response.headers.get("content-type")),
                        url=str(current),
                        content=content,
                        content_type=content_type,
                        filename=_filename(response.headers.get("content-disposition"), current),
                        status=response.status_code,
                        etag=response.headers.get("etag"),
                        last_modified=response.headers.get("last-modified"),
                    )

        except FetchError:
            if watchdog.fired:  # the connection it cut surfaced as a network error
                raise _too_long(url, settings) from None
            raise


_ACCEPT = (
    "text/html,application/xhtml+xml,application/pdf;q=0.9,"
    "text/plain;q=0.8,text/markdown;q=0.8,*/*;q=0.1"
)


def _parse_url(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, TypeError, ValueError):
        raise FetchError(f"invalid URL: {url}") from None
    return _check_scheme(parsed, original=url)


def _check_scheme(parsed: httpx.URL, *, original: str) -> httpx.URL:
    if parsed.scheme not in _ALLOWED_SCHEMES:
        shown = parsed.scheme or "no scheme"
        raise FetchError(f"only http and https URLs can be fetched ({shown}: {original})")
    if not parsed.host:
        raise FetchError(f"invalid URL (no host): {original}")
    return parsed


@contextlib.contextmanager
def _open(
    client: httpx.Client,
    url: httpx.URL,
    headers: dict[str, str],
    settings: IngestSettings,
    watchdog: _Watchdog,
) -> Iterator[httpx.Response]:
    """Send one GET to ``url``, connected to a checked address; yields the streaming response."""
    host = url.raw_host.decode("ascii")
    port = url.port or (443 if url.scheme == "https" else 80)
    addresses = resolve_checked(host, port, allow_private=settings.allow_private_urls)
    # The Host header httpx would send for the real URL (name and explicit port).
    host_header = httpx.Request("GET", url).headers["Host"]
    extensions: dict[str, Any] = {"trace": watchdog.trace}
    if url.scheme == "https":
        extensions["sni_hostname"] = host
    response: httpx.Response | None = None
    last_error: httpx.ConnectError | None = None
    for address in addresses:
        pinned = url.copy_with(host=address.split("%", 1)[0])
        request = client.build_request(
            "GET", pinned, headers={**headers, "Host": host_header}, extensions=extensions
        )
        try:
            response = client.send(request, stream=True)
        except httpx.ConnectError as error:  # try the host's next address
            last_error = error
            continue
        except httpx.TimeoutException:
            raise FetchError(f"timed out after {settings.timeout:g} s fetching {url}") from None
        except httpx.HTTPError as error:
            raise FetchError(f"network error fetching {url}: {_reason(error)}") from None
        break
    if response is None:
        raise FetchError(f"cannot connect to {host} fetching {url}: {_reason(last_error)}")
    try:
        yield response
    finally:
        response.close()


def _check_deadline(deadline: float, url: object, settings: IngestSettings) -> None:
    if time.monotonic() > deadline:
        raise _too_long(url, settings)


def _too_long(url: object, settings: IngestSettings) -> FetchError:
    return FetchError(
        f"took longer than {settings.total_timeout:g} s fetching {url} (ingest.total_timeout)"
    )


class _Watchdog:
    """Cuts a fetch's connections at its deadline.

    httpx's timeout bounds each wait for data, and the deadline checks between reads of the
    body cannot run while httpx reads the status line and headers: a server that sends them a
    byte at a time would hold the fetch for as long as it liked. Shutting the socket down from
    a timer makes the blocked read return at once (httpx then raises a network error, which
    :func:`fetch_url` reports as the total timeout).
    """

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.fired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._fire)
        self._timer.daemon = True

    def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpx's ``trace`` request extension: note each new connection's socket."""
        if event != "connection.connect_tcp.complete":
            return
        sock = info["return_value"].get_extra_info("socket")
        if sock is not None:
            with self._lock:
                self._sockets.append(sock)
                if self.fired:  # connected just as the deadline passed
                    _shut(sock)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            for sock in self._sockets:
                _shut(sock)

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)


def _read_capped(
    response: httpx.Response, url: httpx.URL, settings: IngestSettings, watchdog: _Watchdog
) -> bytes:
    limit = settings.max_bytes
    declared = response.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise FetchError(f"too large: {url} is {int(declared):,} bytes (the limit is {limit:,})")
    body = bytearray()
    try:
        # As the data arrives (a chunk size would wait for it to fill), so the size cap and
        # the deadline are checked after every read.
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > limit:
                raise FetchError(f"too large: {url} is over the limit of {limit:,} bytes")
            _check_deadline(watchdog.deadline, url, settings)
    except httpx.TimeoutException:
        raise FetchError(f"timed out after {settings.timeout:g} s fetching {url}") from None
    except httpx.HTTPError as error:
        raise FetchError(f"network error fetching {url}: {_reason(error)}") from None
    if watchdog.fired:  # a body without a length reads as complete when its socket is cut
        raise _too_long(url, settings)
    return bytes(body)


def _media_type(header: str | None) -> str | None:
    if not header:
        return None
    media_type = header.split(";", 1)[0].strip().lower()
    return media_type or None


def _charset(header: str | None) -> str | None:
    if not header:
        return None
    message = email.message.Message()
    message["content-type"] = header
    charset = message.get_content_charset()
    return charset.strip() or None if charset else None


def _filename(disposition: str | None, url: httpx.URL) -> str | None:
    if disposition:
        message = email.message.Message()
        message["content-disposition"] = disposition
        try:
            name = message.get_filename()
        except (ValueError, LookupError):
            name = None
        if name:
            name = posixpath.basename(name.replace("\\", "/")).strip()
            if name:
                return name
    segment = posixpath.basename(unquote(url.path))
    return segment or None


def _reason(error: BaseException | None) -> str:
    if error is None:
        return "no address to connect to"
    text = " ".join(str(error).split())
    return text or type(error).__name__
