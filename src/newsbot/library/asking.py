"""A question with its time phrase read: the period searched (widened once when nothing in it
answers), newer articles first for "latest", and what the reader is told about it."""

from __future__ import annotations

import dataclasses
import heapq
from datetime import datetime

from newsbot.config import SearchSettings
from newsbot.index.records import day_number
from newsbot.index.store import ChromaStore
from newsbot.library.retrieval import MAX_QUESTION_CHARS, Retriever
from newsbot.library.writer import RECENT_SHOWN, IndexWriter
from newsbot.models import Answer, ArticleRecord, FollowUp
from newsbot.periods import period_of, widened
from newsbot.question import clean_question, has_words
from newsbot.text import valid_unicode
from newsbot.time_query import read_time


def ask(
    question: str,
    retriever: Retriever,
    index: IndexWriter,
    search: SearchSettings,
    limit: int,
    now: datetime,
    follow_up: FollowUp | None = None,
) -> Answer:
    """Answer ``question`` from the live store of ``index``; see :meth:`Library.ask`.

    A follow-up (``follow_up`` with words) is searched with its conversation's words as well,
    whatever its time phrase says, and its Answer's ``context`` names them.
    """
    answer = _ask(question, retriever, index, search, limit, now, follow_up)
    if follow_up is not None and follow_up.words:
        return dataclasses.replace(answer, context=list(follow_up.words))
    return answer


def _ask(
    question: str,
    retriever: Retriever,
    index: IndexWriter,
    search: SearchSettings,
    limit: int,
    now: datetime,
    follow_up: FollowUp | None,
) -> Answer:
    question = valid_unicode(clean_question(question, MAX_QUESTION_CHARS))
    when = read_time(question, now)
    if when.problem:
        return Answer(question, problem=when.problem)
    period = period_of(when)
    if period is None and not when.latest:
        return retriever.ask(question, index.store, search, limit, follow_up=follow_up)
    store: ChromaStore = index.store
    if not has_words(when.text):
        return Answer(question, period=period, latest=when.latest, no_subject=True)
    newer_first = index.publication_days() if when.latest else None
    if period is None:
        answer = retriever.ask(
            when.text, store, search, limit, newer_first=newer_first, follow_up=follow_up
        )
        return dataclasses.replace(answer, question=question, latest=True)
    inside, undated = index.published_in(period.day_numbers())
    found = Answer(question, period=period, latest=when.latest, undated=undated)
    # Too narrow a period (a story a day later than asked) gets one wider try, said so.
    for searched in (period, widened(period)) if inside else ():
        answer = retriever.ask(
            when.text,
            store,
            search,
            limit,
            days=searched.day_numbers(),
            newer_first=newer_first,
            follow_up=follow_up,
        )
        if answer.passages:
            return dataclasses.replace(
                found,
                period=searched,
                asked_period=None if searched == period else period,
                passages=answer.passages,
            )
    # Nothing published then answers: said so, with nothing from other dates (the reader
    # chose the period; the reply says how to search every article instead).
    return dataclasses.replace(found, empty_period=not inside)


def latest(
    topic: str | None,
    retriever: Retriever,
    index: IndexWriter,
    search: SearchSettings,
    limit: int,
) -> list[ArticleRecord]:
    """The ``limit`` newest articles by publication day, or the newest of those that answer
    ``topic``; undated articles come after the dated ones, newest added first."""
    if topic and has_words(clean_question(topic, MAX_QUESTION_CHARS)):
        ids = retriever.articles_about(topic, index.store, search, limit * 3)
        records = index.store.get_records(ids)
        found = [records[i] for i in ids if i in records]
    else:
        days = list(index.publication_days().items())  # one step: writes may change it
        dated = heapq.nlargest(limit, ((d, i) for i, d in days if d is not None))
        records = index.store.get_records([i for _, i in dated])
        found = [records[i] for _, i in dated if i in records]
        if len(found) < limit:
            found += [r for r in index.recent_articles(RECENT_SHOWN) if r.published is None]
    order = sorted(found, key=lambda r: (day_number(r.published) or 0, r.added_at), reverse=True)
    return order[:limit]
