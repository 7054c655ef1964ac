"""A fake Discord on 127.0.0.1: REST, CDN and gateway, enough for the real discord.py client.

Start it with ``async with FakeDiscord() as fake:``, point the client at
``fake.api_url`` / ``fake.gateway_url``, then push gateway dispatches
(``await fake.push_interaction(fake.slash(...))``) and assert on
``fake.calls``. Every REST call is recorded; an unknown route answers 404 and
lands in ``fake.unknown`` so a test can fail on it. Like Discord, content over
2000 characters (an embed description over 4096) answers 400, code 50035, and
each posted message records whom it notified (:meth:`FakeDiscord.pinged`), by
Discord's ``allowed_mentions`` rules. Synced commands are checked as Discord checks
them (names, lengths, localization locales); each user's app language is
``fake.locales[user]``, the guild's ``fake.guild_locale`` (both ``en-US`` by default).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import BodyPartReader, WSMsgType, web

__all__ = ["Call", "FakeDiscord"]

DISCORD_EPOCH_MS = 1420070400000
TEN_MIB = 10 * 1024 * 1024
CONTENT_LIMIT = 2000  # code points, as Discord's (Python) API counts
EMBED_TITLE_LIMIT = 256
EMBED_DESCRIPTION_LIMIT = 4096
INVALID_FORM_BODY = 50035
COMMAND_NAME_LIMIT = 32
COMMAND_DESCRIPTION_LIMIT = 100
CHOICE_NAME_LIMIT = 100
# The locales Discord knows (a localization keyed otherwise is refused).
DISCORD_LOCALES = frozenset(
    "id da de en-GB en-US es-ES es-419 fr hr it lt hu nl no pl pt-BR ro fi sv-SE vi tr cs el"  # noqa: SIM905
    " bg ru uk hi th zh-CN ja zh-TW ko".split()
)
_SLASH_NAME = re.compile(r"^[-_\w]{1,32}$")

# Permission bits
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_HISTORY = 1 << 16
MANAGE_GUILD = 1 << 5
USE_APP_COMMANDS = 1 << 31
MEMBER_PERMS = VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS | ATTACH_FILES | READ_HISTORY
MEMBER_PERMS |= USE_APP_COMMANDS
MOD_PERMS = MEMBER_PERMS | MANAGE_MESSAGES | MANAGE_GUILD


@dataclass
class Call:
    """One REST request the fake received."""

    method: str
    path: str  # without the /api/v10 prefix
    query: dict[str, str]
    json: Any = None
    files: list[tuple[str, int]] = field(default_factory=list)  # (filename, size)
    authorized: bool = False  # sent with "Authorization: Bot <token>"
    status: int = 200
    at: float = field(default_factory=time.monotonic)


def _json(data: Any, status: int = 200) -> web.Response:
    # discord.py reads a body as JSON only for exactly this Content-Type.
    return web.Response(
        body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"}
    )


def _error(status: int, code: int, message: str) -> web.Response:
    return _json({"code": code, "message": message}, status)


def _too_long(limit: int) -> dict[str, Any]:
    return {
        "_errors": [
            {"code": "BASE_TYPE_MAX_LENGTH", "message": f"Must be {limit} or fewer in length."}
        ]
    }


def _invalid_form(payload: Any) -> web.Response | None:
    """Discord's 400 (code 50035) for a message whose content or embeds are too long."""
    if not isinstance(payload, dict):
        return None
    errors: dict[str, Any] = {}
    content = payload.get("content")
    if isinstance(content, str) and len(content) > CONTENT_LIMIT:
        errors["content"] = _too_long(CONTENT_LIMIT)
    for i, embed in enumerate(payload.get("embeds") or []):
        for key, limit in (("title", EMBED_TITLE_LIMIT), ("description", EMBED_DESCRIPTION_LIMIT)):
            if len(embed.get(key) or "") > limit:
                errors.setdefault("embeds", {}).setdefault(str(i), {})[key] = _too_long(limit)
    if not errors:
        return None
    body = {"code": INVALID_FORM_BODY, "message": "Invalid Form Body", "errors": errors}
    return _json(body, 400)


