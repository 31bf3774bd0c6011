"""Whether a question leans on the one before it, read from its words alone: what a chat
message names (names and topic words), and whether a pronoun or demonstrative in it stands for
nothing in it ("what did their spokesman say?", "who said that?").

newsbot.conversation decides with these rules which messages are follow-ups and which words of
a turn to keep; they read no index and use no tagger, so every rule is a guess from the words
and their capitals, chosen on the development questions of ../shared/eval
(benchmarks/conversations.py: real quiz questions must stand alone, written follow-ups lean).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from newsbot.index.lexical import STOPWORDS, is_content_word
from newsbot.question_sentences import asking_sentence_start

# The split of newsbot.text.words, with the case kept: a capital is how a name is told from a
# common word.
WORD = re.compile(r"\w+", re.UNICODE)
# A capital after these (or at the start of the text) may only mark a sentence's start.
_SENTENCE_ENDS = ".!?:;"
_OPENING = "\"\u201c\u2018'(["  # straight and curly opening quotes, brackets
_CLOSING = "\"\u201d\u2019')]"

# Word lists are written as text, as newsbot.index.lexical writes its stopwords.
# Words that ask rather than say what about: not topic words, and not counted when judging
# whether a question stands on its own ("what happened next?" has no subject).
_ASKING_TEXT = """
    tell told know knew happen happened happens happening mean means meant think explain
    describe next else go going went get got like really exactly actually please thing things
    anything something stuff details detail
"""
_ASKING_WORDS = frozenset(_ASKING_TEXT.split())
# Capitalised words that are not names of anything a follow-up could be about (a title in
# capitals is a role, not a name: "who is the company's CEO?" still leans).
_NOT_NAMES_TEXT = """
    monday tuesday wednesday thursday friday saturday sunday january february march april
    june july august september october november december today yesterday tomorrow
    ceo cfo coo cto
"""
_NEVER_NAMES = STOPWORDS | frozenset(_NOT_NAMES_TEXT.split())
# Pronouns that stand for a noun said before. The object forms at the end of a question
# ("what did Biden say about it?") lean on something outside it even after a name.
_PRONOUNS = frozenset({"he", "she", "they", "it", "his", "her", "their", "its", "them", "him"})
_OBJECT_PRONOUNS = frozenset({"it", "them", "him", "her"})
_SUBJECT_PRONOUNS = frozenset({"he", "she", "they", "it"})
# These stand for a person: a common noun before them ("the court") is not what they mean.
_PERSONAL_PRONOUNS = frozenset({"he", "she", "his", "her", "him"})
# Before a subject pronoun, these make a question of it ("which app did they use?"): its noun
# is then outside the question, whatever comes before.
_AUXILIARIES_TEXT = "do does did is was are were will would can could should has have had may"
_AUXILIARIES = frozenset(_AUXILIARIES_TEXT.split())
_DEMONSTRATIVES = frozenset({"this", "that", "these", "those"})
# "That" before these points back in time ("that year"); "this year" is now.
_TIME_NOUNS_TEXT = "year day week month time night morning moment season"
_TIME_NOUNS = frozenset(_TIME_NOUNS_TEXT.split())
# After a demonstrative, these say it stands alone, without its noun ("why did that happen?").
_VERB_AFTER_TEXT = """
    is was are were will would could can should might may did does do has have had s
    mean means happen happened
