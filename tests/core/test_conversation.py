"""Follow-up questions: when a message leans on the previous one, which words it borrows,
"more", and the bounded, expiring store of every chat's last turns."""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable

import pytest

from newsbot.chat_memory import Conversations
from newsbot.conversation import (
    DEFAULT_EXPIRY_S,
    MAX_ARTICLES,
    MAX_CONTEXT_CHARS,
    MAX_EXPANSION,
    MAX_NAMES,
    MAX_QUESTION_CHARS,
    MAX_TOPIC_WORDS,
    MAX_TURNS,
    MAX_WORD_CHARS,
    Conversation,
    QuotePosition,
    Turn,
    asks_for_more,
    expansion_words,
    follows_on,
)
from newsbot.leaning import leans_on_previous, names_in, topic_words

PANJSHIR = Turn.build(
    "Who took control of the Panjshir valley?",
    article_ids=["a1f3c0d2e4b5a6c7"],
    bold_sentences=[
        "The Taliban said on Monday they had taken control of Panjshir province, the last "
        "holdout of the National Resistance Front."
    ],
    last_quote=QuotePosition("a1f3c0d2e4b5a6c7", 1234),
)


def _chat(*turns: Turn, at: float = 1000.0) -> Conversation:
    return Conversation(turns, at)


FOLLOW_UPS = [
    "What did their spokesman say?",
    "And the resistance?",
    "What about the resistance?",
    "How about Canada?",
    "Why?",
    "how?",
    "What else did he say?",
    "Who else was arrested?",
    "Why did he resign?",
    "Where is she now?",
    "When did it happen?",
    "How many of them were killed?",
    "What did Biden say about it?",  # a name, but "it" still points outside the question
    "How did the Taliban respond to it?",
    "Did the Senate pass it?",
    "Who said that?",
    "What does that mean for prices?",
    "What did the court say about this?",
    "Why did they cancel the vote on Thursday?",
    "What happened there?",
    "Is that true?",
    "What were the casualties?",
    "What made them leave Afghanistan?",
    "Why did he resign from the Federal Reserve board?",  # "he" comes before any name
    "What did Trump say?",  # one topic word: about what?
    "And in Europe?",
    "Which messaging app did they use?",  # "did they": not the app
    "Who is the company's CEO?",  # a title in capitals is not a name
    "Who is running the company for now?",
    "How many pennies were made that year?",
    "How many of the sunflower ones died?",
    "What did those protesters want from the mayor?",
    "Thanks! What did he say?",  # the sentence before says nothing of whom
    "Why did they cancel it?",
    "Where did they find it first?",  # "they" with no subject named after its verb
    # No name, few words, and "the" or "which" points at something said before.
    "Who scored the winning penalty?",
    "Which governor wants an investigation?",
    "Who said that the economy would enter a recession?",  # which economy?
]

STANDALONE = [
    "Who took control of the Panjshir valley?",
    "Who is the president of France?",
    "Who is Mark Carney?",
    "Which country said it would leave NATO?",
    "What did the Federal Reserve say about its interest rate decision?",
    "Who is the CEO of Tesla and what is his salary?",
    "Is it true that Elon Musk left DOGE?",
    "How long will it take to rebuild Lahaina?",
    "Which bill did the Senate pass this week?",
    "Why did the measles outbreak in West Texas spread so fast?",
    "What animal did Colossal Biosciences bring back from extinction?",
    "Who said that the US economy would enter a recession?",
    "Which team won the Stanley Cup?",
    "How many people died in the Texas floods?",
    "Where will the next Winter Olympics be held?",
    "What did Pope Leo say about artificial intelligence?",
    "who won the super bowl this year",
    "When does daylight saving time end in the US?",
    "What is the new tariff on Canadian lumber?",
    "Is it safe to travel to Mexico this summer?",
    "Who replaced Mike Waltz as national security adviser?",
    "Why did Canada put tariffs on American cars?",
    "What is olo?",  # asks what something is
    "What does Dimorphos mean?",
    "How much did it cost the U.S. Mint to make one penny in fiscal year 2024?",
    "What did scientists show a mouse before mapping a piece of its visual cortex?",
    "Who is Kirsty Coventry?",
    # The story before the asking sentence holds what its pronoun means.
    "Venus Williams won a match in Washington at 45. How old is she?",
    "Seven men were charged over a jewelry heist in Paris. What did they steal?",
    "Oreo made a cookie with Selena Gomez. What inspired it?",
    # "That" joins a clause to its noun.
    "What is the name of the boat that was stopped on its way to Gaza?",
    "Which state has a law that requires the Ten Commandments in classrooms?",
    # "They" is whoever did it, and the question names what.
    "Why did they rename PCOS?",
    "Where did they find the first case of sea star wasting disease?",
    # "It" that stands for nothing: the time since something.
    "How many years has it been since the Berlin Wall fell?",
    "How long has it been since the last eclipse over Europe?",
    # A name opens the question: "her" may mean it.
    "Beyonce closed her tour with which guest?",
]


