"""Fetching a URL someone else chose (Keevx's results, later users' links) without trusting it.

A URL from an API or a user may point at the bot's own network: loopback, the
cloud metadata address, a private service. :func:`fetch_to_file` fetches only
over the policy's schemes, from hosts whose every address is public (or from a
trusted origin, such as the operator's ``KEEVX_BASE_URL``), following at most a
few redirects, each checked like the first URL, with a size cap and one total
deadline; the body streams to disk, one chunk in memory at a time.

DNS rebinding: the host is resolved once per hop and the connection goes to the
checked address (the URL's host is swapped for the address; ``Host`` and TLS SNI
keep the name, so certificates are still verified against the name). Requests
ask the server to close the connection, so no pooled connection verified for
another name carries them. Residual window: through an HTTP(S) proxy the proxy
sees the address, not the name, so TLS through a proxy fails (closed, not open).

The errors, as a tree (they should join ``bot.errors`` under ``BotError``)::

    FetchError                 fetching a URL went wrong
    ├── FetchRefused(reason)   the URL, a redirect or the body breaks the policy: never retry
    │   └── FetchTooLarge      the body is over ``max_bytes`` (``size`` when declared)
    └── FetchFailed            network error, error status, unknown host: may work later
        └── FetchTimeout       the total deadline passed

Messages hold reasons and status codes only, never the URL.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import httpx

from bot.errors import BotError

__all__ = [
    "FetchError",
    "FetchFailed",
    "FetchPolicy",
    "FetchRefused",
    "FetchTimeout",
    "FetchTooLarge",
    "Fetched",
    "Refusal",
    "Resolver",
    "fetch_to_file",
    "is_public",
    "origin",
    "system_resolve",
]

CHUNK = 256 * 1024
DEFAULT_PORTS = {"http": 80, "https": 443}
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

# Resolves (host, port) to IP address strings; the default asks the event loop.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refusal(StrEnum):
    """Why a URL was refused; the same URL would be refused again."""

    SCHEME = "scheme"  # not one of the policy's schemes (file:, ftp:, ...)
    URL = "url"  # malformed, no host, or credentials in it
    ADDRESS = "address"  # the host has a non-public address and is not trusted
    REDIRECTS = "redirects"  # more redirects than the policy follows
    ENCODING = "encoding"  # a compressed body (identity was asked) could be a bomb
    TOO_LARGE = "too_large"  # over max_bytes


class FetchError(BotError):
    """Fetching a URL failed."""


class FetchRefused(FetchError):
    """The URL, one of its redirects or its body breaks the policy: do not retry."""

    def __init__(self, reason: Refusal) -> None:
        super().__init__(f"fetch refused: {reason}")
        self.reason = reason


class FetchTooLarge(FetchRefused):
    """The body is over ``max_bytes``; ``size`` is the declared length when there was one."""

    def __init__(self, size: int | None) -> None:
        super().__init__(Refusal.TOO_LARGE)
        self.size = size


class FetchFailed(FetchError):
    """The network, the host's name or the server failed; trying later may work."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class FetchTimeout(FetchFailed):
    """The total deadline passed (a slow or trickling server)."""


@dataclass(frozen=True, kw_only=True)
class FetchPolicy:
    """What may be fetched, from where, and how much.

    ``trusted_origins`` ("scheme://host[:port]", see :func:`origin`) skip the
    address check: the operator chose them (the Keevx base URL, the sandbox on
    loopback). ``allow_private`` skips it for every host (for a bot and its
    sources on one private network); schemes, redirects, size and deadline
    still apply.
    """

    schemes: frozenset[str] = frozenset({"http", "https"})
    trusted_origins: frozenset[str] = frozenset()
    allow_private: bool = False
    max_redirects: int = 3
    max_bytes: int = 50 * 1024 * 1024
    deadline: float = 60.0  # seconds for everything: DNS, every hop, the whole body

    def __post_init__(self) -> None:
        if self.max_redirects < 0 or self.max_bytes < 0 or self.deadline <= 0:
            raise ValueError("redirects and size must not be negative, the deadline positive")
        if not all(httpx.URL(o).host for o in self.trusted_origins):
            raise ValueError("a trusted origin is scheme://host[:port]")

    def trusts(self, url: httpx.URL) -> bool:
        return _origin(url) in {_origin(httpx.URL(o)) for o in self.trusted_origins}


@dataclass(frozen=True)
class Fetched:
    """A body saved to ``path``; ``url`` is where it came from after redirects."""

    path: Path
    size: int
    content_type: str | None  # as declared: sniff the bytes before believing it
    url: str


def origin(url: str) -> str:
    """``scheme://host:port`` of ``url`` (the form ``trusted_origins`` holds)."""
    scheme, host, port = _origin(httpx.URL(url))
    return f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}"


def is_public(address: Address) -> bool:
    """Whether ``address`` is on the public internet, looking inside IPv6 wrappers of IPv4.

    Private, loopback, link-local (the cloud metadata address), shared (CGNAT),
    multicast, reserved and unspecified addresses are not.
    """
    if isinstance(address, ipaddress.IPv6Address):
        inner = address.ipv4_mapped
        if inner is None:
            inner = address.sixtofour
        if inner is None and address in _NAT64:
            inner = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if inner is not None:
            return is_public(inner)
    return address.is_global and not (
        address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or address.is_link_local
        or address.is_loopback
        or address.is_private
    )


