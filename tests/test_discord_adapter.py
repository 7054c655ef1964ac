"""The Discord adapter end to end: real discord.py, fake Discord, Keevx sandbox, real core.

Also home of the helpers the other ``test_discord_*`` modules use: ``running_bot``
starts a core (on the sandbox) and a ``DiscordAdapter`` against the fake.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest
from PIL import Image

from adapters.discord import DiscordAdapter
from adapters.discord.endpoints import point_at
from bot import metrics
from bot.app.runtime import Core
from bot.jobs.pipeline import CHAT_GONE, Timing
from bot.keevx.sandbox import Sandbox
from bot.model.database_url import sqlite_path
from bot.model.job import Job, JobStatus
from bot.settings import Settings
from tests.fakes.discord import FakeDiscord

USER = FakeDiscord.USER_ID


def png(size: int = 48, color: tuple[int, int, int] = (200, 80, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), color).save(out, "PNG")
    return out.getvalue()


@dataclass
class Bot:
    fake: FakeDiscord
    sandbox: Sandbox
    core: Core
    adapter: DiscordAdapter

    async def jobs(self, user: int = USER) -> list[Job]:
        return await self.core.service.recent("discord", str(user))

    async def job(self, user: int = USER) -> Job:
        jobs = await self.jobs(user)
        assert len(jobs) == 1, jobs
        return jobs[0]

    async def until(self, check: Callable[[], Any], within: float = 20.0) -> Any:
        """Poll ``check`` (sync or async) until it returns something truthy."""
        async with asyncio.timeout(within):
            while True:
                result = check()
                if asyncio.iscoroutine(result):
                    result = await result
                if result:
                    return result
                await asyncio.sleep(0.03)

    async def status_of(self, job_id: int, *wanted: JobStatus, within: float = 20.0) -> Job:
        async def check() -> Job | None:
            job = await self.core.service.get(job_id)
            return job if job is not None and job.status in wanted else None

        job: Job = await self.until(check, within)
        return job

    def keevx_creates(self) -> int:
        """How many create-task requests reached the Keevx sandbox."""
        return sum(1 for c in self.sandbox.calls if c.path.endswith("/image_to_video"))


def discord_settings(
    settings: Settings, fake: FakeDiscord, guild_ids: tuple[int, ...] = (FakeDiscord.GUILD_ID,)
) -> Settings:
    return replace(
        settings,
        discord_bot_token="fake-token",
        discord_api_url=fake.api_url,
        discord_gateway_url=fake.gateway_url,
        discord_guild_ids=guild_ids,
    )


@asynccontextmanager
async def running_bot(
    settings: Settings,
    fake: FakeDiscord,
    sandbox: Sandbox,
    *,
    guild_ids: tuple[int, ...] = (FakeDiscord.GUILD_ID,),
    timing: Timing | None = None,
) -> AsyncIterator[Bot]:
    """Core and adapter on ``settings``; the fake and sandbox outlive it (for restarts)."""
    settings = discord_settings(settings, fake, guild_ids)
    async with Core(settings, stop_grace=2.0, timing=timing) as core:
        adapter = DiscordAdapter(
            settings, core.service, shared=core.shared, guild_ready_timeout=0.05
        )
        await adapter.start()
        try:
            await core.attach(adapter)
            await fake.wait_ready()
            yield Bot(fake, sandbox, core, adapter)
        finally:
            await core.poller.stop(2.0)
            await adapter.stop()
            point_at()


DONE = (JobStatus.DELIVERED,)
OVER = (
    JobStatus.DELIVERED,
    JobStatus.FAILED,
    JobStatus.UNDELIVERABLE,
    JobStatus.CANCELLED,
    JobStatus.UNKNOWN,
    JobStatus.EXPIRED,
)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as running:
        yield running
        assert not running.unknown, running.unknown


@pytest.fixture
async def bot(settings: Settings, fake: FakeDiscord, sandbox: Sandbox) -> AsyncIterator[Bot]:
    async with running_bot(settings, fake, sandbox) as running:
        yield running


def webhook_posts(fake: FakeDiscord, token: str) -> list[Any]:
    return [
        c for c in fake.find_calls("POST", f"/webhooks/{fake.APP_ID}/{token}") if c.status < 300
    ]


def channel_posts(fake: FakeDiscord, channel: int = FakeDiscord.CHANNEL_ID) -> list[Any]:
    return [c for c in fake.find_calls("POST", f"/channels/{channel}/messages") if c.status < 300]


async def slash_video(bot: Bot, count: int = 1, **options: Any) -> dict[str, Any]:
    fake = bot.fake
    names = ["image"] + [f"image{n}" for n in range(2, count + 1)]
    atts = {
        name: fake.add_attachment(f"photo{n}.png", png(color=(n * 40, 90, 90)))
        for n, name in enumerate(names, start=1)
    }
    options = {"prompt": "waves at the sea", **options}
    payload = fake.slash("video", options, attachments=atts)
    return await fake.push_interaction(payload)


async def test_the_gateway_holder_says_so_in_its_metrics(bot: Bot) -> None:
    assert bot.adapter.leading
    held = metrics.REGISTRY.get_sample_value("keevx_bot_leader", {"role": "discord_gateway"})
    assert held == 1


async def test_commands_are_synced_to_the_guild(bot: Bot) -> None:
    names = {c["name"]: c for c in bot.fake.commands[FakeDiscord.GUILD_ID]}
    assert set(names) == {"video", "jobs", "settings", "language", "stats", "help", "Make a video"}
    video = names["video"]
    options = {o["name"]: o for o in video["options"]}
    assert options["image"]["type"] == 11 and not options["image"].get("required")
    assert options["image7"]["type"] == 11 and not options["image7"].get("required")
    assert [c["value"] for c in options["duration"]["choices"]] == [4, 5, 6, 8, 10]
    assert "KL" in options["model"]["description"] and "V" in options["model"]["description"]
    assert names["Make a video"]["type"] == 3
    assert str(names["settings"]["default_member_permissions"]) == str(1 << 5)
    assert None not in bot.fake.commands  # never synced globally when guild ids are set


async def test_video_with_one_image_is_delivered_through_the_interaction(bot: Bot) -> None:
    payload = await slash_video(bot)
    job = await bot.until(lambda: bot.jobs())
    job = await bot.status_of(job[0].id, *OVER)
    assert job.status is JobStatus.DELIVERED, job.error
    fake, token = bot.fake, payload["token"]
    callback = fake.find_calls("POST", f"/interactions/{payload['id']}/{token}/callback")
    assert callback[0].json["type"] == 5  # deferred at once
    [result] = webhook_posts(fake, token)
    assert result.files and result.files[0][0] == f"keevx-{job.id}-1.mp4"
    assert result.files[0][1] > 1000
    assert "waves at the sea" in result.json["content"]
    ids = [
        c["custom_id"]
        for row in result.json["components"]
        for c in row["components"]
        if "custom_id" in c
    ]
    assert ids == [f"keevx:again:{job.id}", f"keevx:delete:{job.id}"]
    assert job.delivered_ids == (str(fake.messages[int(job.delivered_ids[0])]["id"]),)
    status = fake.messages[int(job.status_message_id or 0)]
    assert "<t:" in status["content"] and ":R>" in status["content"]
    await bot.until(lambda: "done" in status["content"])  # shown right after delivery
    assert status["components"] == []  # no Cancel button any more
    edits = fake.find_calls("PATCH", f"/webhooks/{fake.APP_ID}/{token}/messages/@original")
    assert len(edits) == len({c.json["content"] for c in edits})  # edited on changes only
    assert len(fake.downloads) == 1 and bot.keevx_creates() == 1
    assert not channel_posts(fake)  # everything went through the interaction


async def test_options_typed_into_the_prompt_count(bot: Bot) -> None:
    await slash_video(bot, prompt="waves --ar 9:16 --duration 6", resolution="1080p")
    [job] = await bot.until(lambda: bot.jobs())
    assert job.request.prompt == "waves"
    assert (job.request.aspect_ratio, job.request.duration) == ("9:16", 6)
    assert job.request.resolution == "1080p"


async def test_video_with_three_images(bot: Bot) -> None:
    await slash_video(bot, count=3)
    [job] = await bot.until(lambda: bot.jobs())
    job = await bot.status_of(job.id, *OVER)
    assert job.status is JobStatus.DELIVERED, job.error
    assert job.request.image_count == 3
    assert len(bot.fake.downloads) == 3
    create = next(c for c in bot.sandbox.calls if c.path.endswith("/image_to_video"))
    assert len(create.json["reference_images"]) == 3


async def test_result_after_token_expiry_goes_to_the_channel(bot: Bot) -> None:
    fake = bot.fake
    payload = await slash_video(bot)
    fake.expire(payload["token"])  # as if the generation took more than 15 minutes
    [job] = await bot.until(lambda: bot.jobs())
    job = await bot.status_of(job.id, *OVER)
    assert job.status is JobStatus.DELIVERED, job.error
    [post] = [c for c in channel_posts(fake) if c.files]
    assert post.authorized  # the bot token, not the interaction's
    assert post.json["content"].startswith(f"<@{USER}>")
    mentions = post.json["allowed_mentions"]  # pings the requester only
    assert mentions["parse"] == [] and mentions["users"] == [USER]


async def test_discord_rate_limits_are_honoured(bot: Bot) -> None:
    fake = bot.fake
    channel = f"/channels/{FakeDiscord.CHANNEL_ID}/messages"
    fake.rate_limit("POST", channel, retry_after=1.0)
    payload = await slash_video(bot)
    fake.expire(payload["token"])  # everything goes to the channel with the bot token
    [job] = await bot.until(lambda: bot.jobs())
    job = await bot.status_of(job.id, *OVER)
    assert job.status is JobStatus.DELIVERED, job.error
    posts = fake.find_calls("POST", channel)
    assert posts[0].status == 429 and posts[1].status == 200
    assert posts[1].at - posts[0].at >= 0.9  # waited as told, then went on


async def test_video_over_the_limit_becomes_an_embed_link(bot: Bot) -> None:
    fake = bot.fake
    fake.upload_limit = 2000  # the interaction reports (and the fake enforces) 2000 bytes
    payload = await slash_video(bot)
    [job] = await bot.until(lambda: bot.jobs())
    job = await bot.status_of(job.id, *OVER)
    assert job.status is JobStatus.DELIVERED, job.error
    [result] = webhook_posts(fake, payload["token"])
    assert not result.files
    [embed] = result.json["embeds"]
    assert embed["url"].startswith(bot.sandbox.base_url.rsplit("/v1", 1)[0])
    # Seven days from when Keevx made the video, not from this post.
    (task,) = job.tasks
    assert job.submitted_at is not None and task.done_after is not None
    made = job.submitted_at + timedelta(seconds=task.done_after)
    expires = int((made + timedelta(days=7)).timestamp())
    assert f"expires <t:{expires}:R>" in embed["description"]
    assert embed["title"] == f"Watch the video (job #{job.id})"
    assert embed["image"]["url"]
    links = [c for row in result.json["components"] for c in row["components"] if c.get("url")]
    assert links and links[0]["url"] == embed["url"]


async def test_upload_refused_as_too_large_is_retried_as_a_link(bot: Bot) -> None:
    fake = bot.fake
    fake.upload_limit = 2000  # smaller than the guild's 10 MiB the adapter expects
    message = fake.message(
        content=f"<@{fake.BOT_ID}> waves",
        author=USER,
        mention_bot=True,
        attachments=[fake.add_attachment("a.png", png())],
    )
    await fake.push_message(message)
    [job] = await bot.until(lambda: bot.jobs())
    job = await bot.status_of(job.id, *OVER)
    assert job.status is JobStatus.DELIVERED, job.error
    refused = [
        c
        for c in fake.find_calls("POST", f"/channels/{fake.CHANNEL_ID}/messages")
        if c.status == 413
    ]
    assert refused and refused[0].files
    [linked] = [c for c in channel_posts(fake) if c.json and c.json.get("embeds")]
    assert str(linked.json["message_reference"]["message_id"]) == message["id"]


async def test_non_image_is_refused_before_anything_is_uploaded(bot: Bot) -> None:
    fake = bot.fake
    att = fake.add_attachment("notes.txt", b"hello", content_type="text/plain")
    payload = await fake.push_interaction(
        fake.slash("video", {"prompt": "waves"}, attachments={"image": att})
    )
    [callback] = await fake.wait_for(
        lambda: fake.find_calls("POST", f"/interactions/{payload['id']}")
    )
    assert callback.json["type"] == 4
    assert callback.json["data"]["flags"] == 64  # ephemeral
    assert "not a photo" in callback.json["data"]["content"]
    assert not fake.downloads and not bot.sandbox.calls and not await bot.jobs()


async def test_broken_image_gets_the_cores_refusal(bot: Bot) -> None:
    fake = bot.fake
    att = fake.add_attachment("broken.png", b"\x89PNG not really", content_type="image/png")
    payload = await fake.push_interaction(
        fake.slash("video", {"prompt": "waves"}, attachments={"image": att})
    )
    # Downloaded and checked within Discord's 3 s: the refusal IS the answer, seen only by
    # the user, and nothing was deferred.
    [callback] = await fake.wait_for(
        lambda: fake.find_calls("POST", f"/interactions/{payload['id']}")
    )
    assert callback.json["type"] == 4 and callback.json["data"]["flags"] == 64
    assert "not an image I can read" in callback.json["data"]["content"]
    assert not bot.sandbox.calls and not await bot.jobs()


async def test_interaction_is_answered_only_after_its_job_is_committed(bot: Bot) -> None:
    fake = bot.fake
    seen: list[int] = []
    original = fake._callback

    db = sqlite_path(bot.core.settings.database_url)

    def record(token, call):  # type: ignore[no-untyped-def]
        with contextlib.closing(sqlite3.connect(db)) as conn:  # a reader beside the bot's writer
            seen.append(conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0])
        return original(token, call)

    fake._callback = record  # type: ignore[method-assign]
    payload = await slash_video(bot)
    job = (await bot.until(lambda: bot.jobs()))[0]
    job = await bot.status_of(job.id, *OVER)
    assert job.status is JobStatus.DELIVERED
    assert seen and seen[0] == 1  # the job row existed when Discord got its answer
    callback = fake.find_calls("POST", f"/interactions/{payload['id']}")[0]
    assert callback.json["type"] == 5


async def test_redelivered_interaction_makes_one_job(bot: Bot) -> None:
    payload = await slash_video(bot)
    await bot.fake.push_interaction(payload)  # the gateway sends it again
    [job] = await bot.until(lambda: bot.jobs())
    await bot.status_of(job.id, *OVER)
    await bot.fake.push_interaction(payload)  # and once more after the job is done
    await bot.until(lambda: len(bot.fake.find_calls("POST", "/interactions/")) >= 1)
    assert len(await bot.jobs()) == 1
    assert bot.keevx_creates() == 1


async def test_context_menu_asks_for_a_prompt_then_makes_a_job(bot: Bot) -> None:
    fake = bot.fake
    target = fake.message(
        content="look at this",
        author=FakeDiscord.OTHER_ID,
        attachments=[fake.add_attachment("x.png", png()), fake.add_attachment("y.png", png())],
    )
    await fake.push_interaction(fake.message_command("Make a video", target))
    [modal] = await fake.wait_for(lambda: fake.modals)
    submit = fake.modal_submit(
        modal["custom_id"], {"keevx:prompt": "they dance", "keevx:model": ["KL"]}, user=USER
    )
    await fake.push_interaction(submit)
    [job] = await bot.until(lambda: bot.jobs())
    job = await bot.status_of(job.id, *OVER)
    assert job.status is JobStatus.DELIVERED, job.error
    assert job.request.model == "KL" and job.request.image_count == 2
    assert job.request.prompt == "they dance"
    [post] = [c for c in channel_posts(fake) if c.files]
    assert post.authorized and str(post.json["message_reference"]["message_id"]) == target["id"]


async def test_mention_with_images_makes_a_job(bot: Bot) -> None:
    fake = bot.fake
    message = fake.message(
        content=f"<@{fake.BOT_ID}> waves --ar 9:16",
        author=USER,
        mention_bot=True,
        attachments=[fake.add_attachment("a.png", png())],
    )
    await fake.push_message(message)
    [job] = await bot.until(lambda: bot.jobs())
    job = await bot.status_of(job.id, *OVER)
    assert job.status is JobStatus.DELIVERED, job.error
    assert job.request.aspect_ratio == "9:16" and job.request.prompt == "waves"
    assert job.target.reply_to == message["id"]
    posts = channel_posts(fake)
    assert all(str(p.json["message_reference"]["message_id"]) == message["id"] for p in posts)
    assert any(p.files for p in posts)


async def test_missing_permissions_make_one_job_undeliverable_not_others(bot: Bot) -> None:
    fake = bot.fake
    blocked = fake.message(
        content=f"<@{fake.BOT_ID}> waves",
        author=USER,
        mention_bot=True,
        channel_id=fake.FORBIDDEN_CHANNEL_ID,
        attachments=[fake.add_attachment("a.png", png())],
    )
    await fake.push_message(blocked)
    await slash_video(bot)
    jobs = await bot.until(lambda: _two(bot))
    by_chat = {j.target.chat_id: j for j in jobs}
    bad = await bot.status_of(by_chat[str(fake.FORBIDDEN_CHANNEL_ID)].id, *OVER)
    good = await bot.status_of(by_chat[str(fake.CHANNEL_ID)].id, *OVER)
    assert bad.status is JobStatus.UNDELIVERABLE
    assert bad.error == CHAT_GONE
    assert good.status is JobStatus.DELIVERED, good.error


async def _two(bot: Bot) -> list[Any] | None:
    jobs = await bot.jobs()
    return jobs if len(jobs) == 2 else None


async def test_interaction_near_its_15_minutes_is_not_used(bot: Bot) -> None:
    fake = bot.fake
    att = fake.add_attachment("a.png", png())
    payload = fake.slash("video", {"prompt": "waves"}, attachments={"image": att})
    old = fake.snowflake(at=time.time() - 14.8 * 60)  # the token has 12 s left
    payload["id"], payload["token"] = str(old), f"itok-{old}"
    await fake.push_interaction(payload)
    [job] = await bot.until(lambda: bot.jobs())
    job = await bot.status_of(job.id, *OVER)
    assert job.status is JobStatus.DELIVERED, job.error
    assert not fake.find_calls("PATCH", "/webhooks/") and not fake.find_calls("POST", "/webhooks/")
    assert [c for c in channel_posts(fake) if c.files]


async def test_mention_in_a_thread_is_answered_in_the_thread(bot: Bot) -> None:
    fake = bot.fake
    message = fake.message(
        content=f"<@{fake.BOT_ID}> waves",
        author=USER,
        mention_bot=True,
        channel_id=fake.THREAD_ID,
        attachments=[fake.add_attachment("a.png", png())],
    )
    await fake.push_message(message)
    [job] = await bot.until(lambda: bot.jobs())
    job = await bot.status_of(job.id, *OVER)
    assert job.status is JobStatus.DELIVERED, job.error
    assert job.target.thread_id == str(fake.THREAD_ID)
    assert job.target.chat_id == str(fake.CHANNEL_ID)
    assert [c for c in channel_posts(fake, fake.THREAD_ID) if c.files]
    assert not channel_posts(fake)


async def test_context_menu_job_in_a_channel_the_bot_may_not_post_in(bot: Bot) -> None:
    fake = bot.fake
    target = fake.message(
        content="pics",
        author=USER,
        channel_id=fake.FORBIDDEN_CHANNEL_ID,
        attachments=[fake.add_attachment("x.png", png())],
    )
    await fake.push_interaction(fake.message_command("Make a video", target))
    [modal] = await fake.wait_for(lambda: fake.modals)
    submit = fake.modal_submit(
        modal["custom_id"],
        {"keevx:prompt": "waves"},
        user=USER,
        channel_id=fake.FORBIDDEN_CHANNEL_ID,
    )
    await fake.push_interaction(submit)
    [job] = await bot.until(lambda: bot.jobs())
    job = await bot.status_of(job.id, *OVER)
    assert job.status is JobStatus.UNDELIVERABLE
    [note] = webhook_posts(fake, submit["token"])  # told privately, through the interaction
    assert note.json["flags"] == 64 and "may not post" in note.json["content"]


async def test_draining_asks_new_requests_to_come_back(bot: Bot) -> None:
    await bot.adapter.drain()  # SIGTERM: no new work, deliveries still go out
    payload = await slash_video(bot)
    [callback] = await bot.fake.wait_for(
        lambda: bot.fake.find_calls("POST", f"/interactions/{payload['id']}/")
    )
    assert callback.json["type"] == 4 and "restarting" in callback.json["data"]["content"]
    assert not await bot.jobs() and not bot.sandbox.calls