def _command_problems(command: dict[str, Any]) -> list[str]:
    """What Discord would refuse in a command to sync: names (lowercase, no spaces, at
    most 32 characters for slash commands and options; any 1-32 for context menus),
    descriptions and choice names (1-100), localizations in unknown locales."""
    problems: list[str] = []
    slash = command.get("type", 1) == 1

    def name_ok(name: str) -> bool:
        if not slash:
            return 0 < len(name) <= COMMAND_NAME_LIMIT
        return bool(_SLASH_NAME.match(name)) and name == name.lower()

    def check(item: dict[str, Any], where: str, *, named: bool, described: bool) -> None:
        names = [item.get("name", ""), *(item.get("name_localizations") or {}).values()]
        if named and not all(name_ok(n) for n in names):
            problems.append(f"{where}: bad name in {names}")
        if described:
            texts = [
                item.get("description", ""),
                *(item.get("description_localizations") or {}).values(),
            ]
            if not all(0 < len(t) <= COMMAND_DESCRIPTION_LIMIT for t in texts):
                problems.append(f"{where}: bad description in {texts}")
        for key in ("name_localizations", "description_localizations"):
            unknown = set(item.get(key) or {}) - DISCORD_LOCALES
            if unknown:
                problems.append(f"{where}: {key} in unknown locales {sorted(unknown)}")

    where = str(command.get("name"))
    check(command, where, named=True, described=slash)
    for option in command.get("options") or []:
        check(option, f"{where}.{option.get('name')}", named=True, described=True)
        for choice in option.get("choices") or []:
            names = [choice["name"], *(choice.get("name_localizations") or {}).values()]
            if not all(0 < len(n) <= CHOICE_NAME_LIMIT for n in names):
                problems.append(f"{where}.{option.get('name')}: bad choice name in {names}")
            unknown = set(choice.get("name_localizations") or {}) - DISCORD_LOCALES
            if unknown:
                problems.append(f"{where}: choice localized in unknown locales {sorted(unknown)}")
    return problems


_USER_MENTION = re.compile(r"<@!?([0-9]+)>")
_ROLE_MENTION = re.compile(r"<@&([0-9]+)>")
_EVERYONE = re.compile(r"@(everyone|here)")


def notified(payload: dict[str, Any], replied_author: str | None = None) -> frozenset[str]:
    """Whom a new message notifies: user ids, ``role:<id>``, ``everyone``.

    Discord's rules: without ``allowed_mentions`` everything in the content
    pings, and a reply pings its author; with it, only what ``parse`` names
    (``users``, ``roles``, ``everyone``) or the ``users``/``roles`` lists
    allow, and the replied-to author only with ``replied_user``.
    """
    content = payload.get("content") or ""
    allowed = payload.get("allowed_mentions")
    parse = {"users", "roles", "everyone"} if allowed is None else set(allowed.get("parse", []))
    users = {str(u) for u in (allowed or {}).get("users", [])}
    roles = {str(r) for r in (allowed or {}).get("roles", [])}
    out: set[str] = set()
    for uid in _USER_MENTION.findall(content):
        if "users" in parse or uid in users:
            out.add(uid)
    for rid in _ROLE_MENTION.findall(content):
        if "roles" in parse or rid in roles:
            out.add(f"role:{rid}")
    if _EVERYONE.search(content) and "everyone" in parse:
        out.add("everyone")
    if replied_author is not None and (allowed is None or allowed.get("replied_user")):
        out.add(replied_author)
    return frozenset(out)


