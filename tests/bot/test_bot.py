"""The real Application end to end against the Bot API stand-in over HTTP."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from telegram.warnings import PTBDeprecationWarning

from newsbot.bot.access import QuestionRateLimiter
from newsbot.errors import StoreError
from newsbot.library import Library
from newsbot.models import QUOTE_GAP, Article, IngestStatus
from newsbot.text_fragment import parse_text_directive
from tests.bot.conftest import (
    ADMIN,
    BOT_USERNAME,
    GROUP,
    OTHER_USER,
    SAMPLE,
    TOKEN,
    USER,
    ArticleServer,
    RunningBot,
    bot_settings,
)
from tests.servers.botapi import BotApiServer

pytestmark = pytest.mark.slow

# PTB's AIORateLimiter reads RetryAfter.retry_after as an int, which PTB itself deprecates.
ignore_retry_after_deprecation = pytest.mark.filterwarnings(
    f"ignore::{PTBDeprecationWarning.__module__}.{PTBDeprecationWarning.__name__}"
)

QUESTION = "Who leads the resistance in Panjshir?"
SECRET = TOKEN.split(":", 1)[1]


def entity_texts(message: dict[str, Any], kind: str) -> list[str]:
    """The text under each entity of ``kind`` (offsets are UTF-16)."""
    encoded = message["text"].encode("utf-16-le")
    return [
        encoded[2 * e["offset"] : 2 * (e["offset"] + e["length"])].decode("utf-16-le")
        for e in message.get("entities", [])
        if e["type"] == kind
    ]


async def message_where(
    server: BotApiServer,
    chat_id: int,
    test: Callable[[dict[str, Any]], bool],
    what: str,
    timeout: float = 30,
) -> dict[str, Any]:
    """Wait until the bot has sent (or edited into) a message to ``chat_id`` passing ``test``."""

    def found() -> dict[str, Any] | None:
        return next((m for m in server.sent_messages(chat_id) if test(m)), None)

    return await server.async_wait_for(found, timeout, what=what)


async def message_with(server: BotApiServer, chat_id: int, text: str) -> dict[str, Any]:
    return await message_where(server, chat_id, lambda m: text in m["text"], repr(text))


def assert_answer_about_massoud(message: dict[str, Any], *, linked: bool = True) -> None:
    """Quoted excerpts, Massoud in an answering sentence, the article's title (a link)."""
    assert "excerpt" in message["text"]
    assert entity_texts(message, "blockquote"), message
    assert any("Massoud" in bold for bold in entity_texts(message, "bold")), message
    titles = entity_texts(message, "text_link") if linked else [message["text"]]
    assert any("Massoud Vows to Fight" in t for t in titles), message


# --------------------------------------------------------------------------- users


async def test_admin_adds_a_url_then_a_user_gets_the_quote_and_source(
    server: BotApiServer, fresh_bot: Any, article_server: ArticleServer
) -> None:
    _, library = fresh_bot
    url = article_server.url("/panjshir.txt")
    server.user_message(f"/add {url}", user_id=ADMIN)
    status = await message_with(server, ADMIN, "Done")
    assert "added" in status["text"] and "Massoud Vows to Fight" in status["text"]
    # One status message, edited from "working" to the outcome.
    assert len(server.sent_messages(ADMIN)) == 1
    assert server.calls_to("editMessageText")
    (record,) = library.list_articles()
    assert record.url == url and record.added_by == f"telegram:{ADMIN}"

    server.user_message(QUESTION, user_id=USER)
    answer = await message_with(server, USER, "excerpt")
    assert_answer_about_massoud(answer)
    link = next(e for e in answer["entities"] if e["type"] == "text_link")
    # The source opens the article at the bold sentence (a text fragment).
    address, _, fragment = link["url"].partition("#:~:text=")
    assert address == url and fragment
    # One directive for each bold sentence of the article on the page.
    # (A browser reads a no-break space as a space; so does the directive.)
    starts = [" ".join(parse_text_directive(d).start.split()) for d in fragment.split("&text=")]
    sentences = [" ".join(b.split()) for b in entity_texts(answer, "bold") if len(b) > 20]
    assert sentences and all(any(b.startswith(s) for s in starts) for b in sentences), starts
    assert (USER, "typing") in server.chat_actions
    assert server.rejected == []


