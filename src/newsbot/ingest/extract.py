"""Turn bytes (HTML, PDF, plain text, Markdown) or pasted text into an :class:`Article`.

Every article text goes through :func:`clean_text`, and only article text ends up in
``Article.text``: it is what gets stored and quoted.
"""

from __future__ import annotations

import codecs
import datetime as dt
import email.utils
import io
import itertools
import logging
import re
import unicodedata
from collections.abc import Iterable
from urllib.parse import urlsplit

from newsbot.errors import IngestError
from newsbot.models import Article
from newsbot.text import valid_unicode

_log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# clean_text
# --------------------------------------------------------------------------------------------

# Control characters (Cc) except \t and \n, plus invisible characters that only get in the way
# of quoting: BOM / zero-width no-break space, zero-width space, soft hyphen.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x84\x86-\x9f\ufeff\u200b\u00ad]")
_RARE_LINE_BREAKS = re.compile(r"[\x0b\x0c\x85\u2028\u2029]")
_MANY_NEWLINES = re.compile(r"\n{3,}")
_LONG_LINE = re.compile(r"^[^\n]{111}", re.MULTILINE)
_SENTENCE_END = (".", "!", "?", ":", ";", '"', "'", "\u201d", "\u2019", ")", "»", "…")
_TABULAR = re.compile(r"\S {3,}\S")
_BULLET = re.compile(r"^\s*(?:[-*\u2022\u2013]|\d{1,3}[.)])\s+\S")


def clean_text(text: str) -> str:
    """Normalise article text: the form that is stored, chunked and quoted.

    Unicode NFC; ``\\r\\n``/``\\r`` and other line separators become ``\\n``; control
    characters other than ``\\n`` go and tabs become spaces; trailing whitespace per line goes;
    runs of three or more newlines become one blank line; the ends are stripped. Text that looks
    hard-wrapped (lines cut at a fixed width, as in newswire bodies or PDF text) is unwrapped:
    the lines of a paragraph are joined with spaces, and indented lines start new paragraphs.
    Text whose lines are already paragraphs is left as it is.
    """
    text = unicodedata.normalize("NFC", valid_unicode(text))
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _RARE_LINE_BREAKS.sub("\n", text)
    text = _CONTROL.sub("", text).replace("\t", " ")
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    if _looks_hard_wrapped(text):
        text = _unwrap(text)
    text = _MANY_NEWLINES.sub("\n\n", text)
    return text.strip()


def _looks_hard_wrapped(text: str) -> bool:
    """Whether the lines of ``text`` were cut at a fixed width rather than at paragraph ends.

    Signs: (almost) no line is longer than ~100 characters, and lines that run on into the next
    line of the same paragraph end in the middle of a sentence -- often, or at least where the
    next line plainly continues it (it starts in lower case or with a digit).
    """
    line_count = text.count("\n") + 1
    if line_count < 2:
        return False
    long_lines = sum(1 for _ in _LONG_LINE.finditer(text))
    if long_lines > 0.05 * line_count:  # quick exit: lines that are paragraphs
        return False
    lines = text.split("\n")
    prose = [
        len(line.strip()) for line in lines if line.strip() and not _TABULAR.search(line.strip())
    ]
    if len(prose) < 2:
        return False
    prose.sort()
    width = prose[-1] if len(prose) < 10 else prose[int(0.9 * (len(prose) - 1))]
    if width > 100 or width < 25:
        return False
    continued = 0  # lines followed by a non-blank, non-indented line
    mid_sentence = 0
    plainly_continued = 0
    near_width = 0
    indented = 0  # lines followed by an indented line: paragraphs that start indented
    for line, following in itertools.pairwise(lines):
        stripped = line.strip()
        if not stripped or not following.strip():
            continue
        if following[:1].isspace():
            indented += not _TABULAR.search(following)
            continue
        if _TABULAR.search(stripped):
            continue
        continued += 1
        if len(stripped) >= 0.6 * width:
            near_width += 1
        if not stripped.endswith(_SENTENCE_END):
            mid_sentence += 1
            # "...said the\nbank" or "...tender on\nWednesday": a sentence plainly running on.
            if following[:1].islower() or following[:1].isdigit() or stripped[-1:].islower():
                plainly_continued += 1
    if not continued:
        return indented > 0
    if plainly_continued >= max(1, 0.2 * continued):
        return True
    return mid_sentence >= 0.3 * continued and near_width >= 0.6 * continued


