"""The "same article" rules: when two inputs are one article (by address, id or text), what
an update keeps, and how inputs are cut into batches so that a changed text is an update.
Pure functions, over the library's types."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from urllib.parse import parse_qsl, quote_plus, urlencode, urlsplit, urlunsplit

from newsbot.errors import IngestError
from newsbot.index.records import StoredArticle
from newsbot.models import Article, ArticleRecord

Item = tuple[str, Article | IngestError]

_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_TRACKING_PARAMS = re.compile(r"^(utm_|fbclid$|gclid$|mc_cid$|mc_eid$)")


def normalise_url(url: str) -> str:
    """The key two URLs of the same article share: no fragment, tracking or trailing slash."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:  # out of range ("host:99999"): not a port anything can be fetched from
        return url.strip()
    if port and (parts.scheme, port) not in {("http", 80), ("https", 443)}:
        host = f"{host}:{port}"
    # Blank values kept: "story.php?1001" and "story.php?1002" are two articles.
    query = "&".join(
        urlencode([(k, v)]) if v else quote_plus(k)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not _TRACKING_PARAMS.match(k)
    )
    path = parts.path.rstrip("/") or "/"
    return urlunsplit(("https" if parts.scheme == "http" else parts.scheme, host, path, query, ""))


def content_hash(text: str) -> str:
    """A digest of the text that ignores case, Unicode forms and whitespace."""
    normal = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    return hashlib.sha256(normal.encode()).hexdigest()


def article_id(article: Article, url_key: str | None, digest: str) -> str:
    if article.id and _SAFE_ID.match(article.id):
        return article.id
    basis = article.id or url_key or digest
    return "a" + hashlib.sha256(basis.encode()).hexdigest()[:15]


# What an input may change of an article besides its text (the address and the id are how it
# is found; provenance stays the first ingest's).
_DESCRIPTION = ("title", "outlet", "published", "author")


# What an update that leaves it out keeps of the article it replaces (a title is never left out).
_KEPT = ("url", "outlet", "published", "author")


def description_of(item: Article | ArticleRecord) -> tuple[str | None, ...]:
    return tuple(getattr(item, name) for name in _DESCRIPTION)


def described(article: Article, previous: ArticleRecord | None) -> Article:
    """``article`` with what it leaves unknown (no date, no author…) taken from the article
    it replaces: a feed entry's page without a date must not erase the date the entry had."""
    if previous is None:
        return article
    kept = {name: getattr(article, name) or getattr(previous, name) for name in _KEPT}
    return dataclasses.replace(article, **kept)


def repeated(
    previous: ArticleRecord | None,
    same_text: ArticleRecord | None,
    digest: str,
    description: tuple[str | None, ...],
) -> ArticleRecord | None:
    """The article an input with text ``digest`` (and title, outlet, date and author
    ``description``) repeats, if any: the article it would replace when that already holds
    the text and the description; for a new article, the one holding the text.

    The one rule of the checks before an ingest and at its write."""
    if previous is not None:
        same = previous.content_hash == digest and description_of(previous) == description
        return previous if same else None
    return same_text


def text_of(article: StoredArticle) -> str | None:
    return article.record.content_hash


def address_of(article: StoredArticle) -> str | None:
    return article.url_key


def still_standing(
    found: dict[str, ArticleRecord],
    replacing: dict[str, StoredArticle],
    key: Callable[[StoredArticle], str | None],
) -> dict[str, ArticleRecord]:
    """The entries of ``found`` (the article holding each text or address) whose article
    ``replacing`` (articles about to be written, by id) leaves with that text or address."""
    return {
        value: record
        for value, record in found.items()
        if record.article_id not in replacing or key(replacing[record.article_id]) == value
    }


def batches(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    """Batches of at most ``size``. An article at an address (or with an id) already in the
    batch starts the next one: it is then checked against the one before it, as it would be
    in any later batch (a changed text is an update), not taken for its twin."""
    batch: list[Item] = []
    keys: set[str] = set()
    for item in items:
        article = item[1]
        own: set[str] = set()
        if isinstance(article, Article):
            if article.url:
                own.add("url:" + normalise_url(article.url))
            if article.id:
                own.add("id:" + article.id)
        if batch and (len(batch) >= size or own & keys):
            yield batch
            batch, keys = [], set()
        batch.append(item)
        keys |= own
    if batch:
        yield batch
