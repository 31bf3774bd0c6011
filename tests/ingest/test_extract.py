"""Extraction of articles from HTML, PDF, text and Markdown, and the text clean-up."""

from __future__ import annotations

import codecs
import io
from collections.abc import Callable

import pytest
from pypdf import PdfReader, PdfWriter

from newsbot.errors import IngestError
from newsbot.ingest.clean import clean_text
from newsbot.ingest.dates import normalise_date
from newsbot.ingest.extract import article_from_bytes, article_from_text
from newsbot.ingest.markdown import markdown_to_text

from .conftest import HTML_FIXTURES, LATIN1_PAGE, SAMPLE

# -- HTML ------------------------------------------------------------------------------------


def test_news_page_metadata_and_main_text() -> None:
    data = (HTML_FIXTURES / "daily-herald-bridge.html").read_bytes()
    url = "https://www.dailyherald.example/news/2024/03/15/council-approves-river-bridge"
    article = article_from_bytes(data, content_type="text/html", url=url)
    assert article.title == "Council approves new river bridge after decade of debate"
    assert article.outlet == "The Daily Herald"
    assert article.published == "2024-03-15"  # published, not modified (2024-03-16)
    assert article.author == "Maria Okafor"
    assert article.url == url
    assert "voted 9-2 on Thursday night" in article.text
    assert '"People have waited long enough."' in article.text
    assert article.text.rstrip().endswith("which the province confirmed last month.")
    for boilerplate in (
        "cookies",
        "ADVERTISEMENT",
        "Subscribe",
        "Related stories",
        "newsletter",
        "Waste of taxpayer money",  # a reader comment
        "Privacy policy",
        "All rights reserved",
    ):
        assert boilerplate not in article.text
    # One paragraph per block, separated by a blank line.
    assert "\n\nOpponents argued" in article.text


def test_news_page_in_windows_1252_with_json_ld() -> None:
    data = (HTML_FIXTURES / "coastal-times-storm.html").read_bytes()
    assert b"Mar\xeda" in data  # really cp1252 on disk
    article = article_from_bytes(data, name="storm.html")
    assert article.title == "Storm Elena leaves thousands without power on the coast"
    assert article.outlet == "Coastal Times"
    assert article.published == "2023-11-02"
    assert article.author == "Tomás Reyes"
    assert "In Port María, the harbour wall was damaged" in article.text
    assert "“We have never seen waves like this in November,” said" in article.text
    for boilerplate in ("Subscribe now", "Most read", "Advertise with us", "Share this article"):
        assert boilerplate not in article.text


def test_the_charset_a_server_declares_is_used_unless_the_bytes_are_utf8() -> None:
    latin1 = LATIN1_PAGE.encode("iso-8859-1")
    # No charset in the page: without the header's, the bytes were guessed at (cp1250: "fęte").
    article = article_from_bytes(latin1, content_type="text/html", charset="iso-8859-1")
    assert article.title == "La fête près de la rivière"
    assert "señor Muñoz" in article.text
    # Servers declare ISO-8859-1 by default for UTF-8 pages: valid UTF-8 wins.
    utf8 = article_from_bytes(LATIN1_PAGE.encode(), content_type="text/html", charset="iso-8859-1")
    assert utf8.title == "La fête près de la rivière"
    # Plain text, and a charset Python does not know (ignored, not an error).
    cyrillic = "Новый мост открыт\n\nГородской совет открыл новый мост через реку в субботу."
    text = article_from_bytes(
        cyrillic.encode("cp1251"), content_type="text/plain", charset="cp1251"
    )
    assert text.title == "Новый мост открыт"
    unknown = article_from_bytes(latin1, content_type="text/html", charset="no-such-charset")
    assert unknown.title is not None
    # Codecs that are not text encodings are no charset either (they raised LookupError).
    for codec in ("hex", "base64", "rot13", "idna", "punycode"):
        assert article_from_bytes(latin1, content_type="text/html", charset=codec).title


def test_outlet_falls_back_to_the_url_host() -> None:
    html = (
        b"<html><head><title>Harbour reopens</title></head><body><article><h1>Harbour reopens"
        b"</h1><p>The harbour reopened on Monday after three weeks of repairs to the sea wall, "
        b"the port authority said in a statement.</p><p>Ferries will run a reduced timetable "
        b"until the end of the month while the last of the work is finished.</p></article>"
        b"</body></html>"
    )
    article = article_from_bytes(html, url="https://www.porttimes.example/harbour")
    assert article.outlet == "porttimes.example"
    assert article.title == "Harbour reopens"


