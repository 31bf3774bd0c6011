from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsbot.index.embedder import Embedder
from newsbot.ingest.chunk import chunk_article
from newsbot.text import sentence_spans


def words_counter(texts: list[str]) -> list[int]:
    """A whitespace token count: simple, and stands in for a tokenizer in property tests."""
    return [len(t.split()) for t in texts]


def test_sentence_spans_cover_text_exactly(sample_text: str) -> None:
    spans = sentence_spans(sample_text)
    assert len(spans) > 15
    pieces = [sample_text[a:b] for a, b in spans]
    assert all(p == p.strip() and p for p in pieces)
    # Every non-space character belongs to exactly one sentence, in order.
    assert "".join("".join(p.split()) for p in pieces) == "".join(sample_text.split())
    assert all(spans[i][1] <= spans[i + 1][0] for i in range(len(spans) - 1))
    assert "Thank God that we do not have civilian casualties" in pieces[7]


def test_abbreviations_do_not_split_sentences() -> None:
    text = "Mr. Smith met Dr. J. Brown in Washington D.C. on Jan. 5. The U.S. economy grew 2.5%."
    pieces = [text[a:b] for a, b in sentence_spans(text)]
    assert pieces == [
        "Mr. Smith met Dr. J. Brown in Washington D.C. on Jan. 5.",
        "The U.S. economy grew 2.5%.",
    ]


def test_chunks_are_exact_slices_with_overlap(sample_text: str, embedder: Embedder) -> None:
    chunks = chunk_article(
        "a1", sample_text, max_tokens=100, overlap_sentences=1, count_tokens=embedder.count_tokens
    )
    assert len(chunks) >= 5
    for chunk in chunks:
        assert sample_text[chunk.start : chunk.end] == chunk.text
        # A chunk may exceed the budget only when a single sentence does.
        assert embedder.count_tokens([chunk.text])[0] <= 100 or len(sentence_spans(chunk.text)) == 1
    overlapping = 0
    for before, after in itertools.pairwise(chunks):
        assert after.start > before.start
        sentences = sentence_spans(before.text)
        if len(sentences) >= 2:
            # The next chunk starts with this chunk's last sentence.
            assert after.start == before.start + sentences[-1][0]
            overlapping += 1
    assert overlapping >= 2
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert chunks[0].start == 0 and chunks[-1].end == len(sample_text.rstrip())


def test_no_overlap_when_disabled(sample_text: str, embedder: Embedder) -> None:
    chunks = chunk_article(
        "a1", sample_text, max_tokens=60, overlap_sentences=0, count_tokens=embedder.count_tokens
    )
    for before, after in itertools.pairwise(chunks):
        assert after.start >= before.end


def test_overlong_sentence_is_cut_at_words(embedder: Embedder) -> None:
    text = " ".join(f"word{i}" for i in range(600)) + "."
    chunks = chunk_article(
        "a", text, max_tokens=50, overlap_sentences=1, count_tokens=embedder.count_tokens
    )
    assert len(chunks) > 5
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text
        assert not chunk.text.startswith(" ") and not chunk.text[0].isdigit()


def test_empty_text_has_no_chunks() -> None:
    assert (
        chunk_article(
            "a", "  \n\n ", max_tokens=50, overlap_sentences=1, count_tokens=words_counter
        )
        == []
    )


@settings(max_examples=150, deadline=None)
@given(
    text=st.text(
        alphabet=st.sampled_from(list("abc xyz.!?\n\n\"'é—")) | st.characters(codec="utf-8"),
        max_size=600,
    ),
    max_tokens=st.integers(min_value=3, max_value=40),
    overlap=st.integers(min_value=0, max_value=3),
)
def test_chunking_properties(text: str, max_tokens: int, overlap: int) -> None:
    chunks = chunk_article(
        "a", text, max_tokens=max_tokens, overlap_sentences=overlap, count_tokens=words_counter
    )
    covered = set()
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text
        assert chunk.text.strip()
        covered.update(range(chunk.start, chunk.end))
    # Nothing but whitespace is left out of every chunk.
    assert (
        all(ch.isspace() or i in covered for i, ch in enumerate(text) if ch.strip()) or not chunks
    )


@pytest.mark.parametrize("overlap", [0, 1, 2])
def test_progress_with_large_overlap(overlap: int) -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(40))
    chunks = chunk_article(
        "a", text, max_tokens=5, overlap_sentences=overlap, count_tokens=words_counter
    )
    starts = [c.start for c in chunks]
    assert starts == sorted(set(starts))
    assert chunks[-1].end == len(text)
