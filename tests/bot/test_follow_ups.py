"""Follow-up questions in the bot, end to end against the Bot API stand-in: a conversation
per private chat and per reply thread in groups, /new, expiry, restarts, inline mode."""

from __future__ import annotations

from typing import Any

import pytest

from newsbot.bot.threads import AnswerThreads
from newsbot.library import Library
from tests.bot.conftest import BOT_USERNAME, GROUP, OTHER_USER, SAMPLE, USER, RunningBot
from tests.bot.test_bot import entity_texts
from tests.servers.botapi import BotApiServer

pytestmark = pytest.mark.slow

FIRST = "Who took control of the Panjshir valley?"
PRONOUN = "What did their spokesman say?"
NOTHING = "I found nothing"
OTHER_BOT = 777_000_111


async def ask(
    server: BotApiServer, bot: RunningBot, text: str, chat: int, **message: Any
) -> dict[str, Any]:
    """Send ``text`` and return the bot's next message in ``chat``, once the bot knows it
    (the stand-in hands the message to the test before the bot has its message id)."""
    before = len(server.sent_messages(chat))
    server.user_message(text, chat_id=chat, **message)
    sent = (await server.async_wait_for_messages(chat, before + 1, timeout=30))[before]
    services = bot.application.bot_data.services
    assert services is not None
    if "excerpt" in sent["text"] or "Reading on" in sent["text"]:
        await server.async_wait_for(
            lambda: services.threads.key_of(chat, sent["message_id"]), 10, what="remembered"
        )
    return sent


def about_spokesman(message: dict[str, Any]) -> bool:
    """The answer the follow-up should give: the Taliban spokesman, in bold."""
    return any("Zabiullah Mujahid" in bold for bold in entity_texts(message, "bold"))


def about_line(message: dict[str, Any]) -> str:
    """The line that says what a follow-up was read as about ("" when there is none)."""
    return next((line for line in message["text"].splitlines() if "about:" in line), "")


async def test_a_private_chat_follows_up_reads_on_and_forgets(
    server: BotApiServer, bot: RunningBot
) -> None:
    first = await ask(server, bot, FIRST, USER, user_id=USER)
    assert "Taliban" in " ".join(entity_texts(first, "bold"))
    follow = await ask(server, bot, PRONOUN, USER, user_id=USER)
    assert about_spokesman(follow) and "Panjshir" in about_line(follow), follow["text"]
    more = await ask(server, bot, "more", USER, user_id=USER)
    assert "Reading on" in more["text"]
    (quote,) = entity_texts(more, "blockquote")
    assert quote.strip() in SAMPLE.read_text(encoding="utf-8")
    assert quote.strip() not in " ".join(entity_texts(follow, "blockquote"))
    # Another user's chat has none of it.
    stranger = await ask(server, bot, PRONOUN, OTHER_USER, user_id=OTHER_USER)
    assert not about_spokesman(stranger) and "about:" not in stranger["text"]
    # /new forgets at once.
    fresh = await ask(server, bot, "/new", USER, user_id=USER)
    assert "fresh start" in fresh["text"]
    after = await ask(server, bot, PRONOUN, USER, user_id=USER)
    assert not about_spokesman(after) and "about:" not in after["text"]
    assert server.rejected == []


async def test_nothing_found_ends_a_private_conversation(
    server: BotApiServer, bot: RunningBot
) -> None:
    await ask(server, bot, FIRST, USER, user_id=USER)
    nothing = await ask(server, bot, "What is a good recipe for banana bread?", USER, user_id=USER)
    assert NOTHING in nothing["text"]
    # Within a minute, and leaning, the next question still stands alone: what it leaned on
    # found nothing, and the answer before that is not what it means.
    after = await ask(server, bot, PRONOUN, USER, user_id=USER)
    assert not about_spokesman(after) and "about:" not in after["text"]
    again = await ask(server, bot, FIRST, USER, user_id=USER)
    assert "Taliban" in " ".join(entity_texts(again, "bold"))
    follow = await ask(server, bot, PRONOUN, USER, user_id=USER)
    assert about_spokesman(follow) and "Panjshir" in about_line(follow)


async def test_a_conversation_expires(server: BotApiServer, bot: RunningBot) -> None:
    services = bot.application.bot_data.services
    assert services is not None and services.conversations.expiry == 600
    clock = [1000.0]
    services.clock = lambda: clock[0]
    await ask(server, bot, FIRST, USER, user_id=USER)
    clock[0] += 601
    late = await ask(server, bot, PRONOUN, USER, user_id=USER)
    assert not about_spokesman(late) and "about:" not in late["text"]
    await ask(server, bot, FIRST, USER, user_id=USER)
    clock[0] += 599
    again = await ask(server, bot, PRONOUN, USER, user_id=USER)
    assert about_spokesman(again), [m["text"][:80] for m in server.sent_messages(USER)]


