"""Settings: defaults, sources, and one clear line for a bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from authserver.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("AUTHSERVER_"):
            monkeypatch.delenv(key)


def test_defaults() -> None:
    s = load_settings()
    assert s.database_url == "sqlite+aiosqlite:///./authserver.db"
    assert s.issuer == "http://127.0.0.1:8000"
    assert s.keys_dir == Path("keys")
    assert s.access_token_ttl == 600 and s.auth_code_ttl == 60
    assert (s.argon2_time_cost, s.argon2_memory_kib, s.argon2_parallelism) == (3, 65536, 4)


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHSERVER_ISSUER", "https://auth.example.com/")
    monkeypatch.setenv("AUTHSERVER_ACCESS_TOKEN_TTL", "300")
    s = load_settings()
    assert s.issuer == "https://auth.example.com" and s.access_token_ttl == 300


def test_config_file_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "authserver.toml"
    config.write_text('issuer = "https://id.example.org"\naccess_token_ttl = 120\n')
    monkeypatch.setenv("AUTHSERVER_CONFIG", str(config))
    monkeypatch.setenv("AUTHSERVER_ACCESS_TOKEN_TTL", "900")
    s = load_settings()
    assert s.issuer == "https://id.example.org" and s.access_token_ttl == 900


@pytest.mark.parametrize(
    ("name", "value", "needle"),
    [
        ("AUTHSERVER_ISSUER", "http://auth.example.com", "loopback"),
        ("AUTHSERVER_ISSUER", "https://auth.example.com/?x=1", "query"),
        ("AUTHSERVER_ISSUER", "auth.example.com", "absolute"),
        ("AUTHSERVER_DATABASE_URL", "mysql://root:hunter2@db/x", "postgresql+asyncpg"),
        ("AUTHSERVER_ACCESS_TOKEN_TTL", "7200", "3600"),
        ("AUTHSERVER_ACCESS_TOKEN_TTL", "ten", "integer"),
        ("AUTHSERVER_ARGON2_TIME_COST", "1", "3"),
        ("AUTHSERVER_PASSWORD_MIN_LENGTH", "8", "12"),
    ],
)
def test_bad_setting_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, needle: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert message.startswith(name + ":") and needle in message and "\n" not in message
    assert "hunter2" not in message


def test_http_loopback_issuers_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    for issuer in ("http://localhost:9000", "http://127.0.0.5", "http://[::1]:8000"):
        monkeypatch.setenv("AUTHSERVER_ISSUER", issuer)
        assert load_settings().issuer == issuer


def test_config_file_errors(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(str(tmp_path / "missing.toml"))
    bad = tmp_path / "bad.toml"
    bad.write_text("issuer = \n")
    with pytest.raises(SettingsError, match="AUTHSERVER_CONFIG"):
        load_settings(str(bad))
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('no_such_setting = "x"\n')
    with pytest.raises(SettingsError, match="AUTHSERVER_NO_SUCH_SETTING"):
        load_settings(str(unknown))
