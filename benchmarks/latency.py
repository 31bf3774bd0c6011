"""Question latency, memory and start-up time as the index grows.

One index is grown in steps (``--sizes``, in chunks) by ingesting real news text: the RealTimeQA
pages and Reuters-21578 documents from ``../shared/eval``, interleaved, in file order. At each step
a fresh process (as a restarted bot would be) opens the library and answers RealTimeQA questions
end to end, in-process: question in, rendered Telegram answer page out (``Library.ask`` then
``bot.render.answer_page``), no network. It reports p50/p95/p99 of that time, the time from
process start to the first answer, and the process's peak RSS.

With ``--bot N``, each step also starts the bot itself (``python -m newsbot run``, long polling
over loopback HTTP against the Bot API stand-in of the tests) on the same index. The first
question is waiting before the process starts; then one user asks N more, each after the
previous reply. It reports the time from process start to the first reply, the replies'
p50/p95 (question available to ``getUpdates`` -> reply at the stand-in) and the bot process's
peak RSS (``VmHWM``, Linux).

The grown index is kept in ``--workdir``, so a later run with bigger sizes continues it.

Usage:
    python benchmarks/latency.py --sizes 1000,10000,100000
    python benchmarks/latency.py --sizes 1000,10000 --backend torch --questions 100
    python benchmarks/latency.py --sizes 10000,100000 --bot 50
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from itertools import zip_longest
from pathlib import Path

from common import ROOT, RTQA_QUESTIONS, code_version, log, machine_line, read_jsonl

from newsbot.config import Settings, load_settings
from newsbot.library import Library
from newsbot.models import Article


def settings_for(workdir: Path, backend: str, max_tokens: int | None = None) -> Settings:
    """Settings for the grown index; ``max_tokens`` other than the default gets an index
    of its own (the 84,601 chunks of 256 tokens all the text makes are cut in more)."""
    config = workdir / "empty.toml"
    config.write_text("")
    chunking = {} if max_tokens is None else {"max_tokens": max_tokens}
    store = f"store-{backend}" + ("" if max_tokens is None else f"-{max_tokens}t")
    return load_settings(
        config,
        store={"path": workdir / store},
        embedding={"backend": backend},
        chunking=chunking,
    )


def corpus() -> Iterator[tuple[str, Article]]:
    """RealTimeQA pages and Reuters documents, alternating, so every size mixes both."""
    from common import reuters_articles, rtqa_articles

    for pair in zip_longest(rtqa_articles(), reuters_articles()):
        for article in pair:
            if article is not None:
                yield (f"eval:{article.id}", article)


def grow(settings: Settings, target: int, batch: int = 64) -> tuple[int, int, float]:
    """Ingest until the index holds ``target`` chunks; returns (articles, chunks, seconds)."""
    started = time.perf_counter()
    with Library.open(settings) as library:
        stats = library.stats()
        if stats.chunks >= target:
            return stats.articles, stats.chunks, 0.0
        pending: list[tuple[str, Article]] = []
        chunks = stats.chunks
        for item in corpus():
            pending.append(item)
            if len(pending) == batch:
                chunks += sum(
                    r.chunks or 0
                    for r in library.add_articles(pending)
                    if r.status.value == "added"
                )
                pending = []
                log(f"  {chunks} chunks ({time.perf_counter() - started:.0f} s)")
                if chunks >= target:
                    break
        else:
            if pending:
                library.add_articles(pending)
        stats = library.stats()
    return stats.articles, stats.chunks, time.perf_counter() - started


MEASURE = r"""
import json, resource, sys, time
started = time.perf_counter()
from newsbot.bot.render import answer_page
from newsbot.config import load_settings
from newsbot.library import Library
settings = load_settings(
    sys.argv[1], store={"path": sys.argv[2]}, embedding={"backend": sys.argv[3]}
)
questions = json.loads(sys.argv[4])
library = Library.open(settings, load_model=True)  # as the bot and `newsbot ask` do
answer = library.ask(questions[0])
answer_page(answer, 0, settings.telegram.page_size)
first = time.perf_counter() - started
times = []
for question in questions[1:]:
    t = time.perf_counter()
    answer = library.ask(question)
    answer_page(answer, 0, settings.telegram.page_size)
    times.append(time.perf_counter() - t)
