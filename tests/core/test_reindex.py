"""`newsbot reindex` after a model change: killed half-way it leaves the old index working,
and re-run it resumes and switches to a complete index of the new model."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import chromadb
import pytest
from chromadb.config import Settings as ChromaSettings

from newsbot.config import ChunkSettings, EmbeddingSettings, load_settings
from newsbot.errors import ModelMismatchError
from newsbot.index.embedder import Embedder, resolve_model_path
from newsbot.index.store import generation_names, next_generation
from newsbot.library import Library
from tests.conftest import SAMPLE
from tests.store_checks import (
    cli_env,
    kill_during_write,
    newsbot,
    read_embedded,
    short_reuters,
    write_jsonl,
)

QUESTION = "Who took control of the Panjshir valley?"
DEFAULT = "all-MiniLM-L6-v2"
# The default backend, int8 ONNX, counts as its own model in the index (test_embedder).
INT8 = " (int8)"


@pytest.fixture(scope="module")
def other_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real, different sentence-transformers model with another dimension (128), made here
    without any download: the default model followed by a fixed random projection."""
    import torch
    from sentence_transformers import SentenceTransformer, models

    base = SentenceTransformer(resolve_model_path(DEFAULT)[0], device="cpu")
    torch.manual_seed(7)
    projection = models.Dense(384, 128, bias=False, activation_function=torch.nn.Identity())
    path = tmp_path_factory.mktemp("models") / "minilm-projected-128"
    SentenceTransformer(modules=[*base, projection], device="cpu").save(str(path))
    return str(path)


