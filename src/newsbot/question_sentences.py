"""The sentences of a reader's question: which one asks, and what the ones before it tell.

"The spokesman spoke on Monday. In which city?" asks in its last sentence; the first tells
the story. Its time phrases are not the period to search (newsbot.time_query), and its names
are what the asking sentence's pronouns mean (newsbot.conversation).

Apart from newsbot.text, whose code keys the benchmarks' cached indexes (it splits articles),
so that a change to how questions are read rebuilds nothing.
"""

from __future__ import annotations

import re

# Between two sentences of a question: end punctuation, then space.
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+(?=\S)")


def asking_sentence_start(question: str) -> int:
    """Where the sentence of ``question`` that asks begins: the last one with a question mark
    ("Who won? In 2020." asks from "Who"), else the last one."""
    starts = [0, *(m.end() for m in _SENTENCE_BREAK.finditer(question))]
    ends = [*starts[1:], len(question)]
    asking = [s for s, e in zip(starts, ends, strict=True) if "?" in question[s:e]]
    return asking[-1] if asking else starts[-1]
