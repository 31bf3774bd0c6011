"""The BM25 side: leaving out words most chunks share, replacing an article's rows, and an
index folder that is missing, older, damaged or someone else's."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from newsbot.errors import StoreError
from newsbot.index.lexical import FORMAT, LexicalIndex, question_stems
from newsbot.models import Chunk


def chunk(article_id: str, index: int, text: str) -> Chunk:
    return Chunk(article_id=article_id, index=index, start=0, end=len(text), text=text)


def news(n: int) -> list[Chunk]:
    """``n`` chunks that all mention the markets; one also names Panjshir."""
    chunks = [
        chunk(f"a{i}", 0, f"Markets were calm on day {i} as traders waited.") for i in range(n)
    ]
    chunks[7] = chunk("a7", 0, "Markets fell as the Taliban took the Panjshir valley.")
    chunks[9] = chunk("a9", 0, "Markets fell on covid fears as traders waited.")
    return chunks


def test_question_words_are_stemmed_like_the_index() -> None:
    # Stopwords go; plurals, case and accents meet the indexed stems; numbers stay.
    assert question_stems("What did the Élections in Zürich decide about 2,000 markets?") == [
        "elect",
        "zurich",
        "decid",
        "2",
        "000",
        "market",
    ]
    assert question_stems("Who was it?") == []


def test_words_most_chunks_share_are_left_out(tmp_path: Path) -> None:
    index = LexicalIndex(tmp_path / "lexical")
    index.replace_articles([], news(2500))
    assert index.count() == 2500
    # "markets" is in every chunk: with it, BM25 lists them all; without it, the one that
    # names the valley (the stemmed form "market" is what the index counts).
    assert len(index.search("markets Panjshir", 3000)) == 2500
    rare = index.search("markets Panjshir", 3000, max_df=0.1)
    assert [h.chunk.article_id for h in rare] == ["a7"]
    assert index.search("markets Panjshir", 1)[0].chunk.article_id == "a7"  # same best hit
    # When every word is common, the rarest ("traders": 2,499 chunks) is still searched.
    common = index.search("markets traders", 3000, max_df=0.1)
    assert len(common) == 2499 and "a7" not in {h.chunk.article_id for h in common}
    # Words the index does not hold are no reason to drop the ones it does.
    assert len(index.search("markets zanzibar", 3000, max_df=0.1)) == 2500
    assert index.search("zanzibar quokka", 10, max_df=0.1) == []


def test_only_the_rarest_words_are_searched(tmp_path: Path) -> None:
    index = LexicalIndex(tmp_path / "lexical")
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
    index = LexicalIndex(tmp_path / "lexical")
    index.replace_articles([], news(40))
    assert len(index.search("markets Panjshir", 100, max_df=0.1)) == 40


def test_hits_carry_the_whole_chunk_best_first(tmp_path: Path) -> None:
    index = LexicalIndex(tmp_path / "lexical")
    text = "Before. The Taliban said they took the Panjshir valley on Monday."
    index.replace_articles([], [*news(40), Chunk("b1", 3, 8, len(text), text[8:])])
    hits = index.search("Panjshir valley Taliban Monday", 5)
    assert hits[0].chunk == Chunk("b1", 3, 8, len(text), text[8:])
    assert [h.chunk.article_id for h in hits] == ["b1", "a7"]
    assert hits[0].score > hits[1].score > 0


def test_an_articles_rows_are_replaced_and_removed(tmp_path: Path) -> None:
    index = LexicalIndex(tmp_path / "lexical")
    index.replace_articles([], news(40))
    index.replace_articles(["a7"], [chunk("a7", 0, "Oil rose."), chunk("a7", 1, "Gold fell.")])
    assert index.count() == 41
    assert [h.chunk.index for h in index.search("oil gold", 10)] in ([0, 1], [1, 0])
    assert not index.search("Panjshir", 10)
    index.remove_articles(["a7", "a3"])
    assert index.count() == 38 and not index.search("oil gold", 10)
    index.clear()
    assert index.count() == 0 and not index.search("markets", 10)


def test_writes_and_meta_are_seen_by_another_opening(tmp_path: Path) -> None:
    """Two openings of one folder (another process in server mode shares the cache): each
    sees the other's committed writes and meta, and neither keeps the writer's lock."""
    path = tmp_path / "lexical"
    first, second = LexicalIndex(path), LexicalIndex(path)
    first.replace_articles([], news(40))
    first.set_meta("fingerprint", "abc")
    second._index.reload()
    assert second.count() == 40 and second.get_meta("fingerprint") == "abc"
    second.remove_articles(["a7"])
    first._index.reload()
    assert first.count() == 39 and not first.search("Panjshir", 5)
    assert LexicalIndex(path).get_meta("fingerprint") == "abc"


def test_searches_run_while_a_write_is_under_way(tmp_path: Path) -> None:
    index = LexicalIndex(tmp_path / "lexical")
    index.replace_articles([], news(2500))
    found: list[int] = []
    writing = threading.Thread(
        target=index.replace_articles,
        args=([], [chunk(f"b{i}", 0, f"Bond yields rose on day {i}.") for i in range(5000)]),
    )
    writing.start()
    while writing.is_alive():
        found.append(len(index.search("Panjshir", 5)))
    writing.join()
    # Every search saw a whole snapshot: before the write or after it, never a half.
    assert found and set(found) == {1}
    assert index.count() == 7500 and len(index.search("bond yields", 10_000)) == 5000


def test_an_older_or_damaged_index_starts_empty_and_unmarked(tmp_path: Path) -> None:
    """An empty index without a fingerprint: the library rebuilds it from Chroma."""
    old = tmp_path / "lexical.sqlite3"  # the SQLite FTS5 file of an older newsbot
    old.write_bytes(b"SQLite format 3\x00" + bytes(4080))
    index = LexicalIndex(old)
    assert old.is_dir() and index.count() == 0 and index.get_meta("fingerprint") is None
    index.replace_articles([], news(40))
    index.set_meta("fingerprint", "abc")
    (old / "meta.json").write_text("{ not json")  # tantivy's own record, damaged
    index = LexicalIndex(old)
    assert index.count() == 0 and index.get_meta("fingerprint") is None
    index.replace_articles([], news(40))
    meta = old / "newsbot-meta.json"
    meta.write_text(json.dumps({"format": "tantivy-0", "fingerprint": "abc"}))
    assert LexicalIndex(old).count() == 0  # another format: replaced


def test_an_index_whose_tantivy_files_went_loses_its_fingerprint(tmp_path: Path) -> None:
    """Our meta file alone does not vouch for an index: without tantivy's it opens empty."""
    path = tmp_path / "lexical"
    index = LexicalIndex(path)
    index.replace_articles([], news(40))
    index.set_meta("fingerprint", "abc")
    (path / "meta.json").unlink()
    index = LexicalIndex(path)
    assert index.count() == 0 and index.get_meta("fingerprint") is None
    index.replace_articles([], news(40))
    assert index.count() == 40