def test_html_is_sniffed_whatever_the_name_says() -> None:
    data = (HTML_FIXTURES / "daily-herald-bridge.html").read_bytes()
    article = article_from_bytes(data, name="download.txt", content_type="text/plain")
    assert article.outlet == "The Daily Herald"
    assert "<p>" not in article.text


def test_page_without_an_article_is_refused() -> None:
    data = (HTML_FIXTURES / "section-index.html").read_bytes()
    with pytest.raises(IngestError, match="no article text found"):
        article_from_bytes(data, content_type="text/html", url="https://dailyherald.example/p")


def test_empty_html_is_refused() -> None:
    with pytest.raises(IngestError, match="no article text found"):
        article_from_bytes(b"<html><body></body></html>", name="empty.html")


# -- PDF -------------------------------------------------------------------------------------


def test_pdf_with_metadata(pdf_factory: Callable[..., bytes]) -> None:
    pdf = pdf_factory(
        [
            [
                "The council approved the bridge on Thursday after a long",
                "debate that lasted most of the evening and ended in a vote.",
                "Construction will start next spring.",
            ],
            ["Funding comes from municipal bonds and a regional grant."],
        ],
        title="Bridge report",
        author="City Council",
    )
    article = article_from_bytes(pdf, name="report.pdf", url="https://city.example/report.pdf")
    assert article.title == "Bridge report"
    assert article.author == "City Council"
    assert article.published == "2024-03-15"
    assert article.outlet == "city.example"
    assert "after a long debate that lasted" in article.text  # hard wrap undone
    assert "Funding comes from municipal bonds and a regional grant." in article.text


def test_pdf_title_falls_back_to_the_first_line(pdf_factory: Callable[..., bytes]) -> None:
    pdf = pdf_factory([["Quarterly results", "Revenue rose by four percent in the quarter."]])
    # Detected from the content even with a misleading name and type.
    article = article_from_bytes(pdf, name="file.bin", content_type="application/octet-stream")
    assert article.title == "Quarterly results"
    assert "Revenue rose by four percent" in article.text


def test_truncated_pdf_is_an_ingest_error(pdf_factory: Callable[..., bytes]) -> None:
    pdf = pdf_factory([["Some text on a page that will be cut off."]])
    with pytest.raises(IngestError, match=r"report\.pdf") as info:
        article_from_bytes(pdf[: len(pdf) // 3], name="report.pdf")
    assert "Traceback" not in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("data", "name", "content_type"),
    [
        (
            b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title></channel></rss>',
            "news.xml",
            None,
        ),
        (
            b'<?xml version="1.0"?><items><item>Mill Lane is closed.</item></items>',
            "data.txt",
            "text/plain",
        ),
        (b'[{"title": "A", "text": "Mill Lane is closed for repairs."}]', "dump.json", None),
        (b'{"text": "Mill Lane is closed."}', None, "application/json"),
    ],
)
def test_xml_and_json_data_are_refused_not_stored_as_text(
    data: bytes, name: str | None, content_type: str | None
) -> None:
    # Read as plain text, a feed file became an article titled '<?xml version="1.0"...'.
    with pytest.raises(IngestError, match="XML or JSON data, not an article"):
        article_from_bytes(data, name=name, content_type=content_type)


@pytest.mark.parametrize("name", ["dump.jsonl", "DUMP.NDJSON", None])
def test_a_json_lines_dump_is_not_one_article(name: str | None) -> None:
    """Seen: an uploaded .jsonl became one article of raw JSON; its records are articles."""
    data = b'{"title": "A", "text": "Mill Lane is closed for repairs."}\n' * 3
    url = "https://example.com/export.jsonl" if name is None else None
    with pytest.raises(IngestError, match="JSON Lines dump of articles"):
        article_from_bytes(data, name=name, url=url)


def test_utf8_text_with_a_stray_byte_is_text_not_binary() -> None:
    """Seen: one cp1252 apostrophe (0x92) in a UTF-8 file was refused as binary data."""
    body = "The café on Mill Lane — closed since March — reopens on Monday, its owner said. "
    data = ("Café reopens\n\n" + body * 5).encode() + b"It\x92s back." + body.encode()
    article = article_from_bytes(data, name="cafe.txt")
    assert article.title == "Café reopens"
    assert "closed since March — reopens" in article.text and "It\ufffds back." in article.text
    # Text in a single-byte code page still goes to the guesser, which reads it right.
    legacy = "Caf\xe9 reopens\n\n" + "The caf\xe9 on Mill Lane reopens on Monday. " * 5
    assert "café" in article_from_bytes(legacy.encode("cp1252"), name="old.txt").text


def test_plain_text_labelled_as_html_is_read_as_text() -> None:
    """Seen: a server that sends every file as text/html made a plain text article "no
    article text found"."""
    text = b"Harbour reopens\n\n" + b"The city harbour reopened on Monday after dredging. " * 4
    article = article_from_bytes(text, content_type="text/html", url="https://example.com/h")
    assert article.title == "Harbour reopens"
    assert article.text.startswith("The city harbour reopened")


@pytest.mark.parametrize(
    ("codec", "name", "content_type", "charset"),
    [
        ("utf-16-le", "story", "text/html", "utf-16-le"),
        ("utf-16-be", "story.htm", None, None),
        ("utf-16-le", "story", "text/html", "utf-16"),
    ],
)
def test_utf16_html_without_a_bom_is_still_a_page(
    codec: str, name: str, content_type: str | None, charset: str | None
) -> None:
    """A review found this refused as binary by a first version of the text fallback."""
    body = "The council approved the new bridge on Monday after a decade of debate. " * 30
    page = f"<html><head><title>Bridge approved</title></head><body><article><p>{body}</p>"
    data = (page + "</article></body></html>").encode(codec)
    article = article_from_bytes(data, name=name, content_type=content_type, charset=charset)
    assert article.title == "Bridge approved"
    assert "<" not in article.text and "approved the new bridge" in article.text


def test_xhtml_with_an_xml_declaration_is_still_a_page() -> None:
    page = (
        b'<?xml version="1.0" encoding="utf-8"?>\n<html xmlns="http://www.w3.org/1999/xhtml">'
        b"<head><title>Harbour reopens</title></head><body><article><p>"
        + b"The city harbour reopened on Monday after three months of dredging work. " * 4
        + b"</p></article></body></html>"
    )
    assert article_from_bytes(page, name="page.xml").title == "Harbour reopens"


def test_garbage_after_the_pdf_signature() -> None:
    with pytest.raises(IngestError, match=r"report\.pdf"):
        article_from_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 20, name="report.pdf")


