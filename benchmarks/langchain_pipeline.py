"""The pipeline a developer would otherwise build with LangChain: the baseline we measure against.

``RecursiveCharacterTextSplitter`` (the chunk size and overlap of LangChain's own tutorials,
1,000 / 200 characters), ``HuggingFaceEmbeddings`` with the same model newsbot uses (loaded from
the same package, normalised vectors) and ``langchain-chroma`` persisting to disk: the standard
"RAG over documents" recipe, with nothing of newsbot's in it.

Needs the ``bench`` extra: ``pip install -e '.[bench]'``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from newsbot.index.embedder import resolve_model_path
from newsbot.models import Article

CHUNK_SIZE = 1000
CHUNK_OVERLAP = 200
DESCRIPTION = (
    f"LangChain: RecursiveCharacterTextSplitter {CHUNK_SIZE}/{CHUNK_OVERLAP} chars + "
    "HuggingFaceEmbeddings (same model) + langchain-chroma"
)


@dataclass(slots=True)
class Hit:
    article_id: str
    text: str


class LangChainPipeline:
    """Split, embed and store with LangChain; ``search`` returns the top-k chunk texts."""

    def __init__(self, directory: Path, *, batch_size: int = 32) -> None:
        from langchain_chroma import Chroma
        from langchain_huggingface import HuggingFaceEmbeddings
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        path, _ = resolve_model_path("all-MiniLM-L6-v2")
        self.embeddings = HuggingFaceEmbeddings(
            model_name=path,
            model_kwargs={"device": "cpu"},
            encode_kwargs={"normalize_embeddings": True, "batch_size": batch_size},
        )
        self.splitter = RecursiveCharacterTextSplitter(
            chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP
        )
        self.store = Chroma(
            collection_name="langchain",
            embedding_function=self.embeddings,
            persist_directory=str(directory),
        )

    def count(self) -> int:
        return int(self.store._collection.count())

    def add(self, articles: Iterable[Article], *, batch: int = 64) -> tuple[int, int]:
        """Split and index ``articles`` in batches; returns (articles, chunks) added."""
        from langchain_core.documents import Document

        n_articles = n_chunks = 0
        pending: list[Document] = []
        for article in articles:
            n_articles += 1
            meta: dict[str, Any] = {"article_id": article.id or "", "title": article.title}
            pending.extend(self.splitter.create_documents([article.text], metadatas=[meta]))
            if n_articles % batch == 0:
                n_chunks += self._flush(pending)
                pending = []
        return n_articles, n_chunks + self._flush(pending)

    def _flush(self, documents: Sequence[Any]) -> int:
        if documents:
            self.store.add_documents(list(documents))
        return len(documents)

    def search(self, question: str, k: int) -> tuple[list[Hit], float]:
        started = time.perf_counter()
        documents = self.store.similarity_search(question, k=k)
        seconds = time.perf_counter() - started
        return [Hit(d.metadata.get("article_id", ""), d.page_content) for d in documents], seconds
