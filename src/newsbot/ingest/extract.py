"""Turn bytes (HTML, PDF, plain text, Markdown) or pasted text into an :class:`Article`.

Every article text goes through :func:`~newsbot.ingest.clean.clean_text`, and only article
text ends up in ``Article.text``: it is what gets stored and quoted. Decoding bytes, dates and
Markdown are modules of their own beside this one.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from newsbot.errors import IngestError
from newsbot.ingest.clean import clean_text
from newsbot.ingest.dates import normalise_date
from newsbot.ingest.decode import ascii_head, decode_text, in_declared_charset
from newsbot.ingest.markdown import markdown_to_text
from newsbot.models import Article

_log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# Pasted text and plain text
# --------------------------------------------------------------------------------------------

_MAX_TITLE_LINE = 200
_FALLBACK_TITLE = 80
_BYLINE = re.compile(r"^by\s+(\S.{0,80})$", re.IGNORECASE)
_DATELINE = re.compile(r"^(?:published|posted|updated|date)?:?\s*(.{6,60})$", re.IGNORECASE)


def article_from_text(
    text: str,
    *,
    title: str | None = None,
    url: str | None = None,
    outlet: str | None = None,
    published: str | None = None,
    author: str | None = None,
    article_id: str | None = None,
) -> Article:
    """Build an article from text as given (pasted into the bot, a JSON Lines record, a file).

    Without a ``title``, a short first line (at most 200 characters) followed by more text is
    the title and is removed from the text; otherwise the title is the start of the text. A
    ``By ...`` line and a date line right under such a title fill ``author`` and ``published``
    when they are not given (those lines stay in the text).

    Raises:
        IngestError: nothing but whitespace in ``text``.
    """
    body = clean_text(text)
    if not body:
        raise IngestError("no text: the article is empty")
    title = _clean_title(title)
    if title is None:
        split = split_title_line(text)
        if split is not None:
            title, body = split
            author = author or _byline(body)
            published = published or _dateline(body)
        else:
            title = _shorten(clean_text(text.lstrip().partition("\n")[0]), _FALLBACK_TITLE)
    return Article(
        text=body,
        title=title,
        url=_clean_title(url),
        outlet=_clean_title(outlet) or _host(url),
        published=normalise_date(published) if published else None,
        author=_clean_title(author),
        id=article_id,
    )


def split_title_line(text: str) -> tuple[str, str] | None:
    """``(title, body)`` when the first line of ``text`` reads as its title: at most 200
    characters, with text below it. The rule of pasted text, wherever it is pasted."""
    # Split the first line off before cleaning: unwrapping hard-wrapped text would
    # otherwise join a title line onto the paragraph below it.
    raw_first, _, raw_rest = text.lstrip().partition("\n")
    first, rest = clean_text(raw_first), clean_text(raw_rest)
    return (first, rest) if first and len(first) <= _MAX_TITLE_LINE and rest else None


def _byline(body: str) -> str | None:
    for line in body.split("\n")[:4]:
        match = _BYLINE.match(line.strip())
        if match:
            return match[1].strip()
    return None


def _dateline(body: str) -> str | None:
    for line in body.split("\n")[:6]:
        line = line.strip()
        if not line or len(line) > 60:
            continue
        match = _DATELINE.match(line)
        if match:
            found = normalise_date(match[1])
            if found:
                return found
    return None


def _clean_title(value: str | None) -> str | None:
    if value is None:
        return None
    cleaned = " ".join(clean_text(str(value)).split())
    return cleaned or None


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0] or text[:limit]
    return cut.rstrip(" ,;:-") + "…"


def _host(url: str | None) -> str | None:
    if not url:
        return None
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    if not host:
        return None
    return host.removeprefix("www.")


# --------------------------------------------------------------------------------------------
# Bytes: type detection
# --------------------------------------------------------------------------------------------

_BINARY_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF87a", "GIF image"),
    (b"GIF89a", "GIF image"),
    (b"RIFF", "RIFF media (WebP, WAV, AVI)"),
    (b"PK\x03\x04", "ZIP archive (or an Office document)"),
    (b"PK\x05\x06", "ZIP archive"),
    (b"\x1f\x8b", "gzip archive"),
    (b"BZh", "bzip2 archive"),
    (b"\xfd7zXZ\x00", "xz archive"),
    (b"7z\xbc\xaf\x27\x1c", "7z archive"),
    (b"Rar!", "RAR archive"),
    (b"\x7fELF", "executable"),
    (b"MZ", "executable"),
    (b"\xd0\xcf\x11\xe0", "Office document (old format)"),
    (b"{\\rtf", "RTF document"),
    (b"ID3", "MP3 audio"),
    (b"OggS", "Ogg media"),
    (b"\x00\x00\x00\x18ftyp", "MP4 video"),
    (b"\x00\x00\x00\x20ftyp", "MP4 video"),
    (b"%!PS", "PostScript document"),
)
_HTML_START = re.compile(
    rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*"
    rb"<(?:!doctype\s+html|html|head|body|meta|title|article|link|script|div|p)[\s>/]",
    re.IGNORECASE | re.DOTALL,
)
_HTML_TYPES = {"text/html", "application/xhtml+xml"}
_MARKDOWN_TYPES = {"text/markdown", "text/x-markdown"}
_HTML_EXTENSIONS = (".html", ".htm", ".xhtml", ".shtml")
_MARKDOWN_EXTENSIONS = (".md", ".markdown", ".mdown", ".mkd")
_DATA_TYPES = {"application/json", "application/xml", "text/xml", "application/rss+xml"}
_DATA_EXTENSIONS = (".json", ".xml", ".rss", ".atom")
# An XML declaration not followed by an XHTML page (which the HTML check above takes).
_XML_START = re.compile(rb"^(?:\xef\xbb\xbf)?\s*<\?xml\b")
_TEXT_EXTENSIONS = (".txt", ".text")
_TAG = re.compile(r"<[A-Za-z!/?]")
JSON_LINES_EXTENSIONS = (".jsonl", ".ndjson")


def article_from_bytes(
    data: bytes,
    *,
    name: str | None = None,
    content_type: str | None = None,
    url: str | None = None,
    charset: str | None = None,
) -> Article:
    """Extract an article from a downloaded or uploaded document.

    The type is told from the content first (the PDF signature, an HTML start), then from
    ``content_type`` and the extension of ``name`` (Markdown, HTML, plain text); other
    decodable text is read as plain text.

    Args:
        data: the document.
        name: its file name, if any (``report.pdf``, ``notes.md``).
        content_type: its media type, if known (``text/html``).
        url: where it came from; kept on the article and used for the outlet when the page
            names none.
        charset: the character set its server declared (``Content-Type``), if any: text
            that is not valid UTF-8 is read in it rather than guessed at.

    Raises:
        IngestError: unsupported type (an image, an archive, other binary data), a malformed or
            encrypted PDF, or no article text in it.
    """
    media_type = (content_type or "").split(";", 1)[0].strip().lower() or None
    extension = _extension(name) or _extension(urlsplit(url).path if url else None)
    head = data[:4096]
    described = _describe(name, url)

    if b"%PDF-" in data[:1024]:
        return _from_pdf(data, url=url, described=described)
    for signature, kind in _BINARY_SIGNATURES:
        if head.startswith(signature):
            raise IngestError(f"unsupported file type: {described} is a {kind}")
    if media_type == "application/pdf" or extension == ".pdf":
        raise IngestError(f"not a valid PDF: {described} has no PDF header")
    if _HTML_START.match(ascii_head(head)):
        return _from_html(data, url=url, described=described, charset=charset)
    if extension in JSON_LINES_EXTENSIONS:
        raise IngestError(
            f"{described} is a JSON Lines dump of articles, not one article: send it to the "
            "bot as a file, or import it with newsbot import"
        )
    if media_type in _DATA_TYPES or extension in _DATA_EXTENSIONS or _XML_START.match(head):
        # Markup or records, not prose: read as text, its tags would be quoted as the article.
        raise IngestError(
            f"unsupported file type: {described} is XML or JSON data, not an article "
            "(JSON Lines dumps are read from .jsonl files)"
        )
    if media_type in _MARKDOWN_TYPES or extension in _MARKDOWN_EXTENSIONS:
        return _from_markdown(decode_text(data, described, charset), url=url)
    if media_type in _HTML_TYPES or extension in _HTML_EXTENSIONS:
        try:
            return _from_html(data, url=url, described=described, charset=charset)
        except IngestError:
            # Servers send plain text files as text/html too: without a single tag, what the
            # HTML extractor found no article in is read as plain text.
            text = _plain_text_or_none(data, described, charset)
            if text is None:
                raise
            return article_from_text(text, url=url)
    return article_from_text(decode_text(data, described, charset), url=url)


def _describe(name: str | None, url: str | None) -> str:
    if name:
        return name
    if url:
        return url
    return "the document"


def _extension(name: str | None) -> str | None:
    if not name:
        return None
    base = name.rsplit("/", 1)[-1].lower()
    if "." not in base:
        return None
    return "." + base.rsplit(".", 1)[1]


def _plain_text_or_none(data: bytes, described: str, charset: str | None) -> str | None:
    """``data`` decoded, when it is text without a single tag."""
    try:
        text = decode_text(data, described, charset)
    except IngestError:
        return None
    return None if _TAG.search(text) else text


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------


def _from_html(
    data: bytes, *, url: str | None, described: str, charset: str | None = None
) -> Article:
    import trafilatura

    declared = in_declared_charset(data, charset)
    try:
        document = trafilatura.bare_extraction(
            data if declared is None else declared,
            url=url,
            with_metadata=True,
            include_comments=False,
            include_tables=True,
            include_images=False,
            include_links=False,
            deduplicate=False,
            date_extraction_params={"extensive_search": False, "original_date": True},
        )
    except Exception as error:  # a library failure must not escape as a traceback
        _log.debug("trafilatura failed on %s", described, exc_info=True)
        raise IngestError(f"cannot read the HTML of {described}: {type(error).__name__}") from None
    raw = getattr(document, "text", None) if document is not None else None
    # trafilatura puts one paragraph per line; a blank line between them keeps them apart.
    text = clean_text(_paragraphs((raw or "").split("\n")))
    if not _has_prose(text):
        # A section front, a login wall, a page of links: what is left is navigation.
        raise IngestError(f"no article text found in {described}")
    title = _clean_title(getattr(document, "title", None))
    if title is None:
        title = _shorten(text.split("\n", 1)[0], _FALLBACK_TITLE)
    return Article(
        text=text,
        title=title,
        url=url,
        outlet=_clean_title(getattr(document, "sitename", None)) or _host(url),
        published=normalise_date(getattr(document, "date", None)),
        author=_clean_title(getattr(document, "author", None)),
    )


_MIN_PROSE_WORDS = 10


def _has_prose(text: str) -> bool:
    """Whether ``text`` holds at least one paragraph that reads like a sentence, not a link."""
    return any(len(paragraph.split()) >= _MIN_PROSE_WORDS for paragraph in text.split("\n"))


def _paragraphs(lines: Iterable[str]) -> str:
    return "\n\n".join(line.strip() for line in lines if line.strip())


# --------------------------------------------------------------------------------------------
# PDF
# --------------------------------------------------------------------------------------------


def _from_pdf(data: bytes, *, url: str | None, described: str) -> Article:
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise IngestError(f"cannot read {described}: the PDF is encrypted")
        pages = [page.extract_text() or "" for page in reader.pages]
        metadata = reader.metadata
        meta_title = metadata.title if metadata is not None else None
        meta_author = metadata.author if metadata is not None else None
        created = metadata.creation_date if metadata is not None else None
    except IngestError:
        raise
    except Exception as error:  # pypdf raises many types (PdfReadError, ValueError...)
        _log.debug("pypdf failed on %s", described, exc_info=True)
        reason = " ".join(str(error).split())[:120] or type(error).__name__
        raise IngestError(f"cannot read {described}: malformed PDF ({reason})") from None
    text = clean_text("\n\n".join(page.strip() for page in pages if page.strip()))
    if not text:
        raise IngestError(f"no text in {described}: the PDF has no extractable text (a scan?)")
    title = _clean_title(meta_title) if isinstance(meta_title, str) else None
    if not title or title.lower() in {"untitled", "microsoft word"}:
        # The first line as printed: after unwrapping, text's first line is a paragraph.
        first_line = next(line for page in pages for line in page.split("\n") if line.strip())
        title = _shorten(clean_text(first_line), _MAX_TITLE_LINE)
    return Article(
        text=text,
        title=title,
        url=url,
        outlet=_host(url),
        published=created.date().isoformat() if isinstance(created, dt.datetime) else None,
        author=_clean_title(meta_author) if isinstance(meta_author, str) else None,
    )


# --------------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------------


def _from_markdown(markdown: str, *, url: str | None) -> Article:
    text, title = markdown_to_text(markdown)
    if title is None:
        return article_from_text(text, url=url)
    return article_from_text(text, title=title, url=url)
