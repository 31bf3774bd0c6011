"""Answers, articles and ingest outcomes rendered as Telegram HTML.

Pure functions over the core's types: no Telegram imports, no I/O. Every piece of article
text goes through :func:`esc`; every message is built from whole blocks sized so that the
text Telegram counts (tags removed, entities decoded, UTF-16 code units) stays within
:data:`MAX_MESSAGE_LENGTH`. Long pieces are clipped *before* they are escaped and wrapped in
tags, so a cut never falls inside a tag or an entity.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from datetime import date

from newsbot.models import (
    Answer,
    AnsweredPassage,
    ArticleRecord,
    IngestResult,
    IngestStatus,
    LibraryStats,
)
from newsbot.periods import time_notes

MAX_MESSAGE_LENGTH = 4096  # Telegram's limit, in UTF-16 code units after entity parsing
ELLIPSIS = "…"

# Room kept for the header and footer of an answer page.
_FRAME_BUDGET = 420
_QUESTION_CHARS = 200
_TITLE_CHARS = 150
_OUTLET_CHARS = 60
_WHITESPACE = re.compile(r"\s")
_NOTE_CHARS = 160  # a line about the period searched; the frame budget holds three
_SOURCE_BUDGET = 280  # number, title, outlet, date and the punctuation between them

# C0/C1 controls (except tab and newline) and lone surrogates: Telegram refuses or mangles them.
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_TAG = re.compile(r"<[^>]*>")
NEW_CONVERSATION = "🆕 A fresh start: your next question stands on its own."
END_OF_ARTICLE = (
    "📄 That is the end of the article: nothing follows the last excerpt. "
    "Ask me a new question, or /new to start afresh."
)
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


# --------------------------------------------------------------------------- primitives


def utf16_length(text: str) -> int:
    """Length in UTF-16 code units, the unit Telegram counts limits in."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def clean(text: str | None) -> str:
    """Text safe to show: control characters and lone surrogates removed, CRLF normalised."""
    if not text:
        return ""
    return _UNSAFE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def esc(text: str | None) -> str:
    """Escape text for Telegram HTML (``<``, ``>``, ``&`` and quotes)."""
    return html.escape(clean(text), quote=True)


def clip(text: str, limit: int, *, keep_end: bool = False) -> str:
    """At most ``limit`` UTF-16 units of ``text``; an ellipsis marks what was cut.

    Args:
        keep_end: keep the end of the text (cut at the start) instead of its start.
    """
    if utf16_length(text) <= limit:
        return text
    if limit <= 0:
        return ""
    room = limit - 1  # the ellipsis
    chars = reversed(text) if keep_end else iter(text)
    kept: list[str] = []
    used = 0
    for ch in chars:
        size = 2 if ord(ch) > 0xFFFF else 1
        if used + size > room:
            break
        kept.append(ch)
        used += size
    if keep_end:
        return ELLIPSIS + "".join(reversed(kept)).lstrip()
    return "".join(kept).rstrip() + ELLIPSIS


def visible_length(markup: str) -> int:
    """What Telegram counts for our own HTML: tags removed, entities decoded (untrimmed: an
    over-estimate by at most the surrounding whitespace).

    Exact for markup built here, where ``<`` only ever starts one of our tags.
    """
    return utf16_length(html.unescape(_TAG.sub("", markup)))


def fits(markup: str) -> bool:
    return visible_length(markup) <= MAX_MESSAGE_LENGTH


def fitting(blocks: Sequence[str], sep: str = "\n", *, more: str = "… and {n} more") -> str:
    """``blocks`` joined by ``sep``, as many of the first as fit in one message; a last line
    (``more``, with ``{n}``) counts those left out. The first block is always kept."""
    kept = list(blocks)
    text = sep.join(kept)
    while not fits(text) and len(kept) > 1:
        kept.pop()
        text = sep.join(kept) + sep + more.format(n=len(blocks) - len(kept))
    return text


