"""What every benchmark shares: where the data is, the machine it ran on, the code it measured."""

from __future__ import annotations

import itertools
import json
import os
import platform
import subprocess
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from newsbot.ingest.clean import clean_text
from newsbot.models import Article

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
EVAL = SHARED / "eval"
RTQA_QUESTIONS = EVAL / "realtimeqa" / "questions.jsonl"
RTQA_ARTICLES = EVAL / "realtimeqa" / "articles.jsonl"
REUTERS_ARTICLES = EVAL / "reuters21578" / "articles.jsonl"


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def machine_line() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return (
        f"machine: {cores} cores, {model}; load average {load}; Python {platform.python_version()}"
    )


def code_version() -> str:
    """The commit of the newsbot code under test, and its uncommitted source files."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    changed = sorted(line[3:] for line in dirty if line.strip())
    return head + (f" + uncommitted {', '.join(changed)}" if changed else "")


def percentile(ordered: Sequence[float], percent: float) -> float:
    if len(ordered) == 1:
        return ordered[0]
    position = (len(ordered) - 1) * percent / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def reuters_article(record: dict[str, Any]) -> Article:
    """A Reuters-21578 document as an article, cleaned as the library's JSON Lines ingest does."""
    return Article(
        text=clean_text(record["text"]),
        title=record.get("title") or "",
        outlet="Reuters",
        published=record.get("published"),
        id=record["id"],
    )


def rtqa_article(record: dict[str, Any]) -> Article:
    """A RealTimeQA news page as an article, cleaned as the library's ingest does."""
    return Article(
        text=clean_text(record["text"]),
        title=record["title"],
        url=record.get("url"),
        outlet=record.get("source"),
        published=record.get("published"),
        id=record["id"],
    )


def reuters_articles(limit: int | None = None) -> list[Article]:
    """Reuters-21578 documents as articles."""
    records = read_jsonl(REUTERS_ARTICLES)
    return [reuters_article(r) for r in itertools.islice(records, limit)]


def rtqa_articles(limit: int | None = None) -> list[Article]:
    """RealTimeQA news pages as articles."""
    return [rtqa_article(r) for r in itertools.islice(read_jsonl(RTQA_ARTICLES), limit)]


def noon(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def quiz_clock(record: dict[str, Any]) -> datetime:
    """The day a quiz question is set in: its release week or its own date, the later (a
    week's articles may be dated the day after ``question_date``)."""
    week = record["week"]
    released = date(int(week[:4]), int(week[4:6]), int(week[6:]))
    return noon(max(released, date.fromisoformat(record["question_date"])))