def test_pdf_named_file_without_pdf_content() -> None:
    with pytest.raises(IngestError, match="not a valid PDF"):
        article_from_bytes(b"this is not a pdf at all", name="report.pdf")


def test_encrypted_pdf(pdf_factory: Callable[..., bytes]) -> None:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_factory([["Secret text."]]))))
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    with pytest.raises(IngestError, match="encrypted"):
        article_from_bytes(buffer.getvalue(), name="locked.pdf")


def test_pdf_without_text(pdf_factory: Callable[..., bytes]) -> None:
    with pytest.raises(IngestError, match="no text"):
        article_from_bytes(pdf_factory([[]]), name="scan.pdf")


# -- plain text and encodings ----------------------------------------------------------------

CAFE_TEXT = (
    "Café owners protest new rules\n\n"
    "The owners of the city\u2019s cafés said on Monday that the new rules on terraces were "
    "“naïve” and would cost them about €2,000 a year each. Señora Núñez, who runs a café "
    "near the cathedral, said she would close her terrace in protest.\n"
)


@pytest.mark.parametrize(
    "data",
    [
        CAFE_TEXT.encode("utf-8"),
        codecs.BOM_UTF8 + CAFE_TEXT.encode("utf-8"),
        CAFE_TEXT.encode("cp1252"),
        codecs.BOM_UTF16_LE + CAFE_TEXT.encode("utf-16-le"),
    ],
    ids=["utf-8", "utf-8-bom", "cp1252", "utf-16-bom"],
)
def test_text_encodings(data: bytes) -> None:
    article = article_from_bytes(data, name="cafes.txt")
    assert article.title == "Café owners protest new rules"
    assert article.text.startswith("The owners of the city\u2019s cafés said")
    assert "“naïve”" in article.text
    assert "Señora Núñez" in article.text
    assert "\ufeff" not in article.text


def test_latin_1_text() -> None:
    text = (
        "Rüdiger's café reopens\n\nThe café in Düsseldorf reopened after the façade was "
        "repaired; the owner, Rüdiger Schäfer, thanked the neighbours for their patience.\n"
    )
    article = article_from_bytes(text.encode("latin-1"), name="cafe.txt")
    assert article.title == "Rüdiger's café reopens"
    assert "Rüdiger Schäfer" in article.text
    assert "façade" in article.text


