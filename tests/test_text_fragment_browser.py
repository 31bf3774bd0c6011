"""A real Chromium opens links made by ``fragment_link``: the page scrolls to the quoted
sentence, and the same link without its fragment does not scroll.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them); without them the
test fails rather than skips, so a missing browser is noticed. The page is served over loopback
by ``http.server`` in a thread, and the browser's background services are switched off, so
nothing leaves the machine.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from newsbot.text_fragment import fragment_link, parse_text_directive

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
]
# Long enough for a sentence near the end to be many screens down.
PARAGRAPHS = 90
EARLY, TARGET = 15, 70

OPENING = "According to the latest figures published by the national statistics office on"
SHORT = "Critics, however, disagreed - strongly & loudly - with the “new” plan."
LONG = (
    f"{OPENING} Friday, household spending rose for the third month in a row, driven by food, "
    "energy and transport, while wages in the private sector, which had lagged behind prices "
    "for most of the previous two years, finally caught up with inflation in the services "
    "industries that employ the largest share of the country's workers."
)


def paragraphs() -> list[str]:
    """The article's paragraphs: filler, the long sentence's opening early on, and the target
    paragraph with the short sentence and the long one near the end."""
    texts = [
        f"Paragraph {i} reports on district {i}, where the council discussed roads, schools "
        f"and the weekly market number {i} for most of the evening before adjourning."
        for i in range(PARAGRAPHS)
    ]
    texts[EARLY] = f"{OPENING} Monday, exports fell for the first time this year."
    texts[TARGET] = f"The council met again. {SHORT} In the third quarter, {LONG} The end."
    return texts


def page_html() -> str:
    """The article as a page: one <p> per paragraph, each quoted sentence in its own <span>."""
    parts = []
    for i, text in enumerate(paragraphs()):
        body = html.escape(text)
        for name, sentence in (("short", SHORT), ("long", LONG)):
            body = body.replace(
                html.escape(sentence), f'<span id="{name}">{html.escape(sentence)}</span>'
            )
        parts.append(f'<p id="p{i}">{body}</p>')
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Story</title>'
        "<style>body { max-width: 36em; margin: auto; font: 18px/1.6 serif }</style>"
        f"</head><body><h1>Story</h1>{''.join(parts)}</body></html>"
    )


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """The page at ``http://127.0.0.1:PORT/story`` (any query), served from a thread."""
    body = page_html().encode("utf-8")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # a test's output is no place for an access log

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/story"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    # Fail, never skip: a CI without the browser must not pass silently.
    assert CHROMIUM.exists() and CHROMEDRIVER.exists(), (
        "needs Debian's chromium and chromium-driver: apt-get install -y chromium chromium-driver"
    )
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    # The driver's path given: Selenium Manager, which would look for drivers online, stays off.
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


# Where the page is: its scroll position, and the boxes of the given elements in the viewport.
VIEW = """
const view = {scrollY: window.scrollY, height: window.innerHeight, hash: location.hash};
for (const id of arguments[0]) {
    const box = document.getElementById(id).getBoundingClientRect();
    view[id] = {top: box.top, bottom: box.bottom};
}
return view;
"""
WATCHED = ["short", "long", f"p{EARLY}"]


def visit(browser: webdriver.Chrome, url: str, settle: float = 5.0) -> dict[str, Any]:
    """Open ``url`` as a typed address would be (the driver's navigation is browser-initiated
    and has no opener, which Chrome requires before it applies a text fragment), then wait up
    to ``settle`` seconds for the page to scroll; returns where it ended up."""
    browser.get(url)
    deadline = time.monotonic() + settle
    view: dict[str, Any] = browser.execute_script(VIEW, WATCHED)
    while view["scrollY"] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
        view = browser.execute_script(VIEW, WATCHED)
    return view


def in_view(view: dict[str, Any], element: str) -> bool:
    """Whether the element is wholly on screen."""
    return view[element]["top"] >= 0 and view[element]["bottom"] <= view["height"]


def test_a_link_opens_the_page_at_a_short_sentence(site: str, browser: webdriver.Chrome) -> None:
    link = fragment_link(f"{site}?case=short", "\n".join(paragraphs()), [SHORT])
    assert link is not None and ",-" not in link  # one exact directive: the whole sentence
    view = visit(browser, link)
    assert view["scrollY"] > 3 * view["height"]  # screens down, past the fold
    assert in_view(view, "short")
    assert view["hash"] == ""  # Chrome hides the directive from the page's own scripts


def test_a_link_opens_the_page_at_a_long_sentence_not_at_its_opening_earlier(
    site: str, browser: webdriver.Chrome
) -> None:
    link = fragment_link(f"{site}?case=long", "\n".join(paragraphs()), [LONG])
    assert link is not None
    directive = parse_text_directive(link.split(":~:", 1)[1])
    # The opening occurs earlier, so the start alone is not enough: a prefix pins it.
    assert directive.end is not None and directive.prefix is not None
    view = visit(browser, link)
    assert view["scrollY"] > 3 * view["height"]
    assert in_view(view, "long")
    assert not in_view(view, f"p{EARLY}")

    # The control: the same directive without its prefix lands on the earlier paragraph, so
    # the checks above do tell one place from the other.
    astray = link.replace(link.split(":~:", 1)[1], directive._replace(prefix=None).encode())
    view = visit(browser, astray.replace("case=long", "case=astray"))
    assert in_view(view, f"p{EARLY}")
    assert not in_view(view, "long")


def test_the_same_link_without_the_fragment_does_not_scroll(
    site: str, browser: webdriver.Chrome
) -> None:
    link = fragment_link(f"{site}?case=plain", "\n".join(paragraphs()), [SHORT, LONG])
    assert link is not None and "#:~:text=" in link
    # Well past the moment a fragment scrolls the page (well under a second in the tests above).
    view = visit(browser, link.split("#", 1)[0], settle=1.5)
    assert view["scrollY"] == 0
    assert not in_view(view, "short") and not in_view(view, "long")