async def test_start_help_and_command_menus(server: BotApiServer, bot: RunningBot) -> None:
    server.user_message("/start", user_id=USER)
    welcome = await message_with(server, USER, "I know")
    assert "3 articles" in welcome["text"] and "/add" not in welcome["text"]
    server.user_message("/help", user_id=ADMIN)
    admin_help = await message_with(server, ADMIN, "I know")
    assert "/remove" in admin_help["text"]

    default = server.commands[('{"type": "default"}', "")]
    assert {c["command"] for c in default} == {"ask", "help", "latest", "new", "start"}
    admin_scope = server.commands[(f'{{"chat_id": {ADMIN}, "type": "chat"}}', "")]
    assert {"add", "list", "remove", "stats", "ask"} <= {c["command"] for c in admin_scope}
    assert server.rejected == []


async def test_more_button_pages_and_stale_buttons_are_answered(
    server: BotApiServer, bot: RunningBot
) -> None:
    server.user_message(QUESTION, user_id=USER)
    first = await message_with(server, USER, "Page 1 of")
    keyboard = first["reply_markup"]["inline_keyboard"]
    more = next(b for row in keyboard for b in row if b["text"].startswith("More"))
    assert len(more["callback_data"].encode()) <= 64

    server.callback_query(USER, first, more["callback_data"])
    await message_with(server, USER, "Page 2 of")
    assert len(server.sent_messages(USER)) == 1  # edited in place
    assert server.callback_answers[-1].get("text") is None

    # The first keyboard was replaced: its buttons are stale now.
    server.callback_query(USER, first, more["callback_data"])
    server.callback_query(USER, first, "no-such-data")
    answers = await server.async_wait_for(
        lambda: server.callback_answers if len(server.callback_answers) >= 3 else None
    )
    for stale in answers[1:]:
        assert "expired" in stale["text"] and stale["show_alert"] is True
    assert server.rejected == []


async def test_questions_about_time_and_latest(server: BotApiServer, bot: RunningBot) -> None:
    server.user_message("Who took control of the Panjshir valley in September 2021?", user_id=USER)
    answer = await message_with(server, USER, "excerpt")
    assert "📅 Searched articles published in Sep 2021." in answer["text"]
    assert_answer_about_massoud(answer)
    server.user_message("Who took control of the Panjshir valley in 2022?", user_id=USER)
    empty = await message_with(server, USER, "No article in the library was published in 2022;")
    assert "without the date" in empty["text"] and "the latest:" in empty["text"]
    server.user_message("How do I bake sourdough bread in 2023?", user_id=USER)
    nothing = await message_with(server, USER, "(or around then) answers this;")
    assert "Nothing published in 2023" in nothing["text"] and "the latest:" in nothing["text"]
    server.user_message("/latest", user_id=USER)
    newest = await message_with(server, USER, "The newest articles")
    assert "Massoud Vows to Fight" in newest["text"] and entity_texts(newest, "text_link")
    server.user_message("/latest Panjshir resistance", user_id=USER)
    about = await message_with(server, USER, "The newest articles about")
    assert "Massoud Vows to Fight" in about["text"]
    assert server.rejected == []


async def test_full_passage_view(server: BotApiServer, bot: RunningBot) -> None:
    server.user_message(QUESTION, user_id=USER)
    answer = await message_with(server, USER, "excerpt")
    button = answer["reply_markup"]["inline_keyboard"][0][0]
    assert button["text"] == "📄 1"
    server.callback_query(USER, answer, button["callback_data"])
    passage = await message_with(server, USER, "Passage 1")
    assert entity_texts(passage, "blockquote")
    quoted = entity_texts(passage, "blockquote")[0]
    excerpt = entity_texts(answer, "blockquote")[0]
    # The whole passage holds each piece of the excerpt.
    assert all(piece.strip("…") in quoted for piece in excerpt.split(QUOTE_GAP))
    assert passage["reply_to_message"]["message_id"] == answer["message_id"]
    assert server.rejected == []


