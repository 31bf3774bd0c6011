"""A library of many articles on one subject: the sample among real news on Afghanistan and
the Taliban (../shared/eval) and Reuters texts. Questions about the sample must still be
answered from it, with the answer in the bold sentence, and every excerpt stays verbatim.

A small version of ``benchmarks/quality.py --split topical`` (whose numbers are in
benchmarks/README.md); the real model and a real embedded Chroma.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from newsbot.config import Settings
from newsbot.index.embedder import Embedder
from newsbot.ingest.clean import clean_text
from newsbot.library import Library
from newsbot.models import Article
from tests.conftest import FIXTURES, SHARED
from tests.store_checks import short_reuters

pytestmark = pytest.mark.slow

RTQA = SHARED / "eval" / "realtimeqa" / "articles.jsonl"
TOPICAL = re.compile(r"\b(?:Afghanistan|Afghan|Taliban)\b")
SAMPLE_ID = "voa-panjshir"
# Questions about the sample, some with a preamble that other articles echo, and the answer
# the bold sentence of one of the first three excerpts, from the sample, must hold.
QUESTIONS = {
    "Who took control of the Panjshir valley?": "Taliban",
    "Where did the resistance choose not to hold out to the end?": "Bazarak",
    "The Taliban spokesman held a press conference on Monday. In which city?": "Kabul",
    "When did news of Mullah Omar's death leak?": "2015",
    "What was Ahmad Shah Massoud nicknamed?": "Lion of Panjshir",
    "Why was the announcement of the new Taliban government delayed?": "technical issues",
}


@pytest.fixture(scope="module")
def topical(
    tmp_path_factory: pytest.TempPathFactory, embedder: Embedder
) -> Iterator[tuple[Library, dict[str, str]]]:
    """The sample, the first 30 RealTimeQA articles on its subject and 40 Reuters texts."""
    from newsbot.config import load_settings

    texts: dict[str, str] = {}
    articles: list[tuple[str, Article]] = []
    with RTQA.open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            if TOPICAL.search(record["text"]):
                text = clean_text(record["text"])
                texts[record["id"]] = text
                articles.append(
                    (record["id"], Article(text=text, title=record["title"], id=record["id"]))
                )
                if len(articles) == 30:
                    break
    for record in short_reuters(40):
        texts[record["id"]] = record["text"]
        articles.append(
            (record["id"], Article(text=record["text"], title=record["title"], id=record["id"]))
        )
    sample = (FIXTURES / "voa-2021-09-06-panjshir.txt").read_text(encoding="utf-8")
    texts[SAMPLE_ID] = clean_text(sample)
    articles.append(
        (
            "sample",
            Article(
                text=texts[SAMPLE_ID],
                title="Massoud Vows to Fight on as Taliban Claims Victory Over Resistance",
                outlet="VOA",
                id=SAMPLE_ID,
            ),
        )
    )
    settings: Settings = load_settings(store={"path": tmp_path_factory.mktemp("topical")})
    with Library.open(settings, embedder=embedder) as library:
        results = list(library.add_articles(articles))
        assert all(r.article_id for r in results), [r.error for r in results if r.error]
        yield library, texts


def test_questions_about_the_sample_are_answered_from_it_in_bold(
    topical: tuple[Library, dict[str, str]],
) -> None:
    library, _ = topical
    missed = []
    for question, expected in QUESTIONS.items():
        answer = library.ask(question, top_k=3)
        bold = [
            p.quote.highlight for p in answer.passages if p.passage.article.article_id == SAMPLE_ID
        ]
        # Compared word by word: the article has a no-break space in "Lion of Panjshir".
        if not any(expected.lower() in " ".join(s.lower().split()) for s in bold):
            missed.append((question, [p.quote.highlight for p in answer.passages]))
    assert not missed, missed


def test_every_excerpt_and_bold_sentence_is_verbatim_and_short(
    topical: tuple[Library, dict[str, str]],
) -> None:
    library, texts = topical
    questions = [
        json.loads(line)["question"] for line in (FIXTURES / "sample_questions.jsonl").open()
    ]
    limit = library.settings.search.quote_chars
    for question in [*questions, *QUESTIONS]:
        for item in library.ask(question, top_k=5).passages:
            quote, text = item.quote, texts[item.passage.article.article_id]
            assert text[quote.start : quote.end] == quote.text
            at = quote.article_offset(quote.highlight_start)
            assert text[at : at + len(quote.highlight)] == quote.highlight
            assert quote.highlight and quote.highlight in quote.text
            assert len(quote.text) <= limit or quote.text == quote.highlight
            payload = item.to_json()
            assert payload["highlight"] == quote.highlight and payload["quote"] == quote.text
