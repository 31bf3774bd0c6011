from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from newsbot.config import EmbeddingSettings, Settings
from newsbot.errors import ConfigError, ModelMismatchError
from newsbot.index.embedder import Embedder, resolve_model_path
from newsbot.index.pooling import pools_token_means
from newsbot.library import Library
from tests.chroma_server import free_port
from tests.conftest import SAMPLE
from tests.store_checks import cli_env, newsbot


def test_vectors_are_normalised_and_meaningful(embedder: Embedder) -> None:
    vectors = embedder.embed(
        [
            "The Taliban took over the Panjshir valley.",
            "Taliban fighters captured Panjshir.",
            "A recipe for lemon cake.",
        ]
    )
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3
    assert embedder.embed([]).shape == (0, 384)


def test_token_counts_use_the_model_tokenizer(embedder: Embedder) -> None:
    # Word pieces: "Panjshir" is pan ##js ##hir.
    assert embedder.count_tokens(["hello world", "Panjshir"]) == [2, 3]


def test_default_model_comes_from_the_package() -> None:
    path, local = resolve_model_path("all-MiniLM-L6-v2")
    assert local and (Path(path) / "model.safetensors").is_file()
    assert resolve_model_path("sentence-transformers/all-MiniLM-L6-v2") == (path, True)
    assert resolve_model_path("org/other-model") == ("org/other-model", False)


