"""What must never be shown: the ``user:password@`` of a URL, in an address or a message, and
the bot token, in a log."""

from __future__ import annotations

import logging
import re

# "scheme://user:password@" (or "//user:password@") anywhere in a text, in whatever encoding
# httpx or Chroma printed it. A pattern, not a parser: it must also clean an address too
# broken to parse.
_CREDENTIALS = re.compile(r"((?:[a-zA-Z][a-zA-Z0-9+.-]*:)?//)[^/?#\s]*@")


def without_credentials(text: str) -> str:
    """``text`` with the ``user:password@`` part of every address in it removed: stored
    addresses and error messages are shown to people."""
    return _CREDENTIALS.sub(r"\1", text)


# Loggers that print request URLs, which carry the bot token, at INFO or DEBUG.
TOKEN_LEAKING_LOGGERS = ("httpx", "httpcore")


class RedactToken(logging.Filter):
    """Replace the token in a record's message and traceback.

    On a logger it covers that logger's own records (httpx prints request URLs); on a handler
    it covers every record that reaches the handler, whichever logger it came from, e.g. an
    exception whose text quotes the token.
    """

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.token:
            return True
        message = record.getMessage()
        if self.token in message:
            record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when it is set, so the traceback is printed redacted.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text and self.token in record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info and self.token in record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True

    def redact(self, text: str) -> str:
        return text.replace(self.token, "<token>")


def quiet_token_leaking_loggers(token: str = "") -> None:
    """Keep ``httpx``/``httpcore`` at WARNING or above: their request lines contain the token.

    The level is set on the loggers themselves, so turning the root logger up to DEBUG later
    does not turn them up too. With a token, the token is also redacted from those loggers'
    records and from everything the root logger's handlers print.
    """
    for name in TOKEN_LEAKING_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)
        _add_redaction(logger, token)
    for handler in logging.getLogger().handlers:
        _add_redaction(handler, token)


def _add_redaction(target: logging.Filterer, token: str) -> None:
    if token and not any(isinstance(f, RedactToken) and f.token == token for f in target.filters):
        target.addFilter(RedactToken(token))
