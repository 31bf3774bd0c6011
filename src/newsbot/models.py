"""The types that cross layers: ingestion, index, search, answer and the edges (CLI, bot)."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any


@dataclass(frozen=True, slots=True)
class Article:
    """An article as extracted from a source, before it is indexed.

    ``text`` is the clean article text; every quote ever shown to a user is a substring of it.
    """

    text: str
    title: str
    url: str | None = None
    outlet: str | None = None
    published: str | None = None  # ISO 8601 date (or date-time) when known
    author: str | None = None
    id: str | None = None  # caller-supplied stable id (JSON Lines ``id``); derived when missing
    # Provenance in a library this article was exported from (``newsbot export``); kept on import.
    added_at: str | None = None
    added_by: str | None = None
    # False when the text is not the page at ``url`` but only links to it (a feed entry's own
    # summary): the article is then not found again by that address, so two entries that link
    # to one page keep their own texts instead of the second replacing the first.
    addressed: bool = True


@dataclass(frozen=True, slots=True)
class ArticleRecord:
    """The registry entry of an indexed article."""

    article_id: str
    title: str
    url: str | None
    outlet: str | None
    published: str | None
    author: str | None
    added_at: str
    added_by: str | None
    chunks: int
    content_hash: str

    def to_json(self) -> dict[str, Any]:
        """The public JSON shape used by ``newsbot list --json``."""
        return {
            "article_id": self.article_id,
            "title": self.title,
            "url": self.url,
            "source": self.outlet,
            "published": self.published,
            "added_at": self.added_at,
            "chunks": self.chunks,
        }


@dataclass(frozen=True, slots=True)
class Chunk:
    """A sentence-aligned slice of an article: ``article_text[start:end] == text``."""

    article_id: str
    index: int
    start: int
    end: int
    text: str

    @property
    def chunk_id(self) -> str:
        return chunk_id(self.article_id, self.index)


def chunk_id(article_id: str, index: int) -> str:
    """The stored id of an article's ``index``-th chunk."""
    return f"{article_id}:{index:05d}"


