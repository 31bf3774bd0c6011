"""One process per embedded store: a ``flock`` on a file in the store's folder.

Chroma's PersistentClient is not safe across processes, so the embedded store is held by one
process at a time; openings within one process (reindex, tests) share the lock. The kernel
releases a ``flock`` when its process dies, so a killed bot never leaves the store locked.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from pathlib import Path

from newsbot.errors import StoreError, StoreInUseError

LOCK_FILE = "newsbot.lock"
# Embedded stores this process holds: resolved folder -> (lock file descriptor, openings).
_held: dict[Path, tuple[int, int]] = {}
_held_guard = threading.Lock()


def lock_embedded(path: Path, wait: float = 0.0) -> Path:
    """Hold the embedded store at ``path`` for this process; returns the key to release.

    One process per embedded store: Chroma's PersistentClient is not safe across processes
    (seen: a second process reading while the first ingested crashed with SIGSEGV and left
    the write journal unreadable for good), and a second opening would roll back the first
    one's in-flight writes as crashed ones. A ``flock`` is released by the kernel when its
    process dies, so a killed bot never leaves the store locked. Openings within one process
    (reindex, tests) share the lock. ``wait`` seconds are given to a holder to let go first
    (a health check that counts the store for a second, as the bot starts).
    """
    key = path.resolve()
    deadline = time.monotonic() + wait
    while not _trylock_embedded(path, key, last_try=time.monotonic() >= deadline):
        time.sleep(0.1)  # outside the guard: other stores of this process stay usable
    return key


def _trylock_embedded(path: Path, key: Path, *, last_try: bool) -> bool:
    """One attempt of :func:`lock_embedded`: True when held; False when another process
    holds the store and this is not the last try (then StoreInUseError)."""
    import fcntl

    with _held_guard:
        fd, openings = _held.get(key, (-1, 0))
        if openings == 0:
            fd = os.open(key / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:
                if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    os.close(fd)
                    raise StoreError(
                        f"cannot lock the embedded store at {path} ({error.strerror}): keep it "
                        "on a local file system, or use a Chroma server (store.url)"
                    ) from None
                holder = _recorded_holder(fd)
                os.close(fd)
                if not last_try:
                    return False
                raise StoreInUseError(
                    f"the embedded store at {path} is in use by another newsbot process"
                    + (f" (pid {holder})" if holder else "")
                    + ": it serves one process at a time. Stop that process (the bot?) and "
                    "try again, or share the library through a Chroma server (store.url)",
                    holder,
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        _held[key] = (fd, openings + 1)
    return True


def store_holder(path: Path) -> int | None:
    """The pid of the process that holds the embedded store at ``path`` now (0: one whose pid
    is not on record), or None when no process does."""
    import fcntl

    key = path.resolve()
    with _held_guard:
        if key in _held:
            return os.getpid()
        try:
            # Read-only: a health check may run as a user who cannot write the store.
            fd = os.open(key / LOCK_FILE, os.O_RDONLY)
        except OSError:  # no lock file: never opened by newsbot
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return _recorded_holder(fd) or 0
        finally:
            os.close(fd)  # releases the lock if it was taken
        return None


def _recorded_holder(fd: int) -> int | None:
    """The pid the holder wrote into the lock file open at ``fd``, if any."""
    written = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return int(written) if written.isdigit() else None


def sole_opening(key: Path) -> bool:
    with _held_guard:
        return _held.get(key, (-1, 0))[1] <= 1


def unlock_embedded(key: Path) -> None:
    with _held_guard:
        fd, openings = _held.pop(key, (-1, 0))
        if openings > 1:
            _held[key] = (fd, openings - 1)
        elif fd >= 0:
            os.close(fd)  # releases the flock


def process_alive(pid: int) -> bool:
    if pid <= 0 or pid == os.getpid():  # our own entry: not being written, we hold the lock
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True
