"""``keevx-bot copy-db FROM TO``: a SQLite database made by the real store, moved into PostgreSQL.

The command runs for real (a subprocess, and :func:`bot.app.cli.main`); both databases are
real ones (a SQLite file, the test PostgreSQL server from ``pg_url``).
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app.cli import main
from bot.model.job import ImageData, Job, JobStatus, Target, TaskResult, TaskState
from storage.postgres import PostgresJobStore
from storage.sqlite import SqliteJobStore
from tests.test_store_contract import ANN
from tests.test_store_contract import REQUEST as CONTRACT_REQUEST

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 25, 12, 0, 0, 123456, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
PASSWORD = "s3cret-Pa55"  # the test server trusts every login, so any password opens it
REQUEST = CONTRACT_REQUEST.evolve(count=2)
BOB = Target(platform="discord", chat_id="900", user_id="8", origin="mention")
PNG = ImageData("image/png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)


@pytest.fixture(autouse=True)
def _own_logging() -> Iterator[None]:
    """``main`` points the root logger at this test's captured stderr: undo it afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _job(**changes: object) -> Job:
    job = Job(
        id=0,
        target=ANN,
        request=REQUEST,
        status=JobStatus.RECEIVED,
        created_at=T0,
        updated_at=T0,
        next_run_at=T0,
    )
    return job.evolve(**changes)


async def _make_sqlite(path: Path) -> list[Job]:
    """A database as a bot leaves it: jobs in several statuses, defaults, durations, an image."""
    store = await SqliteJobStore.open(str(path))
    try:
        await store.put_image("db:waiting-1", PNG)
        made = [
            _job(images=("db:waiting-1",), dedupe_key="telegram:-100:55", queue_position=2),
            _job(
                status=JobStatus.SUBMITTED,
                image_urls=("https://u/1.jpg",),
                tasks=(TaskResult(task_id="i2v-1"), TaskResult(task_id="i2v-2")),
                submitted_at=T0 + MINUTE,
                attempts=1,
                create_requests=1,
                status_message_id="m1",
                next_run_at=T0 + 2 * MINUTE,
            ),
            _job(
                target=BOB,
                status=JobStatus.DELIVERED,
                tasks=(
                    TaskResult(
                        task_id="i2v-3",
                        status=TaskState.SUCCEEDED,
                        video_url="https://v/3.mp4",
                        width=1280,
                        height=720,
                        duration=4.0,
                        done_after=41.5,
                    ),
                ),
                delivered_ids=("m7", "m8"),
                finished_at=T0 + 3 * MINUTE,
                adopted=True,
            ),
            _job(status=JobStatus.FAILED, error="Keevx refused the image", finished_at=T0),
            _job(status=JobStatus.CANCELLED, target=BOB),
        ]
        jobs = [(await store.add(job))[0] for job in made]
        again, _ = await store.add(_job(again_of=jobs[2].id, target=BOB))
        await store.update(jobs[1].evolve(attempts=2, error="polling"))  # version 1
        await store.claim_due(T0 + 5 * MINUTE, 10, MINUTE, "the-old-bot")  # leases: not copied
        await store.set_defaults("telegram", "-100", {"model": "KL", "count": 2})
        await store.set_defaults("discord", "guild-1", {"aspect_ratio": "9:16"})
        await store.record_duration("V/720p/4/1", 40.5, T0)
        await store.record_duration("KL/1080p/5/1", 90.25, T0 + MINUTE)
        await store.record_duration("V/720p/4/1", 42.0, T0 + 2 * MINUTE)
        assert again.id > jobs[-1].id
        return [job async for job in store.export_jobs()]
    finally:
        await store.close()


def _copy(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``keevx-bot copy-db …`` in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "bot", "copy-db", *args],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(cwd)},
        cwd=cwd,
        timeout=120,
        check=False,
    )


def _with_password(pg_url: str) -> str:
    return pg_url.replace("postgresql://postgres@", f"postgresql://postgres:{PASSWORD}@")


async def _read_postgres(url: str) -> tuple[list[Job], list[object], list[object], Job, list[Job]]:
    store = await PostgresJobStore.open(url)
    try:
        jobs = [job async for job in store.export_jobs()]
        defaults: list[object] = list(await store.all_defaults())
        durations: list[object] = list(await store.all_durations())
        claimed = await store.claim_due(T0 + 5 * MINUTE, 10, MINUTE, "the-new-bot")
        newest, created = await store.add(_job(dedupe_key="after-the-copy"))
        assert created
        assert await store.image("db:waiting-1") == PNG
        return jobs, defaults, durations, newest, claimed
    finally:
        await store.close()