class FakeDiscord:
    """Discord's REST API, CDN and gateway for one app, one guild and a few users."""

    APP_ID = 900000000000000001
    BOT_ID = 900000000000000001
    GUILD_ID = 900000000000000100
    CHANNEL_ID = 900000000000000200
    THREAD_ID = 900000000000000201
    FORBIDDEN_CHANNEL_ID = 900000000000000202
    USER_ID = 900000000000000300
    OTHER_ID = 900000000000000301
    MOD_ID = 900000000000000302

    def __init__(self, *, token: str = "fake-token", upload_limit: int = TEN_MIB) -> None:
        self.token = token
        self.upload_limit = upload_limit
        self.calls: list[Call] = []
        self.unknown: list[Call] = []
        self.messages: dict[int, dict[str, Any]] = {}
        self.commands: dict[int | None, list[dict[str, Any]]] = {}
        self.forbidden_channels: set[int] = {self.FORBIDDEN_CHANNEL_ID}
        self.expired_tokens: set[str] = set()
        self.rate_limits: list[tuple[str, str, float]] = []  # (method, path prefix, retry_after)
        self.failures: list[tuple[str, str, int]] = []  # (method, path prefix, HTTP status)
        self.downloads: list[str] = []
        self.modals: list[dict[str, Any]] = []  # data of every type-9 callback
        self.locales: dict[int, str] = {}  # user -> their Discord app's language
        self.guild_locale = "en-US"  # the guild's preferred_locale
        self.identified = asyncio.Event()
        self.connections = 0
        self.gateway_ops: list[int] = []  # ops the client sent, heartbeats included
        self._interactions: dict[str, dict[str, Any]] = {}  # token -> state
        self._cdn: dict[str, tuple[bytes, str]] = {}
        self._ids = itertools.count(1)
        self._seq = itertools.count(1)
        self._ws: web.WebSocketResponse | None = None
        self._runner: web.AppRunner | None = None
        self._changed = asyncio.Condition()
        self.port = 0

    # -- lifecycle ---------------------------------------------------------

    async def __aenter__(self) -> FakeDiscord:
        app = web.Application(client_max_size=200 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/attachments/{path:.*}", self._cdn_get)
        app.router.add_route("*", "/api/v10/{path:.*}", self._rest)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server: Any = site._server
        self.port = server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
        # Nothing the bot posted (contents, embeds, buttons) may hold its token.
        for call in self.calls:
            assert self.token not in repr(call.json), f"bot token sent to {call.path}"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    # -- ids and payloads --------------------------------------------------

    def snowflake(self, at: float | None = None) -> int:
        ms = int((time.time() if at is None else at) * 1000)
        return ((ms - DISCORD_EPOCH_MS) << 22) | (next(self._ids) & 0x3FFFFF)

    def user(self, user_id: int) -> dict[str, Any]:
        names = {
            self.BOT_ID: "keevx",
            self.USER_ID: "alice",
            self.OTHER_ID: "bob",
            self.MOD_ID: "mod",
        }
        return {
            "id": str(user_id),
            "username": names.get(user_id, f"user{user_id}"),
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
            "bot": user_id == self.BOT_ID,
        }

    def member(self, user_id: int, *, with_permissions: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "user": self.user(user_id),
            "roles": [],
            "joined_at": "2025-01-01T00:00:00+00:00",
            "deaf": False,
            "mute": False,
            "flags": 0,
        }
        if with_permissions:
            perms = MOD_PERMS if user_id in (self.MOD_ID, self.BOT_ID) else MEMBER_PERMS
            data["permissions"] = str(perms)
        return data

    def channel(self, channel_id: int) -> dict[str, Any]:
        if channel_id == self.THREAD_ID:
            return {
                "id": str(self.THREAD_ID),
                "type": 11,
                "guild_id": str(self.GUILD_ID),
                "parent_id": str(self.CHANNEL_ID),
                "owner_id": str(self.USER_ID),
                "name": "a thread",
                "message_count": 0,
                "member_count": 1,
                "rate_limit_per_user": 0,
                "flags": 0,
                "thread_metadata": {
                    "archived": False,
                    "auto_archive_duration": 1440,
                    "archive_timestamp": "2025-01-01T00:00:00+00:00",
                    "locked": False,
                },
            }
        return {
            "id": str(channel_id),
            "type": 0,
            "guild_id": str(self.GUILD_ID),
            "name": "forbidden" if channel_id == self.FORBIDDEN_CHANNEL_ID else "general",
            "position": 0 if channel_id == self.CHANNEL_ID else 1,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }

    def guild(self) -> dict[str, Any]:
        return {
            "id": str(self.GUILD_ID),
            "name": "Fake Guild",
            "icon": None,
            "owner_id": str(self.MOD_ID),
            "unavailable": False,
            "member_count": 4,
            "premium_tier": 0,
            "large": False,
            "features": [],
            "preferred_locale": self.guild_locale,
            "roles": [
                {
                    "id": str(self.GUILD_ID),
                    "name": "@everyone",
                    "permissions": str(MEMBER_PERMS),
                    "position": 0,
                    "color": 0,
                    "hoist": False,
                    "managed": False,
                    "mentionable": False,
                    "flags": 0,
                }
            ],
            "emojis": [],
            "stickers": [],
            "channels": [self.channel(self.CHANNEL_ID), self.channel(self.FORBIDDEN_CHANNEL_ID)],
            "threads": [self.channel(self.THREAD_ID)],
            "members": [self.member(uid, with_permissions=False) for uid in (self.BOT_ID,)],
            "voice_states": [],
            "presences": [],
            "joined_at": "2025-01-01T00:00:00+00:00",
        }

    def add_attachment(
        self, filename: str, data: bytes, content_type: str | None = "image/png"
    ) -> dict[str, Any]:
        """Serve ``data`` on the fake CDN; return the attachment payload pointing there."""
        att_id = self.snowflake()
        path = f"{self.CHANNEL_ID}/{att_id}/{filename}"
        self._cdn[path] = (data, content_type or "application/octet-stream")
        url = f"{self.base}/attachments/{path}?ex=6a000000&is=69f00000&hm=deadbeef"
        payload: dict[str, Any] = {
            "id": str(att_id),
            "filename": filename,
            "size": len(data),
            "url": url,
            "proxy_url": url,
        }
        if content_type is not None:
            payload["content_type"] = content_type
        return payload

    def message(
        self,
        *,
        content: str,
        author: int,
        channel_id: int | None = None,
        attachments: list[dict[str, Any]] | None = None,
        mention_bot: bool = False,
    ) -> dict[str, Any]:
        """A user's message payload, stored so that replies can reference it."""
        cid = channel_id or self.CHANNEL_ID
        mid = self.snowflake()
        msg: dict[str, Any] = {
            "id": str(mid),
            "channel_id": str(cid),
            "guild_id": str(self.GUILD_ID),
            "author": self.user(author),
            "member": {k: v for k, v in self.member(author).items() if k != "user"},
            "content": content,
            "timestamp": datetime.now(UTC).isoformat(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [{**self.user(self.BOT_ID), "member": self.member(self.BOT_ID)}]
            if mention_bot
            else [],
            "mention_roles": [],
            "attachments": attachments or [],
            "embeds": [],
            "components": [],
            "pinned": False,
            "type": 0,
            "flags": 0,
        }
        self.messages[mid] = msg
        return msg

    def _interaction(
        self, itype: int, data: dict[str, Any], *, user: int, channel_id: int | None = None
    ) -> dict[str, Any]:
        cid = channel_id or self.CHANNEL_ID
        iid = self.snowflake()
        token = f"itok-{iid}"
        return {
            "id": str(iid),
            "application_id": str(self.APP_ID),
            "type": itype,
            "token": token,
            "version": 1,
            "guild_id": str(self.GUILD_ID),
            "channel_id": str(cid),
            "channel": self.channel(cid),
            "member": self.member(user),
            "app_permissions": str(MOD_PERMS),
            "locale": self.locales.get(user, "en-US"),
            "guild_locale": self.guild_locale,
            "attachment_size_limit": self.upload_limit,
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(self.GUILD_ID)},
            "context": 0,
            "data": data,
        }

    def slash(
        self,
        name: str,
        options: dict[str, Any],
        *,
        user: int | None = None,
        attachments: dict[str, dict[str, Any]] | None = None,
        channel_id: int | None = None,
    ) -> dict[str, Any]:
        """A slash-command INTERACTION_CREATE; ``attachments`` maps option name to payload."""
        types = {bool: 5, int: 4, float: 10, str: 3}
        opts: list[dict[str, Any]] = [
            {"name": k, "type": types[type(v)], "value": v} for k, v in options.items()
        ]
        resolved: dict[str, Any] = {}
        for opt_name, att in (attachments or {}).items():
            opts.append({"name": opt_name, "type": 11, "value": att["id"]})
            resolved.setdefault("attachments", {})[att["id"]] = att
        cmd_id = self._command_id(name)
        data: dict[str, Any] = {
            "id": cmd_id,
            "name": name,
            "type": 1,
            "guild_id": str(self.GUILD_ID),
            "options": opts,
        }
        if resolved:
            data["resolved"] = resolved
        return self._interaction(2, data, user=user or self.USER_ID, channel_id=channel_id)

    def message_command(
        self, name: str, target: dict[str, Any], *, user: int | None = None
    ) -> dict[str, Any]:
        """A message context-menu INTERACTION_CREATE on ``target`` (a message payload)."""
        data = {
            "id": self._command_id(name),
            "name": name,
            "type": 3,
            "guild_id": str(self.GUILD_ID),
            "target_id": target["id"],
            "resolved": {"messages": {target["id"]: target}},
        }
        return self._interaction(
            2, data, user=user or self.USER_ID, channel_id=int(target["channel_id"])
        )

    def button(self, custom_id: str, message_id: int | str, *, user: int) -> dict[str, Any]:
        """A button click on a stored message."""
        msg = self.messages[int(message_id)]
        payload = self._interaction(
            3,
            {"custom_id": custom_id, "component_type": 2},
            user=user,
            channel_id=int(msg["channel_id"]),
        )
        payload["message"] = msg
        return payload

    def modal_submit(
        self,
        custom_id: str,
        values: dict[str, str | list[str]],
        *,
        user: int,
        channel_id: int | None = None,
    ) -> dict[str, Any]:
        """A modal submit: text inputs get a string, selects a list of values."""
        comps: list[dict[str, Any]] = []
        for cid, value in values.items():
            if isinstance(value, list):
                inner: dict[str, Any] = {"type": 3, "custom_id": cid, "values": value}
            else:
                inner = {"type": 4, "custom_id": cid, "value": value}
            comps.append({"type": 18, "id": len(comps) + 1, "component": inner})
        data = {"custom_id": custom_id, "components": comps}
        return self._interaction(5, data, user=user, channel_id=channel_id)

    def _command_id(self, name: str) -> str:
        for cmds in self.commands.values():
            for cmd in cmds:
                if cmd["name"] == name:
                    return str(cmd["id"])
        return str(self.snowflake())

    # -- gateway -----------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._ws = ws
        self.connections += 1
        self.identified.clear()
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}}))
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            op = frame.get("op")
            self.gateway_ops.append(op)
            if op == 1:
                await ws.send_str(json.dumps({"op": 11}))
            elif op == 2:
                await self._send(ws, "READY", self._ready_payload())
                await self._send(ws, "GUILD_CREATE", self.guild())
                self.identified.set()
            elif op == 6:
                await self._send(ws, "RESUMED", {})
                self.identified.set()
        if self._ws is ws:
            self.identified.clear()  # the client went away
        return ws

    def _ready_payload(self) -> dict[str, Any]:
        return {
            "v": 10,
            "user": self.user(self.BOT_ID),
            "guilds": [{"id": str(self.GUILD_ID), "unavailable": True}],
            "session_id": f"session-{self.connections}",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.APP_ID), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "shard": [0, 1],
        }

    async def _send(self, ws: web.WebSocketResponse, event: str, data: Any) -> None:
        frame = {"op": 0, "t": event, "s": next(self._seq), "d": data}
        await ws.send_str(json.dumps(frame))

    async def wait_ready(self) -> None:
        async with asyncio.timeout(10):
            await self.identified.wait()

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a gateway dispatch to the connected client."""
        await self.wait_ready()
        assert self._ws is not None
        await self._send(self._ws, event, data)

    async def push_interaction(self, payload: dict[str, Any]) -> dict[str, Any]:
        self._interactions.setdefault(
            payload["token"],
            {
                "id": payload["id"],
                "channel_id": int(payload["channel_id"]),
                "acked": False,
                "original": None,
                "message": int(payload["message"]["id"]) if "message" in payload else None,
            },
        )
        await self.dispatch("INTERACTION_CREATE", payload)
        return payload

    async def push_message(self, message: dict[str, Any]) -> dict[str, Any]:
        await self.dispatch("MESSAGE_CREATE", message)
        return message

    async def drop_connection(self, code: int = 4000) -> None:
        """Close the gateway websocket as Discord does before a resume."""
        assert self._ws is not None
        self.identified.clear()
        await self._ws.close(code=code)

    def rate_limit(self, method: str, path_prefix: str, retry_after: float) -> None:
        """Answer the next matching REST call with 429, as Discord's per-route limits do."""
        self.rate_limits.append((method, path_prefix, retry_after))

    def fail(self, method: str, path_prefix: str, status: int, *, times: int = 1) -> None:
        """Answer the next ``times`` matching REST calls with ``status`` (e.g. a 503 outage)."""
        self.failures += [(method, path_prefix, status)] * times

    def expire(self, token: str) -> None:
        """Make the webhook calls of an interaction answer 50027 (its callback still works)."""
        self.expired_tokens.add(token)

    # -- waiting and looking -----------------------------------------------

    async def wait_for(self, predicate: Callable[[], Any], within: float = 10.0) -> Any:
        """Wait until ``predicate()`` is truthy (checked after every REST call)."""
        async with asyncio.timeout(within), self._changed:
            while not (result := predicate()):
                await self._changed.wait()
            return result

    def find_calls(self, method: str, prefix: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.path.startswith(prefix)]

    def pinged(self, message_id: int | str) -> frozenset[str]:
        """Whom the bot's message ``message_id`` notified when it was posted (see
        :func:`notified`)."""
        return frozenset(self.messages[int(message_id)]["_pinged"])

    def channel_messages(self, channel_id: int | None = None) -> list[dict[str, Any]]:
        cid = str(channel_id or self.CHANNEL_ID)
        return [m for m in self.messages.values() if m["channel_id"] == cid and m.get("_bot")]

    # -- REST --------------------------------------------------------------

    async def _cdn_get(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        self.downloads.append(path)
        if path not in self._cdn or "hm" not in request.query:
            return web.Response(status=404, text="Not Found")
        data, ctype = self._cdn[path]
        return web.Response(body=data, headers={"Content-Type": ctype})

    async def _read_body(self, request: web.Request) -> tuple[Any, list[tuple[str, int]]]:
        if request.content_type.startswith("multipart/"):
            payload: Any = None
            files: list[tuple[str, int]] = []
            reader = await request.multipart()
            async for part in reader:
                assert isinstance(part, BodyPartReader)
                if part.name == "payload_json":
                    payload = json.loads(await part.text())
                else:
                    data = await part.read()
                    files.append((part.filename or "", len(data)))
            return payload, files
        if request.can_read_body:
            raw = await request.read()
            return (json.loads(raw) if raw else None), []
        return None, []

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        body, files = await self._read_body(request)
        call = Call(
            method=request.method,
            path="/" + request.match_info["path"],
            query=dict(request.query),
            json=body,
            files=files,
            authorized=request.headers.get("Authorization") == f"Bot {self.token}",
        )
        self.calls.append(call)
        limited = next(
            (r for r in self.rate_limits if call.method == r[0] and call.path.startswith(r[1])),
            None,
        )
        failed = next(
            (f for f in self.failures if call.method == f[0] and call.path.startswith(f[1])), None
        )
        if limited is not None:
            self.rate_limits.remove(limited)
            response = _rate_limited(limited[2])
        elif failed is not None:
            self.failures.remove(failed)
            response = _error(failed[2], 0, "Service Unavailable")
        else:
            try:
                response = self._route(call)
            except KeyError:
                response = _error(404, 10008, "Unknown Message")
        call.status = response.status
        async with self._changed:
            self._changed.notify_all()
        return response

    def _route(self, call: Call) -> web.Response:
        parts = call.path.strip("/").split("/")
        m = call.method
        if m == "GET" and parts == ["users", "@me"]:
            return _json(self.user(self.BOT_ID)) if call.authorized else _error(401, 0, "401")
        if m == "GET" and parts == ["oauth2", "applications", "@me"]:
            return _json(self._app_info())
        if m == "GET" and parts in (["gateway"], ["gateway", "bot"]):
            return _json(
                {
                    "url": self.gateway_url,
                    "shards": 1,
                    "session_start_limit": {
                        "total": 1000,
                        "remaining": 1000,
                        "reset_after": 0,
                        "max_concurrency": 1,
                    },
                }
            )
        if parts[:2] == ["applications", str(self.APP_ID)] and parts[-1] == "commands":
            guild = int(parts[3]) if len(parts) == 5 and parts[2] == "guilds" else None
            if m == "PUT":
                problems = [p for c in call.json or [] for p in _command_problems(c)]
                if problems:
                    body = {"code": INVALID_FORM_BODY, "message": "; ".join(problems)}
                    return _json(body, 400)
                self.commands[guild] = [self._command(c, guild) for c in call.json or []]
            if m in ("PUT", "GET"):
                return _json(self.commands.get(guild, []))
        if parts[0] == "interactions" and len(parts) == 4 and m == "POST":
            return self._callback(parts[2], call)
        if parts[0] == "webhooks" and len(parts) >= 3 and parts[1] == str(self.APP_ID):
            return self._webhook(parts[2], parts[3:], call)
        if parts[0] == "channels" and len(parts) >= 3 and parts[2] == "messages":
            return self._channel(int(parts[1]), parts[3:], call)
        self.unknown.append(call)
        return _error(404, 0, f"fake Discord has no route {m} {call.path}")

    def _app_info(self) -> dict[str, Any]:
        return {
            "id": str(self.APP_ID),
            "name": "keevx",
            "description": "",
            "icon": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": self.user(self.MOD_ID),
            "verify_key": "00",
            "flags": 0,
        }

    def _command(self, data: dict[str, Any], guild: int | None) -> dict[str, Any]:
        cmd = {
            "description": "",
            "options": [],
            "default_member_permissions": None,
            "nsfw": False,
            **data,
            "id": str(self.snowflake()),
            "application_id": str(self.APP_ID),
            "version": "1",
        }
        if guild is not None:
            cmd["guild_id"] = str(guild)
        return cmd

    def _store(
        self, channel_id: int, payload: dict[str, Any], files: list[tuple[str, int]], **extra: Any
    ) -> dict[str, Any]:
        mid = self.snowflake()
        attachments = [
            {
                "id": str(self.snowflake()),
                "filename": name,
                "size": size,
                "url": f"{self.base}/attachments/{channel_id}/{mid}/{name}?hm=1",
                "proxy_url": f"{self.base}/attachments/{channel_id}/{mid}/{name}?hm=1",
            }
            for name, size in files
        ]
        msg: dict[str, Any] = {
            "id": str(mid),
            "channel_id": str(channel_id),
            "guild_id": str(self.GUILD_ID),
            "author": self.user(self.BOT_ID),
            "content": payload.get("content") or "",
            "timestamp": datetime.now(UTC).isoformat(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": attachments,
            "embeds": payload.get("embeds") or [],
            "components": payload.get("components") or [],
            "pinned": False,
            "type": 19 if payload.get("message_reference") else 0,
            "flags": payload.get("flags") or 0,
            "_bot": True,
            **extra,
        }
        replied_author: str | None = None
        if payload.get("message_reference"):
            msg["message_reference"] = payload["message_reference"]
            replied = self.messages.get(int(payload["message_reference"].get("message_id") or 0))
            replied_author = replied["author"]["id"] if replied is not None else None
        msg["_allowed_mentions"] = payload.get("allowed_mentions")
        msg["_pinged"] = sorted(notified(payload, replied_author))  # stays JSON
        self.messages[mid] = msg
        return msg

    def _edit(
        self, mid: int, payload: dict[str, Any], files: list[tuple[str, int]]
    ) -> dict[str, Any]:
        msg = self.messages[mid]
        for key in ("content", "embeds", "components"):
            if key in payload:
                empty: Any = "" if key == "content" else []
                msg[key] = payload[key] if payload[key] is not None else empty
        if files:
            msg["attachments"] = [{"filename": n, "size": s} for n, s in files]
        msg["edited_timestamp"] = datetime.now(UTC).isoformat()
        return msg

    @staticmethod
    def _public(msg: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in msg.items() if not k.startswith("_")}

    def _too_large(self, files: list[tuple[str, int]]) -> bool:
        return any(size > self.upload_limit for _, size in files)

    def _callback(self, token: str, call: Call) -> web.Response:
        state = self._interactions.get(token)
        if state is None:
            return _error(404, 10062, "Unknown interaction")
        if state["acked"]:
            return _error(400, 40060, "Interaction has already been acknowledged.")
        body = call.json or {}
        rtype = body.get("type")
        data = body.get("data") or {}
        if self._too_large(call.files):
            return _error(413, 40005, "Request entity too large")
        if (invalid := _invalid_form(data)) is not None:
            return invalid
        state["acked"] = True
        result: dict[str, Any] = {
            "interaction": {"id": state["id"], "type": 2},
        }
        if rtype in (4, 5):
            msg = self._store(state["channel_id"], data, call.files, webhook_id=str(self.APP_ID))
            if rtype == 5:
                msg["flags"] = (data.get("flags") or 0) | 128  # LOADING
            state["original"] = int(msg["id"])
            result["interaction"].update(
                response_message_id=msg["id"],
                response_message_loading=rtype == 5,
                response_message_ephemeral=bool((data.get("flags") or 0) & 64),
            )
            result["resource"] = {"type": rtype, "message": self._public(msg)}
        elif rtype == 7 and state["message"] is not None:
            msg = self._edit(state["message"], data, call.files)
            result["resource"] = {"type": 7, "message": self._public(msg)}
        elif rtype == 9:
            self.modals.append(data)
            result["resource"] = {"type": 9}
        return _json(result)

    def _webhook(self, token: str, rest: list[str], call: Call) -> web.Response:
        state = self._interactions.get(token)
        if state is None or token in self.expired_tokens:
            return _error(401, 50027, "Invalid Webhook Token")
        payload = call.json or {}
        if self._too_large(call.files):
            return _error(413, 40005, "Request entity too large")
        if (invalid := _invalid_form(payload)) is not None:
            return invalid
        if not rest and call.method == "POST":
            msg = self._store(state["channel_id"], payload, call.files, webhook_id=str(self.APP_ID))
            return _json(self._public(msg))
        if len(rest) == 2 and rest[0] == "messages":
            mid = state["original"] if rest[1] == "@original" else int(rest[1])
            if mid is None:
                return _error(404, 10008, "Unknown Message")
            if call.method == "PATCH":
                msg = self._edit(mid, payload, call.files)
                msg["flags"] = msg.get("flags", 0) & ~128
                return _json(self._public(msg))
            if call.method == "GET":
                return _json(self._public(self.messages[mid]))
            if call.method == "DELETE":
                self.messages.pop(mid, None)
                return web.Response(status=204)
        self.unknown.append(call)
        return _error(404, 0, "unknown webhook route")

    def _channel(self, channel_id: int, rest: list[str], call: Call) -> web.Response:
        if not call.authorized:
            return _error(401, 0, "401: Unauthorized")
        if channel_id in self.forbidden_channels:
            return _error(403, 50013, "Missing Permissions")
        if channel_id not in (self.CHANNEL_ID, self.THREAD_ID):
            return _error(404, 10003, "Unknown Channel")
        payload = call.json or {}
        if (invalid := _invalid_form(payload)) is not None:
            return invalid
        if not rest and call.method == "POST":
            if self._too_large(call.files):
                return _error(413, 40005, "Request entity too large")
            return _json(self._public(self._store(channel_id, payload, call.files)))
        if len(rest) == 1:
            mid = int(rest[0])
            if mid not in self.messages or self.messages[mid]["channel_id"] != str(channel_id):
                return _error(404, 10008, "Unknown Message")
            if call.method == "PATCH":
                return _json(self._public(self._edit(mid, payload, call.files)))
            if call.method == "GET":
                return _json(self._public(self.messages[mid]))
            if call.method == "DELETE":
                del self.messages[mid]
                return web.Response(status=204)
        self.unknown.append(call)
        return _error(404, 0, "unknown channel route")


def _rate_limited(retry_after: float) -> web.Response:
    body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": False}
    headers = {
        "X-RateLimit-Limit": "5",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset-After": str(retry_after),
        "X-RateLimit-Bucket": "fake-bucket",
        "X-RateLimit-Scope": "user",
        "Via": "1.1 google",  # discord.py reads a 429 without it as a Cloudflare ban
    }
    response = _json(body, 429)
    response.headers.update(headers)
    return response
