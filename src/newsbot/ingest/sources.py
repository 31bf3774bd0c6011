"""Sources of articles: a URL, a file, or a JSON Lines file of many articles.

:func:`iter_articles` yields ``(origin, Article | IngestError)`` pairs: a bad source, or a bad
line of a JSON Lines file, is reported and the rest carries on. Only :class:`IngestError`
(and subclasses) come out of here; library exceptions are wrapped with a readable message.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import logging
import os
import re
import zlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from newsbot.config import IngestSettings
from newsbot.errors import IngestError
from newsbot.ingest.dates import normalise_date
from newsbot.ingest.extract import article_from_bytes, article_from_text
from newsbot.ingest.fetch import fetch_url
from newsbot.models import Article
from newsbot.redact import without_credentials
from newsbot.text import valid_unicode

_log = logging.getLogger(__name__)
_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")
_READ_CHUNK = 1024 * 1024
_Binary = gzip.GzipFile | io.BufferedReader


def is_url(source: str) -> bool:
    """Whether ``source`` is a URL (``scheme://...``) rather than a file path.

    Any scheme counts, so that ``ftp://...`` gets a clear "only http and https" error from the
    fetcher instead of "no such file".
    """
    return bool(_URL_SCHEME.match(source.strip()))


def is_jsonl_name(name: str) -> bool:
    """Whether a file name is that of a JSON Lines dump (``.jsonl``, ``.ndjson``, gzipped too)."""
    return name.lower().endswith(_JSONL_SUFFIXES)


def iter_articles(
    source: str, settings: IngestSettings, *, max_expanded: int | None = None
) -> Iterator[tuple[str, Article | IngestError]]:
    """Yield the articles of a source, each with where it came from.

    Args:
        source: an http(s) URL; a ``.jsonl`` / ``.jsonl.gz`` file of articles (one JSON object
            per line with ``text`` and optional ``title``, ``url``, ``published``, ``source``,
            ``author``, ``id``, ``added_at``, ``added_by``); or an HTML, PDF, text or Markdown file.
        settings: fetch and size limits.
        max_expanded: refuse a gzipped JSON Lines file that expands past this many bytes (an
            upload: a few kilobytes of gzip can hold a gigabyte of blank lines, each one read).

    Yields:
        ``(origin, article_or_error)``: the origin is ``source`` as given (a URL without its
        ``user:password@``: origins are shown to people), or ``"source:LINE"`` (1-based) for a
        line of a JSON Lines file. Errors are yielded, not raised.
    """
    url = is_url(source)
    shown = without_credentials(source) if url else source
    try:
        if url:
            yield shown, _from_url(source, settings)
            return
        path = Path(source).expanduser()
        if is_jsonl_name(path.name):
            yield from _from_jsonl(source, path, settings, max_expanded)
            return
        yield source, _from_file(source, path, settings)
    except IngestError as error:
        yield shown, error
    except Exception as error:  # the caller reports errors; it must never see a traceback
        _log.exception("unexpected error reading %s", shown)
        yield shown, IngestError(f"cannot read {shown}: unexpected {type(error).__name__}")


def _from_url(url: str, settings: IngestSettings) -> Article:
    fetched = fetch_url(url, settings)
    return article_from_bytes(
        fetched.content,
        name=fetched.filename,
        content_type=fetched.content_type,
        url=fetched.url,
        charset=fetched.charset,
    )


def _from_file(source: str, path: Path, settings: IngestSettings) -> Article:
    size = _checked_size(source, path)
    if size > settings.max_bytes:
        raise IngestError(
            f"cannot read {source}: the file is too large "
            f"({size:,} bytes, the limit is {settings.max_bytes:,})"
        )
    try:
        with path.open("rb") as file:
            data = file.read(settings.max_bytes + 1)
    except OSError as error:
        raise IngestError(f"cannot read {source}: {_os_reason(error)}") from None
    if len(data) > settings.max_bytes:  # it grew since stat()
        raise IngestError(f"cannot read {source}: the file is too large")
    if not data.strip():
        raise IngestError(f"no text in {source}: the file is empty")
    return article_from_bytes(data, name=path.name)


def _checked_size(source: str, path: Path) -> int:
    try:
        stat = path.stat()
    except OSError as error:
        raise IngestError(f"cannot read {source}: {_os_reason(error)}") from None
    if path.is_dir():
        raise IngestError(f"cannot read {source}: it is a directory")
    if not path.is_file():
        raise IngestError(f"cannot read {source}: not a regular file")
    if not os.access(path, os.R_OK):
        raise IngestError(f"cannot read {source}: permission denied")
    return stat.st_size


def _os_reason(error: OSError) -> str:
    if isinstance(error, FileNotFoundError):
        return "no such file"
    if isinstance(error, PermissionError):
        return "permission denied"
    if isinstance(error, IsADirectoryError):
        return "it is a directory"
    return (error.strerror or type(error).__name__).lower()


# --------------------------------------------------------------------------------------------
# JSON Lines
# --------------------------------------------------------------------------------------------


def _from_jsonl(
    source: str, path: Path, settings: IngestSettings, max_expanded: int | None
) -> Iterator[tuple[str, Article | IngestError]]:
    _checked_size(source, path)
    try:
        raw = _open_binary(path)
    except OSError as error:
        raise IngestError(f"cannot read {source}: {_os_reason(error)}") from None
    if isinstance(raw, gzip.GzipFile):
        _check_gzip(source, raw, max_expanded)
    with raw:
        try:
            for number, line in _lines(raw, settings.max_bytes):
                origin = f"{source}:{number}"
                if line is None:
                    yield (
                        origin,
                        IngestError(
                            f"line {number} is too long (over {settings.max_bytes:,} bytes)"
                        ),
                    )
                    continue
                if not line.strip():
                    continue
                try:
                    yield origin, _article_from_record(line, number)
                except IngestError as error:
                    yield origin, error
        except (OSError, EOFError, zlib.error) as error:
            # A truncated or corrupt gzip stream, or a read error, ends the file.
            reason = " ".join(str(error).split()) or type(error).__name__
            raise IngestError(f"cannot read {source}: {reason}") from None


def _check_gzip(source: str, raw: gzip.GzipFile, max_expanded: int | None) -> None:
    """Read a gzip file through before any of it is used, then rewind.

    gzip checks its data only at the end: a damaged file (flipped bytes, not a cut one) yields
    garbled lines first, which would replace good articles of the same ids. A file cut short
    is different: every line before the cut is whole, and is imported. A file that expands
    past ``max_expanded`` bytes is refused as it is read.
    """
    expanded = 0
    try:
        while chunk := raw.read(_READ_CHUNK):
            expanded += len(chunk)
            if max_expanded is not None and expanded > max_expanded:
                raw.close()
                raise IngestError(
                    f"cannot read {source}: more than {max_expanded / 1e6:.0f} MB uncompressed, "
                    "the limit for an uploaded dump (import it with newsbot import)"
                )
    except EOFError:
        pass  # cut short: the lines read before the cut are sound
    except (OSError, zlib.error) as error:
        raw.close()
        reason = " ".join(str(error).split()) or type(error).__name__
        raise IngestError(
            f"cannot read {source}: it is damaged ({reason}); nothing imported"
        ) from None
    raw.seek(0)


def _open_binary(path: Path) -> _Binary:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rb")  # closed by the caller's with block
    return path.open("rb")


def _lines(raw: _Binary, limit: int) -> Iterator[tuple[int, bytes | None]]:
    """Yield ``(line number, line)``; a line longer than ``limit`` comes as None, unread."""
    number = 0
    while True:
        line = raw.readline(limit + 1)
        if not line:
            return
        number += 1
        if len(line) > limit and not line.endswith(b"\n"):
            while True:  # skip the rest of the oversized line
                rest = raw.readline(_READ_CHUNK)
                if not rest or rest.endswith(b"\n"):
                    break
            yield number, None
            continue
        yield number, line


def _article_from_record(line: bytes, number: int) -> Article:
    try:
        record = json.loads(line)
    except UnicodeDecodeError:
        raise IngestError(f"line {number} is not valid UTF-8") from None
    except json.JSONDecodeError as error:
        raise IngestError(f"line {number} is not valid JSON ({error.msg})") from None
    if not isinstance(record, dict):
        raise IngestError(f"line {number} is not a JSON object")
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise IngestError(f"line {number} has no text")
    url = _field(record, "url")
    if url is not None:
        try:
            urlsplit(url).port  # noqa: B018 (raises on a port out of range, a broken [IPv6])
        except ValueError:
            raise IngestError(
                f"line {number}: url is not a valid address: {without_credentials(url)}"
            ) from None
        url = without_credentials(url)  # stored and shown to every user
    article = article_from_text(
        text,
        title=_field(record, "title"),
        url=url,
        outlet=_field(record, "source"),
        published=normalise_date(_field(record, "published")),
        author=_field(record, "author"),
        article_id=_field(record, "id"),
    )
    # Provenance from `newsbot export`, so an import keeps when and by whom articles were added.
    added_at = _field(record, "added_at")
    if added_at is not None:
        try:
            moment = dt.datetime.fromisoformat(added_at)
        except ValueError:
            raise IngestError(f"line {number}: added_at is not an ISO 8601 date-time") from None
        # Stored in UTC, the form newsbot writes, so that articles sort by when they were
        # added ("T10:00+09:00" is before "T05:00+00:00"); a time without a zone is UTC.
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        added_at = moment.astimezone(dt.UTC).isoformat()
    return replace(
        article,
        added_at=added_at,
        added_by=_field(record, "added_by"),
        addressed=record.get("addressed") is not False,
    )


def _field(record: dict[str, Any], key: str) -> str | None:
    value = record.get(key)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | str):
        text = valid_unicode(str(value)).strip()
        return text or None
    return None
