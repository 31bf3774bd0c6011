"""Links that open an article at a quoted sentence: URL text fragments (``#:~:text=``).

A text fragment (the WICG "scroll to text fragment" spec, in Chrome, Edge, Safari and Firefox)
asks the browser to scroll to a piece of the page's text and highlight it:
``text=[prefix-,]textStart[,textEnd][,-suffix]``. The browser matches each piece
case-insensitively over the rendered text with whitespace collapsed, at word boundaries, each
piece within one block (a paragraph); ``textStart,textEnd`` covers everything from the first
``textStart`` to the first ``textEnd`` after it, and ``prefix``/``suffix`` must sit right before
and right after the match.

Directives are built the way Chrome's "Copy link to highlight" builds them: the whole sentence
when it is short, else a few words from each end, grown (then given context words) until the
directive matches the sentence and nothing else. Each candidate is checked by running the
spec's matching over the article's text here, so a link never points at the wrong text of the
article; what the page shows around the article (menus, teasers) can still hold an earlier
match, which no link can rule out.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import re
import unicodedata
from collections.abc import Iterator, Sequence
from typing import NamedTuple
from urllib.parse import quote, unquote, urlsplit

# Chrome's limits (TextFragmentSelectorGenerator): exact text up to 300 characters, then ranges
# of 3 to 10 words a side, then up to 10 words of context.
EXACT_MAX_CHARS = 300
MIN_RANGE_WORDS = 3
MAX_RANGE_WORDS = 10
MAX_CONTEXT_WORDS = 10

_DELIMITER = ":~:"
_TEXT = "text="
_WORD = re.compile(r"[^ \n]+")
# Characters a window must not start or end with: a page may render them differently from the
# extracted text (typographic quotes made by CSS or <q>, dashes and ellipses typed as ASCII,
# soft hyphens and zero-width characters that find-in-page skips), so a window cut there could
# fail to match. Whitespace counts too: windows are trimmed to their words.
_EDGE_CATEGORIES = frozenset({"Pi", "Pf", "Pd", "Cf"})  # quotes, dashes, format characters
_EDGE_CHARS = frozenset("\u2026\u201a\u201e\u00ad\u200b\u200c\u200d\u2060\ufeff")
_SOFT_HYPHEN = "\u00ad"


class TextDirective(NamedTuple):
    """The four parts of a ``text=`` directive, decoded; absent parts are ``None``."""

    prefix: str | None
    start: str
    end: str | None
    suffix: str | None

    def encode(self) -> str:
        """The directive as it goes into a URL: ``text=[prefix-,]start[,end][,-suffix]``."""
        parts = [_encode(self.start)]
        if self.prefix is not None:
            parts.insert(0, _encode(self.prefix) + "-")
        if self.end is not None:
            parts.append(_encode(self.end))
        if self.suffix is not None:
            parts.append("-" + _encode(self.suffix))
        return _TEXT + ",".join(parts)


def fragment_link(url: str | None, article_text: str, sentences: Sequence[str]) -> str | None:
    """The article's address with a text fragment that opens it at the given sentences.

    One ``text=`` directive per sentence, in the given order (a browser scrolls to the first
    that matches and highlights them all). A sentence is first cut of the quotes, dashes and
    invisible characters at its ends, then found case-insensitively in ``article_text`` with
    whitespace collapsed; one that is not there is left out, so the link never carries a
    directive that cannot match. An existing fragment is kept (``#section`` becomes
    ``#section:~:text=...``); ``text=`` directives it already carries are replaced, any other
    directive is kept.

    Args:
        url: The article's address.
        article_text: The article's text as extracted from the page; line breaks separate
            paragraphs.
        sentences: Quoted sentences, each a piece of ``article_text`` (whitespace may differ).

    Returns:
        None when ``url`` is None or empty; ``url`` unchanged when it is not an http(s)
        address or no sentence was found; otherwise the address (stripped of surrounding
        whitespace) with the text fragment.
    """
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # e.g. an unbalanced IPv6 bracket: not an address a browser opens
        return url
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return url
    page = _page(article_text)
    directives: list[str] = []
    for sentence in sentences:
        directive = _directive_for(page, sentence)
        if directive is not None and directive.encode() not in directives:
            directives.append(directive.encode())
    if not directives:
        return url
    return _with_directives(url.strip(), directives)


def parse_text_directive(directive: str) -> TextDirective:
    """Decode one ``text=`` directive (the ``text=`` itself is optional).

    Args:
        directive: ``text=[prefix-,]start[,end][,-suffix]``, percent-encoded.

    Returns:
        The decoded parts.

    Raises:
        ValueError: When the directive does not follow the syntax or a part is empty.
    """
    pieces = directive.removeprefix(_TEXT).split(",")
    prefix = suffix = None
    if len(pieces) > 1 and pieces[0].endswith("-"):
        prefix = _decode(pieces.pop(0)[:-1], directive)
    if len(pieces) > 1 and pieces[-1].startswith("-"):
        suffix = _decode(pieces.pop()[1:], directive)
    if len(pieces) > 2:
        raise ValueError(f"not a text directive: {directive!r}")
    return TextDirective(
        prefix=prefix,
        start=_decode(pieces[0], directive),
        end=_decode(pieces[1], directive) if len(pieces) == 2 else None,
        suffix=suffix,
    )


def _decode(piece: str, directive: str) -> str:
    decoded = unquote(piece, errors="strict")
    if not decoded:
        raise ValueError(f"a text directive with an empty part: {directive!r}")
    return decoded


def _encode(text: str) -> str:
    """Percent-encode everything outside the unreserved set, and ``-`` too.

    ``quote`` leaves ``-`` alone, but in a directive a bare ``-`` marks the prefix and suffix.
    """
    return quote(text, safe="").replace("-", "%2D")


def _with_directives(url: str, directives: list[str]) -> str:
    """``url`` with ``directives`` as its fragment directive, after any existing fragment."""
    base, _, fragment = url.partition("#")
    kept: list[str] = []
    if _DELIMITER in fragment:
        fragment, _, old = fragment.partition(_DELIMITER)
        # Old text directives point at other sentences; directives of other kinds stay.
        kept = [d for d in old.split("&") if d and not d.startswith(_TEXT)]
    return f"{base}#{fragment}{_DELIMITER}{'&'.join([*kept, *directives])}"


def _is_edge(char: str) -> bool:
    """Whether a window must not start or end with ``char``."""
    return char.isspace() or char in _EDGE_CHARS or unicodedata.category(char) in _EDGE_CATEGORIES


def _strip_edges(text: str) -> str:
    start, end = 0, len(text)
    while start < end and _is_edge(text[start]):
        start += 1
    while end > start and _is_edge(text[end - 1]):
        end -= 1
    return text[start:end]


def _fold(text: str) -> str:
    """Text as the browser compares it: casefolded, soft hyphens (U+00AD) dropped. Chrome
    ignores them: a word with a soft hyphen is found by the same word without and the reverse."""
    return text.casefold().replace(_SOFT_HYPHEN, "")


def _is_word_char(char: str) -> bool:
    # Wide (CJK) characters never join: the browser finds word boundaries between them with a
    # dictionary, and counting a boundary everywhere there can only find more matches here,
    # which keeps the uniqueness check on the safe side.
    if unicodedata.east_asian_width(char) in ("W", "F"):
        return False
    return char == "_" or unicodedata.category(char)[0] in "LMN"


@functools.lru_cache(maxsize=32)
def _page(text: str) -> _Page:
    """The article as matched, kept for the articles that come back question after question."""
    return _Page(text)


class _Page:
    """The article as the browser matches it: paragraphs of single-spaced words, casefolded.

    ``flat`` is the text with whitespace collapsed (one space within a paragraph, a newline
    between paragraphs); ``folded`` is ``flat`` as compared (see ``_fold``), and ``fold_at[i]``
    is where ``flat[i]`` starts in it (folding may lengthen a character, ß becomes ss, or drop
    it).
    """

    def __init__(self, text: str) -> None:
        lines = (" ".join(line.split()) for line in text.splitlines())
        self.flat = "\n".join(line for line in lines if line)
        self.fold_at: Sequence[int]
        folded_whole = _fold(self.flat)
        if len(folded_whole) == len(self.flat) and _SOFT_HYPHEN not in self.flat:
            # Every character folds to one (casefolding never drops one; only soft hyphens go):
            # offsets are the same, without a Python loop over the article (most texts).
            self.fold_at, self.folded = range(len(self.flat) + 1), folded_whole
        else:
            offsets: list[int] = []
            folded: list[str] = []
            length = 0
            for char in self.flat:
                offsets.append(length)
                folded.append(_fold(char))
                length += len(folded[-1])
            offsets.append(length)
            self.fold_at, self.folded = offsets, "".join(folded)
        # Sentences are looked for across paragraph breaks: the break is whitespace to them.
        self.searchable = self.folded.replace("\n", " ")

    def boundary(self, at: int) -> bool:
        """Whether a word boundary is at ``folded[at]``."""
        text = self.folded
        return not (0 < at < len(text) and _is_word_char(text[at - 1]) and _is_word_char(text[at]))

    def locate(self, sentence: str) -> tuple[int, int] | None:
        """Where ``sentence`` (already cut of its edge characters) first occurs in ``flat``.

        Whitespace and case are ignored, and a paragraph break counts as a space; the match
        must start and end at word boundaries, as the browser's does.
        """
        query = _fold(" ".join(sentence.split()))
        if not query:
            return None
        searchable = self.searchable
        found = searchable.find(query)
        while found >= 0:
            # The start is the character that makes folded[found], after any dropped ones; the
            # end is the first character past the match, before any dropped ones.
            start = bisect.bisect_right(self.fold_at, found) - 1
            end = bisect.bisect_left(self.fold_at, found + len(query))
            aligned = self.fold_at[start] == found and self.fold_at[end] == found + len(query)
            bounded = self.boundary(found) and self.boundary(found + len(query))
            if aligned and bounded:
                return start, end
            found = searchable.find(query, found + 1)
        return None

    def find(self, query: str, start: int, start_bounded: bool, end_bounded: bool) -> int | None:
        """The first occurrence of ``query`` in ``folded`` from ``start``, with the bounds."""
        found = self.folded.find(query, start)
        while found >= 0:
            if (not start_bounded or self.boundary(found)) and (
                not end_bounded or self.boundary(found + len(query))
            ):
                return found
            found = self.folded.find(query, found + 1)
        return None

    def skip_space(self, at: int) -> int:
        while at < len(self.folded) and self.folded[at] in " \n":
            at += 1
        return at

    def matches(self, directive: TextDirective) -> Iterator[tuple[int, int]]:
        """The ranges of ``folded`` the directive matches, in order; a browser takes the first.

        The spec's "find a range from a text directive", run from each possible start in turn.
        """
        prefix, start, end, suffix = (
            _fold(part) if part is not None else None for part in directive
        )
        assert start is not None
        # Without an end, a suffix may follow the start mid-word (the spec's own rule).
        start_end_bounded = end is not None or suffix is None
        text = self.folded
        search_from = 0
        while True:
            if prefix is not None:
                found_prefix = self.find(prefix, search_from, True, False)
                if found_prefix is None:
                    return
                search_from = found_prefix + 1
                match_start = self.skip_space(found_prefix + len(prefix))
                if not text.startswith(start, match_start) or (
                    start_end_bounded and not self.boundary(match_start + len(start))
                ):
                    continue
            else:
                found_start = self.find(start, search_from, True, start_end_bounded)
                if found_start is None:
                    return
                search_from = found_start + 1
                match_start = found_start
            match_end = end_search = match_start + len(start)
            while True:
                if end is not None:
                    found_end = self.find(end, end_search, True, suffix is None)
                    if found_end is None:
                        return
                    match_end = end_search = found_end + len(end)
                if suffix is None:
                    yield match_start, match_end
                    break
                after = self.skip_space(match_end)
                if text.startswith(suffix, after) and self.boundary(after + len(suffix)):
                    yield match_start, match_end
                    break
                if end is None:
                    break


def _directive_for(page: _Page, sentence: str) -> TextDirective | None:
    """The first candidate directive whose only match is the sentence.

    When no candidate is unique (the sentence, with its context, occurs twice), the first whose
    first match is the sentence: the browser then highlights an identical copy of it.
    """
    span = page.locate(_strip_edges(" ".join(sentence.split())))
    if span is None:
        return None
    target = (page.fold_at[span[0]], page.fold_at[span[1]])
    fallback = None
    for candidate in _candidates(page.flat, *span):
        found = list(itertools.islice(page.matches(candidate), 2))
        if found[:1] != [target]:
            continue
        if len(found) == 1:
            return candidate
        fallback = fallback or candidate
    return fallback


def _candidates(flat: str, start: int, end: int) -> Iterator[TextDirective]:
    """Directives for ``flat[start:end]``, shortest first, as Chrome tries them."""
    text = flat[start:end]
    exact = TextDirective(None, text, None, None)
    # A piece of a directive never crosses a paragraph, so a sentence over two takes a range.
    one_block = "\n" not in text
    if one_block and len(text) <= EXACT_MAX_CHARS:
        yield exact
        yield from _with_context(flat, start, end, exact)
        return
    words = [m.span() for m in _WORD.finditer(flat, start, end)]
    first_break, last_break = flat.find("\n", start, end), flat.rfind("\n", start, end)
    # The start window stays in the sentence's first paragraph, the end window in its last.
    head = [w for w in words if first_break < 0 or w[1] <= first_break]
    tail = [w for w in words if w[0] > last_break]
    least = min(MIN_RANGE_WORDS, len(words) // 2) if one_block else MIN_RANGE_WORDS
    last = None
    for count in range(max(least, 1), MAX_RANGE_WORDS + 1):
        start_end = _trim_right(flat, start, head[min(count, len(head)) - 1][1])
        end_start = _trim_left(flat, tail[-min(count, len(tail))][0], end)
        if start_end >= end_start:
            break  # the two windows would meet: more words cannot help
        candidate = TextDirective(None, flat[start:start_end], flat[end_start:end], None)
        if candidate != last:
            yield candidate
            last = candidate
    if last is not None:
        yield from _with_context(flat, start, end, last)
    if one_block:
        yield exact  # long, but it matches the sentence's text wherever it first occurs


def _trim_right(flat: str, lower: int, at: int) -> int:
    """Move a window's end left past edge characters (not below ``lower``)."""
    while at > lower and _is_edge(flat[at - 1]):
        at -= 1
    return at


def _trim_left(flat: str, at: int, upper: int) -> int:
    """Move a window's start right past edge characters (not beyond ``upper``)."""
    while at < upper and _is_edge(flat[at]):
        at += 1
    return at


def _with_context(flat: str, start: int, end: int, base: TextDirective) -> Iterator[TextDirective]:
    """``base`` with growing prefix and suffix words: prefix alone, suffix alone, then both."""
    prefixes = _prefixes(flat, start)
    suffixes = _suffixes(flat, end)
    seen: set[TextDirective] = set()
    for count in range(1, min(MAX_CONTEXT_WORDS, max(len(prefixes), len(suffixes))) + 1):
        prefix = prefixes[min(count, len(prefixes)) - 1] if prefixes else None
        suffix = suffixes[min(count, len(suffixes)) - 1] if suffixes else None
        for with_prefix, with_suffix in ((prefix, None), (None, suffix), (prefix, suffix)):
            if with_prefix is None and with_suffix is None:
                continue
            candidate = base._replace(prefix=with_prefix, suffix=with_suffix)
            if candidate not in seen:
                seen.add(candidate)
                yield candidate


def _prefixes(flat: str, start: int) -> list[str]:
    """Prefixes of 1, 2, ... words that end right before ``flat[start]``, in its paragraph."""
    line_start = flat.rfind("\n", 0, start) + 1
    end = start
    while end > line_start and flat[end - 1] == " ":
        end -= 1
    # A prefix must end exactly where the text before the sentence ends: no trimming there.
    if end == line_start or _is_edge(flat[end - 1]):
        return []
    found: list[str] = []
    for match in reversed(list(_WORD.finditer(flat, line_start, end))):
        window = flat[_trim_left(flat, match.start(), end) : end]
        if window and window not in found[-1:]:
            found.append(window)
        if len(found) == MAX_CONTEXT_WORDS:
            break
    return found


def _suffixes(flat: str, end: int) -> list[str]:
    """Suffixes of 1, 2, ... words that start right after ``flat[end - 1]``, in its paragraph."""
    line_end = flat.find("\n", end)
    line_end = len(flat) if line_end < 0 else line_end
    start = end
    while start < line_end and flat[start] == " ":
        start += 1
    if start == line_end or _is_edge(flat[start]):
        return []
    found: list[str] = []
    for match in _WORD.finditer(flat, start, line_end):
        window = flat[start : _trim_right(flat, start, match.end())]
        if window and window not in found[-1:]:
            found.append(window)
        if len(found) == MAX_CONTEXT_WORDS:
            break
    return found
