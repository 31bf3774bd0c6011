"""The on-disk cache of sentence vectors that quote selection reads instead of the model."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from newsbot.config import Settings, load_settings
from newsbot.index.embedder import Embedder
from newsbot.index.sentence_vectors import SentenceVectors, pack, unpack
from newsbot.library import Library
from newsbot.text import passage_sentences
from tests.core.test_library import sample_article

SENTENCES = [
    "The Taliban said they had taken control of the Panjshir valley.",
    "Ahmad Massoud vowed to keep fighting.",
]


def refuse(texts: Sequence[str]) -> np.ndarray:
    raise AssertionError(f"the model was asked for {list(texts)}")


def test_cached_vectors_survive_reopening(tmp_path: Path, embedder: Embedder) -> None:
    path = tmp_path / "s.sqlite3"
    cache = SentenceVectors(path, model="m")
    first = cache.embed(SENTENCES, embedder.embed)
    cache.close()

    reopened = SentenceVectors(path, model="m")
    again = reopened.embed(list(reversed(SENTENCES)), refuse)
    np.testing.assert_allclose(again, first[::-1], atol=1e-6)
    # Equal to the model's own vectors up to float16 rounding.
    np.testing.assert_allclose(first, embedder.embed(SENTENCES), atol=2e-3)


def test_another_model_never_reads_them(tmp_path: Path, embedder: Embedder) -> None:
    path = tmp_path / "s.sqlite3"
    SentenceVectors(path, model="m").embed(SENTENCES, embedder.embed)
    with pytest.raises(AssertionError, match="the model was asked"):
        SentenceVectors(path, model="other").embed(SENTENCES, refuse)


def test_answers_from_cache_match_fresh_ones(
    settings: Settings, embedder: Embedder, sample_text: str
) -> None:
    question = "Who took control of the Panjshir valley?"
    library = Library.open(settings, embedder=embedder)
    try:
        library.add_article(sample_article(sample_text), origin="sample")
        fresh = library.ask(question)
        assert fresh.answered
        cached = library.ask(question)  # every sentence is now read from the cache
    finally:
        library.close()
    assert [p.quote.text for p in cached.passages] == [p.quote.text for p in fresh.passages]
    assert Path(library.sentences.path).stat().st_size > 0


def test_ingest_keeps_every_sentence_and_pools_chunk_vectors(
    tmp_path: Path, embedder: Embedder, sample_text: str
) -> None:
    settings = load_settings(store={"path": tmp_path / "s"}, chunking={"vectors": "sentences"})
    library = Library.open(settings, embedder=embedder)
    library.add_article(sample_article(sample_text), origin="sample")
    chunks = [c for page in library.store.iter_chunks() for c in page]
    assert len(chunks) >= 3
    stored = library.store.chunk_vectors(chunks)
    for chunk in chunks:
        sentences = [chunk.text[a:b] for a, b in passage_sentences(chunk.text)]
        # Quoting this chunk needs no model call: ingest kept all its sentence vectors.
        vectors = library.sentences.embed(sentences, refuse)
        mean = vectors.mean(axis=0)
        np.testing.assert_allclose(stored[chunk.chunk_id], mean / np.linalg.norm(mean), atol=1e-5)
        # The pooled vector still points where the chunk's text does.
        assert float(stored[chunk.chunk_id] @ embedder.embed([chunk.text])[0]) > 0.7
    library.close()


def test_ingest_keeps_the_sentences_read_in_their_chunks(
    settings: Settings, embedder: Embedder, sample_text: str
) -> None:
    """With chunk vectors (the default), a question's quotes need no model call either."""
    assert settings.chunking.vectors == "text"
    with Library.open(settings, embedder=embedder) as library:
        library.add_article(sample_article(sample_text), origin="sample")
        chunks = [c for page in library.store.iter_chunks() for c in page]
        first = min(chunks, key=lambda c: c.index)
        sentences = [first.text[a:b] for a, b in passage_sentences(first.text)]
        # The first chunk (title + text) fits the model's limit, so all its sentences are kept.
        kept = library.sentences.embed(sentences, refuse)
        assert np.allclose(np.linalg.norm(kept, axis=1), 1.0, atol=2e-3)

        asked: list[str] = []

        def counting(texts: Sequence[str]) -> np.ndarray:
            asked.extend(texts)
            return embedder.embed(texts)

        library.sentences.embed = (  # type: ignore[method-assign]
            lambda texts, embed, inner=library.sentences.embed: inner(texts, counting)
        )
        answer = library.ask("Who took control of the Panjshir valley?")
    assert answer.answered and "Taliban" in answer.passages[0].quote.text
    # Every quoted sentence came from ingest (a sentence past a chunk's 256-token limit, which
    # its title can push out, would still be embedded on first use; this article has none).
    assert asked == []


