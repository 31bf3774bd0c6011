"""A store that cannot grow: a clear error, and what was stored before still answers.

The tests run as root, where a read-only directory does not stop writes; a file size limit
(RLIMIT_FSIZE) on the ingesting process does, the way a full disk would: every write that
would grow a file of the store past the limit fails with EFBIG (Python ignores SIGXFSZ).
"""

from __future__ import annotations

import resource
import subprocess
from pathlib import Path

import pytest

from newsbot.config import load_settings
from newsbot.errors import StoreError
from newsbot.index.embedder import Embedder
from newsbot.library import Library
from newsbot.models import IngestStatus
from tests.conftest import SAMPLE
from tests.store_checks import cli_env, newsbot, read_embedded, short_reuters, write_jsonl

QUESTION = "Who took control of the Panjshir valley?"


def test_ingest_into_a_full_store_fails_clearly_and_keeps_what_was_there(
    tmp_path: Path, embedder: Embedder
) -> None:
    store = tmp_path / "store"
    settings = load_settings(store={"path": store})
    with Library.open(settings, embedder=embedder) as library:
        (sample,) = list(library.ingest([str(SAMPLE)]))
        before = library.ask(QUESTION).to_json()
    assert sample.status is IngestStatus.ADDED and before["answered"]

    articles = short_reuters(80)
    dump = write_jsonl(tmp_path / "dump.jsonl", articles)
    # Room for a little more than the store holds now, not for 80 more articles.
    limit = (store / "chroma.sqlite3").stat().st_size + 100_000

    def no_room() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    full = subprocess.run(
        newsbot("ingest", str(dump)),
        env=cli_env(store__path=str(store)),
        capture_output=True,
        timeout=600,
        preexec_fn=no_room,
    )
    stderr = full.stderr.decode()
    assert full.returncode == 1, stderr
    assert f"cannot write to embedded Chroma at {store}" in stderr
    assert "is the disk full or the store read-only?" in stderr
    assert "Traceback" not in stderr

    # With room again: nothing half-written is visible, the old article answers as before,
    # and the same ingest completes.
    with Library.open(settings, embedder=embedder) as library:
        assert library.ask(QUESTION).to_json() == before
    state = read_embedded(store)
    state.assert_whole_articles()
    assert sample.article_id in state.registry and len(state.registry) < 1 + len(articles)
    with Library.open(settings, embedder=embedder) as library:
        results = list(library.ingest([str(dump)]))
    assert {r.status for r in results} <= {IngestStatus.ADDED, IngestStatus.DUPLICATE}
    final = read_embedded(store)
    final.assert_whole_articles()
    assert set(final.registry) == {sample.article_id} | {a["id"] for a in articles}


def test_after_a_failed_write_the_embedded_library_refuses_writes_instead_of_hanging(
    tmp_path: Path, embedder: Embedder
) -> None:
    """The bot's case: a long-running library whose write failed. Embedded Chroma blocks on
    every later write in that process, so the library refuses them at once, in words."""
    store = tmp_path / "store"
    settings = load_settings(store={"path": store})
    dump = write_jsonl(tmp_path / "dump.jsonl", short_reuters(70))
    with Library.open(settings, embedder=embedder) as library:
        (sample,) = list(library.ingest([str(SAMPLE)]))
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        room = (store / "chroma.sqlite3").stat().st_size + 60_000
        resource.setrlimit(resource.RLIMIT_FSIZE, (room, hard))  # this process only, briefly
        try:
            with pytest.raises(StoreError, match="cannot write to embedded Chroma"):
                list(library.ingest([str(dump)]))
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        with pytest.raises(StoreError, match="must be restarted"):
            library.add_text("Harbour reopens\nThe harbour reopened on Friday after repairs.")
        with pytest.raises(StoreError, match="must be restarted"):
            library.remove(sample.article_id)
