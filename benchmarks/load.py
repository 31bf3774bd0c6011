"""Load test of the Telegram bot: many users asking at once while an admin ingests articles.

Everything runs on loopback: the real bot (``build_application``, long polling) talks over HTTP
to the Bot API stand-in of the tests (``tests/servers/botapi.py``); ``/add`` fetches the
articles from a local HTTP server; the library is the real one (real model, embedded Chroma
in a temporary folder). The stand-in notes the instant each bot message reaches it.

Burst mode (the default). At one instant the admin sends ``/add`` messages for ``--articles``
RealTimeQA articles (20 URLs each) and ``--users`` users each send ``--questions`` RealTimeQA
questions. The script waits, within ``--timeout`` seconds, for every question's reply and
every ``/add`` outcome, then checks: each user got exactly one reply per question, no reply
is an error or a rate-limit note, the stand-in refused nothing, nothing was logged at ERROR,
and every article was added. It prints reply latency (p50/p95/max, from the moment the
questions were queued to the moment the reply reached the stand-in: queueing included) and the
error count, and exits 1 if any check failed.

Scenario mode (``--scenarios``): per-question latency with closed-loop users. ``--articles``
RealTimeQA articles (the first article holding the answer of each development question, in
file order) are ingested before the clock, through the library, untimed. Then, on that one
index, each simulated user sends a question, waits for the bot's reply, and only then sends
the next; a question's latency runs from the moment the stand-in makes it available to
``getUpdates`` to the moment the bot's reply reaches the stand-in. The questions are the
development questions answered by those articles, asked in turn. After one untimed warm-up
question, the scenarios, in order: (0) 1 user asking every question once (each is new to the
bot, so this row is the cold cost; the rows after it ask questions asked before), (a) 1 user
asking ``--questions`` questions, (b) ``--users`` users asking ``--questions`` each at the same
time, (c) ``--users`` users asking for as long as the admin's ``/add`` of
``--ingest-articles`` more articles runs (they start when the ``/add`` messages are queued and
stop when every one reported Done). The per-user question rate limit is switched off
(``telegram.questions_per_minute = 0``) so the numbers are latency, not throttling. Prints a
markdown table (scenario, questions, p50/p95/max ms, errors) with the machine line and the
embedding backend, and exits 1 on any error.

Usage:
    python benchmarks/load.py [--users 50] [--questions 10] [--articles 200] [--timeout 1500]
        [--backend torch|onnx|onnx-int8]
    python benchmarks/load.py --scenarios [--users 20] [--questions 10] [--articles 150]
        [--ingest-articles 100] [--timeout 600] [--backend torch|onnx|onnx-int8]

The data sets live in ``../shared/eval`` beside the project (see its README).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from common import (
    ROOT,
    RTQA_ARTICLES,
    RTQA_QUESTIONS,
    code_version,
    machine_line,
    percentile,
    read_jsonl,
)

sys.path.insert(0, str(ROOT))  # the Bot API stand-in lives with the tests

from newsbot.bot.app import ALLOWED_UPDATES, build_application
from newsbot.config import Settings, load_settings
from newsbot.library import Library
from newsbot.models import IngestStatus
from tests.servers.botapi import BotApiServer

TOKEN = "424242:load-test-token"
ADMIN = 1
FIRST_USER = 10_000
WARM_UP_USER = 9_999
URLS_PER_ADD = 20
DEV_BEFORE = "20260101"  # development weeks; later weeks are the test split
# Reply texts that mean something went wrong (see newsbot.bot.handlers).
ERROR_MARKERS = ("went wrong", "temporarily unavailable", "faster than I can read", "⚠️")
ANSWER_MARK = "🔎"  # an answer page starts with it; "nothing found" does not


# --------------------------------------------------------------------------- data


@dataclass
class Corpus:
    articles: list[dict[str, Any]]
    questions: list[str]


def dev_questions() -> list[dict[str, Any]]:
    """Development-split RealTimeQA questions that have an answer in some article."""
    return [
        q
        for q in read_jsonl(RTQA_QUESTIONS)
        if q["week"] < DEV_BEFORE and q["article_ids_with_answer"]
    ]


def question_text(question: dict[str, Any]) -> str:
    return " ".join(question["question"].split())


def read_articles(ids: Sequence[str]) -> list[dict[str, Any]]:
    """The RealTimeQA articles with these ids, in this order (unknown ids left out)."""
    wanted = set(ids)
    by_id = {a["id"]: a for a in read_jsonl(RTQA_ARTICLES) if a["id"] in wanted}
    return [by_id[i] for i in ids if i in by_id]


def load_corpus(article_count: int, question_count: int) -> Corpus:
    """Development-split questions with an answer in the corpus, and the articles they retrieved
    (those with the answer first), until ``article_count`` articles."""
    questions = dev_questions()
    wanted: list[str] = []
    for question in questions:
        for article_id in question["article_ids_with_answer"] + question["retrieved_article_ids"]:
            if article_id not in wanted and len(wanted) < article_count:
                wanted.append(article_id)
    texts = [question_text(q) for q in questions]
    # Enough questions for everyone; a text repeats only after all the others were used.
    asked = [texts[i % len(texts)] for i in range(question_count)]
    return Corpus(read_articles(wanted), asked)


@dataclass
class ScenarioCorpus:
    indexed: list[dict[str, Any]]  # ingested before the clock
    added: list[dict[str, Any]]  # the admin's bulk /add during scenario (c)
    questions: list[str]  # each has its answer in ``indexed``


def load_scenario_corpus(indexed_count: int, added_count: int) -> ScenarioCorpus:
    """The first answer-holding article of each development question until ``indexed_count``
    (so as many distinct questions as possible can be answered), the questions answered by
    them, then ``added_count`` more articles those questions retrieved, for the bulk ingest."""
    questions = dev_questions()
    indexed: list[str] = []
    for question in questions:
        first = question["article_ids_with_answer"][0]
        if first not in indexed and len(indexed) < indexed_count:
            indexed.append(first)
    articles = read_articles(indexed)
    have = {a["id"] for a in articles}
    added: list[str] = []
    for question in questions:
        for article_id in question["article_ids_with_answer"] + question["retrieved_article_ids"]:
            if article_id not in have and article_id not in added and len(added) < added_count:
                added.append(article_id)
    answerable = [
        question_text(q) for q in questions if have.intersection(q["article_ids_with_answer"])
    ]
    return ScenarioCorpus(articles, read_articles(added), answerable)


def serve_articles(articles: list[dict[str, Any]]) -> tuple[ThreadingHTTPServer, list[str]]:
    """A loopback HTTP server with each article as ``text/plain`` (title, blank line, text)."""
    bodies = {
        f"/a/{n}.txt": f"{a['title']}\n\n{a['text']}".encode() for n, a in enumerate(articles)
    }

    class Pages(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = bodies.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    port = httpd.server_address[1]
    return httpd, [f"http://127.0.0.1:{port}{path}" for path in bodies]


# --------------------------------------------------------------------------- the bot


@dataclass(frozen=True)
class Reply:
    arrived: float
    text: str


class ClockedBotApi(BotApiServer):
    """The stand-in, noting the instant each ``sendMessage`` reached it and handing the reply
    to the simulated user waiting for it (if any)."""

    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.arrived: dict[tuple[int, int], float] = {}
        self._waiting: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Future[Reply]]] = {}
        self._clock_lock = threading.Lock()

    def handle_api_request(
        self,
        token: str,
        method: str,
        params: dict[str, Any],
        files: dict[str, Any],
        connection: socket.socket | None = None,
    ) -> tuple[int, dict[str, Any]]:
        status, payload = super().handle_api_request(token, method, params, files, connection)
        if status == 200 and method.lower() == "sendmessage":
            now = time.monotonic()
            message = payload["result"]
            chat = message["chat"]["id"]
            with self._clock_lock:
                self.arrived[(chat, message["message_id"])] = now
                waiter = self._waiting.pop(chat, None)
            if waiter is not None:
                loop, future = waiter
                loop.call_soon_threadsafe(_settle, future, Reply(now, message.get("text", "")))
        return status, payload

    def expect_reply(self, chat_id: int) -> asyncio.Future[Reply]:
        """A future for the next message the bot sends to ``chat_id``."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Reply] = loop.create_future()
        with self._clock_lock:
            self._waiting[chat_id] = (loop, future)
        return future

    def replies(self) -> int:
        """Messages the bot sent to chats other than the admin's."""
        with self._clock_lock:
            return sum(1 for chat, _ in self.arrived if chat != ADMIN)

    def forget(self, chat_id: int) -> None:
        with self._clock_lock:
            self._waiting.pop(chat_id, None)


