"""One process per embedded store: a second one is refused with a clear line, not let in.

Seen before the lock: ``newsbot stats`` looped beside a bulk ``ingest`` on one embedded store
crashed with SIGSEGV inside Chroma and left the write journal unreadable for every later
command, and a second process's opening rolled back the first one's in-flight writes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from newsbot.config import load_settings
from newsbot.errors import StoreError
from newsbot.index.embedder import Embedder
from newsbot.library import Library
from tests.store_checks import cli_env, newsbot

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "voa-2021-09-06-panjshir.txt"

HOLD = """
import sys
from newsbot.config import load_settings
from newsbot.library import Library
library = Library.open(load_settings(store={"path": sys.argv[1]}))
print("open", flush=True)
sys.stdin.read()  # until the test closes our stdin (or kills us)
library.close()
"""


def run_cli(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = cli_env(store__path=str(store))
    return subprocess.run(newsbot(*args), env=env, capture_output=True, text=True, timeout=300)


def test_a_second_process_is_refused_until_the_first_is_gone(
    tmp_path: Path, embedder: Embedder
) -> None:
    store = tmp_path / "store"
    settings = load_settings(store={"path": store})
    with Library.open(settings, embedder=embedder) as library:
        library.add_text(SAMPLE.read_text(encoding="utf-8"))

    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(store)],
        env=cli_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        with pytest.raises(
            StoreError, match=rf"in use by another newsbot process \(pid {holder.pid}\)"
        ):
            Library.open(settings, embedder=embedder)
        refused = run_cli(store, "stats")
        assert refused.returncode == 1
        assert f"pid {holder.pid}" in refused.stderr and "store.url" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
        # The health check only counts, beside the process that holds the store.
        health = run_cli(store, "healthcheck")
        assert health.returncode == 0, health.stderr
        assert "1 articles" in health.stdout
    finally:
        holder.kill()  # a killed holder leaves no lock behind: the kernel drops it
        holder.wait(30)

    with Library.open(settings, embedder=embedder) as library:
        assert library.stats().articles == 1


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
