"""Domain errors: the core raises them; the CLI and the bot word them for a person."""


class NewsbotError(Exception):
    """Base class of every error newsbot reports to a person."""


class ConfigError(NewsbotError):
    """The configuration is invalid (a bad value, an unreadable config file)."""


class IngestError(NewsbotError):
    """A source could not be turned into an article (unreadable, unsupported, empty, ...)."""


class FetchError(IngestError):
    """A URL could not be fetched (network error, HTTP error, too large, wrong type)."""


class BlockedAddressError(FetchError):
    """A URL resolves to an address newsbot refuses to connect to (loopback, private, ...)."""


class StoreError(NewsbotError):
    """The vector store is unavailable or in a state newsbot cannot use."""


class StoreInUseError(StoreError):
    """Another process holds the embedded store (it serves one process at a time)."""

    def __init__(self, message: str, holder: int | None = None) -> None:
        super().__init__(message)
        self.holder = holder


class ModelMismatchError(StoreError):
    """The index was built with another embedding model than the configured one."""


class ArticleNotFoundError(NewsbotError):
    """No article with the given id is in the library."""
