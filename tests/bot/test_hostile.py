"""Hostile and bad input, sent through the Bot API stand-in to the real bot.

Each input comes from its own private chat, so each must get exactly one reply there. The bot
runs with the default address policy (no private URLs), so ``/add`` of a loopback or
IPv4-mapped address is refused like any other hostile URL. Every reply must be polite, under
Telegram's limits and valid Telegram HTML (the stand-in refuses anything else and records it in
``server.rejected``), and the library must be exactly as it was.
"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from newsbot.config import Settings, load_settings
from newsbot.index.embedder import Embedder
from newsbot.library import Library
from tests.bot.conftest import ADMIN, BOT_USERNAME, HTML, SAMPLE, TOKEN, RunningBot
from tests.ingest.conftest import make_pdf
from tests.servers.botapi import BotApiServer

pytestmark = pytest.mark.slow

ANSWERED = ("excerpt", "found nothing")  # a question the library was asked
IN_WORDS = ("in words",)
TOO_LONG = ("characters long",)
REFUSED_ADD = ("failed",)
NOT_A_URL = ("not a URL I can fetch",)
NO_SUCH_ID = ("No article has the id",)
LISTED = ("3 articles",)
FEED_USAGE = ("manages RSS/Atom",)
BLOCKED = ("non-public address",)
# Words that would mean a raw error leaked into a reply.
LEAKS = ("Traceback", 'File "', "Exception", "Error:", "went wrong", TOKEN.split(":")[1])


@dataclass(frozen=True)
class Hostile:
    """One input: from a user or an admin, a text or a document, and the reply expected."""

    text: str
    expect: tuple[str, ...]  # the reply contains one of these
    admin: bool = False
    # (file name, mime type, data); data may be made when sent (large ones)
    document: tuple[str, str, bytes | Callable[[], bytes]] | None = None


def _noise(size: int) -> bytes:
    generator = random.Random(6)
    return bytes(generator.randrange(256) for _ in range(size))


def _pdf_bomb() -> bytes:
    # One content stream that inflates to ~80 MB of text operators from ~80 KB.
    return make_pdf([["A" * 80_000_000]])


QUESTIONS = [
    Hostile("x" * 10_000, TOO_LONG),
    Hostile("?" * 600, TOO_LONG),
    Hostile("Who " * 2_000, TOO_LONG),
    Hostile("   \n\t   ", IN_WORDS),
    Hostile("🤔🔥🙈", IN_WORDS),
    Hostile("👍", IN_WORDS),
    Hostile("🇺🇦🏳️‍🌈👨‍👩‍👧‍👦", IN_WORDS),
    Hostile("\u200b\u200c\u200d\ufeff", IN_WORDS),  # zero-width characters only
    Hostile("\u202e\u202d\u2066\u2069", IN_WORDS),  # bidi controls only
    Hostile("\x00\x01\x02\x07\x1b\x7f", IN_WORDS),
    Hostile("\x1b[31mred\x1b[0m", ANSWERED),  # control characters
    Hostile("?!?!... ---", IN_WORDS),
    Hostile("<b>Who</b> leads the <i>resistance</i>?", ANSWERED),
    Hostile("</blockquote><a href='javascript:alert(1)'>click</a>", ANSWERED),
    Hostile("<script>alert(document.cookie)</script>", ANSWERED),
    Hostile("&amp; &lt; &#0; &#xFFFFFF; &bogus; AT&T", ANSWERED),
    Hostile("<pre><code class='x'>unclosed <b>tags", ANSWERED),
    Hostile("**bold** _italic_ `code` [link](http://evil.example) ~~x~~", ANSWERED),
    Hostile("Who leads the resistance\x00 in Panjshir?", ANSWERED),
    Hostile("Who\u200b leads\u200b the\u200b resistance?", ANSWERED),
    Hostile("\u202eWho leads the resistance?\u202c", ANSWERED),
    Hostile(  # fullwidth letters
        "\uff37\uff48\uff4f \uff4c\uff45\uff41\uff44\uff53 \uff54\uff48\uff45 "
        "\uff52\uff45\uff53\uff49\uff53\uff54\uff41\uff4e\uff43\uff45\uff1f",
        ANSWERED,
    ),
    Hostile("Z̸̢̛͉a̷͎̓l̵̰͝g̶̱̈́ő̴̜ t̷̩̿ë̵̞́x̶̣̌t̷̰̾", ANSWERED),
    Hostile("Wer führt den Widerstand im Pandschir-Tal an?", ANSWERED),
    Hostile("¿Quién controla el valle de Panjshir?", ANSWERED),
    Hostile("Кто контролирует Панджшерскую долину?", ANSWERED),
    Hostile("谁控制了潘杰希尔山谷\uff1f", ANSWERED),
    Hostile("من يسيطر على وادي بنجشير؟", ANSWERED),
    Hostile("מי שולט בעמק פנג'שיר?", ANSWERED),
    Hostile("' OR 1=1; DROP TABLE articles; --", ANSWERED),
    Hostile('{"$where": "sleep(1000)"} {{7*7}} ${jndi:ldap://x}', ANSWERED),
    Hostile("../../../../etc/passwd", ANSWERED),
    Hostile("http://127.0.0.1:22/ file:///etc/shadow", ANSWERED),
    Hostile("\n" * 50 + "Who leads the resistance?" + "\n" * 50, ANSWERED),
    Hostile("a", ANSWERED),
    Hostile("A" * 499, ANSWERED),
    Hostile(f"@{BOT_USERNAME}", IN_WORDS),  # a mention of the bot is no question
    Hostile("/start@" + BOT_USERNAME, ("I know",)),
    Hostile("/help <b>extra</b> & args", ("I know",)),
    Hostile("/ask", ("Ask like this",)),
    Hostile("/ask    \n  ", ("Ask like this",)),
    Hostile("/ask 🤔", IN_WORDS),
    Hostile("/ask " + "y" * 5_000, TOO_LONG),
    Hostile("/ask <b>Who</b> & who else?", ANSWERED),
    Hostile("/frobnicate", ("don't know that command",)),
    Hostile("/FROBNICATE@" + BOT_USERNAME + " now", ("don't know that command",)),
    Hostile("/ask@some_other_bot hello", ("don't know that command",)),
    Hostile("/stats", ("only the bot's admins",)),
    Hostile("/REMOVE everything", ("only the bot's admins",)),
    Hostile("/", IN_WORDS),
]

ADMIN_INPUTS = [
    Hostile("/add", ("takes",), admin=True),
    Hostile("/add ftp://example.com/story", ("only http and https",), admin=True),
    Hostile("/add file:///etc/passwd", ("only http and https",), admin=True),
    Hostile("/add http://", ("invalid URL",), admin=True),
    Hostile("/add https://[::1", ("invalid URL",), admin=True),
    Hostile("/add javascript:alert(1)", NOT_A_URL, admin=True),
    Hostile("/add example.com/story", NOT_A_URL, admin=True),
    Hostile("/add /etc/passwd", NOT_A_URL, admin=True),
    Hostile("/add 🤔", NOT_A_URL, admin=True),
    Hostile("/add http://127.0.0.1:9/story", BLOCKED, admin=True),
    Hostile("/add http://[::ffff:127.0.0.1]:9/story", BLOCKED, admin=True),
    Hostile("/add http://[::1]:9/story http://10.0.0.1/x", BLOCKED, admin=True),
    Hostile("/add http://169.254.169.254/latest/meta-data/", BLOCKED, admin=True),
    Hostile("/add https://example.com/a my comment", ("URL followed by",), admin=True),
    Hostile("/add Hello world", ("too short to be an article",), admin=True),
    Hostile("/add Title only\n  \n", ("too short to be an article",), admin=True),
    Hostile("/add A title\nfour words of body", ("too short to be an article",), admin=True),
    Hostile("/remove", ("Remove like this",), admin=True),
    Hostile("/remove two ids", ("Remove like this",), admin=True),
    Hostile("/remove <script>alert(1)</script>", NO_SUCH_ID, admin=True),
    Hostile("/remove ../../etc&amp;", NO_SUCH_ID, admin=True),
    Hostile("/remove " + "x" * 3_000, NO_SUCH_ID, admin=True),
    Hostile("/list abc", LISTED, admin=True),
    Hostile("/list -5", LISTED, admin=True),
    Hostile("/list ²", LISTED, admin=True),  # "²".isdigit() is True, int("²") raises
    Hostile("/list 99999999999999999999999", LISTED, admin=True),
    Hostile("/stats <b>now</b>", ("Passages",), admin=True),
    Hostile("/feed", FEED_USAGE, admin=True),
    Hostile("/feed add", FEED_USAGE, admin=True),
    Hostile("/feed digest maybe", FEED_USAGE, admin=True),
    Hostile("/feed remove nosuchfeed", ("No feed has the id",), admin=True),
    Hostile("/feed add ftp://example.com/rss", ("only http and https",), admin=True),
]

BAD_DOCUMENTS = [
    Hostile("", REFUSED_ADD, True, ("empty.txt", "text/plain", b"")),
    Hostile("", REFUSED_ADD, True, ("blank.md", "text/markdown", b"  \n\n\t ")),
    Hostile("", REFUSED_ADD, True, ("bom-only.txt", "text/plain", b"\xef\xbb\xbf")),
    Hostile("", REFUSED_ADD, True, ("noise.txt", "text/plain", _noise(5_000))),
    Hostile("", REFUSED_ADD, True, ("nul.html", "text/html", b"\x00" * 1_000)),
    Hostile("", REFUSED_ADD, True, ("photo.txt", "text/plain", b"\x89PNG\r\n\x1a\n" + b"0" * 99)),
    Hostile("", REFUSED_ADD, True, ("story.html", "text/html", b"PK\x03\x04" + b"\x00" * 99)),
    Hostile("", REFUSED_ADD, True, ("story.txt", "text/plain", b"\x1f\x8b\x08" + b"\x00" * 99)),
    Hostile("", REFUSED_ADD, True, ("report.pdf", "application/pdf", b"not a pdf at all")),
    Hostile("", REFUSED_ADD, True, ("cut.pdf", "application/pdf", b"%PDF-1.7\n1 0 obj\n<<")),
    Hostile("", REFUSED_ADD, True, ("bomb.pdf", "application/pdf", _pdf_bomb)),
    Hostile("", REFUSED_ADD, True, ("empty.html", "text/html", b"<html><body></body></html>")),
    Hostile(
        "",
        REFUSED_ADD,
        True,
        ("deep.html", "text/html", b"<html><body>" + b"<div>" * 100_000 + b"x"),
    ),
    Hostile(
        "",
        REFUSED_ADD,
        True,
        ("<b>evil</b> & co.txt", "text/plain", b""),
    ),
]

CORPUS = QUESTIONS + ADMIN_INPUTS + BAD_DOCUMENTS
FIRST_SENDER = 500_000  # sender i of the corpus has id FIRST_SENDER + i


def _sender(index: int) -> int:
    return FIRST_SENDER + index


@pytest.fixture
def hostile_settings(tmp_path: Path, server: BotApiServer) -> Settings:
    """The default URL policy; every admin input comes from an admin id of its own."""
    admins = [ADMIN] + [_sender(i) for i, item in enumerate(CORPUS) if item.admin]
    return load_settings(
        store={"path": tmp_path / "store"},
        telegram={
            "token": TOKEN,
            "admins": admins,
            "base_url": server.bot_api_url,
            "base_file_url": server.file_api_url,
            "page_size": 2,
        },
    )


@pytest.fixture(scope="module")
def guarded_library(
    tmp_path_factory: pytest.TempPathFactory, embedder: Embedder
) -> Iterator[Library]:
    """Three articles, and the default URL policy: private addresses are refused.

    (The library, not the bot, fetches URLs, so its settings decide the policy.)
    """
    settings = load_settings(store={"path": tmp_path_factory.mktemp("guarded") / "store"})
    assert not settings.ingest.allow_private_urls
    with Library.open(settings, embedder=embedder) as library:
        library.add_text(SAMPLE.read_text(encoding="utf-8"))
        for page in ("daily-herald-bridge.html", "coastal-times-storm.html"):
            library.add_file((HTML / page).read_bytes(), name=page, content_type="text/html")
        assert library.stats().articles == 3
        yield library


@pytest.fixture
async def hostile_bot(
    start_bot: Any, hostile_settings: Settings, guarded_library: Library
) -> AsyncIterator[RunningBot]:
    yield await start_bot(hostile_settings, guarded_library)


def _snapshot(library: Library) -> tuple[Any, list[str]]:
    return library.stats(), sorted(r.article_id for r in library.list_articles())


def test_the_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 50
    assert len({(h.text, h.document) for h in CORPUS}) == len(CORPUS)


async def test_hostile_inputs_get_one_polite_reply_and_change_nothing(
    server: BotApiServer,
    hostile_bot: RunningBot,
    guarded_library: Library,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    before = _snapshot(guarded_library)
    for index, item in enumerate(CORPUS):
        if item.document is not None:
            name, mime, data = item.document
            file_id = server.add_file(data() if callable(data) else data, name, mime)
            server.user_message(item.text, user_id=_sender(index), document=file_id)
        else:
            server.user_message(item.text, user_id=_sender(index))

    def replied(index: int, item: Hostile) -> bool:
        sent = server.sent_messages(_sender(index))
        return bool(sent) and any(word in sent[-1]["text"] for word in item.expect)

    try:
        await server.async_wait_for(
            lambda: all(replied(i, item) for i, item in enumerate(CORPUS)),
            timeout=90,
            what="a reply to every hostile input",
        )
    except TimeoutError:
        missing = {
            repr(item.text[:40] or (item.document and item.document[0])): [
                m["text"][:120] for m in server.sent_messages(_sender(i))
            ]
            for i, item in enumerate(CORPUS)
            if not replied(i, item)
        }
        pytest.fail(f"no expected reply to {len(missing)} inputs: {missing}")
    await hostile_bot.stop()  # every update fetched is handled before stop returns

    for index, item in enumerate(CORPUS):
        sent = server.sent_messages(_sender(index))
        shown = repr(item.text[:40] or (item.document and item.document[0]))
        assert len(sent) == 1, (shown, [m["text"][:80] for m in sent])
        text = sent[0]["text"]
        assert any(word in text for word in item.expect), (shown, text)
        assert not any(leak in text for leak in LEAKS), (shown, text)
        assert len(text) <= 4096
    assert server.rejected == []  # every reply was valid Telegram HTML within the limits
    assert _snapshot(guarded_library) == before
    # Libraries may log their own complaints (trafilatura on an empty page); newsbot and
    # python-telegram-bot log an ERROR only when a handler failed.
    errors = [
        r
        for r in caplog.records
        if r.levelno >= logging.ERROR and r.name.split(".")[0] in ("newsbot", "telegram")
    ]
    assert errors == [], [r.getMessage() for r in errors]


async def test_uploaded_file_type_is_told_from_content_not_the_name(
    server: BotApiServer, fresh_bot: Any
) -> None:
    _, library = fresh_bot
    pdf = make_pdf(
        [["Harbour reopens after dredging", "The city harbour reopened on Monday."]],
        title="Harbour reopens after dredging",
    )
    uploads = [
        ("notes.txt", "text/plain", pdf),  # a PDF whatever the name says
        ("page.bin", "application/octet-stream", (HTML / "daily-herald-bridge.html").read_bytes()),
        (  # Latin-1, not UTF-8: decoded, not mangled
            "cafe.txt",
            "text/plain",
            "Café owners protest\n\nThe café owners of the old town protested on "
            "Monday against the new parking rules.".encode("latin-1"),
        ),
        ("story.html", "text/html", b"\x89PNG\r\n\x1a\n" + b"\0" * 64),  # an image, refused
    ]
    for number, (name, mime, data) in enumerate(uploads, 1):
        server.user_message("", user_id=ADMIN, document=server.add_file(data, name, mime))
        await server.async_wait_for(
            lambda n=number: sum("Done" in m["text"] for m in server.sent_messages(ADMIN)) == n,
            what=f"the outcome of {name}",
        )
    outcomes = [m["text"] for m in server.sent_messages(ADMIN)]
    assert ["added" in t for t in outcomes] == [True, True, True, False]
    assert "PNG image" in outcomes[-1]
    titles = {r.title for r in library.list_articles()}
    assert "Harbour reopens after dredging" in titles
    assert "Café owners protest" in titles
    assert len(titles) == 3
    assert server.rejected == []
