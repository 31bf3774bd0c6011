"""Store failures in words: Chroma, network and disk errors become a StoreError that says
where, and whether the store cannot be reached or cannot be written."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from newsbot.errors import StoreError
from newsbot.redact import without_credentials

P = ParamSpec("P")
R = TypeVar("R")

# Words of storage errors that mean "cannot write here" rather than "cannot reach".
_NO_WRITE = (
    "disk is full",
    "no space left",
    "file too large",
    "quota",
    "readonly",
    "read-only",
    "permission denied",
    "disk i/o error",
    # Embedded Chroma reports a write its segment files refused (disk full, file size
    # limit) as a failed compaction, without the cause.
    "error in compaction",
)


def translate_errors(method: Callable[P, R]) -> Callable[P, R]:
    """Turn Chroma, network and disk failures into StoreError with a message for a person.

    A failure of a Chroma server also marks the owner stale: the next call looks its
    collections up again, so a server that restarted (or lost and recreated a collection) is
    picked up without a new client, and nothing stays broken after the outage.
    """

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        owner = args[0]
        try:
            if getattr(owner, "_stale", False):
                owner._connect()  # type: ignore[attr-defined]
            return method(*args, **kwargs)
        except (StoreError, ValueError, TypeError):
            raise
        except (KeyboardInterrupt, SystemExit, GeneratorExit):
            raise
        # BaseException: chromadb's Rust core reports some I/O failures as pyo3 panics, which
        # do not derive from Exception.
        except BaseException as error:
            # Only a server can come back with other collection ids; the embedded store's
            # handles stay valid, and creating collections after a failed write can block.
            if getattr(owner, "remote", False):
                owner._stale = True  # type: ignore[attr-defined]
            raise StoreError(describe_failure(owner, error)) from error

    return wrapper


def describe_failure(owner: object, error: BaseException) -> str:
    """One line for a person: where, and whether the store cannot be reached or written."""
    where = getattr(owner, "description", "the store")
    reason = _one_line(error)
    if any(word in reason.lower() for word in _NO_WRITE) or (
        isinstance(error, OSError) and error.errno in {28, 27, 30, 13, 122}
    ):
        return (
            f"cannot write to {where}: {reason} (is the disk full or the store read-only? "
            "what was stored before is unchanged)"
        )
    return f"{where} is unavailable: {reason}"


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    line = text[0][:300] if text else type(error).__name__
    return without_credentials(line)
