from __future__ import annotations

from pathlib import Path

import pytest

from newsbot.config import load_settings, usable_cpus
from newsbot.errors import ConfigError


def test_defaults() -> None:
    settings = load_settings()
    assert settings.telegram.base_url == "https://api.telegram.org/bot"
    assert settings.telegram.base_file_url == "https://api.telegram.org/file/bot"
    assert settings.telegram.token is None
    assert settings.telegram.admins == []
    assert settings.store.url is None
    assert settings.ingest.allow_private_urls is False
    assert settings.embedding.model == "all-MiniLM-L6-v2"


def test_public_environment_names(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NEWSBOT_TELEGRAM__TOKEN", "123:secret")
    monkeypatch.setenv("NEWSBOT_TELEGRAM__ADMINS", "[111,222]")
    monkeypatch.setenv("NEWSBOT_TELEGRAM__BASE_URL", "http://127.0.0.1:9/bot")
    monkeypatch.setenv("NEWSBOT_TELEGRAM__BASE_FILE_URL", "http://127.0.0.1:9/file/bot")
    monkeypatch.setenv("NEWSBOT_STORE__PATH", str(tmp_path / "s"))
    monkeypatch.setenv("NEWSBOT_STORE__URL", "http://127.0.0.1:8000")
    monkeypatch.setenv("NEWSBOT_INGEST__ALLOW_PRIVATE_URLS", "true")
    settings = load_settings()
    assert settings.telegram.token is not None
    assert settings.telegram.token.get_secret_value() == "123:secret"
    assert "123:secret" not in repr(settings)
    assert settings.telegram.admins == [111, 222]
    assert settings.telegram.base_url == "http://127.0.0.1:9/bot"
    assert settings.telegram.base_file_url == "http://127.0.0.1:9/file/bot"
    assert settings.store.path == tmp_path / "s"
    assert settings.store.url == "http://127.0.0.1:8000"
    assert settings.ingest.allow_private_urls is True


def test_precedence_defaults_file_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        "[search]\ntop_k = 7\nrrf_k = 30\n[telegram]\nadmins = [5]\n", encoding="utf-8"
    )
    from_file = load_settings(config)
    assert (from_file.search.top_k, from_file.search.rrf_k) == (7, 30)
    assert from_file.telegram.admins == [5]
    assert from_file.search.candidates == 40  # untouched default

    monkeypatch.setenv("NEWSBOT_SEARCH__TOP_K", "3")
    both = load_settings(config)
    assert both.search.top_k == 3  # environment beats the file
    assert both.search.rrf_k == 30  # the file still beats defaults


