"""An in-process Keevx on loopback: the real routes, envelopes, errors and task lifecycle.

The bot's own httpx client talks to it over real HTTP, so everything between
"build a request" and "download the video" is exercised without credits:
uploads, validation, polling, callbacks, rate limits, 5xx and lost answers.
Videos are real MP4s rendered from the uploaded image (see :mod:`.render`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import random
import tempfile
from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiohttp import BodyPartReader, web
from aiohttp.typedefs import Handler

from bot.keevx.sandbox.checks import (
    CODE_NOT_FOUND,
    CODE_PARAMETER,
    CODE_TOKEN,
    Refusal,
    check_create,
)
from bot.keevx.sandbox.faults import CREATE_ONLY, answer_instead, spoil, trickle
from bot.keevx.sandbox.models import RecordedCall, SandboxConfig, SandboxTask, UploadedFile
from bot.keevx.sandbox.tasks import Studio
from bot.keevx.sandbox.uploads import store_upload

__all__ = ["Sandbox"]

log = logging.getLogger(__name__)

UPLOAD_PATH = "/v1/figure-resource/upload/file"
CREATE_PATH = "/v1/image_to_video"
FILENAME = web.RequestKey("keevx_sandbox_filename", str)


def _error(status: int, code: int, msg: str) -> web.Response:
    return web.json_response({"code": code, "msg": msg}, status=status)


class Sandbox:
    """An emulated Keevx API served on loopback; an async context manager.

    ``calls``, ``uploads`` and ``tasks`` record what clients did, for tests;
    ``create_requests`` counts the create requests per prompt, whatever their
    answer, so a test can check that no job's create was ever sent twice.
    Media URLs (uploads, videos, thumbnails) are public like Keevx's storage
    links: no auth, no faults, HEAD and Range supported.
    """

    def __init__(
        self, config: SandboxConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self._config = config or SandboxConfig()
        self.calls: list[RecordedCall] = []
        self.create_requests: Counter[str] = Counter()
        self.uploads: dict[str, UploadedFile] = {}
        self._studio = Studio(self._config)
        self.tasks: dict[str, SandboxTask] = self._studio.tasks
        self._host, self._port = host, port
        self._faults = random.Random(self._config.seed)
        self._by_url: dict[str, UploadedFile] = {}
        self._origin: str | None = None
        self._web: web.AppRunner | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._dir = Path()

    @property
    def config(self) -> SandboxConfig:
        """How the sandbox behaves; assign a new one to change that mid-run.

        For example, upload first and then switch faults on for the create call.
        Tasks already created keep their delay and fate.
        """
        return self._config

    @config.setter
    def config(self, config: SandboxConfig) -> None:
        self._config = self._studio.config = config

    @property
    def base_url(self) -> str:
        """The API base, e.g. ``http://127.0.0.1:54321/v1``; media is under the same origin."""
        if self._origin is None:
            raise RuntimeError("the sandbox is not running")
        return f"{self._origin}/v1"

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Serve on ``host:port`` (port 0 picks a free one)."""
        if self._web is not None:
            raise RuntimeError("the sandbox is already running")
        self._tmp = tempfile.TemporaryDirectory(prefix="keevx-sandbox-")
        self._dir = Path(self._tmp.name)
        app = web.Application(middlewares=[self._api])
        app.add_routes(
            [
                web.post(UPLOAD_PATH, self._upload),
                web.post(CREATE_PATH, self._create),
                web.get(CREATE_PATH + "/{task_id}", self._query),
                web.get("/media/uploads/{file_id}/{name}", self._media_upload),
                web.get("/media/videos/{task_id}.mp4", self._media_video),
                web.get("/media/thumbnails/{task_id}.webp", self._media_thumbnail),
            ]
        )
        self._web = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._web.setup()
        await web.TCPSite(self._web, self._host, self._port).start()
        host, port = self._web.addresses[0][:2]
        self._origin = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        self._studio.open(folder=self._dir, origin=self._origin)
        log.info("Keevx sandbox serving at %s", self.base_url)

    async def close(self) -> None:
        """Stop serving, cancel unfinished tasks and delete every stored file."""
        if self._web is not None:
            await self._web.cleanup()
            self._web, self._origin = None, None
        await self._studio.close()
        if self._tmp is not None:
            await asyncio.to_thread(self._tmp.cleanup)
            self._tmp = None

    def finish_now(self, task_id: str | None = None) -> None:
        """Make one task (or every unfinished one) due now instead of after its delay."""
        self._studio.finish_now(task_id)

    async def wait(self, task_id: str | None = None) -> None:
        """Wait until one task (or every task) has finished and its callback was sent."""
        await self._studio.wait(task_id)

    # -- the API ------------------------------------------------------------------

    @web.middleware
    async def _api(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Faults, auth, JSON errors and recording for every /v1 call."""
        if not request.path.startswith("/v1/"):
            return await handler(request)
        body: Any = None
        if request.content_type == "application/json":
            with contextlib.suppress(ValueError):
                body = await request.json()
        is_create = request.method == "POST" and request.path == CREATE_PATH
        if is_create:
            self.create_requests[str(body.get("prompt", "")) if isinstance(body, dict) else ""] += 1
        fault = None
        if self.config.fault_rate and self._faults.random() < self.config.fault_rate:
            fault = self._faults.choice(self.config.faults)
            if fault in CREATE_ONLY and not is_create:
                fault = None
        response: web.StreamResponse | None = answer_instead(fault, request)
        if response is None and fault == "drop" and not is_create:
            response = web.Response(status=500)  # never sent: the connection is dropped first
        if response is None:
            try:
                self._authorize(request)
                response = spoil(fault, await handler(request))
            except Refusal as refusal:
                response = spoil(fault, _error(refusal.status, refusal.code, refusal.msg))
            except web.HTTPException as exc:  # unknown route or method
                response = _error(exc.status, exc.status, exc.reason)
        if fault == "drop" and request.transport is not None:
            # Close without answering (a create has been processed: its answer is lost).
            # aiohttp then fails to write ``response``, treats it as a client disconnect.
            request.transport.abort()
        status = None if fault == "drop" else response.status
        self.calls.append(
            RecordedCall(
                method=request.method,
                path=request.path,
                headers={k.lower(): v for k, v in request.headers.items()},
                json=body,
                filename=request.get(FILENAME),
                status=status,
                fault=fault,
            )
        )
        log.debug("%s %s -> %s (fault %s)", request.method, request.path, status, fault)
        if fault == "trickle":
            return await trickle(request, response, self.config.trickle_interval)
        return response

    def _authorize(self, request: web.Request) -> None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token, key = token.strip(), self.config.api_key
        if (
            scheme.lower() != "bearer"
            or not token
            or (key is not None and not hmac.compare_digest(token.encode(), key.encode()))
        ):
            raise Refusal(401, CODE_TOKEN, "Invalid token")
        source = request.headers.get("source")
        if source != "skill":
            what = "is required" if source is None else "must be 'skill'"
            raise Refusal(400, CODE_PARAMETER, f"Parameter error: header 'source: skill' {what}")

    async def _upload(self, request: web.Request) -> web.Response:
        if not request.content_type.startswith("multipart/"):
            raise Refusal(400, CODE_PARAMETER, "Parameter error: send multipart/form-data")
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not (isinstance(part, BodyPartReader) and part.name == "file"):
                await part.release()
                continue
            request[FILENAME] = part.filename or ""
            assert self._origin is not None
            stored = await store_upload(part, folder=self._dir / "uploads", origin=self._origin)
            self.uploads[stored.file_id] = self._by_url[stored.url] = stored
            result = {"url": stored.url, "fileId": stored.file_id, "fileName": stored.file_name}
            return web.json_response(
                {"code": 0, "success": True, "message": {"global": "success"}, "result": result}
            )
        raise Refusal(400, CODE_PARAMETER, "Parameter error: form field 'file' is required")

    async def _create(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            raise Refusal(400, CODE_PARAMETER, "Parameter error: body must be JSON") from None
        spec = check_create(body, reachable=self._by_url.__contains__)
        images = [self._by_url[url].path for url in spec.image_urls]
        ids = [self._studio.create(spec, body, images) for _ in range(spec.count)]
        return web.json_response({"code": 0, "msg": "ok", "data": {"task_ids": ids}})

    async def _query(self, request: web.Request) -> web.Response:
        task = self.tasks.get(request.match_info["task_id"])
        if task is None:
            raise Refusal(404, CODE_NOT_FOUND, "Task not found")
        data = self._studio.report(task)
        data |= {"duration": task.duration, "width": task.width, "height": task.height}
        return web.json_response({"code": 0, "msg": "ok", "data": data})

    # -- media --------------------------------------------------------------------

    async def _media_upload(self, request: web.Request) -> web.FileResponse:
        stored = self.uploads.get(request.match_info["file_id"])
        if stored is None or stored.file_name != request.match_info["name"]:
            raise web.HTTPNotFound()
        return web.FileResponse(stored.path, headers={"Content-Type": stored.content_type})

    def _finished(self, request: web.Request) -> SandboxTask:
        task = self.tasks.get(request.match_info["task_id"])
        if task is None or task.outcome != "SUCCEEDED":
            raise web.HTTPNotFound()
        return task

    async def _media_video(self, request: web.Request) -> web.FileResponse:
        path = self._finished(request).video_path
        if path is None:
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers={"Content-Type": "video/mp4"})

    async def _media_thumbnail(self, request: web.Request) -> web.FileResponse:
        path = self._finished(request).thumbnail_path
        if path is None:
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers={"Content-Type": "image/webp"})