def test_two_openings_write_the_meta_file_at_the_same_time(tmp_path: Path) -> None:
    """Each opening (another process, in server mode) replaces the meta file through a
    scratch file of its own: a shared one was renamed from under the other writer."""
    path = tmp_path / "lexical"
    openings = [LexicalIndex(path), LexicalIndex(path)]
    errors: list[BaseException] = []

    def write(index: LexicalIndex, name: str) -> None:
        try:
            for i in range(300):
                index.set_meta(name, str(i))
        except BaseException as error:
            errors.append(error)

    threads = [
        threading.Thread(target=write, args=(index, f"k{n}")) for n, index in enumerate(openings)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert json.loads((path / "newsbot-meta.json").read_text())["format"] == FORMAT
    assert [p.name for p in path.iterdir() if p.name.endswith(".tmp")] == []
    umask = os.umask(0)
    os.umask(umask)
    # As any file the process makes (not owner-only): another user's process may share it.
    assert (path / "newsbot-meta.json").stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_folder_of_other_files_is_refused_not_replaced(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    with pytest.raises(StoreError, match="is not a lexical index of newsbot"):
        LexicalIndex(folder)
    assert (folder / "notes.txt").read_text() == "keep me"
    other = tmp_path / "notes.txt"
    other.write_text("keep me too")
    with pytest.raises(StoreError, match="is not a lexical index of newsbot"):
        LexicalIndex(other)
    assert other.read_text() == "keep me too"


def test_a_write_waits_while_another_opening_holds_the_writer(tmp_path: Path) -> None:
    """tantivy lets one writer in at a time (a lock file): another waits its turn."""
    path = tmp_path / "lexical"
    first, second = LexicalIndex(path), LexicalIndex(path)
    held = first._writer()
    threading.Timer(0.3, held.wait_merging_threads).start()  # lets the lock go
    started = time.monotonic()
    second.replace_articles([], news(40))
    assert time.monotonic() - started >= 0.25
    assert second.count() == 40
