"""Page furniture: the lines of a news page that are no part of its story.

Article extraction (trafilatura) and JSON Lines dumps keep some of them: newsletter and app
promotions, share and follow prompts, "Updated 2:00 p.m. ET" stamps, photo credits, bylines,
author bios and datelines. They may stay in a passage (the passage is the article's text), but
newsbot never quotes them or puts them in bold: they answer nothing. The rules are English;
in another language a line is simply not recognised, and quoted as before.
"""

from __future__ import annotations

import functools
import re

# Calls to action and promotions: the phrase alone marks the line.
_PROMOTION = re.compile(
    r"\b(?:sign(?:ing)? up (?:for|here|now|to)|^subscribe\b|subscribe (?:now|here|today)"
    r"|unsubscribe|click here|tap here|read (?:the full story|more)\b|share this"
    r"|share on (?:x|twitter|facebook)|follow @|follow (?:us|him|her|them|\w+) on (?:x"
    r"|twitter|facebook|instagram|bluesky|threads|tiktok|linkedin)|get (?:\S+ ){1,3}newsletter"
    r"|download (?:the|our) app|(?:the|our) \w+(?: \w+)? app gets you|need a (?:news )?break"
    r"|play the (?:\S+ ){1,4}(?:crossword|puzzle|quick cross)|mini puzzle|puzzles, games"
    r"|affiliate (?:fee|commission|link)|we (?:may|occasionally) (?:earn|recommend)"
    r"|^advertisement$|skip to (?:main )?content"
    r"|all rights reserved|unable to view our graphics|this (?:story|article) (?:was|has been)"
    r" updated|story continues below|scroll to continue|listen to this article"
    r"|join us on (?:twitter|facebook|x)|get (?:the|our) \w+ newsletter)\b",
    re.IGNORECASE,
)
# Who wrote, photographed or contributed: credit lines and author bios.
_CREDIT = re.compile(
    r"^\(?(?:photo|image|picture|video|graphic|illustration)s?(?: by|:| credit)"
    r"|^(?:contributing|reporting|additional reporting|editing|edited|writing)(?: by)?:?\s"
    r"|^from (?:\w+ ){0,4}(?:wire reports|staff reports)"
    r"|\b(?:getty images|ap photo|afp via getty|reuters/|shutterstock|file photo)\b"
    r"|\bcredit: |\b(?:reach|contact|email) (?:him|her|them|the author) at\b"
    r"|\bis an? (?:\w+ ){0,4}(?:reporter|writer|correspondent|editor|columnist|contributor"
    r"|producer)(?: (?:for|at|with)\b|\.)"
    r"|[\w.+-]+@[\w-]+\.[\w.]+|(?:^|\s)@\w{2,}\.?\s*$",
    re.IGNORECASE,
)
_BYLINE = re.compile(r"^By(?: [A-Z][\w'.-]*){2,4}(?:,|$| and | \|)|^BY [A-Z]")
# A line that says nothing but when: "Updated May 2, 2026, 2:00 p.m. ET", "Published 6
# September 2021", "2:00 pm ET May 2, 2026".
_STAMP_WORD = re.compile(
    r"^(?:updated|published|posted|last|modified|on|at|and|\d{1,4}(?:st|nd|rd|th)?"
    r"|\d{1,2}:\d{2}|[ap]\.?m\.?|[ap]\.m|et|est|edt|pt|pst|pdt|ct|cst|cdt|gmt|bst|utc|cet"
    r"|jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec|january|february|march|april"
    r"|june|july|august|september|october|november|december|monday|tuesday|wednesday"
    r"|thursday|friday|saturday|sunday|mon|tue|wed|thu|fri|sat|sun|today|yesterday|ago"
    r"|minutes?|hours?|mins?|hrs?|read|time)$",
    re.IGNORECASE,
)
_TOKEN = re.compile(r"\d{1,2}:\d{2}|[A-Za-z]\.[A-Za-z]\.?|\w+")
# A dateline alone on its line: "CNN —", "New York CNN Business —", "WASHINGTON (AP) -".
_DATELINE = re.compile(r"^[\w .,()'/]{1,60}\s[\u2014\u2013-]{1,2}$")  # em dash, en dash


@functools.lru_cache(maxsize=65536)
def is_furniture(sentence: str) -> bool:
    """Whether ``sentence`` is page furniture rather than a sentence of the story (answers
    are cached: the passages of a library come back question after question)."""
    text = sentence.strip()
    if not text:
        return True
    if any(rule.search(text) for rule in (_PROMOTION, _CREDIT, _BYLINE, _DATELINE)):
        return True
    tokens = _TOKEN.findall(text)
    return bool(tokens) and all(_STAMP_WORD.match(token) for token in tokens)