"""
_VERB_AFTER = frozenset(_VERB_AFTER_TEXT.split())
# After "that", these start a clause: "said that the economy ..." is not a demonstrative.
_CLAUSE_START_TEXT = "it its he she they we i you the a an his her their there this these those"
_CLAUSE_START = frozenset(_CLAUSE_START_TEXT.split())
# "It" with no referent: "is it true that ...", "is it safe to ...", "how long will it take".
_EXPLETIVE_TEXT = (
    "true possible likely safe legal illegal necessary worth hard easy time take cost costs"
)
_EXPLETIVE_AFTER_IT = frozenset(_EXPLETIVE_TEXT.split())
_LINKING = frozenset({"is", "was", "be", "s"})
# Content words after "did they" and its verb that make a question name its own subject, so
# that "they" means the people anyone means (researchers, officials): "where did they find the
# first case of sea star wasting disease?" stands, "why did they cancel the vote?" leans. Read
# on the development questions of ../shared/eval (benchmarks/conversations.py).
GENERIC_THEY_WORDS = 3
# A question with no name, this few topic words and a definite "the ..." or "which ..." points
# at something the chat just spoke of: "Who scored the winning penalty?", "Where was the first
# case reported?" (chosen on the development conversations, as GENERIC_THEY_WORDS).
NAMELESS_MAX_WORDS = 3


def _is_name(word: str) -> bool:
    return len(word) > 1 and word[0].isupper() and word.lower() not in _NEVER_NAMES


def _starts_sentence(text: str, start: int) -> bool:
    """Whether the word at ``start`` opens a sentence or a quotation."""
    i = start - 1
    while i >= 0 and text[i].isspace():
        i -= 1
    if i < 0 or text[i] in _OPENING:
        return True
    while i >= 0 and text[i] in _CLOSING:
        i -= 1
    return i < 0 or text[i] in _SENTENCE_ENDS


def names_in(sentences: Iterable[str]) -> list[str]:
    """The distinct names in ``sentences``, in order: capitalised words that are not
    stopwords, weekdays or months.

    A capital at the start of a sentence may only mark the start, so such a word counts when
    it is written in capitals (an acronym: "NATO") or is capitalised inside a sentence too.
    """
    inside: set[str] = set()
    found: list[str] = []
    for sentence in sentences:
        for match in WORD.finditer(sentence):
            word = match.group()
            if _is_name(word):
                found.append(word)
                if word.isupper() or not _starts_sentence(sentence, match.start()):
                    inside.add(word)
    return list(dict.fromkeys(w for w in found if w in inside))


def topic_words(question: str) -> list[str]:
    """The words of ``question`` that say what it is about, in order, once each: its content
    words but the asking ones ("tell", "happened", "else"), names as written, the others
    lower-case.

    The first word of a question counts as a name only when it could not be a mere capital:
    an acronym, or a word capitalised again later.
    """
    names = {name.lower(): name for name in names_in([question])}
    seen: dict[str, str] = {}
    for word in WORD.findall(question):
        lower = word.lower()
        if is_content_word(lower) and lower not in _ASKING_WORDS and lower not in seen:
            seen[lower] = names.get(lower, lower)
    return list(seen.values())


def _stands_for_something(
    words: Sequence[str], names: set[str], position: int, *, personal: bool
) -> bool:
    """Whether something before ``position`` can be what the pronoun there stands for: a
    name, a "which/whose + noun" phrase ("which country said it ..."), or, for a pronoun that
    is not a person's, two content words ("a piece of its visual cortex"). ("What + noun" is
    left out: "what country" and "what made" cannot be told apart without a tagger.)"""
    content = 0
    for i, word in enumerate(words[:position]):
        if word in names:
            return True
        if word in ("which", "whose") and i + 1 < position and is_content_word(words[i + 1]):
            return True
        content += is_content_word(word)
    return not personal and content >= 2


def _expletive_it(words: Sequence[str], position: int) -> bool:
    """Whether the "it" at ``position`` refers to nothing: "is it true that", "it's safe to",
    "how long will it take", "how many years has it been since ..."."""
    following = [w for w in words[position + 1 : position + 3] if w not in _LINKING]
    if following[:1] == ["been"] and "since" in words[position + 2 :]:
        return True
    return bool(following) and following[0] in _EXPLETIVE_AFTER_IT


def _unresolved_pronoun(words: Sequence[str], names: set[str]) -> bool:
    """Whether a pronoun, demonstrative or "there" in ``words`` stands for nothing in them."""
    for i, word in enumerate(words):
        rest = words[i + 1 :]
        if word in _PRONOUNS:
            if word == "it" and _expletive_it(words, i):
                continue
            if word in _OBJECT_PRONOUNS and not any(map(is_content_word, rest)):
                return True  # "what did Biden say about it?"
            if word in _SUBJECT_PRONOUNS and i > 0 and words[i - 1] in _AUXILIARIES:
                if not _asked_subject(words, names, i):
                    return True  # "which app did they use?"
                continue
            personal = word in _PERSONAL_PRONOUNS
            if not _stands_for_something(words, names, i, personal=personal):
                return True
        elif word in _DEMONSTRATIVES:
            after = rest[0] if rest else None
            if _relative_that(words, i):
                continue
            if after is None or after in _VERB_AFTER or word == "those":
                return True  # "who said that?", "why did that happen?", "those tariffs"
            if word == "that" and after in _TIME_NOUNS:
                return True
            if after in STOPWORDS and not (word == "that" and after in _CLAUSE_START):
                return True
        elif word == "there" and i > 0 and not any(map(is_content_word, rest)):
            # "What happened there?"; not "Is there a curfew in Los Angeles?"
            return True
    return False


def _asked_subject(words: Sequence[str], names: set[str], position: int) -> bool:
    """Whether the subject pronoun at ``position``, after an auxiliary ("did they", "does
    he"), has what it means in the question: a name before it ("does Trump think he ..."), or,
    for "they", the people anyone means ("why did they rename PCOS?", "where did they find
    the first case of sea star wasting disease?") when the question names its own subject
    after it, by a name or in GENERIC_THEY_WORDS content words after the verb. A "which +
    noun" before it is not enough: "which app did they use?" leans."""
    if any(word in names for word in words[:position]):
        return True
    if words[position] != "they":
        return False
    after = words[position + 1 :]
    if any(w in names for w in after):
        return True
    objects = after[1:]  # after the verb: "find | the first case of ..."
    return sum(map(is_content_word, objects)) >= GENERIC_THEY_WORDS


def _relative_that(words: Sequence[str], position: int) -> bool:
    """Whether the "that" at ``position`` joins a clause to the noun before it ("the boat
    that was halted", "a deal that would recognise") rather than points at something ("who
    said that?", "why did that happen?", "that year")."""
    if words[position] != "that" or position == 0 or position + 1 == len(words):
        return False
    return is_content_word(words[position - 1]) and words[position + 1] not in _TIME_NOUNS


def _asks_what_something_is(words: Sequence[str]) -> bool:
    """Whether the question asks what or who something is: "What is olo?", "Who is Mark
    Carney?", "What does Dimorphos mean?" (not "What is the mascot called?", nor "Who is
    running it?")."""
    if len(words) < 3 or words[0] not in ("what", "who"):
        return False
    if words[2] in STOPWORDS or words[2].endswith("ing"):
        return False
    return words[1] in ("is", "are", "was", "were") or (words[1] == "does" and words[-1] == "mean")


def leans_on_previous(question: str) -> bool:
    """Whether ``question`` needs the one before it to be understood.

    It does when its asking sentence starts with "and", "what about" or "how about"; holds
    "else" ("what else", "who else") or "ones" ("the sunflower ones"); has too few topic words
    to stand alone (fewer than three, or two with a name: "Who is the president of France?"
    stands, "Why?" and "What were the casualties?" do not), unless it asks what something is
    ("What is olo?"); names nothing and points with "the" or "which" at something in at most
    NAMELESS_MAX_WORDS topic words ("Who scored the winning penalty?", "Who is the company's
    CEO?"); or holds a pronoun or demonstrative without its noun: "their spokesman" with
    nothing before it that it could mean, "about it" at the end, "did they", "that" alone
    ("who said that?"), "that year", "those tariffs". "This week" and "that law" keep their
    noun and stand alone.

    A message that tells its story before it asks ("Venus Williams won in Washington. How
    old is she?") has what its pronouns mean in it when a sentence before the asking one has
    a name or two content words.
    """
    cased = WORD.findall(question)
    words = [w.lower() for w in cased]
    if not words:
        return False
    asking_at = asking_sentence_start(question)
    asking = [w.lower() for w in WORD.findall(question[asking_at:])] or words
    if asking[0] == "and" or asking[:2] in (["what", "about"], ["how", "about"]):
        return True
    if "else" in asking or "ones" in asking:
        return True
    topic = topic_words(question)
    names = {w.lower() for w in topic if w[:1].isupper()}
    too_few = len(topic) < 2 or (len(topic) == 2 and not names)
    if too_few and not (topic and _asks_what_something_is(words)):
        return True
    if not names and len(topic) <= NAMELESS_MAX_WORDS and _definite(asking):
        return True  # "who scored the winning penalty?", "which governor wants an inquiry?"
    if _tells_a_story(question[:asking_at]):
        return False
    return _unresolved_pronoun(asking, names | _opening_name(cased))


def _definite(words: Sequence[str]) -> bool:
    """Whether the question points at one thing it does not name: with "the" ("the winning
    penalty", "the first case"), or "which" first ("which film director ...")."""
    return "the" in words or words[0] == "which"


def _tells_a_story(before: str) -> bool:
    """Whether the sentences before the asking one say who or what it is about: a name, or two
    content words ("Thanks!" does not)."""
    if names_in([before]):
        return True
    return sum(map(is_content_word, (w.lower() for w in WORD.findall(before)))) >= 2


def _opening_name(cased: Sequence[str]) -> set[str]:
    """The first word, lower-cased, when it may be a name a pronoun stands for: capitalised,
    as every first word is, but no stopword or asking word ("Beyoncé closed out her tour";
    not "Tell me what he said"). A topic word it is not: that takes a second capital."""
    first = cased[0] if cased else ""
    lower = first.lower()
    if _is_name(first) and is_content_word(lower) and lower not in _ASKING_WORDS:
        return {lower}
    return set()
