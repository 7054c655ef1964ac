"""Settings from the environment, and logs that never show a secret."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.app.logs import JsonFormatter, RedactingFilter
from bot.errors import ConfigError
from bot.model.database_url import database_kind, redacted_url, sqlite_path
from bot.settings import Settings

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.keevx_base_url == "https://api.keevx.com/v1"
    assert settings.telegram_api_url == "https://api.telegram.org"
    assert settings.discord_api_url == "https://discord.com/api/v10"
    assert (settings.poll_interval, settings.poll_timeout) == (30.0, 1200.0)
    assert settings.database_url == "sqlite:///data/keevx-bot.db"
    assert settings.platforms == ()


def test_values_and_floats() -> None:
    settings = Settings.from_env(
        {
            "POLL_INTERVAL": "2.5",
            "POLL_TIMEOUT": "90",
            "KEEVX_SANDBOX": "1",
            "PORT": "9000",
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "DISCORD_BOT_TOKEN": "d",
            "DISCORD_GUILD_IDS": "1, 2",
            "KEEVX_BASE_URL": "http://127.0.0.1:1/v1/",
        }
    )
    assert (settings.poll_interval, settings.poll_timeout, settings.port) == (2.5, 90.0, 9000)
    assert settings.keevx_sandbox and settings.platforms == ("telegram", "discord")
    assert settings.discord_guild_ids == (1, 2)
    assert settings.keevx_base_url == "http://127.0.0.1:1/v1"


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"POLL_INTERVAL": "soon"}, "POLL_INTERVAL"),
        ({"POLL_TIMEOUT": "-1"}, "POLL_TIMEOUT"),
        ({"PORT": "http"}, "PORT"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"DATABASE_URL": "jobs.db"}, "DATABASE_URL"),
        ({"POLL_INTERVAL": "0"}, "POLL_INTERVAL"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigError, match=names):
        Settings.from_env(env)


def test_sqlalchemy_style_urls() -> None:
    assert sqlite_path("sqlite:///rel.db") == "rel.db"
    assert sqlite_path("sqlite:///data/x.db") == "data/x.db"
    assert sqlite_path("sqlite:////abs/path.db") == "/abs/path.db"
    assert sqlite_path("sqlite://") == ":memory:"
    with pytest.raises(ConfigError, match="PostgreSQL"):
        sqlite_path("postgresql://u@h/db")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://bot:pw@db.internal:5432/keevx",
        "postgres://bot:pw@db.internal/keevx",
        "postgresql://bot@127.0.0.1/keevx?sslmode=require",
    ],
)
def test_postgresql_urls_are_accepted(url: str) -> None:
    assert database_kind(url) == "postgresql"
    assert Settings.from_env({"DATABASE_URL": url}).database_url == url
    assert database_kind("sqlite:///data/x.db") == "sqlite"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://bot:s3cret-pw@db.internal:port/keevx",  # the port is not a number
        "postgresql://bot:s3cret-pw@db.internal:99999/keevx",
        "postgresql://bot:s3cret-pw@/keevx",  # no host
        "postgresql://bot:s3cret-pw@db.internal/",  # no database
        "postgresql://bot:s3cret-pw@db.internal/keevx/more",
        "mysql://bot:s3cret-pw@db.internal/keevx",  # an unknown scheme
    ],
)
def test_malformed_database_urls_name_the_variable_not_the_password(url: str) -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL") as refused:
        Settings.from_env({"DATABASE_URL": url})
    assert "s3cret-pw" not in str(refused.value)


def test_the_database_password_is_a_secret_and_redacted() -> None:
    url = "postgresql://bot:p%40ss%2Fw0rd@db.internal:5432/keevx"
    settings = Settings.from_env({"DATABASE_URL": url})
    assert set(settings.secrets) == {"p%40ss%2Fw0rd", "p@ss/w0rd"}  # as written and decoded
    assert "p%40ss" not in repr(settings) and "p@ss" not in repr(settings)
    assert redacted_url(url) == "postgresql://bot:***@db.internal:5432/keevx"
    assert redacted_url("postgresql://bot:p@ss@h/db?x=a@b") == "postgresql://bot:***@h/db?x=a@b"
    assert redacted_url("postgresql://bot@h/db") == "postgresql://bot@h/db"
    assert Settings.from_env({"DATABASE_URL": "sqlite:///a:b@c.db"}).secrets == ()
    line = RedactingFilter(settings.secrets).redact(f"connecting with {url}")
    assert "p%40ss" not in line and "p@ss" not in line


def test_dotenv_file_is_read_and_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("KEEVX_API_KEY=from-file\nPOLL_INTERVAL=5\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("POLL_INTERVAL", "7")
    monkeypatch.delenv("KEEVX_API_KEY", raising=False)
    settings = Settings.from_env()
    assert settings.keevx_api_key == "from-file" and settings.poll_interval == 7.0


def test_repr_hides_secrets() -> None:
    settings = Settings.from_env({"KEEVX_API_KEY": "sk-live-1", "TELEGRAM_BOT_TOKEN": TOKEN})
    assert "sk-live-1" not in repr(settings) and TOKEN not in repr(settings)
    assert set(settings.secrets) == {"sk-live-1", TOKEN}


def test_redacting_filter_hides_secrets_and_token_shapes() -> None:
    record = logging.LogRecord(
        "x",
        logging.INFO,
        __file__,
        1,
        "GET %s with key %s",
        (f"https://api.telegram.org/bot{TOKEN}/getMe", "sk-live-1"),
        None,
    )
    RedactingFilter(["sk-live-1"]).filter(record)
    text = record.getMessage()
    assert TOKEN not in text and "sk-live-1" not in text and "***" in text


def test_redacting_filter_cleans_tracebacks() -> None:
    try:
        raise RuntimeError(f"failed https://x/file/bot{TOKEN}/photos/1.jpg")
    except RuntimeError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom", None, sys.exc_info())
    RedactingFilter([]).filter(record)
    assert record.exc_text and TOKEN not in record.exc_text


def test_json_lines() -> None:
    record = logging.LogRecord(
        "bot.jobs.pipeline", logging.INFO, __file__, 1, "job %s: ok", (4,), None
    )
    line = JsonFormatter().format(record)
    import json

    assert json.loads(line)["message"] == "job 4: ok"