@pytest.mark.parametrize("question", FOLLOW_UPS)
def test_a_question_that_leans_on_the_previous_one_follows_on(question: str) -> None:
    assert leans_on_previous(question)
    assert follows_on(question, _chat(PANJSHIR), 1060.0, is_reply=False)


@pytest.mark.parametrize("question", STANDALONE)
def test_a_question_that_stands_on_its_own_does_not(question: str) -> None:
    assert not leans_on_previous(question)
    assert not follows_on(question, _chat(PANJSHIR), 1060.0, is_reply=False)


def test_a_reply_to_an_answer_always_follows_on() -> None:
    standalone = "Who is the president of France?"
    assert follows_on(standalone, _chat(PANJSHIR), 1060.0, is_reply=True)
    assert not follows_on(standalone, _chat(PANJSHIR), 1060.0, is_reply=False)


def test_nothing_follows_on_a_conversation_that_is_gone_or_expired() -> None:
    question = "What did their spokesman say?"
    assert not follows_on(question, None, 1060.0, is_reply=True)
    assert not follows_on(question, _chat(), 1060.0, is_reply=True)
    late = 1000.0 + DEFAULT_EXPIRY_S + 1
    assert not follows_on(question, _chat(PANJSHIR), late, is_reply=False)
    assert not follows_on(question, _chat(PANJSHIR), late, is_reply=True)
    assert follows_on(question, _chat(PANJSHIR), 1000.0 + DEFAULT_EXPIRY_S, is_reply=False)
    assert not follows_on(question, _chat(PANJSHIR), 1100.0, is_reply=False, expiry=60)


def test_a_message_without_words_leans_on_nothing() -> None:
    assert not leans_on_previous("👍")
    assert not leans_on_previous("?!")


def test_topic_words_keep_names_as_written_and_drop_the_asking_words() -> None:
    assert topic_words("Who took control of the Panjshir valley?") == [
        "took",
        "control",
        "Panjshir",
        "valley",
    ]
    assert topic_words("Tell me what happened next in Kabul") == ["Kabul"]
    assert topic_words("Why?") == []
    # A capital that only starts the question is not a name; one written again later is.
    assert topic_words("Tariffs: who pays the tariffs?") == ["tariffs", "pays"]
    assert topic_words("NATO leaders met where?") == ["NATO", "leaders", "met"]


def test_names_in_bold_sentences() -> None:
    sentences = [
        "The Taliban said on Monday they had taken control of Panjshir province.",
        "Fighting continued, said Ali Maisam Nazary of the NRF.",
        "“Our team took DNA from a tooth,” Lamm said.",
    ]
    expected = ["Taliban", "Panjshir", "Ali", "Maisam", "Nazary", "NRF", "DNA", "Lamm"]
    assert names_in(sentences) == expected
    # "Fighting" and "Our" only start their sentence; "Lamm" follows a quotation and counts.
    assert "Fighting" not in names_in(sentences)
    # A sentence-initial word is a name when it is capitalised inside a sentence too.
    assert names_in(["Kabul fell.", "Fighters left Kabul."]) == ["Kabul"]
    assert names_in(["Officials said so."]) == []


