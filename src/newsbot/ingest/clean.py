"""Clean article text: control and invisible characters out, line breaks and blank lines
normalised, hard-wrapped paragraphs joined again."""

from __future__ import annotations

import itertools
import re
import unicodedata

from newsbot.text import valid_unicode

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
