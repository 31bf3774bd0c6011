"""Markdown to plain text: the article's words without markup, and its first heading as
the title."""

from __future__ import annotations

import re

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