async def test_group_mention_reply_and_ask_but_not_chatter(
    server: BotApiServer, bot: RunningBot
) -> None:
    server.user_message(
        "Anyone seen the weather today?", user_id=USER, chat_id=GROUP, chat_type="supergroup"
    )
    server.user_message(
        f"@{BOT_USERNAME} {QUESTION}", user_id=USER, chat_id=GROUP, chat_type="supergroup"
    )
    mentioned = await message_with(server, GROUP, "excerpt")
    assert_answer_about_massoud(mentioned)
    assert mentioned["reply_to_message"]["text"].startswith(f"@{BOT_USERNAME}")

    server.user_message(
        "And what did the Taliban say about casualties?",
        user_id=OTHER_USER,
        chat_id=GROUP,
        chat_type="supergroup",
        reply_to_message_id=mentioned["message_id"],
    )
    server.user_message(
        "/ask How did the council vote on the bridge?",
        user_id=USER,
        chat_id=GROUP,
        chat_type="supergroup",
    )
    server.user_message(
        f"/ask@{BOT_USERNAME} When did the storm hit?",
        user_id=USER,
        chat_id=GROUP,
        chat_type="supergroup",
    )
    server.user_message(
        "/ask@some_other_bot hello", user_id=USER, chat_id=GROUP, chat_type="supergroup"
    )
    server.user_message("/weather", user_id=USER, chat_id=GROUP, chat_type="supergroup")
    await server.async_wait_for_messages(GROUP, 4)
    await bot.stop()  # every fetched update is handled before stop returns
    sent = server.sent_messages(GROUP)
    assert len(sent) == 4, [m["text"][:60] for m in sent]
    replied_to = {m["reply_to_message"]["text"] for m in sent}
    assert "Anyone seen the weather today?" not in replied_to
    assert server.rejected == []


async def test_inline_query_offers_top_passages(server: BotApiServer, bot: RunningBot) -> None:
    server.inline_query(USER, QUESTION)
    (answer,) = await server.async_wait_for(lambda: server.inline_answers)
    results = answer["results"]
    assert 1 <= len(results) <= 5
    assert len({r["id"] for r in results}) == len(results)
    first = results[0]
    assert "Massoud" in first["title"] + first["description"]
    assert "<blockquote>" in first["input_message_content"]["message_text"]
    server.inline_query(USER, "  ")  # too short: an empty answer, not an error
    await server.async_wait_for(lambda: len(server.inline_answers) == 2)
    assert server.inline_answers[1]["results"] == []
    assert server.rejected == []


async def test_inline_results_of_articles_with_long_ids_are_distinct(
    server: BotApiServer, fresh_bot: Any
) -> None:
    # Ids may be 128 characters, result ids only 64 bytes. Cut to 64, two passages of one
    # article had one result id, and Telegram refused the whole answer.
    _, library = fresh_bot
    long_id = "voa-2021-09-06-massoud-vows-to-fight-on-as-taliban-claims-victory-" + "x" * 40
    article = Article(text=SAMPLE.read_text(encoding="utf-8"), title="Panjshir", id=long_id)
    assert library.add_article(article, origin="test").status is IngestStatus.ADDED
    server.inline_query(USER, QUESTION)
    (answer,) = await server.async_wait_for(lambda: server.inline_answers)
    assert len(answer["results"]) >= 2
    assert server.rejected == []


async def test_inline_queries_are_answered_when_typing_stops_and_rate_limited(
    server: BotApiServer, start_bot: Any, tmp_path: Path, stocked_library: Library
) -> None:
    await start_bot(
        bot_settings(tmp_path / "store", server, questions_per_minute=2), stocked_library
    )

    async def ask_inline(user: int, query: str) -> dict[str, Any]:
        count = len(server.inline_answers)
        server.inline_query(user, query)
        await server.async_wait_for(lambda: len(server.inline_answers) > count)
        return server.inline_answers[-1]

    # A client sends a query per keystroke: only the last one is searched and answered.
    typed = [server.inline_query(USER, QUESTION[:n]) for n in (8, 16, 24, len(QUESTION))]
    (answer,) = await server.async_wait_for(lambda: server.inline_answers)
    await asyncio.sleep(1)
    assert len(server.inline_answers) == 1
    assert answer["inline_query_id"] == typed[-1]["inline_query"]["id"]
    assert answer["results"]
    # That was one question of the two a minute this user may ask; the third is refused.
    assert (await ask_inline(USER, "Who is Ahmad Massoud?"))["results"]
    refused = await ask_inline(USER, "Where is the Panjshir valley?")
    assert refused["results"] == []
    assert "Too many questions" in refused["button"]["text"]
    for question in ("Who is Ahmad Massoud?", QUESTION, "Where is the Panjshir valley?"):
        assert (await ask_inline(ADMIN, question))["results"]  # admins are exempt
    assert server.rejected == []


async def test_a_group_document_for_another_bot_is_left_alone(
    server: BotApiServer, fresh_bot: Any
) -> None:
    running, library = fresh_bot
    text = SAMPLE.read_bytes()
    for user, caption in ((ADMIN, "/add@some_other_bot"), (USER, "/add@some_other_bot now")):
        file_id = server.add_file(text, "story.txt", "text/plain")
        server.user_message(
            caption, user_id=user, chat_id=GROUP, chat_type="supergroup", document=file_id
        )
    file_id = server.add_file(text, "story.txt", "text/plain")
    server.user_message(
        f"/add@{BOT_USERNAME.upper()}",
        user_id=ADMIN,
        chat_id=GROUP,
        chat_type="supergroup",
        document=file_id,
    )
    await message_with(server, GROUP, "added")
    await running.stop()
    assert len(server.sent_messages(GROUP)) == 1  # no refusal, no second ingest
    assert server.call_count("getFile") == 1
    assert library.stats().articles == 1


