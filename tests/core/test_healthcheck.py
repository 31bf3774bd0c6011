"""`newsbot healthcheck`, the container's HEALTHCHECK: store reachable, index readable, quick."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from newsbot.cli import app
from newsbot.config import load_settings
from newsbot.index.embedder import Embedder
from newsbot.library import Library
from tests.conftest import SAMPLE

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