def _offline_env(tmp_path: Path) -> dict[str, str]:
    """A newsbot process with an empty model cache, whose hub requests would fail: any request
    goes to a closed loopback port."""
    env = {k: v for k, v in cli_env().items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env.pop("NEWSBOT_EMBEDDING__CACHE_DIR", None)
    return env | {
        "HF_HOME": str(tmp_path / "hf"),
        "HF_ENDPOINT": f"http://127.0.0.1:{free_port()}",
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "NEWSBOT_STORE__PATH": str(tmp_path / "store"),
    }


def _hub_untouched(tmp_path: Path) -> bool:
    hub = tmp_path / "hf" / "hub"
    return not hub.exists() or not any(hub.iterdir())


def test_default_backend_exports_the_packaged_model_once_offline(tmp_path: Path) -> None:
    """The quick start from an empty cache: the first command exports the model to int8 ONNX
    and says so, the next one reuses the export."""
    env = _offline_env(tmp_path)
    first = subprocess.run(
        newsbot("ingest", str(SAMPLE)), env=env, capture_output=True, text=True, timeout=300
    )
    assert first.returncode == 0, first.stderr
    assert "exporting all-MiniLM-L6-v2 to ONNX int8" in first.stderr  # shown without -v
    (export,) = (tmp_path / "cache" / "newsbot" / "models").iterdir()
    assert (export / "model.int8.onnx").is_file()

    second = subprocess.run(
        newsbot("ask", "--json", "Who took control of the Panjshir valley?"),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert second.returncode == 0, second.stderr
    assert "exporting" not in second.stderr
    answer = json.loads(second.stdout)
    assert answer["answered"] and "Taliban" in answer["passages"][0]["quote"]
    assert _hub_untouched(tmp_path)


def test_torch_backend_loads_the_packaged_model_offline(tmp_path: Path) -> None:
    code = (
        "from newsbot.config import EmbeddingSettings\n"
        "from newsbot.index.embedder import Embedder\n"
        "e = Embedder(EmbeddingSettings(backend='torch'))\n"
        "print(e.embed(['offline']).shape, e.identity)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=_offline_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(1, 384) all-MiniLM-L6-v2"
    assert _hub_untouched(tmp_path)


NEWS = [
    "The Taliban said on Monday they had taken full control of the Panjshir valley.",
    "Ahmad Massoud vowed to keep fighting.",
    "Oil prices rose 2% on supply worries.",
]


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.mark.parametrize(("backend", "agreement"), [("onnx", 0.9999), ("onnx-int8", 0.98)])
def test_onnx_backends_agree_with_torch(
    torch_embedder: Embedder, onnx_cache: Path, backend: str, agreement: float
) -> None:
    onnx = Embedder(EmbeddingSettings(backend=backend, cache_dir=onnx_cache))  # type: ignore[arg-type]
    reference = torch_embedder.embed(NEWS)
    vectors = onnx.embed(NEWS)
    assert vectors.shape == reference.shape and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.min(np.sum(vectors * reference, axis=1)) > agreement
    # Same tokenizer, so the chunker cuts the same chunks whichever backend runs.
    assert onnx.count_tokens([*NEWS, "Panjshir"]) == torch_embedder.count_tokens(
        [*NEWS, "Panjshir"]
    )
    # Each text runs alone on one thread: its vector is the same with or without others beside
    # it (no padding, int8 activations scaled per text), bit for bit.
    assert np.array_equal(onnx.embed(NEWS[1:2])[0], vectors[1])
    assert onnx._encoder._session.get_session_options().intra_op_num_threads == 1  # type: ignore[attr-defined]


def test_onnx_parallel_encoding_keeps_each_text_in_its_place(onnx_cache: Path) -> None:
    """Many texts spread over worker threads come back in the order given, with the vectors and
    sentence vectors one worker alone computes."""
    texts = [f"{i}: {NEWS[i % 3]} " * (1 + i % 7) for i in range(40)]
    spans = [[(0, len(t) // 2), (len(t) // 2, len(t))] for t in texts]

    def encoder(threads: int) -> Embedder:
        return Embedder(
            EmbeddingSettings(backend="onnx-int8", cache_dir=onnx_cache, threads=threads)
        )

    one, two = encoder(1), encoder(2)
    assert two._encoder._threads == 2  # type: ignore[attr-defined]
    vectors, pooled = two.embed_spans(texts, spans)
    alone, alone_pooled = one.embed_spans(texts, spans)
    assert np.array_equal(vectors, alone)
    assert all(np.array_equal(a, b) for a, b in zip(pooled, alone_pooled, strict=True))
    # Texts that differ get different vectors: a mix-up of rows would not pass unnoticed.
    assert len({v.tobytes() for v in vectors}) == len(texts)
    assert np.array_equal(two.embed(texts[5:6])[0], vectors[5])


def test_onnx_export_runs_apart_is_cached_and_needs_no_torch(tmp_path: Path) -> None:
    """The export runs in a child process, so the process that needed it (the bot at its first
    start) never holds torch; the next process reuses the export."""
    cache = tmp_path / "models"
    code = (
        "import sys\n"
        "from newsbot.config import EmbeddingSettings\n"
        "from newsbot.index.embedder import Embedder\n"
        f"e = Embedder(EmbeddingSettings(backend='onnx-int8', cache_dir={str(cache)!r}))\n"
        "print(e.embed(['offline']).shape, 'torch' in sys.modules)\n"
    )

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
        )

    first = run()
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "(1, 384) False"
    (export,) = cache.iterdir()  # the export, and no work folder left beside it
    made = {p.name: p.stat().st_mtime_ns for p in export.iterdir()}
    second = run()
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "(1, 384) False"
    assert list(cache.iterdir()) == [export]  # nothing exported again
    assert {p.name: p.stat().st_mtime_ns for p in export.iterdir()} == made


def test_a_model_that_cannot_be_exported_fails_clearly(tmp_path: Path) -> None:
    not_a_model = tmp_path / "not-a-model"
    not_a_model.mkdir()
    (not_a_model / "config.json").write_text("{}")
    cache = tmp_path / "models"
    with pytest.raises(ConfigError, match=r"cannot load embedding model .*\(onnx-int8\): export"):
        Embedder(EmbeddingSettings(model=str(not_a_model), backend="onnx-int8", cache_dir=cache))
    assert not cache.exists() or not any(cache.iterdir())


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_onnx_export_fuses_attention(onnx_cache: Path, backend: str) -> None:
    import onnx

    Embedder(EmbeddingSettings(backend=backend, cache_dir=onnx_cache))  # type: ignore[arg-type]
    name = "model.int8.onnx" if backend == "onnx-int8" else "model.onnx"
    (graph,) = onnx_cache.glob(f"*/{name}")
    ops = {node.op_type for node in onnx.load(str(graph)).graph.node}
    # onnxruntime's fused kernels, ~21 % faster than the plain export (onnx_model._fuse).
    assert "SkipLayerNormalization" in ops and ops & {"Attention", "QAttention"}


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for sentence in NEWS:
        start = text.index(sentence, start)
        spans.append((start, start + len(sentence)))
    return spans


@pytest.mark.parametrize("backend", ["torch", "onnx", "onnx-int8"])
def test_spans_are_pooled_from_the_same_forward_pass(
    torch_embedder: Embedder, onnx_cache: Path, backend: str
) -> None:
    model = (
        torch_embedder
        if backend == "torch"
        else Embedder(EmbeddingSettings(backend=backend, cache_dir=onnx_cache))  # type: ignore[arg-type]
    )
    text = "World news\n" + " ".join(NEWS)
    spans = _sentence_spans(text)
    # A span cut off by the model's 256-token limit, and a text without spans.
    long_text = "word " * 400 + "The end of a very long page."
    tail = (len(long_text) - 28, len(long_text))
    vectors, pooled = model.embed_spans([text, long_text, "no spans"], [spans, [(0, 4), tail], []])

    np.testing.assert_allclose(vectors, model.embed([text, long_text, "no spans"]), atol=1e-3)
    assert [p.shape for p in pooled] == [(3, 384), (2, 384), (0, 384)]
    assert np.allclose(np.linalg.norm(pooled[0], axis=1), 1.0, atol=1e-5)
    # Each sentence read in its passage is still nearest to that sentence read alone.
    alone = model.embed(NEWS)
    assert list(np.argmax(pooled[0] @ alone.T, axis=1)) == [0, 1, 2]
    assert float(pooled[0][2] @ model.embed(["oil prices"])[0]) > float(
        pooled[0][0] @ model.embed(["oil prices"])[0]
    )
    assert pooled[1][0].any() and not pooled[1][1].any()  # past the limit: a zero row
    with pytest.raises(ValueError, match="one list of spans per text"):
        model.embed_spans([text], [])


def test_spans_are_not_pooled_from_a_projected_model(tmp_path: Path) -> None:
    """Token vectors of a model with a projection after its pooling live in another space."""
    import torch
    from sentence_transformers import SentenceTransformer, models

    base = SentenceTransformer(resolve_model_path("all-MiniLM-L6-v2")[0], device="cpu")
    projection = models.Dense(384, 64, bias=False, activation_function=torch.nn.Identity())
    path = tmp_path / "projected"
    SentenceTransformer(modules=[*base, projection], device="cpu").save(str(path))
    assert pools_token_means(base) and not pools_token_means(SentenceTransformer(str(path)))

    model = Embedder(EmbeddingSettings(model=str(path), backend="torch"))
    vectors, pooled = model.embed_spans(["Oil prices rose."], [[(0, 16)]])
    assert vectors.shape == (1, 64) and pooled[0].shape == (1, 64) and not pooled[0].any()


def test_int8_vectors_count_as_another_model(
    settings: Settings, embedder: Embedder, torch_embedder: Embedder, tmp_path: Path
) -> None:
    assert settings.embedding.backend == "onnx-int8"  # the default
    with Library.open(settings, embedder=embedder) as library:
        library.add_text("Oil prices rose on Monday after OPEC cut output.", title="Oil")
    for backend in ("torch", "onnx"):
        float_model = settings.model_copy(
            update={"embedding": settings.embedding.model_copy(update={"backend": backend})}
        )
        with pytest.raises(
            ModelMismatchError, match=r'int8.*embedding\.backend = "onnx-int8".*newsbot reindex'
        ):
            Library.open(float_model)

    # An index built with torch, the default before onnx-int8, names the setting to restore.
    torch_settings = settings.model_copy(
        update={
            "store": settings.store.model_copy(update={"path": tmp_path / "torch-store"}),
            "embedding": settings.embedding.model_copy(update={"backend": "torch"}),
        }
    )
    with Library.open(torch_settings, embedder=torch_embedder) as library:
        library.add_text("Oil prices rose on Monday after OPEC cut output.", title="Oil")
    upgraded = torch_settings.model_copy(update={"embedding": settings.embedding})
    with pytest.raises(ModelMismatchError, match=r'embedding\.backend = "torch" or "onnx"'):
        Library.open(upgraded)


def test_onnx_encoding_failure_stops_the_rest(onnx_cache: Path) -> None:
    """A model call that fails (onnxruntime out of memory, say) fails the whole encode at once:
    the texts not yet started are dropped rather than encoded for nothing (Executor.map
    cancels them when its first failure is raised)."""
    embedder = Embedder(EmbeddingSettings(backend="onnx-int8", cache_dir=onnx_cache, threads=2))
    encoder = embedder._encoder
    real = encoder._session  # type: ignore[attr-defined]
    counter = itertools.count(1)  # next() is atomic: the two workers call run() at once

    class FailingSession:
        def run(self, *args: object) -> object:
            if next(counter) == 3:
                raise RuntimeError("onnxruntime: out of memory")
            return real.run(*args)

    encoder._session = FailingSession()  # type: ignore[attr-defined]
    texts = [f"{i} {NEWS[i % 3]}" for i in range(60)]
    with pytest.raises(RuntimeError, match="out of memory"):
        embedder.embed(texts)
    assert next(counter) - 1 < 10  # calls made, the failing one included
    encoder._session = real  # type: ignore[attr-defined]
    assert embedder.embed(texts).shape == (60, 384)  # the encoder still works afterwards
