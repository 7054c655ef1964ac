"""Leader election among instances sharing a store (the ``adapters.base.Leadership`` port).

On PostgreSQL the leader for a name holds a session advisory lock
(``pg_try_advisory_lock``) on a connection of its own for as long as it leads.
The lock lives and dies with that connection: a leader that is killed, or whose
connection breaks, frees it at once and another instance takes it at its next try.
The leader checks its connection every ``check_every`` seconds and reports the lead
lost when the check fails, so it stops doing the leader's work.

A SQLite file takes one bot process, so there every instance is the only one:
:func:`leadership_for` returns ``None`` (the consumer's default: always the leader).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging

import psycopg

from bot.errors import StoreError
from bot.model.database_url import database_kind, redacted_url, url_passwords

__all__ = ["PostgresLead", "PostgresLeadership", "leadership_for", "lock_key"]

log = logging.getLogger(__name__)

NAMESPACE = "keevx-bot:"
SERVER_KEEPALIVES = (
    "SET tcp_keepalives_idle = 10",
    "SET tcp_keepalives_interval = 5",
    "SET tcp_keepalives_count = 3",
)


def lock_key(name: str) -> int:
    """The advisory lock key (a signed 64-bit integer) for ``name``, stable across processes."""
    digest = hashlib.blake2b(f"{NAMESPACE}{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def leadership_for(database_url: str, *, check_every: float = 5.0) -> PostgresLeadership | None:
    """The election for the store ``database_url`` names; ``None`` for SQLite (always leads)."""
    if database_kind(database_url) == "postgresql":
        return PostgresLeadership(database_url, check_every=check_every)
    return None


class PostgresLead:
    """A held lead: the connection that holds the advisory lock."""

    def __init__(
        self,
        conn: psycopg.AsyncConnection[object],
        name: str,
        *,
        check_every: float,
        url: str = "",
    ) -> None:
        self._conn = conn
        self._url = url
        self.name = name
        self.check_every = check_every

    async def lost(self) -> None:
        """Return once the lock's connection fails a check (or was closed)."""
        while True:
            await asyncio.sleep(self.check_every)
            if self._conn.closed:
                return
            try:
                async with asyncio.timeout(self.check_every):
                    await self._conn.execute("SELECT 1")
            except (psycopg.Error, TimeoutError) as exc:
                log.warning("leader lock %r lost: %s", self.name, _text(exc, self._url))
                return

    async def release(self) -> None:
        """Close the connection: the lock goes with it."""
        with contextlib.suppress(psycopg.Error):
            await self._conn.close()


class PostgresLeadership:
    """Elects with ``pg_try_advisory_lock`` on a dedicated connection per held lead."""

    def __init__(
        self, database_url: str, *, check_every: float = 5.0, connect_timeout: float = 5.0
    ) -> None:
        self._url = database_url
        self.check_every = check_every
        self.connect_timeout = connect_timeout

    def __repr__(self) -> str:
        return f"PostgresLeadership({redacted_url(self._url)!r})"

    async def try_lead(self, name: str) -> PostgresLead | None:
        """Hold ``name``'s lock on a new connection, or ``None`` when another session holds it.

        Raises :class:`StoreError` (naming the server, never the password) when the
        server cannot be reached.
        """
        conn: psycopg.AsyncConnection[object] | None = None
        try:
            conn = await psycopg.AsyncConnection.connect(
                self._url,
                autocommit=True,
                prepare_threshold=None,
                connect_timeout=max(2, round(self.connect_timeout)),
                # A silently dead network is noticed by the checks; keepalives help the server
                # free the lock of a leader whose machine vanished.
                keepalives=1,
                keepalives_idle=10,
                keepalives_interval=5,
                keepalives_count=3,
                application_name=f"keevx-bot leader {name}"[:63],
            )
            # The server, too, should notice a vanished leader's machine within seconds
            # (its default keepalive waits hours); a killed process it notices at once.
            for setting in SERVER_KEEPALIVES:
                await conn.execute(setting)
            cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (lock_key(name),))
            row = await cur.fetchone()
        except psycopg.Error as exc:
            message = _text(exc, self._url)
            if conn is not None:
                with contextlib.suppress(psycopg.Error):
                    await conn.close()
            raise StoreError(
                f"cannot hold the leader election on {redacted_url(self._url)}: {message}"
            ) from None
        if not row or row[0] is not True:
            await conn.close()
            return None
        return PostgresLead(conn, name, check_every=self.check_every, url=self._url)


def _text(exc: BaseException, url: str) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    for secret in url_passwords(url):
        text = text.replace(secret, "***")
    return text
