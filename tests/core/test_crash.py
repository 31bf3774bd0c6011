"""kill -9 in the middle of a bulk ingest: afterwards every article is whole or absent."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from newsbot.config import load_settings
from newsbot.index.embedder import Embedder
from newsbot.library import Library
from tests.store_checks import (
    cli_env,
    kill_during_write,
    newsbot,
    read_embedded,
    short_reuters,
    write_jsonl,
)


def test_kill_9_during_bulk_ingest_then_rerun_completes(tmp_path: Path, embedder: Embedder) -> None:
    articles = short_reuters(100)  # two write batches: 64, 36
    dump = write_jsonl(tmp_path / "dump.jsonl", articles)
    store = tmp_path / "store"
    lexical = store / "newsbot-lexical"
    env = cli_env(store__path=str(store))

    with (tmp_path / "first.log").open("wb") as log:
        first = subprocess.Popen(newsbot("ingest", str(dump)), env=env, stdout=log, stderr=log)
        kill_during_write(first, lexical, nth=2)

    # What the kill left, read straight from Chroma: the journal names the batch it cut short.
    crashed = read_embedded(store)
    assert crashed.pending, "the kill landed inside a write"
    # Chunks and lexical rows are written side by side: the kill (lexical rows committed,
    # registry entries not) may find Chroma's chunks of the batch written or not yet.
    orphans = {a for a, _ in crashed.chunk_keys} - set(crashed.registry)
    lexical_orphans = {a for a, _ in crashed.lexical_keys} - set(crashed.registry)
    assert lexical_orphans, "lexical rows without a registry entry"
    assert orphans | lexical_orphans <= set(crashed.pending)
    assert 0 < len(crashed.registry) < len(articles)

    # Restart: opening the library rolls the unfinished batch back.
    settings = load_settings(store={"path": store})
    with Library.open(settings, embedder=embedder) as library:
        assert library.stats().articles == len(crashed.registry)
        answer = library.ask(articles[0]["title"])
        assert (
            answer.answered and answer.passages[0].passage.article.article_id == articles[0]["id"]
        )
    recovered = read_embedded(store)
    recovered.assert_whole_articles()
    assert set(recovered.registry) == set(crashed.registry)
    assert set(crashed.pending).isdisjoint(recovered.registry)

    # Re-running the same ingest completes it: the rest added, nothing twice.
    rerun = subprocess.run(
        newsbot("ingest", str(dump), "--json"), env=env, capture_output=True, timeout=600
    )
    assert rerun.returncode == 0, rerun.stderr.decode()
    statuses = {r["article_id"]: r["status"] for r in json.loads(rerun.stdout)}
    assert {i for i, s in statuses.items() if s == "duplicate"} == set(recovered.registry)
    assert {i for i, s in statuses.items() if s == "added"} == {a["id"] for a in articles} - set(
        recovered.registry
    )
    final = read_embedded(store)
    final.assert_whole_articles()
    assert set(final.registry) == {a["id"] for a in articles}
