"""The same library against a real Chroma server started with ``chroma run``."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from newsbot.config import Settings, load_settings
from newsbot.index.embedder import Embedder
from newsbot.library import Library
from newsbot.models import Article, IngestStatus
from tests.chroma_server import chroma_server
from tests.conftest import FIXTURES
from tests.store_checks import cli_env


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with chroma_server(tmp_path_factory.mktemp("chroma") / "data") as url:
        yield url


def server_settings(url: str, cache: Path, collection: str) -> Settings:
    return load_settings(
        store={"url": url, "collection": collection, "lexical_path": cache / "lexical"}
    )


def test_server_mode_round_trip(
    server_url: str, tmp_path: Path, embedder: Embedder, sample_text: str
) -> None:
    settings = server_settings(server_url, tmp_path / "one", "roundtrip")
    with Library.open(settings, embedder=embedder) as library:
        assert library.stats().store == f"Chroma server {server_url}"
        article = Article(
            text=sample_text, title="Massoud Vows to Fight on", url="https://voa.example/a"
        )
        added = library.add_article(article, origin="sample", added_by="cli")
        assert added.status is IngestStatus.ADDED
        again = library.add_article(article, origin="sample")
        assert again.status is IngestStatus.DUPLICATE
        answer = library.ask("What did the Taliban spokesman say about civilian casualties?")
        assert answer.answered
        assert any("civilian casualties" in p.quote.text for p in answer.passages)

    # Another machine: a fresh lexical cache, the registry and chunks come from the server.
    other = server_settings(server_url, tmp_path / "two", "roundtrip")
    with Library.open(other, embedder=embedder) as library:
        (record,) = library.list_articles()
        assert record.article_id == added.article_id and record.added_by == "cli"
        assert library.lexical.count() == added.chunks
        assert library.stats().chunks == added.chunks
        library.remove(record.article_id)
        assert library.stats().articles == 0 and library.stats().chunks == 0
        assert not library.ask("Who took control of the Panjshir valley?").answered


# A process sharing the server and the BM25 folder, stopped in the middle of a write: its
# chunks and BM25 rows are written, its registry entry not yet.
HELD_WRITE = """
import sys
from newsbot.config import load_settings
from newsbot.library import Library
url, lexical, text = sys.argv[1:]
store = {"url": url, "collection": "held", "lexical_path": lexical}
library = Library.open(load_settings(store=store))
write_records = library.store.write_records
def held(*args, **kwargs):
    print("writing", flush=True)
    sys.stdin.readline()
    write_records(*args, **kwargs)
library.store.write_records = held
print(library.add_text(open(text).read()).status.value, flush=True)
library.close()
"""


def test_an_opening_beside_another_process_writing_keeps_its_bm25_rows(
    server_url: str, tmp_path: Path, embedder: Embedder
) -> None:
    # Seen: the second opening found the writer's "writing" mark, rebuilt the BM25 index from
    # the registry (without the article in flight), and the writer's rows were lost for good.
    settings = server_settings(server_url, tmp_path, "held")
    sample = FIXTURES / "voa-2021-09-06-panjshir.txt"
    writer = subprocess.Popen(
        [sys.executable, "-c", HELD_WRITE, server_url, str(tmp_path / "lexical"), str(sample)],
        env=cli_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdin is not None and writer.stdout is not None
    try:
        assert writer.stdout.readline().strip() == "writing"
        with Library.open(settings, embedder=embedder) as beside:
            assert beside.stats().articles == 0  # not registered yet
        writer.stdin.write("\n")
        writer.stdin.flush()
        assert writer.stdout.readline().strip() == "added"
    finally:
        writer.kill()
        writer.wait(60)
    with Library.open(settings, embedder=embedder) as library:
        assert library.stats().articles == 1
        assert library.lexical.count() == library.stats().chunks > 0


def test_unreachable_server_is_a_clear_store_error(tmp_path: Path) -> None:
    from newsbot.errors import StoreError
    from tests.chroma_server import free_port

    settings = server_settings(f"http://127.0.0.1:{free_port()}", tmp_path, "nothing")
    with pytest.raises(StoreError, match="Chroma server"):
        Library.open(settings)