def test_config_file_from_environment_and_cwd(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    named = tmp_path / "named.toml"
    named.write_text("[search]\ntop_k = 9\n", encoding="utf-8")
    monkeypatch.setenv("NEWSBOT_CONFIG", str(named))
    assert load_settings().search.top_k == 9
    monkeypatch.delenv("NEWSBOT_CONFIG")
    Path("config.toml").write_text("[search]\ntop_k = 4\n", encoding="utf-8")
    assert load_settings().search.top_k == 4


@pytest.mark.parametrize(
    ("env", "value", "named"),
    [
        ("NEWSBOT_SEARCH__TOP_K", "many", "search.top_k"),
        ("NEWSBOT_TELEGRAM__ADMINS", "alice", "telegram.admins"),
        ("NEWSBOT_STORE__URL", "ftp://x", "store.url"),
        ("NEWSBOT_INGEST__ALLOW_PRIVATE_URLS", "perhaps", "ingest.allow_private_urls"),
    ],
)
def test_bad_value_names_the_key(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, named: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as raised:
        load_settings()
    message = str(raised.value)
    assert named in message
    assert "\n" not in message


def test_unknown_key_in_file_and_missing_file(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[search]\ntop_kk = 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"search\.top_kk"):
        load_settings(config)
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "absent.toml")
    config.write_text("this is [ not toml", encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(config)


@pytest.mark.parametrize(
    ("name", "meant"),
    [
        ("NEWSBOT_STORE_PATH", "NEWSBOT_STORE__PATH"),  # one underscore: silently ignored before
        ("NEWSBOT_STOR__PATH", "NEWSBOT_STORE__PATH"),  # a misspelt section: the same
        ("newsbot_telegram_token", "NEWSBOT_TELEGRAM__TOKEN"),
        ("NEWSBOT_SEARCH_TOPK", "NEWSBOT_SEARCH__TOP_K"),
        ("NEWSBOT_CONFIG_FILE", "NEWSBOT_CONFIG"),
    ],
)
def test_a_misspelt_variable_is_an_error_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, meant: str
) -> None:
    monkeypatch.setenv(name, str(tmp_path / "store"))
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert str(raised.value) == f"{name} is not a setting: did you mean {meant}?"


def test_variables_unlike_any_setting_are_left_alone(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("NEWSBOT_IMAGE", "NEWSBOT_SMOKE_STATE", "NEWSBOT_SMOKE_TIMEOUT"):
        monkeypatch.setenv(name, "x")  # scripts' own variables (scripts/container-smoke.sh)
    monkeypatch.setenv("NEWSBOT_STORE__PATH", str(tmp_path / "store"))
    assert load_settings().store.path == tmp_path / "store"


def test_an_empty_path_or_a_config_folder_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # `NEWSBOT_STORE__PATH=` (a compose file's blank) put the store in the current folder.
    monkeypatch.setenv("NEWSBOT_STORE__PATH", "")
    with pytest.raises(ConfigError, match=r"store\.path .*is empty"):
        load_settings()
    monkeypatch.delenv("NEWSBOT_STORE__PATH")
    # A bind mount of a missing file makes a folder, which was silently ignored.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.toml").mkdir()
    with pytest.raises(ConfigError, match="is a directory"):
        load_settings()


def test_a_bad_value_says_where_it_may_come_from(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[search]\ntop_k = "five"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_settings(config)
    assert f"invalid setting search.top_k (NEWSBOT_SEARCH__TOP_K or {config})" in str(raised.value)
    # An entry of a list is named as such, not as a variable that does not exist.
    monkeypatch.setenv("NEWSBOT_TELEGRAM__ADMINS", '[1, "x"]')
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert "telegram.admins, entry 2 (NEWSBOT_TELEGRAM__ADMINS)" in str(raised.value)
    assert "ADMINS__1" not in str(raised.value)


def test_example_config_documents_every_key() -> None:
    import tomllib

    from newsbot.config import Settings

    example = Path(__file__).resolve().parents[2] / "config.example.toml"
    data = tomllib.loads(example.read_text(encoding="utf-8"))
    for section, field in Settings.model_fields.items():
        model = field.annotation
        assert section in data, f"[{section}] missing from config.example.toml"
        for key in model.model_fields:  # type: ignore[union-attr]
            text = example.read_text(encoding="utf-8")
            assert f"{key} =" in text or f"# {key} =" in text, f"{section}.{key} not documented"
    # The example loads as a valid config.
    load_settings(example)


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [
        ("max 100000\n", None),  # no quota: every CPU the process may run on
        ("100000 100000\n", 1),
        ("150000 100000\n", 2),  # 1.5 CPUs' worth of time: two threads, rounded up
        ("5000 100000\n", 1),  # never below one
        ("garbage\n", None),
        (None, None),  # no cgroup v2 file at all
    ],
)
def test_encode_threads_follow_cpu_quota(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cpu_max: str | None, expected: int | None
) -> None:
    """The onnx backends run one model call per usable CPU; a container limited with
    `--cpus` sees every host CPU, so its quota is what counts."""
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: set(range(8)))
    path = tmp_path / "cpu.max"
    if cpu_max is not None:
        path.write_text(cpu_max)
    assert usable_cpus(path) == (8 if expected is None else expected)
    settings = load_settings(embedding={"threads": 3})
    assert settings.embedding.encode_threads == 3  # an explicit setting wins


def test_a_home_folder_in_paths_is_expanded(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Seen: store.path = "~/news" made a folder named "~" wherever newsbot was started.
    monkeypatch.setenv("HOME", str(tmp_path))
    config = tmp_path / "config.toml"
    config.write_text('[store]\npath = "~/news"\nlexical_path = "~/bm25"\n', encoding="utf-8")
    monkeypatch.setenv("NEWSBOT_EMBEDDING__CACHE_DIR", "~/models")
    settings = load_settings(config)
    assert settings.store.path == tmp_path / "news"
    assert settings.store.lexical_path == tmp_path / "bm25"
    assert settings.embedding.cache_dir == tmp_path / "models"
