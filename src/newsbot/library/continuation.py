""" "More": the sentences that follow the last quote shown, in the same article, with their
source. No search: the reader asked to read on, not a new question."""

from __future__ import annotations

from itertools import dropwhile

from newsbot.answer import MAX_CONTEXT_SENTENCES
from newsbot.furniture import is_furniture
from newsbot.index.store import ChromaStore
from newsbot.library.retrieval import source_links
from newsbot.models import Answer, AnsweredPassage, Chunk, Passage, Quote
from newsbot.text import sentence_spans

# As many sentences as an excerpt shows: the answering one and the two beside it.
CONTINUED_SENTENCES = 1 + MAX_CONTEXT_SENTENCES
# The 📄 button shows the passage an excerpt comes from; a continuation's is the article from
# the excerpt on, whole sentences up to this many characters (about a stored passage).
PASSAGE_CHARS = 1200
# A continuation is no retrieval: it has no fused score.
NO_SCORE = 0.0


def continue_after(
    store: ChromaStore, article_id: str, end: int, max_chars: int, question: str
) -> Answer:
    """The sentences of ``article_id`` after offset ``end``, verbatim, as one passage.

    The first sentence is in bold, then the next ones while the excerpt stays within
    ``max_chars`` (a longer first sentence is shown alone, whole); page furniture right after
    the quote (a caption, "Read more") is skipped. The split is the one ingest chunks with
    (:func:`newsbot.text.sentence_spans` over the article text).

    Returns:
        An Answer with ``continued`` set: one passage, or none with ``end_of_article`` when
        nothing follows; none at all when the article is no longer in the library.
    """
    record = store.get_records([article_id]).get(article_id)
    text = store.article_text(article_id) if record is not None else None
    if record is None or text is None:
        return Answer(question, continued=True)
    following = list(
        dropwhile(
            lambda span: is_furniture(text[span[0] : span[1]]),
            (span for span in sentence_spans(text) if span[0] >= end),
        )
    )
    if not following:
        return Answer(question, continued=True, end_of_article=True)
    start = following[0][0]
    stop = following[0][1]
    for _, sentence_end in following[1:CONTINUED_SENTENCES]:
        if sentence_end - start > max_chars:
            break
        stop = sentence_end
    passage_end = max(
        [stop] + [b for _, b in following if b - start <= PASSAGE_CHARS],
    )
    quote = Quote(
        text=text[start:stop],
        start=start,
        end=stop,
        highlight_start=0,
        highlight_end=following[0][1] - start,
    )
    # Not a stored passage: index -1 says so (its id is never looked up).
    chunk = Chunk(article_id, -1, start, passage_end, text[start:passage_end])
    links = source_links([(record, quote)], {article_id: text})
    passage = Passage(chunk=chunk, article=record, score=NO_SCORE)
    return Answer(
        question,
        [AnsweredPassage(1, passage, quote, links.get(article_id))],
        continued=True,
    )