def _settle(future: asyncio.Future[Reply], reply: Reply) -> None:
    if not future.done():
        future.set_result(reply)


class ErrorCounter(logging.Handler):
    """Counts records at ERROR or above (a handler that failed, a request given up)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.name}: {record.getMessage()}")


def bot_settings(
    workdir: Path, server: BotApiServer, backend: str | None, **telegram: Any
) -> Settings:
    """Settings for a bot on the stand-in, its store in ``workdir``; ``./config.toml`` is not
    read (``NEWSBOT_*`` variables still apply)."""
    config = workdir / "empty.toml"
    config.write_text("")
    overrides: dict[str, Any] = {
        "store": {"path": workdir / "store"},
        "ingest": {"allow_private_urls": True},  # the article server is on loopback
        "telegram": {
            "token": TOKEN,
            "admins": [ADMIN],
            "base_url": server.bot_api_url,
            "base_file_url": server.file_api_url,
            **telegram,
        },
    }
    if backend is not None:
        overrides["embedding"] = {"backend": backend}
    return load_settings(config, **overrides)


def open_library(settings: Settings, workdir: Path) -> Library:
    print(
        f"loading the model ({settings.embedding.backend}) and opening the store in {workdir} ...",
        flush=True,
    )
    library = Library.open(settings)
    _ = library.embedder
    return library


@contextlib.asynccontextmanager
async def running_bot(settings: Settings, library: Library) -> AsyncIterator[None]:
    """The real bot, long polling the stand-in, until the block ends."""
    application = build_application(settings, library)
    await application.initialize()
    if application.post_init:
        await application.post_init(application)
    assert application.updater is not None
    await application.updater.start_polling(
        poll_interval=0, timeout=10, allowed_updates=ALLOWED_UPDATES
    )
    await application.start()
    try:
        yield
    finally:
        await application.updater.stop()
        await application.stop()
        await application.shutdown()
        if application.post_shutdown:
            await application.post_shutdown(application)


def queue_adds(server: BotApiServer, urls: Sequence[str]) -> int:
    """Send ``/add`` messages of ``URLS_PER_ADD`` URLs from the admin; returns their number."""
    batches = [urls[i : i + URLS_PER_ADD] for i in range(0, len(urls), URLS_PER_ADD)]
    for batch in batches:
        server.user_message("/add " + " ".join(batch), user_id=ADMIN)
    return len(batches)


def adds_done(server: BotApiServer, before: int, count: int) -> bool:
    """Whether the admin's last ``count`` /add status messages (after ``before``) say Done."""
    statuses = [m["text"] for m in server.sent_messages(ADMIN)[before:]]
    return len(statuses) == count and all(t.startswith("Done") for t in statuses)


