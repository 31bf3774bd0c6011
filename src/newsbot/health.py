"""Health reports: the running bot's heartbeat, which ``newsbot healthcheck`` reads.

An embedded store serves one process (``index.store_lock``): a second process
opening it beside the bot could crash Chroma. So the bot checks its own store every
:data:`HEARTBEAT_INTERVAL` seconds and writes the result to ``<store>/newsbot.health``; the
health check trusts that report while its writer lives and it is fresh, and opens the store
itself only when no bot holds it. A stalled bot stops writing, so its report goes stale and
the check fails, which counting the store from outside never noticed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from newsbot.errors import NewsbotError

if TYPE_CHECKING:  # the health check reads reports without importing the library's stack
    from newsbot.library import Library

log = logging.getLogger(__name__)

HEALTH_FILE = "newsbot.health"
HEARTBEAT_INTERVAL = 15.0  # seconds between the bot's reports
# A report older than this means the bot stopped checking: six missed beats, so a long
# ingest or a busy thread pool delaying a few is not called a failure.
STALE_AFTER = 90.0


@dataclass(frozen=True)
class Heartbeat:
    """One health report: who wrote it, when (Unix time), and what it found.

    ``starting`` is written before the bot opens its library (loading the model takes a
    while), so a check meanwhile does not try to open the store the bot is about to hold.
    """

    pid: int
    time: float
    store: str
    articles: int = 0
    chunks: int = 0
    error: str | None = None
    starting: bool = False
    started: str | None = None  # when the writer process started (see process_start)

    def age(self, now: float | None = None) -> float:
        """Seconds since the report (negative for a time in the future: not a real report)."""
        return (time.time() if now is None else now) - self.time

    def fresh(self, max_age: float) -> bool:
        # A few seconds of slack for a clock step; a report from further ahead is forged.
        return -5.0 <= self.age() <= max_age


def check(library: Library) -> Heartbeat:
    """Count the library's store, as the health check would, and say what went wrong if it
    cannot."""
    pid = os.getpid()
    try:
        stats = library.stats()
    except NewsbotError as error:
        return Heartbeat(pid, time.time(), library.description, error=str(error), started=_us())
    return Heartbeat(pid, time.time(), stats.store, stats.articles, stats.chunks, started=_us())


def report(library: Library) -> Heartbeat:
    """Check the library's store and write the result beside it (embedded stores only: a
    Chroma server is checked from outside directly)."""
    beat = check(library)
    if not library.remote:
        write(library.settings.store.path, beat)
    return beat


def report_starting(folder: Path) -> None:
    """Say that this process is opening the embedded store in ``folder``."""
    write(folder, Heartbeat(os.getpid(), time.time(), str(folder), starting=True, started=_us()))


def write(folder: Path, beat: Heartbeat) -> None:
    """Replace the report in ``folder`` in one step, so a reader never sees half of one.

    A report that cannot be written (disk full, read-only volume) is logged, not raised: the
    bot keeps answering, and the health check then calls it unhealthy for the stale report.
    """
    path = folder / HEALTH_FILE
    partial = path.with_name(f".{HEALTH_FILE}.{beat.pid}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        partial.write_text(json.dumps(asdict(beat)), encoding="utf-8")
        os.replace(partial, path)
    except OSError as error:
        log.warning("cannot write the health report %s: %s", path, error)
        with contextlib.suppress(OSError):
            partial.unlink()


def read(folder: Path) -> Heartbeat | None:
    """The report in ``folder``; None when there is none or it cannot be read."""
    try:
        data = json.loads((folder / HEALTH_FILE).read_text(encoding="utf-8"))
        return Heartbeat(
            pid=int(data["pid"]),
            time=float(data["time"]),
            store=str(data["store"]),
            articles=int(data.get("articles", 0)),
            chunks=int(data.get("chunks", 0)),
            error=None if data.get("error") is None else str(data["error"]),
            starting=bool(data.get("starting", False)),
            started=None if data.get("started") is None else str(data["started"]),
        )
    except (OSError, ValueError, KeyError, TypeError, OverflowError):
        return None


def remove(folder: Path, pid: int | None = None) -> None:
    """Delete the report in ``folder`` (only if ``pid`` wrote it, when given): a bot that
    stops cleanly leaves no report for a later check to misread."""
    beat = read(folder)
    if beat is not None and (pid is None or beat.pid == pid):
        with contextlib.suppress(FileNotFoundError):
            (folder / HEALTH_FILE).unlink()


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists (in this PID namespace: the container's, in one)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def writer_alive(beat: Heartbeat) -> bool:
    """Whether the process that wrote ``beat`` still runs: its pid, started when it says (a
    pid alone is reused, and pid 1 is the first process of every container)."""
    if not alive(beat.pid):
        return False
    now = process_start(beat.pid)
    return beat.started is None or now is None or now == beat.started


def process_start(pid: int) -> str | None:
    """When process ``pid`` started, in clock ticks since boot (Linux ``/proc``), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except (OSError, ValueError, OverflowError):
        return None
    # Field 22; the command name (field 2) is in parentheses and may hold spaces.
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None


def _us() -> str | None:
    return process_start(os.getpid())
