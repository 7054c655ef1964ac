"""A real PostgreSQL server for the tests: one per session, a fresh database per test.

The server runs from the installed binaries (``/usr/lib/postgresql/*/bin``, or
``initdb`` on ``PATH``) in a temporary folder, on a free loopback port, as the
``postgres`` user when the tests run as root (``initdb`` refuses root). Without
binaries the PostgreSQL tests skip, except under CI (``CI`` set): there a missing
server is a failure, so a green run always means the PostgreSQL store was tested.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import psycopg
import pytest

__all__ = ["PgServer", "pg_server", "pg_url"]

_names = itertools.count(1)


@dataclass(frozen=True)
class PgServer:
    """A running server; ``url(db)`` names one of its databases (user ``postgres``, no password)."""

    port: int
    bin: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"


def _binaries() -> Path | None:
    """The newest installed PostgreSQL's ``bin`` folder, if any."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1].parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_owner(args: list[str]) -> list[str]:
    """``args`` run as ``postgres`` when we are root (``initdb`` and ``postgres`` refuse root)."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def _run(args: list[str]) -> None:
    done = subprocess.run(_as_owner(args), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(args[0]).name} failed: {done.stdout}{done.stderr}"[-2000:])


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is required under CI: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL tests need a PostgreSQL server: {reason}")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """Start a throwaway PostgreSQL server once per session; stop it at the end."""
    binaries = _binaries()
    if binaries is None:
        _unavailable("no initdb under /usr/lib/postgresql/*/bin or on PATH")
    folder = Path(tempfile.mkdtemp(prefix="keevx-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    data, log = folder / "data", folder / "log"
    try:
        _run([str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"])
        server = _start(binaries, data, log, folder)
    except (RuntimeError, OSError) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        _unavailable(str(exc))
    try:
        yield server
    finally:
        _run([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(folder, ignore_errors=True)


def _start(binaries: Path, data: Path, log: Path, sockets: Path) -> PgServer:
    """Start on a free port (a few tries: another process may take the port first)."""
    # Durability is not what the tests check: skip the fsyncs, keep everything else.
    options = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    options += " -c max_connections=300 -c listen_addresses=127.0.0.1"
    error: RuntimeError | None = None
    for _ in range(3):
        port = _free_port()
        try:
            _run(
                [
                    str(binaries / "pg_ctl"),
                    "-D",
                    str(data),
                    "-o",
                    f"{options} -p {port} -k {sockets}",
                    "-l",
                    str(log),
                    "-w",
                    "start",
                ]
            )
        except RuntimeError as exc:
            error = exc
            continue
        return PgServer(port=port, bin=binaries)
    assert error is not None
    raise RuntimeError(f"{error}; server log: {log.read_text()[-1000:] if log.exists() else ''}")


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """A fresh, empty database for this test, dropped afterwards."""
    name = f"t_{os.getpid()}_{next(_names)}"
    with psycopg.connect(pg_server.url(), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    yield pg_server.url(name)
    with psycopg.connect(pg_server.url(), autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
