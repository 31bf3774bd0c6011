"""Ingest throughput: newsbot against the LangChain baseline on Reuters-21578, one process, one run.

Each pipeline starts from an empty store in a temporary directory with its model already loaded
(loading is start-up, not throughput) and indexes the same articles: newsbot through
``Library.add_articles`` (chunking, embedding, Chroma, the BM25 index and the registry), LangChain
through ``benchmarks/langchain_pipeline.py``. Prints one markdown table: articles/s, chunks/s and
the tokens each embedded (chunk overlap and titles are work too).

Usage:
    python benchmarks/ingest.py --articles 2000
    python benchmarks/ingest.py --articles 500 --pipelines langchain,newsbot-onnx-int8
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import code_version, log, machine_line, reuters_articles

from newsbot.config import EmbeddingSettings, load_settings
from newsbot.index.embedder import Embedder
from newsbot.library import Library
from newsbot.models import Article

# ONNX exports are made once per machine, not per run (an export is start-up, not ingest).
MODELS = Path.home() / ".cache" / "newsbot" / "models"
PIPELINES = ("langchain", "newsbot-torch", "newsbot-onnx", "newsbot-onnx-int8")


@dataclass(slots=True)
class Run:
    pipeline: str
    articles: int
    chunks: int
    seconds: float
    tokens: int


def run_newsbot(backend: str, articles: Sequence[Article], workdir: Path) -> Run:
    config = workdir / "empty.toml"
    config.write_text("")
    settings = load_settings(
        config,
        store={"path": workdir / "store"},
        embedding={"backend": backend, "cache_dir": MODELS},
    )
    with Library.open(settings) as library:
        embedder = library.embedder  # loaded before the clock starts
        embedder.embed(["warm-up"])
        recorder = _Recorder(embedder.embed)
        embedder.embed = recorder  # type: ignore[method-assign]
        embedder.embed_spans = _Recorder(embedder.embed_spans, recorder.texts)  # type: ignore[method-assign]
        started = time.perf_counter()
        results = list(library.add_articles(("reuters", a) for a in articles))
        seconds = time.perf_counter() - started
        chunks = sum(r.chunks or 0 for r in results)
        added = sum(r.status.value in ("added", "updated") for r in results)
        tokens = model_tokens(embedder.count_tokens, recorder.texts)
    return Run(f"newsbot ({backend})", added, chunks, seconds, tokens)


class _Recorder:
    """Wraps ``embed`` to keep what a pipeline sent to the model; counted after the clock."""

    def __init__(self, embed: Callable[..., Any], texts: list[str] | None = None) -> None:
        self._embed = embed
        self.texts: list[str] = [] if texts is None else texts

    def __call__(self, texts: Sequence[str], *args: Any) -> Any:
        self.texts.extend(texts)
        return self._embed(texts, *args)


def model_tokens(count: Callable[[Sequence[str]], list[int]], texts: Sequence[str]) -> int:
    """Tokens the model saw: two special tokens each, cut at its 256-token limit."""
    return sum(min(n + 2, 256) for n in count(texts))


def run_langchain(articles: Sequence[Article], workdir: Path, embedder: Embedder) -> Run:
    from langchain_pipeline import LangChainPipeline

    pipeline = LangChainPipeline(workdir / "chroma")
    pipeline.embeddings.embed_query("warm-up")
    started = time.perf_counter()
    n_articles, n_chunks = pipeline.add(articles)
    seconds = time.perf_counter() - started
    texts = [chunk for a in articles for chunk in pipeline.splitter.split_text(a.text)]
    return Run(
        "LangChain baseline",
        n_articles,
        n_chunks,
        seconds,
        model_tokens(embedder.count_tokens, texts),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--articles", type=int, default=2000, metavar="N")
    parser.add_argument(
        "--pipelines",
        default=",".join(PIPELINES),
        help="comma-separated, from: " + ", ".join(PIPELINES),
    )
    args = parser.parse_args(argv)
    chosen = [p.strip() for p in args.pipelines.split(",") if p.strip()]
    unknown = set(chosen) - set(PIPELINES)
    if unknown:
        raise SystemExit(f"unknown pipelines: {', '.join(sorted(unknown))}")

    machine_at_start = machine_line()
    articles = reuters_articles(args.articles)
    # Exact duplicate bodies would be skipped by newsbot and embedded again by LangChain: keep
    # the work equal by leaving them out.
    seen: set[str] = set()
    articles = [a for a in articles if not (a.text in seen or seen.add(a.text))]  # type: ignore[func-returns-value]
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="newsbot-ingest-") as tmp:
        for name in chosen:
            workdir = Path(tmp) / name
            workdir.mkdir()
            log(f"{name}: {len(articles)} articles ...")
            if name == "langchain":
                counter = Embedder(EmbeddingSettings(backend="onnx", cache_dir=MODELS))
                runs.append(run_langchain(articles, workdir, counter))
            else:
                runs.append(run_newsbot(name.removeprefix("newsbot-"), articles, workdir))
            log(f"  {runs[-1].articles / runs[-1].seconds:.1f} articles/s")
            gc.collect()

    print("# newsbot ingest throughput\n")
    print(f"at start: {machine_at_start}")
    print(f"at end:   {machine_line()}")
    print(f"code: {code_version()}")
    print(
        f"data: first {args.articles} Reuters-21578 documents, "
        f"{len(articles)} after exact duplicates\n"
    )
    baseline = next((r for r in runs if r.pipeline == "LangChain baseline"), None)
    print(
        "| pipeline | articles | chunks | model tokens | seconds | articles/s | chunks/s "
        "| vs LangChain |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in runs:
        ratio = (
            f"{(r.articles / r.seconds) / (baseline.articles / baseline.seconds):.2f}x"
            if baseline
            else "-"
        )
        print(
            f"| {r.pipeline} | {r.articles} | {r.chunks} | {r.tokens} | {r.seconds:.1f} | "
            f"{r.articles / r.seconds:.1f} | {r.chunks / r.seconds:.1f} | {ratio} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
