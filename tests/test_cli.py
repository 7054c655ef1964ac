"""The command line: the demo, the run command's configuration errors, and the jobs list."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import av
import pytest

from bot.app.cli import main

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )


@pytest.fixture
def clean_env(tmp_path: Path) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)}


def test_demo_writes_a_playable_mp4(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = main(["demo", "--out", str(out), "--ar", "9:16", "--duration", "6", "--delay", "0.2"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    (video,) = out.glob("*.mp4")
    assert f"saved {video}" in printed and "delivered" in printed
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        assert stream.height > stream.width
        assert container.duration is not None and abs(container.duration / 1e6 - 6) < 0.2


def test_demo_refuses_bad_options_with_the_rule(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--model", "KL", "--res", "4k"]) == 2
    assert "4k is not available for model KL" in capsys.readouterr().err


def test_run_without_a_token_names_the_variables(tmp_path: Path, clean_env: dict[str, str]) -> None:
    result = run_cli(env={**clean_env, "KEEVX_API_KEY": "k"}, cwd=tmp_path)
    assert result.returncode == 2
    assert "TELEGRAM_BOT_TOKEN" in result.stderr and "DISCORD_BOT_TOKEN" in result.stderr


def test_run_without_api_key_names_it(tmp_path: Path, clean_env: dict[str, str]) -> None:
    env = {**clean_env, "TELEGRAM_BOT_TOKEN": "123:abc", "TELEGRAM_API_URL": "http://127.0.0.1:9"}
    result = run_cli("run", env=env, cwd=tmp_path)
    assert result.returncode == 2 and "KEEVX_API_KEY" in result.stderr
    assert "123:abc" not in result.stderr + result.stdout


def test_bad_setting_is_named(tmp_path: Path, clean_env: dict[str, str]) -> None:
    result = run_cli(env={**clean_env, "POLL_INTERVAL": "soon"}, cwd=tmp_path)
    assert result.returncode == 2 and "POLL_INTERVAL" in result.stderr


def test_jobs_lists_recent_jobs(tmp_path: Path, clean_env: dict[str, str]) -> None:
    env = {**clean_env, "DATABASE_URL": f"sqlite:///{tmp_path}/jobs.db"}
    empty = run_cli("jobs", env=env, cwd=tmp_path)
    assert empty.returncode == 0 and "no jobs yet" in empty.stdout
    demo_db = subprocess.run(
        [sys.executable, "-c", _ADD_JOB, f"{tmp_path}/jobs.db"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    assert demo_db.returncode == 0
    listed = run_cli("jobs", env=env, cwd=tmp_path)
    assert "unknown" in listed.stdout and "model KL" in listed.stdout
    assert "answer was lost" in listed.stdout


_ADD_JOB = """
import asyncio, sys
from datetime import UTC, datetime
from bot.model.job import Job, JobStatus, Target
from bot.model.request import Model, VideoRequest
from storage import SqliteJobStore

async def main():
    store = await SqliteJobStore.open(sys.argv[1])
    now = datetime.now(UTC)
    request = VideoRequest(prompt="p", model=Model.KL, aspect_ratio="16:9", resolution="720p",
                           duration=5, audio=False, count=1, image_count=4)
    await store.add(Job(id=0, target=Target(platform="telegram", chat_id="1", user_id="2"),
                        request=request, status=JobStatus.UNKNOWN, created_at=now,
                        updated_at=now, next_run_at=now, error="Keevx's answer was lost"))
    await store.close()

asyncio.run(main())
"""