async def test_a_photo_in_a_private_chat_is_told_to_send_text(
    server: BotApiServer, bot: RunningBot
) -> None:
    server.push_update(
        {
            "message": {
                "message_id": 900,
                "from": {"id": USER, "is_bot": False, "first_name": "User"},
                "chat": {"id": USER, "type": "private", "first_name": "User"},
                "date": int(time.time()),
                "photo": [
                    {"file_id": "AgAD-photo", "file_unique_id": "AQAD", "width": 90, "height": 90}
                ],
                "caption": QUESTION,
            }
        }
    )
    reply = await message_with(server, USER, "text")
    assert "send me your question as a text message" in reply["text"]


@pytest.mark.parametrize(
    ("question", "expect"),
    [
        ("<b>Who</b> leads <script>alert(1)</script> the resistance & AT&T?", "excerpt"),
        ("x" * 10_000, "10,000 characters"),
        ("🤔🔥🙈", "in words"),
        ("   \n\t  ", "in words"),
        ("</blockquote><a href='javascript:x'>recipe for chocolate cake</a>", "found nothing"),
    ],
)
async def test_hostile_questions_get_a_sane_answer(
    server: BotApiServer, bot: RunningBot, question: str, expect: str
) -> None:
    server.user_message(question, user_id=USER)
    reply = await message_with(server, USER, expect)
    assert len(reply["text"]) <= 4096
    if expect == "found nothing":
        assert "3 articles" in reply["text"] and "the latest:" in reply["text"]
        assert reply["text"].count("\n• ") == 3  # the three newest titles
        assert "javascript" in reply["text"]  # shown as text, escaped, not as a link
        assert not any(e["type"] == "text_link" for e in reply.get("entities", []))
    assert server.rejected == []


async def test_question_rate_limit(server: BotApiServer, bot: RunningBot) -> None:
    bot.application.bot_data.services.limiter = QuestionRateLimiter(2)
    for _ in range(3):
        server.user_message(QUESTION, user_id=OTHER_USER)
    await server.async_wait_for_messages(OTHER_USER, 3)
    texts = [m["text"] for m in server.sent_messages(OTHER_USER)]
    assert sum("faster than I can read" in t for t in texts) == 1
    # Admins are not limited.
    for _ in range(3):
        server.user_message("/ask " + QUESTION, user_id=ADMIN)
    await server.async_wait_for_messages(ADMIN, 3)
    assert not any("faster" in m["text"] for m in server.sent_messages(ADMIN))


async def test_unknown_command_gets_a_pointer(server: BotApiServer, bot: RunningBot) -> None:
    server.user_message("/frobnicate now", user_id=USER)
    reply = await message_with(server, USER, "/help")
    assert "don't know" in reply["text"]


@ignore_retry_after_deprecation
async def test_flood_control_delays_but_does_not_lose_the_reply(
    server: BotApiServer, bot: RunningBot
) -> None:
    server.fail_next("sendMessage", retry_after=1)
    server.user_message(QUESTION, user_id=USER)
    answer = await message_with(server, USER, "excerpt")
    assert_answer_about_massoud(answer)
    assert server.faults_served == [("sendMessage", 429)]
    assert len(server.sent_messages(USER)) == 1
    assert server.rejected == []


async def test_store_error_says_temporarily_unavailable(
    server: BotApiServer, bot: RunningBot, monkeypatch: pytest.MonkeyPatch, stocked_library: Library
) -> None:
    def down(*args: object, **kwargs: object) -> None:
        raise StoreError("chroma server unreachable")

    monkeypatch.setattr(stocked_library, "ask", down)
    server.user_message(QUESTION, user_id=USER)
    reply = await message_with(server, USER, "temporarily unavailable")
    assert "chroma" not in reply["text"]
    # The bot keeps running.
    monkeypatch.undo()
    server.user_message(QUESTION, user_id=USER)
    await message_with(server, USER, "excerpt")


