"""`newsbot export` / `newsbot import`: a library moves from the embedded store to a real
Chroma server unchanged, and a damaged file imports what it can, line by line."""

from __future__ import annotations

import contextlib
import gzip
import json
from pathlib import Path

import chromadb
import pytest
from chromadb.config import Settings as ChromaSettings
from typer.testing import CliRunner

from newsbot.cli import app
from newsbot.config import load_settings
from newsbot.errors import IngestError
from newsbot.index.embedder import Embedder
from newsbot.library import Library
from tests.chroma_server import chroma_server
from tests.conftest import FIXTURES, SAMPLE
from tests.store_checks import read_embedded, read_state, short_reuters, write_jsonl

QUESTIONS = [
    "Who took control of the Panjshir valley?",
    "What happened to the bridge?",
    "Why was the harbour closed?",
]


def _everything(library: Library) -> dict[str, tuple[object, ...]]:
    """Each article's registry entry (every field) and text."""
    return {
        r.article_id: (r, library.store.article_text(r.article_id)) for r in library.list_articles()
    }


def _answers(library: Library) -> list[list[tuple[str, str]]]:
    return [
        [(p.passage.article.article_id, p.quote.text) for p in library.ask(q).passages]
        for q in QUESTIONS
    ]


def test_export_embedded_import_into_server_round_trip(
    tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    embedded = load_settings(store={"path": tmp_path / "store"})
    with Library.open(embedded, embedder=embedder) as library:
        list(library.ingest([str(SAMPLE)], added_by="alice"))
        html = [str(p) for p in sorted((FIXTURES / "html").glob("*.html"))]
        dump = write_jsonl(tmp_path / "wire.jsonl", short_reuters(20))
        list(library.ingest([*html, str(dump)], added_by="bob"))
        source = _everything(library)
        source_answers = _answers(library)
    assert len(source) >= 22 and any(source_answers)

    runner = CliRunner()
    exported = tmp_path / "library.jsonl.gz"
    monkeypatch.setenv("NEWSBOT_STORE__PATH", str(tmp_path / "store"))
    result = runner.invoke(app, ["export", str(exported)])
    assert result.exit_code == 0, result.stderr
    assert f"exported {len(source)} article(s)" in result.stderr
    streamed = runner.invoke(app, ["export", "-"])
    with gzip.open(exported, "rt", encoding="utf-8") as lines:
        assert [json.loads(line)["id"] for line in streamed.stdout.splitlines()] == [
            json.loads(line)["id"] for line in lines
        ]

    with chroma_server(tmp_path / "chroma") as url:
        monkeypatch.delenv("NEWSBOT_STORE__PATH")
        monkeypatch.setenv("NEWSBOT_STORE__URL", url)
        monkeypatch.setenv("NEWSBOT_STORE__LEXICAL_PATH", str(tmp_path / "server-lexical"))
        result = runner.invoke(app, ["import", str(exported), "--json"])
        assert result.exit_code == 0, result.stderr
        assert {r["status"] for r in json.loads(result.stdout)} == {"added"}

        server = load_settings(store={"url": url, "lexical_path": tmp_path / "server-lexical"})
        with Library.open(server, embedder=embedder) as library:
            assert _everything(library) == source  # ids, titles, dates, added_at/by, text
            assert _answers(library) == source_answers
        client = chromadb.HttpClient(
            host="127.0.0.1",
            port=int(url.rsplit(":", 1)[1]),
            settings=ChromaSettings(anonymized_telemetry=False),
        )
        read_state(client, tmp_path / "server-lexical").assert_whole_articles()

        # Importing the same file again changes nothing.
        result = runner.invoke(app, ["import", str(exported), "--json"])
        assert {r["status"] for r in json.loads(result.stdout)} == {"duplicate"}


def test_import_of_a_damaged_file_reports_each_bad_line_and_keeps_the_good(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = short_reuters(3)
    lines = [
        json.dumps(good[0]),
        "{not json",
        json.dumps({"id": "no-text", "title": "Nothing here"}),
        json.dumps({**good[1], "added_at": "last Tuesday"}),
        json.dumps(["an", "array"]),
        json.dumps(good[2]),
        json.dumps({"id": "cut", "text": "This line was cut off in the mid"})[:30],  # partial
    ]
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_text("\n".join(lines), encoding="utf-8")
    monkeypatch.setenv("NEWSBOT_STORE__PATH", str(tmp_path / "store"))

    result = CliRunner().invoke(app, ["import", str(damaged), "--json"])
    assert result.exit_code == 1
    by_line = {r["source"].rsplit(":", 1)[1]: r for r in json.loads(result.stdout)}
    assert {n for n, r in by_line.items() if r["status"] == "added"} == {"1", "6"}
    assert "line 2 is not valid JSON" in by_line["2"]["error"]
    assert "line 3 has no text" in by_line["3"]["error"]
    assert "line 4: added_at is not an ISO 8601 date-time" in by_line["4"]["error"]
    assert "line 5 is not a JSON object" in by_line["5"]["error"]
    assert "line 7 is not valid JSON" in by_line["7"]["error"]

    state = read_embedded(tmp_path / "store")
    state.assert_whole_articles()
    assert set(state.registry) == {good[0]["id"], good[2]["id"]}

    wrong = CliRunner().invoke(app, ["import", str(SAMPLE)])
    assert wrong.exit_code == 2 and "JSON Lines" in wrong.stderr


def test_export_names_and_write_failures(tmp_path: Path, embedder: Embedder) -> None:
    settings = load_settings(store={"path": tmp_path / "store"})
    with Library.open(settings, embedder=embedder) as library:
        library.add_text(SAMPLE.read_text(encoding="utf-8"))
        # The name's case does not decide the format: import reads .JSONL.GZ as gzip.
        shouting = tmp_path / "BACKUP.JSONL.GZ"
        assert library.export(shouting) == 1
        with gzip.open(shouting, "rt", encoding="utf-8") as file:
            assert json.loads(file.readline())["title"]
        # A full disk under `export -` is one clear error, not a traceback.
        full = open("/dev/full", "w", encoding="utf-8")  # noqa: SIM115 (closed below)
        with pytest.raises(IngestError, match="cannot write the export"):
            library.export_to(full)
        with contextlib.suppress(OSError):  # what is still buffered cannot be written either
            full.close()


def test_an_uploaded_dump_imports_like_the_file_and_reports_progress(
    tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``Library.import_dump`` (the bot's upload of an export): the same results as importing
    the file, named after the upload, with a count after every line."""
    import newsbot.library.pipeline

    monkeypatch.setattr(newsbot.library.pipeline, "INGEST_BATCH", 1)
    source = tmp_path / "source"
    with Library.open(load_settings(store={"path": source}), embedder=embedder) as library:
        library.add_text(SAMPLE.read_text(encoding="utf-8"))
        library.add_text("Harbour reopens\n" + "The city harbour reopened on Monday. " * 5)
        exported = tmp_path / "all.jsonl.gz"
        assert library.export(exported) == 2
        before = _everything(library)
    counts: list[int] = []
    target = load_settings(store={"path": tmp_path / "target"})
    with Library.open(target, embedder=embedder) as library:
        results = library.import_dump(
            exported.read_bytes(), name="backup.jsonl.gz", progress=counts.append
        )
        assert [r.status.value for r in results] == ["added", "added"]
        assert [r.source for r in results] == ["backup.jsonl.gz:1", "backup.jsonl.gz:2"]
        assert counts == [1, 2]
        assert _everything(library) == before
        broken = library.import_dump(b"not json\n", name="x.jsonl")
        assert broken[0].source == "x.jsonl:1" and "x.jsonl" not in (broken[0].error or "")


def test_an_uploaded_gzip_that_expands_too_far_is_refused(
    tmp_path: Path, embedder: Embedder
) -> None:
    """A review found 16 KB of gzip (16 MB of blank lines) kept the import busy for 13 s with
    no result; a 20 MB upload would have taken hours."""
    settings = load_settings(store={"path": tmp_path / "s"}, ingest={"max_bytes": 100_000})
    bomb = gzip.compress(b"\n" * 1_100_000)  # past 10 x 100,000 bytes
    with Library.open(settings, embedder=embedder) as library:
        (result,) = library.import_dump(bomb, name="dump.jsonl.gz")
        assert result.status.value == "failed" and "uncompressed" in (result.error or "")
        fine = gzip.compress(b"\n" * 10 + b'{"title": "T", "text": "The harbour reopened."}\n')
        statuses = [r.status.value for r in library.import_dump(fine, name="ok.jsonl.gz")]
        assert statuses == ["added"]
