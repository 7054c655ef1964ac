"""The Keevx sandbox behaves like Keevx's documented API, over real loopback HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import json
import re
import socket
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import httpx
import pytest
from aiohttp import web
from PIL import Image

import bot.keevx.sandbox.tasks
from bot.keevx.sandbox import SAMPLE_IMAGE, Sandbox, SandboxConfig, render_thumbnail, render_video

HEADERS = {"Authorization": "Bearer test-key", "source": "skill"}
UPLOAD = "/figure-resource/upload/file"
CREATE = "/image_to_video"
MB20 = 20 * 1024 * 1024
SAMPLE = SAMPLE_IMAGE.read_bytes()


@contextlib.asynccontextmanager
async def running(**options: Any) -> AsyncIterator[tuple[Sandbox, httpx.AsyncClient]]:
    """A fast sandbox (instant tasks, 144p) and a client for it; ``options`` override."""
    config = SandboxConfig(**({"delay": 0.0, "render_height": 144, "seed": 1} | options))
    async with (
        Sandbox(config) as sandbox,
        httpx.AsyncClient(
            base_url=sandbox.base_url, headers=HEADERS, trust_env=False, timeout=10.0
        ) as client,
    ):
        assert sandbox.base_url.startswith("http://127.0.0.1:")
        yield sandbox, client


async def upload(client: httpx.AsyncClient, data: bytes = SAMPLE, name: str = "sun.jpg") -> str:
    answer = await client.post(UPLOAD, files={"file": (name, data, "image/jpeg")})
    assert answer.status_code == 200, answer.text
    url: str = answer.json()["result"]["url"]
    return url


def v_body(url: str, **changes: Any) -> dict[str, Any]:
    body = {
        "model": "V",
        "prompt": "Waves crashing on the beach at sunset",
        "image_url": url,
        "aspect_ratio": "16:9",
        "aspect_resolution": "720p",
        "duration": 4,
    }
    return {k: v for k, v in (body | changes).items() if v is not None}


async def create(client: httpx.AsyncClient, body: dict[str, Any]) -> list[str]:
    answer = await client.post(CREATE, json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["code"] == 0 and answer.json()["msg"] == "ok"
    ids: list[str] = answer.json()["data"]["task_ids"]
    return ids


async def query(client: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
    answer = await client.get(f"{CREATE}/{task_id}")
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


def image_bytes(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 120, 200)).save(out, format=fmt)
    return out.getvalue()


def probe(path: Path) -> tuple[float, int, int, int, bool]:
    """(duration, width, height, decoded frames, has audio) of an MP4, via PyAV."""
    with av.open(str(path)) as box:
        video = box.streams.video[0]
        assert video.codec_context.name == "h264"
        assert video.codec_context.pix_fmt == "yuv420p"
        frames = sum(1 for _ in box.decode(video=0))
        assert box.duration is not None
        return box.duration / 1e6, video.width, video.height, frames, bool(box.streams.audio)


# -- upload -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "content_type"), [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")]
)
async def test_upload_answers_the_documented_envelope(fmt: str, content_type: str) -> None:
    data = image_bytes(fmt)
    async with running() as (sandbox, client):
        # The format comes from the bytes: the misleading name does not matter.
        answer = await client.post(UPLOAD, files={"file": ("my photo.txt", data, "text/plain")})
        assert answer.status_code == 200
        body = answer.json()
        assert body.keys() == {"code", "success", "message", "result"}
        assert body["code"] == 0 and body["success"] is True
        assert body["message"] == {"global": "success"}
        result = body["result"]
        assert result["fileName"] == "my_photo.txt"
        assert result["url"].startswith(sandbox.base_url.removesuffix("/v1") + "/media/uploads/")
        assert sandbox.uploads[result["fileId"]].content_type == content_type
        assert sandbox.calls[-1].filename == "my photo.txt"
        served = await client.get(result["url"])
        assert served.content == data
        assert served.headers["content-type"] == content_type


async def test_upload_refuses_what_is_not_an_image() -> None:
    async with running() as (sandbox, client):
        answer = await client.post(UPLOAD, files={"file": ("cat.png", b"GIF89a not ours", "x/y")})
        assert answer.status_code == 400
        assert answer.json()["code"] == 100007
        assert sandbox.uploads == {}


async def test_upload_refuses_more_than_20_mb_but_takes_exactly_20() -> None:
    jpeg = b"\xff\xd8\xff\xe0" + bytes(MB20 - 4)
    async with running() as (sandbox, client):
        answer = await client.post(UPLOAD, files={"file": ("big.jpg", jpeg + b"!", "image/jpeg")})
        assert answer.status_code == 413
        assert answer.json()["code"] == 100004
        assert sandbox.uploads == {}
        await upload(client, jpeg, "limit.jpg")
        assert [u.size for u in sandbox.uploads.values()] == [MB20]


# -- create: validation -------------------------------------------------------------

IMG = "<uploaded>"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"image_url": None, "reference_images": [IMG] * 4, "duration": 8}, 100001),
        ({"image_url": None, "reference_images": [IMG], "duration": 8}, 100001),
        ({"image_url": None, "reference_images": [IMG, IMG], "duration": 4}, 100001),
        ({"reference_images": [IMG, IMG], "duration": 8}, 100001),
        (
            {
                "model": "KL",
                "image_url": None,
                "reference_images": [IMG],
                "aspect_resolution": "4k",
                "duration": 5,
            },
            100001,
        ),
        ({"model": "KL", "duration": 5}, 100001),
        (
            {
                "model": "KL",
                "image_url": None,
                "reference_images": [IMG],
                "duration": 5,
                "generate_audio": True,
            },
            100001,
        ),
        ({"model": "X"}, 100001),
        ({"duration": 5}, 100001),
        ({"aspect_ratio": "1:1"}, 100001),
        ({"aspect_resolution": None}, 100001),
        ({"generate_count": 5}, 100001),
        ({"prompt": "   "}, 100001),
        ({"prompt": "x" * 1001}, 100005),
        ({"image_url": "http://127.0.0.1:9/elsewhere.jpg"}, 100006),
    ],
)
async def test_create_refuses_what_keevx_refuses(changes: dict[str, Any], code: int) -> None:
    async with running() as (sandbox, client):
        url = await upload(client)
        for key, value in changes.items():
            if isinstance(value, list):
                changes[key] = [url if v == IMG else v for v in value]
        answer = await client.post(CREATE, json=v_body(url, **changes))
        assert answer.status_code == 400
        body = answer.json()
        assert body["code"] == code
        expected = "Image URL inaccessible" if code == 100006 else "Parameter error: "
        assert body["msg"].startswith(expected)
        assert sandbox.tasks == {}


async def test_create_accepts_the_edges_of_each_rule() -> None:
    async with running(delay=60.0) as (sandbox, client):
        url = await upload(client)
        bodies = [
            v_body(url, prompt="y" * 1000, aspect_resolution="4k", duration=8),
            v_body(url, image_url=None, reference_images=[url] * 3, duration=8),
            v_body(url, generate_audio=True, generate_count=4),
            {
                "model": "KL",
                "prompt": "products",
                "reference_images": [url] * 7,
                "aspect_ratio": "9:16",
                "aspect_resolution": "1080p",
                "duration": 10,
                "generate_audio": False,
            },
        ]
        for body in bodies:
            await create(client, body)
        assert len(sandbox.tasks) == 7
        assert sandbox.calls[-1].json == bodies[-1]


async def test_generate_count_makes_that_many_tasks() -> None:
    async with running(delay=60.0) as (sandbox, client):
        ids = await create(client, v_body(await upload(client), generate_count=3))
        assert len(set(ids)) == 3
        assert all(re.fullmatch(r"i2v-[0-9a-f]{32}", i) for i in ids)
        assert set(sandbox.tasks) == set(ids)


# -- auth and headers ---------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization", [None, "", "Bearer", "Token test-key", "Basic dGVzdA==", "Bearer wrong"]
)
async def test_a_bad_bearer_gets_401(authorization: str | None) -> None:
    async with running(api_key="test-key") as (sandbox, client):
        headers = {"source": "skill"}
        if authorization is not None:
            headers["Authorization"] = authorization
        async with httpx.AsyncClient(base_url=sandbox.base_url, trust_env=False) as bare:
            answer = await bare.get(f"{CREATE}/i2v-0", headers=headers)
        assert answer.status_code == 401
        assert answer.json() == {"code": 100002, "msg": "Invalid token"}
        # The right key gets past auth, to the next answer: unknown task.
        answer = await client.get(f"{CREATE}/i2v-0")
        assert answer.status_code == 404
        assert answer.json() == {"code": 100003, "msg": "Task not found"}


async def test_the_source_header_is_required() -> None:
    async with running() as (sandbox, _client):
        for source in (None, "web"):
            headers = {"Authorization": "Bearer anything"}
            if source:
                headers["source"] = source
            async with httpx.AsyncClient(base_url=sandbox.base_url, trust_env=False) as bare:
                answer = await bare.post(CREATE, json={}, headers=headers)
            assert answer.status_code == 400
            assert answer.json()["code"] == 100001
            assert "source" in answer.json()["msg"]
        assert sandbox.calls[-1].headers["authorization"] == "Bearer anything"


# -- the task lifecycle -------------------------------------------------------------


async def test_a_task_goes_pending_processing_succeeded(tmp_path: Path) -> None:
    async with running(delay=1.2, pending_fraction=0.4) as (_sandbox, client):
        (task_id,) = await create(client, v_body(await upload(client)))
        first = await query(client, task_id)
        assert first["status"] == "PENDING"
        assert first["video_url"] == first["thumbnail_url"] == first["error_message"] == ""
        await asyncio.sleep(0.6)  # pending until 0.48 s, due at 1.2 s
        assert (await query(client, task_id))["status"] == "PROCESSING"
        for _ in range(50):
            data = await query(client, task_id)
            if data["status"] != "PROCESSING":
                break
            await asyncio.sleep(0.1)
        assert data["status"] == "SUCCEEDED"
        assert (data["duration"], data["width"], data["height"]) == (4, 256, 144)

        video = await client.get(data["video_url"])
        assert video.headers["content-type"] == "video/mp4"
        assert int(video.headers["content-length"]) == len(video.content)
        (tmp_path / "v.mp4").write_bytes(video.content)
        duration, width, height, frames, _ = probe(tmp_path / "v.mp4")
        assert duration == pytest.approx(4.0, abs=0.05)
        assert (width, height, frames) == (256, 144, 96)
        assert width / height == pytest.approx(16 / 9, rel=0.01)

        thumb = await client.get(data["thumbnail_url"])
        assert thumb.headers["content-type"] == "image/webp"
        with Image.open(io.BytesIO(thumb.content)) as img:
            assert img.format == "WEBP" and max(img.size) <= 320


async def test_portrait_with_audio_is_rendered_as_asked(tmp_path: Path) -> None:
    async with running() as (sandbox, client):
        body = v_body(await upload(client), aspect_ratio="9:16", duration=6, generate_audio=True)
        (task_id,) = await create(client, body)
        await sandbox.wait(task_id)
        data = await query(client, task_id)
        (tmp_path / "v.mp4").write_bytes((await client.get(data["video_url"])).content)
        duration, width, height, _, audio = probe(tmp_path / "v.mp4")
        assert (width, height, audio) == (144, 256, True)
        assert duration == pytest.approx(6.0, abs=0.1)


async def test_tasks_finish_on_time_without_being_polled() -> None:
    async with running(delay=0.3) as (sandbox, client):
        (task_id,) = await create(client, v_body(await upload(client)))
        await asyncio.wait_for(sandbox.wait(task_id), 5)
        assert sandbox.tasks[task_id].status == "SUCCEEDED"
        assert sandbox.tasks[task_id].video_path is not None
        assert [c.method for c in sandbox.calls] == ["POST", "POST"]


async def test_a_due_task_still_rendering_reports_processing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    release = threading.Event()

    def slow_render(*args: Any, **kwargs: Any) -> tuple[int, int, float]:
        release.wait(10)
        return render_video(*args, **kwargs)

    monkeypatch.setattr(bot.keevx.sandbox.tasks, "render_video", slow_render)
    async with running(delay=60.0) as (sandbox, client):
        (task_id,) = await create(client, v_body(await upload(client)))
        sandbox.finish_now(task_id)
        try:
            await asyncio.sleep(0.1)
            assert (await query(client, task_id))["status"] == "PROCESSING"
        finally:
            release.set()
        await sandbox.wait(task_id)
        assert (await query(client, task_id))["status"] == "SUCCEEDED"


async def test_fail_marker_and_failure_rate_end_failed() -> None:
    async with running() as (sandbox, client):
        url = await upload(client)
        (task_id,) = await create(client, v_body(url, prompt="a cat #fail"))
        await sandbox.wait(task_id)
        data = await query(client, task_id)
        assert data["status"] == "FAILED"
        assert data["error_message"] == "Content moderation rejected the image"
        assert data["video_url"] == ""
        media = sandbox.base_url.removesuffix("/v1") + f"/media/videos/{task_id}.mp4"
        assert (await client.get(media)).status_code == 404
    async with running(failure_rate=1.0, delay=lambda: 0.05) as (sandbox, client):
        (task_id,) = await create(client, v_body(await upload(client)))
        await sandbox.wait(task_id)
        assert (await query(client, task_id))["status"] == "FAILED"
        assert sandbox.tasks[task_id].error_message


# -- faults -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "message"), [("429", "Rate limit exceeded"), ("500", "Internal server error")]
)
async def test_http_faults_answer_with_their_status(fault: str, message: str) -> None:
    async with running(fault_rate=1.0, faults=(fault,)) as (sandbox, client):
        answer = await client.get(f"{CREATE}/i2v-0")
        assert answer.status_code == int(fault)
        assert answer.json() == {"code": int(fault), "msg": message}
        answer = await client.post(UPLOAD, files={"file": ("a.jpg", SAMPLE, "image/jpeg")})
        assert answer.status_code == int(fault)
        assert [c.fault for c in sandbox.calls] == [fault, fault]
        assert sandbox.uploads == {}


async def test_a_dropped_create_still_creates_the_task() -> None:
    async with running(delay=0.1) as (sandbox, client):
        url = await upload(client)
        sandbox.config = dataclasses.replace(sandbox.config, fault_rate=1.0, faults=("drop",))
        with pytest.raises(httpx.TransportError) as caught:
            await client.post(CREATE, json=v_body(url))
        assert isinstance(caught.value, httpx.RemoteProtocolError | httpx.ReadError)
        assert sandbox.calls[-1].fault == "drop" and sandbox.calls[-1].status is None
        (task,) = sandbox.tasks.values()
        await sandbox.wait(task.task_id)
        assert task.status == "SUCCEEDED"
        sandbox.config = dataclasses.replace(sandbox.config, fault_rate=0.0)
        assert (await query(client, task.task_id))["status"] == "SUCCEEDED"


async def test_dropped_queries_and_uploads_are_not_processed() -> None:
    async with running(fault_rate=1.0, faults=("drop",)) as (sandbox, client):
        with pytest.raises(httpx.TransportError):
            await client.get(f"{CREATE}/i2v-0")
        with pytest.raises(httpx.TransportError):
            await client.post(UPLOAD, files={"file": ("a.jpg", SAMPLE, "image/jpeg")})
        assert sandbox.uploads == {}
        assert [(c.fault, c.status) for c in sandbox.calls] == [("drop", None)] * 2


async def test_gateway_faults_answer_html_and_only_502_after_create_processes() -> None:
    async with running() as (sandbox, client):
        url = await upload(client)
        sandbox.config = dataclasses.replace(sandbox.config, fault_rate=1.0, faults=("504",))
        answer = await client.post(CREATE, json=v_body(url, prompt="five oh four"))
        assert answer.status_code == 504 and "Gateway" in answer.text and sandbox.tasks == {}
        sandbox.config = dataclasses.replace(sandbox.config, faults=("502-after-create",))
        answer = await client.post(CREATE, json=v_body(url, prompt="five oh two"))
        assert answer.status_code == 502 and "Bad Gateway" in answer.text
        assert len(sandbox.tasks) == 1  # made, though the answer says otherwise
        assert sandbox.create_requests == {"five oh four": 1, "five oh two": 1}
        (task_id,) = sandbox.tasks
        assert (await query(client, task_id))["task_id"] == task_id  # create-only fault
        assert [c.fault for c in sandbox.calls[-3:]] == ["504", "502-after-create", None]


async def test_long_rate_limit_and_redirect_loop_are_not_processed() -> None:
    async with running() as (sandbox, client):
        url = await upload(client)
        sandbox.config = dataclasses.replace(sandbox.config, fault_rate=1.0, faults=("429-long",))
        answer = await client.post(CREATE, json=v_body(url))
        assert answer.status_code == 429 and answer.headers["retry-after"] == "3600"
        sandbox.config = dataclasses.replace(sandbox.config, faults=("redirect-loop",))
        answer = await client.post(CREATE, json=v_body(url))
        assert answer.status_code == 307 and answer.headers["location"] == f"/v1{CREATE}"
        with pytest.raises(httpx.TooManyRedirects):
            await client.get(f"{CREATE}/i2v-0", follow_redirects=True)
        assert sandbox.tasks == {} and sandbox.create_requests == {v_body(url)["prompt"]: 2}


async def test_bad_shape_and_evil_task_ids_spoil_processed_answers() -> None:
    async with running() as (sandbox, client):
        sandbox.config = dataclasses.replace(sandbox.config, fault_rate=1.0, faults=("bad-shape",))
        answer = await client.post(UPLOAD, files={"file": ("a.jpg", SAMPLE, "image/jpeg")})
        (result,) = answer.json()["result"]
        url = result["url"]
        assert list(sandbox.uploads) == [result["fileId"]]
        answer = await client.post(CREATE, json=v_body(url))
        assert answer.json()["data"] == [{"task_ids": list(sandbox.tasks)}]
        sandbox.config = dataclasses.replace(sandbox.config, faults=("evil-task-id",))
        answer = await client.post(CREATE, json=v_body(url))
        (evil,) = answer.json()["data"]["task_ids"]
        assert evil == f"../../{list(sandbox.tasks)[-1]}" and len(sandbox.tasks) == 2
        answer = await client.get(f"{CREATE}/{next(iter(sandbox.tasks))}")
        assert answer.status_code == 200 and "task_ids" not in answer.text  # create-only


async def test_trickle_sends_the_real_answer_a_byte_at_a_time() -> None:
    async with running(trickle_interval=0.001) as (sandbox, client):
        url = await upload(client)
        (task_id,) = await create(client, v_body(url))
        sandbox.config = dataclasses.replace(sandbox.config, fault_rate=1.0, faults=("trickle",))
        chunks: list[bytes] = []
        async with client.stream("GET", f"{CREATE}/{task_id}") as answer:
            async for chunk in answer.aiter_raw():
                chunks.append(chunk)
        assert max(map(len, chunks)) <= 2 and len(chunks) > 100
        assert json.loads(b"".join(chunks))["data"]["task_id"] == task_id
        assert sandbox.calls[-1].fault == "trickle" and sandbox.calls[-1].status == 200


async def test_a_trickle_the_client_abandons_ends_quietly() -> None:
    async with running(trickle_interval=0.05) as (sandbox, client):
        sandbox.config = dataclasses.replace(sandbox.config, fault_rate=1.0, faults=("trickle",))
        with pytest.raises(httpx.ReadTimeout):
            await client.get(f"{CREATE}/i2v-0", timeout=httpx.Timeout(10.0, read=0.01))
        assert sandbox.calls[-1].fault == "trickle"


async def test_faults_are_drawn_at_the_configured_rate_from_the_seed() -> None:
    async def statuses() -> list[int]:
        async with running(fault_rate=0.5, faults=("429", "500"), seed=42) as (_, client):
            return [(await client.get(f"{CREATE}/i2v-0")).status_code for _ in range(40)]

    first = await statuses()
    assert first == await statuses()
    assert {404, 429, 500} == set(first)


# -- callbacks ----------------------------------------------------------------------


@contextlib.asynccontextmanager
async def receiver() -> AsyncIterator[tuple[str, asyncio.Queue[Any]]]:
    """A loopback HTTP server queueing the JSON bodies POSTed to it."""
    received: asyncio.Queue[Any] = asyncio.Queue()

    async def take(request: web.Request) -> web.Response:
        await received.put(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", take)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/hook", received
    finally:
        await runner.cleanup()


async def test_finished_tasks_post_the_documented_callback() -> None:
    async with receiver() as (hook, received), running() as (_sandbox, client):
        url = await upload(client)
        (ok_id,) = await create(client, v_body(url, callback_url=hook))
        (bad_id,) = await create(client, v_body(url, prompt="#fail", callback_url=hook))
        bodies = [await asyncio.wait_for(received.get(), 5) for _ in range(2)]
        by_id = {b["data"]["task_id"]: b for b in bodies}
        for body in bodies:
            assert {k: body[k] for k in ("code", "msg", "task_type")} == {
                "code": 0,
                "msg": "ok",
                "task_type": "image_to_video",
            }
            assert body["data"].keys() == {
                "task_id",
                "status",
                "video_url",
                "thumbnail_url",
                "error_message",
            }
        assert by_id[ok_id]["data"]["status"] == "SUCCEEDED"
        assert (await client.get(by_id[ok_id]["data"]["video_url"])).status_code == 200
        assert by_id[bad_id]["data"]["status"] == "FAILED"
        assert by_id[bad_id]["data"]["error_message"]


async def test_an_unreachable_callback_is_ignored() -> None:
    with socket.socket() as probe_socket:  # a port that was free a moment ago: refuses
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    async with running() as (sandbox, client):
        body = v_body(await upload(client), callback_url=f"http://127.0.0.1:{port}/hook")
        (task_id,) = await create(client, body)
        await asyncio.wait_for(sandbox.wait(task_id), 15)
        assert (await query(client, task_id))["status"] == "SUCCEEDED"


# -- media and rendering ------------------------------------------------------------


async def test_min_video_bytes_pads_a_still_playable_mp4(tmp_path: Path) -> None:
    async with running(min_video_bytes=3_000_000) as (sandbox, client):
        (task_id,) = await create(client, v_body(await upload(client)))
        await sandbox.wait(task_id)
        url = (await query(client, task_id))["video_url"]
        head = await client.head(url)
        assert int(head.headers["content-length"]) >= 3_000_000 and head.content == b""
        part = await client.get(url, headers={"Range": "bytes=0-99"})
        assert part.status_code == 206 and len(part.content) == 100
        (tmp_path / "v.mp4").write_bytes((await client.get(url)).content)
        assert (tmp_path / "v.mp4").stat().st_size >= 3_000_000
        duration, width, _, frames, _ = probe(tmp_path / "v.mp4")
        assert duration == pytest.approx(4.0, abs=0.05) and frames == 96 and width == 256


def test_render_helpers_and_sample(tmp_path: Path) -> None:
    assert SAMPLE_IMAGE.stat().st_size < 150_000
    with Image.open(SAMPLE_IMAGE) as img:
        assert (img.format, img.size) == ("JPEG", (1280, 853))
    out = tmp_path / "v.mp4"
    assert render_video(SAMPLE_IMAGE, out, aspect_ratio="9:16", duration=2, height=101) == (
        100,
        178,
        2.0,
    )
    assert probe(out)[1:3] == (100, 178)
    size = render_thumbnail(SAMPLE_IMAGE, tmp_path / "t.webp", aspect_ratio="16:9")
    assert max(size) == 320 and size[0] > size[1]


def test_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="unknown faults"):
        SandboxConfig(faults=("timeout",))
    with pytest.raises(ValueError, match="fault_rate"):
        SandboxConfig(fault_rate=1.5)
    with pytest.raises(ValueError, match="trickle_interval"):
        SandboxConfig(trickle_interval=-1)
