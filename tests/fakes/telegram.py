"""A fake Telegram Bot API server on loopback, good enough for the real PTB ``Application``.

    async with FakeTelegram(token="123:ABC") as fake:
        app = ApplicationBuilder().token(fake.token).base_url(fake.base_url)
                .base_file_url(fake.base_file_url).build()
        fake.photo_message(chat_id=42, caption="waves")   # queue an incoming update
        call = await fake.wait_for("sendMessage")           # what the bot did

Methods live at ``/bot{token}/{method}`` (form, JSON or multipart bodies, as PTB
sends them) and files at ``/file/bot{token}/{path}``. Every call is recorded in
:attr:`FakeTelegram.calls`; an unknown method answers 404 and is recorded too,
so a test notices. Errors are injected per chat (:meth:`block`, :meth:`gone`)
or per method (:meth:`fail`, :meth:`flood`). Like the real Bot API, a text over
4096 characters, a caption over 1024 or a button answer over 200 (counted after
parsing ``parse_mode="HTML"``) answers 400, and so does malformed HTML.
:meth:`FakeTelegram.slow` makes a method take its time.

Several bot instances (one token) can share the fake: each gets its own API base from
:meth:`FakeTelegram.api_url_for` (``{url}/via/{name}``), so every :class:`Call` names
the instance that made it (:attr:`Call.via`). In webhook mode the fake plays Telegram
behind a load balancer: given the instances' base URLs (:meth:`set_webhook_targets`),
:meth:`deliver` POSTs an update to the path of the registered webhook URL with its
secret header, round-robin (or to a chosen target), moving on to the next target
while one refuses or cannot be reached, as Telegram retries; :meth:`deliver_at_once`
POSTs the same update to several targets at the same moment. Like Telegram, it takes one
``getUpdates`` consumer per token: an instance's call while another instance's is in
flight answers 409 Conflict and is recorded in :attr:`FakeTelegram.poll_conflicts`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import BodyPartReader, web

__all__ = ["Call", "FakeFile", "FakeTelegram", "Upload", "WebhookPost"]

JSONDict = dict[str, Any]
MAX_DOWNLOAD = 20 * 1024 * 1024
TEXT_LIMIT = 4096  # characters, after entity parsing
CAPTION_LIMIT = 1024
ANSWER_LIMIT = 200  # answerCallbackQuery text
HTML_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a"}
    | {"tg-emoji", "code", "pre", "blockquote"}
)
# Fields PTB sends as plain text; everything else that parses as JSON is decoded.
TEXT_FIELDS = frozenset(
    {"text", "caption", "callback_query_id", "secret_token", "url", "description", "query"}
)


@dataclass
class Upload:
    """A file part of a multipart request."""

    name: str
    filename: str | None
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class Call:
    """One request the bot made: the method, its decoded fields and uploaded files.

    ``attach://`` references are resolved: a field (or a media item's ``media``
    / ``thumbnail``) that pointed to an upload holds the :class:`Upload`.
    """

    method: str
    params: JSONDict
    files: dict[str, Upload] = field(default_factory=dict)
    status: int = 200
    result: Any = None
    via: str | None = None
    """The instance's name when it came through :meth:`FakeTelegram.api_url_for`."""

    def __getitem__(self, key: str) -> Any:
        return self.params[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.params.get(key, default)


@dataclass(frozen=True)
class FakeFile:
    """A file the fake serves through getFile and the download route."""

    file_id: str
    file_unique_id: str
    data: bytes
    size: int
    path: str


@dataclass(frozen=True)
class WebhookPost:
    """One webhook delivery attempt: the update, the target and its answer (0: no answer)."""

    update_id: int
    target: str
    status: int
    error: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class _Failure:
    status: int
    description: str
    times: int
    parameters: JSONDict | None = None


class FakeTelegram:
    """The server; an async context manager that listens on 127.0.0.1, random port."""

    def __init__(
        self,
        token: str = "123:ABC",
        *,
        bot_username: str = "keevx_test_bot",
        max_poll_wait: float = 0.5,
        local_dir: Path | None = None,
    ) -> None:
        """``local_dir`` makes it behave like ``telegram-bot-api --local``: getFile answers
        an absolute path under that folder (the file is written there) and has no size limit."""
        self.token = token
        self.local_dir = local_dir
        self.bot_user: JSONDict = {
            "id": int(token.split(":", 1)[0]),
            "is_bot": True,
            "first_name": "Keevx",
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.max_poll_wait = max_poll_wait
        self.calls: list[Call] = []
        self.errors: list[Exception] = []  # the fake's own crashes
        self.files: dict[str, FakeFile] = {}
        self.messages: dict[tuple[int, int], JSONDict] = {}
        self.webhook: JSONDict = {"url": "", "secret_token": None}
        self.commands: list[JSONDict] = []  # the default list (no language_code)
        self.commands_by_language: dict[str, list[JSONDict]] = {}
        self.confirmed_offset = 0
        self.blocked: set[int] = set()
        self.missing: set[int] = set()
        self.chat_admins: dict[int, set[int]] = {}
        self._updates: list[JSONDict] = []
        self._update_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._failures: dict[str, list[_Failure]] = {}
        self._new_update = asyncio.Event()
        self._called = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.webhook_targets: list[str] = []
        self.webhook_posts: list[WebhookPost] = []
        self._next_target = 0
        self._slow: dict[str, float] = {}
        self._http: aiohttp.ClientSession | None = None
        self._polling: Counter[str | None] = Counter()  # getUpdates in flight, per instance
        self.poll_conflicts: list[tuple[str | None, str | None]] = []
        """(polling, refused) instances: a getUpdates refused 409 while another one polled."""

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> FakeTelegram:
        app = web.Application(client_max_size=200 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_download)
        app.router.add_route("*", "/via/{via}/bot{token}/{method}", self._handle_method)
        app.router.add_get("/via/{via}/file/bot{token}/{path:.+}", self._handle_download)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._new_update.set()
        if self._http is not None:
            await self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()
        # Nothing the bot wrote (texts, captions, buttons, file names) may hold its token.
        for call in self.calls:
            assert self.token not in repr(call.params), f"bot token sent in {call.method}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"

    def api_url_for(self, name: str) -> str:
        """A ``TELEGRAM_API_URL`` for one instance: its calls carry ``via == name``."""
        return f"{self.url}/via/{name}"

    # -- error injection ---------------------------------------------------------------------

    def slow(self, method: str, seconds: float) -> None:
        """Every call of ``method`` waits ``seconds`` before it is answered (0: no wait)."""
        self._slow[method] = seconds

    def block(self, chat_id: int) -> None:
        """The user blocked the bot: every send to ``chat_id`` answers 403."""
        self.blocked.add(chat_id)

    def gone(self, chat_id: int) -> None:
        """The chat no longer exists: every send answers 400 chat not found."""
        self.missing.add(chat_id)

    def fail(
        self,
        method: str,
        status: int,
        description: str,
        *,
        times: int = 1,
        parameters: JSONDict | None = None,
    ) -> None:
        """The next ``times`` calls of ``method`` answer ``status`` with ``description``."""
        self._failures.setdefault(method, []).append(
            _Failure(status, description, times, parameters)
        )

    def flood(self, method: str, *, retry_after: int = 1, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` answer 429 with ``parameters.retry_after``."""
        self.fail(
            method,
            429,
            f"Too Many Requests: retry after {retry_after}",
            times=times,
            parameters={"retry_after": retry_after},
        )

    # -- assertions --------------------------------------------------------------------------

    def calls_of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(
        self,
        method: str,
        count: int = 1,
        *,
        within: float = 10.0,
        where: Callable[[Call], bool] | None = None,
    ) -> Call:
        """Wait until ``count`` successful calls of ``method`` (matching ``where``); the last."""

        def matching() -> list[Call]:
            return [
                c for c in self.calls_of(method) if c.status == 200 and (where is None or where(c))
            ]

        async with asyncio.timeout(within), self._called:
            await self._called.wait_for(lambda: len(matching()) >= count)
        return matching()[count - 1]

    @property
    def pending_updates(self) -> list[JSONDict]:
        """Updates queued and not confirmed yet by a getUpdates offset."""
        return list(self._updates)

    def sent_texts(self, chat_id: int | None = None) -> list[str]:
        """Every text and caption the bot sent or edited in (to ``chat_id``)."""
        out = []
        for c in self.calls:
            if c.status != 200 or (chat_id is not None and c.get("chat_id") != chat_id):
                continue
            for key in ("text", "caption"):
                if isinstance(c.get(key), str):
                    out.append(c.params[key])
            for item in c.get("media") or []:
                if isinstance(item, dict) and isinstance(item.get("caption"), str):
                    out.append(item["caption"])
        return out

    # -- files -------------------------------------------------------------------------------

    def add_file(self, data: bytes, *, size: int | None = None, kind: str = "photos") -> FakeFile:
        """Register a file; ``size`` overrides the announced size (test 20 MB without 20 MB)."""
        n = next(self._file_ids)
        ext = {"photos": "jpg", "documents": "png", "videos": "mp4"}.get(kind, "bin")
        f = FakeFile(
            file_id=f"FILE{n:04d}-{kind}",
            file_unique_id=f"U{n:04d}",
            data=data,
            size=len(data) if size is None else size,
            path=f"{kind}/file_{n}.{ext}",
        )
        self.files[f.file_id] = f
        return f

    # -- incoming updates --------------------------------------------------------------------

    def next_message_id(self, chat_id: int) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    @staticmethod
    def user(
        user_id: int = 1001,
        first_name: str = "Ann",
        username: str | None = "ann",
        *,
        language_code: str | None = None,
    ) -> JSONDict:
        """A person; ``language_code`` is their app's language (an IETF tag: ``ru``, ``pt-br``)."""
        u: JSONDict = {"id": user_id, "is_bot": False, "first_name": first_name}
        if username:
            u["username"] = username
        if language_code:
            u["language_code"] = language_code
        return u

    @staticmethod
    def chat(chat_id: int, chat_type: str | None = None, *, forum: bool = False) -> JSONDict:
        kind = chat_type or ("private" if chat_id > 0 else "supergroup")
        c: JSONDict = {"id": chat_id, "type": kind}
        if kind == "private":
            c["first_name"] = "Ann"
        else:
            c["title"] = f"Group {chat_id}"
            if forum:
                c["is_forum"] = True
        return c

    def message(
        self,
        chat_id: int,
        *,
        user: JSONDict | None = None,
        text: str | None = None,
        caption: str | None = None,
        photo: FakeFile | None = None,
        document: FakeFile | None = None,
        mime_type: str = "image/png",
        media_group_id: str | None = None,
        reply_to: int | None = None,
        thread_id: int | None = None,
        chat_type: str | None = None,
        queue: bool = True,
        message_id: int | None = None,
    ) -> JSONDict:
        """Build an incoming message (and queue it as an update unless ``queue`` is false).

        Commands (``/x``, ``/x@bot`` at the start) and ``@mentions`` get their
        entities; in a forum topic a message that is no reply points at the
        topic's root, as Telegram does.
        """
        msg: JSONDict = {
            "message_id": message_id or self.next_message_id(chat_id),
            "date": int(time.time()),
            "chat": self.chat(chat_id, chat_type, forum=thread_id is not None),
            "from": user or self.user(),
        }
        if text is not None:
            msg["text"] = text
            if ents := _entities(text):
                msg["entities"] = ents
        if caption is not None:
            msg["caption"] = caption
            if ents := _entities(caption):
                msg["caption_entities"] = ents
        if photo is not None:
            msg["photo"] = _photo_sizes(photo)
        if document is not None:
            msg["document"] = {
                "file_id": document.file_id,
                "file_unique_id": document.file_unique_id,
                "file_name": document.path.rsplit("/", 1)[-1],
                "mime_type": mime_type,
                "file_size": document.size,
            }
        if media_group_id is not None:
            msg["media_group_id"] = media_group_id
        if thread_id is not None:
            msg["message_thread_id"] = thread_id
            msg["is_topic_message"] = True
            if reply_to is None:
                msg["reply_to_message"] = {
                    "message_id": thread_id,
                    "date": msg["date"],
                    "chat": msg["chat"],
                    "from": msg["from"],
                    "message_thread_id": thread_id,
                    "forum_topic_created": {"name": "Videos", "icon_color": 7322096},
                }
        if reply_to is not None:
            msg["reply_to_message"] = _shallow(self.messages[(chat_id, reply_to)])
        self.messages[(chat_id, msg["message_id"])] = msg
        if queue:
            self.push({"message": msg})
        return msg

    def photo_message(self, chat_id: int, caption: str | None = None, **kw: Any) -> JSONDict:
        """A photo (a fresh small JPEG unless ``photo=`` is given) with an optional caption."""
        photo = kw.pop("photo", None) or self.add_file(_TINY_JPEG)
        return self.message(chat_id, caption=caption, photo=photo, **kw)

    def album(
        self, chat_id: int, count: int, caption: str | None = None, *, queue: bool = True, **kw: Any
    ) -> list[JSONDict]:
        """``count`` photo messages sharing a media_group_id; the caption on the first."""
        group = f"MG{next(self._file_ids)}"
        return [
            self.photo_message(
                chat_id, caption if i == 0 else None, media_group_id=group, queue=queue, **kw
            )
            for i in range(count)
        ]

    def callback_query(
        self, message: JSONDict, data: str, *, user: JSONDict | None = None
    ) -> JSONDict:
        """A tap on an inline button of ``message`` (a message the bot sent)."""
        query: JSONDict = {
            "id": f"CQ{next(self._file_ids)}",
            "from": user or self.user(),
            "chat_instance": "ci-1",
            "message": message,
            "data": data,
        }
        self.push({"callback_query": query})
        return query

    def push(self, update: JSONDict) -> JSONDict:
        """Queue a raw update (``update_id`` is added)."""
        update = {"update_id": next(self._update_ids), **update}
        self._updates.append(update)
        self._new_update.set()
        return update

    # -- webhook deliveries (Telegram behind a load balancer) ------------------------------

    def set_webhook_targets(self, targets: list[str]) -> None:
        """The instances' base URLs (``http://127.0.0.1:8081``); round-robin starts at the first."""
        self.webhook_targets = [t.rstrip("/") for t in targets]
        self._next_target = 0

    def new_update(self, body: JSONDict) -> JSONDict:
        """An update with the next ``update_id``, NOT queued for getUpdates (see :meth:`push`)."""
        return {"update_id": next(self._update_ids), **body}

    async def deliver(
        self, update: JSONDict, *, to: int | None = None, within: float = 30.0
    ) -> WebhookPost:
        """POST ``update`` to the next target round-robin (or to ``webhook_targets[to]``).

        A target that cannot be reached or answers non-2xx is skipped for the next one,
        as a load balancer and Telegram's retries would, until one takes it (its
        :class:`WebhookPost` is returned) or ``within`` seconds pass (AssertionError).
        Every attempt is recorded in :attr:`webhook_posts`.
        """
        if not self.webhook_targets:
            raise AssertionError("no webhook targets: call set_webhook_targets first")
        index = self._next_target if to is None else to
        if to is None:
            self._next_target = (index + 1) % len(self.webhook_targets)
        deadline = asyncio.get_running_loop().time() + within
        tried = 0
        while True:
            post = await self._post_update(update, self.webhook_targets[index])
            if post.ok:
                return post
            tried += 1
            if asyncio.get_running_loop().time() >= deadline:
                raise AssertionError(f"no target took update {update['update_id']}: {post}")
            index = (index + 1) % len(self.webhook_targets)
            if tried % len(self.webhook_targets) == 0:
                await asyncio.sleep(0.2)  # every target refused: wait, as Telegram does

    async def deliver_at_once(self, update: JSONDict, targets: list[int]) -> list[WebhookPost]:
        """POST one ``update`` to each of ``webhook_targets[i]`` at the same moment; no retry."""
        return list(
            await asyncio.gather(
                *(self._post_update(update, self.webhook_targets[i]) for i in targets)
            )
        )

    async def _post_update(self, update: JSONDict, target: str) -> WebhookPost:
        url = self.webhook["url"]
        if not url:
            raise AssertionError("no webhook registered: setWebhook was not called")
        path = urlsplit(url).path or "/"
        headers = {}
        if self.webhook.get("secret_token"):
            headers["X-Telegram-Bot-Api-Secret-Token"] = str(self.webhook["secret_token"])
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        try:
            async with self._http.post(target + path, json=update, headers=headers) as resp:
                await resp.read()
                post = WebhookPost(update["update_id"], target, resp.status)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            post = WebhookPost(update["update_id"], target, 0, type(exc).__name__)
        self.webhook_posts.append(post)
        return post

    # -- HTTP handlers -----------------------------------------------------------------------

    async def _handle_method(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params, files = await _read_params(request)
        call = Call(method, params, files, via=request.match_info.get("via"))
        self.calls.append(call)
        if delay := self._slow.get(method):
            await asyncio.sleep(delay)
        if request.match_info["token"] != self.token:
            return await self._answer(call, 401, {"description": "Unauthorized"})
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return await self._answer(call, 404, {"description": "Not Found"})
        failures = self._failures.get(method)
        if failures:
            f = failures[0]
            f.times -= 1
            if f.times <= 0:
                failures.pop(0)
            body: JSONDict = {"description": f.description}
            if f.parameters:
                body["parameters"] = f.parameters
            return await self._answer(call, f.status, body)
        chat_id = params.get("chat_id")
        if isinstance(chat_id, int) and chat_id in self.blocked:
            return await self._answer(
                call, 403, {"description": "Forbidden: bot was blocked by the user"}
            )
        if isinstance(chat_id, int) and chat_id in self.missing:
            return await self._answer(call, 400, {"description": "Bad Request: chat not found"})
        try:
            if method == "getUpdates":
                result = await self._poll(call.via, params, files)
            else:
                result = await handler(params, files)
        except _ApiError as err:
            return await self._answer(call, err.status, {"description": err.description})
        except Exception as exc:  # a bug in the fake: make it visible
            self.errors.append(exc)
            return await self._answer(call, 500, {"description": f"fake crashed: {exc!r}"})
        call.result = result
        return await self._answer(call, 200, {"result": result})

    async def _answer(self, call: Call, status: int, body: JSONDict) -> web.Response:
        call.status = status
        if status != 200:
            body = {"ok": False, "error_code": status, **body}
        else:
            body = {"ok": True, **body}
        async with self._called:
            self._called.notify_all()
        return web.json_response(body, status=status)

    async def _handle_download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        path = request.match_info["path"]
        for f in self.files.values():
            if f.path == path:
                return web.Response(body=f.data, content_type="application/octet-stream")
        return web.Response(status=404)

    # -- methods -----------------------------------------------------------------------------

    async def _m_getMe(self, p: JSONDict, f: dict[str, Upload]) -> Any:
        return self.bot_user

    async def _poll(self, via: str | None, p: JSONDict, f: dict[str, Upload]) -> Any:
        """One getUpdates consumer per token: another instance's concurrent call gets 409."""
        others = [v for v, n in self._polling.items() if n and v != via]
        if others:
            self.poll_conflicts.append((others[0], via))
            raise _ApiError(
                409,
                "Conflict: terminated by other getUpdates request; "
                "make sure that only one bot instance is running",
            )
        self._polling[via] += 1
        try:
            return await self._m_getUpdates(p, f)
        finally:
            self._polling[via] -= 1

    async def _m_getUpdates(self, p: JSONDict, f: dict[str, Upload]) -> Any:
        if self.webhook["url"]:
            raise _ApiError(409, "Conflict: can't use getUpdates method while webhook is active")
        offset = int(p.get("offset") or 0)
        if offset:
            self.confirmed_offset = max(self.confirmed_offset, offset)
        self._updates = [u for u in self._updates if u["update_id"] >= self.confirmed_offset]
        if not self._updates:
            self._new_update.clear()
            wait = min(float(p.get("timeout") or 0), self.max_poll_wait)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_update.wait(), wait)
        limit = int(p.get("limit") or 100)
        return self._updates[:limit]

    async def _m_deleteWebhook(self, p: JSONDict, f: dict[str, Upload]) -> Any:
        if p.get("drop_pending_updates"):
            self._updates.clear()
        self.webhook = {"url": "", "secret_token": None}
        return True

    async def _m_setWebhook(self, p: JSONDict, f: dict[str, Upload]) -> Any:
        self.webhook = {"url": p.get("url", ""), "secret_token": p.get("secret_token")}
        if p.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _m_getWebhookInfo(self, p: JSONDict, f: dict[str, Upload]) -> Any:
        return {
            "url": self.webhook["url"],
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    async def _m_setMyCommands(self, p: JSONDict, f: dict[str, Upload]) -> Any:
        commands = list(p.get("commands") or [])
        for c in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", c.get("command", "")):
                raise _ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(c.get("description", "")) <= 256:
                raise _ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        language = p.get("language_code") or ""
        if language and not re.fullmatch(r"[a-z]{2}", language):  # two-letter ISO 639-1
            raise _ApiError(400, "Bad Request: LANG_CODE_INVALID")
        if language:
            self.commands_by_language[language] = commands
        else:
            self.commands = commands
        return True

    async def _m_sendMessage(self, p: JSONDict, f: dict[str, Upload]) -> Any:
        _require(p, "chat_id", "text")
        _check_text(p)
        return self._new_bot_message(p, {"text": p["text"]})

    async def _m_sendPhoto(self, p: JSONDict, f: dict[str, Upload]) -> Any:
        _require(p, "chat_id", "photo")
        _check_caption(p)
        photo = p["photo"]
        if isinstance(photo, Upload):
            photo = self.add_file(photo.data)
        elif isinstance(photo, str):
            photo = self.add_file(photo.encode())
        return self._new_bot_message(p, {"photo": _photo_sizes(photo)})

    async def _m_sendVideo(self, p: JSONDict, f: dict[str, Upload]) -> Any:
        _require(p, "chat_id", "video")
        _check_caption(p)
        return self._new_bot_message(p, {"video": self._video_obj(p, p["video"])})

    async def _m_sendMediaGroup(self, p: JSONDict, f: dict[str, Upload]) -> Any:
        _require(p, "chat_id", "media")
        media = p["media"]
        if not isinstance(media, list) or not 2 <= len(media) <= 10:
            raise _ApiError(400, "Bad Request: wrong number of media in the group")
        for item in media:
            _check_caption(item)
        group = f"BMG{next(self._file_ids)}"
        out = []
        for item in media:
            extra: JSONDict = {"media_group_id": group}
            if item.get("type") == "video":
                extra["video"] = self._video_obj(item, item["media"])
            else:
                photo = item["media"]
                data = photo.data if isinstance(photo, Upload) else str(photo).encode()
                extra["photo"] = _photo_sizes(self.add_file(data))
            if isinstance(item.get("caption"), str):
                extra["caption"] = item["caption"]
            out.append(self._new_bot_message(p, extra))
        return out

    async def _m_sendChatAction(self, p: JSONDict, f: dict[str, Upload]) -> Any:
        _require(p, "chat_id", "action")
        return True

    async def _m_editMessageText(self, p: JSONDict, f: dict[str, Upload]) -> Any:
        _require(p, "chat_id", "message_id", "text")
        _check_text(p)
        msg = self._existing(p)
        markup = p.get("reply_markup")
        if msg.get("text") == p["text"] and msg.get("reply_markup") == markup:
            raise _ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and "
                "reply markup are exactly the same as a current content and reply markup "
                "of the message",
            )
        msg["text"] = p["text"]
        _set_markup(msg, markup)
        msg["edit_date"] = int(time.time())
        return msg

    async def _m_editMessageReplyMarkup(self, p: JSONDict, f: dict[str, Upload]) -> Any:
        msg = self._existing(p)
        _set_markup(msg, p.get("reply_markup"))
        return msg

    async def _m_deleteMessage(self, p: JSONDict, f: dict[str, Upload]) -> Any:
        self._existing(p)
        del self.messages[(p["chat_id"], p["message_id"])]
        return True

    async def _m_answerCallbackQuery(self, p: JSONDict, f: dict[str, Upload]) -> Any:
        _require(p, "callback_query_id")
        if isinstance(p.get("text"), str) and _utf16_len(p["text"]) > ANSWER_LIMIT:
            raise _ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        return True

    async def _m_getChatMember(self, p: JSONDict, f: dict[str, Upload]) -> Any:
        chat_id, user_id = p["chat_id"], p["user_id"]
        admin = user_id in self.chat_admins.get(chat_id, set())
        return {
            "status": "administrator" if admin else "member",
            "user": self.user(user_id),
            **(
                {
                    "can_be_edited": False,
                    "is_anonymous": False,
                    "can_manage_chat": True,
                    "can_delete_messages": True,
                    "can_manage_video_chats": True,
                    "can_restrict_members": True,
                    "can_promote_members": False,
                    "can_change_info": True,
                    "can_invite_users": True,
                    "can_post_stories": False,
                    "can_edit_stories": False,
                    "can_delete_stories": False,
                }
                if admin
                else {}
            ),
        }

    async def _m_getFile(self, p: JSONDict, f: dict[str, Upload]) -> Any:
        _require(p, "file_id")
        file = self.files.get(str(p["file_id"]))
        if file is None:
            raise _ApiError(400, "Bad Request: invalid file_id")
        path = file.path
        if self.local_dir is not None:
            local = self.local_dir / file.path
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(file.data)
            path = str(local.resolve())
        elif file.size > MAX_DOWNLOAD:
            raise _ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": file.file_id,
            "file_unique_id": file.file_unique_id,
            "file_size": file.size,
            "file_path": path,
        }

    # -- helpers -----------------------------------------------------------------------------

    def _video_obj(self, p: JSONDict, video: Any) -> JSONDict:
        data = video.data if isinstance(video, Upload) else str(video).encode()
        stored = self.add_file(data, kind="videos")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "width": int(p.get("width") or 0),
            "height": int(p.get("height") or 0),
            "duration": int(p.get("duration") or 0),
            "mime_type": "video/mp4",
            "file_size": stored.size,
        }

    def _existing(self, p: JSONDict) -> JSONDict:
        msg = self.messages.get((p.get("chat_id"), p.get("message_id")))  # type: ignore[arg-type]
        if msg is None:
            raise _ApiError(400, "Bad Request: message to edit not found")
        return msg

    def _new_bot_message(self, p: JSONDict, content: JSONDict) -> JSONDict:
        chat_id = p["chat_id"]
        if not isinstance(chat_id, int):
            raise _ApiError(400, "Bad Request: chat not found")
        thread_id = p.get("message_thread_id")
        msg: JSONDict = {
            "message_id": self.next_message_id(chat_id),
            "date": int(time.time()),
            "chat": self.chat(chat_id, forum=thread_id is not None),
            "from": self.bot_user,
            **content,
        }
        if thread_id is not None:
            msg["message_thread_id"] = thread_id
            msg["is_topic_message"] = True
        if isinstance(p.get("caption"), str) and "caption" not in msg and "text" not in msg:
            msg["caption"] = p["caption"]
        reply = p.get("reply_parameters")
        if isinstance(reply, dict):
            original = self.messages.get((chat_id, int(reply.get("message_id") or 0)))
            if original is not None:
                msg["reply_to_message"] = _shallow(original)
            elif not reply.get("allow_sending_without_reply"):
                raise _ApiError(400, "Bad Request: message to be replied not found")
        _set_markup(msg, p.get("reply_markup"))
        self.messages[(chat_id, msg["message_id"])] = msg
        return msg


class _ApiError(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def _shallow(msg: JSONDict) -> JSONDict:
    """A replied-to message as Telegram embeds it: without its own reply."""
    return {k: v for k, v in msg.items() if k != "reply_to_message"}


def _require(p: JSONDict, *names: str) -> None:
    for name in names:
        if p.get(name) in (None, ""):
            raise _ApiError(400, f"Bad Request: {name} is empty")


_PARSE_ERROR = "Bad Request: can't parse entities"


class _Entities(HTMLParser):
    """Telegram's HTML parse mode: the text as shown; unsupported or unclosed tags fail."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.shown: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in HTML_TAGS:
            raise _ApiError(400, f'{_PARSE_ERROR}: Unsupported start tag "{tag}"')
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            raise _ApiError(400, f'{_PARSE_ERROR}: Unexpected end tag "{tag}"')
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.shown.append(data)


def _shown(text: str, parse_mode: Any) -> str:
    """``text`` as the user would see it (entities parsed); malformed HTML answers 400."""
    if str(parse_mode).upper() != "HTML":
        return text
    parser = _Entities()
    parser.feed(text)
    parser.close()
    if parser.open:
        raise _ApiError(
            400,
            f'{_PARSE_ERROR}: Can\'t find end tag corresponding to start tag "{parser.open[-1]}"',
        )
    return "".join(parser.shown)


def _check_text(p: JSONDict) -> None:
    if _utf16_len(_shown(str(p["text"]), p.get("parse_mode"))) > TEXT_LIMIT:
        raise _ApiError(400, "Bad Request: message is too long")


def _check_caption(p: JSONDict) -> None:
    caption = p.get("caption")
    if isinstance(caption, str) and _utf16_len(_shown(caption, p.get("parse_mode"))) > (
        CAPTION_LIMIT
    ):
        raise _ApiError(400, "Bad Request: message caption is too long")


def _set_markup(msg: JSONDict, markup: Any) -> None:
    if markup:
        msg["reply_markup"] = markup
    else:
        msg.pop("reply_markup", None)


def _decode(name: str, raw: str) -> Any:
    if name in TEXT_FIELDS:
        return raw
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    return value if isinstance(value, dict | list | bool | int | float) else raw


async def _read_params(request: web.Request) -> tuple[JSONDict, dict[str, Upload]]:
    params: JSONDict = {}
    files: dict[str, Upload] = {}
    ctype = request.content_type
    if ctype == "application/json":
        body = await request.json() if request.can_read_body else {}
        params.update(body or {})
    elif ctype == "multipart/form-data":
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader) or part.name is None:
                continue
            data = await part.read()
            if part.filename is not None:
                files[part.name] = Upload(part.name, part.filename, bytes(data))
            else:
                params[part.name] = _decode(part.name, data.decode())
    else:
        form = await request.post() if request.can_read_body else {}
        for k, v in {**request.query, **form}.items():
            if isinstance(v, str):
                params[k] = _decode(k, v)
    # resolve attach:// references and direct uploads
    for name, upload in files.items():
        params.setdefault(name, upload)
    for key, value in list(params.items()):
        params[key] = _resolve(value, files)
    return params, files


def _resolve(value: Any, files: dict[str, Upload]) -> Any:
    if isinstance(value, str) and value.startswith("attach://"):
        return files.get(value.removeprefix("attach://"), value)
    if isinstance(value, list):
        return [_resolve(v, files) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, files) for k, v in value.items()}
    return value


def _utf16_len(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


def _entities(text: str) -> list[JSONDict]:
    """bot_command at the start, and @mentions anywhere, with UTF-16 offsets."""
    ents: list[JSONDict] = []
    pos = 0
    for i, word in enumerate(text.split(" ")):
        offset = _utf16_len(text[:pos])
        if i == 0 and word.startswith("/") and len(word) > 1:
            ents.append({"type": "bot_command", "offset": 0, "length": _utf16_len(word)})
        elif word.startswith("@") and len(word) > 1:
            ents.append({"type": "mention", "offset": offset, "length": _utf16_len(word)})
        pos += len(word) + 1
    return ents


def _photo_sizes(f: FakeFile) -> list[JSONDict]:
    """Telegram's sizes array; all point at the same bytes, the largest last."""
    return [
        {
            "file_id": f"{f.file_id}" if w == 1280 else f"{f.file_id}-{w}",
            "file_unique_id": f"{f.file_unique_id}-{w}",
            "width": w,
            "height": w * 3 // 4,
            "file_size": f.size if w == 1280 else min(f.size, 2000),
        }
        for w in (90, 320, 1280)
    ]


def _tiny_jpeg() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(buf, "JPEG")
    return buf.getvalue()


_TINY_JPEG = _tiny_jpeg()
