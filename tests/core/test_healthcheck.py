"""`newsbot healthcheck`, the container's HEALTHCHECK: store reachable, index readable, quick;
beside a running bot, the bot's own report."""

from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from newsbot import health
from newsbot.cli import app
from newsbot.config import load_settings
from newsbot.index.embedder import Embedder
from newsbot.library import Library
from tests.conftest import SAMPLE
from tests.store_checks import run_cli

runner = CliRunner()


@pytest.fixture
def no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """The health check must never load the embedding model: loading it fails the test."""

    def refuse(self: Embedder, *args: object, **kwargs: object) -> None:
        raise AssertionError("healthcheck loaded the embedding model")

    monkeypatch.setattr(Embedder, "__init__", refuse)


def healthcheck() -> tuple[int, str, str]:
    result = runner.invoke(app, ["healthcheck"])
    return result.exit_code, result.stdout, result.stderr


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_healthy_store_with_articles(
    tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch, no_model: None
) -> None:
    store = tmp_path / "store"
    with Library.open(load_settings(store={"path": store}), embedder=embedder) as library:
        assert [r.status.value for r in library.ingest([str(SAMPLE)])] == ["added"]
    monkeypatch.setenv("NEWSBOT_STORE__PATH", str(store))

    code, stdout, stderr = healthcheck()

    assert code == 0, stderr
    assert stdout.count("\n") == 1 and stdout.startswith("healthy:")
    assert str(store) in stdout and "1 articles" in stdout
    assert stderr == ""


def test_fresh_store_is_healthy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_model: None
) -> None:
    monkeypatch.setenv("NEWSBOT_STORE__PATH", str(tmp_path / "new"))
    code, stdout, _ = healthcheck()
    assert code == 0
    assert "0 articles, 0 chunks" in stdout


def test_unreachable_server_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, no_model: None
) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("NEWSBOT_STORE__URL", url)

    started = time.monotonic()
    code, stdout, stderr = healthcheck()

    assert code == 1
    assert stdout == ""
    assert stderr.count("\n") == 1 and stderr.startswith("unhealthy: ")
    assert url in stderr
    assert time.monotonic() - started < 30  # a probe, not a wait


def test_index_of_another_model_is_unhealthy(
    tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "store"
    with Library.open(load_settings(store={"path": store}), embedder=embedder) as library:
        list(library.ingest([str(SAMPLE)]))
    monkeypatch.setenv("NEWSBOT_STORE__PATH", str(store))
    monkeypatch.setenv("NEWSBOT_EMBEDDING__MODEL", "some/other-model")

    code, _, stderr = healthcheck()

    assert code == 1
    assert stderr.startswith("unhealthy: ") and "other-model" in stderr


def test_bad_setting_is_unhealthy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSBOT_STORE__URL", "ftp://chroma:8000")
    code, _, stderr = healthcheck()
    assert code == 1
    assert stderr.startswith("unhealthy: ") and "NEWSBOT_STORE__URL" in stderr


# --------------------------------------------------------------------------- beside a running bot
# The embedded store serves one process: beside the bot, the health check reads the report the
# bot writes after checking its own store (newsbot.health), and never opens the store itself.


def report(store: Path, *, age: float = 0.0, pid: int | None = None, **fields: Any) -> None:
    health.write(
        store,
        health.Heartbeat(
            pid=os.getpid() if pid is None else pid,
            time=time.time() - age,
            store=f"embedded Chroma at {store}",
            **fields,
        ),
    )


def test_a_running_bots_fresh_report_is_read_and_its_store_left_alone(
    tmp_path: Path, embedder: Embedder
) -> None:
    store = tmp_path / "store"
    # This process holds the store, as the bot does: a check that opened it would be refused.
    with Library.open(load_settings(store={"path": store}), embedder=embedder) as library:
        library.add_text(SAMPLE.read_text(encoding="utf-8"))
        assert health.report(library).articles == 1
        result = run_cli(store, "healthcheck")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("healthy: ") and result.stdout.count("\n") == 1
    assert "1 articles, 3 chunks" in result.stdout
    assert f"checked by the bot (pid {os.getpid()})" in result.stdout


def test_a_stale_report_is_unhealthy_unless_max_age_allows_it(
    tmp_path: Path, embedder: Embedder
) -> None:
    store = tmp_path / "store"
    with Library.open(load_settings(store={"path": store}), embedder=embedder):
        report(store, age=600, articles=1, chunks=3)
        stale = run_cli(store, "healthcheck")
        allowed = run_cli(store, "healthcheck", "--max-age", "900")

    assert stale.returncode == 1 and stale.stdout == ""
    assert stale.stderr.count("\n") == 1, stale.stderr
    assert re.search(
        rf"^unhealthy: the bot \(pid {os.getpid()}\) has not checked its store for 60\d s",
        stale.stderr,
    ), stale.stderr
    assert allowed.returncode == 0 and "1 articles, 3 chunks" in allowed.stdout


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"starting": True}, "is starting"),
        ({"error": "Chroma failed: disk I/O error"}, "reports Chroma failed: disk I/O error"),
    ],
)
def test_a_bot_starting_or_failing_is_unhealthy(
    tmp_path: Path,
    embedder: Embedder,
    monkeypatch: pytest.MonkeyPatch,
    fields: dict[str, Any],
    expected: str,
) -> None:
    store = tmp_path / "store"
    monkeypatch.setenv("NEWSBOT_STORE__PATH", str(store))
    with Library.open(load_settings(store={"path": store}), embedder=embedder):  # the "bot"
        report(store, **fields)
        code, stdout, stderr = healthcheck()

    assert code == 1 and stdout == ""
    assert stderr.startswith(f"unhealthy: the bot (pid {os.getpid()}) {expected}"), stderr
    assert stderr.count("\n") == 1