def failed_sources(server: BotApiServer) -> int:
    return sum(m["text"].count("failed") for m in server.sent_messages(ADMIN))


def is_error(text: str) -> bool:
    return any(marker in text for marker in ERROR_MARKERS)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


# --------------------------------------------------------------------------- burst mode


async def run_burst(args: argparse.Namespace, workdir: Path) -> int:
    corpus = load_corpus(args.articles, args.users * args.questions)
    if len(corpus.articles) < args.articles:
        print(f"only {len(corpus.articles)} articles found in {RTQA_ARTICLES}", file=sys.stderr)
        return 1
    httpd, urls = serve_articles(corpus.articles)
    errors = ErrorCounter()
    logging.getLogger().addHandler(errors)
    server = ClockedBotApi(TOKEN)
    with server:
        settings = bot_settings(workdir, server, args.backend)
        library = open_library(settings, workdir)
        async with running_bot(settings, library):
            users = [FIRST_USER + n for n in range(args.users)]
            load_before = os.getloadavg()
            started = time.monotonic()
            adds = queue_adds(server, urls)
            asked_at: dict[int, float] = {}
            for n, user in enumerate(users):
                for k in range(args.questions):
                    server.user_message(corpus.questions[n * args.questions + k], user_id=user)
                asked_at[user] = time.monotonic()
            queued = time.monotonic() - started
            print(
                f"queued {adds} /add messages ({len(urls)} URLs) and "
                f"{len(users) * args.questions} questions from {len(users)} users in "
                f"{queued:.2f} s",
                flush=True,
            )

            ingest_done: float | None = None
            deadline = started + args.timeout
            complete = False
            next_report = started + 30
            while time.monotonic() < deadline:
                now = time.monotonic()
                if ingest_done is None and adds_done(server, 0, adds):
                    ingest_done = now - started
                received = server.replies()
                if ingest_done is not None and received >= len(users) * args.questions:
                    complete = True
                    break
                if now >= next_report:
                    print(f"  {now - started:5.0f} s: {received} replies", flush=True)
                    next_report += 30
                await asyncio.sleep(0.1)
            elapsed = time.monotonic() - started
            load_after = os.getloadavg()
        stats = library.stats()
        library.close()
        httpd.shutdown()

        failures: list[str] = []
        latencies: list[float] = []
        bad_replies = 0
        for user in users:
            replies = server.sent_messages(user)
            if len(replies) != args.questions:
                failures.append(f"user {user}: {len(replies)} replies to {args.questions}")
            for message in replies:
                latencies.append(server.arrived[(user, message["message_id"])] - asked_at[user])
                if is_error(message["text"]):
                    bad_replies += 1
        answered = sum(
            m["text"].startswith(ANSWER_MARK) for u in users for m in server.sent_messages(u)
        )
        failed = failed_sources(server)
        if not complete:
            failures.append(f"not finished within {args.timeout} s")
        if stats.articles != len(urls):
            failures.append(f"{stats.articles} articles in the library, {len(urls)} sent")
        if failed:
            failures.append(f"{failed} sources failed")
        error_count = bad_replies + len(server.rejected) + len(errors.messages)

        latencies.sort()
        print()
        print("| metric | value |")
        print("|---|---|")
        rows = [
            ("users x questions", f"{len(users)} x {args.questions} = {len(latencies)} replies"),
            ("answered with excerpts", f"{answered}"),
            ("reply latency p50", f"{statistics.median(latencies):.1f} s" if latencies else "-"),
            ("reply latency p95", f"{percentile(latencies, 95):.1f} s" if latencies else "-"),
            ("reply latency max", f"{max(latencies):.1f} s" if latencies else "-"),
            (
                "errors",
                f"{error_count} (error replies {bad_replies}, refused by the API "
                f"{len(server.rejected)}, logged at ERROR {len(errors.messages)})",
            ),
            (
                "ingest",
                f"{stats.articles} articles, {stats.chunks} passages, all /add done in "
                + (f"{ingest_done:.0f} s" if ingest_done is not None else "-"),
            ),
            ("embedding backend", settings.embedding.backend),
            ("wall clock", f"{elapsed:.0f} s"),
            (
                "machine",
                f"{os.cpu_count()} CPUs, load average {load_before[0]:.1f} before, "
                f"{load_after[0]:.1f} after",
            ),
        ]
        for name, value in rows:
            print(f"| {name} | {value} |")
        for logged in errors.messages[:5]:
            print(f"logged: {logged}", file=sys.stderr)
        for failure in failures:
            print(f"FAILED: {failure}", file=sys.stderr)
        return 1 if failures or error_count else 0