class IngestStatus(enum.StrEnum):
    ADDED = "added"
    UPDATED = "updated"
    DUPLICATE = "duplicate"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What happened to one ingested source (one line for a JSON Lines file)."""

    source: str
    status: IngestStatus
    article_id: str | None = None
    title: str | None = None
    chunks: int = 0
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        return data


# What stands between two excerpts of one quote that are not adjacent in the article.
QUOTE_GAP = " … "


@dataclass(frozen=True, slots=True)
class Quote:
    """The sentences of a passage that best answer a question.

    ``text`` is one or more verbatim excerpts of the article joined by QUOTE_GAP; ``parts``
    holds their article offsets (empty: one excerpt, ``start``-``end``). ``start``/``end`` are
    the article offsets of the first excerpt's start and the last one's end.
    ``highlight_start``/``highlight_end`` are offsets *within* ``text`` of the sentence that
    answers best.
    """

    text: str
    start: int
    end: int
    highlight_start: int
    highlight_end: int
    score: float = 0.0  # how well the highlighted sentence matches the question
    parts: tuple[tuple[int, int], ...] = ()

    @property
    def excerpts(self) -> tuple[tuple[int, int], ...]:
        """The article offsets of each verbatim excerpt, in article order."""
        return self.parts or ((self.start, self.end),)

    def article_offset(self, index: int) -> int:
        """The article offset of ``text[index]``, an index inside one of the excerpts."""
        at = 0
        for start, end in self.excerpts:
            if index <= at + end - start:
                return start + index - at
            at += end - start + len(QUOTE_GAP)
        raise ValueError(f"{index} is not inside an excerpt of the quote")

    @property
    def before(self) -> str:
        return self.text[: self.highlight_start]

    @property
    def highlight(self) -> str:
        return self.text[self.highlight_start : self.highlight_end]

    @property
    def after(self) -> str:
        return self.text[self.highlight_end :]


@dataclass(frozen=True, slots=True)
class Passage:
    """A retrieved chunk with its article and the scores that ranked it."""

    chunk: Chunk
    article: ArticleRecord
    score: float  # fused score used for ranking
    dense_score: float | None = None  # cosine similarity, when the dense side found it
    lexical_score: float | None = None  # BM25, when the lexical side found it


@dataclass(frozen=True, slots=True)
class AnsweredPassage:
    rank: int
    passage: Passage
    quote: Quote
    # The article's address with a text fragment that opens it at the bold sentence (those of
    # every passage of the article shown); the plain address when none can be built.
    link: str | None = None

    def to_json(self) -> dict[str, Any]:
        article, chunk = self.passage.article, self.passage.chunk
        return {
            "rank": self.rank,
            "article_id": article.article_id,
            "title": article.title,
            "url": article.url,
            "link": self.link,
            "source": article.outlet,
            "published": article.published,
            "quote": self.quote.text,
            # The sentence that answers (bold in Telegram and on a terminal), verbatim.
            "highlight": self.quote.highlight,
            # The verbatim pieces the quote joins, for a consumer that checks or links them.
            "excerpts": [
                chunk.text[a - chunk.start : b - chunk.start] for a, b in self.quote.excerpts
            ],
            "text": chunk.text,
            "score": round(self.passage.score, 6),
        }


@dataclass(frozen=True, slots=True)
class Period:
    """Days of publication, both inclusive; None: open at that end ("before 2020")."""

    start: date | None
    end: date | None

    def day_numbers(self) -> tuple[int, int]:
        """The period as the YYYYMMDD numbers the index filters on."""
        start, end = self.start or date.min, self.end or date.max
        return (
            start.year * 10000 + start.month * 100 + start.day,
            end.year * 10000 + end.month * 100 + end.day,
        )

    def to_json(self) -> dict[str, str | None]:
        return {
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
        }


@dataclass(frozen=True, slots=True)
class Answer:
    """The reply to a question: quoted passages with their sources, or nothing found.

    A question about time (``newsbot.time_query``) also says what was searched: ``period``,
    the articles' publication days searched (wider than ``asked_period`` when nothing in the
    period the reader named answered); ``latest``, newer articles ranked higher; ``undated``,
    the articles without a date that a period search left out; ``empty_period``, no article at
    all was published in the period; ``problem``, why the time phrase could not be used;
    ``no_subject``, the question was only a time phrase.

    A follow-up question (``Library.converse``) also says what it understood: ``context``,
    the conversation's words it was searched with as well (None: it was asked on its own);
    ``continued``, the passage is the text after the last quote shown, not a search ("more");
    ``end_of_article``, there is no text after it.
    """

    question: str
    passages: list[AnsweredPassage] = field(default_factory=list)
    period: Period | None = None
    asked_period: Period | None = None
    latest: bool = False
    undated: int = 0
    empty_period: bool = False
    problem: str | None = None
    no_subject: bool = False
    context: list[str] | None = None
    continued: bool = False
    end_of_article: bool = False

    @property
    def answered(self) -> bool:
        return bool(self.passages)

    def to_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "period": self.period.to_json() if self.period else None,
            "asked_period": self.asked_period.to_json() if self.asked_period else None,
            "latest": self.latest,
            "undated_not_searched": self.undated,
            "problem": self.problem,
            "context": self.context,
            "continued": self.continued,
            "end_of_article": self.end_of_article,
            "answered": self.answered,
            "passages": [p.to_json() for p in self.passages],
        }


@dataclass(frozen=True, slots=True)
class FollowUp:
    """What a follow-up question is searched with besides its own words.

    Attributes:
        words: The conversation's words to add (``newsbot.conversation.expansion_words``).
        cited: The articles the previous answer cited: their passages weigh more.
    """

    words: tuple[str, ...]
    cited: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ReindexReport:
    """What ``newsbot reindex`` did."""

    articles: int  # articles in the rebuilt index
    embedded: int  # articles embedded by this run (fewer when it resumed an interrupted one)
    chunks: int
    model: str
    previous_model: str
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class LibraryStats:
    articles: int
    chunks: int
    model: str
    store: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
