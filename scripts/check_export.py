"""Check the configured model's ONNX export against the same model on torch (the image's build).

Run where torch and sentence-transformers are installed, after the export (``python -m
newsbot.index.onnx_model``), with the same settings (``NEWSBOT_EMBEDDING__*``)::

    python scripts/check_export.py

It fails unless the export's vectors agree with torch's (cosine above 0.98 for int8, the
tolerance of tests/core/test_embedder.py), its tokenizer counts the same tokens, and a library
on it answers a question from a throwaway store. It prints what it measured.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

from newsbot.config import load_settings
from newsbot.index.embedder import Embedder
from newsbot.library import Library

TEXTS = [
    "The Taliban said on Monday they had taken full control of the Panjshir valley.",
    "Ahmad Massoud vowed to keep fighting.",
    "Oil prices rose 2% on supply worries.",
    "The city harbour reopened on Monday after three months of dredging work.",
]
# int8 weights move vectors a little (~0.99 cosine on news text); float ones hardly at all.
AGREEMENT = {"onnx-int8": 0.98, "onnx": 0.9999}


def main() -> int:
    settings = load_settings()
    backend = settings.embedding.backend
    if backend == "torch":
        print('embedding.backend is "torch": no export to check')
        return 0
    export = Embedder(settings.embedding)
    reference = Embedder(settings.embedding.model_copy(update={"backend": "torch"}))
    cosines = np.sum(export.embed(TEXTS) * reference.embed(TEXTS), axis=1)
    problems = []
    if float(cosines.min()) <= AGREEMENT[backend]:
        problems.append(f"vectors differ from torch's: cosine {cosines.round(4).tolist()}")
    if export.count_tokens(TEXTS) != reference.count_tokens(TEXTS):
        problems.append("the export's tokenizer counts other tokens than the model's")

    with tempfile.TemporaryDirectory() as store:
        store_settings = settings.model_copy(
            update={"store": settings.store.model_copy(update={"path": Path(store)})}
        )
        with Library.open(store_settings, embedder=export) as library:
            library.add_text(TEXTS[3], title="Harbour reopens")
            answer = library.ask("When did the harbour reopen?")
    if not answer.answered or "reopened on Monday" not in answer.passages[0].quote.text:
        problems.append(f"the export does not answer: {answer.to_json()}")

    for problem in problems:
        print(f"check_export: {problem}", file=sys.stderr)
    print(
        f"check_export: {settings.embedding.model} ({backend}): cosine to torch "
        f"{float(cosines.min()):.4f}-{float(cosines.max()):.4f}, tokens agree, answers: "
        + ("no" if problems else "yes")
    )
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