# --------------------------------------------------------------------------- scenario mode


@dataclass
class Asked:
    user: int
    question: str
    latency: float | None  # None: no reply within the time allowed
    reply: str


@dataclass
class ScenarioResult:
    name: str
    asked: list[Asked]
    wall: float
    rejected: int
    logged: int
    notes: list[str] = field(default_factory=list)

    @property
    def latencies(self) -> list[float]:
        return sorted(a.latency for a in self.asked if a.latency is not None)

    @property
    def errors(self) -> int:
        unanswered = sum(a.latency is None for a in self.asked)
        bad = sum(is_error(a.reply) for a in self.asked)
        return unanswered + bad + self.rejected + self.logged

    @property
    def answered(self) -> int:
        return sum(a.reply.startswith(ANSWER_MARK) for a in self.asked)


async def closed_loop_user(
    server: ClockedBotApi,
    user: int,
    questions: Iterator[str],
    deadline: float,
    count: int | None = None,
    until: asyncio.Event | None = None,
) -> list[Asked]:
    """One user: ask, wait for the reply, ask the next; ``count`` questions, or until ``until``
    is set. Gives up (and stops) when a reply has not come by ``deadline``."""
    asked: list[Asked] = []
    while (count is None or len(asked) < count) and not (until is not None and until.is_set()):
        question = next(questions)
        reply = server.expect_reply(user)
        sent = time.monotonic()
        server.user_message(question, user_id=user)  # available to getUpdates from now on
        try:
            got = await asyncio.wait_for(reply, max(deadline - time.monotonic(), 0.001))
        except TimeoutError:
            server.forget(user)
            asked.append(Asked(user, question, None, ""))
            break
        asked.append(Asked(user, question, got.arrived - sent, got.text))
    return asked