def test_a_report_left_by_a_dead_bot_is_ignored(
    tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch, no_model: None
) -> None:
    store = tmp_path / "store"
    with Library.open(load_settings(store={"path": store}), embedder=embedder) as library:
        library.add_text(SAMPLE.read_text(encoding="utf-8"))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(30)
    report(store, pid=gone.pid, error="an old failure")
    monkeypatch.setenv("NEWSBOT_STORE__PATH", str(store))

    code, stdout, stderr = healthcheck()

    assert code == 0, stderr
    assert "1 articles, 3 chunks" in stdout and "checked by" not in stdout  # counted itself


def test_a_report_that_cannot_be_written_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    with caplog.at_level(logging.WARNING, logger="newsbot.health"):
        report(not_a_folder)
    assert "cannot write the health report" in caplog.text
    assert health.read(not_a_folder) is None


def test_a_report_from_another_process_than_the_holder_is_ignored(
    tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "store"
    monkeypatch.setenv("NEWSBOT_STORE__PATH", str(store))
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        # This process holds the store; the reports name a live process that does not, or
        # this pid with another start time (a pid reused: pid 1 in every container).
        with Library.open(load_settings(store={"path": store}), embedder=embedder):
            for forged in ({"pid": other.pid}, {"started": "1"}):
                report(store, articles=999, chunks=999, **forged)
                code, stdout, stderr = healthcheck()
                assert code == 0, stderr
                assert "0 articles, 0 chunks" in stdout and "checked by" not in stdout, forged
    finally:
        other.kill()
        other.wait(30)


@pytest.mark.parametrize(
    "forged",
    [
        {},  # fresh, from a live process (this one), but nobody holds the store
        {"age": -3600},  # from the future: never stale
        {"pid": 99_999_999_999},  # no such process (and too large for a pid)
    ],
)
def test_a_report_not_from_the_stores_holder_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_model: None, forged: dict[str, Any]
) -> None:
    store = tmp_path / "store"
    report(store, articles=999, chunks=999, **forged)
    monkeypatch.setenv("NEWSBOT_STORE__PATH", str(store))

    code, stdout, stderr = healthcheck()

    assert code == 0, stderr
    assert "0 articles, 0 chunks" in stdout and "999" not in stdout  # counted itself