async def system_resolve(host: str, port: int) -> Sequence[str]:
    """Every address the system resolver gives for ``host``, without blocking the loop."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def fetch_to_file(
    http: httpx.AsyncClient,
    url: str,
    target: Path,
    policy: FetchPolicy,
    *,
    resolve: Resolver = system_resolve,
) -> Fetched:
    """Stream ``url`` to ``target`` under ``policy``.

    Returns what was saved. Raises :class:`FetchRefused` when the URL, a
    redirect or the body breaks the policy, :class:`FetchFailed` when the
    network or the server fails; ``target`` is removed on any failure.
    """
    try:
        async with asyncio.timeout(policy.deadline):
            return await _fetch(http, _parse(url), target, policy, resolve)
    except TimeoutError as exc:
        _discard(target)
        raise FetchTimeout("the fetch took longer than its deadline") from exc
    except BaseException:
        _discard(target)
        raise


async def _fetch(
    http: httpx.AsyncClient, url: httpx.URL, target: Path, policy: FetchPolicy, resolve: Resolver
) -> Fetched:
    for _ in range(policy.max_redirects + 1):
        response = await _open(http, url, policy, resolve)
        try:
            if response.is_redirect:
                url = _join(url, response.headers["location"])
                continue
            if not response.is_success:
                raise FetchFailed(
                    f"the server answered HTTP {response.status_code}",
                    status=response.status_code,
                )
            return await _save(response, target, policy, url)
        except httpx.HTTPError as exc:
            raise FetchFailed(f"the download failed ({type(exc).__name__})") from exc
        finally:
            await response.aclose()
    raise FetchRefused(Refusal.REDIRECTS)


def _parse(url: str | httpx.URL) -> httpx.URL:
    try:
        return httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise FetchRefused(Refusal.URL) from exc


def _join(base: httpx.URL, location: str) -> httpx.URL:
    """Where a redirect goes: relative to the URL asked for, never to the pinned address."""
    try:
        return base.join(location)
    except httpx.InvalidURL as exc:
        raise FetchRefused(Refusal.URL) from exc


async def _open(
    http: httpx.AsyncClient, url: httpx.URL, policy: FetchPolicy, resolve: Resolver
) -> httpx.Response:
    """Check one hop and send it, connected to the address that was checked."""
    if url.scheme not in policy.schemes or url.scheme not in DEFAULT_PORTS:
        raise FetchRefused(Refusal.SCHEME)
    if not url.host or url.userinfo:
        raise FetchRefused(Refusal.URL)
    headers = {"Accept-Encoding": "identity", "Connection": "close"}
    candidates: list[tuple[httpx.URL, dict[str, str]]] = [(url, {})]
    if not policy.trusts(url):
        addresses = await _addresses(url, policy, resolve)
        headers["Host"] = url.netloc.decode("ascii")
        name = url.raw_host.decode("ascii")
        sni = {"sni_hostname": name} if url.scheme == "https" else {}
        candidates = [(url.copy_with(host=str(a)), sni) for a in addresses]
    for n, (where, extensions) in enumerate(candidates, 1):
        request = http.build_request("GET", where, headers=headers, extensions=extensions)
        try:
            return await http.send(request, stream=True, follow_redirects=False)
        except httpx.ConnectError as exc:
            if n == len(candidates):
                raise FetchFailed("could not connect to the server") from exc
        except httpx.HTTPError as exc:
            raise FetchFailed(f"the download failed ({type(exc).__name__})") from exc
    raise AssertionError("unreachable: there is always one candidate")


async def _addresses(url: httpx.URL, policy: FetchPolicy, resolve: Resolver) -> list[Address]:
    """The host's addresses, refused if any is not public (one bad answer taints the name)."""
    try:
        answers = await resolve(url.raw_host.decode("ascii"), _origin(url)[2])
        # A scope id ("fe80::1%eth0") cannot go into a URL; such addresses are never public.
        found = [ipaddress.ip_address(a.split("%")[0]) for a in answers]
    except (OSError, ValueError) as exc:  # socket.gaierror is an OSError
        raise FetchFailed("the host's name did not resolve") from exc
    if not found:
        raise FetchFailed("the host's name did not resolve")
    if not policy.allow_private and not all(is_public(a) for a in found):
        raise FetchRefused(Refusal.ADDRESS)
    return found


async def _save(
    response: httpx.Response, target: Path, policy: FetchPolicy, url: httpx.URL
) -> Fetched:
    """Write the raw body to ``target``, stopping as soon as it passes ``max_bytes``."""
    if response.headers.get("content-encoding", "identity").lower() not in ("identity", ""):
        raise FetchRefused(Refusal.ENCODING)
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > policy.max_bytes:
        raise FetchTooLarge(int(declared))
    size = 0
    with target.open("wb") as out:
        async for chunk in response.aiter_raw(CHUNK):
            size += len(chunk)
            if size > policy.max_bytes:
                raise FetchTooLarge(None)
            out.write(chunk)
    return Fetched(
        path=target, size=size, content_type=response.headers.get("content-type"), url=str(url)
    )


def _discard(path: Path) -> None:
    """Remove a partial body (one quick unlink, fine on the loop even when cancelled)."""
    path.unlink(missing_ok=True)


def _origin(url: httpx.URL) -> tuple[str, str, int]:
    port = url.port or DEFAULT_PORTS.get(url.scheme, 0)
    return url.scheme, url.host.lower(), port