async def test_group_threads_follow_replies_only(server: BotApiServer, bot: RunningBot) -> None:
    group = {"chat_type": "supergroup"}
    first = await ask(server, bot, f"@{BOT_USERNAME} {FIRST}", GROUP, user_id=USER, **group)
    # A reply to the answer continues its thread, whoever replies.
    reply = await ask(
        server,
        bot,
        PRONOUN,
        GROUP,
        user_id=OTHER_USER,
        reply_to_message_id=first["message_id"],
        **group,
    )
    assert about_spokesman(reply) and "about:" in reply["text"]
    # A question that is no reply starts a thread of its own.
    alone = await ask(server, bot, f"@{BOT_USERNAME} {PRONOUN}", GROUP, user_id=USER, **group)
    assert not about_spokesman(alone) and "about:" not in alone["text"]
    # A reply to "nothing found" stands alone too.
    assert NOTHING in alone["text"]
    to_nothing = await ask(
        server, bot, PRONOUN, GROUP, user_id=USER, reply_to_message_id=alone["message_id"], **group
    )
    assert not about_spokesman(to_nothing) and "about:" not in to_nothing["text"]
    # /new as a reply forgets that thread.
    await ask(
        server, bot, "/new", GROUP, user_id=USER, reply_to_message_id=reply["message_id"], **group
    )
    forgotten = await ask(
        server, bot, PRONOUN, GROUP, user_id=USER, reply_to_message_id=reply["message_id"], **group
    )
    assert not about_spokesman(forgotten) and "about:" not in forgotten["text"]


async def test_a_reply_to_another_bot_stands_alone(server: BotApiServer, bot: RunningBot) -> None:
    group = {"chat_type": "supergroup"}
    first = await ask(server, bot, f"@{BOT_USERNAME} {FIRST}", GROUP, user_id=USER, **group)
    # Another bot in the group answers our answer; a reply to it is no reply to ours.
    server.add_user(OTHER_BOT, username="digestbot", is_bot=True)
    other = server.user_message(
        "Today's digest: Panjshir, Taliban.",
        user_id=OTHER_BOT,
        chat_id=GROUP,
        reply_to_message_id=first["message_id"],
        **group,
    )
    to_other = await ask(
        server,
        bot,
        f"@{BOT_USERNAME} {PRONOUN}",
        GROUP,
        user_id=USER,
        reply_to_message_id=other["message"]["message_id"],
        **group,
    )
    assert not about_spokesman(to_other) and "about:" not in to_other["text"]
    assert server.rejected == []


async def test_after_a_restart_a_reply_stands_alone(
    server: BotApiServer, settings: Any, stocked_library: Library, start_bot: Any
) -> None:
    running = await start_bot(settings, stocked_library)
    first = await ask(server, running, FIRST, USER, user_id=USER)
    assert about_spokesman(
        await ask(
            server, running, PRONOUN, USER, user_id=USER, reply_to_message_id=first["message_id"]
        )
    )
    await running.stop()
    restarted = await start_bot(settings, stocked_library)
    reply = await ask(
        server, restarted, PRONOUN, USER, user_id=USER, reply_to_message_id=first["message_id"]
    )
    assert not about_spokesman(reply) and "about:" not in reply["text"]


async def test_inline_mode_has_no_context(server: BotApiServer, bot: RunningBot) -> None:
    await ask(server, bot, FIRST, USER, user_id=USER)
    again = await ask(server, bot, PRONOUN, USER, user_id=USER)
    assert about_spokesman(again), [m["text"][:80] for m in server.sent_messages(USER)]
    server.inline_query(USER, PRONOUN)
    answered = await server.async_wait_for(
        lambda: server.calls_to("answerInlineQuery") or None, 30, what="inline answer"
    )
    results = answered[-1]["results"]
    assert not any("Zabiullah Mujahid" in str(r) for r in results), results


def test_answer_threads_stay_bounded() -> None:
    threads = AnswerThreads(max_answers=3)
    for message_id in range(10):
        threads.remember(GROUP, message_id, ("thread", GROUP, message_id))
    assert len(threads) == 3
    assert threads.key_of(GROUP, 0) is None
    assert threads.key_of(GROUP, 9) == ("thread", GROUP, 9)
    assert threads.key_of(USER, 9) is None
