"""A Telegram Bot API stand-in served over real HTTP on loopback.

The real ``telegram.ext.Application`` runs against it unmodified::

    with BotApiServer("123:TOKEN") as server:
        app = (
            ApplicationBuilder()
            .token("123:TOKEN")
            .base_url(server.bot_api_url)        # f"{server.base_url}/bot"
            .base_file_url(server.file_api_url)  # f"{server.base_url}/file/bot"
            .build()
        )
        server.user_message("hello", user_id=42)
        ...
        await server.async_wait_for_messages(42, 1)

It validates what the bot sends the way Telegram does (HTML entities parsed with
tdlib's rules, 4096 UTF-16 code units after parsing, 64-byte ``callback_data``,
"message is not modified", ...) and answers with Telegram's error shape, so a test
can assert the bot never sent anything Telegram would refuse (``server.rejected``).

Only the standard library is used, so the module also runs on its own::

    python tests/servers/botapi.py --port 0 --token T

prints its base URL as the first line on stdout and serves until SIGTERM, SIGINT
or stdin closes. A small JSON control API under ``/_control/`` lets another
process push updates and read what the bot sent (see ``_CONTROL_ACTIONS``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import copy
import email.parser
import email.policy
import itertools
import json
import os
import re
import select
import signal
import socket
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple, TypeVar

__all__ = [
    "MAX_CALLBACK_DATA_BYTES",
    "MAX_CAPTION_LENGTH",
    "MAX_INLINE_RESULTS",
    "MAX_MESSAGE_LENGTH",
    "ApiCall",
    "BotApiServer",
    "HtmlParseError",
    "ParsedText",
    "Rejection",
    "parse_html",
    "utf16_length",
]

MAX_MESSAGE_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_INLINE_RESULTS = 50
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
MAX_UPDATES_PER_CALL = 100

JSONDict = dict[str, Any]
T = TypeVar("T")

# Parameters that arrive as strings in form/multipart bodies and must be decoded.
_JSON_FIELDS = frozenset(
    [
        "allowed_updates",
        "button",
        "caption_entities",
        "commands",
        "entities",
        "link_preview_options",
        "reply_markup",
        "reply_parameters",
        "results",
        "scope",
    ]
)
_INT_FIELDS = frozenset(
    [
        "cache_time",
        "from_chat_id",
        "limit",
        "message_id",
        "message_thread_id",
        "offset",
        "reply_to_message_id",
        "user_id",
    ]
)
_FLOAT_FIELDS = frozenset({"timeout"})
_BOOL_FIELDS = frozenset(
    [
        "allow_sending_without_reply",
        "disable_content_type_detection",
        "disable_notification",
        "disable_web_page_preview",
        "drop_pending_updates",
        "is_personal",
        "protect_content",
        "show_alert",
    ]
)
_CHAT_ACTIONS = frozenset(
    [
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    ]
)
# Update types delivered when allowed_updates is unset or empty (Telegram's default).
_DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_BUTTON_ACTIONS = tuple(
    [
        "url",
        "callback_data",
        "web_app",
        "login_url",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "copy_text",
        "callback_game",
        "pay",
    ]
)
_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
_AUTO_ENTITY_RE = re.compile(
    r"(?P<bot_command>(?<![\w/])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/]))"
    r"|(?P<mention>(?<!\w)@[A-Za-z0-9_]{2,32}(?!\w))"
    r"|(?P<url>\bhttps?://[^\s<>\"]+)"
)
_CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
_CONFLICT_POLL = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
_QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"


# --------------------------------------------------------------------------- records


class ApiCall(NamedTuple):
    """One Bot API request the bot made (recorded even when it was refused)."""

    method: str
    params: JSONDict


class Rejection(NamedTuple):
    """A request the stand-in refused, with Telegram's ``description``."""

    method: str
    params: JSONDict
    status: int
    description: str


@dataclass
class _Fault:
    status: int
    description: str
    retry_after: int | None
    remaining: int
    stall: float = 0.0  # seconds to wait before answering (a client timeout, if long enough)
    hang_up: bool = False  # close the connection without an answer


# The status handle_api_request returns when the connection is to be closed unanswered.
HANG_UP = -1
FILE_DOWNLOAD = "file download"  # the "method" of fail_next for the file server


@dataclass
class _StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    file_name: str
    mime_type: str
    data: bytes

    def as_document(self) -> JSONDict:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_name": self.file_name,
            "mime_type": self.mime_type,
            "file_size": len(self.data),
        }


