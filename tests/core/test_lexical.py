"""The BM25 side: leaving out words most chunks share, and finding an article's rows by index."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from newsbot.index.lexical import LexicalIndex
from newsbot.models import Chunk


def chunk(article_id: str, index: int, text: str) -> Chunk:
    return Chunk(article_id=article_id, index=index, start=0, end=len(text), text=text)


def news(n: int) -> list[Chunk]:
    """``n`` chunks that all mention the markets; one also names Panjshir."""
    chunks = [
        chunk(f"a{i}", 0, f"Markets were calm on day {i} as traders waited.") for i in range(n)
    ]
    chunks[7] = chunk("a7", 0, "Markets fell as the Taliban took the Panjshir valley.")
    chunks[9] = chunk("a9", 0, "Markets fell on covid 19 fears as traders waited.")
    return chunks


def test_words_most_chunks_share_are_left_out(tmp_path: Path) -> None:
    index = LexicalIndex(tmp_path / "lexical.sqlite3")
    index.replace_articles([], news(2500))
    assert index._row_count() == index.count() == 2500
    # "markets" is in every chunk: with it, BM25 lists them all; without it, the one that
    # names the valley (the stemmed form "market" is what the index counts).
    assert len(index.search("markets Panjshir", 3000)) == 2500
    rare = index.search("markets Panjshir", 3000, max_df=0.1)
    assert [h.chunk.article_id for h in rare] == ["a7"]
    assert index.search("markets Panjshir", 1)[0].chunk.article_id == "a7"  # same best hit
    # When every word is common, the rarest ("traders": 2,499 chunks) is still searched.
    common = index.search("markets traders", 3000, max_df=0.1)
    assert len(common) == 2499 and "a7" not in {h.chunk.article_id for h in common}
    # A word of two tokens to the index ("covid_19": a phrase) counts as rare as its rarest.
    assert [h.chunk.article_id for h in index.search("markets covid_19", 3000, max_df=0.1)] == [
        "a9"
    ]
    # Words the index does not hold are no reason to drop the ones it does.
    assert len(index.search("markets zanzibar", 3000, max_df=0.1)) == 2500
    assert index.search("zanzibar quokka", 10, max_df=0.1) == []


def test_only_the_rarest_words_are_searched(tmp_path: Path) -> None:
    index = LexicalIndex(tmp_path / "lexical.sqlite3")
    chunks = [chunk(f"a{i}", 0, f"Oil prices rose on day {i}.") for i in range(30)]
    chunks[3] = chunk("a3", 0, "Oil prices rose as Panjshir fell.")
    chunks[4] = chunk("a4", 0, "Gold and oil prices rose.")
    index.replace_articles([], chunks)
    # Every word alone: "oil prices rose" match all 30 chunks.
    assert len(index.search("oil prices rose Panjshir gold", 100)) == 30
    # The two rarest (Panjshir: 1 chunk, gold: 1) leave out the words every chunk has.
    rarest = index.search("oil prices rose Panjshir gold", 100, max_terms=2)
    assert sorted(h.chunk.article_id for h in rarest) == ["a3", "a4"]
    assert len(index.search("oil prices rose Panjshir gold", 100, max_terms=3)) == 30


def test_a_small_library_keeps_every_word(tmp_path: Path) -> None:
    """Under PRUNE_FLOOR chunks nothing is left out: 10 % of 40 chunks is a handful."""
    index = LexicalIndex(tmp_path / "lexical.sqlite3")
    index.replace_articles([], news(40))
    assert len(index.search("markets Panjshir", 100, max_df=0.1)) == 40


def test_an_articles_rows_are_replaced_and_removed_by_index(tmp_path: Path) -> None:
    index = LexicalIndex(tmp_path / "lexical.sqlite3")
    index.replace_articles([], news(40))
    index.replace_articles(["a7"], [chunk("a7", 0, "Oil rose."), chunk("a7", 1, "Gold fell.")])
    assert index.count() == 41
    assert [h.chunk.index for h in index.search("oil gold", 10)] in ([0, 1], [1, 0])
    assert not index.search("Panjshir", 10)
    index.remove_articles(["a7", "a3"])
    assert index.count() == 38 and not index.search("oil gold", 10)
    index.clear()
    assert index.count() == 0 and not index.search("markets", 10)


def test_an_index_written_before_article_rows_is_indexed_on_open(tmp_path: Path) -> None:
    path = tmp_path / "lexical.sqlite3"
    LexicalIndex(path).replace_articles([], news(40))
    with sqlite3.connect(path) as db:  # what an older newsbot left: no article_rows
        db.execute("DROP TABLE article_rows")
    index = LexicalIndex(path)
    index.remove_articles(["a7"])
    assert index.count() == 39 and not index.search("Panjshir", 10)
    assert len(index.search("markets", 100)) == 39


def test_removing_looks_the_rows_up(tmp_path: Path) -> None:
    """Deleting by article id went through every FTS row; now it looks the rows up."""
    index = LexicalIndex(tmp_path / "lexical.sqlite3")
    index.replace_articles([], [chunk(f"a{i}", 0, f"Story {i} of many.") for i in range(20000)])
    plan = " ".join(
        str(row[-1])
        for row in index._db.execute(
            "EXPLAIN QUERY PLAN DELETE FROM chunks WHERE rowid IN"
            " (SELECT row FROM article_rows WHERE article_id = ?)",
            ("a1",),
        )
    )
    assert "article_rows USING PRIMARY KEY (article_id=?)" in plan
    index.remove_articles([f"a{i}" for i in range(100)])
    assert index.count() == 19900 and not index.search("42", 10)
    assert [h.chunk.article_id for h in index.search("142", 10)] == ["a142"]


def test_word_counts_follow_every_write(tmp_path: Path) -> None:
    """Chunk counts per word are remembered between questions, never across a write, whether
    this index or another process made it."""
    path = tmp_path / "lexical.sqlite3"
    index = LexicalIndex(path)
    index.replace_articles([], news(2500))
    assert [h.chunk.article_id for h in index.search("traders Panjshir", 10, max_df=0.1)] == ["a7"]
    # Panjshir becomes common here: left out, the rarer "quokka" is what is searched.
    valley = [chunk(f"v{i}", 0, f"Panjshir report {i} about a quokka.") for i in range(1200)]
    index.replace_articles([], valley)
    hits = index.search("Panjshir quokka", 2000, max_df=0.1)
    assert len(hits) == 1200 and "a7" not in {h.chunk.article_id for h in hits}
    # Another process removes them: Panjshir is rare again to this index.
    LexicalIndex(path).remove_articles([f"v{i}" for i in range(1200)])
    assert [h.chunk.article_id for h in index.search("Panjshir quokka", 10, max_df=0.1)] == ["a7"]