def test_sample_article_file() -> None:
    article = article_from_bytes(SAMPLE.read_bytes(), name=SAMPLE.name)
    assert article.title == (
        "AfghanistanMassoud Vows to Fight on as Taliban Claims Victory Over Resistance"
    )
    assert article.author == "Ayesha Tanzeem"
    assert article.published == "2021-09-06"
    # Its lines are real paragraphs: nothing is joined.
    original = SAMPLE.read_text(encoding="utf-8")
    paragraphs = [line.rstrip() for line in original.split("\n")[1:] if line.strip()]
    assert article.text.split("\n\n") == paragraphs


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\x00\x01\x02" * 100, "PNG image"),
        (b"PK\x03\x04\x14\x00\x00\x00" + b"\x00" * 100, "ZIP archive"),
        (b"\x1f\x8b\x08\x00" + b"\x00" * 100, "gzip archive"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "JPEG image"),
        (bytes(range(256)) * 8, "binary data"),
    ],
)
def test_binary_content_is_unsupported(data: bytes, kind: str) -> None:
    with pytest.raises(IngestError, match=f"unsupported file type: upload.bin is .*{kind}"):
        article_from_bytes(data, name="upload.bin")


@pytest.mark.parametrize("data", [b"", b"   \n\t\n  ", codecs.BOM_UTF8 + b"\n\n"])
def test_empty_text_is_refused(data: bytes) -> None:
    with pytest.raises(IngestError, match="no text"):
        article_from_bytes(data, name="empty.txt")


# -- Markdown --------------------------------------------------------------------------------

MARKDOWN = """\
# Rail strike *called off* after late deal

**London** -- The planned rail strike was [called off](https://example.com/strike "story")
late on Tuesday after unions and operators reached a deal on pay, the union said.

![A train at a platform](train.jpg)

## What changes

- Pay rises by 5% this year
- A review of _working hours_ in **spring**
1. Talks resume in June

> "This is a fair deal," said union leader `Sam Ortiz`.

Read more at <https://example.com/rail>.

---

[ref]: https://example.com/ref
"""


def test_markdown_to_plain_text() -> None:
    article = article_from_bytes(MARKDOWN.encode(), name="strike.md")
    assert article.title == "Rail strike called off after late deal"
    text = article.text
    assert text.startswith("London -- The planned rail strike was called off late on Tuesday")
    assert "after unions and operators" in text  # the paragraph's lines are joined
    assert "What changes" in text
    assert "- Pay rises by 5% this year" in text
    assert "- A review of working hours in spring" in text
    assert '"This is a fair deal," said union leader Sam Ortiz.' in text
    assert "Read more at https://example.com/rail." in text
    for syntax in ("#", "**", "](", "![", "train.jpg", "> ", "`", "[ref]", "---", "_working"):
        assert syntax not in text


def test_markdown_by_content_type_and_setext_heading() -> None:
    data = b"Budget passes\n=============\n\nThe budget passed by *twelve* votes to three.\n"
    article = article_from_bytes(data, content_type="text/markdown")
    assert article.title == "Budget passes"
    assert article.text == "The budget passed by twelve votes to three."


def test_markdown_keeps_snake_case_and_arithmetic() -> None:
    text, title = markdown_to_text("The file_name_here and 2 * 3 * 4 stay as they are.")
    assert title is None
    assert text == "The file_name_here and 2 * 3 * 4 stay as they are."


# -- pasted text -----------------------------------------------------------------------------


def test_pasted_text_takes_a_short_first_line_as_title() -> None:
    article = article_from_text("  Dam plan approved \n\nThe regional dam plan was approved.\n")
    assert article.title == "Dam plan approved"
    assert article.text == "The regional dam plan was approved."


def test_pasted_text_with_a_given_title_keeps_all_text() -> None:
    article = article_from_text(
        "Dam plan approved\nThe plan was approved.",
        title="  My title ",
        url="https://www.news.example/dam",
        published="Mon, 06 Sep 2021 10:00:00 GMT",
        article_id="abc",
    )
    assert article.title == "My title"
    assert article.text == "Dam plan approved\nThe plan was approved."
    assert article.outlet == "news.example"
    assert article.published == "2021-09-06"
    assert article.id == "abc"


def test_pasted_single_paragraph_title_is_its_start() -> None:
    text = "A " + "very " * 60 + "long single paragraph without any line break at all."
    article = article_from_text(text)
    assert article.text == text
    assert len(article.title) <= 81
    assert article.title.startswith("A very very")
    assert article.title.endswith("…")


def test_pasted_single_short_line() -> None:
    article = article_from_text("Just one line of news.")
    assert article.title == "Just one line of news."
    assert article.text == "Just one line of news."


