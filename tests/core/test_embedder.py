from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from newsbot.index.embedder import Embedder, resolve_model_path
from tests.chroma_server import free_port


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


def test_default_model_loads_with_no_hub_and_an_empty_cache(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    # Any hub request would go to a closed loopback port and fail.
    env |= {"HF_HOME": str(tmp_path / "hf"), "HF_ENDPOINT": f"http://127.0.0.1:{free_port()}"}
    code = (
        "from newsbot.config import EmbeddingSettings\n"
        "from newsbot.index.embedder import Embedder\n"
        "e = Embedder(EmbeddingSettings())\n"
        "print(e.embed(['offline']).shape)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(1, 384)"
    assert not (tmp_path / "hf" / "hub").exists() or not any((tmp_path / "hf" / "hub").iterdir())