def _unwrap(text: str) -> str:
    paragraphs: list[str] = []
    for block in re.split(r"\n\s*\n", text):
        lines = [line for line in block.split("\n") if line.strip()]
        if not lines:
            continue
        width = max(len(line.strip()) for line in lines)
        current: list[str] = []
        for line in lines:
            stripped = line.strip()
            tabular = bool(_TABULAR.search(stripped))
            starts_new = (
                not current
                or line[:1].isspace()
                or tabular
                or _BULLET.match(line) is not None
                or _TABULAR.search(current[-1]) is not None
                or (current[-1].endswith(_SENTENCE_END) and len(current[-1]) < 0.6 * width)
            )
            if starts_new:
                if current:
                    paragraphs.append(_join_lines(current))
                current = [line.rstrip() if tabular else stripped]
            else:
                current.append(stripped)
        if current:
            paragraphs.append(_join_lines(current))
    return "\n\n".join(paragraphs)


def _join_lines(lines: list[str]) -> str:
    joined = lines[0]
    for line in lines[1:]:
        # "well-\nknown" -> "well-known": keep the hyphen, drop the break.
        if joined.endswith("-") and joined[-2:-1].isalpha() and line[:1].islower():
            joined += line
        else:
            joined += " " + line
    return joined


# --------------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------------

_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}
_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:$|[t ]\d)")
_ISO_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})(?:$|t\d)")
_YMD_SLASH = re.compile(r"(\d{4})[/.](\d{1,2})[/.](\d{1,2})$")
_DAY_MONTH_YEAR = re.compile(r"(\d{1,2})(?:st|nd|rd|th)?\s+([a-z]+)\.?,?\s+(\d{4})\b")
_MONTH_DAY_YEAR = re.compile(r"([a-z]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})\b")


def normalise_date(value: str | None) -> str | None:
    """Turn a date as found in metadata or a feed into ``YYYY-MM-DD``.

    Understands ISO 8601 dates and date-times (``2021-09-06``, ``2021-09-06T10:00:00Z``,
    ``20210906``), ``2021/09/06``, RFC 2822 (``Mon, 06 Sep 2021 10:00:00 GMT``) and written dates
    (``6 September 2021``, ``September 6, 2021``, ``Sep. 6th, 2021``). The date is kept as
    written (no time zone conversion). Ambiguous forms such as ``06/09/2021`` give None.

    Returns:
        The date, or None when ``value`` is empty or not understood.
    """
    if not value or not isinstance(value, str):
        return None
    text = " ".join(value.strip().lower().split())
    if not text:
        return None
    for pattern in (_ISO_DATE, _ISO_COMPACT, _YMD_SLASH):
        match = pattern.match(text)
        if match:
            return _ymd(int(match[1]), int(match[2]), int(match[3]))
    try:
        parsed = email.utils.parsedate_tz(value)
    except (TypeError, ValueError, IndexError):
        parsed = None
    if parsed is not None and parsed[0] > 0:
        found = _ymd(parsed[0], parsed[1], parsed[2])
        if found:
            return found
    match = _DAY_MONTH_YEAR.search(text)
    if match and match[2] in _MONTHS:
        return _ymd(int(match[3]), _MONTHS[match[2]], int(match[1]))
    match = _MONTH_DAY_YEAR.search(text)
    if match and match[1] in _MONTHS:
        return _ymd(int(match[3]), _MONTHS[match[1]], int(match[2]))
    return None


def _ymd(year: int, month: int, day: int) -> str | None:
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        return None


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
    if _HTML_START.match(_ascii_head(head)):
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
        return _from_markdown(_decode(data, described, charset), url=url)
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
    return article_from_text(_decode(data, described, charset), url=url)


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


def _ascii_head(head: bytes) -> bytes:
    """The start of ``head`` as ASCII-compatible bytes, so UTF-16 HTML is sniffed too."""
    for bom, codec in ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if head.startswith(bom):
            return head[len(bom) :].decode(codec, "ignore").encode("ascii", "ignore")
    return head.removeprefix(codecs.BOM_UTF8)


_PREFERRED_ENCODINGS = ("cp1252", "latin_1", "iso8859_15")


