"""Text helpers: sentence boundaries as character spans (every quote is an exact slice of its
article), words, and text made safe to encode."""

from __future__ import annotations

import re

import sentencex

_LINE = re.compile(r"[^\n]+")
_WORD = re.compile(r"\w+", re.UNICODE)


def sentence_spans(text: str, language: str = "en") -> list[tuple[int, int]]:
    """Split ``text`` into sentences and return their ``(start, end)`` offsets.

    Line breaks always end a sentence (headlines, list items and paragraphs carry no final
    punctuation). Within a line, sentencex finds the boundaries; since it may normalise what it
    returns, each sentence is located in the original text, and any text it skipped becomes a
    sentence of its own, so the spans cover every non-blank character exactly once.
    """
    spans: list[tuple[int, int]] = []
    for line in _LINE.finditer(text):
        line_text, base = line.group(), line.start()
        cursor = 0
        for segment in sentencex.segment(language, line_text):
            piece = segment.strip()
            if not piece:
                continue
            found = line_text.find(piece, cursor)
            if found < 0:
                continue
            _add_span(spans, line_text, base, cursor, found)
            spans.append((base + found, base + found + len(piece)))
            cursor = found + len(piece)
        _add_span(spans, line_text, base, cursor, len(line_text))
    return spans


def passage_sentences(text: str) -> list[tuple[int, int]]:
    """The sentences of a passage as spans; a passage with no boundary is one sentence.

    The one split of a passage both ingest (sentence vectors) and quoting use, so the vectors
    stored for a passage's sentences are found again when it is quoted.
    """
    return sentence_spans(text) or [(0, len(text))]


def _add_span(spans: list[tuple[int, int]], line: str, base: int, start: int, end: int) -> None:
    """Add ``line[start:end]`` (stripped) as a span when it holds anything but whitespace."""
    gap = line[start:end]
    stripped = gap.strip()
    if stripped:
        offset = start + gap.index(stripped)
        spans.append((base + offset, base + offset + len(stripped)))


def words(text: str) -> list[str]:
    """Lower-cased word tokens, for lexical overlap."""
    return [w.lower() for w in _WORD.findall(text)]


def valid_unicode(text: str) -> str:
    """``text`` with lone surrogates (``"\\ud83d"`` in JSON, undecodable bytes in a command's
    arguments) replaced by U+FFFD: such text cannot be encoded, hashed, stored or tokenized."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text
