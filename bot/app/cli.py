"""The ``keevx-bot`` command: ``run`` (the default), ``demo``, ``doctor``, ``jobs``, ``copy-db``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from bot.app.logs import setup_logging
from bot.errors import BotError, RequestInvalid
from bot.model.database_url import url_passwords
from bot.settings import Settings

__all__ = ["main"]


_CHAT_OPTIONS = ("model", "ar", "res", "duration", "count")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keevx-bot", description="Turn photos into AI videos in Telegram and Discord chats."
    )
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="start every platform whose token is set (the default)")
    demo = commands.add_parser(
        "demo", help="make a video on the built-in sandbox and save it under ./out/"
    )
    for option in _CHAT_OPTIONS:
        demo.add_argument(f"--{option}", metavar=option.upper(), help="as in the chat syntax")
    demo.add_argument("--audio", action="store_const", const=True, dest="audio")
    demo.add_argument("--no-audio", action="store_const", const=False, dest="audio")
    demo.add_argument("images", nargs="*", type=Path, help="photos (default: a bundled sample)")
    demo.add_argument("--prompt", default="", help="what should happen in the video")
    demo.add_argument("--out", type=Path, default=Path("out"), help="folder for the MP4 (./out)")
    demo.add_argument("--delay", type=float, default=3.0, help="sandbox generation time in seconds")
    commands.add_parser("doctor", help="check configuration, database, Keevx and each platform")
    jobs = commands.add_parser("jobs", help="list recent jobs")
    jobs.add_argument("--limit", type=int, default=20)
    copy = commands.add_parser(
        "copy-db",
        help="copy every job and setting of one database into another, empty one",
        description="Copy every job (ids kept), chat default, duration and waiting image "
        "from FROM into TO, which must hold no jobs; stop the bot on FROM first.",
    )
    copy.add_argument("source", metavar="FROM", help="as DATABASE_URL: sqlite:///data/keevx-bot.db")
    copy.add_argument(
        "target", metavar="TO", help="as DATABASE_URL: postgresql://user:pass@host/db"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        secrets = settings.secrets
        if args.command == "copy-db":
            secrets += (*url_passwords(args.source), *url_passwords(args.target))
        quiet = "WARNING" if args.command == "demo" else "INFO"  # the demo prints its progress
        setup_logging(
            secrets,
            level=getattr(logging, os.environ.get("LOG_LEVEL", quiet).upper(), logging.INFO),
            json_lines=os.environ.get("LOG_FORMAT", "").lower() == "json",
        )
        if args.command == "demo":
            return _demo(args)
        if args.command == "doctor":
            return asyncio.run(_doctor(settings))
        if args.command == "jobs":
            return asyncio.run(_jobs(settings, args.limit))
        if args.command == "copy-db":
            return asyncio.run(_copy_db(args.source, args.target))
        from bot.app.runtime import run

        asyncio.run(run(settings))
        return 0
    except RequestInvalid as exc:
        print(exc, file=sys.stderr)
        return 2
    except BotError as exc:
        print(f"keevx-bot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _demo(args: argparse.Namespace) -> int:
    from bot.app.demo import run_demo, sample_image

    images = list(args.images) or [sample_image()]
    for image in images:
        if not image.is_file():
            print(f"keevx-bot: no such image file: {image}", file=sys.stderr)
            return 2
    # The demo speaks the chat syntax, so the same parser checks its options.
    words = [args.prompt]
    words += [f"--{o} {getattr(args, o)}" for o in _CHAT_OPTIONS if getattr(args, o) is not None]
    if args.audio is not None:
        words.append("--audio" if args.audio else "--no-audio")
    text = " ".join(words).strip()
    job = asyncio.run(run_demo(images, text, out_dir=args.out, delay=args.delay))
    return 0 if job.delivered_ids else 1


async def _doctor(settings: Settings) -> int:
    from bot.app.doctor import diagnose
    from bot.app.logs import RedactingFilter

    redact = RedactingFilter(settings.secrets).redact
    checks = await diagnose(settings)
    for check in checks:
        print(f"{'ok ' if check.ok else 'BAD'}  {check.name:<13} {redact(check.detail)}")
    return 0 if all(c.ok for c in checks) else 1


async def _jobs(settings: Settings, limit: int) -> int:
    from storage import open_store

    store = await open_store(settings.database_url)
    try:
        jobs = await store.recent(limit=limit)
    finally:
        await store.close()
    now = datetime.now(UTC)
    print(f"{'id':>5}  {'platform':<9} {'status':<13} {'age':>6}  {'user':<14} request")
    for job in jobs:
        age = now - job.created_at
        minutes = int(age.total_seconds() // 60)
        age_text = f"{minutes}m" if minutes < 120 else f"{minutes // 60}h"
        user = (job.target.user_name or job.target.user_id)[:14]
        line = f"{job.id:>5}  {job.platform:<9} {job.status:<13} {age_text:>6}  {user:<14} "
        line += job.request.summary()
        if job.error:
            line += f"  — {job.error}"
        print(line)
    if not jobs:
        print("no jobs yet")
    return 0


async def _copy_db(source: str, target: str) -> int:
    from bot.app.copy_db import copy_db

    copied = await copy_db(source, target)
    print(copied.summary())
    return 0
