"""Page furniture: promotions, stamps, credits, bylines and datelines are never an answer."""

from __future__ import annotations

import pytest

from newsbot.furniture import is_furniture

FURNITURE = [
    # What trafilatura leaves of real pages in ../shared/eval (the most frequent lines).
    "Need a news break? Check out the all new PLAY hub with puzzles, games and more!",
    "Need a break? Play the USA TODAY Daily Crossword Puzzle.",
    "Looking for a free mini puzzle? Play the USA TODAY Quick Cross now.",
    "From USA TODAY Network and wire reports",
    "Sign up for CNN’s Wonder Theory science newsletter. Explore the universe with news.",
    "Get CNN Health's weekly newsletter",
    "Follow CNN Opinion Join us on Twitter and Facebook",
    "We occasionally recommend interesting products and services.",
    "(This story was updated to add new information.)",
    "Unable to view our graphics? Click here to see them.",
    "Share this update",
    "Advertisement",
    # Stamps.
    "Updated March 12, 2026, 3:45 p.m. ET",
    "2:00 pm ET May 2, 2026",
    "Published 6 September 2021",
    "May 2, 2026",
    # Credits, bylines, bios, datelines.
    "(Photo by John Doe/Getty Images)",
    "Contributing: Reuters",
    "By John Smith, USA TODAY",
    "BY JANE ROE",
    "Eric Lagatta covers breaking and trending news for USA TODAY. Reach him at e@gannett.com",
    "Gabe Hauari is a national trending news reporter at USA TODAY.",
    "Reach Joey Garrison on X @joeygarrison.",
    "CNN —",
    "New York CNN Business —",
    "WASHINGTON (AP) —",
]

STORY = [
    "By Tuesday, the storm had passed and 40 people were dead.",
    "By the end of the year and the next, prices had doubled.",
    "The Taliban said on Monday that they had taken Panjshir.",
    "Netflix said 10 million people subscribe to its ad tier.",
    "He said the advertisement was misleading and would be withdrawn.",
    "Police will follow him to the border, officials said.",
    "The report was published on May 2, 2026 by the ministry.",
    "WASHINGTON (AP) — The Senate passed the bill on Tuesday night.",
    "The newsletter's founder, Jane Roe, sold the company for $10 million.",
    "Massoud posted an audio message on Facebook on Monday.",
    "Der Präsident sagte am Montag, er werde zurücktreten.",
]


@pytest.mark.parametrize("line", FURNITURE)
def test_furniture_is_recognised(line: str) -> None:
    assert is_furniture(line)


@pytest.mark.parametrize("sentence", STORY)
def test_sentences_of_the_story_are_not_furniture(sentence: str) -> None:
    assert not is_furniture(sentence)
