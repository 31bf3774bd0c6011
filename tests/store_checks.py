"""Look into a store directly (raw chromadb and tantivy, not through newsbot) and run the CLI.

The reliability tests use these to check what is really on disk after a crash, an outage or a
failed write: every article whole (registry entry, all its chunks, all its lexical rows) or
absent, and nothing left in the write journal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from newsbot.index.store import generation_names
from tests.conftest import SHARED

REUTERS = SHARED / "eval" / "reuters21578" / "articles.jsonl"


@dataclass
class StoreState:
    registry: dict[str, int]  # article id -> chunk count its registry entry announces
    chunk_keys: list[tuple[str, int]]  # (article id, chunk index) of every chunk in Chroma
    lexical_keys: list[tuple[str, int]]  # the same for every row of the lexical index
    pending: list[str]  # ids in the write journal
    dimension: int | None  # of the stored chunk vectors
    collections: list[str]

    def assert_whole_articles(self) -> None:
        """Every article complete, no chunk or lexical row of an absent one, no duplicates."""
        assert self.pending == []
        expected = sorted((a, i) for a, n in self.registry.items() for i in range(n))
        assert sorted(self.chunk_keys) == expected
        assert sorted(self.lexical_keys) == expected


def _all(collection: Any, include: list[str]) -> dict[str, Any]:
    got: dict[str, Any] = {"ids": [], **{k: [] for k in include}}
    offset = 0
    while True:
        page = collection.get(include=include, limit=1000, offset=offset)
        got["ids"] += page["ids"]
        for key in include:
            values = page[key]
            got[key] += list(values) if values is not None else []
        if len(page["ids"]) < 1000:
            return got
        offset += 1000


def read_state(client: Any, lexical: Path, prefix: str = "newsbot") -> StoreState:
    """What ``client`` (a raw chromadb client) and the lexical SQLite file hold."""
    names = [c if isinstance(c, str) else c.name for c in client.list_collections()]
    generation = ""
    if f"{prefix}_index" in names:
        pointer = client.get_collection(f"{prefix}_index").get(ids=["active"])
        if pointer["ids"]:
            generation = str(pointer["metadatas"][0]["generation"])
    chunks_name, articles_name, pending_name = generation_names(prefix, generation)
    registry = _all(client.get_collection(articles_name), ["metadatas"])
    chunks = _all(client.get_collection(chunks_name), ["metadatas", "embeddings"])
    pending = client.get_collection(pending_name).get()["ids"] if pending_name in names else []
    rows = _lexical_rows(lexical)
    return StoreState(
        registry={
            i: int(m["chunks"]) for i, m in zip(registry["ids"], registry["metadatas"], strict=True)
        },
        chunk_keys=[(m["article_id"], int(m["index"])) for m in chunks["metadatas"]],
        lexical_keys=[(a, int(i)) for a, i in rows],
        pending=list(pending),
        dimension=len(chunks["embeddings"][0]) if len(chunks["embeddings"]) else None,
        collections=sorted(names),
    )


def read_embedded(path: Path, lexical: Path | None = None) -> StoreState:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    client = chromadb.PersistentClient(
        path=str(path), settings=ChromaSettings(anonymized_telemetry=False)
    )
    try:
        return read_state(client, lexical or path / "newsbot-lexical")
    finally:
        client.clear_system_cache()  # let the next open (another process, too) start fresh


def short_reuters(count: int, *, skip: int = 0) -> list[dict[str, Any]]:
    """``count`` distinct short Reuters-21578 articles (one chunk each: quick to embed)."""
    chosen: list[dict[str, Any]] = []
    texts: set[str] = set()
    with REUTERS.open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            text = " ".join(record["text"].split())
            if 150 <= len(text) <= 400 and text.lower() not in texts:
                texts.add(text.lower())
                if skip:
                    skip -= 1
                    continue
                chosen.append({k: record[k] for k in ("id", "title", "published", "text")})
                if len(chosen) == count:
                    return chosen
    raise AssertionError(f"fewer than {count} short articles in {REUTERS}")


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def cli_env(**settings: str) -> dict[str, str]:
    """The environment of a ``newsbot`` subprocess: this test's settings, output unbuffered,
    and the test session's model exports (conftest)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("NEWSBOT_") or k == "NEWSBOT_EMBEDDING__CACHE_DIR"
    }
    env.update(PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1")
    env.update({f"NEWSBOT_{k.upper()}": v for k, v in settings.items()})
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    return env


def newsbot(*args: str) -> list[str]:
    return [sys.executable, "-m", "newsbot", *args]


def run_cli(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``newsbot ARGS`` in its own process, on the embedded store at ``store``."""
    env = cli_env(store__path=str(store))
    return subprocess.run(newsbot(*args), env=env, capture_output=True, text=True, timeout=300)


def kill_during_write(
    process: subprocess.Popen[bytes],
    lexical: Path,
    *,
    nth: int,
    after_rows: bool = True,
    timeout: float = 300,
) -> None:
    """SIGKILL ``process`` in the middle of its ``nth`` (or a later) write.

    A write marks the lexical index "writing" before its first store write and clears the mark
    when the batch is done; its lexical rows go in beside its chunks and before its registry
    entries. So "writing" with more lexical rows than when the write began means: lexical rows
    (and chunks, or some) written, registry entries not yet -- the worst moment to die.
    With ``after_rows=False`` the kill comes as soon as the write starts (a reindex rewrites
    as many rows as it removes, so the count does not tell).
    """
    deadline = time.monotonic() + timeout
    entered, rows_before = 0, None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the process ended ({process.returncode}) before write {nth}")
        value, rows = _lexical_progress(lexical)
        if value != "writing":
            rows_before = None
        elif rows_before is None:
            entered += 1
            rows_before = rows
        if value == "writing" and entered >= nth and (rows > rows_before or not after_rows):
            process.kill()
            process.wait()
            return
        time.sleep(0.002)
    process.kill()
    process.wait()
    raise AssertionError(f"write {nth} did not start within {timeout} s")


def _lexical_rows(lexical: Path) -> list[tuple[str, int]]:
    """(article id, chunk index) of every row the lexical index's last commit holds."""
    import tantivy

    searcher = tantivy.Index.open(str(lexical)).searcher()
    if not searcher.num_docs:
        return []
    hits = searcher.search(tantivy.Query.all_query(), searcher.num_docs).hits
    docs = [searcher.doc(address) for _, address in hits]
    return [(d["article_id"][0], int(d["idx"][0])) for d in docs]


# Lexical indexes polled by kill_during_write, kept open: reloading one takes ~0.2 ms,
# opening it several, long enough to miss the moment between a write's steps.
_OPENED: dict[Path, Any] = {}


def _lexical_progress(lexical: Path) -> tuple[str | None, int]:
    import tantivy

    opened = _OPENED

    try:
        meta = json.loads((lexical / "newsbot-meta.json").read_text())
        if lexical not in opened:
            opened[lexical] = tantivy.Index.open(str(lexical))
        opened[lexical].reload()
        rows = int(opened[lexical].searcher().num_docs)
    except (OSError, ValueError):
        opened.pop(lexical, None)
        return None, 0  # being created, or replaced for a moment: look again
    return meta.get("fingerprint"), rows
