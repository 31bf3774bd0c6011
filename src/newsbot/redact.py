"""What must never be shown: the ``user:password@`` of a URL, in an address or a message."""

from __future__ import annotations

import re

# "scheme://user:password@" (or "//user:password@") anywhere in a text, in whatever encoding
# httpx or Chroma printed it. A pattern, not a parser: it must also clean an address too
# broken to parse.
_CREDENTIALS = re.compile(r"((?:[a-zA-Z][a-zA-Z0-9+.-]*:)?//)[^/?#\s]*@")


def without_credentials(text: str) -> str:
    """``text`` with the ``user:password@`` part of every address in it removed: stored
    addresses and error messages are shown to people."""
    return _CREDENTIALS.sub(r"\1", text)