@pytest.mark.parametrize("text", ["", "   ", "\n\n\t\n", "\x00\x01"])
def test_pasted_empty_text(text: str) -> None:
    with pytest.raises(IngestError, match="no text"):
        article_from_text(text)


# -- clean_text ------------------------------------------------------------------------------


def test_clean_text_basics() -> None:
    raw = "  Cafe\u0301 news\r\nline two\t\twith tabs   \rline three\x07\x1b\n\n\n\n\nend \u200b "
    assert clean_text(raw) == "Café news\nline two  with tabs\nline three\n\nend"


def test_clean_text_keeps_paragraph_lines() -> None:
    text = SAMPLE.read_text(encoding="utf-8")
    cleaned = clean_text(text)
    assert cleaned.count("\n\n") == text.strip().count("\n\n")
    assert "nicknamed the “Lion of\xa0Panjshir.”\n\n" in cleaned


REUTERS_WRAPPED = (
    "Showers continued throughout the week in\n"
    "the Bahia cocoa zone, alleviating the drought since early\n"
    "January and improving prospects for the coming temporao,\n"
    "although normal humidity levels have not been restored,\n"
    "Comissaria Smith said in its weekly review.\n"
    "    The dry period means the temporao will be late this year.\n"
    "    Arrivals for the week ended February 22 were 155,221 bags\n"
    "of 60 kilos making a cumulative total for the season of 5.93\n"
    "mln against 5.81 at the same stage last year.\n"
    "    Comissaria Smith said spot bean prices rose to 340 to 350\n"
    "cruzados per arroba of 15 kilos.\n"
    " Reuter\n"
)


def test_clean_text_unwraps_reuters_style_paragraphs() -> None:
    assert clean_text(REUTERS_WRAPPED) == (
        "Showers continued throughout the week in the Bahia cocoa zone, alleviating the "
        "drought since early January and improving prospects for the coming temporao, although "
        "normal humidity levels have not been restored, Comissaria Smith said in its weekly "
        "review.\n\n"
        "The dry period means the temporao will be late this year.\n\n"
        "Arrivals for the week ended February 22 were 155,221 bags of 60 kilos making a "
        "cumulative total for the season of 5.93 mln against 5.81 at the same stage last year."
        "\n\n"
        "Comissaria Smith said spot bean prices rose to 340 to 350 cruzados per arroba of 15 "
        "kilos.\n\n"
        "Reuter"
    )


def test_clean_text_keeps_table_rows() -> None:
    table = (
        "The department reported the average prices as follows -\n"
        "         Natl   Loan           Release   Call\n"
        " Wheat   2.55   2.40       IV     4.65     --\n"
        " Corn    1.35   1.92       IV     3.15   3.15\n"
    )
    cleaned = clean_text(table)
    assert " Wheat   2.55   2.40       IV     4.65     --" in cleaned
    assert " Corn    1.35   1.92       IV     3.15   3.15" in cleaned


def test_clean_text_is_idempotent() -> None:
    for text in (REUTERS_WRAPPED, SAMPLE.read_text(encoding="utf-8"), MARKDOWN):
        once = clean_text(text)
        assert clean_text(once) == once


# -- dates -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2021-09-06", "2021-09-06"),
        ("2021-09-06T10:00:00Z", "2021-09-06"),
        ("1987-02-26T15:01:01", "1987-02-26"),
        ("2021-09-06 23:59:00+05:30", "2021-09-06"),
        ("20210906", "2021-09-06"),
        ("2021/09/06", "2021-09-06"),
        ("Mon, 06 Sep 2021 10:00:00 GMT", "2021-09-06"),
        ("6 September 2021", "2021-09-06"),
        ("Published 6 September 2021", "2021-09-06"),
        ("September 6, 2021", "2021-09-06"),
        ("Sept. 6th, 2021", "2021-09-06"),
        ("06/09/2021", None),  # day or month first? unknown
        ("2021-02-30", None),
        ("yesterday", None),
        ("", None),
        (None, None),
    ],
)
def test_normalise_date(value: str | None, expected: str | None) -> None:
    assert normalise_date(value) == expected


def test_pasted_title_line_is_not_unwrapped_into_the_body() -> None:
    pasted = (
        "Grain exports rise\n"
        "Wheat exports from the port rose 12 percent in May, traders said on\n"
        "Monday, citing strong demand from buyers in North Africa and the\n"
        "Middle East as the new harvest arrived.\n"
    )
    article = article_from_text(pasted)
    assert article.title == "Grain exports rise"
    assert article.text.startswith("Wheat exports")
    assert "Grain exports" not in article.text
