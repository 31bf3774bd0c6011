"""Bytes to text: byte-order marks, the declared charset when it fits, a guess when not,
and binary data refused."""

from __future__ import annotations

import codecs
import unicodedata

from newsbot.errors import IngestError


def ascii_head(head: bytes) -> bytes:
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


def in_declared_charset(data: bytes, charset: str | None) -> str | None:
    trusted = trusted_charset(data, charset)
    try:
        return None if trusted is None else data.decode(trusted, errors="replace")
    except (LookupError, UnicodeError):  # a codec that fails even with errors="replace"
        return None


def decode_text(data: bytes, described: str, charset: str | None = None) -> str:
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
    declared = in_declared_charset(data, charset)
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
