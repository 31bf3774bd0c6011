"""The command line, in process (typer's runner) and once as a real console script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from newsbot.cli import app
from newsbot.library import Library
from newsbot.models import QUOTE_GAP
from tests.conftest import FIXTURES, SAMPLE
from tests.store_checks import run_cli

runner = CliRunner()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "store"
    monkeypatch.setenv("NEWSBOT_STORE__PATH", str(path))
    return path


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def jsonl(tmp_path: Path) -> Path:
    path = tmp_path / "dump.jsonl"
    lines = [
        {
            "title": "Grain exports rise",
            "text": "Wheat exports from the port rose 12 percent in May, traders said.",
            "source": "Wire",
            "published": "2024-06-01",
            "extra": [1],
        },
        "{not json",
        {
            "id": "custom-1",
            "text": "The city council approved a new tram line to the airport on Tuesday.",
        },
        {"title": "Empty", "text": "   "},
    ]
    path.write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n",
        encoding="utf-8",
    )
    return path


def test_ingest_ask_list_stats_remove(store: Path, jsonl: Path) -> None:
    code, out, err = invoke(
        "ingest",
        str(SAMPLE),
        str(jsonl),
        str(FIXTURES / "html" / "daily-herald-bridge.html"),
        "missing.pdf",
        "--json",
    )
    assert code == 1, err  # some sources failed: exit 1 after doing all the others
    results = json.loads(out)
    by_source = {r["source"]: r for r in results}
    assert set(results[0]) == {"source", "status", "article_id", "title", "chunks", "error"}
    assert by_source[str(SAMPLE)]["status"] == "added"
    assert by_source[f"{jsonl}:1"]["status"] == "added"
    assert by_source[f"{jsonl}:2"]["status"] == "failed" and by_source[f"{jsonl}:2"]["error"]
    assert by_source[f"{jsonl}:3"]["article_id"] == "custom-1"
    assert by_source[f"{jsonl}:4"]["status"] == "failed"
    assert by_source["missing.pdf"]["status"] == "failed"
    assert "missing.pdf" in by_source["missing.pdf"]["error"]
    html = by_source[str(FIXTURES / "html" / "daily-herald-bridge.html")]
    assert html["status"] == "added" and html["chunks"] >= 1

    code, out, _ = invoke("ingest", str(SAMPLE), "--json")
    assert code == 0 and json.loads(out)[0]["status"] == "duplicate"

    code, out, _ = invoke(
        "ask", "Who took control of the Panjshir valley?", "--json", "--top-k", "2"
    )
    assert code == 0
    answer = json.loads(out)
    assert answer["question"] == "Who took control of the Panjshir valley?"
    assert answer["answered"] is True and 1 <= len(answer["passages"]) <= 2
    first = answer["passages"][0]
    assert set(first) == {
        "rank",
        "article_id",
        "title",
        "url",
        "link",
        "source",
        "published",
        "quote",
        "highlight",
        "excerpts",
        "text",
        "score",
    }
    assert first["rank"] == 1 and QUOTE_GAP.join(first["excerpts"]) == first["quote"]
    for excerpt in first["excerpts"]:
        assert excerpt in first["text"] and excerpt in SAMPLE.read_text(encoding="utf-8")
    # The bold sentence: verbatim, inside its quote and its article, and it answers.
    assert first["highlight"] in first["quote"]
    assert first["highlight"] in SAMPLE.read_text(encoding="utf-8")
    assert "Taliban" in first["highlight"]
    assert first["link"] is None and first["url"] is None  # a file: no address to link

    code, out, _ = invoke("ask", "Who took control of the Panjshir valley?")
    assert code == 0 and "Panjshir" in out and "“" in out
    assert first["highlight"] in out

    code, out, _ = invoke("ask", "How do I bake sourdough bread at home?")
    assert code == 0 and "Nothing in the library answers" in out

    code, out, _ = invoke("list", "--json")
    listed = json.loads(out)
    assert code == 0 and len(listed) == 4
    assert set(listed[0]) == {
        "article_id",
        "title",
        "url",
        "source",
        "published",
        "added_at",
        "chunks",
    }
    grain = next(r for r in listed if r["title"] == "Grain exports rise")
    assert (grain["source"], grain["published"]) == ("Wire", "2024-06-01")

    # Questions about time: the period searched is part of the answer.
    code, out, _ = invoke(
        "ask", "Who took control of the Panjshir valley in September 2021?", "--json"
    )
    dated = json.loads(out)
    assert code == 0 and dated["period"] == {"start": "2021-09-01", "end": "2021-09-30"}
    assert dated["passages"] and {p["published"] for p in dated["passages"]} == {"2021-09-06"}
    code, out, _ = invoke("ask", "Who took control of the Panjshir valley in 2023?")
    assert code == 0 and "No article in the library was published in 2023; ask" in out
    assert json.loads(invoke("ask", "Who leads the resistance?", "--json")[1])["period"] is None
    code, out, _ = invoke("latest", "--json", "--limit", "2")
    newest = json.loads(out)
    assert code == 0 and [r["published"] for r in newest] == ["2024-06-01", "2024-03-15"]
    code, out, _ = invoke("latest", "Panjshir resistance")
    assert code == 0 and "Massoud Vows to Fight" in out and "Grain" not in out

    code, out, _ = invoke("stats", "--json")
    stats = json.loads(out)
    assert code == 0 and stats["articles"] == 4 and stats["chunks"] >= 4
    assert stats["model"] == "all-MiniLM-L6-v2 (int8)" and str(store) in stats["store"]

    code, out, _ = invoke("remove", "custom-1")
    assert code == 0 and "custom-1" in out
    code, _, err = invoke("remove", "custom-1")
    assert code == 1 and "no article with id" in err
    code, out, _ = invoke("stats", "--json")
    assert json.loads(out)["articles"] == 3


def test_ask_questions_file(store: Path, tmp_path: Path) -> None:
    assert invoke("ingest", str(SAMPLE))[0] == 0
    questions = tmp_path / "questions.txt"
    questions.write_text(
        "Who took control of the Panjshir valley?\n\nWhat is the boiling point of mercury?\n",
        encoding="utf-8",
    )
    code, out, _ = invoke("ask", "--questions", str(questions), "--json")
    assert code == 0
    answers = [json.loads(line) for line in out.splitlines()]
    assert [a["answered"] for a in answers] == [True, False]
    assert answers[1]["passages"] == []


def test_usage_and_config_errors(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert invoke("ask")[0] == 2
    assert invoke("frobnicate")[0] == 2
    monkeypatch.setenv("NEWSBOT_SEARCH__TOP_K", "lots")
    code, _, err = invoke("stats")
    assert code == 1
    assert "search.top_k" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_an_error_inside_a_command_is_one_line(store: Path) -> None:
    # Raised by the library while the command runs (an unknown id, an unknown feed), not by
    # the settings before it: the same one line, exit status 1, no traceback.
    for args in (("remove", "0123456789abcdef"), ("feed", "remove", "no-such-feed")):
        code, out, err = invoke(*args)
        assert code == 1 and out == "", (args, out, err)
        assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, (args, err)
        assert "Traceback" not in err


def test_export_refuses_a_name_import_would_not_read(store: Path, tmp_path: Path) -> None:
    # Seen: `export backup.txt` wrote the file, then `import backup.txt` refused it.
    code, _, err = invoke("export", str(tmp_path / "backup.txt"))
    assert code == 2 and ".jsonl" in err
    assert not (tmp_path / "backup.txt").exists()
    assert invoke("export", str(tmp_path / "backup.jsonl.gz"))[0] == 0
    assert invoke("import", str(tmp_path / "backup.jsonl.gz"))[0] == 0


class _Pages(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = (FIXTURES / "html" / "coastal-times-storm.html").read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def page_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/news/storm.html"
    server.shutdown()
    server.server_close()


def test_url_ingest_refused_then_allowed(
    store: Path, page_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = invoke("ingest", page_url, "--json")
    assert code == 1
    (refused,) = json.loads(out)
    assert refused["status"] == "failed" and "127.0.0.1" in refused["error"]
    assert invoke("stats", "--json")[1].count('"articles": 0') == 1

    monkeypatch.setenv("NEWSBOT_INGEST__ALLOW_PRIVATE_URLS", "true")
    code, out, err = invoke("ingest", page_url, "--json")
    assert code == 0, err
    (added,) = json.loads(out)
    assert added["status"] == "added"
    listed = json.loads(invoke("list", "--json")[1])
    assert listed[0]["url"] == page_url


def test_console_script_and_module(tmp_path: Path) -> None:
    env = {**os.environ, "NEWSBOT_STORE__PATH": str(tmp_path / "store")}
    script = shutil.which("newsbot", path=str(Path(sys.executable).parent))
    assert script, "the newsbot console script is installed beside the interpreter"
    ingest = subprocess.run(
        [script, "ingest", str(SAMPLE)], env=env, capture_output=True, text=True, timeout=300
    )
    assert ingest.returncode == 0, ingest.stderr
    assert "added" in ingest.stdout and "Loading weights" not in ingest.stderr
    ask = subprocess.run(
        [
            sys.executable,
            "-m",
            "newsbot",
            "ask",
            "What did Massoud say about his forces?",
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ask.returncode == 0, ask.stderr
    assert json.loads(ask.stdout)["answered"] is True


def test_a_damaged_pdf_is_one_line_without_pypdfs_warnings(tmp_path: Path) -> None:
    from tests.ingest.conftest import make_pdf

    pdf = make_pdf([["Some text on a page that will be cut off."]])
    cut = tmp_path / "report.pdf"
    cut.write_bytes(pdf[: len(pdf) // 3])
    result = run_cli(tmp_path / "store", "ingest", str(cut))
    assert result.returncode == 1
    assert "report.pdf" in result.stdout + result.stderr
    assert "EOF marker" not in result.stderr and "WARNING" not in result.stderr, result.stderr


def test_ask_prints_the_answering_sentence_bold_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, library: Library, sample_text: str
) -> None:
    import io

    from rich.console import Console

    from newsbot.cli import articles as cli

    library.add_text(sample_text, title="Massoud Vows to Fight on")
    answer = library.ask("Who took control of the Panjshir valley?", top_k=1)
    terminal = io.StringIO()
    monkeypatch.setattr(cli, "out", Console(file=terminal, force_terminal=True, width=2000))
    cli._print_answer(answer)
    quote = answer.passages[0].quote
    assert f"\x1b[1;33m{quote.highlight}\x1b[0m" in terminal.getvalue()
    # Not a terminal (a pipe, a file): the same words, no escape codes.
    plain = io.StringIO()
    monkeypatch.setattr(cli, "out", Console(file=plain, width=2000))
    cli._print_answer(answer)
    assert quote.highlight in plain.getvalue() and "\x1b[" not in plain.getvalue()


def test_chat_reads_follow_ups_from_piped_stdin(store: Path) -> None:
    for page in ("daily-herald-bridge.html", "coastal-times-storm.html"):
        assert invoke("ingest", str(FIXTURES / "html" / page))[0] == 0
    assert invoke("ingest", str(SAMPLE))[0] == 0
    lines = [
        "Who took control of the Panjshir valley?",
        "What did their spokesman say?",
        "",
        "more",
        "/new",
        "What did their spokesman say?",
    ]
    result = runner.invoke(app, ["chat", "--json"], input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    # One object per question: the blank line and /new are no questions.
    assert [a["question"] for a in answers] == [lines[0], lines[1], "more", lines[5]]
    first, follow, more, after_new = answers
    assert first["context"] is None and first["answered"]
    assert "Panjshir" in follow["context"] and "Mujahid" in follow["passages"][0]["highlight"]
    assert more["continued"] and more["context"] is None
    (continued,) = more["passages"]
    text = SAMPLE.read_text(encoding="utf-8")
    assert continued["quote"] in text and continued["quote"] not in follow["passages"][0]["quote"]
    assert after_new["context"] is None
    assert not any("Mujahid" in p["highlight"] for p in after_new["passages"])
    # Without --json, the follow-up says what it was about.
    plain = runner.invoke(app, ["chat"], input="\n".join(lines[:2]) + "\n")
    about = [line for line in plain.stdout.splitlines() if line.startswith("about:")]
    assert plain.exit_code == 0 and len(about) == 1 and "Panjshir" in about[0]
    # A question that finds nothing ends the conversation: the next one stands alone.
    nothing = [lines[0], "What is a good recipe for banana bread?", lines[1]]
    result = runner.invoke(app, ["chat", "--json"], input="\n".join(nothing) + "\n")
    first, none, after = (json.loads(line) for line in result.stdout.splitlines())
    assert first["answered"] and not none["answered"] and after["context"] is None
