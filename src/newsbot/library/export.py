"""``newsbot export``: every article of a store as the JSON Lines that ``import`` reads."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import TextIO

from newsbot.errors import IngestError
from newsbot.index.store import ChromaStore
from newsbot.models import ArticleRecord


def export(store: ChromaStore, path: Path) -> int:
    """Write every article, its text and metadata, as JSON Lines (``.gz``: compressed).

    The lines are what ``ingest``/``import`` read, ids and provenance included, so an import
    into another store rebuilds the same library. The file appears complete or not at all
    (written beside, then renamed).

    Returns:
        the number of articles written.
    """
    temporary = path.with_name(f".{path.name}.partial")
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(temporary, "wt", encoding="utf-8") as handle:
            count = export_to(store, handle)
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise IngestError(f"cannot write {path}: {error.strerror or error}") from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return count


def export_to(store: ChromaStore, handle: TextIO) -> int:
    """Write the JSON Lines of :func:`export` to an open text stream (e.g. stdout).

    Raises:
        IngestError: the stream cannot be written (a full disk, a closed pipe).
    """
    count = 0
    try:
        for page in store.iter_articles():
            for record, text, url_key in page:
                line = export_line(record, text, addressed=url_key is not None)
                handle.write(json.dumps(line, ensure_ascii=False) + "\n")
                count += 1
        handle.flush()
    except OSError as error:
        raise IngestError(f"cannot write the export: {error.strerror or error}") from None
    return count


def export_line(
    record: ArticleRecord, text: str, *, addressed: bool = True
) -> dict[str, str | bool | None]:
    """One line of ``newsbot export``: the JSON Lines article format ingest reads, plus
    provenance (``added_at``, ``added_by``) and, for an article not found by its address
    (:attr:`Article.addressed`), ``"addressed": false``."""
    line: dict[str, str | bool | None] = {
        "id": record.article_id,
        "title": record.title,
        "url": record.url,
        "source": record.outlet,
        "published": record.published,
        "author": record.author,
        "added_at": record.added_at,
        "added_by": record.added_by,
        "text": text,
    }
    if record.url and not addressed:
        line["addressed"] = False
    return line