def test_expansion_takes_the_answer_s_names_then_names_asked_then_other_words() -> None:
    words = expansion_words("What did their spokesman say?", _chat(PANJSHIR))
    # The answer's first names, then the question's (Panjshir, said already), then its
    # other words: six at most, so the answer's fifth name ("Front") is left out.
    assert words == ["Taliban", "Panjshir", "National", "Resistance", "took", "control"]


def test_a_conversation_without_turns_adds_no_words() -> None:
    assert expansion_words("Why?", _chat()) == []


def test_expansion_leaves_out_what_the_question_already_says() -> None:
    words = expansion_words("And the resistance in panjshir?", _chat(PANJSHIR))
    assert "Panjshir" not in words and "Resistance" not in words
    assert words[:2] == ["Taliban", "National"] and "Front" in words


def test_expansion_is_most_recent_first_and_bounded() -> None:
    second = Turn.build(
        "What did their spokesman say?",
        bold_sentences=["The war is over, Zabihullah Mujahid told reporters in Kabul."],
    )
    words = expansion_words("Why?", _chat(PANJSHIR, second))
    assert len(words) == MAX_EXPANSION
    # The last answer's names, the names asked in every turn, the last question's words,
    # then the earlier answer's names; never the earlier question's verbs.
    assert words == ["Zabihullah", "Mujahid", "Kabul", "Panjshir", "spokesman", "Taliban"]
    assert "took" not in words


def test_expansion_only_takes_the_subtopic_words_of_the_last_turn() -> None:
    second = Turn.build("Why did they cancel the vote?")
    words = expansion_words("When?", _chat(PANJSHIR, second))
    # The name asked before ("Panjshir"), then the last question's words.
    assert words[:3] == ["Panjshir", "cancel", "vote"]
    assert "valley" not in words and "control" not in words


@pytest.mark.parametrize(
    "message",
    [
        "more",
        "More!",
        "more?",
        "MORE please",
        "next",
        "Next.",
        "go on",
        "Go on...",
        "continue",
        "Continue, please",
        "tell me more",
        "Tell me more about it",
        "what happened next?",
        "What happens next",
        "and then?",
        "ok, more",
        "keep going",
    ],
)
def test_asks_for_more(message: str) -> None:
    assert asks_for_more(message)


@pytest.mark.parametrize(
    "message",
    [
        "more people died?",
        "How many more people died?",
        "Who is next in line for the throne?",
        "next week's election",
        "Continue the ceasefire talks?",
        "Tell me more about the Taliban",
        "What happened next in Gaza?",
        "",
    ],
)
def test_a_question_with_those_words_is_not_asking_for_more(message: str) -> None:
    assert not asks_for_more(message)


def test_a_turn_is_built_within_its_bounds() -> None:
    turn = Turn.build(
        "Why " + " ".join(f"Name{i} word{i}" for i in range(30)) + "?",
        article_ids=[f"a{i:015d}" for i in range(10)] + ["x" * 500],
        bold_sentences=[" ".join(f"the Place{i}" for i in range(30))],
        last_quote=QuotePosition("y" * 500, 10),
    )
    assert len(turn.question) == MAX_QUESTION_CHARS
    assert len(turn.topic_words) == MAX_TOPIC_WORDS
    assert len(turn.names) == MAX_NAMES
    assert turn.article_ids == tuple(f"a{i:015d}" for i in range(MAX_ARTICLES))
    assert turn.last_quote is None  # an id too long to keep: "more" has nothing to continue
    odd = Turn("q\x1e\x1fq", topic_words=("two words", "w" * (MAX_WORD_CHARS + 1), "ok"))
    assert odd.bounded() == Turn("q  q", topic_words=("ok",))


