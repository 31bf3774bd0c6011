"""Load test of the Telegram bot: many users asking at once while an admin ingests articles.

Everything runs on loopback: the real bot (``build_application``, long polling) talks over HTTP
to the Bot API stand-in of the tests (``tests/servers/botapi.py``); ``/add`` fetches the
articles from a local HTTP server; the library is the real one (real model, embedded Chroma
in a temporary folder). At one instant the admin sends ``/add`` messages for ``--articles``
RealTimeQA articles (20 URLs each) and ``--users`` users each send ``--questions`` RealTimeQA
questions. The script waits, within ``--timeout`` seconds, for every question's reply and
every ``/add`` outcome, then checks: each user got exactly one reply per question, no reply
is an error or a rate-limit note, the stand-in refused nothing, nothing was logged at ERROR,
and every article was added. It prints reply latency (p50/p95/max, from the moment the
questions were queued to the moment the reply reached the stand-in) and the error count, and
exits 1 if any check failed.

Usage:
    python benchmarks/load.py [--users 50] [--questions 10] [--articles 200] [--timeout 1500]

The data sets live in ``../shared/eval`` beside the project (see its README).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the Bot API stand-in lives with the tests

from newsbot.bot.app import ALLOWED_UPDATES, build_application  # noqa: E402
from newsbot.config import load_settings  # noqa: E402
from newsbot.library import Library  # noqa: E402
from tests.servers.botapi import BotApiServer  # noqa: E402

EVAL = ROOT.parent / "shared" / "eval"
RTQA_QUESTIONS = EVAL / "realtimeqa" / "questions.jsonl"
RTQA_ARTICLES = EVAL / "realtimeqa" / "articles.jsonl"
TOKEN = "424242:load-test-token"
ADMIN = 1
FIRST_USER = 10_000
URLS_PER_ADD = 20
# Reply texts that mean something went wrong (see newsbot.bot.handlers).
ERROR_MARKERS = ("went wrong", "temporarily unavailable", "faster than I can read", "⚠️")


@dataclass
class Corpus:
    articles: list[dict[str, Any]]
    questions: list[str]


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def load_corpus(article_count: int, question_count: int) -> Corpus:
    """Development-split questions with an answer in the corpus, and the articles they retrieved
    (those with the answer first), until ``article_count`` articles."""
    questions = [
        q
        for q in read_jsonl(RTQA_QUESTIONS)
        if q["week"] < "20260101" and q["article_ids_with_answer"]
    ]
    wanted: list[str] = []
    for question in questions:
        for article_id in question["article_ids_with_answer"] + question["retrieved_article_ids"]:
            if article_id not in wanted and len(wanted) < article_count:
                wanted.append(article_id)
    by_id = {a["id"]: a for a in read_jsonl(RTQA_ARTICLES) if a["id"] in set(wanted)}
    articles = [by_id[i] for i in wanted if i in by_id]
    texts = [" ".join(q["question"].split()) for q in questions]
    # Enough questions for everyone; a text repeats only after all the others were used.
    asked = [texts[i % len(texts)] for i in range(question_count)]
    return Corpus(articles, asked)


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


class ErrorCounter(logging.Handler):
    """Counts records at ERROR or above (a handler that failed, a request given up)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.name}: {record.getMessage()}")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


