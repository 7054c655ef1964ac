"""``DATABASE_URL``: which store it names, and its parts, checked; never its password in a message.

SQLAlchemy's spelling: ``sqlite:///rel.db`` (relative to the working directory),
``sqlite:////abs/path.db``, or ``postgresql://user:password@host:5432/dbname``. Pure
string work, shared by the settings (to fail early and to hide the password), the
stores (to open the database) and the wiring (where files go beside a SQLite one).
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import SplitResult, unquote, urlsplit

from bot.errors import ConfigError

__all__ = ["database_kind", "redacted_url", "sqlite_path", "url_passwords"]

POSTGRES_SCHEMES = ("postgresql", "postgres")
URL_SHAPES = "sqlite:///path.db or postgresql://user:password@host:5432/dbname"


def sqlite_path(database_url: str) -> str:
    """The file path in a SQLAlchemy-style SQLite URL (``":memory:"`` for memory).

    ``sqlite:///rel.db`` is relative to the working directory and
    ``sqlite:////abs/path.db`` absolute, as SQLAlchemy spells them.
    """
    scheme, sep, rest = database_url.partition("://")
    if not sep:
        raise ConfigError(f"DATABASE_URL must look like sqlite:///path.db, not {database_url!r}")
    if scheme in POSTGRES_SCHEMES:
        raise ConfigError("DATABASE_URL names a PostgreSQL server, not a SQLite file")
    if scheme.split("+")[0] != "sqlite":
        raise ConfigError(f"DATABASE_URL scheme {scheme!r} is not supported: use {URL_SHAPES}")
    path = rest.partition("?")[0]
    if path in ("", "/", "/:memory:"):
        return ":memory:"
    if not path.startswith("/"):
        raise ConfigError(f"DATABASE_URL must look like sqlite:///path.db, not {database_url!r}")
    return path[1:]


def database_kind(database_url: str) -> Literal["sqlite", "postgresql"]:
    """Which store ``DATABASE_URL`` names, after checking its shape.

    Raises :class:`ConfigError` naming ``DATABASE_URL`` (never its password) for an
    unknown scheme or a malformed URL.
    """
    scheme = database_url.partition("://")[0]
    if scheme not in POSTGRES_SCHEMES:
        sqlite_path(database_url)
        return "sqlite"
    _postgres_parts(database_url)
    return "postgresql"


def _postgres_parts(database_url: str) -> SplitResult:
    """The parts of ``postgresql://user:password@host:port/dbname``, checked."""
    shape = f"DATABASE_URL must look like {URL_SHAPES.split(' or ')[1]}"
    try:
        parts = urlsplit(database_url)
        port = parts.port  # raises ValueError when it is not a number in range
    except ValueError:
        raise ConfigError(f"{shape}, not {redacted_url(database_url)!r}") from None
    database = parts.path.removeprefix("/")
    if not parts.hostname or not database or "/" in database or parts.fragment:
        raise ConfigError(f"{shape}, not {redacted_url(database_url)!r}")
    if port == 0:
        raise ConfigError(f"{shape}: port 0 is not a port")
    return parts


def _password_span(database_url: str) -> tuple[int, int] | None:
    """Where the password of a ``scheme://user:password@host…`` URL sits, if it has one.

    Conservative with characters a password should have percent-encoded: it runs from
    the user's ``:`` to the last ``@`` before the query.
    """
    scheme, sep, rest = database_url.partition("://")
    colon, at = rest.find(":"), rest.find("@")
    if not sep or rest.startswith("/") or at < 0 or colon < 0 or colon > at:
        return None  # no authority (a SQLite path), no user info, or no password
    ends = (i for i in (rest.find(c, at) for c in "?#") if i >= 0)
    offset = len(scheme) + len(sep)
    return offset + colon + 1, offset + rest.rfind("@", 0, min(ends, default=len(rest)))


def redacted_url(database_url: str) -> str:
    """``database_url`` with its password replaced by ``***``: fit for a log line or an error."""
    span = _password_span(database_url)
    if span is None:
        return database_url
    return f"{database_url[: span[0]]}***{database_url[span[1] :]}"


def url_passwords(database_url: str) -> tuple[str, ...]:
    """The password in ``database_url``, as written and percent-decoded, for redaction."""
    span = _password_span(database_url)
    password = database_url[span[0] : span[1]] if span else ""
    return tuple(sorted({password, unquote(password)} - {""}))
