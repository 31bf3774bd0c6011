"""The Chroma server goes away and comes back: StoreErrors meanwhile, then business as usual."""

from __future__ import annotations

from pathlib import Path

import chromadb
import pytest
from chromadb.config import Settings as ChromaSettings

from newsbot.config import load_settings
from newsbot.errors import StoreError
from newsbot.index.embedder import Embedder
from newsbot.library import Library
from newsbot.models import Article, IngestStatus
from tests.chroma_server import chroma_server, free_port
from tests.store_checks import read_state

QUESTION = "What did the Taliban spokesman say about civilian casualties?"


def test_server_outage_raises_store_error_and_the_same_library_recovers(
    tmp_path: Path, embedder: Embedder, sample_text: str
) -> None:
    data, port = tmp_path / "data", free_port()
    lexical = tmp_path / "lexical"
    url = f"http://127.0.0.1:{port}"
    settings = load_settings(store={"url": url, "lexical_path": lexical})
    with chroma_server(data, port):
        library = Library.open(settings, embedder=embedder)
        added = library.add_article(
            Article(text=sample_text, title="Massoud Vows to Fight on"), origin="sample"
        )
        assert added.status is IngestStatus.ADDED
        before = library.ask(QUESTION).to_json()
        assert before["answered"]

    # The server is down: every call that needs it says so, in words, and nothing hangs.
    for call in (
        lambda: library.ask(QUESTION),
        lambda: library.add_text("Storm closes the harbour\nThe harbour closed on Monday."),
        library.stats,
        library.list_articles,
    ):
        with pytest.raises(StoreError, match=rf"Chroma server {url} is unavailable"):
            call()

    # Back on the same port and data: the same Library object works again, data intact.
    with chroma_server(data, port):
        assert library.ask(QUESTION).to_json() == before
        assert library.stats().articles == 1
        late = library.add_text("Storm closes the harbour\nThe harbour closed on Monday at noon.")
        assert late.status is IngestStatus.ADDED
        assert library.ask("When did the harbour close?").answered
        client = chromadb.HttpClient(
            host="127.0.0.1", port=port, settings=ChromaSettings(anonymized_telemetry=False)
        )
        state = read_state(client, lexical)
        state.assert_whole_articles()
        assert set(state.registry) == {added.article_id, late.article_id}
        library.close()


def test_store_errors_never_show_url_credentials(tmp_path: Path) -> None:
    url = f"http://newsbot:hunter2secret@127.0.0.1:{free_port()}"
    settings = load_settings(store={"url": url, "lexical_path": tmp_path / "lexical"})
    with pytest.raises(StoreError) as raised:
        Library.open(settings)
    assert "hunter2secret" not in str(raised.value) and "newsbot:" not in str(raised.value)
    assert "Chroma server http://127.0.0.1:" in str(raised.value)
