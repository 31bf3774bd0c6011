"""Fixtures shared by every test: a clean environment, the real model loaded once, a library."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from newsbot.config import EmbeddingSettings, Settings, load_settings
from newsbot.index.embedder import Embedder
from newsbot.library import Library

FIXTURES = Path(__file__).parent / "fixtures"
SAMPLE = FIXTURES / "voa-2021-09-06-panjshir.txt"
SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where this test session keeps the ONNX exports of models (embedding.cache_dir)."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(autouse=True)
def clean_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory, model_cache: Path
) -> None:
    """No NEWSBOT_* variable or ./config.toml of the developer's leaks into a test."""
    for name in list(os.environ):
        if name.startswith("NEWSBOT_"):
            monkeypatch.delenv(name)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    # The default backend exports the model on first use (~25 s): once per test session, for
    # this process and the newsbot processes tests start, not once per test. The export from
    # an empty cache is tested on its own (test_embedder).
    monkeypatch.setenv("NEWSBOT_EMBEDDING__CACHE_DIR", str(model_cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(home)


@pytest.fixture(scope="session")
def embedder(model_cache: Path) -> Embedder:
    """The real default model (all-MiniLM-L6-v2 from its PyPI package, int8 ONNX), loaded once."""
    return Embedder(EmbeddingSettings(cache_dir=model_cache))


@pytest.fixture(scope="session")
def torch_embedder() -> Embedder:
    """The same model on torch (sentence-transformers): the reference the ONNX ones match."""
    return Embedder(EmbeddingSettings(backend="torch"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(store={"path": tmp_path / "store"})


@pytest.fixture
def library(settings: Settings, embedder: Embedder) -> Iterator[Library]:
    with Library.open(settings, embedder=embedder) as lib:
        yield lib


@pytest.fixture(scope="session")
def sample_text() -> str:
    return SAMPLE.read_text(encoding="utf-8")
