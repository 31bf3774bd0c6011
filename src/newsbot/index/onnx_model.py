"""The embedding model as an ONNX graph: exported once from the sentence-transformers model, then
run with onnxruntime and the ``tokenizers`` library alone, without torch.

Why: on a small CPU host, onnxruntime encodes faster than torch, an int8 copy faster still, and
a process that never imports torch starts sooner and uses less memory. The export runs locally
from the configured (by default the packaged) model, so nothing is downloaded; the result is
cached under ``embedding.cache_dir`` and reused by every later process.

Only the export needs torch, sentence-transformers and onnx; running the export needs none of
them. An installation without them (the slim image) runs an export made elsewhere, and where
there is none, says how to make it. Made where they are installed::

    python -m newsbot.index.onnx_model [--config FILE]

exports the configured model (``NEWSBOT_EMBEDDING__MODEL``, ``__BACKEND``, ``__CACHE_DIR``) as the
first start of newsbot would.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from newsbot.errors import ConfigError
from newsbot.index.pooling import Span, pool_spans, pools_token_means

log = logging.getLogger(__name__)

_MODEL_FILE = "model.onnx"
_INT8_FILE = "model.int8.onnx"
_TOKENIZER_FILE = "tokenizer.json"
_META_FILE = "newsbot-onnx.json"
# Bump when the export itself changes, so old caches are not reused.
_EXPORT_VERSION = 4
# Exit status of the export process for a configuration problem (its message is the last line).
_CONFIG_ERROR = 3
# What the export imports beyond what running the export needs.
_EXPORT_PACKAGES = "torch, sentence-transformers and onnx"


def model_fingerprint(name: str, path: str, local: bool) -> str:
    """A short key for the exported copy: the model's name and, when local, its files' sizes."""
    digest = hashlib.sha256(f"{_EXPORT_VERSION}\0{name}\0{path}".encode())
    if local:
        root = Path(path)
        for file in sorted(p for p in root.rglob("*") if p.is_file()):
            digest.update(f"{file.relative_to(root)}\0{file.stat().st_size}\0".encode())
    slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in name.rsplit("/", 1)[-1])
    return f"{slug}-{digest.hexdigest()[:12]}"


def cannot_export(name: str, cache_dir: Path, *, quantized: bool, reason: str) -> str:
    """What to tell a person whose installation has no export of the model and cannot make one."""
    backend = "onnx-int8" if quantized else "onnx"
    return (
        f"embedding model {name!r} has no {backend} export in {cache_dir}, and this "
        f"installation cannot make one: {reason}. Exporting needs {_EXPORT_PACKAGES}, which "
        "the slim image leaves out (it ships the default model's onnx-int8 export only). "
        "Export it where they are installed (the default `pip install newsbot`, or the "
        "Dockerfile's export stage: `docker build --target export`) by running `python -m "
        "newsbot.index.onnx_model` there with the same NEWSBOT_EMBEDDING__MODEL and "
        "NEWSBOT_EMBEDDING__BACKEND, and a NEWSBOT_EMBEDDING__CACHE_DIR that this installation "
        "then reads as its own (docs/deployment.md)"
    )


def export(
    model_path: str, local: bool, target: Path, *, quantize: bool, name: str | None = None
) -> None:
    """Export the sentence-transformers model at ``model_path`` into ``target`` (atomically).

    The graph covers the whole sentence-transformers pipeline (transformer and pooling), so
    any pooling the model declares is reproduced; normalisation is left to the caller. It also
    returns the token vectors, from which ``encode_spans`` pools sentences. ``name``, the model
    as configured, is recorded beside it (see :func:`load_exported`).

    Raises:
        ConfigError: torch, sentence-transformers or onnx is not installed, or the model is
            not one the export can read.
    """
    try:
        import onnx  # noqa: F401  (the graph optimiser and the quantiser need it)
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError as error:
        raise ConfigError(
            cannot_export(name or model_path, target.parent, quantized=quantize, reason=str(error))
        ) from error
    from newsbot.index.embedder import quiet_transformers

    quiet_transformers()
    # Eager attention exports as plain MatMul/Softmax nodes, which onnxruntime's transformer
    # optimiser fuses into its Attention kernel; the SDPA export is opaque to it.
    model = SentenceTransformer(
        model_path,
        device="cpu",
        local_files_only=local,
        model_kwargs={"attn_implementation": "eager"},
    ).eval()
    tokenizer = model.tokenizer
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError(f"{model_path!r} has no fast tokenizer; the onnx backend needs one")
    names = [
        n
        for n in ("input_ids", "attention_mask", "token_type_ids")
        if n in tokenizer.model_input_names
    ]

    class _Pipeline(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            out = self.model(dict(zip(names, inputs, strict=True)))
            return out["sentence_embedding"], out["token_embeddings"]

    sample = tokenizer(
        ["a short text", "and a second, longer one"], padding=True, return_tensors="pt"
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    # mkdtemp's folder is private; the export is not: another user (the image's, a volume's
    # reader) runs it. The export runs in a process of its own, alone in changing the umask.
    umask = os.umask(0o022)
    os.umask(umask)
    work.chmod(0o777 & ~umask)
    try:
        # The tracer's warnings are about shapes it cannot prove static; dynamic_axes covers
        # them, and an operator should not read them once per install.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Pipeline(),
                tuple(sample[n] for n in names),
                str(work / _MODEL_FILE),
                input_names=names,
                output_names=["sentence_embedding", "token_embeddings"],
                dynamic_axes={
                    **{n: {0: "batch", 1: "tokens"} for n in names},
                    "sentence_embedding": {0: "batch"},
                    "token_embeddings": {0: "batch", 1: "tokens"},
                },
                opset_version=17,
                dynamo=False,
            )
        _fuse(work / _MODEL_FILE, model)
        if quantize:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            # Per-channel weights: per-tensor int8 moved vectors to cosine ~0.95 of the float
            # model on news text, per-channel to ~0.99 (benchmarks/embedding.py).
            quantize_dynamic(
                str(work / _MODEL_FILE),
                str(work / _INT8_FILE),
                weight_type=QuantType.QInt8,
                per_channel=True,
                # Fused nodes come from onnxruntime's own domain, whose output types shape
                # inference cannot name; they are float.
                extra_options={"DefaultTensorType": 1},
            )
            (work / _MODEL_FILE).unlink()
        tokenizer.backend_tokenizer.save(str(work / _TOKENIZER_FILE))
        meta = {
            "model": name or model_path,
            "export_version": _EXPORT_VERSION,
            "inputs": names,
            "max_seq_length": int(model.max_seq_length or 512),
            "dimension": int(model.get_embedding_dimension() or 0),
            "token_means": pools_token_means(model),
        }
        (work / _META_FILE).write_text(json.dumps(meta), encoding="utf-8")
        try:
            os.rename(work, target)
        except OSError:
            if not (target / _META_FILE).exists():  # not a concurrent export that won the race
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _fuse(graph: Path, model: Any) -> None:
    """Rewrite ``graph`` in place with onnxruntime's BERT fusions (attention, GELU, layer norm).

    Measured on 2 AVX2 cores (interleaved runs of 200 Reuters chunks): int8 encoding 21 %
    faster, vectors unchanged (mean cosine to the float model 0.9924 before and after). A model
    whose graph the optimiser does not recognise keeps the plain export.
    """
    from onnxruntime.transformers.optimizer import optimize_model

    config = model[0].auto_model.config
    heads = int(getattr(config, "num_attention_heads", 0) or 0)
    hidden = int(getattr(config, "hidden_size", 0) or 0)
    if getattr(config, "model_type", "") != "bert" or not heads or not hidden:
        return
    try:
        optimized = optimize_model(
            str(graph), model_type="bert", num_heads=heads, hidden_size=hidden
        )
        optimized.save_model_to_file(str(graph))
    except Exception as error:  # an optimisation, never a reason to fail the export
        log.warning("ONNX graph fusion skipped: %s", error)


class OnnxEncoder:
    """Tokenise, run the exported graph (one text per call, ``threads`` calls at once),
    L2-normalise."""

    def __init__(self, directory: Path, *, quantized: bool, threads: int) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        meta: dict[str, Any] = json.loads((directory / _META_FILE).read_text(encoding="utf-8"))
        self.dimension = int(meta["dimension"])
        self._inputs: list[str] = list(meta["inputs"])
        self.token_means = bool(meta.get("token_means"))
        self.max_tokens = int(meta["max_seq_length"])
        self.directory = directory
        self._threads = threads
        self._counter = Tokenizer.from_file(str(directory / _TOKENIZER_FILE))
        self._counter.no_truncation()
        self._counter.no_padding()
        self._tokenizer = Tokenizer.from_file(str(directory / _TOKENIZER_FILE))
        self._tokenizer.enable_truncation(int(meta["max_seq_length"]))
        self._tokenizer.no_padding()
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # the optimiser's notes are not the operator's business
        # One text per model call, one thread per call; many texts go to parallel calls on this
        # one session (onnxruntime runs concurrent calls safely). Against batches of 32 on a
        # two-thread session, 600 Reuters texts on 2 cores encoded in 11.0 s instead of 16.6:
        # nothing is padded, no thread waits for another inside a call, and int8 activations are
        # scaled per text, so a text's vector never depends on the texts beside it. A question
        # on one thread also leaves the other core to BM25 and the dense query (84,601 chunks,
        # 3 x 200 questions alternated: ask p50 33-42 -> 26-34 ms).
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        graph = directory / (_INT8_FILE if quantized else _MODEL_FILE)
        self._session = ort.InferenceSession(
            str(graph), options, providers=["CPUExecutionProvider"]
        )

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self._run(texts, None)[0]

    def encode_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[Span]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        return self._run(texts, spans)

    def _run(
        self, texts: Sequence[str], spans: Sequence[Sequence[Span]] | None
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        encodings = self._tokenizer.encode_batch(list(texts))
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        pooled: list[np.ndarray] = [np.zeros((0, self.dimension), np.float32)] * len(texts)
        outputs = ["sentence_embedding"] if spans is None else None  # None: every output

        def encode_one(i: int) -> None:
            encoding = encodings[i]
            arrays = {
                "input_ids": np.array([encoding.ids], dtype=np.int64),
                "attention_mask": np.array([encoding.attention_mask], dtype=np.int64),
                "token_type_ids": np.array([encoding.type_ids], dtype=np.int64),
            }
            results = self._session.run(outputs, {n: arrays[n] for n in self._inputs})
            out[i] = results[0][0]
            if spans is not None:
                offsets = np.array(encoding.offsets, dtype=np.int64).reshape(-1, 2)
                pooled[i] = pool_spans(results[1][0], offsets, spans[i])

        # Longest first, so the last calls are short and the workers finish together.
        order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))
        workers = min(self._threads, len(texts))
        if workers <= 1:
            for i in order:
                encode_one(i)
        else:
            with ThreadPoolExecutor(workers, thread_name_prefix="newsbot-encode") as pool:
                for _ in pool.map(encode_one, order):
                    pass  # re-raises the first failure
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12), pooled

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        encodings = self._counter.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encodings]


def load(
    name: str, model_path: str, local: bool, cache_dir: Path, *, quantized: bool, threads: int
) -> OnnxEncoder:
    """The cached export of the model, made first if it is missing."""
    directory = cache_dir / (
        model_fingerprint(name, model_path, local) + ("-int8" if quantized else "")
    )
    if not (directory / _META_FILE).exists():
        missing = _missing_export_package()
        if missing:
            raise ConfigError(
                cannot_export(
                    name, cache_dir, quantized=quantized, reason=f"No module named {missing!r}"
                )
            )
        log.info(
            "exporting %s to ONNX%s in %s (once; about half a minute)",
            name,
            " int8" if quantized else "",
            directory,
        )
        export_in_child(model_path, local, directory, quantize=quantized, name=name)
    return OnnxEncoder(directory, quantized=quantized, threads=threads)


def load_exported(
    name: str,
    names: Collection[str],
    cache_dir: Path,
    *,
    quantized: bool,
    threads: int,
    missing: str,
) -> OnnxEncoder:
    """An export made elsewhere, for where the model's own files are not installed.

    The slim image has no files of the packaged model, hence no fingerprint to find its export
    by: its build stage exported it into ``cache_dir``, recording the model's name.

    Args:
        name: the model as configured (for the message).
        names: the names (lower case) an export of it may have recorded.
        cache_dir: where exports are kept.
        quantized: whether the int8 export is wanted.
        threads: texts encoded at once.
        missing: why no export can be made here, for the message when there is none.

    Raises:
        ConfigError: ``cache_dir`` has no such export.
    """
    directory = find_export(cache_dir, names, quantized=quantized)
    if directory is None:
        message = cannot_export(name, cache_dir, quantized=quantized, reason=missing)
        if unreadable := _unreadable_folders(cache_dir):
            message += f"; this user cannot read {', '.join(unreadable)} in {cache_dir}"
        raise ConfigError(message)
    log.debug("using the export of %s in %s", name, directory)
    return OnnxEncoder(directory, quantized=quantized, threads=threads)


def find_export(cache_dir: Path, names: Collection[str], *, quantized: bool) -> Path | None:
    """The newest complete export in ``cache_dir`` of a model recorded under one of ``names``,
    made by this version of the export."""
    graph = _INT8_FILE if quantized else _MODEL_FILE
    found: list[tuple[int, str, Path]] = []
    for meta_file in cache_dir.glob(f"*/{_META_FILE}"):
        try:
            meta = json.loads(meta_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # not one of ours, or unreadable: not usable either way
        directory = meta_file.parent
        if (
            isinstance(meta, dict)
            and str(meta.get("model", "")).lower() in names
            and meta.get("export_version") == _EXPORT_VERSION
            and (directory / graph).is_file()
            and (directory / _TOKENIZER_FILE).is_file()
        ):
            found.append((meta_file.stat().st_mtime_ns, directory.name, directory))
    return max(found)[2] if found else None


def _unreadable_folders(cache_dir: Path) -> list[str]:
    """Folders in ``cache_dir`` this process may not look into (an export made by another
    user with a private umask, say), by name."""
    try:
        folders = [d for d in cache_dir.iterdir() if d.is_dir()]
    except OSError:
        return []
    return sorted(d.name for d in folders if not os.access(d, os.R_OK | os.X_OK))


def _missing_export_package() -> str | None:
    """The first of the packages the export imports that is not installed here, if any."""
    for package in ("torch", "sentence_transformers", "onnx"):
        try:
            found = importlib.util.find_spec(package) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            return package
    return None


def export_in_child(
    model_path: str, local: bool, target: Path, *, quantize: bool, name: str | None = None
) -> None:
    """:func:`export`, run in a child process.

    torch, the tracer and the quantiser leave ~700 MB in the process that exports (measured:
    842 MB resident after exporting in-process, 150 MB after loading the export), which the
    bot, exporting at its first start, would keep for as long as it runs; their warnings are
    not the operator's concern either.
    """
    command = [sys.executable, "-m", __name__, "--child", model_path, str(target)]
    command += ["--local"] * local + ["--int8"] * quantize
    command += ["--name", name] if name else []
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode == 0:
        return
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    message = lines[-1] if lines else f"exit status {done.returncode}"
    if done.returncode == _CONFIG_ERROR:
        raise ConfigError(message)
    log.debug("the export failed:\n%s", done.stderr)
    raise RuntimeError(f"exporting the model failed: {message}")


def _main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m newsbot.index.onnx_model",
        description="Export the configured embedding model to ONNX into embedding.cache_dir, "
        "as the first start of newsbot would (needs torch, sentence-transformers and onnx).",
    )
    parser.add_argument(
        "--config",
        "-c",
        type=Path,
        help="TOML config file (default: $NEWSBOT_CONFIG or ./config.toml).",
    )
    # The child process of export_in_child: one model folder into one target folder.
    parser.add_argument(
        "--child", nargs=2, metavar=("MODEL_PATH", "TARGET"), help=argparse.SUPPRESS
    )
    parser.add_argument("--local", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--int8", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--name", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        if args.child:
            model_path, target = args.child
            export(model_path, args.local, Path(target), quantize=args.int8, name=args.name)
        else:
            _export_configured(args.config)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return _CONFIG_ERROR
    return 0


def _export_configured(config: Path | None) -> None:
    from newsbot.config import load_settings
    from newsbot.index.embedder import Embedder

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # "exporting ..." (about half a minute), from this module as the loader imports it: run with
    # -m, this file is also __main__, whose logger is another one.
    logging.getLogger("newsbot.index.onnx_model").setLevel(logging.INFO)
    settings = load_settings(config).embedding
    if settings.backend == "torch":
        print('embedding.backend is "torch": it runs the model itself, there is nothing to export')
        return
    encoder = Embedder(settings)._encoder
    directory = getattr(encoder, "directory", settings.cache_dir)
    print(f"{settings.model} ({settings.backend}): {directory}")


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