@pytest.mark.parametrize("vectors", ["sentences", "text"])
def test_both_chunk_vector_kinds_answer(
    tmp_path: Path, embedder: Embedder, sample_text: str, vectors: str
) -> None:
    settings = load_settings(store={"path": tmp_path / "store"}, chunking={"vectors": vectors})
    with Library.open(settings, embedder=embedder) as library:
        library.add_article(sample_article(sample_text), origin="sample")
        answer = library.ask("Who took control of the Panjshir valley?")
    assert answer.answered
    assert "Taliban" in answer.passages[0].quote.text


def test_a_damaged_file_is_set_aside_and_rebuilt(tmp_path: Path, embedder: Embedder) -> None:
    path = tmp_path / "s.sqlite3"
    path.write_bytes(b"not a database at all " * 200)
    cache = SentenceVectors(path, model="m")
    vectors = cache.embed(SENTENCES, embedder.embed)
    np.testing.assert_allclose(vectors, embedder.embed(SENTENCES), atol=2e-3)
    assert (tmp_path / "s.sqlite3.corrupt").read_bytes().startswith(b"not a database")
    # The fresh file works as a cache again.
    np.testing.assert_allclose(cache.embed(SENTENCES, refuse), vectors, atol=1e-6)


def test_a_failed_read_falls_back_to_the_model(tmp_path: Path, embedder: Embedder) -> None:
    cache = SentenceVectors(tmp_path / "s.sqlite3", model="m")
    cache.embed(SENTENCES, embedder.embed)
    cache._db.execute("DROP TABLE vectors8")  # what a damaged page looks like to a reader
    vectors = cache.embed(SENTENCES, embedder.embed)
    np.testing.assert_allclose(vectors, embedder.embed(SENTENCES), atol=2e-3)


def test_vectors_are_kept_as_int8(tmp_path: Path, embedder: Embedder) -> None:
    vectors = embedder.embed(SENTENCES * 200)
    assert all(len(pack(v)) == 4 + vectors.shape[1] for v in vectors)  # float16: 2 bytes each
    np.testing.assert_allclose(np.stack([unpack(pack(v)) for v in vectors]), vectors, atol=2e-3)
    # Ranking by the stored vectors is ranking by the model's.
    question = embedder.embed(["Who took the valley?"])[0]
    cache = SentenceVectors(tmp_path / "s.sqlite3", model="m")
    stored = cache.embed(SENTENCES, embedder.embed)
    assert (
        np.argsort(stored @ question).tolist()
        == np.argsort(embedder.embed(SENTENCES) @ question).tolist()
    )


def test_a_file_written_before_int8_is_still_read(tmp_path: Path, embedder: Embedder) -> None:
    path = tmp_path / "s.sqlite3"
    old = SentenceVectors(path, model="m")
    rows = [
        (old._key(t), v.astype(np.float16).tobytes())
        for t, v in zip(SENTENCES, embedder.embed(SENTENCES), strict=True)
    ]
    old.close()
    with sqlite3.connect(path) as db:  # the float16 table an older newsbot wrote
        db.execute("CREATE TABLE vectors (key BLOB PRIMARY KEY, vector BLOB NOT NULL)")
        db.executemany("INSERT INTO vectors VALUES (?, ?)", rows)
    cache = SentenceVectors(path, model="m")
    np.testing.assert_allclose(cache.embed(SENTENCES, refuse), embedder.embed(SENTENCES), atol=2e-3)
    # A new sentence beside them is embedded once and kept as int8.
    both = cache.embed([*SENTENCES, "A third sentence."], embedder.embed)
    assert both.shape == (3, embedder.embed(["x"]).shape[1])
    assert cache._db.execute("SELECT count(*) FROM vectors8").fetchone()[0] == 1