async def run_scenario(
    name: str,
    server: ClockedBotApi,
    errors: ErrorCounter,
    users: list[int],
    questions: Iterator[str],
    timeout: float,
    count: int | None = None,
    ingest_urls: Sequence[str] = (),
) -> ScenarioResult:
    print(f"scenario: {name} ...", flush=True)
    rejected, logged = len(server.rejected), len(errors.messages)
    started = time.monotonic()
    deadline = started + timeout
    notes: list[str] = []
    until: asyncio.Event | None = None
    watcher: asyncio.Task[None] | None = None
    if ingest_urls:
        until = asyncio.Event()
        before = len(server.sent_messages(ADMIN))
        adds = queue_adds(server, ingest_urls)

        async def watch() -> None:
            assert until is not None
            while not adds_done(server, before, adds) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            took = time.monotonic() - started
            if adds_done(server, before, adds):
                notes.append(f"/add of {len(ingest_urls)} articles ({adds} messages): {took:.0f} s")
            else:
                notes.append(f"/add of {len(ingest_urls)} articles not done in {timeout:.0f} s")
            until.set()

        watcher = asyncio.create_task(watch())
    per_user = await asyncio.gather(
        *(closed_loop_user(server, u, questions, deadline, count, until) for u in users)
    )
    if watcher is not None:
        await watcher
    wall = time.monotonic() - started
    result = ScenarioResult(
        name,
        [a for asked in per_user for a in asked],
        wall,
        len(server.rejected) - rejected,
        len(errors.messages) - logged,
        notes,
    )
    print(f"  {len(result.asked)} questions in {wall:.0f} s", flush=True)
    return result


