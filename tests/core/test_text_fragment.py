"""Text fragment links: the encoding, the directives Chrome would build, and (by a matcher of
the tests' own, written from the spec) that every directive finds its sentence in the article."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsbot.text_fragment import (
    EXACT_MAX_CHARS,
    TextDirective,
    fragment_link,
    parse_text_directive,
)

URL = "https://news.example/story"
# Characters that may stand raw in an encoded piece: the unreserved set less "-".
ENCODED_PIECE = re.compile(r"[A-Za-z0-9._~%]+")


def directives(link: str | None) -> list[TextDirective]:
    """The decoded text directives of a link (none when it has no fragment directive)."""
    assert link is not None
    if ":~:" not in link:
        return []
    found = []
    for directive in link.split(":~:", 1)[1].split("&"):
        assert directive.startswith("text=")
        pieces = directive.removeprefix("text=").split(",")
        # Raw "-" only as the prefix and suffix markers; everything else percent-encoded.
        for i, piece in enumerate(pieces):
            bare = piece.removesuffix("-") if i == 0 else piece
            bare = bare.removeprefix("-") if i == len(pieces) - 1 and i else bare
            assert ENCODED_PIECE.fullmatch(bare), piece
        found.append(parse_text_directive(directive))
    return found


def only_directive(link: str | None) -> TextDirective:
    found = directives(link)
    assert len(found) == 1, link
    return found[0]


def rendered(text: str) -> str:
    """The text as a browser matches it: paragraphs of single-spaced words, casefolded, no soft
    hyphens (Chrome skips them)."""
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line).casefold().replace("\u00ad", "")


def _piece(text: str) -> str:
    return re.escape(" ".join(text.split()).casefold().replace("\u00ad", ""))


def _word_start(text: str) -> str:
    return r"(?<!\w)" if re.match(r"\w", text) else ""


def _word_end(text: str) -> str:
    return r"(?!\w)" if re.search(r"\w$", text) else ""


def first_match(article: str, directive: TextDirective) -> str | None:
    """What a browser highlights for ``directive``: the spec's matching as one regular
    expression (leftmost start, nearest end; word-bounded; prefix right before and suffix
    right after the match, whitespace between allowed)."""
    prefix, start, end, suffix = directive
    start_ends_word = end is not None or suffix is None
    pattern = ""
    if prefix is not None:
        pattern += _word_start(prefix) + _piece(prefix) + r"\s*"
    pattern += "(" + ("" if prefix is not None else _word_start(start)) + _piece(start)
    pattern += _word_end(start) if start_ends_word else ""
    if end is not None:
        pattern += ".*?" + _word_start(end) + _piece(end)
        pattern += _word_end(end) if suffix is None else ""
    pattern += ")"
    if suffix is not None:
        pattern += r"\s*" + _piece(suffix) + _word_end(suffix)
    match = re.search(pattern, rendered(article), re.DOTALL)
    return match.group(1) if match else None


def assert_finds(article: str, directive: TextDirective, sentence: str) -> None:
    """The directive's first match is the sentence, give or take the quotes and dashes at its
    ends: a piece of it holding all its words."""
    found = first_match(article, directive)
    assert found is not None, directive
    found = " ".join(found.split())
    wanted = " ".join(sentence.split()).casefold().replace("\u00ad", "")
    assert found in wanted, (found, wanted)
    assert re.sub(r"\W", "", found) == re.sub(r"\W", "", wanted), (found, wanted)


def words(count: int, stem: str) -> str:
    return " ".join(f"{stem}{i}" for i in range(count))


# --- the encoding ---------------------------------------------------------------------------


def test_a_short_sentence_is_one_exact_directive_with_everything_encoded() -> None:
    sentence = "Prices rose 5% - a “record”, said Smith & Wesson in Zürich."
    article = f"Markets were calm. {sentence} Nothing else happened."
    assert fragment_link(URL, article, [sentence]) == (
        URL + "#:~:text=Prices%20rose%205%25%20%2D%20a%20%E2%80%9Crecord%E2%80%9D%2C%20said"
        "%20Smith%20%26%20Wesson%20in%20Z%C3%BCrich."
    )


def test_quotes_and_dashes_at_a_sentences_ends_are_left_out() -> None:
    sentence = "“We will fight on — whatever it takes…”"
    article = f"She spoke at noon. {sentence} The crowd cheered."
    assert only_directive(fragment_link(URL, article, [sentence])) == TextDirective(
        None, "We will fight on — whatever it takes", None, None
    )


def test_whitespace_is_collapsed_and_a_non_breaking_space_is_a_space() -> None:
    article = "Intro.\n\nThe  price\u00a0of bread\trose sharply  in May."
    link = fragment_link(URL, article, ["The price of\u00a0bread rose\nsharply in May."])
    assert link == URL + "#:~:text=The%20price%20of%20bread%20rose%20sharply%20in%20May."


def test_parse_reverses_encode() -> None:
    directive = TextDirective("a-b, c", "start & more", "the end", "-x,y-")
    encoded = directive.encode()
    assert encoded == "text=a%2Db%2C%20c-,start%20%26%20more,the%20end,-%2Dx%2Cy%2D"
    assert parse_text_directive(encoded) == directive
    assert parse_text_directive("start,end") == TextDirective(None, "start", "end", None)
    assert parse_text_directive("text=pre-,start,-suf") == TextDirective(
        "pre", "start", None, "suf"
    )


@pytest.mark.parametrize("bad", ["text=", "text=a,b,c", "text=a,,b", "text=%FF", "text=p-,"])
def test_parse_refuses_what_is_not_a_directive(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_text_directive(bad)


@given(
    st.tuples(
        st.none() | st.text(min_size=1),
        st.text(min_size=1),
        st.none() | st.text(min_size=1),
        st.none() | st.text(min_size=1),
    )
)
def test_any_text_survives_encoding(parts: tuple[str | None, str, str | None, str | None]) -> None:
    directive = TextDirective(*parts)
    encoded = directive.encode()
    assert all(ENCODED_PIECE.fullmatch(p.strip("-")) for p in encoded[5:].split(","))
    assert parse_text_directive(encoded) == directive


# --- long sentences -------------------------------------------------------------------------


def test_a_long_sentence_takes_three_words_from_each_end() -> None:
    sentence = f"Ministers agreed {words(50, 'point')} and left the summit early."
    assert len(sentence) > EXACT_MAX_CHARS
    article = f"Talks began on Monday. {sentence} Protests followed."
    found = only_directive(fragment_link(URL, article, [sentence]))
    assert found == TextDirective(None, "Ministers agreed point0", "the summit early.", None)
    assert_finds(article, found, sentence)


def test_the_start_grows_until_it_is_unique_regardless_of_case() -> None:
    opening = "The minister said on Tuesday that"
    sentence = f"{opening} {words(50, 'clause')} the budget stands."
    # The same opening, in capitals, earlier: the browser would match it there first.
    article = f"{opening.upper()} nothing was decided.\n{sentence}"
    found = only_directive(fragment_link(URL, article, [sentence]))
    assert found.prefix is None
    assert found.start.startswith(opening)
    assert len(found.start.split()) > len(opening.split())
    assert_finds(article, found, sentence)


def test_the_end_grows_when_it_also_occurs_inside_the_sentence() -> None:
    sentence = (
        f"Ministers met {words(30, 'item')} and said, at the end of the day. "
        f"{words(30, 'note')} they met again at the end of the day."
    )
    article = f"Before. {sentence} After."
    found = only_directive(fragment_link(URL, article, [sentence]))
    assert found.end is not None
    assert len(found.end.split()) > 3
    assert_finds(article, found, sentence)


def test_a_prefix_pins_a_start_that_occurs_earlier() -> None:
    opening = "According to the latest figures published by the national statistics office on"
    sentence = f"{opening} Friday, {words(40, 'figure')} the economy grew."
    article = f"{opening} Monday, exports fell.\nIn the third quarter, {sentence} Markets rose."
    found = only_directive(fragment_link(URL, article, [sentence]))
    assert found.prefix == "quarter,"
    assert found.start.startswith("According")
    assert_finds(article, found, sentence)
    # Without the prefix the browser would start at the earlier paragraph.
    assert first_match(article, found._replace(prefix=None)) != first_match(article, found)


def test_without_room_for_context_a_long_sentence_is_quoted_whole() -> None:
    opening = "According to the latest figures published by the national statistics office on"
    sentence = f"{opening} Friday, {words(40, 'figure')} the economy grew."
    # The sentence opens its paragraph: no prefix, and a suffix cannot pin the start.
    article = f"{opening} Monday, exports fell.\n{sentence} Markets rose."
    found = only_directive(fragment_link(URL, article, [sentence]))
    assert found == TextDirective(None, sentence, None, None)
    assert_finds(article, found, sentence)


def test_windows_are_cut_at_plain_words() -> None:
    sentence = (
        f"Officials said — after\u200b a long night — {words(50, 'word')} "
        "that the deal, in their words, was “done… finally”."
    )
    article = f"Earlier text. {sentence} Later text."
    found = only_directive(fragment_link(URL, article, [sentence]))
    assert found.end is not None
    for window in (found.start, found.end):
        for char in (window[0], window[-1]):
            assert not char.isspace()
            assert unicodedata.category(char) not in ("Pi", "Pf", "Pd", "Cf"), window
            assert char not in "…\u00ad\u200b", window
    assert found.start == "Officials said"
    assert_finds(article, found, sentence)


def test_a_sentence_over_two_paragraphs_takes_a_window_in_each() -> None:
    sentence = "Short headline\nThe story begins here."
    article = f"Menu\n{sentence} More."
    found = only_directive(fragment_link(URL, article, [sentence]))
    assert found == TextDirective(None, "Short headline", "story begins here.", None)
    assert_finds(article, found, sentence)


def test_soft_hyphens_are_ignored_when_matching() -> None:
    article = "Co\u00adoperation matters. Cooperation matters. The end."
    # Both spellings are one text to the browser: the directive must still hit the first.
    found = only_directive(fragment_link(URL, article, ["Cooperation matters."]))
    assert first_match(article, found) == "cooperation matters."


# --- addresses ------------------------------------------------------------------------------

ARTICLE = "First sentence here. Second sentence there. Third one."


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://x.example/a", "https://x.example/a#:~:text=Second%20sentence%20there."),
        ("HTTP://x.example/a?q=1", "HTTP://x.example/a?q=1#:~:text=Second%20sentence%20there."),
        ("https://x.example/a#", "https://x.example/a#:~:text=Second%20sentence%20there."),
        ("https://x.example/a#top", "https://x.example/a#top:~:text=Second%20sentence%20there."),
        (
            "https://x.example/a#top:~:text=old&note=1",
            "https://x.example/a#top:~:note=1&text=Second%20sentence%20there.",
        ),
        (" https://x.example/a\n", "https://x.example/a#:~:text=Second%20sentence%20there."),
    ],
)
def test_the_fragment_goes_after_the_address_and_its_fragment(url: str, expected: str) -> None:
    assert fragment_link(url, ARTICLE, ["Second sentence there."]) == expected


@pytest.mark.parametrize(
    "url", ["mailto:a@x.example", "ftp://x.example/a", "javascript:alert(1)", "/local/path"]
)
def test_an_address_that_is_not_http_is_returned_unchanged(url: str) -> None:
    assert fragment_link(url, ARTICLE, ["Second sentence there."]) == url


@pytest.mark.parametrize("url", [None, ""])
def test_no_address_no_link(url: str | None) -> None:
    assert fragment_link(url, ARTICLE, ["Second sentence there."]) is None


def test_sentences_not_in_the_article_are_left_out() -> None:
    link = fragment_link(URL, ARTICLE, ["Not there.", "Third one.", "First sentence here."])
    assert [d.start for d in directives(link)] == ["Third one.", "First sentence here."]
    for sentence in ("Not there.", "entence", "ence here.", "—", ""):
        assert fragment_link(URL, ARTICLE, [sentence]) == URL  # nothing a browser could match
    assert fragment_link(URL, ARTICLE, []) == URL


def test_a_sentence_given_twice_gives_one_directive() -> None:
    link = fragment_link(URL, ARTICLE, ["Third one.", "third  ONE."])
    assert len(directives(link)) == 1


# --- properties: every directive finds its sentence -----------------------------------------

# A vocabulary that makes repeats likely: the same word in other cases, words inside words,
# foldings that change length, punctuation the encoding must carry, edge characters.
VOCABULARY = [
    "the",
    "The",
    "THE",
    "cat",
    "concatenate",
    "a",
    "A&B",
    "x,y",
    "state-of-the-art",
    "well-",
    "“quoted”",
    "‘single’",
    "—",
    "…",
    "«guillemets»",
    "naïve",
    "Straße",
    "STRASSE",
    "100%",
    "(Reuters)",
    "cat's",
    "co\u00adoperate",
    "zero\u200bwidth",
    "end.",
    "said,",
    "Δelta",
]
SEPARATORS = [" ", " ", " ", "  ", "\u00a0", "\t", "\n", "\n\n"]


@st.composite
def article_and_sentence(draw: st.DrawFn) -> tuple[str, str]:
    count = draw(st.integers(1, 160))
    tokens = draw(st.lists(st.sampled_from(VOCABULARY), min_size=count, max_size=count))
    gaps = draw(st.lists(st.sampled_from(SEPARATORS), min_size=count, max_size=count))
    article, spans = "", []
    for token, gap in zip(tokens, gaps, strict=True):
        spans.append((len(article), len(article) + len(token)))
        article += token + gap
    first = draw(st.integers(0, count - 1))
    last = draw(st.integers(first, min(count - 1, first + draw(st.sampled_from([3, 12, 90])))))
    return article, article[spans[first][0] : spans[last][1]]


@settings(max_examples=400, deadline=None)
@given(article_and_sentence())
def test_every_directive_finds_its_sentence(case: tuple[str, str]) -> None:
    article, sentence = case
    found = directives(fragment_link(URL, article, [sentence]))
    if not found:
        # Only a sentence with no word, or one over two paragraphs that could not be pinned
        # down, goes without a directive.
        assert not re.search(r"\w", sentence) or "\n" in sentence.strip(), sentence
        return
    (directive,) = found
    assert_finds(article, directive, sentence)