library.close()
print(json.dumps({"first_answer_s": first, "times": times,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(
    workdir: Path,
    settings: Settings,
    backend: str,
    questions: Sequence[str],
    code: Path | None = None,
) -> dict[str, float]:
    from common import percentile

    env = os.environ | {"HF_HUB_OFFLINE": "1"}
    if code is not None:  # another checkout's newsbot answers, on the same index
        env["PYTHONPATH"] = str(code / "src")
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            MEASURE,
            str(workdir / "empty.toml"),
            str(settings.store.path),
            backend,
            json.dumps(list(questions)),
        ],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if done.returncode != 0:
        raise SystemExit(f"measuring process failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    ordered = sorted(result["times"])
    return {
        "p50_ms": 1000 * percentile(ordered, 50),
        "p95_ms": 1000 * percentile(ordered, 95),
        "p99_ms": 1000 * percentile(ordered, 99),
        "first_answer_s": result["first_answer_s"],
        "peak_rss_mb": result["peak_rss_mb"],
    }


BOT_TOKEN = "424242:latency-token"
BOT_USER = 7


def measure_bot(
    workdir: Path, settings: Settings, backend: str, questions: Sequence[str]
) -> dict[str, float]:
    """The real bot process on this index: start to first reply, reply latency, peak RSS."""
    from common import percentile

    sys.path.insert(0, str(ROOT))  # the Bot API stand-in lives with the tests
    from tests.servers.botapi import BotApiServer

    with BotApiServer(BOT_TOKEN) as server:
        env = os.environ | {
            "HF_HUB_OFFLINE": "1",
            "NEWSBOT_CONFIG": str(workdir / "empty.toml"),
            "NEWSBOT_TELEGRAM__TOKEN": BOT_TOKEN,
            "NEWSBOT_TELEGRAM__ADMINS": "[1]",
            "NEWSBOT_TELEGRAM__BASE_URL": server.bot_api_url,
            "NEWSBOT_TELEGRAM__BASE_FILE_URL": server.file_api_url,
            "NEWSBOT_TELEGRAM__QUESTIONS_PER_MINUTE": "0",  # latency, not throttling
            "NEWSBOT_STORE__PATH": str(settings.store.path),
            "NEWSBOT_EMBEDDING__BACKEND": backend,
        }
        server.user_message(questions[0], user_id=BOT_USER)
        started = time.monotonic()
        with (workdir / "bot.log").open("wb") as bot_log:
            bot = subprocess.Popen(
                [sys.executable, "-m", "newsbot", "run"],
                env=env,
                cwd=workdir,
                stdout=bot_log,
                stderr=bot_log,
            )
            try:
                server.wait_for_messages(BOT_USER, 1, timeout=600)
                first = time.monotonic() - started
                times = []
                for count, question in enumerate(questions[1:], start=2):
                    sent = time.monotonic()
                    server.user_message(question, user_id=BOT_USER)
                    server.wait_for_messages(BOT_USER, count, timeout=60)
                    times.append(time.monotonic() - sent)
                status = Path(f"/proc/{bot.pid}/status").read_text()
                peak_kb = int(status.split("VmHWM:")[1].split()[0])
            finally:
                bot.terminate()
                bot.wait(timeout=60)
        answered = sum(m["text"].startswith("🔎") for m in server.sent_messages(BOT_USER))
    ordered = sorted(times)
    return {
        "bot_first_reply_s": first,
        "bot_p50_ms": 1000 * percentile(ordered, 50),
        "bot_p95_ms": 1000 * percentile(ordered, 95),
        "bot_peak_rss_mb": peak_kb / 1024,
        "bot_answered": answered,
        "bot_replies": len(questions),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", default="1000,10000,100000", help="index sizes in chunks")
    parser.add_argument("--backend", choices=("torch", "onnx", "onnx-int8"), default="onnx-int8")
    parser.add_argument("--questions", type=int, default=200, metavar="N")
    parser.add_argument(
        "--max-tokens",
        type=int,
        default=None,
        metavar="N",
        help="chunk size for the grown index (default: the configured one, 256); all the "
        "text in ../shared/eval makes 84,601 chunks of 256 tokens, so 100,000 chunks need "
        "smaller ones (160 makes ~1.7 times as many)",
    )
    parser.add_argument(
        "--bot",
        type=int,
        default=0,
        metavar="N",
        help="also run the bot process on each index and ask it N questions (see above)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path.home() / ".cache" / "newsbot-latency",
        help="where the grown index is kept (default: %(default)s)",
    )
    parser.add_argument(
        "--without-time-phrases",
        action="store_true",
        help="only questions with no time phrase ('this week', 'in 2025', 'latest'): the "
        "ones a period filter leaves as they were",
    )
    parser.add_argument(
        "--code",
        type=Path,
        default=None,
        metavar="CHECKOUT",
        help="answer with the newsbot of another checkout (its src/) on the same index, to "
        "compare code before and after a change",
    )
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    args.workdir.mkdir(parents=True, exist_ok=True)
    settings = settings_for(args.workdir, args.backend, args.max_tokens)
    questions = [r["question"] for r in read_jsonl(RTQA_QUESTIONS)]
    if args.without_time_phrases:
        from datetime import UTC, datetime

        from newsbot.time_query import read_time

        now = datetime.now(UTC)
        questions = [q for q in questions if read_time(q, now).text == q]
    questions = questions[: args.questions + 1]

    machine_at_start = machine_line()
    rows = []
    for size in sizes:
        log(f"growing the index to {size} chunks ...")
        articles, chunks, seconds = grow(settings, size)
        log(f"measuring at {chunks} chunks ...")
        row = {"target": size, "articles": articles, "chunks": chunks, "grow_s": seconds}
        row |= measure(args.workdir, settings, args.backend, questions, args.code)
        if args.bot:
            log(f"running the bot at {chunks} chunks ...")
            row |= measure_bot(args.workdir, settings, args.backend, questions[: args.bot + 1])
        rows.append(row)

    print("# newsbot question latency\n")
    print(f"at start: {machine_at_start}")
    print(f"at end:   {machine_line()}")
    print(
        f"code: {args.code or code_version()}; embedding backend {args.backend}; chunks of "
        f"{settings.chunking.max_tokens} tokens; "
        f"{len(questions) - 1} RealTimeQA questions after one warm-up\n"
    )
    print(
        "| chunks | articles | p50 ms | p95 ms | p99 ms | start to first answer s | peak RSS MB |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['chunks']} | {r['articles']} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | "
            f"{r['p99_ms']:.1f} | {r['first_answer_s']:.1f} | {r['peak_rss_mb']:.0f} |"
        )
    if args.bot:
        print(
            f"\nThe bot process (`newsbot run` on the Bot API stand-in), one user, {args.bot} "
            "questions after the first:\n"
        )
        print(
            "| chunks | start to first reply s | reply p50 ms | reply p95 ms | peak RSS MB "
            "| answered |"
        )
        print("|---|---|---|---|---|---|")
        for r in rows:
            print(
                f"| {r['chunks']} | {r['bot_first_reply_s']:.1f} | {r['bot_p50_ms']:.0f} | "
                f"{r['bot_p95_ms']:.0f} | {r['bot_peak_rss_mb']:.0f} | "
                f"{r['bot_answered']}/{r['bot_replies']} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