async def run_scenarios(args: argparse.Namespace, workdir: Path) -> int:
    corpus = load_scenario_corpus(args.articles, args.ingest_articles)
    if len(corpus.indexed) < args.articles or len(corpus.added) < args.ingest_articles:
        print(
            f"only {len(corpus.indexed)} + {len(corpus.added)} articles found in {RTQA_ARTICLES}",
            file=sys.stderr,
        )
        return 1
    httpd, urls = serve_articles(corpus.indexed + corpus.added)
    indexed_urls, added_urls = urls[: len(corpus.indexed)], urls[len(corpus.indexed) :]
    errors = ErrorCounter()
    logging.getLogger().addHandler(errors)
    failures: list[str] = []
    load_before = machine_line()
    server = ClockedBotApi(TOKEN)
    with server:
        # No per-user question limit: closed-loop users ask faster than a person would, and
        # the table is to show latency, not throttling.
        settings = bot_settings(workdir, server, args.backend, questions_per_minute=0)
        library = open_library(settings, workdir)
        started = time.monotonic()
        results = list(library.ingest(indexed_urls, added_by="load benchmark"))
        failed = sum(r.status is IngestStatus.FAILED for r in results)
        before = library.stats()
        print(
            f"ingested {before.articles} articles ({before.chunks} passages) in "
            f"{time.monotonic() - started:.0f} s, before the clock; "
            f"{len(corpus.questions)} questions have their answer in them",
            flush=True,
        )
        if failed:
            failures.append(f"{failed} of the articles ingested before the clock failed")
        # Each scenario goes on where the previous one stopped: a text repeats only after all
        # the others were asked.
        questions = itertools.cycle(corpus.questions)
        users = [[FIRST_USER + 1000 * s + n for n in range(args.users)] for s in range(4)]
        async with running_bot(settings, library):
            warm_up = await closed_loop_user(
                server, WARM_UP_USER, questions, time.monotonic() + args.timeout, count=1
            )
            if warm_up[0].latency is None:
                failures.append("no reply to the warm-up question")
            scenarios = [
                # Every question is asked once here, so this row shows what a question new to
                # the bot costs, and (a)-(c) ask questions asked before.
                await run_scenario(
                    "(0) 1 user, each question asked for the first time",
                    server,
                    errors,
                    users[0][:1],
                    questions,
                    args.timeout,
                    count=len(corpus.questions) - 1,
                ),
                await run_scenario(
                    "(a) 1 user",
                    server,
                    errors,
                    users[1][:1],
                    questions,
                    args.timeout,
                    count=args.questions,
                ),
                await run_scenario(
                    f"(b) {args.users} concurrent users",
                    server,
                    errors,
                    users[2],
                    questions,
                    args.timeout,
                    count=args.questions,
                ),
                await run_scenario(
                    f"(c) {args.users} concurrent users during /add of "
                    f"{args.ingest_articles} articles",
                    server,
                    errors,
                    users[3],
                    questions,
                    args.timeout,
                    ingest_urls=added_urls,
                ),
            ]
        after = library.stats()
        library.close()
        httpd.shutdown()
    if after.articles != len(urls):
        failures.append(f"{after.articles} articles in the library, {len(urls)} sent")
    if failed_sources(server):
        failures.append(f"{failed_sources(server)} sources of the /add failed")
    failures += [
        f"{s.name}: {s.errors} errors" for s in scenarios if s.errors
    ]  # counted in the table

    print()
    print("## newsbot end to end through the bot: `load.py --scenarios`")
    print()
    print(load_before + f" (at start; at end: load average {_load()})")
    print(
        f"code: {code_version()}; embedding backend {settings.embedding.backend} "
        f"({settings.embedding.identity}); index before the clock: {before.articles} RealTimeQA "
        f"articles, {before.chunks} passages; {after.articles} articles, {after.chunks} "
        "passages at the end"
    )
    print(
        "latency: a question made available to getUpdates by the Bot API stand-in -> the bot's "
        "reply reaching the stand-in (real bot, long polling over loopback HTTP); closed loop: "
        "each user sends the next question when its reply arrived. Per-user question rate "
        "limit off (telegram.questions_per_minute = 0): latency, not throttling. "
        f"Questions: RealTimeQA development questions answered by the indexed articles "
        f"({len(corpus.questions)} distinct, asked in turn); one untimed warm-up question "
        "first. Row (0) asks each question once, for the first time; (a)-(c) ask questions "
        "asked before."
    )
    print()
    print("| scenario | questions | p50 ms | p95 ms | max ms | errors | answered | questions/s |")
    print("|---|---|---|---|---|---|---|---|")
    for s in scenarios:
        lat = s.latencies
        print(
            f"| {s.name} | {len(s.asked)} | "
            + (
                f"{ms(statistics.median(lat))} | {ms(percentile(lat, 95))} | {ms(lat[-1])}"
                if lat
                else "- | - | -"
            )
            + f" | {s.errors} | {s.answered} | {len(lat) / s.wall:.1f} |"
        )
    print()
    for s in scenarios:
        for note in s.notes:
            print(f"{s.name}: {note}; the users asked while it ran")
    print(
        "errors: no reply in time, an error or rate-limit reply, a request the stand-in "
        "refused, or a record logged at ERROR during the scenario. answered: replies with "
        "excerpts (the rest said nothing was found)."
    )
    for message in errors.messages[:5]:
        print(f"logged: {message}", file=sys.stderr)
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scenarios",
        action="store_true",
        help="closed-loop users: 1 user, N users, N users during a bulk /add (one table)",
    )
    parser.add_argument(
        "--users", type=int, help="users asking at once (default: 50; 20 with --scenarios)"
    )
    parser.add_argument("--questions", type=int, default=10, help="questions per user")
    parser.add_argument(
        "--articles",
        type=int,
        help="articles added during the burst (default 200); with --scenarios, ingested "
        "before the clock (default 150)",
    )
    parser.add_argument(
        "--ingest-articles",
        type=int,
        default=100,
        help="with --scenarios: articles the admin adds during scenario (c)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        help="seconds before giving up: the whole burst (default 1500), or each scenario "
        "(default 600)",
    )
    parser.add_argument(
        "--backend",
        choices=("torch", "onnx", "onnx-int8"),
        help="embedding.backend (default: the configuration's default)",
    )
    args = parser.parse_args()
    if args.users is None:
        args.users = 20 if args.scenarios else 50
    if args.articles is None:
        args.articles = 150 if args.scenarios else 200
    if args.timeout is None:
        args.timeout = 600 if args.scenarios else 1500
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    run = run_scenarios if args.scenarios else run_burst
    with tempfile.TemporaryDirectory(prefix="newsbot-load-") as workdir:
        return asyncio.run(run(args, Path(workdir)))


if __name__ == "__main__":
    sys.exit(main())