def test_the_store_remembers_the_last_turns_of_a_chat() -> None:
    store = Conversations()
    assert store.get("chat", 0.0) is None
    for n in range(5):
        store.record("chat", Turn.build(f"What did Minister{n} say about tariffs?"), float(n))
    conversation = store.get("chat", 5.0)
    assert conversation is not None
    assert len(conversation.turns) == MAX_TURNS
    assert conversation.last_time == 4.0
    assert conversation.turns[-1].question == "What did Minister4 say about tariffs?"
    # Earlier turns keep their names only: all that expansion reads of them.
    assert [t.topic_words for t in conversation.turns[:-1]] == [("Minister2",), ("Minister3",)]
    assert expansion_words("Why?", conversation) == [
        "Minister4",
        "Minister3",
        "Minister2",
        "tariffs",
    ]


def test_the_last_turn_comes_back_whole() -> None:
    store = Conversations()
    store.record((1, 2), PANJSHIR, 1000.0)
    conversation = store.get((1, 2), 1001.0)
    assert conversation == Conversation((PANJSHIR,), 1000.0)
    assert conversation.last_turn is not None
    assert conversation.last_turn.last_quote == QuotePosition("a1f3c0d2e4b5a6c7", 1234)


def test_no_conversation_leaks_between_keys() -> None:
    store = Conversations()
    store.record((10, 1), PANJSHIR, 1000.0)
    store.record((10, 2), Turn.build("Who won the Stanley Cup?"), 1000.0)
    assert store.get((11, 1), 1001.0) is None  # another chat, same thread id
    assert store.get((10, 3), 1001.0) is None  # same chat, another reply thread
    first, second = store.get((10, 1), 1001.0), store.get((10, 2), 1001.0)
    assert first is not None and second is not None
    assert [t.question for t in first.turns] == ["Who took control of the Panjshir valley?"]
    assert [t.question for t in second.turns] == ["Who won the Stanley Cup?"]
    store.forget((10, 1))
    assert store.get((10, 1), 1001.0) is None
    assert store.get((10, 2), 1001.0) == second
    store.forget("never seen")  # no error


def test_a_conversation_expires() -> None:
    store = Conversations(expiry=60)
    store.record("chat", PANJSHIR, 1000.0)
    assert store.get("chat", 1060.0) is not None
    assert store.get("chat", 1060.5) is None
    assert len(store) == 0
    # A turn after the expiry starts a new conversation.
    store.record("chat", PANJSHIR, 2000.0)
    store.record("chat", Turn.build("Why?"), 2100.0)
    conversation = store.record("chat", Turn.build("Who won the Stanley Cup?"), 2200.0)
    assert [t.question for t in conversation.turns] == ["Who won the Stanley Cup?"]


def test_expired_conversations_are_dropped_without_being_asked_for() -> None:
    store = Conversations(expiry=60)
    for chat in range(100):
        store.record(chat, PANJSHIR, 1000.0)
    store.record("late", PANJSHIR, 1061.0)
    assert len(store) == 1


def test_the_least_recently_used_conversation_is_evicted() -> None:
    store = Conversations(max_conversations=3)
    for chat in ("a", "b", "c"):
        store.record(chat, PANJSHIR, 1000.0)
    store.record("a", Turn.build("Why?"), 1001.0)  # "a" is used again: "b" is now oldest
    store.record("d", PANJSHIR, 1002.0)
    assert len(store) == 3
    assert store.get("b", 1003.0) is None
    assert all(store.get(chat, 1003.0) is not None for chat in ("a", "c", "d"))


def test_a_conversation_keeps_within_its_characters() -> None:
    store = Conversations()
    long_words = [c * MAX_WORD_CHARS for c in "abcdefghijkl"]
    for n in range(10):
        turn = Turn(
            "x" * MAX_QUESTION_CHARS,
            topic_words=tuple(w.capitalize() for w in long_words[:6]),
            article_ids=tuple(f"{n}{i}" * 32 for i in range(3)),
            names=tuple(w.upper() for w in long_words[6:]),
            last_quote=QuotePosition(f"{n}0" * 32, 10**9),
        )
        conversation = store.record("chat", turn, float(n))
    packed = store._conversations["chat"]  # the stored form is what memory holds
    assert len(packed.partition("\x1c")[2]) <= MAX_CONTEXT_CHARS
    assert conversation.turns[-1] == turn  # the last turn is kept whole
    assert len(conversation.turns) < MAX_TURNS  # earlier ones did not fit


