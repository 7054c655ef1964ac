"""Again, Delete and Cancel buttons, /jobs and /settings, across a restart."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from bot.keevx.sandbox import Sandbox, SandboxConfig
from bot.model.job import Job, JobStatus
from bot.settings import Settings
from tests.fakes.discord import FakeDiscord
from tests.test_discord_adapter import OVER, USER, Bot, png, running_bot, slash_video

OTHER = FakeDiscord.OTHER_ID
MOD = FakeDiscord.MOD_ID


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as running:
        yield running
        assert not running.unknown, running.unknown


async def click(fake: FakeDiscord, custom_id: str, message_id: str, user: int) -> dict[str, Any]:
    return await fake.push_interaction(fake.button(custom_id, message_id, user=user))


async def answer(fake: FakeDiscord, payload: dict[str, Any]) -> Any:
    """The callback the bot made for ``payload``."""
    [call] = await fake.wait_for(lambda: fake.find_calls("POST", f"/interactions/{payload['id']}/"))
    return call


async def delivered(bot: Bot, count: int) -> list[Job]:
    async def check() -> list[Job] | None:
        jobs = await bot.jobs()
        done = [j for j in jobs if j.status in OVER]
        return done if len(done) == count else None

    jobs: list[Job] = await bot.until(check)
    return jobs


async def test_again_and_delete_work_after_a_restart(
    settings: Settings, fake: FakeDiscord, sandbox: Sandbox
) -> None:
    async with running_bot(settings, fake, sandbox) as bot:
        await slash_video(bot)
        [job] = await delivered(bot, 1)
        assert job.status is JobStatus.DELIVERED, job.error
    [result_id] = job.delivered_ids

    async with running_bot(settings, fake, sandbox) as bot:  # a new client on the same database
        assert fake.connections == 2
        stranger = await click(fake, f"keevx:again:{job.id}", result_id, OTHER)
        refusal = await answer(fake, stranger)
        assert refusal.json["type"] == 4 and refusal.json["data"]["flags"] == 64
        assert "Only the person" in refusal.json["data"]["content"]

        again = await click(fake, f"keevx:again:{job.id}", result_id, USER)
        assert (await answer(fake, again)).json["type"] == 5  # the new job's status message
        jobs = await delivered(bot, 2)
        new = next(j for j in jobs if j.id != job.id)
        assert new.status is JobStatus.DELIVERED, new.error
        assert new.request == job.request and new.again_of == job.id
        assert bot.keevx_creates() == 2  # one task each
        assert len([c for c in bot.sandbox.calls if "upload" in c.path]) == 1  # images reused

        denied = await click(fake, f"keevx:delete:{job.id}", result_id, OTHER)
        assert (await answer(fake, denied)).json["data"]["flags"] == 64
        assert int(result_id) in fake.messages

        mine = await click(fake, f"keevx:delete:{job.id}", result_id, USER)
        assert (await answer(fake, mine)).json["type"] == 6
        await fake.wait_for(lambda: int(result_id) not in fake.messages)

        [new_result] = new.delivered_ids
        await click(fake, f"keevx:delete:{new.id}", new_result, MOD)  # Manage Messages
        await fake.wait_for(lambda: int(new_result) not in fake.messages)


async def test_cancel_button_stops_the_job(settings: Settings, fake: FakeDiscord) -> None:
    async with Sandbox(SandboxConfig(delay=60, render_height=144)) as slow:
        slow_settings = replace(settings, keevx_base_url=slow.base_url)
        async with running_bot(slow_settings, fake, slow) as bot:
            await slash_video(bot)
            job = await bot.until(lambda: _submitted(bot))
            status_id = job.status_message_id
            assert status_id is not None
            buttons = fake.messages[int(status_id)]["components"][0]["components"]
            assert buttons[0]["custom_id"] == f"keevx:cancel:{job.id}"

            denied = await click(fake, f"keevx:cancel:{job.id}", status_id, OTHER)
            assert (await answer(fake, denied)).json["data"]["flags"] == 64
            assert (await bot.core.service.get(job.id)).status is JobStatus.SUBMITTED  # type: ignore[union-attr]

            await click(fake, f"keevx:cancel:{job.id}", status_id, MOD)
            cancelled = await bot.status_of(job.id, JobStatus.CANCELLED)
            assert cancelled.status is JobStatus.CANCELLED
            status = fake.messages[int(status_id)]
            await bot.until(lambda: "cancelled" in status["content"])
            assert status["components"] == []


async def _submitted(bot: Bot) -> Job | None:
    jobs = await bot.jobs()
    if jobs and jobs[0].status is JobStatus.SUBMITTED and jobs[0].status_message_id:
        return jobs[0]
    return None


async def test_settings_need_manage_server_and_apply_to_new_jobs(
    settings: Settings, fake: FakeDiscord, sandbox: Sandbox
) -> None:
    async with running_bot(settings, fake, sandbox) as bot:
        user_try = await fake.push_interaction(fake.slash("settings", {"aspect_ratio": "9:16"}))
        assert "Manage Server" in (await answer(fake, user_try)).json["data"]["content"]

        mod = await fake.push_interaction(
            fake.slash("settings", {"aspect_ratio": "9:16"}, user=MOD)
        )
        reply = (await answer(fake, mod)).json["data"]
        assert reply["flags"] == 64 and "9:16" in reply["content"]
        defaults = await bot.core.service.chat_defaults("discord", str(fake.GUILD_ID))
        assert defaults.aspect_ratio == "9:16"

        bad = await fake.push_interaction(fake.slash("settings", {"duration": 5}, user=MOD))
        assert "5" in (await answer(fake, bad)).json["data"]["content"]  # not a V duration

        await slash_video(bot)
        [job] = await delivered(bot, 1)
        assert job.request.aspect_ratio == "9:16"

        listing = await fake.push_interaction(fake.slash("jobs", {}))
        data = (await answer(fake, listing)).json["data"]
        assert data["flags"] == 64 and f"**#{job.id}**" in data["content"]


async def test_context_menu_on_a_message_without_images_is_refused(
    settings: Settings, fake: FakeDiscord, sandbox: Sandbox
) -> None:
    async with running_bot(settings, fake, sandbox) as bot:
        target = fake.message(content="no pictures here", author=OTHER)
        payload = await fake.push_interaction(fake.message_command("Make a video", target))
        call = await answer(fake, payload)
        assert call.json["type"] == 4 and call.json["data"]["flags"] == 64
        assert not fake.modals and not await bot.jobs()

        # a mention without images gets a hint, a mention with a bad option the refusal
        plain = fake.message(content=f"<@{fake.BOT_ID}> hi", author=USER, mention_bot=True)
        await fake.push_message(plain)
        bad = fake.message(
            content=f"<@{fake.BOT_ID}> waves --ar 1:1",
            author=USER,
            mention_bot=True,
            attachments=[fake.add_attachment("a.png", png())],
        )
        await fake.push_message(bad)

        def replies() -> dict[str, str] | None:
            posts = [c for c in fake.find_calls("POST", "/channels/") if c.status == 200]
            got = {str(c.json["message_reference"]["message_id"]): c.json["content"] for c in posts}
            return got if len(got) == 2 else None

        answers = await fake.wait_for(replies)
        assert answers[plain["id"]].startswith("Attach a photo (or paste a link to one)")
        assert "1:1" in answers[bad["id"]]
        assert not await bot.jobs() and not bot.sandbox.calls


async def test_job_running_across_a_restart_is_finished_with_the_bot_token(
    settings: Settings, fake: FakeDiscord
) -> None:
    async with Sandbox(SandboxConfig(delay=1.5, render_height=144)) as slow:
        slow_settings = replace(settings, keevx_base_url=slow.base_url)
        async with running_bot(slow_settings, fake, slow) as bot:
            await slash_video(bot)
            job = await bot.until(lambda: _submitted(bot))
        async with running_bot(slow_settings, fake, slow) as bot:  # the interaction is forgotten
            done = await bot.status_of(job.id, *OVER)
            assert done.status is JobStatus.DELIVERED, done.error
            status_path = f"/channels/{fake.CHANNEL_ID}/messages/{job.status_message_id}"
            await fake.wait_for(lambda: fake.find_calls("PATCH", status_path))
            [post] = [
                c
                for c in fake.find_calls("POST", f"/channels/{fake.CHANNEL_ID}/messages")
                if c.files
            ]
            assert post.authorized and post.json["content"].startswith(f"<@{USER}>")


async def test_stats_are_for_admins_only(
    settings: Settings, fake: FakeDiscord, sandbox: Sandbox
) -> None:
    admins = dataclasses.replace(settings, admin_users=frozenset({f"discord:{MOD}"}))
    async with running_bot(admins, fake, sandbox) as bot:
        await slash_video(bot)
        await delivered(bot, 1)
        user_try = await fake.push_interaction(fake.slash("stats", {}))
        refused = (await answer(fake, user_try)).json["data"]["content"]
        admin = await fake.push_interaction(fake.slash("stats", {}, user=MOD))
        reply = (await answer(fake, admin)).json["data"]
    assert refused == "Only the bot's admins can see /stats."  # no setting's name
    assert reply["flags"] == 64
    assert "1 job — delivered 1" in reply["content"] and "Videos delivered: 1" in reply["content"]