def format_date(published: str | None) -> str:
    """``2021-09-06`` or an ISO date-time -> ``6 Sep 2021``; anything else shown as it is."""
    if not published:
        return ""
    try:
        day = date.fromisoformat(published[:10])
    except ValueError:
        return clip(clean(published), 30)
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def link(url: str | None, label_html: str) -> str:
    """``<a>`` around the label when the URL is a plain http(s) URL, else just the label."""
    url = clean(url).strip()
    if (
        not url.startswith(("http://", "https://"))
        or len(url) > 2000
        or _WHITESPACE.search(url) is not None
    ):
        return label_html
    return f'<a href="{html.escape(url, quote=True)}">{label_html}</a>'


def source_line(article: ArticleRecord, url: str | None = None) -> str:
    """Linked title, outlet and date of an article; ``url`` (the address with a text fragment)
    in place of the article's own when given."""
    title = esc(clip(clean(article.title).strip() or "Untitled", _TITLE_CHARS))
    parts = [link(url or article.url, title)]
    outlet = clip(clean(article.outlet).strip(), _OUTLET_CHARS)
    if outlet:
        parts.append(esc(outlet))
    when = format_date(article.published)
    if when:
        parts.append(esc(when))
    return " · ".join(parts)


def _quote_html(before: str, highlight: str, after: str, budget: int) -> str:
    """The quote with its answering sentence in bold, clipped to ``budget`` units."""
    before, highlight, after = clean(before), clean(highlight), clean(after)
    highlight = clip(highlight, budget)
    left = budget - utf16_length(highlight)
    before = clip(before, left // 2, keep_end=True) if before else ""
    after = clip(after, left - utf16_length(before)) if after else ""
    bold = f"<b>{esc(highlight)}</b>" if highlight.strip() else esc(highlight)
    return f"{esc(before)}{bold}{esc(after)}"


# --------------------------------------------------------------------------- answers


def page_count(answer: Answer, page_size: int) -> int:
    return max(1, -(-len(answer.passages) // page_size))


def page_items(answer: Answer, page: int, page_size: int) -> list[AnsweredPassage]:
    return answer.passages[page * page_size : (page + 1) * page_size]


def _excerpt(item: AnsweredPassage, budget: int) -> str:
    quote = _quote_html(
        item.quote.before, item.quote.highlight, item.quote.after, budget - _SOURCE_BUDGET
    )
    return (
        f"<b>{item.rank}.</b>\n<blockquote>{quote}</blockquote>\n"
        f"— {source_line(item.passage.article, item.link)}"
    )


def answer_page(answer: Answer, page: int, page_size: int) -> str:
    """One page of an answer: header, numbered quoted excerpts with sources, page footer.

    Args:
        answer: an answer with passages (see :func:`nothing_found` otherwise).
        page: zero-based page number.
        page_size: excerpts per page.
    """
    pages = page_count(answer, page_size)
    page = min(max(page, 0), pages - 1)
    items = page_items(answer, page, page_size)
    question = esc(clip(clean(answer.question).strip(), _QUESTION_CHARS))
    total = len(answer.passages)
    header = f"🔎 <b>{total} excerpt{'s' if total != 1 else ''}</b> for <i>{question}</i>"
    if answer.continued:
        header = "➡️ <b>Reading on</b> after the last excerpt"
    notes = "".join(f"\n📅 <i>{esc(clip(n, _NOTE_CHARS))}</i>" for n in time_notes(answer))
    if answer.context:
        about = clip(context_line(answer.context), _NOTE_CHARS)
        notes += f"\n🧭 <i>{esc(about)}</i>"
    header += notes
    footer = f"\n\n<i>Page {page + 1} of {pages}</i>" if pages > 1 else ""
    budget = (MAX_MESSAGE_LENGTH - _FRAME_BUDGET - visible_length(notes)) // max(page_size, 1)
    blocks = [_excerpt(item, budget) for item in items]
    text = header + "\n\n" + "\n\n".join(blocks) + footer
    # The budgets make this unreachable; dropping whole blocks keeps every tag intact if not.
    while not fits(text) and len(blocks) > 1:
        blocks.pop()
        text = header + "\n\n" + "\n\n".join(blocks) + footer
    return text


def context_line(words: Sequence[str]) -> str:
    """What a follow-up was understood to be about: "about: Panjshir, Taliban"."""
    return "about: " + ", ".join(words)


def passage_view(item: AnsweredPassage) -> str:
    """The whole passage an excerpt comes from, the quote's answering sentence in bold."""
    chunk = item.passage.chunk.text
    highlight = item.quote.highlight
    at = item.quote.article_offset(item.quote.highlight_start) - item.passage.chunk.start
    if not (at >= 0 and chunk[at : at + len(highlight)] == highlight):
        at = chunk.find(highlight) if highlight else -1
    if at < 0 or not highlight:
        before, highlight, after = chunk, "", ""
    else:
        before, after = chunk[:at], chunk[at + len(highlight) :]
    quote = _quote_html(before, highlight, after, MAX_MESSAGE_LENGTH - _FRAME_BUDGET)
    return (
        f"📄 <b>Passage {item.rank}</b>\n<blockquote>{quote}</blockquote>\n"
        f"— {source_line(item.passage.article, item.link)}"
    )


def inline_message(answer: Answer, item: AnsweredPassage) -> str:
    """The message an inline result sends: the question, one excerpt and its source."""
    question = esc(clip(" ".join(clean(answer.question).split()), _QUESTION_CHARS))
    return f"🔎 <i>{question}</i>\n\n" + _excerpt(item, MAX_MESSAGE_LENGTH - _FRAME_BUDGET)


def inline_title(item: AnsweredPassage) -> str:
    """Plain-text title of an inline result."""
    return clip(clean(item.passage.article.title).strip() or "Untitled", 100)


def inline_description(item: AnsweredPassage) -> str:
    """Plain-text description of an inline result: the answering sentence."""
    return clip(" ".join(clean(item.quote.highlight or item.quote.text).split()), 200)


def nothing_found(
    question: str, articles: int, recent_titles: Sequence[str], notes: Sequence[str] = ()
) -> str:
    """The reply when nothing in the library answers, with a hint of what it covers.

    Args:
        notes: what the reader should know about time in the question (a period with no
            articles, a date not in the calendar: :func:`newsbot.periods.time_notes`); said
            in place of "I found nothing".
    """
    shown = esc(clip(" ".join(clean(question).split()), _QUESTION_CHARS))
    if articles == 0:
        return (
            f"I found nothing about <i>{shown}</i>: the library is still empty. "
            "An admin can add articles with /add."
        )
    said = [f"📅 {esc(clip(note, _NOTE_CHARS))}" for note in notes]
    lines = [
        *(said or [f"I found nothing in the library that answers <i>{shown}</i>."]),
        "",
        f"It holds {articles} article{'s' if articles != 1 else ''}"
        + (", the latest:" if recent_titles else "."),
    ]
    lines += [f"• {esc(clip(clean(t).strip(), _TITLE_CHARS))}" for t in recent_titles[:5]]
    lines += ["", "Try other words, or ask about one of these topics."]
    return "\n".join(lines)


def latest_articles(records: Sequence[ArticleRecord], topic: str | None) -> str:
    """The reply to /latest: the newest articles (about ``topic``), each with date and link."""
    about = f" about <i>{esc(clip(clean(topic), _QUESTION_CHARS))}</i>" if topic else ""
    if not records:
        return f"I have no articles{about} yet." if topic else "The library is still empty."
    lines = [f"🗞 <b>The newest articles</b>{about}:", ""]
    lines += [f"• {source_line(r)}" for r in records]
    return fitting(lines)


# --------------------------------------------------------------------------- admin


_STATUS_LABEL = {
    IngestStatus.ADDED: "✅ added",
    IngestStatus.UPDATED: "🔄 updated",
    IngestStatus.DUPLICATE: "♻️ duplicate",
    IngestStatus.FAILED: "❌ failed",
}


def ingest_line(result: IngestResult) -> str:
    """One outcome: status, then the article (id, title, chunks) or why it failed."""
    label = _STATUS_LABEL[result.status]
    source = esc(clip(clean(result.source), 120))
    if result.status is IngestStatus.FAILED:
        why = esc(clip(clean(result.error or "unknown error"), 300))
        return f"{label}: {source}\n   {why}"
    title = esc(clip(clean(result.title or "").strip() or "Untitled", _TITLE_CHARS))
    detail = f"<code>{esc(result.article_id or '')}</code> {title}"
    if result.status is IngestStatus.DUPLICATE:
        detail += " (already in the library)"
    else:
        detail += f" ({result.chunks} passage{'s' if result.chunks != 1 else ''})"
    return f"{label}: {detail}"


def ingest_report(results: Sequence[IngestResult], *, total: int, done: bool) -> str:
    """The status message of an ingest: progress while it runs, outcomes when it is done."""
    head = (
        f"<b>Done</b>: {len(results)} of {total}" if done else f"⏳ Working… {len(results)}/{total}"
    )
    lines = [ingest_line(r) for r in results]
    text = head + ("\n\n" + "\n".join(lines) if lines else "")
    while not fits(text) and lines:  # many sources: keep the newest outcomes
        lines.pop(0)
        text = head + "\n\n…\n" + "\n".join(lines)
    return text


def import_report(name: str, results: Sequence[IngestResult]) -> str:
    """The outcome of an uploaded JSON Lines dump: a count per outcome, then the failed lines
    (as many as fit; a dump may hold thousands of articles)."""
    counts = {status: 0 for status in _STATUS_LABEL}
    for result in results:
        counts[result.status] += 1
    tally = ", ".join(f"{_STATUS_LABEL[s]} {n}" for s, n in counts.items() if n)
    head = (
        f"<b>Done</b>: {esc(clip(clean(name), 120))}, {len(results)} "
        f"line{'s' if len(results) != 1 else ''}\n{tally or 'no articles in it'}"
    )
    failed = [ingest_line(r) for r in results if r.status is IngestStatus.FAILED]
    lines: list[str] = []
    for line in failed:
        if not fits(head + "\n\n" + "\n".join([*lines, line, "…"])):
            lines.append("…")
            break
        lines.append(line)
    return head + "\n\n" + "\n".join(lines) if lines else head


def article_list(records: Sequence[ArticleRecord], page: int, per_page: int) -> str:
    """One page of ``/list``: ids, titles, outlets and dates, newest first."""
    total = len(records)
    if total == 0:
        return "The library is empty. Add articles with /add."
    pages = -(-total // per_page)
    page = min(max(page, 1), pages)
    shown = records[(page - 1) * per_page : page * per_page]
    lines = [f"📚 <b>{total} article{'s' if total != 1 else ''}</b> (page {page} of {pages})", ""]
    for record in shown:
        meta = " · ".join(
            x
            for x in (
                esc(clip(clean(record.outlet).strip(), _OUTLET_CHARS)),
                esc(format_date(record.published)),
            )
            if x
        )
        title = esc(clip(clean(record.title).strip() or "Untitled", _TITLE_CHARS))
        lines.append(f"<code>{esc(record.article_id)}</code> {link(record.url, title)}")
        if meta:
            lines.append(f"   <i>{meta}</i>")
    if page < pages:
        lines += ["", f"Next: /list {page + 1}"]
    text = "\n".join(lines)
    while not fits(text) and len(lines) > 3:
        lines.pop(-1)
        text = "\n".join(lines)
    return text


def removed(record: ArticleRecord) -> str:
    title = esc(clip(clean(record.title).strip() or "Untitled", _TITLE_CHARS))
    return f"🗑 Removed <code>{esc(record.article_id)}</code> {title}."


def stats_text(stats: LibraryStats) -> str:
    return (
        "📊 <b>Library</b>\n"
        f"Articles: {stats.articles}\n"
        f"Passages: {stats.chunks}\n"
        f"Model: <code>{esc(clip(stats.model, 200))}</code>\n"
        f"Store: <code>{esc(clip(stats.store, 300))}</code>"
    )