async def run(args: argparse.Namespace, workdir: Path) -> int:
    corpus = load_corpus(args.articles, args.users * args.questions)
    if len(corpus.articles) < args.articles:
        print(f"only {len(corpus.articles)} articles found in {RTQA_ARTICLES}", file=sys.stderr)
        return 1
    httpd, urls = serve_articles(corpus.articles)
    errors = ErrorCounter()
    logging.getLogger().addHandler(errors)
    config = workdir / "empty.toml"
    config.write_text("")
    with BotApiServer(TOKEN) as server:
        settings = load_settings(
            config,
            store={"path": workdir / "store"},
            ingest={"allow_private_urls": True},  # the article server is on loopback
            telegram={
                "token": TOKEN,
                "admins": [ADMIN],
                "base_url": server.bot_api_url,
                "base_file_url": server.file_api_url,
            },
        )
        print(f"loading the model and opening the store in {workdir} ...", flush=True)
        library = Library.open(settings)
        _ = library.embedder
        application = build_application(settings, library)
        await application.initialize()
        if application.post_init:
            await application.post_init(application)
        assert application.updater is not None
        await application.updater.start_polling(
            poll_interval=0, timeout=10, allowed_updates=ALLOWED_UPDATES
        )
        await application.start()

        users = [FIRST_USER + n for n in range(args.users)]
        adds = [urls[i : i + URLS_PER_ADD] for i in range(0, len(urls), URLS_PER_ADD)]
        load_before = os.getloadavg()
        started = time.monotonic()
        for batch in adds:
            server.user_message("/add " + " ".join(batch), user_id=ADMIN)
        asked_at: dict[int, float] = {}
        for n, user in enumerate(users):
            for k in range(args.questions):
                server.user_message(corpus.questions[n * args.questions + k], user_id=user)
            asked_at[user] = time.monotonic()
        queued = time.monotonic() - started
        print(
            f"queued {len(adds)} /add messages ({len(urls)} URLs) and "
            f"{len(users) * args.questions} questions from {len(users)} users in {queued:.2f} s",
            flush=True,
        )

        seen: dict[tuple[int, int], float] = {}
        ingest_done: float | None = None
        deadline = started + args.timeout
        complete = False
        next_report = started + 30
        while time.monotonic() < deadline:
            now = time.monotonic()
            sent = server.sent_messages()
            for message in sent:
                seen.setdefault((message["chat"]["id"], message["message_id"]), now)
            statuses = [m["text"] for m in sent if m["chat"]["id"] == ADMIN]
            done = len(statuses) == len(adds) and all(t.startswith("Done") for t in statuses)
            if ingest_done is None and done:
                ingest_done = now - started
            replies = sum(1 for chat, _ in seen if chat != ADMIN)
            if ingest_done is not None and replies >= len(users) * args.questions:
                complete = True
                break
            if now >= next_report:
                print(f"  {now - started:5.0f} s: {replies} replies", flush=True)
                next_report += 30
            await asyncio.sleep(0.1)
        elapsed = time.monotonic() - started
        load_after = os.getloadavg()

        await application.updater.stop()
        await application.stop()
        await application.shutdown()
        if application.post_shutdown:
            await application.post_shutdown(application)
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
                latencies.append(seen[(user, message["message_id"])] - asked_at[user])
                if any(marker in message["text"] for marker in ERROR_MARKERS):
                    bad_replies += 1
        answered = sum("excerpt" in m["text"] for u in users for m in server.sent_messages(u))
        statuses = [m["text"] for m in server.sent_messages(ADMIN)]
        failed_sources = sum(t.count("failed") for t in statuses)
        if not complete:
            failures.append(f"not finished within {args.timeout} s")
        if stats.articles != len(urls):
            failures.append(f"{stats.articles} articles in the library, {len(urls)} sent")
        if failed_sources:
            failures.append(f"{failed_sources} sources failed")
        error_count = bad_replies + len(server.rejected) + len(errors.messages)

        print()
        print("| metric | value |")
        print("|---|---|")
        rows = [
            ("users x questions", f"{len(users)} x {args.questions} = {len(latencies)} replies"),
            ("answered with excerpts", f"{answered}"),
            ("reply latency p50", f"{statistics.median(latencies):.1f} s" if latencies else "-"),
            ("reply latency p95", f"{percentile(latencies, 0.95):.1f} s" if latencies else "-"),
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
            ("wall clock", f"{elapsed:.0f} s"),
            (
                "machine",
                f"{os.cpu_count()} CPUs, load average {load_before[0]:.1f} before, "
                f"{load_after[0]:.1f} after",
            ),
        ]
        for name, value in rows:
            print(f"| {name} | {value} |")
        for message in errors.messages[:5]:
            print(f"logged: {message}", file=sys.stderr)
        for failure in failures:
            print(f"FAILED: {failure}", file=sys.stderr)
        return 1 if failures or error_count else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--questions", type=int, default=10, help="questions per user")
    parser.add_argument("--articles", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=1500, help="seconds before giving up")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with tempfile.TemporaryDirectory(prefix="newsbot-load-") as workdir:
        return asyncio.run(run(args, Path(workdir)))


if __name__ == "__main__":
    sys.exit(main())