_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def trusted_charset(data: bytes, charset: str | None) -> str | None:
    """The charset a server declared for ``data``, where that is the one to trust: not over a
    BOM, and not over valid UTF-8 (servers declare ISO-8859-1 by default for UTF-8 pages, and
    valid multi-byte UTF-8 is hardly ever meant as single-byte text), and only a charset Python
    knows. None: let the reader find the encoding (a BOM, UTF-8, ``<meta charset>``, a guess).
    """
    if not charset or any(data.startswith(bom) for bom, _ in _BOMS):
        return None
    try:
        # Text encodings only: codecs also knows "hex", "base64", "rot13"...
        if not codecs.lookup(charset)._is_text_encoding:
            return None
        data.decode("utf-8")
    except LookupError:
        return None
    except UnicodeDecodeError:
        return charset
    return None


def _in_declared_charset(data: bytes, charset: str | None) -> str | None:
    trusted = trusted_charset(data, charset)
    try:
        return None if trusted is None else data.decode(trusted, errors="replace")
    except (LookupError, UnicodeError):  # a codec that fails even with errors="replace"
        return None


def _decode(data: bytes, described: str, charset: str | None = None) -> str:
    """Decode text: a BOM, else UTF-8, else the declared charset, else what
    charset-normalizer finds; binary is refused."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(codec)
            except UnicodeDecodeError:
                raise IngestError(f"cannot decode {described}: invalid {codec} text") from None
    if b"\x00" in data[:8192]:
        raise IngestError(f"unsupported file type: {described} is binary data, not text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    declared = _in_declared_charset(data, charset)
    if declared is not None:
        return declared
    nearly = _nearly_utf8(data)
    if nearly is not None:
        return nearly
    from charset_normalizer import from_bytes

    matches = from_bytes(data)
    best = matches.best()
    if best is None:
        raise IngestError(f"unsupported file type: {described} is binary data, not text")
    # Single-byte code pages often tie (cp1250, cp1252, cp1257 read Western text equally
    # "well"); on a tie, the Windows Western code page is by far the most likely.
    for preferred in _PREFERRED_ENCODINGS:
        tie = next(
            (
                match
                for match in matches
                if match.encoding == preferred
                and match.percent_chaos <= best.percent_chaos
                and match.percent_coherence >= best.percent_coherence
            ),
            None,
        )
        if tie is not None:
            best = tie
            break
    text = str(best)
    if _looks_binary(text):
        raise IngestError(f"unsupported file type: {described} is binary data, not text")
    return text


def _plain_text_or_none(data: bytes, described: str, charset: str | None) -> str | None:
    """``data`` decoded, when it is text without a single tag."""
    try:
        text = _decode(data, described, charset)
    except IngestError:
        return None
    return None if _TAG.search(text) else text


def _nearly_utf8(data: bytes) -> str | None:
    """UTF-8 text with a few stray bytes (a pasted cp1252 quote), each replaced by U+FFFD.

    Seen: one stray byte in a UTF-8 file made charset-normalizer call it binary. Text in a
    single-byte code page has no valid multi-byte UTF-8 sequences, so it is told apart by
    having fewer decoded non-ASCII characters than stray bytes, and is left to the guesser.
    """
    text = data.decode("utf-8", errors="replace")
    stray = text.count("\ufffd") - data.count("\ufffd".encode())
    decoded = sum(1 for char in text if char > "\x7f" and char != "\ufffd")
    if stray <= max(3, len(data) // 1000) and decoded > stray:
        return text
    return None


def _looks_binary(text: str) -> bool:
    sample = text[:4096]
    if not sample:
        return False
    odd = sum(
        1
        for char in sample
        if unicodedata.category(char) in ("Cc", "Co", "Cn") and char not in "\n\r\t\f"
    )
    return odd > 0.05 * len(sample)


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------


def _from_html(
    data: bytes, *, url: str | None, described: str, charset: str | None = None
) -> Article:
    import trafilatura

    declared = _in_declared_charset(data, charset)
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

_FRONT_MATTER = re.compile(r"\A---\n(.*?)\n(?:---|\.\.\.)\n", re.DOTALL)
_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_ATX_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_SETEXT_UNDERLINE = re.compile(r"^\s{0,3}(=+|-+)\s*$")
_RULE = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
_REFERENCE_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*\S+.*$")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,9}[.)])\s+")
_BLOCKQUOTE = re.compile(r"^\s{0,3}>\s?")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)|!\[([^\]]*)\]\[[^\]]*\]")
_LINK = re.compile(r"\[([^\]]+)\]\((?:[^()\s]|\([^)]*\))*(?:\s+\"[^\"]*\")?\)")
_REF_LINK = re.compile(r"\[([^\]]+)\]\[[^\]]*\]")
_AUTOLINK = re.compile(r"<((?:https?|mailto|ftp):[^>\s]+)>")
_HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_EMPHASIS_STAR = re.compile(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])")
_EMPHASIS_UNDERSCORE = re.compile(r"(?<!\w)_(?=\S)(.+?)(?<=\S)_(?!\w)")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!>|~])")


def markdown_to_text(markdown: str) -> tuple[str, str | None]:
    """Convert Markdown to plain text; return it with the document's first heading.

    Headings, emphasis, code and link syntax go (link text stays, images go), list markers
    become ``- ``, paragraph lines are joined (as Markdown renders them), and a title heading
    at the very top is removed from the text (it is returned as the title).
    """
    markdown = markdown.replace("\r\n", "\n").replace("\r", "\n").removeprefix("\ufeff")
    title: str | None = None
    front = _FRONT_MATTER.match(markdown)
    if front:
        markdown = markdown[front.end() :]
        for line in front[1].split("\n"):
            key, _, value = line.partition(":")
            if key.strip().lower() == "title" and value.strip():
                title = value.strip().strip("\"'")
    blocks: list[str] = []  # rendered blocks, joined by blank lines
    paragraph: list[str] = []
    in_fence = False
    first_heading: str | None = None
    lines = markdown.split("\n")

    def flush() -> None:
        if paragraph:
            blocks.append(" ".join(paragraph))
            paragraph.clear()

    for index, line in enumerate(lines):
        if _FENCE.match(line):
            flush()
            in_fence = not in_fence
            continue
        if in_fence:
            blocks.append(line.rstrip())
            continue
        if not line.strip():
            flush()
            continue
        next_line = lines[index + 1] if index + 1 < len(lines) else ""
        heading = _ATX_HEADING.match(line)
        heading_text: str | None = heading[2] if heading else None
        if (
            heading is None
            and not paragraph
            and _SETEXT_UNDERLINE.match(next_line)
            and not _RULE.match(line)
            and not _LIST_ITEM.match(line)
        ):
            heading_text = line.strip()
            lines[index + 1] = ""  # the underline
        if heading_text is not None:
            flush()
            rendered = _inline(heading_text)
            if first_heading is None:
                first_heading = rendered
                if not blocks and title is None:
                    title = rendered  # the document's title: not part of its text
                    continue
            if rendered:
                blocks.append(rendered)
            continue
        if _RULE.match(line) or _REFERENCE_DEF.match(line) or _TABLE_RULE.match(line):
            flush()
            continue
        content = _BLOCKQUOTE.sub("", line)
        while _BLOCKQUOTE.match(content):
            content = _BLOCKQUOTE.sub("", content)
        if not content.strip():
            flush()
            continue
        item = _LIST_ITEM.match(content)
        if item:
            flush()
            paragraph.append("- " + _inline(content[item.end() :].strip()))
            continue
        if content.strip().startswith("|"):
            flush()
            cells = [cell.strip() for cell in content.strip().strip("|").split("|")]
            blocks.append(" | ".join(_inline(cell) for cell in cells))
            continue
        paragraph.append(_inline(content.strip()))
    flush()
    if title is None:
        title = first_heading
    return "\n\n".join(block for block in blocks if block.strip()), title


def _inline(text: str) -> str:
    text = _IMAGE.sub("", text)
    text = _CODE_SPAN.sub(lambda m: m[2].strip(), text)
    text = _LINK.sub(r"\1", text)
    text = _REF_LINK.sub(r"\1", text)
    text = _AUTOLINK.sub(r"\1", text)
    text = _HTML_TAG.sub("", text)
    for _ in range(2):  # nested emphasis: ***both*** or **bold *and italic***
        text = _STRONG.sub(r"\2", text)
        text = _EMPHASIS_STAR.sub(r"\1", text)
        text = _EMPHASIS_UNDERSCORE.sub(r"\1", text)
        text = _STRIKE.sub(r"\1", text)
    text = _ESCAPE.sub(r"\1", text)
    return " ".join(text.split())


def _from_markdown(markdown: str, *, url: str | None) -> Article:
    text, title = markdown_to_text(markdown)
    if title is None:
        return article_from_text(text, url=url)
    return article_from_text(text, title=title, url=url)


__all__ = [
    "article_from_bytes",
    "article_from_text",
    "clean_text",
    "markdown_to_text",
    "normalise_date",
]
