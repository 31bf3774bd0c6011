"""Follow-up questions: what a chat asked and was shown a moment ago, and whether a new message
leans on it.

After "Who took control of the Panjshir valley?", a reader's "what did their spokesman say?",
"and the resistance?" or "more" means nothing on its own. newsbot rewrites no question with a
model; it keeps, per chat, the last few turns (the question's topic words, the articles cited,
the names in the bold sentences shown, where the last quote ended) and adds their words to a
question that leans on them: conversational query expansion, as the TREC CAsT 2019 baseline
"historical query expansion" (HQE) did.

What is taken from HQE (Yang et al., "Query and Answer Expansion from Conversation History",
TREC 2019; Lin et al. 2020, "Query Reformulation using Query History for Passage Retrieval in
Conversational Search"; read in castorini/chatty-goose, ``chatty_goose/cqr/hqe.py`` and
``settings.py``):

- What is read of the history is keywords per turn, not whole questions, and the current
  question is searched with those keywords added, never rewritten.
- Two kinds of keyword: *topic* words (a word whose one-word BM25 top score is at least
  ``R_topic`` = 4.5), added from every earlier turn, and *subtopic* words (score between
  ``R_sub`` = 3.5 and ``R_topic``), added only from the last ``M`` = 5 turns and only when the
  question is ambiguous (its own top BM25 score is at most ``eta`` = 10). Only nouns and
  adjectives are kept (its POS filter).
- Keywords of the previous responses are added as well (chatty-goose's HQE does so when CAsT
  gives the canonical response passages): here, the names in the bold sentences just shown,
  which often name what the next question's pronoun means ("their" = the Taliban).

What is not, and why: newsbot's core has no index to score words against, and no tagger. A
name (a capitalised word that does not merely start a sentence) stands for a topic word: in
news, names are the rare, topical words. The other content words of the last question stand
for subtopic words (``M`` = 1: news chats drift faster than CAsT's topics, and memory is per
chat). The ambiguity test is :func:`follows_on`, read from the words of the question rather
than from a retrieval score, since expansion happens before retrieval.

Everything here is pure: no clock is read (``now`` is passed in), nothing is searched, nothing
imports Telegram. Memory is bounded per turn, per conversation and in number of
conversations (``tests/core/test_conversation.py`` measures 10,000 full chats).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from newsbot.leaning import WORD, leans_on_previous, names_in, topic_words
from newsbot.models import Answer

DEFAULT_EXPIRY_S = 600.0
DEFAULT_MAX_CONVERSATIONS = 10_000
# Turns kept per conversation: HQE's history is the whole topic, but a news chat's third
# question back is rarely what a pronoun means, and each turn costs memory in every chat.
MAX_TURNS = 3
# Per-turn bounds, so that a user sending long messages cannot grow a chat's context.
MAX_QUESTION_CHARS = 120
MAX_TOPIC_WORDS = 6
MAX_NAMES = 6
MAX_ARTICLES = 3
MAX_EXPANSION = 6
# The names of the last answer's bold sentences that come first in the expansion (see
# expansion_words): chosen on the development conversations (benchmarks/README.md).
ANSWER_NAMES = 4
# English words and names longer than this are typing accidents, not topics.
MAX_WORD_CHARS = 24
# Library ids are 16 characters; a caller-supplied one longer than this is not remembered.
MAX_ID_CHARS = 64
# What one chat's remembered turns may take, packed (see Conversations). Measured for 10,000
# chats (tests/core/test_conversation.py): 5.5 MB of news questions, 9.2 MB with every field
# of every turn at its bound, keys included.
MAX_CONTEXT_CHARS = 768

# "More" and its kin, read as the whole message (punctuation and case aside): "more people
# died?" is a question, not a request for the next sentences.
_MORE = re.compile(
    r"(?:(?:ok|okay|please|so|and|yes)\s+)*"
    r"(?:more|next|go\s+on|continue|keep\s+going|read\s+on|carry\s+on|and\s+then|then\s+what"
    r"|what\s+next|tell\s+me\s+more(?:\s+about\s+(?:it|that|this))?"
    r"|more\s+(?:about|on)\s+(?:it|that|this)"
    r"|what\s+happen(?:ed|s)\s+next|what\s+happened\s+then|what\s+happened\s+after\s+that)"
    r"(?:\s+please)?"
)


@dataclass(frozen=True, slots=True)
class QuotePosition:
    """Where the last quote shown ended: "more" continues from there in the same article."""

    article_id: str
    end: int  # offset in the article text just after the quote


@dataclass(frozen=True, slots=True)
class Turn:
    """One question of a chat and what its answer showed.

    Attributes:
        question: The question as asked (cut at MAX_QUESTION_CHARS).
        topic_words: Its topic words (:func:`topic_words`): names as written, others lower-case.
        article_ids: The articles its answer cited, best first.
        names: The names in the bold sentences its answer showed (:func:`names_in`).
        last_quote: Where the quote to continue from ended; None when nothing was shown.
    """

    question: str
    topic_words: tuple[str, ...] = ()
    article_ids: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    last_quote: QuotePosition | None = None

    @classmethod
    def build(
        cls,
        question: str,
        *,
        article_ids: Iterable[str] = (),
        bold_sentences: Iterable[str] = (),
        last_quote: QuotePosition | None = None,
    ) -> Turn:
        """The turn of an answered question, within the per-turn bounds.

        Args:
            question: The question as the reader asked it.
            article_ids: The ids of the articles the answer cited, best first.
            bold_sentences: The sentences shown in bold (each excerpt's highlight).
            last_quote: Where the quote that "more" continues ended.
        """
        return cls(
            question=question,
            topic_words=tuple(topic_words(question)),
            article_ids=tuple(article_ids),
            names=tuple(names_in(bold_sentences)),
            last_quote=last_quote,
        ).bounded()

    def bounded(self) -> Turn:
        """This turn within the per-turn bounds: the question cut, at most MAX_TOPIC_WORDS,
        MAX_NAMES and MAX_ARTICLES items, and no word that is not one (a space, a separator)
        or is longer than MAX_WORD_CHARS, no id longer than MAX_ID_CHARS."""
        quote = self.last_quote
        if quote is not None and not _storable_id(quote.article_id):
            quote = None
        return Turn(
            question=SEPARATORS.sub(" ", self.question[:MAX_QUESTION_CHARS]),
            topic_words=_words(self.topic_words, MAX_TOPIC_WORDS),
            article_ids=tuple(filter(_storable_id, self.article_ids))[:MAX_ARTICLES],
            names=_words(self.names, MAX_NAMES),
            last_quote=quote,
        )


def _words(items: Iterable[str], limit: int) -> tuple[str, ...]:
    fitting = (w for w in items if len(w) <= MAX_WORD_CHARS and WORD.fullmatch(w))
    return tuple(dict.fromkeys(fitting))[:limit]


def _storable_id(article_id: str) -> bool:
    return 0 < len(article_id) <= MAX_ID_CHARS and not SEPARATORS.search(article_id)


@dataclass(frozen=True, slots=True)
class Conversation:
    """The last few turns of one chat, oldest first, and when the last one was asked.

    Only the last turn is whole. Of the earlier ones only their names are kept, the names in
    their question (in ``topic_words``) and in their bold sentences, as only those are read
    (:func:`expansion_words`); their question is "", and they have no articles or quote.
    """

    turns: tuple[Turn, ...]
    last_time: float

    @property
    def last_turn(self) -> Turn | None:
        return self.turns[-1] if self.turns else None

    def expired(self, now: float, expiry: float) -> bool:
        """Whether more than ``expiry`` seconds passed since the last turn (a clock that went
        back counts as no time passed)."""
        return now - self.last_time > expiry


# The characters that separate the fields of a packed conversation (newsbot.chat_memory):
# Turn.bounded keeps them out of every field.
TIME_SEP, TURN_SEP, FIELD_SEP, ITEM_SEP = "\x1c", "\x1e", "\x1f", "\x1d"
SEPARATORS = re.compile("[\x1c-\x1f]")


def follows_on(
    question: str,
    conversation: Conversation | None,
    now: float,
    *,
    is_reply: bool,
    expiry: float = DEFAULT_EXPIRY_S,
) -> bool:
    """Whether ``question`` continues ``conversation`` and is to be searched with its words.

    A question with no remembered (or an expired) conversation never does: it is answered on
    its own, as is any follow-up to a message the bot no longer remembers. A reply to one of
    the bot's answers always does (any chat type). Otherwise it does when it leans on the
    previous question (:func:`leans_on_previous`).

    Args:
        question: The message as the reader sent it.
        conversation: The chat's conversation (``Conversations.get``), or None.
        now: The current time, in the clock the conversation's times are in.
        is_reply: The message replies to one of the bot's answers.
        expiry: Seconds after its last turn when a conversation no longer counts.
    """
    if conversation is None or not conversation.turns or conversation.expired(now, expiry):
        return False
    return is_reply or leans_on_previous(question)


def expansion_words(question: str, conversation: Conversation) -> list[str]:
    """The conversation's words to add to ``question``, at most MAX_EXPANSION, none already in
    the question (whatever its case), in this order:

    1. the first ANSWER_NAMES names in the bold sentences just shown, the best first: what the
       last answer named is what a pronoun most often means ("their" = the Taliban);
    2. the names asked in every turn kept, newest first (HQE's topic words);
    3. the last question's other topic words (HQE's subtopic words, with ``M`` = 1);
    4. the other names shown, newest turn first.

    Names asked come before most names shown: the passages behind the second and third bold
    sentences may be about something else, and their names crowded out the conversation's
    subject ("Colossal") when each turn's names came whole, newest turn first.
    """
    if not conversation.turns:
        return []
    present = {w.lower() for w in WORD.findall(question)}
    newest = list(reversed(conversation.turns))
    last = newest[0]
    asked = [w for turn in newest for w in turn.topic_words if w[:1].isupper()]
    other = [w for w in last.topic_words if not w[:1].isupper()]
    shown = [*last.names[ANSWER_NAMES:], *(n for turn in newest[1:] for n in turn.names)]
    chosen: dict[str, str] = {}
    for word in (*last.names[:ANSWER_NAMES], *asked, *other, *shown):
        lower = word.lower()
        if lower not in present and lower not in chosen:
            chosen[lower] = word
            if len(chosen) == MAX_EXPANSION:
                break
    return list(chosen.values())


def asks_for_more(question: str) -> bool:
    """Whether the whole message asks to go on reading ("more", "next", "go on", "continue",
    "tell me more", "what happened next"), whatever its case and punctuation."""
    plain = " ".join(WORD.findall(question.lower()))
    return _MORE.fullmatch(plain) is not None


def turn_of(answer: Answer, conversation: Conversation | None) -> Turn | None:
    """The turn to remember after ``answer``: its question, the articles it cited, its bold
    sentences and where its first quote ended (what "more" continues: the excerpt read
    first); None when it showed nothing, as nothing shown can be followed up.

    A continuation ("more") keeps the question it continues, so that a follow-up after it
    is still read with that question's words.
    """
    if not answer.passages:
        return None
    first = answer.passages[0]
    question = answer.question
    last = conversation.last_turn if conversation is not None else None
    if answer.continued and last is not None:
        question = last.question
    return Turn.build(
        question,
        article_ids=dict.fromkeys(p.passage.article.article_id for p in answer.passages),
        bold_sentences=[p.quote.highlight for p in answer.passages],
        last_quote=QuotePosition(first.passage.article.article_id, first.quote.end),
    )