def _tag(n: int) -> str:
    """A distinct lower-case word for each number: no two chats share a string."""
    letters = ""
    for _ in range(6):
        n, digit = divmod(n, 26)
        letters += chr(97 + digit)
    return letters


def _deep_size(root: object) -> int:
    """The bytes of ``root`` and of every object it holds, each counted once (classes aside)."""
    seen: set[int] = set()
    stack = [root]
    total = 0
    while stack:
        item = stack.pop()
        if id(item) in seen or isinstance(item, type):
            continue
        seen.add(id(item))
        total += sys.getsizeof(item)
        stack.extend(gc.get_referents(item))
    return total


def _fill(turn_of: Callable[[str, int], Turn], chats: int = 10_000) -> tuple[int, Conversation]:
    """The bytes a store of ``chats`` conversations holds, built turn by turn (more turns than
    are kept), and the first chat's conversation.

    The size is the store's object graph, walked: tracemalloc around the filling agrees within
    2 % (5.5 and 9.3 MB for the two tests below) but makes the test ten times slower.
    """
    turns_each = MAX_TURNS + 1
    store = Conversations()
    for chat in range(chats):
        for n in range(turns_each):
            # A supergroup's chat id and a reply thread's root message, as the bot keys it.
            key = (-1_001_000_000_000 - chat, 2_000_000 + chat)
            store.record(key, turn_of(_tag(chat * turns_each + n), n), 1000.0 + n)
    assert len(store) == chats
    first = store.get((-1_001_000_000_000, 2_000_000), 1000.0 + turns_each)
    assert first is not None
    return _deep_size(store), first


def _news_turn(tag: str, n: int) -> Turn:
    """What Turn.build makes of a news question and its answer, made directly: 40,000 builds
    would take seconds."""
    name = tag.capitalize()
    return Turn(
        f"Why did {name} order the {tag}s evacuation before the storm?",
        topic_words=(name, "order", f"{tag}s", "evacuation", "storm"),
        article_ids=tuple(f"a{tag}{i}abcdefghi" for i in range(3)),
        names=(f"{name}s", f"{name}ia", f"{name}ton", f"{name}ville"),
        last_quote=QuotePosition(f"a{tag}0abcdefghi", 12_345 + n),
    )


def test_ten_thousand_chats_fit_in_a_few_megabytes() -> None:
    built = Turn.build(
        "Why did Daaaaa order the daaaaas evacuation before the storm?",
        article_ids=[f"adaaaaa{i}abcdefghi" for i in range(3)],
        bold_sentences=[
            "Governor Daaaaas of Daaaaaia said on Monday that Daaaaaton and Daaaaaville would "
            "reopen their schools once the water receded."
        ],
        last_quote=QuotePosition("adaaaaa0abcdefghi", 12_345),
    )
    assert _news_turn("daaaaa", 0) == built
    used, first = _fill(_news_turn)
    print(f"10,000 chats of news questions: {used / 1e6:.1f} MB")
    assert len(first.turns) == MAX_TURNS
    assert used < 6_000_000


def test_ten_thousand_chats_at_every_bound_stay_bounded() -> None:
    def largest_turn(tag: str, n: int) -> Turn:
        words = [f"{tag}{c * (MAX_WORD_CHARS - len(tag))}" for c in "abcdefghijkl"]
        return Turn(
            question=tag + "?" * MAX_QUESTION_CHARS,
            topic_words=tuple(w.capitalize() for w in words[:6]),
            article_ids=tuple(f"{tag}{i}".ljust(64, "0") for i in range(3)),
            names=tuple(w.upper() for w in words[6:]),
            last_quote=QuotePosition(f"{tag}0".ljust(64, "0"), 10**9 + n),
        )

    used, first = _fill(largest_turn)
    print(f"10,000 chats with every field at its bound: {used / 1e6:.1f} MB")
    assert len(first.turns) == 1  # the last turn alone fills MAX_CONTEXT_CHARS
    assert used < 10_000_000
