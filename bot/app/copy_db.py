"""``keevx-bot copy-db FROM TO``: move a database's jobs and settings into another one.

Written for moving a SQLite file into PostgreSQL, but any store to any store works. Every
job is copied as it is (its id too: ids are in users' buttons and callback tokens), unleased,
with the chats' defaults, the duration log (the adaptive poll schedule) and the images not
yet uploaded to Keevx. The target must hold no jobs; the source is opened as a worker, so a
bot still running on a SQLite source is refused (stop it first: nothing may change while
it is copied).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bot.errors import ConfigError, StoreError
from bot.model.database_url import database_kind, redacted_url, sqlite_path, url_passwords
from bot.model.job import JobStatus

__all__ = ["Copied", "copy_db", "same_database"]


@dataclass(frozen=True)
class Copied:
    """What a copy moved, and the two databases' names (passwords hidden)."""

    source: str
    target: str
    jobs: int
    defaults: int
    durations: int
    images: int

    def summary(self) -> str:
        return (
            f"copied {self.jobs} jobs, {self.defaults} chat defaults, {self.durations} "
            f"durations and {self.images} images from {self.source} to {self.target}"
        )


def same_database(first: str, second: str) -> bool:
    """Whether two ``DATABASE_URL``s name the same database (file, or server and database)."""
    kind = database_kind(first)
    if kind != database_kind(second):
        return False
    if kind == "sqlite":
        a, b = sqlite_path(first), sqlite_path(second)
        return a == b if ":memory:" in (a, b) else os.path.realpath(a) == os.path.realpath(b)
    x, y = urlsplit(first), urlsplit(second)
    return (x.hostname, x.port or 5432, x.path) == (y.hostname, y.port or 5432, y.path)


async def copy_db(source_url: str, target_url: str) -> Copied:
    """Copy every job, chat default, duration and held image from one database to another.

    Raises :class:`ConfigError` for a malformed URL, the same database twice or a missing
    SQLite source, and :class:`StoreError` when a database cannot be opened, a bot runs on
    the SQLite source or target, or the target already has jobs. Messages never hold a
    password.
    """
    hidden = (*url_passwords(source_url), *url_passwords(target_url))
    try:
        return await _copy(source_url, target_url)
    except (ConfigError, StoreError) as exc:
        text = str(exc)
        if not any(secret in text for secret in hidden):
            raise
        for secret in hidden:
            text = text.replace(secret, "***")
        raise (ConfigError if isinstance(exc, ConfigError) else StoreError)(text) from None


def _check(source_url: str, target_url: str) -> None:
    """Refuse the same database twice, or a SQLite source that is not there (not created)."""
    if same_database(source_url, target_url):
        raise ConfigError("FROM and TO are the same database: nothing to copy")
    if database_kind(source_url) == "sqlite":
        path = sqlite_path(source_url)
        if path == ":memory:" or not Path(path).is_file():
            raise ConfigError(f"there is no SQLite database at {path}")


async def _copy(source_url: str, target_url: str) -> Copied:
    from storage import open_store

    _check(source_url, target_url)
    source = await open_store(source_url, worker=True)  # a bot on a SQLite source is refused
    try:
        target = await open_store(target_url, worker=True)
        try:
            if await target.count_active(statuses=frozenset(JobStatus)):
                raise StoreError("the target already has jobs: copy into an empty database")
            keys = await source.image_keys()
            images = 0
            for key in keys:  # before the jobs that name them, as the bot stores them
                image = await source.image(key)
                if image is not None:
                    await target.put_image(key, image)
                    images += 1
            defaults = await source.all_defaults()
            for platform, chat_id, values in defaults:
                await target.set_defaults(platform, chat_id, values)
            jobs = await target.import_jobs(source.export_jobs())
            durations = await source.all_durations()
            await target.import_durations(durations)
        finally:
            await target.close()
    finally:
        await source.close()
    return Copied(
        source=redacted_url(source_url),
        target=redacted_url(target_url),
        jobs=jobs,
        defaults=len(defaults),
        durations=len(durations),
        images=images,
    )
