"""A throwaway PostgreSQL server for a benchmark (the recipe of ``tests/pg.py``).

The server runs from the installed binaries (``/usr/lib/postgresql/*/bin``, or
``initdb`` on ``PATH``) in a temporary folder, on a free loopback port, as the
``postgres`` user when we are root (``initdb`` refuses root). fsync is off:
durability is not what the benchmarks measure. Without binaries, or when the
server will not start, :class:`PgUnavailable` is raised.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from bench.common import free_port

__all__ = ["PgServer", "PgUnavailable", "binaries", "pg_server"]


class PgUnavailable(RuntimeError):
    """No PostgreSQL binaries here, or the server would not start."""


@dataclass(frozen=True)
class PgServer:
    """A running server; ``url(db)`` names one of its databases (user ``postgres``)."""

    port: int
    bin: Path
    pid: int  # the postmaster's

    def cpu_seconds(self) -> float:
        """CPU used by the server so far: the postmaster, the children it has reaped
        (``cutime``/``cstime``) and its live children (the backends, the writers)."""
        total = 0.0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue  # gone meanwhile
            if stat.parent.name == str(self.pid):
                total += sum(float(f) for f in fields[11:15])
            elif fields[1] == str(self.pid):
                total += float(fields[11]) + float(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create an empty database ``name`` (a plain identifier); return its URL."""
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            admin.execute(f"CREATE DATABASE {name}")
        return self.url(name)


def binaries() -> Path | None:
    """The newest installed PostgreSQL's ``bin`` folder, if any."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1].parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def _as_owner(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def _run(args: list[str]) -> None:
    done = subprocess.run(_as_owner(args), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise PgUnavailable(f"{Path(args[0]).name} failed: {done.stdout}{done.stderr}"[-2000:])


@contextmanager
def pg_server(max_connections: int = 200) -> Iterator[PgServer]:
    """Start a throwaway server; stop it (immediately) and delete its files at the end."""
    found = binaries()
    if found is None:
        raise PgUnavailable("no initdb under /usr/lib/postgresql/*/bin or on PATH")
    folder = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    data, log = folder / "data", folder / "log"
    try:
        if os.geteuid() == 0:
            shutil.chown(folder, "postgres")
        _run([str(found / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"])
        options = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        options += f" -c max_connections={max_connections} -c listen_addresses=127.0.0.1"
        error: PgUnavailable | None = None
        for _ in range(3):  # another process may take the free port first
            port = free_port()
            try:
                ctl = [str(found / "pg_ctl"), "-D", str(data), "-l", str(log), "-w"]
                _run([*ctl, "-o", f"{options} -p {port} -k {folder}", "start"])
            except PgUnavailable as exc:
                error = exc
                continue
            break
        else:
            tail = log.read_text()[-1000:] if log.exists() else ""
            raise PgUnavailable(f"{error}; server log: {tail}")
    except (PgUnavailable, OSError) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise PgUnavailable(str(exc)) from exc
    try:
        pid = int((data / "postmaster.pid").read_text().split()[0])
        yield PgServer(port=port, bin=found, pid=pid)
    finally:
        _run([str(found / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(folder, ignore_errors=True)