class ApiError(Exception):
    """A Bot API error answer: HTTP status, ``description`` and optional ``parameters``."""

    def __init__(self, status: int, description: str, parameters: JSONDict | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def payload(self) -> JSONDict:
        body: JSONDict = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


class _ClientGone(Exception):
    """The HTTP client hung up while its request was waiting (a cancelled long poll)."""


class _OutageStarted(Exception):
    """An outage began while a request was waiting (a long poll): it fails like the rest."""


def _client_gone(connection: socket.socket | None) -> bool:
    if connection is None:
        return False
    try:
        readable, _, _ = select.select([connection], [], [], 0)
        return bool(readable) and connection.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


def _bad_request(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: {detail}")


# --------------------------------------------------------------------------- HTML


class HtmlParseError(ValueError):
    """The text is not valid Telegram HTML; ``str(err)`` is tdlib's wording."""


@dataclass(frozen=True)
class ParsedText:
    """Text after entity parsing and whitespace trimming, with Bot API entity dicts."""

    text: str
    entities: list[JSONDict]


def utf16_length(text: str) -> int:
    """Length in UTF-16 code units, the unit Telegram counts limits and offsets in."""
    return len(text.encode("utf-16-le")) // 2


_HTML_TAGS = frozenset(
    [
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "span",
        "pre",
        "code",
        "blockquote",
    ]
)
_SIMPLE_TAG_ENTITIES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "u": "underline",
    "ins": "underline",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_HTML_SPACES = " \t\r\n\v\f"


def _decode_entity(text: str, pos: int) -> tuple[str, int] | None:
    """Decode the HTML entity starting at ``text[pos] == "&"`` as tdlib does.

    Returns the character and the position after the entity, or None when it is not
    one of the supported entities (Telegram then keeps the ``&`` as plain text).
    """
    end = pos + 1
    if text[end : end + 1] == "#":
        end += 1
        hexadecimal = text[end : end + 1] == "x"
        if hexadecimal:
            end += 1
        digits = "0123456789abcdefABCDEF" if hexadecimal else "0123456789"
        start = end
        while end < len(text) and text[end] in digits:
            end += 1
        if end == start or end - pos >= 10:
            return None
        code = int(text[start:end], 16 if hexadecimal else 10)
        if code == 0 or code >= 0x10FFFF:
            return None
        char = chr(code)
    else:
        while end < len(text) and text[end].isascii() and text[end].isalpha():
            end += 1
        char = _NAMED_ENTITIES.get(text[pos + 1 : end], "")
        if not char:
            return None
    if text[end : end + 1] == ";":
        end += 1
    return char, end


def parse_html(text: str, *, strict_entities: bool = False) -> ParsedText:
    """Parse Telegram HTML the way tdlib's ``parse_html`` does.

    Args:
        text: the ``text`` parameter sent with ``parse_mode=HTML``.
        strict_entities: also refuse ``&`` that does not start a supported entity
            (``&nbsp;``, a bare ``&``). Telegram itself shows those literally.

    Returns:
        The plain text and its entities, before whitespace trimming.

    Raises:
        HtmlParseError: with the wording Telegram puts after "can't parse entities: ".
    """

    def byte_offset(index: int) -> int:
        return len(text[:index].encode("utf-8", "surrogatepass"))

    def at(index: int) -> str:
        return text[index] if index < len(text) else ""

    def is_space(char: str) -> bool:
        # tdlib works on a NUL-terminated string and counts NUL as space.
        return char == "" or char in _HTML_SPACES

    out: list[str] = []
    utf16_offset = 0
    entities: list[JSONDict] = []
    # (tag name, argument, utf16 start, index into ``out`` where the content starts)
    stack: list[tuple[str, str, int, int]] = []
    i = 0
    n = len(text)
    while i < n:
        char = text[i]
        if char == "&":
            decoded = _decode_entity(text, i)
            if decoded is not None:
                out.append(decoded[0])
                utf16_offset += utf16_length(decoded[0])
                i = decoded[1]
                continue
            if strict_entities:
                raise HtmlParseError(
                    f"Unsupported HTML entity at byte offset {byte_offset(i)} (stand-in strict "
                    "mode; Telegram would show it as literal text)"
                )
        if char != "<":
            out.append(char)
            utf16_offset += utf16_length(char)
            i += 1
            continue

        begin = i
        i += 1
        if at(i) != "/":
            while not is_space(at(i)) and at(i) != ">":
                i += 1
            if at(i) == "":
                raise HtmlParseError(f"Unclosed start tag at byte offset {byte_offset(begin)}")
            tag = text[begin + 1 : i].lower()
            if tag not in _HTML_TAGS:
                raise HtmlParseError(
                    f'Unsupported start tag "{tag}" at byte offset {byte_offset(begin)}'
                )
            argument = ""
            while at(i) != ">":
                while at(i) != "" and is_space(at(i)):
                    i += 1
                if at(i) == ">":
                    break
                name_start = i
                while not is_space(at(i)) and at(i) not in ("=", ">"):
                    i += 1
                attribute = text[name_start:i]
                if not attribute:
                    raise HtmlParseError(
                        f'Empty attribute name in the tag "{tag}" at byte offset '
                        f"{byte_offset(begin)}"
                    )
                while at(i) != "" and is_space(at(i)):
                    i += 1
                if at(i) != "=":
                    if tag == "blockquote" and attribute == "expandable":
                        argument = "expandable"
                        continue
                    if at(i) == "":
                        raise HtmlParseError(
                            f'Unclosed start tag "{tag}" at byte offset {byte_offset(begin)}'
                        )
                    raise HtmlParseError(
                        "Expected equal sign in declaration of an attribute of the tag "
                        f'"{tag}" at byte offset {byte_offset(begin)}'
                    )
                i += 1
                while at(i) != "" and is_space(at(i)):
                    i += 1
                if at(i) == "":
                    raise HtmlParseError(
                        f'Unclosed start tag "{tag}" at byte offset {byte_offset(begin)}'
                    )
                if at(i) not in ("'", '"'):
                    token_start = i
                    while at(i) != "" and ((at(i).isascii() and at(i).isalnum()) or at(i) in ".-"):
                        i += 1
                    value = text[token_start:i].lower()
                    if not is_space(at(i)) and at(i) != ">":
                        where = byte_offset(token_start)
                        raise HtmlParseError(f"Unexpected end of name token at byte offset {where}")
                else:
                    quote = at(i)
                    i += 1
                    chars: list[str] = []
                    while at(i) not in (quote, ""):
                        if at(i) == "&":
                            decoded = _decode_entity(text, i)
                            if decoded is not None:
                                chars.append(decoded[0])
                                i = decoded[1]
                                continue
                        chars.append(at(i))
                        i += 1
                    if at(i) == quote:
                        i += 1
                    value = "".join(chars)
                if at(i) == "":
                    raise HtmlParseError(f"Unclosed start tag at byte offset {byte_offset(begin)}")
                if tag == "a" and attribute == "href":
                    argument = value
                elif tag == "code" and attribute == "class" and value.startswith("language-"):
                    argument = value.removeprefix("language-")
                elif tag == "span" and attribute == "class" and value.startswith("tg-"):
                    argument = value.removeprefix("tg-")
                elif tag == "tg-emoji" and attribute == "emoji-id":
                    argument = value
            if tag == "span" and argument != "spoiler":
                raise HtmlParseError(
                    f'Tag "span" must have class "tg-spoiler" at byte offset {byte_offset(begin)}'
                )
            stack.append((tag, argument, utf16_offset, len(out)))
            i += 1  # past ">"
            continue

        # an end tag
        if not stack:
            raise HtmlParseError(f"Unexpected end tag at byte offset {byte_offset(begin)}")
        while not is_space(at(i)) and at(i) != ">":
            i += 1
        end_tag = text[begin + 2 : i].lower()
        while at(i) != "" and is_space(at(i)):
            i += 1
        if at(i) != ">":
            raise HtmlParseError(f"Unclosed end tag at byte offset {byte_offset(begin)}")
        tag, argument, start, out_start = stack.pop()
        if end_tag and end_tag != tag:
            raise HtmlParseError(
                f"Unmatched end tag at byte offset {byte_offset(begin)}, "
                f'expected "</{tag}>", found "</{end_tag}>"'
            )
        i += 1  # past ">"
        length = utf16_offset - start
        if length <= 0:
            continue
        entity = _html_entity(tag, argument, start, length, "".join(out[out_start:]), entities)
        if entity is not None:
            entities.append(entity)
    if stack:
        raise HtmlParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    result = "".join(out)
    if any(0xD800 <= ord(c) <= 0xDFFF for c in result):
        raise HtmlParseError(
            "Text contains invalid Unicode characters after decoding HTML entities, "
            "check for unmatched surrogate code units"
        )
    return ParsedText(result, entities)


def _html_entity(
    tag: str, argument: str, offset: int, length: int, inner_text: str, entities: list[JSONDict]
) -> JSONDict | None:
    """The Bot API entity for a closed tag; merges ``<pre><code class=...>`` as tdlib does."""
    entity: JSONDict = {"offset": offset, "length": length}
    if tag in _SIMPLE_TAG_ENTITIES:
        return {"type": _SIMPLE_TAG_ENTITIES[tag], **entity}
    if tag == "tg-emoji":
        if not argument.isdigit() or int(argument) == 0:
            raise HtmlParseError("Invalid custom emoji identifier specified")
        return {"type": "custom_emoji", **entity, "custom_emoji_id": argument}
    if tag == "blockquote":
        kind = "expandable_blockquote" if argument == "expandable" else "blockquote"
        return {"type": kind, **entity}
    previous = entities[-1] if entities else None
    same_span = (
        previous is not None and previous["offset"] == offset and previous["length"] == length
    )
    if tag == "pre":
        if same_span and previous is not None and previous["type"] == "code":
            language = previous.pop("_language", "")
            previous["type"] = "pre"
            if language:
                previous["language"] = language
            return None
        return {"type": "pre", **entity}
    if tag == "code":
        if same_span and previous is not None and previous["type"] == "pre":
            if argument:
                previous["language"] = argument
            return None
        code: JSONDict = {"type": "code", **entity}
        if argument:
            code["_language"] = argument  # kept only if a <pre> wraps it
        return code
    # tag == "a": an empty href links the text itself; unusable links are dropped silently.
    url = _checked_link(argument or inner_text)
    return {"type": "text_link", **entity, "url": url} if url else None


def _checked_link(url: str) -> str:
    url = url.strip()
    if not url or any(c.isspace() for c in url):
        return ""
    scheme, sep, _ = url.partition("://")
    if not sep:
        return f"http://{url}" if "." in url else ""
    return url if scheme.lower() in {"http", "https", "tg", "ton", "ftp"} else ""


def _trim(parsed: ParsedText) -> ParsedText:
    """Strip leading/trailing whitespace and clip entities, as Telegram does."""
    text = parsed.text.lstrip(_HTML_SPACES)
    shift = utf16_length(parsed.text) - utf16_length(text)
    text = text.rstrip(_HTML_SPACES)
    total = utf16_length(text)
    entities: list[JSONDict] = []
    for entity in parsed.entities:
        entity = {k: v for k, v in entity.items() if not k.startswith("_")}
        start = max(0, entity["offset"] - shift)
        end = min(total, entity["offset"] + entity["length"] - shift)
        if end > start:
            entities.append({**entity, "offset": start, "length": end - start})
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return ParsedText(text, entities)


# --------------------------------------------------------------------------- helpers


def _coerce(name: str, value: Any) -> Any:
    """Decode a string parameter from a form body into the type Telegram expects."""
    if not isinstance(value, str):
        return value
    try:
        if name in _JSON_FIELDS:
            return json.loads(value)
        if name in _INT_FIELDS:
            return int(value)
        if name in _FLOAT_FIELDS:
            return float(value)
    except ValueError as exc:
        raise _bad_request(f"can't parse {name} parameter") from exc
    if name in _BOOL_FIELDS:
        return value.lower() in ("true", "1")
    if name == "chat_id" and re.fullmatch(r"-?\d+", value):
        return int(value)
    return value


def _parse_body(
    query: str, content_type: str, body: bytes
) -> tuple[JSONDict, dict[str, tuple[str, str, bytes]]]:
    """Parameters from the query string plus a JSON, form or multipart body."""
    params: JSONDict = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
    files: dict[str, tuple[str, str, bytes]] = {}
    media_type = content_type.split(";", 1)[0].strip().lower()
    if not body:
        pass
    elif media_type == "application/json":
        try:
            decoded = json.loads(body)
        except ValueError as exc:
            raise _bad_request("can't parse JSON object") from exc
        if not isinstance(decoded, dict):
            raise _bad_request("JSON object expected")
        params.update(decoded)
    elif media_type == "application/x-www-form-urlencoded":
        params.update(urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    elif media_type == "multipart/form-data":
        header = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(header + body)
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not isinstance(name, str):
                continue
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
            filename = part.get_filename()
            if filename is not None:
                files[name] = (filename, part.get_content_type(), data)
            else:
                params[name] = data.decode(part.get_content_charset() or "utf-8")
    return {name: _coerce(name, value) for name, value in params.items()}, files


def _update_type(update: JSONDict) -> str:
    return next((key for key in update if key != "update_id"), "")


# --------------------------------------------------------------------------- server


class BotApiServer:
    """A Telegram Bot API stand-in on a real loopback HTTP server.

    Args:
        token: the bot token; requests with another token get 401 Unauthorized.
        bot_username: the bot's username in ``getMe`` and in sent messages.
        host: interface to bind (loopback by default).
        port: TCP port; 0 picks a free one.
        strict_html_entities: refuse ``&`` that does not start a supported HTML
            entity. Telegram shows those literally; strict mode catches unescaped text.

    Use as a context manager (or ``start()``/``stop()``). All test controls are
    thread-safe and may be called from the test while the bot talks to the server.
    """

    def __init__(
        self,
        token: str,
        *,
        bot_username: str = "newsbot_test_bot",
        host: str = "127.0.0.1",
        port: int = 0,
        strict_html_entities: bool = False,
    ) -> None:
        self.token = token
        self.bot_username = bot_username
        self.strict_html_entities = strict_html_entities
        self._host = host
        self._port = port
        bot_id = token.split(":", 1)[0]
        self.bot_user: JSONDict = {
            "id": int(bot_id) if bot_id.isdigit() else 1000000001,
            "is_bot": True,
            "first_name": "Newsbot Test",
            "username": bot_username,
        }
        self._cond = threading.Condition(threading.RLock())
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        self._closing = False
        self._connections: set[socket.socket] = set()
        self._request = threading.local()  # .connection of the request being served

        self._calls: list[ApiCall] = []
        self._rejected: list[Rejection] = []
        self._faults: dict[str, list[_Fault]] = {}
        self._faults_served: list[tuple[str, int]] = []
        self._outage: _Fault | None = None

        self._update_ids = itertools.count(1)
        self._updates: list[JSONDict] = []
        self._allowed_updates: list[str] | None = None
        self._poll_generation = 0

        self._chats: dict[int, JSONDict] = {}
        self._users: dict[int, JSONDict] = {}
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._messages: dict[tuple[int, int], JSONDict] = {}
        self._bot_message_keys: list[tuple[int, int]] = []
        self._ids = itertools.count(1)
        self._files: dict[str, _StoredFile] = {}
        self._files_by_path: dict[str, _StoredFile] = {}
        self._pending_callback_queries: dict[str, JSONDict] = {}
        self._pending_inline_queries: dict[str, JSONDict] = {}

        self.callback_answers: list[JSONDict] = []
        self.inline_answers: list[JSONDict] = []
        self.chat_actions: list[tuple[int, str]] = []
        self.commands: dict[tuple[str, str], list[JSONDict]] = {}
        self.webhook: JSONDict | None = None

        self._methods: dict[str, tuple[str, Callable[[JSONDict, dict[str, Any]], Any]]] = {
            name.lower(): (name, handler)
            for name, handler in {
                "getMe": self._get_me,
                "getUpdates": self._get_updates,
                "sendMessage": self._send_message,
                "editMessageText": self._edit_message_text,
                "editMessageReplyMarkup": self._edit_message_reply_markup,
                "deleteMessage": self._delete_message,
                "sendDocument": self._send_document,
                "answerCallbackQuery": self._answer_callback_query,
                "answerInlineQuery": self._answer_inline_query,
                "sendChatAction": self._send_chat_action,
                "setMyCommands": self._set_my_commands,
                "deleteMyCommands": self._delete_my_commands,
                "getMyCommands": self._get_my_commands,
                "setWebhook": self._set_webhook,
                "deleteWebhook": self._delete_webhook,
                "getWebhookInfo": self._get_webhook_info,
                "getFile": self._get_file,
                "close": self._harmless,
                "logOut": self._harmless,
            }.items()
        }

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> BotApiServer:
        """Bind and serve in a daemon thread; returns self."""
        if self._httpd is not None:
            return self
        self._closing = False
        self._httpd = _HttpServer((self._host, self._port), _Handler, api=self)
        self._port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="botapi-standin",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Wake pending long polls, stop serving and close open connections."""
        httpd = self._httpd
        if httpd is None:
            return
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        httpd.shutdown()
        httpd.server_close()
        with self._cond:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> BotApiServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT`` (no token)."""
        if self._httpd is None:
            raise RuntimeError("BotApiServer is not running; use it as a context manager")
        return f"http://{self._host}:{self._port}"

    @property
    def bot_api_url(self) -> str:
        """Value for ``ApplicationBuilder.base_url`` / ``Bot(base_url=...)``."""
        return f"{self.base_url}/bot"

    @property
    def file_api_url(self) -> str:
        """Value for ``ApplicationBuilder.base_file_url`` / ``Bot(base_file_url=...)``."""
        return f"{self.base_url}/file/bot"

    # ------------------------------------------------------------------ updates in

    def push_update(self, update: JSONDict) -> int:
        """Queue a raw update for ``getUpdates``; assigns and returns its ``update_id``."""
        with self._cond:
            update = copy.deepcopy(update)
            update["update_id"] = next(self._update_ids)
            self._updates.append(update)
            self._cond.notify_all()
            return int(update["update_id"])

    def add_user(
        self,
        user_id: int,
        *,
        first_name: str | None = None,
        username: str | None = None,
        language_code: str = "en",
        is_bot: bool = False,
    ) -> JSONDict:
        """Register (or update) a Telegram user (another bot, with ``is_bot``); returns its
        ``User`` dict."""
        with self._cond:
            user = self._users.setdefault(
                user_id,
                {
                    "id": user_id,
                    "is_bot": is_bot,
                    "first_name": f"User{user_id}",
                    "language_code": language_code,
                },
            )
            if first_name is not None:
                user["first_name"] = first_name
            if username is not None:
                user["username"] = username
            return copy.deepcopy(user)

    def add_chat(
        self,
        chat_id: int,
        chat_type: str = "private",
        *,
        title: str | None = None,
        username: str | None = None,
        first_name: str | None = None,
    ) -> JSONDict:
        """Register a chat the bot may write to (unknown chats get "chat not found")."""
        if chat_type not in ("private", "group", "supergroup", "channel"):
            raise ValueError(f"unknown chat type {chat_type!r}")
        with self._cond:
            chat: JSONDict = {"id": chat_id, "type": chat_type}
            if chat_type == "private":
                user = self.add_user(chat_id, first_name=first_name, username=username)
                chat["first_name"] = user["first_name"]
                if "username" in user:
                    chat["username"] = user["username"]
            else:
                chat["title"] = title or f"Test {chat_type} {chat_id}"
                if username:
                    chat["username"] = username
            self._chats[chat_id] = chat
            return copy.deepcopy(chat)

    def user_message(
        self,
        text: str,
        *,
        user_id: int,
        chat_id: int | None = None,
        chat_type: str = "private",
        reply_to_message_id: int | None = None,
        entities: list[JSONDict] | None = None,
        username: str | None = None,
        document: str | JSONDict | None = None,
        first_name: str | None = None,
        via_bot: JSONDict | None = None,
    ) -> JSONDict:
        """Queue a message from a user; returns the queued update.

        Args:
            text: message text (the caption when ``document`` is given).
            user_id: the sender.
            chat_id: defaults to ``user_id`` for private chats and to a fixed
                negative id for groups/supergroups.
            chat_type: "private", "group" or "supergroup".
            reply_to_message_id: makes it a reply to that message of the chat.
            entities: explicit entities; by default bot commands, @mentions and
                http(s) URLs are detected as Telegram clients do.
            username: the sender's username.
            document: a ``file_id`` from :meth:`add_file` (or a Document dict).
            first_name: the sender's first name.
            via_bot: the bot whose inline result the user sent (e.g. :attr:`bot_user`).
        """
        with self._cond:
            sender = self.add_user(user_id, first_name=first_name, username=username)
            if chat_id is None:
                chat_id = {"private": user_id, "group": -4000000001}.get(chat_type, -1001000000001)
            chat = self._chats.get(chat_id)
            if chat is None or chat["type"] != chat_type:
                chat = self.add_chat(chat_id, chat_type, username=username, first_name=first_name)
            if entities is None:
                entities = self.detect_entities(text)
            message = self._new_message(chat_id, sender)
            if document is not None:
                if isinstance(document, str):
                    if document not in self._files:
                        raise KeyError(f"unknown file_id {document!r}; use add_file first")
                    document = self._files[document].as_document()
                message["document"] = copy.deepcopy(document)
                if text:
                    message["caption"] = text
                    if entities:
                        message["caption_entities"] = entities
            else:
                message["text"] = text
                if entities:
                    message["entities"] = entities
            if reply_to_message_id is not None:
                message["reply_to_message"] = self._reply_target(chat_id, reply_to_message_id)
            if via_bot is not None:
                message["via_bot"] = copy.deepcopy(via_bot)
            update: JSONDict = {"message": copy.deepcopy(message)}
            update["update_id"] = self.push_update(update)
            return update

    def callback_query(
        self, user_id: int, message: JSONDict, data: str, *, username: str | None = None
    ) -> JSONDict:
        """Queue a button press on ``message`` (a sent message dict, or one with
        ``chat_id`` and ``message_id``); returns the queued update."""
        with self._cond:
            sender = self.add_user(user_id, username=username)
            chat_id = message["chat"]["id"] if "chat" in message else message["chat_id"]
            stored = self._messages.get((chat_id, message["message_id"]), message)
            query_id = str(next(self._ids) + 4_000_000_000_000)
            query = {
                "id": query_id,
                "from": sender,
                "message": copy.deepcopy(stored),
                "chat_instance": str(abs(chat_id) * 7 + 13),
                "data": data,
            }
            self._pending_callback_queries[query_id] = query
            update: JSONDict = {"callback_query": query}
            update["update_id"] = self.push_update(update)
            return update

    def inline_query(
        self,
        user_id: int,
        query: str,
        *,
        offset: str = "",
        chat_type: str = "private",
        username: str | None = None,
    ) -> JSONDict:
        """Queue an inline query (``@bot query``); returns the queued update."""
        with self._cond:
            sender = self.add_user(user_id, username=username)
            query_id = str(next(self._ids) + 5_000_000_000_000)
            inline = {
                "id": query_id,
                "from": sender,
                "query": query,
                "offset": offset,
                "chat_type": chat_type,
            }
            self._pending_inline_queries[query_id] = inline
            update: JSONDict = {"inline_query": inline}
            update["update_id"] = self.push_update(update)
            return update

    def add_file(
        self, data: bytes, file_name: str, mime_type: str = "application/octet-stream"
    ) -> str:
        """Store bytes as a Telegram file; returns its ``file_id`` (getFile + download)."""
        with self._cond:
            number = next(self._ids)
            suffix = file_name.rsplit(".", 1)[-1] if "." in file_name else "bin"
            stored = _StoredFile(
                file_id=f"BQACAgIAAxkBAAI{number:08d}",
                file_unique_id=f"AgAD{number:06d}",
                file_path=f"documents/file_{number}.{suffix}",
                file_name=file_name,
                mime_type=mime_type,
                data=bytes(data),
            )
            self._files[stored.file_id] = stored
            self._files_by_path[stored.file_path] = stored
            return stored.file_id

    def file_bytes(self, file_id: str) -> bytes:
        """The content of a stored file (e.g. one the bot uploaded with sendDocument)."""
        with self._cond:
            return self._files[file_id].data

    def detect_entities(self, text: str) -> list[JSONDict]:
        """Bot commands, @mentions and URLs, as a Telegram client would mark them."""
        entities = []
        for match in _AUTO_ENTITY_RE.finditer(text):
            kind = match.lastgroup or "url"
            offset = utf16_length(text[: match.start()])
            entities.append({"type": kind, "offset": offset, "length": utf16_length(match.group())})
        return entities

    # ------------------------------------------------------------------ records out

    @property
    def calls(self) -> list[ApiCall]:
        """Every Bot API call made so far, in order, as ``(method, params)``."""
        with self._cond:
            return list(self._calls)

    @property
    def rejected(self) -> list[Rejection]:
        """Requests refused with a Telegram error (injected faults excluded)."""
        with self._cond:
            return list(self._rejected)

    @property
    def faults_served(self) -> list[tuple[str, int]]:
        """``(method, status)`` of each fault injected with :meth:`fail_next`."""
        with self._cond:
            return list(self._faults_served)

    @property
    def pending_updates(self) -> list[JSONDict]:
        """Updates queued and not yet confirmed by the bot."""
        with self._cond:
            return copy.deepcopy(self._updates)

    def calls_to(self, method: str) -> list[JSONDict]:
        """Params of every call to ``method`` (case-insensitive)."""
        wanted = method.lower()
        with self._cond:
            return [params for name, params in self._calls if name.lower() == wanted]

    def call_count(self, method: str) -> int:
        """How many times the bot called ``method`` (faulted attempts included)."""
        return len(self.calls_to(method))

    def sent_messages(self, chat_id: int | None = None) -> list[JSONDict]:
        """Messages the bot sent (current state after edits; deleted ones left out)."""
        with self._cond:
            return [
                copy.deepcopy(self._messages[key])
                for key in self._bot_message_keys
                if key in self._messages and (chat_id is None or key[0] == chat_id)
            ]

    def message(self, chat_id: int, message_id: int) -> JSONDict | None:
        """A stored message (from the bot or a user), or None."""
        with self._cond:
            found = self._messages.get((chat_id, message_id))
            return copy.deepcopy(found) if found is not None else None

    def wait_for(
        self, predicate: Callable[[], T | None], timeout: float = 10.0, *, what: str = ""
    ) -> T:
        """Block until ``predicate()`` is truthy and return its value.

        The predicate is re-evaluated each time the server's state changes. Do not
        call this from the event loop the bot runs on: use :meth:`async_wait_for`.

        Raises:
            TimeoutError: with the recent calls and rejections, to explain why.
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError(
                "BotApiServer.wait_for would block the running event loop (and the bot on "
                "it); use `await server.async_wait_for(...)`"
            )
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                result = predicate()
                if result:
                    return result
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(self._timeout_report(what or repr(predicate), timeout))
                self._cond.wait(min(remaining, 0.25))

    def wait_for_messages(
        self, chat_id: int | None, count: int = 1, timeout: float = 10.0
    ) -> list[JSONDict]:
        """Block until the bot has sent ``count`` messages to ``chat_id``; returns them."""

        def enough() -> list[JSONDict] | None:
            sent = self.sent_messages(chat_id)
            return sent if len(sent) >= count else None

        return self.wait_for(enough, timeout, what=f"{count} message(s) sent to chat {chat_id}")

    async def async_wait_for(
        self, predicate: Callable[[], T | None], timeout: float = 10.0, *, what: str = ""
    ) -> T:
        """:meth:`wait_for` for async tests: waits in a thread, the loop keeps running."""
        return await asyncio.to_thread(self.wait_for, predicate, timeout, what=what)

    async def async_wait_for_messages(
        self, chat_id: int | None, count: int = 1, timeout: float = 10.0
    ) -> list[JSONDict]:
        """:meth:`wait_for_messages` for async tests."""
        return await asyncio.to_thread(self.wait_for_messages, chat_id, count, timeout)

    def _timeout_report(self, what: str, timeout: float) -> str:
        recent = [name for name, _ in self._calls if name != "getUpdates"][-10:]
        rejected = [f"{r.method}: {r.description}" for r in self._rejected[-5:]]
        return (
            f"timed out after {timeout}s waiting for {what}; recent calls: {recent}; "
            f"rejected: {rejected}; updates not yet fetched: {len(self._updates)}"
        )

    # ------------------------------------------------------------------ faults

    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int = 1,
        description: str | None = None,
        times: int = 1,
        stall: float = 0.0,
        hang_up: bool = False,
    ) -> None:
        """Make the next ``times`` calls to ``method`` fail, without performing them.

        429 answers ``Too Many Requests: retry after N`` with ``parameters.retry_after``
        as Telegram does; other statuses use ``description`` or the HTTP phrase
        (e.g. 500 "Internal Server Error", 502 "Bad Gateway"). ``stall`` waits that many
        seconds before answering (longer than the client's read timeout, it is a timeout);
        ``hang_up`` closes the connection without any answer (the status is then 0).
        ``method`` :data:`FILE_DOWNLOAD` makes the file server's next downloads fail.
        """
        fault = self._fault(status, retry_after, description, times, stall, hang_up)
        with self._cond:
            self._faults.setdefault(method.lower(), []).append(fault)

    def start_outage(self, status: int = 502, *, hang_up: bool = False) -> None:
        """Fail every Bot API call, long polls already waiting included, until
        :meth:`end_outage`: the API is down (``status``) or unreachable (``hang_up``)."""
        with self._cond:
            self._outage = self._fault(status, 1, None, 1, 0.0, hang_up)
            self._cond.notify_all()

    def end_outage(self) -> None:
        """The API is back."""
        with self._cond:
            self._outage = None
            self._cond.notify_all()

    @staticmethod
    def _fault(
        status: int,
        retry_after: int,
        description: str | None,
        times: int,
        stall: float,
        hang_up: bool,
    ) -> _Fault:
        if hang_up:
            return _Fault(0, "connection closed", None, times, stall, hang_up=True)
        if status == 429:
            text = description or f"Too Many Requests: retry after {retry_after}"
            return _Fault(status, text, retry_after, times, stall)
        return _Fault(status, description or HTTPStatus(status).phrase, None, times, stall)

    def _take_fault(self, method: str) -> _Fault | None:
        if self._outage is not None:
            self._faults_served.append((method, self._outage.status))
            return self._outage
        queue = self._faults.get(method.lower())
        if not queue:
            return None
        fault = queue[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            queue.pop(0)
        self._faults_served.append((method, fault.status))
        return fault

    def _serve_fault(self, fault: _Fault) -> tuple[int, JSONDict]:
        """Answer with a fault; called without the lock held, since it may stall."""
        if fault.stall:
            time.sleep(fault.stall)
        if fault.hang_up:
            return HANG_UP, {}
        parameters = {"retry_after": fault.retry_after} if fault.retry_after is not None else None
        return fault.status, ApiError(fault.status, fault.description, parameters).payload()

    # ------------------------------------------------------------------ dispatch

    def handle_api_request(
        self,
        token: str,
        method: str,
        params: JSONDict,
        files: dict[str, Any],
        connection: socket.socket | None = None,
    ) -> tuple[int, JSONDict]:
        """Serve one Bot API call; returns the HTTP status and the JSON body."""
        self._request.connection = connection
        if token != self.token:
            return 401, ApiError(401, "Unauthorized").payload()
        entry = self._methods.get(method.lower())
        with self._cond:
            if entry is None:
                error = ApiError(404, "Not Found")
                self._rejected.append(Rejection(method, params, 404, error.description))
                self._cond.notify_all()
                return 404, error.payload()
            name, handler = entry
            self._calls.append(ApiCall(name, params))
            self._cond.notify_all()
            fault = self._take_fault(name)
            if fault is None:
                try:
                    result = handler(params, files)
                except _ClientGone:
                    return 499, {"ok": False, "error_code": 499, "description": "client went away"}
                except _OutageStarted:
                    fault = self._outage
                except ApiError as error:
                    self._rejected.append(Rejection(name, params, error.status, error.description))
                    self._cond.notify_all()
                    return error.status, error.payload()
            if fault is None:
                self._cond.notify_all()
                if isinstance(result, _WithDescription):
                    return 200, {"ok": True, "result": result.result, "description": result.text}
                return 200, {"ok": True, "result": result}
        # Outside the lock: a stalling fault must not hold up other requests.
        return self._serve_fault(fault)

    def handle_file_download(self, token: str, file_path: str) -> tuple[int, str, bytes]:
        """Serve ``/file/bot<token>/<file_path>``: status, content type, body."""
        if token != self.token:
            return (
                401,
                "application/json",
                json.dumps(ApiError(401, "Unauthorized").payload()).encode(),
            )
        with self._cond:
            stored = self._files_by_path.get(file_path)
            fault = self._take_fault(FILE_DOWNLOAD)
        if fault is not None:  # fail_next(FILE_DOWNLOAD, ...): the file server's own faults
            status, payload = self._serve_fault(fault)
            return status, "application/json", json.dumps(payload).encode()
        if stored is None:
            return (
                404,
                "application/json",
                json.dumps(ApiError(404, "Not Found").payload()).encode(),
            )
        return 200, stored.mime_type, stored.data

    # ------------------------------------------------------------------ validation

    def _format_text(
        self, text: Any, parse_mode: Any, entities: Any, *, limit: int, kind: str
    ) -> ParsedText:
        if not isinstance(text, str) or not text:
            raise _bad_request(f"{kind} text is empty")
        mode = (parse_mode or "").lower()
        if mode == "html":
            try:
                parsed = parse_html(text, strict_entities=self.strict_html_entities)
            except HtmlParseError as exc:
                raise _bad_request(f"can't parse entities: {exc}") from None
        elif mode in ("", "markdown", "markdownv2"):
            # Markdown is not parsed by the stand-in; the text is kept verbatim.
            parsed = ParsedText(text, list(entities or []) if not mode else [])
        else:
            raise _bad_request("unsupported parse_mode")
        parsed = _trim(parsed)
        if not parsed.text:
            raise _bad_request(f"{kind} text is empty")
        if utf16_length(parsed.text) > limit:
            raise _bad_request(
                "message is too long" if kind == "message" else f"{kind} is too long"
            )
        return parsed

    def _check_reply_markup(self, markup: Any) -> JSONDict | None:
        """Validate a reply_markup; returns what Telegram echoes in Message.reply_markup."""
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise _bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" not in markup:
            return None  # reply keyboards, removal and force_reply are not echoed
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise _bad_request("can't parse inline keyboard button: InlineKeyboardButton expected")
        for row in rows:
            for button in row:
                self._check_button(button)
        return copy.deepcopy(markup)

    @staticmethod
    def _check_button(button: Any) -> None:
        if not isinstance(button, dict) or not isinstance(button.get("text"), str):
            raise _bad_request(
                'can\'t parse inline keyboard button: Field "text" must be of type String'
            )
        actions = [key for key in _BUTTON_ACTIONS if key in button]
        if not actions:
            raise _bad_request(
                "can't parse inline keyboard button: Text buttons are unallowed in the "
                "inline keyboard"
            )
        if "callback_data" in button:
            data = button["callback_data"]
            size = len(data.encode("utf-8")) if isinstance(data, str) else 0
            if not 1 <= size <= MAX_CALLBACK_DATA_BYTES:
                raise _bad_request("BUTTON_DATA_INVALID")
        if "url" in button and not _checked_link(str(button["url"])):
            raise _bad_request("BUTTON_URL_INVALID")

    def _chat(self, params: JSONDict) -> JSONDict:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise _bad_request("chat_id is empty")
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            for chat in self._chats.values():
                if chat.get("username", "").lower() == chat_id[1:].lower():
                    return chat
        elif isinstance(chat_id, int) and chat_id in self._chats:
            return self._chats[chat_id]
        raise _bad_request("chat not found")

    def _stored(self, params: JSONDict, *, action: str) -> JSONDict:
        chat = self._chat(params)
        message_id = params.get("message_id")
        if not isinstance(message_id, int):
            raise _bad_request("message identifier is not specified")
        message = self._messages.get((chat["id"], message_id))
        if message is None:
            raise _bad_request(f"message to {action} not found")
        return message

    # ------------------------------------------------------------------ messages

    def _new_message(self, chat_id: int, sender: JSONDict) -> JSONDict:
        counter = self._message_ids.setdefault(chat_id, itertools.count(1))
        message_id = next(counter)
        message: JSONDict = {
            "message_id": message_id,
            "from": copy.deepcopy(sender),
            "chat": copy.deepcopy(self._chats[chat_id]),
            "date": int(time.time()),
        }
        self._messages[(chat_id, message_id)] = message
        return message

    def _reply_target(self, chat_id: int, message_id: int) -> JSONDict:
        target = self._messages.get((chat_id, message_id))
        if target is None:
            raise KeyError(f"no message {message_id} in chat {chat_id} to reply to")
        return {k: copy.deepcopy(v) for k, v in target.items() if k != "reply_to_message"}

    def _reply_parameters(self, params: JSONDict, chat_id: int) -> JSONDict | None:
        reply = params.get("reply_parameters")
        if reply is None and params.get("reply_to_message_id") is not None:
            reply = {
                "message_id": params["reply_to_message_id"],
                "allow_sending_without_reply": params.get("allow_sending_without_reply", False),
            }
        if not isinstance(reply, dict) or "message_id" not in reply:
            return None
        target_chat = reply.get("chat_id", chat_id)
        if (target_chat, reply["message_id"]) in self._messages:
            return self._reply_target(target_chat, reply["message_id"])
        if reply.get("allow_sending_without_reply"):
            return None
        raise _bad_request("message to be replied not found")

    def _send_message(self, params: JSONDict, _files: dict[str, Any]) -> JSONDict:
        chat = self._chat(params)
        parsed = self._format_text(
            params.get("text"),
            params.get("parse_mode"),
            params.get("entities"),
            limit=MAX_MESSAGE_LENGTH,
            kind="message",
        )
        markup = self._check_reply_markup(params.get("reply_markup"))
        reply_to = self._reply_parameters(params, chat["id"])
        message = self._new_message(chat["id"], self.bot_user)
        message["text"] = parsed.text
        if parsed.entities:
            message["entities"] = parsed.entities
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        if markup is not None:
            message["reply_markup"] = markup
        self._bot_message_keys.append((chat["id"], message["message_id"]))
        return copy.deepcopy(message)

    def _send_document(self, params: JSONDict, files: dict[str, Any]) -> JSONDict:
        chat = self._chat(params)
        document = params.get("document")
        stored: _StoredFile | None = None
        if isinstance(document, str) and document.startswith("attach://"):
            upload = files.get(document.removeprefix("attach://"))
            if upload is not None:
                file_id = self.add_file(upload[2], upload[0], upload[1])
                stored = self._files[file_id]
                params["document"] = f"<upload {upload[0]!r}, {len(upload[2])} bytes>"
        elif isinstance(document, str):
            stored = self._files.get(document)
        elif "document" in files:
            upload = files["document"]
            stored = self._files[self.add_file(upload[2], upload[0], upload[1])]
        if stored is None:
            raise _bad_request("wrong file identifier/HTTP URL specified")
        caption = None
        if params.get("caption"):
            caption = self._format_text(
                params["caption"],
                params.get("parse_mode"),
                params.get("caption_entities"),
                limit=MAX_CAPTION_LENGTH,
                kind="message caption",
            )
        markup = self._check_reply_markup(params.get("reply_markup"))
        reply_to = self._reply_parameters(params, chat["id"])
        message = self._new_message(chat["id"], self.bot_user)
        message["document"] = stored.as_document()
        if caption is not None:
            message["caption"] = caption.text
            if caption.entities:
                message["caption_entities"] = caption.entities
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        if markup is not None:
            message["reply_markup"] = markup
        self._bot_message_keys.append((chat["id"], message["message_id"]))
        return copy.deepcopy(message)

    def _edit_message_text(self, params: JSONDict, _files: dict[str, Any]) -> JSONDict | bool:
        parsed = self._format_text(
            params.get("text"),
            params.get("parse_mode"),
            params.get("entities"),
            limit=MAX_MESSAGE_LENGTH,
            kind="message",
        )
        markup = self._check_reply_markup(params.get("reply_markup"))
        if params.get("inline_message_id"):
            return True  # inline messages are not tracked; the call is in `calls`
        message = self._stored(params, action="edit")
        if message["from"].get("id") != self.bot_user["id"]:
            raise _bad_request("message can't be edited")
        if "text" not in message:
            raise _bad_request("there is no text in the message to edit")
        unchanged = (
            message["text"] == parsed.text
            and message.get("entities", []) == parsed.entities
            and message.get("reply_markup") == markup
        )
        if unchanged:
            raise _bad_request(_NOT_MODIFIED)
        message["text"] = parsed.text
        message["edit_date"] = int(time.time())
        for key, value in (("entities", parsed.entities), ("reply_markup", markup)):
            if value:
                message[key] = value
            else:
                message.pop(key, None)
        return copy.deepcopy(message)

    def _edit_message_reply_markup(
        self, params: JSONDict, _files: dict[str, Any]
    ) -> JSONDict | bool:
        markup = self._check_reply_markup(params.get("reply_markup"))
        if params.get("inline_message_id"):
            return True
        message = self._stored(params, action="edit")
        if message["from"].get("id") != self.bot_user["id"]:
            raise _bad_request("message can't be edited")
        if message.get("reply_markup") == markup:
            raise _bad_request(_NOT_MODIFIED)
        if markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)
        message["edit_date"] = int(time.time())
        return copy.deepcopy(message)

    def _delete_message(self, params: JSONDict, _files: dict[str, Any]) -> bool:
        message = self._stored(params, action="delete")
        del self._messages[(message["chat"]["id"], message["message_id"])]
        return True

    # ------------------------------------------------------------------ other methods

    def _get_me(self, _params: JSONDict, _files: dict[str, Any]) -> JSONDict:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": True,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _get_updates(self, params: JSONDict, _files: dict[str, Any]) -> list[JSONDict]:
        if self.webhook is not None:
            raise ApiError(409, _CONFLICT_WEBHOOK)
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or MAX_UPDATES_PER_CALL), 1), 100)
        timeout = max(float(params.get("timeout") or 0), 0.0)
        allowed = params.get("allowed_updates")
        if allowed is not None:
            self._allowed_updates = list(allowed) or None
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        # A newer getUpdates terminates an older one still waiting, as Telegram does.
        self._poll_generation += 1
        generation = self._poll_generation
        self._cond.notify_all()
        connection = getattr(self._request, "connection", None)
        deadline = time.monotonic() + timeout
        while True:
            if self._closing:
                return []
            if self._outage is not None:
                raise _OutageStarted
            if generation != self._poll_generation:
                # PTB cancels its poll on shutdown and then polls once more: a poll whose
                # client already hung up is dropped rather than reported as a conflict.
                # The hang-up may trail the new request by a moment, hence the grace period.
                grace_end = time.monotonic() + 0.5
                while time.monotonic() < grace_end:
                    if _client_gone(connection):
                        raise _ClientGone
                    self._cond.wait(0.02)
                raise ApiError(409, _CONFLICT_POLL)
            batch = self._deliverable(limit)
            remaining = deadline - time.monotonic()
            if batch or remaining <= 0:
                return batch
            if _client_gone(connection):
                raise _ClientGone
            self._cond.wait(min(remaining, 0.1))

    def _deliverable(self, limit: int) -> list[JSONDict]:
        allowed = self._allowed_updates
        kept = []
        for update in self._updates:
            kind = _update_type(update)
            if (kind in allowed) if allowed else (kind not in _DEFAULT_EXCLUDED_UPDATES):
                kept.append(update)
        self._updates = kept  # Telegram never creates updates of types not allowed
        return copy.deepcopy(kept[:limit])

    def _answer_callback_query(self, params: JSONDict, _files: dict[str, Any]) -> bool:
        query_id = str(params.get("callback_query_id", ""))
        if self._pending_callback_queries.pop(query_id, None) is None:
            raise _bad_request(_QUERY_TOO_OLD)
        self.callback_answers.append(copy.deepcopy(params))
        return True

    def _answer_inline_query(self, params: JSONDict, _files: dict[str, Any]) -> bool:
        query_id = str(params.get("inline_query_id", ""))
        if query_id not in self._pending_inline_queries:
            raise _bad_request(_QUERY_TOO_OLD)
        results = params.get("results")
        if not isinstance(results, list):
            raise _bad_request("can't parse inline query results JSON object")
        if len(results) > MAX_INLINE_RESULTS:
            raise _bad_request("RESULTS_TOO_MUCH")
        seen: set[str] = set()
        for result in results:
            result_id = str(result.get("id", "")) if isinstance(result, dict) else ""
            if not result_id or len(result_id.encode()) > 64:
                raise _bad_request("RESULT_ID_INVALID")
            if result_id in seen:
                raise _bad_request("RESULT_ID_DUPLICATE")
            seen.add(result_id)
            content = result.get("input_message_content")
            if isinstance(content, dict) and "message_text" in content:
                self._format_text(
                    content["message_text"],
                    content.get("parse_mode"),
                    content.get("entities"),
                    limit=MAX_MESSAGE_LENGTH,
                    kind="message",
                )
            self._check_reply_markup(result.get("reply_markup"))
        del self._pending_inline_queries[query_id]
        self.inline_answers.append(copy.deepcopy(params))
        return True

    def _send_chat_action(self, params: JSONDict, _files: dict[str, Any]) -> bool:
        chat = self._chat(params)
        action = params.get("action")
        if action not in _CHAT_ACTIONS:
            raise _bad_request("wrong parameter action in request")
        self.chat_actions.append((chat["id"], action))
        return True

    @staticmethod
    def _commands_key(params: JSONDict) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    def _set_my_commands(self, params: JSONDict, _files: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise _bad_request("can't parse commands JSON object")
        for command in commands:
            name = command.get("command", "") if isinstance(command, dict) else ""
            if not isinstance(name, str) or not _COMMAND_RE.fullmatch(name.lower()):
                raise _bad_request("BOT_COMMAND_INVALID")
            description = command.get("description", "")
            if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256:
                raise _bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        key = self._commands_key(params)
        if commands:
            self.commands[key] = [
                {"command": c["command"].lower(), "description": c["description"]} for c in commands
            ]
        else:
            self.commands.pop(key, None)
        return True

    def _delete_my_commands(self, params: JSONDict, _files: dict[str, Any]) -> bool:
        self.commands.pop(self._commands_key(params), None)
        return True

    def _get_my_commands(self, params: JSONDict, _files: dict[str, Any]) -> list[JSONDict]:
        return copy.deepcopy(self.commands.get(self._commands_key(params), []))

    def _set_webhook(self, params: JSONDict, _files: dict[str, Any]) -> _WithDescription:
        url = str(params.get("url") or "")
        if not url:
            return self._delete_webhook(params, _files)
        if not url.startswith("https://"):
            raise _bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self.webhook = copy.deepcopy(params)
        self._cond.notify_all()
        return _WithDescription(True, "Webhook was set")

    def _delete_webhook(self, params: JSONDict, _files: dict[str, Any]) -> _WithDescription:
        if params.get("drop_pending_updates"):
            self._updates.clear()
        existed = self.webhook is not None
        self.webhook = None
        return _WithDescription(
            True, "Webhook was deleted" if existed else "Webhook is already deleted"
        )

    def _get_webhook_info(self, _params: JSONDict, _files: dict[str, Any]) -> JSONDict:
        return {
            "url": (self.webhook or {}).get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    def _get_file(self, params: JSONDict, _files: dict[str, Any]) -> JSONDict:
        stored = self._files.get(str(params.get("file_id", "")))
        if stored is None:
            raise _bad_request("invalid file_id")
        if len(stored.data) > MAX_DOWNLOAD_BYTES:
            raise _bad_request("file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }

    def _harmless(self, _params: JSONDict, _files: dict[str, Any]) -> bool:
        return True

    # ------------------------------------------------------------------ control API

    def handle_control(self, action: str, params: JSONDict) -> tuple[int, Any]:
        """Serve ``/_control/<action>`` for a test driving the stand-in from another process."""
        handler = _CONTROL_ACTIONS.get(action)
        if handler is None:
            return 404, {"ok": False, "description": f"unknown control action {action!r}"}
        try:
            return 200, {"ok": True, "result": handler(self, params)}
        except (KeyError, TypeError, ValueError) as exc:
            return 400, {"ok": False, "description": f"{type(exc).__name__}: {exc}"}


@dataclass
class _WithDescription:
    """A successful result Telegram returns with an extra ``description``."""

    result: Any
    text: str


def _control_add_file(server: BotApiServer, p: JSONDict) -> str:
    data = base64.b64decode(p["data_base64"])
    return server.add_file(data, p["file_name"], p.get("mime_type", "application/octet-stream"))


def _chat_id_param(p: JSONDict) -> int | None:
    return int(p["chat_id"]) if p.get("chat_id") not in (None, "") else None


_CONTROL_ACTIONS: dict[str, Callable[[BotApiServer, JSONDict], Any]] = {
    "push_update": lambda s, p: s.push_update(p["update"]),
    "user_message": lambda s, p: s.user_message(**p),
    "callback_query": lambda s, p: s.callback_query(p["user_id"], p["message"], p["data"]),
    "inline_query": lambda s, p: s.inline_query(p["user_id"], p["query"]),
    "add_chat": lambda s, p: s.add_chat(**p),
    "add_file": _control_add_file,
    "fail_next": lambda s, p: s.fail_next(**p),
    "start_outage": lambda s, p: s.start_outage(**p),
    "end_outage": lambda s, p: s.end_outage(),
    "calls": lambda s, p: [list(call) for call in s.calls],
    "rejected": lambda s, p: [r._asdict() for r in s.rejected],
    "sent_messages": lambda s, p: s.sent_messages(_chat_id_param(p)),
    "wait_for_messages": lambda s, p: s.wait_for_messages(
        _chat_id_param(p), int(p.get("count", 1)), float(p.get("timeout", 10.0))
    ),
}


# --------------------------------------------------------------------------- HTTP


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        *,
        api: BotApiServer,
    ) -> None:
        self.api = api
        super().__init__(address, handler)


_API_PATH = re.compile(r"^/bot(?P<token>[^/]*)/(?P<method>[^/]*)$")
_FILE_PATH = re.compile(r"^/file/bot(?P<token>[^/]*)/(?P<path>.+)$")
_CONTROL_PATH = re.compile(r"^/_control/(?P<action>[a-z_]+)$")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like PTB's httpx connection pool expects
    # Headers and body go out in two writes: with Nagle on, the body waits for the ACK of the
    # headers, which the client delays by ~40 ms (delayed ACK). Telegram answers at once.
    disable_nagle_algorithm = True
    server: _HttpServer
    server_version = "botapi-standin"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        with self.server.api._cond:
            self.server.api._connections.add(self.connection)

    def finish(self) -> None:
        with self.server.api._cond:
            self.server.api._connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: request lines carry the bot token."""

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            # The client gave up mid-request (a cancelled task): Telegram never sees it either.
            raise _ClientGone
        return body

    def _dispatch(self) -> None:
        api = self.server.api
        try:
            body = self._read_body()
        except _ClientGone:
            self.close_connection = True
            return
        split = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(split.path)
        content_type = self.headers.get("Content-Type", "")
        if match := _API_PATH.match(path):
            try:
                params, files = _parse_body(split.query, content_type, body)
            except ApiError as error:
                self._send_json(error.status, error.payload())
                return
            status, payload = api.handle_api_request(match["token"], match["method"], params, files)
            if status == HANG_UP:
                self.close_connection = True  # no answer at all: the client sees a dropped line
                return
            self._send_json(status, payload)
        elif match := _FILE_PATH.match(path):
            status, media_type, data = api.handle_file_download(match["token"], match["path"])
            if status == HANG_UP:
                self.close_connection = True
                return
            self._send(status, media_type, data)
        elif match := _CONTROL_PATH.match(path):
            try:
                params = json.loads(body) if body else {}
                params.update(urllib.parse.parse_qsl(split.query))
            except ValueError:
                self._send_json(400, {"ok": False, "description": "JSON body expected"})
                return
            status, payload = api.handle_control(match["action"], params)
            self._send_json(status, payload)
        else:
            self._send_json(404, ApiError(404, "Not Found").payload())

    def _send_json(self, status: int, payload: Any) -> None:
        self._send(status, "application/json", json.dumps(payload).encode())

    def _send(self, status: int, media_type: str, data: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", media_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (e.g. a cancelled long poll)


# --------------------------------------------------------------------------- CLI


def main(argv: Iterable[str] | None = None) -> int:
    """Run the stand-in until SIGTERM, SIGINT or end of stdin; prints the base URL first."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--token", required=True, help="the bot token the stand-in accepts")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind")
    parser.add_argument("--bot-username", default="newsbot_test_bot")
    parser.add_argument("--strict-html-entities", action="store_true")
    parser.add_argument(
        "--ignore-stdin", action="store_true", help="keep serving when stdin is closed"
    )
    args = parser.parse_args(list(argv) if argv is not None else None)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if not args.ignore_stdin:

        def watch_stdin() -> None:
            # os.read on the raw descriptor: a daemon thread blocked in the buffered
            # reader would hold its lock and abort interpreter shutdown.
            with contextlib.suppress(OSError):
                while os.read(sys.stdin.fileno(), 4096):
                    pass
            stop.set()

        threading.Thread(target=watch_stdin, daemon=True).start()

    with BotApiServer(
        args.token,
        bot_username=args.bot_username,
        host=args.host,
        port=args.port,
        strict_html_entities=args.strict_html_entities,
    ) as server:
        print(server.base_url, flush=True)
        while not stop.wait(0.2):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