def test_reindex_to_another_model_killed_then_rerun(
    tmp_path: Path, embedder: Embedder, other_model: str, model_cache: Path
) -> None:
    store = tmp_path / "store"
    old_settings = load_settings(store={"path": store})
    with Library.open(old_settings, embedder=embedder) as library:
        dump = write_jsonl(tmp_path / "dump.jsonl", short_reuters(100))
        results = list(library.ingest([str(SAMPLE), str(dump)]))
        before = library.ask(QUESTION).to_json()
    assert before["answered"] and len(results) == 101
    old_state = read_embedded(store)
    assert old_state.dimension == 384

    env = cli_env(store__path=str(store), embedding__model=other_model)
    with (tmp_path / "reindex.log").open("wb") as log:
        first = subprocess.Popen(newsbot("reindex"), env=env, stdout=log, stderr=log)
        kill_during_write(first, store / "newsbot-lexical", nth=2, after_rows=False)

    # Killed: the new generation is half built beside the old one, which still answers.
    chunking = ChunkSettings().model_dump_json()
    target = generation_names("newsbot", next_generation(other_model + INT8, "", chunking))[1]
    client = chromadb.PersistentClient(
        path=str(store), settings=ChromaSettings(anonymized_telemetry=False)
    )
    half = client.get_collection(target).count()
    client.clear_system_cache()
    assert 0 < half < 101
    new_settings = load_settings(store={"path": store}, embedding={"model": other_model})
    with pytest.raises(ModelMismatchError, match="newsbot reindex"):
        Library.open(new_settings)
    with Library.open(old_settings, embedder=embedder) as library:
        assert library.ask(QUESTION).to_json() == before
    interrupted = read_embedded(store)
    interrupted.assert_whole_articles()
    assert interrupted.registry == old_state.registry and interrupted.dimension == 384

    # Re-run: it keeps what the first run finished and completes the rest.
    rerun = subprocess.run(newsbot("reindex", "--json"), env=env, capture_output=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr.decode()
    report = json.loads(rerun.stdout)
    assert report["articles"] == 101 and report["embedded"] == 101 - half
    assert report["model"] == other_model + INT8 and report["previous_model"] == DEFAULT + INT8

    after = read_embedded(store)
    after.assert_whole_articles()
    assert after.dimension == 128 and set(after.registry) == set(old_state.registry)
    # The old generation is gone: one chunks collection, one registry, both of the new one.
    assert "newsbot_chunks" not in after.collections
    assert (
        sum(name.startswith(("newsbot_chunks", "newsbot_articles")) for name in after.collections)
        == 2
    )

    other = Embedder(EmbeddingSettings(model=other_model, cache_dir=model_cache))
    with Library.open(new_settings, embedder=other) as library:
        answer = library.ask(QUESTION)
        assert answer.answered
        assert "Panjshir" in answer.passages[0].quote.text
    with pytest.raises(ModelMismatchError):
        Library.open(old_settings, embedder=embedder)


def test_a_reindex_resumed_with_other_chunking_starts_over(
    tmp_path: Path, embedder: Embedder
) -> None:
    # Resumed, it kept what the interrupted run had embedded: chunks cut the old way.
    def chunking(max_tokens: int) -> Any:
        return load_settings(
            store={"path": tmp_path / "store"}, chunking={"max_tokens": max_tokens}
        )

    with Library.open(chunking(256), embedder=embedder) as library:
        library.add_text(SAMPLE.read_text(encoding="utf-8"))

    def interrupt(done: int, total: int) -> None:
        raise KeyboardInterrupt  # after the first page: every article is in the new generation

    with (
        Library.open(chunking(64), embedder=embedder) as library,
        pytest.raises(KeyboardInterrupt),
    ):
        library.reindex(progress=interrupt)
    with Library.open(chunking(128), embedder=embedder) as library:
        report = library.reindex()
    assert report.embedded == 1  # not 0: nothing of the 64-token run was kept

    fresh = load_settings(store={"path": tmp_path / "fresh"}, chunking={"max_tokens": 128})
    with Library.open(fresh, embedder=embedder) as library:
        library.add_text(SAMPLE.read_text(encoding="utf-8"))
        assert report.chunks == library.stats().chunks


def _folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def test_the_dropped_generations_leave_no_files_behind(tmp_path: Path, embedder: Embedder) -> None:
    """Seen: chromadb 1.5.9's delete_collection keeps the collection's vector index folder, so
    each reindex grew the store by the size of its index."""
    from newsbot.index.orphans import orphan_segment_folders

    store = tmp_path / "store"
    settings = load_settings(store={"path": store})
    # What is not Chroma's stays, even with a segment-like name.
    foreign = store / "0b4f9a4e-8d8e-4c36-9d6a-3f1c2b7e5a10"
    foreign.mkdir(parents=True)
    (foreign / "notes.txt").write_text("mine")
    with Library.open(settings, embedder=embedder) as library:
        library.add_text(SAMPLE.read_text(encoding="utf-8"))
        library.reindex()
        library.reindex()
        answer = library.ask(QUESTION).passages[0].quote.text
    # chromadb leaves the two dropped generations' folders (if this fails, it now removes
    # them itself, and newsbot.index.orphans can go).
    left = orphan_segment_folders(store)
    assert len(left) >= 2
    before = _folder_bytes(store)

    with Library.open(settings, embedder=embedder) as library:
        assert orphan_segment_folders(store) == []
        assert library.ask(QUESTION).passages[0].quote.text == answer
        assert library.stats().articles == 1
        library.add_text("Harbour reopens\n" + "The city harbour reopened on Monday. " * 5)
    assert not any(path.exists() for path in left)
    assert _folder_bytes(store) < before
    assert (foreign / "notes.txt").read_text() == "mine"
    with Library.open(settings, embedder=embedder) as library:  # and it opens clean again
        assert library.stats().articles == 2
        assert library.ask(QUESTION).passages[0].quote.text == answer


def test_a_catalogue_without_vector_segments_removes_nothing(tmp_path: Path) -> None:
    """Another Chroma layout (no 'hnsw' segment named) must not make every folder an orphan."""
    import sqlite3

    from newsbot.index.orphans import orphan_segment_folders

    folder = tmp_path / "0b4f9a4e-8d8e-4c36-9d6a-3f1c2b7e5a10"
    folder.mkdir()
    (folder / "header.bin").write_bytes(b"\0")
    db = sqlite3.connect(tmp_path / "chroma.sqlite3")
    db.execute("CREATE TABLE segments (id TEXT, type TEXT)")
    db.execute("INSERT INTO segments VALUES ('x', 'urn:chroma:segment/metadata/sqlite')")
    db.commit()
    assert orphan_segment_folders(tmp_path) == []
    db.execute(
        "INSERT INTO segments VALUES ('y', 'urn:chroma:segment/vector/hnsw-local-persisted')"
    )
    db.commit()
    db.close()
    assert orphan_segment_folders(tmp_path) == [folder]
    # Only files: a folder named like a segment file makes it someone else's.
    (folder / "length.bin").mkdir()
    (folder / "length.bin" / "notes.txt").write_text("mine")
    assert orphan_segment_folders(tmp_path) == []