def test_copy_moves_every_job_setting_duration_and_image(tmp_path: Path, pg_url: str) -> None:
    source = asyncio.run(_make_sqlite(tmp_path / "data" / "keevx-bot.db"))
    target = _with_password(pg_url)

    done = _copy("sqlite:///data/keevx-bot.db", target, cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "copied 6 jobs, 2 chat defaults, 3 durations and 1 images from "
        f"sqlite:///data/keevx-bot.db to {target.replace(PASSWORD, '***')}"
    ]
    assert PASSWORD not in done.stdout + done.stderr
    jobs, defaults, durations, newest, claimed = asyncio.run(_read_postgres(target))
    assert [j.id for j in jobs] == [j.id for j in source]  # ids kept, oldest first
    for copied, original in zip(jobs, source, strict=True):
        for field in fields(Job):
            assert getattr(copied, field.name) == getattr(original, field.name), field.name
    assert newest.id > max(j.id for j in source)  # the identity moved past the copied ids
    assert defaults == [
        ("discord", "guild-1", {"aspect_ratio": "9:16"}),
        ("telegram", "-100", {"model": "KL", "count": 2}),
    ]
    assert durations == [
        ("V/720p/4/1", 40.5, T0),
        ("KL/1080p/5/1", 90.25, T0 + MINUTE),
        ("V/720p/4/1", 42.0, T0 + 2 * MINUTE),
    ]
    # The old bot's leases stayed behind: every live job is claimable at once.
    live = [j.id for j in source if not j.status.terminal]
    assert sorted(j.id for j in claimed) == live and len(live) == 3


def test_copying_into_a_target_with_jobs_is_refused(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(_make_sqlite(tmp_path / "bot.db"))
    source, target = f"sqlite:///{tmp_path}/bot.db", _with_password(pg_url)
    assert main(["copy-db", source, target]) == 0
    capsys.readouterr()

    assert main(["copy-db", source, target]) == 2

    out, err = capsys.readouterr()
    assert out == "" and PASSWORD not in err
    assert err.splitlines() == [
        "keevx-bot: the target already has jobs: copy into an empty database"
    ]
    jobs, *_ = asyncio.run(_read_postgres(pg_url))
    assert len(jobs) == 6  # nothing copied twice


def test_a_bot_running_on_the_source_refuses_the_copy(tmp_path: Path, pg_url: str) -> None:
    path = tmp_path / "bot.db"
    asyncio.run(_make_sqlite(path))

    async def copy_while_running() -> subprocess.CompletedProcess[str]:
        bot = await SqliteJobStore.open(str(path), exclusive=True)  # what `keevx-bot run` holds
        try:
            return await asyncio.to_thread(_copy, f"sqlite:///{path}", pg_url, cwd=tmp_path)
        finally:
            await bot.close()

    refused = asyncio.run(copy_while_running())

    assert refused.returncode == 2 and refused.stdout == ""
    (line,) = refused.stderr.splitlines()
    assert line.startswith("keevx-bot: another keevx-bot process is already running on")


def test_the_same_database_twice_or_a_missing_source_is_refused(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bot.db"
    asyncio.run(_make_sqlite(path))
    assert main(["copy-db", f"sqlite:///{path}", f"sqlite:///{tmp_path}/./bot.db"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "keevx-bot: FROM and TO are the same database: nothing to copy"
    ]
    assert main(["copy-db", _with_password(pg_url), pg_url]) == 2
    err = capsys.readouterr().err
    assert "same database" in err and PASSWORD not in err
    assert main(["copy-db", f"sqlite:///{tmp_path}/missing.db", pg_url]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"keevx-bot: there is no SQLite database at {tmp_path}/missing.db"
    ]
    assert not (tmp_path / "missing.db").exists()


def test_copy_into_an_empty_sqlite_file(tmp_path: Path) -> None:
    source = asyncio.run(_make_sqlite(tmp_path / "old.db"))
    done = _copy("sqlite:///old.db", "sqlite:///new.db", cwd=tmp_path)
    assert done.returncode == 0, done.stderr

    async def read() -> tuple[list[Job], Job]:
        store = await SqliteJobStore.open(str(tmp_path / "new.db"))
        try:
            jobs = [job async for job in store.export_jobs()]
            newest, _ = await store.add(_job())
            return jobs, newest
        finally:
            await store.close()

    jobs, newest = asyncio.run(read())
    assert jobs == source and newest.id > source[-1].id
