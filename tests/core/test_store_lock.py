"""One process per embedded store: a second one is refused with a clear line, not let in.

Seen before the lock: ``newsbot stats`` looped beside a bulk ``ingest`` on one embedded store
crashed with SIGSEGV inside Chroma and left the write journal unreadable for every later
command, and a second process's opening rolled back the first one's in-flight writes.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from newsbot.config import load_settings
from newsbot.errors import StoreError
from newsbot.index.embedder import Embedder
from newsbot.library import Library
from tests.conftest import SAMPLE
from tests.store_checks import cli_env, run_cli

HOLD = """
import sys
from newsbot.config import load_settings
from newsbot.library import Library
library = Library.open(load_settings(store={"path": sys.argv[1]}))
print("open", flush=True)
sys.stdin.read()  # until the test closes our stdin (or kills us)
library.close()
"""


def hold(store: Path) -> subprocess.Popen[str]:
    """Another process that has opened the store (it closes it when its stdin closes)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(store)],
        env=cli_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
    return holder


def test_a_second_process_is_refused_until_the_first_is_gone(
    tmp_path: Path, embedder: Embedder
) -> None:
    store = tmp_path / "store"
    settings = load_settings(store={"path": store})
    with Library.open(settings, embedder=embedder) as library:
        library.add_text(SAMPLE.read_text(encoding="utf-8"))

    holder = hold(store)
    try:
        with pytest.raises(
            StoreError, match=rf"in use by another newsbot process \(pid {holder.pid}\)"
        ):
            Library.open(settings, embedder=embedder)
        refused = run_cli(store, "stats")
        assert refused.returncode == 1
        assert f"pid {holder.pid}" in refused.stderr and "store.url" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
        # The health check does not open it either: this holder writes no health report.
        health = run_cli(store, "healthcheck")
        assert health.returncode == 1
        assert health.stderr.startswith("unhealthy: ") and f"pid {holder.pid}" in health.stderr
        assert "reports no health" in health.stderr
    finally:
        holder.kill()  # a killed holder leaves no lock behind: the kernel drops it
        holder.wait(30)

    with Library.open(settings, embedder=embedder) as library:
        assert library.stats().articles == 1


def test_an_opening_that_may_wait_gets_the_store_once_its_holder_lets_go(
    tmp_path: Path, embedder: Embedder
) -> None:
    """The bot waits (``lock_wait``): a health check counting the store as it starts must not
    stop it."""
    store = tmp_path / "store"
    settings = load_settings(store={"path": store})
    holder = hold(store)
    try:
        started = time.monotonic()
        other = load_settings(store={"path": tmp_path / "other"})
        opened_meanwhile: list[float] = []

        def open_another_store() -> None:
            time.sleep(0.2)
            with Library.open(other, embedder=embedder):
                opened_meanwhile.append(time.monotonic() - started)

        beside = threading.Thread(target=open_another_store)
        beside.start()
        with pytest.raises(StoreError, match="in use by another newsbot process"):
            Library.open(settings, embedder=embedder, lock_wait=3)
        assert time.monotonic() - started >= 3  # it did wait, then gave up
        beside.join(30)
        # The wait held up no other store of this process.
        assert opened_meanwhile and opened_meanwhile[0] < 3
        assert holder.stdin is not None
        asked = time.monotonic()
        threading.Timer(1.0, holder.stdin.close).start()  # the holder closes in a second
        with Library.open(settings, embedder=embedder, lock_wait=60) as library:
            assert time.monotonic() - asked >= 1.0  # opened only once the holder let go
            assert library.stats().articles == 0
        assert holder.wait(30) == 0  # and the holder closed cleanly meanwhile
    finally:
        holder.kill()
        holder.wait(30)


def test_openings_in_one_process_share_the_store(tmp_path: Path, embedder: Embedder) -> None:
    settings = load_settings(store={"path": tmp_path / "store"})
    first = Library.open(settings, embedder=embedder)
    second = Library.open(settings, embedder=embedder)
    first.close()
    # The second opening still holds the store for this process.
    assert "in use by another newsbot process" in run_cli(tmp_path / "store", "stats").stderr
    second.close()
    second.close()  # closing twice releases nothing more
    freed = run_cli(tmp_path / "store", "stats")
    assert freed.returncode == 0, freed.stderr
    assert "articles: 0" in freed.stdout


def test_a_skipped_bm25_rebuild_is_redone_at_the_next_start(
    tmp_path: Path, embedder: Embedder
) -> None:
    """An opening that finds another writer's mark and entry skips the rebuild; its own later
    writes must not vouch for rows it never checked (seen: the next write stamped the
    registry's fingerprint on a short index, which was then never rebuilt)."""
    from newsbot.library.writer import _FINGERPRINT, _WRITING

    settings = load_settings(store={"path": tmp_path / "store"})
    with Library.open(settings, embedder=embedder) as library:
        first = library.add_text(SAMPLE.read_text(encoding="utf-8"))
        # What a writer on another host leaves in flight: its journal entry and its mark,
        # here with rows already missing.
        library.store._pending.put_many(
            [("elsewhere", "", {"host": "other-host", "pid": 1, "started": time.time()})]
        )
        library.lexical.remove_articles([first.article_id or ""])
        library.lexical.set_meta(_FINGERPRINT, _WRITING)
    with Library.open(settings, embedder=embedder) as library:
        assert library.lexical.count() == 0  # skipped: the other writer is in flight
        library.add_text("Harbour reopens\n" + "The city harbour reopened on Monday. " * 5)
        library.store.end_writes(["elsewhere"])  # that writer is done
    with Library.open(settings, embedder=embedder) as library:
        assert library.lexical.count() == library.stats().chunks > 1


def test_reindex_hands_the_lock_to_the_new_generation(tmp_path: Path, embedder: Embedder) -> None:
    settings = load_settings(store={"path": tmp_path / "store"})
    with Library.open(settings, embedder=embedder) as library:
        library.add_text(SAMPLE.read_text(encoding="utf-8"))
        library.reindex()
        assert "in use by another newsbot process" in run_cli(tmp_path / "store", "stats").stderr
    freed = run_cli(tmp_path / "store", "stats")  # closed: released, as before the reindex
    assert freed.returncode == 0, freed.stderr


def test_an_open_that_fails_halfway_lets_the_store_go(tmp_path: Path, embedder: Embedder) -> None:
    store, not_a_folder = tmp_path / "store", tmp_path / "file"
    not_a_folder.write_text("x")
    # The store opens, then the lexical index cannot: its folder would be inside a file.
    broken = load_settings(store={"path": store, "lexical_path": not_a_folder / "lexical"})
    with pytest.raises(StoreError, match="lexical index"):
        Library.open(broken, embedder=embedder)

    other = run_cli(store, "stats")  # another process: refused if this one still held it
    assert other.returncode == 0, other.stderr
    assert "articles: 0" in other.stdout