async def test_token_never_reaches_logs_or_replies(
    server: BotApiServer, bot: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # Not transient (5xx are retried): the handler fails and the error handler reports it.
    server.fail_next("sendMessage", status=400, description="Bad Request: chat not found")
    server.user_message(QUESTION, user_id=USER)
    await message_with(server, USER, "went wrong")
    await bot.stop()
    assert "error while handling an update" in caplog.text  # logged, with the traceback
    assert any(r.exc_info for r in caplog.records)
    logged = caplog.text + "".join(
        str(r.exc_info[1]) for r in caplog.records if r.exc_info and r.exc_info[1]
    )
    assert SECRET not in logged
    for message in server.sent_messages():
        assert SECRET not in message["text"]
    assert server.rejected == []


# --------------------------------------------------------------------------- admins


ADMIN_ATTEMPTS = [
    "/add {url}",
    "/add Pasted title\nSome pasted article text that should never be stored.",
    "/list",
    "/list 2",
    "/remove {article_id}",
    "/stats",
    f"/add@{BOT_USERNAME} {{url}}",
]


async def test_non_admin_is_refused_for_every_admin_command(
    server: BotApiServer, fresh_bot: Any, article_server: ArticleServer
) -> None:
    _, library = fresh_bot
    library.add_text(SAMPLE.read_text(encoding="utf-8"))
    (record,) = library.list_articles()
    before = library.stats()
    seen_before = list(article_server.seen)
    attempts = [
        a.format(url=article_server.url("/bridge.html"), article_id=record.article_id)
        for a in ADMIN_ATTEMPTS
    ]
    for attempt in attempts:
        server.user_message(attempt, user_id=USER)
    file_id = server.add_file(b"Title\n\nBody of an uploaded article.", "story.txt", "text/plain")
    server.user_message("", user_id=USER, document=file_id)
    server.user_message(
        "/add", user_id=USER, chat_id=GROUP, chat_type="supergroup", document=file_id
    )
    server.user_message(
        "/remove " + record.article_id, user_id=USER, chat_id=GROUP, chat_type="supergroup"
    )
    await server.async_wait_for_messages(USER, len(attempts) + 1)
    await server.async_wait_for_messages(GROUP, 2)
    for message in server.sent_messages(USER) + server.sent_messages(GROUP):
        assert "only the bot's admins" in message["text"], message["text"]
    assert library.stats() == before
    assert [r.article_id for r in library.list_articles()] == [record.article_id]
    assert article_server.seen == seen_before  # no fetch was even tried
    assert server.call_count("getFile") == 0
    assert server.rejected == []


async def test_uploads_text_html_markdown_and_a_bad_file(
    server: BotApiServer, fresh_bot: Any
) -> None:
    _, library = fresh_bot
    files = [
        ("panjshir.txt", "text/plain", SAMPLE.read_bytes(), "added"),
        (
            "bridge.html",
            "text/html",
            (SAMPLE.parent / "html" / "daily-herald-bridge.html").read_bytes(),
            "added",
        ),
        (
            "notes.md",
            "text/markdown",
            b"# Harbour reopens after dredging\n\nThe city harbour reopened on Monday after "
            b"three months of dredging work, the port authority said. Ferries resume their "
            b"full timetable next week, and fishing boats can use the northern quay again.\n",
            "added",
        ),
        ("photo.pdf", "application/pdf", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "failed"),
    ]
    for number, (name, mime, data, _) in enumerate(files, 1):
        file_id = server.add_file(data, name, mime)
        server.user_message("", user_id=ADMIN, document=file_id)

        def outcomes_shown(n: int = number) -> bool:
            return sum("Done" in m["text"] for m in server.sent_messages(ADMIN)) == n

        await server.async_wait_for(outcomes_shown, what=f"outcome of {name}")
    outcomes = [m["text"] for m in server.sent_messages(ADMIN)]
    assert len(outcomes) == 4
    for (_name, _, _, expected), text in zip(files, outcomes, strict=True):
        assert expected in text, text
    assert "photo.pdf" in outcomes[-1] and len(outcomes[-1].splitlines()) >= 4  # says why
    titles = {r.title for r in library.list_articles()}
    assert "Harbour reopens after dredging" in titles
    assert any("bridge" in t for t in titles)

    # Over Telegram's 20 MB download limit: refused without a download.
    huge = server.add_file(b"\0" * (20 * 1024 * 1024 + 1), "huge.pdf", "application/pdf")
    server.user_message("", user_id=ADMIN, document=huge)
    too_big = await message_with(server, ADMIN, "huge.pdf")
    assert "failed" in too_big["text"] and "20 MB" in too_big["text"]
    assert server.call_count("getFile") == 4

    # The same file again is a duplicate; a group upload needs the /add caption.
    file_id = server.add_file(SAMPLE.read_bytes(), "again.txt", "text/plain")
    server.user_message(
        "/add", user_id=ADMIN, chat_id=GROUP, chat_type="supergroup", document=file_id
    )
    dup = await message_with(server, GROUP, "Done")
    assert "duplicate" in dup["text"]
    assert server.rejected == []


async def test_add_pasted_text_and_reply(server: BotApiServer, fresh_bot: Any) -> None:
    _, library = fresh_bot
    server.user_message(
        "/add Harbour reopens after dredging\nThe city harbour reopened on Monday after three "
        "months of dredging work, the port authority said.",
        user_id=ADMIN,
    )
    await message_with(server, ADMIN, "Done")
    article = server.user_message(
        "Library extends opening hours\n\nThe central library will open until 10 pm on "
        "weekdays from March, the council announced on Tuesday.",
        user_id=ADMIN,
    )["message"]
    # A private text is a question too; wait for its answer before replying with /add.
    await server.async_wait_for_messages(ADMIN, 2)
    server.user_message("/add", user_id=ADMIN, reply_to_message_id=article["message_id"])
    await server.async_wait_for(
        lambda: sum("Done" in m["text"] for m in server.sent_messages(ADMIN)) == 2
    )
    titles = sorted(r.title for r in library.list_articles())
    assert titles == ["Harbour reopens after dredging", "Library extends opening hours"]
    server.user_message("/add", user_id=ADMIN)
    usage = await message_with(server, ADMIN, "takes")
    assert "URL" in usage["text"]
    assert server.rejected == []


async def test_list_remove_stats(
    server: BotApiServer, fresh_bot: Any, article_server: ArticleServer
) -> None:
    _, library = fresh_bot
    urls = [article_server.url(p) for p in ("/panjshir.txt", "/bridge.html", "/storm.html")]
    server.user_message("/add " + " ".join(urls) + " " + article_server.url("/gone"), user_id=ADMIN)
    done = await message_with(server, ADMIN, "Done")
    assert done["text"].count("added") == 3 and "failed" in done["text"]
    assert "404" in done["text"] or "not found" in done["text"].lower()

    server.user_message("/list", user_id=ADMIN)
    listing = await message_with(server, ADMIN, "3 articles")
    ids = entity_texts(listing, "code")
    assert sorted(ids) == sorted(r.article_id for r in library.list_articles())

    server.user_message(f"/remove {ids[0]}", user_id=ADMIN)
    await message_with(server, ADMIN, "Removed")
    assert ids[0] not in {r.article_id for r in library.list_articles()}
    server.user_message(f"/remove {ids[0]}", user_id=ADMIN)
    await message_with(server, ADMIN, "No article has the id")

    server.user_message("/stats", user_id=ADMIN)
    stats = await message_with(server, ADMIN, "Passages")
    assert "Articles: 2" in stats["text"] and "all-MiniLM-L6-v2" in stats["text"]
    server.user_message("/list 9", user_id=ADMIN)  # past the end: the last page
    await server.async_wait_for(
        lambda: sum("2 articles" in m["text"] for m in server.sent_messages(ADMIN)) == 1
    )
    assert server.rejected == []


async def test_users_are_answered_while_an_ingest_runs_and_shutdown_lets_it_finish(
    server: BotApiServer, fresh_bot: Any, article_server: ArticleServer
) -> None:
    running, library = fresh_bot
    library.add_text(SAMPLE.read_text(encoding="utf-8"))
    article_server.release.clear()
    try:
        server.user_message("/add " + article_server.url("/held.txt"), user_id=ADMIN)
        await server.async_wait_for(lambda: "/held.txt" in article_server.seen)
        # The admin's ingest is stuck fetching; a user still gets an answer.
        server.user_message(QUESTION, user_id=USER)
        answer = await message_with(server, USER, "excerpt")
        assert_answer_about_massoud(answer, linked=False)  # pasted text has no URL
        (status,) = server.sent_messages(ADMIN)
        assert "Working" in status["text"]
        # Shutting down waits for the ingest in flight instead of cutting it off.
        stopping = asyncio.create_task(running.stop())
        await asyncio.sleep(0)
        assert not stopping.done()
    finally:
        article_server.release.set()
    await stopping
    (status,) = server.sent_messages(ADMIN)
    assert "Done" in status["text"] and "added" in status["text"]
    assert "Harbour reopens after dredging" in {r.title for r in library.list_articles()}


# --------------------------------------------------------------------------- found by a bug hunt


def stored_texts(library: Library) -> list[str]:
    return [text for page in library.store.iter_articles() for _, text, _ in page]


async def test_pasted_text_without_a_title_line_keeps_its_first_paragraph(
    server: BotApiServer, fresh_bot: Any
) -> None:
    """Seen: the bot made any first line the title, and so cut a 251-character first
    paragraph out of the text; the library's rule takes only a short line (as files do)."""
    _, library = fresh_bot
    first = (
        "The ferry Albatross ran aground near Oyster Point on Tuesday morning, the coast guard "
        "said, and all forty-two passengers were taken off by lifeboat within the hour while "
        "tugs waited for the tide to turn before they tried to pull the ship free again."
    )
    assert len(first) > 200
    rest = "Investigators will board the ship on Wednesday. The harbour stays open to traffic."
    server.user_message(f"/add {first}\n{rest}", user_id=ADMIN)
    done = await message_with(server, ADMIN, "Done")
    assert "added" in done["text"]
    (text,) = stored_texts(library)
    assert first in text and rest in text
    (record,) = library.list_articles()
    assert record.title.startswith("The ferry Albatross ran aground")


async def test_add_as_a_reply_to_a_shared_link_fetches_the_page(
    server: BotApiServer, fresh_bot: Any, article_server: ArticleServer
) -> None:
    _, library = fresh_bot
    url = article_server.url("/bridge.html")
    fetched = article_server.seen.count("/bridge.html")
    # Someone shares a link with a comment in the group; an admin replies /add to it.
    shared = server.user_message(
        f"Interesting piece about the new bridge {url}",
        user_id=USER,
        chat_id=GROUP,
        chat_type="supergroup",
    )
    server.user_message(
        "/add",
        user_id=ADMIN,
        chat_id=GROUP,
        chat_type="supergroup",
        reply_to_message_id=shared["message"]["message_id"],
    )
    done = await message_with(server, GROUP, "Done")
    assert "added" in done["text"]
    assert article_server.seen.count("/bridge.html") == fetched + 1
    (record,) = library.list_articles()
    assert record.url == url and "bridge" in record.title.lower()

    # A long text that merely has a link in it is the article itself.
    fetched = article_server.seen.count("/storm.html")
    words = " ".join(f"word{i}" for i in range(60))
    article = server.user_message(
        f"Harbour notes\nThe harbour reopened, see {article_server.url('/storm.html')} {words}.",
        user_id=ADMIN,
    )
    server.user_message("/add", user_id=ADMIN, reply_to_message_id=article["message"]["message_id"])
    await message_with(server, ADMIN, "Done")
    assert article_server.seen.count("/storm.html") == fetched
    # A text link whose target is no URL is never read as a path on the bot's disk.
    secret = server.user_message(
        "read this",
        user_id=ADMIN,
        entities=[{"type": "text_link", "offset": 0, "length": 4, "url": "/etc/hostname"}],
    )
    server.user_message("/add", user_id=ADMIN, reply_to_message_id=secret["message"]["message_id"])
    await message_with(server, ADMIN, "too short")
    assert len(library.list_articles()) == 2
    assert "Harbour notes" in {r.title for r in library.list_articles()}
    assert server.rejected == []


async def test_an_uploaded_json_lines_dump_is_imported_line_by_line(
    server: BotApiServer, fresh_bot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gzip
    import json

    from newsbot.bot import admin
    from newsbot.library import pipeline as library_module

    monkeypatch.setattr(admin, "IMPORT_PROGRESS_EVERY", 0.02)
    monkeypatch.setattr(library_module, "INGEST_BATCH", 1)  # results come batch by batch
    _, library = fresh_bot
    records = [
        {"title": f"Harbour story {n}", "text": f"The harbour {n} reopened after dredging. " * 8}
        for n in range(12)
    ]
    dump = "\n".join([json.dumps(r) for r in records] + ['{"title": "no text"}']) + "\n"
    server.user_message("", user_id=ADMIN, document=server.add_file(dump.encode(), "dump.jsonl"))
    done = await message_with(server, ADMIN, "Done")
    assert "dump.jsonl, 13 lines" in done["text"], done["text"]
    assert "added 12" in done["text"] and "failed 1" in done["text"]
    assert "dump.jsonl:13" in done["text"]  # which line, by the file's own name
    titles = {r.title for r in library.list_articles()}
    assert titles == {f"Harbour story {n}" for n in range(12)}
    # While it ran, the status said how far it was.
    edits = [c["text"] for c in server.calls_to("editMessageText")]
    assert any("Importing dump.jsonl:" in t and " done" in t for t in edits), edits

    # Gzipped, as `newsbot export` writes it: the same articles again are duplicates.
    packed = gzip.compress(dump.encode())
    server.user_message("", user_id=ADMIN, document=server.add_file(packed, "dump.jsonl.gz"))
    again = await message_where(
        server, ADMIN, lambda m: "dump.jsonl.gz" in m["text"] and "Done" in m["text"], "gz done"
    )
    assert "duplicate 12" in again["text"]
    assert library.stats().articles == 12
    assert server.rejected == []


async def test_a_flooding_user_is_told_once_and_others_are_not_held_up(
    server: BotApiServer, bot: RunningBot
) -> None:
    """Seen: every message over the limit got its own notice, which spent the bot's send
    budget (20 a minute in a group) and held another user's answer back for a minute."""
    bot.application.bot_data.services.limiter = QuestionRateLimiter(2)
    for text in [QUESTION] * 6 + ["/start", "/frobnicate", "?", "x" * 5000]:
        server.user_message(text, user_id=OTHER_USER)
    server.user_message(QUESTION, user_id=USER)
    await message_with(server, USER, "excerpt")
    await asyncio.sleep(1)  # whatever else was coming has come
    texts = [m["text"] for m in server.sent_messages(OTHER_USER)]
    assert len(texts) == 3, texts  # two answers and one notice
    assert sum("faster than I can read" in t for t in texts) == 1


async def test_refusals_and_passage_buttons_count_against_the_limit_too(
    server: BotApiServer, bot: RunningBot
) -> None:
    bot.application.bot_data.services.limiter = QuestionRateLimiter(2)
    server.user_message(QUESTION, user_id=OTHER_USER)
    answer = await message_with(server, OTHER_USER, "excerpt")
    passage = answer["reply_markup"]["inline_keyboard"][0][0]
    for _ in range(4):  # one more passage is allowed, then the presses are refused
        server.callback_query(OTHER_USER, answer, passage["callback_data"])
    await server.async_wait_for(
        lambda: len(server.callback_answers) >= 4 or None, what="four button answers"
    )
    await asyncio.sleep(1)
    passages = [m for m in server.sent_messages(OTHER_USER) if "Passage" in m["text"]]
    assert len(passages) == 1
    waits = [a for a in server.callback_answers if "please wait" in (a.get("text") or "")]
    assert len(waits) == 3
    for _ in range(5):  # a non-admin's admin commands: refused within the limit, then told once
        server.user_message("/stats", user_id=USER)
    await server.async_wait_for_messages(USER, 3)
    await asyncio.sleep(1)
    texts = [m["text"] for m in server.sent_messages(USER)]
    assert sum("only the bot's admins" in t for t in texts) == 2
    assert sum("faster than I can read" in t for t in texts) == 1 and len(texts) == 3


async def test_documents_for_another_bot_do_not_count_against_the_limit(
    server: BotApiServer, bot: RunningBot
) -> None:
    bot.application.bot_data.services.limiter = QuestionRateLimiter(1)
    file_id = server.add_file(b"Title\n\nBody of an uploaded article.", "story.txt")
    for _ in range(3):
        server.user_message(
            "/add@other_bot",
            user_id=USER,
            chat_id=GROUP,
            chat_type="supergroup",
            document=file_id,
        )
    server.user_message(QUESTION, user_id=USER)
    await message_with(server, USER, "excerpt")
    assert server.sent_messages(GROUP) == []


async def test_own_inline_results_and_bare_mentions_are_not_questions(
    server: BotApiServer, bot: RunningBot
) -> None:
    # A user shares an excerpt with "@bot question" in the bot's own chat: not a question.
    server.user_message(
        "Massoud said the resistance would fight on.", user_id=USER, via_bot=server.bot_user
    )
    server.user_message(f"@{BOT_USERNAME}", user_id=USER)
    asked = await message_with(server, USER, "in words")
    assert len(server.sent_messages(USER)) == 1, server.sent_messages(USER)
    assert BOT_USERNAME not in asked["text"]

    # A text mention of the bot (its name, linked) is not part of the question either.
    name = "Newsbot"
    server.user_message(
        f"{name} zqxv wbrt klmn?",
        user_id=USER,
        chat_id=GROUP,
        chat_type="supergroup",
        entities=[{"type": "text_mention", "offset": 0, "length": 7, "user": server.bot_user}],
    )
    nothing = await message_with(server, GROUP, "zqxv")
    assert name not in nothing["text"]
    assert server.rejected == []
