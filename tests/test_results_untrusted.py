"""What Keevx returns is untrusted: video links are fetched only under a FetchPolicy.

Every server here is a real aiohttp server on loopback: the "trusted origin" plays
the operator's Keevx (as the sandbox does), other ports play internal services.
"""

from __future__ import annotations

import asyncio
import ipaddress
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from bot.errors import DeliveryError
from bot.jobs.delivery import RESULT_POLICY, ResultRefused, deliver_video, result_policy
from bot.jobs.safe_fetch import (
    FetchPolicy,
    FetchRefused,
    FetchTimeout,
    FetchTooLarge,
    Refusal,
    fetch_to_file,
    is_public,
    origin,
)
from bot.keevx.client import KeevxClient
from bot.keevx.sandbox import SAMPLE_IMAGE, Sandbox
from bot.model.job import Job, JobStatus, Target, TaskResult, TaskState
from bot.model.request import Options, build_request
from tests.conftest import API_KEY
from tests.support import RecordingAdapter

MP4 = b"\x00\x00\x00\x18ftypmp42" + bytes(4096)
INTERNAL = b"internal admin page: db password hunter2"


@dataclass
class Server:
    """A loopback server that counts requests per path and records Host headers."""

    url: str
    hits: dict[str, int] = field(default_factory=dict)
    hosts: list[str] = field(default_factory=list)

    @property
    def port(self) -> int:
        return httpx.URL(self.url).port or 80

    def total(self) -> int:
        return sum(self.hits.values())


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def serve(
    routes: dict[str, Handler], *, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[Server]:
    server = Server(url="")

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        server.hits[request.path] = server.hits.get(request.path, 0) + 1
        server.hosts.append(request.headers.get("Host", ""))
        return await handler(request)

    app = web.Application(middlewares=[record])
    for path, handler in routes.items():
        app.router.add_get(path, handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    port = runner.addresses[0][1]
    server.url = f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}"
    try:
        yield server
    finally:
        await runner.cleanup()


def body(data: bytes) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=data, content_type="video/mp4")

    return handler


def redirect(location: str) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        raise web.HTTPFound(location)

    return handler


async def deliver_results(
    job: Job,
    adapter: RecordingAdapter,
    http: httpx.AsyncClient,
    policy: FetchPolicy = RESULT_POLICY,
) -> list[str]:
    """Each of the job's videos through the core's delivery, as the pipeline posts them."""
    return [await deliver_video(job, t, adapter, http, policy=policy) for t in job.tasks]


def job_for(*video_urls: str, thumbnail_url: str | None = None) -> Job:
    now = datetime.now(UTC)
    tasks = tuple(
        TaskResult(
            task_id=f"i2v-{n}",
            status=TaskState.SUCCEEDED,
            video_url=url,
            thumbnail_url=thumbnail_url,
        )
        for n, url in enumerate(video_urls)
    )
    return Job(
        id=7,
        target=Target(platform="test", chat_id="chat-1", user_id="user-1"),
        request=build_request("waves at sunset", Options(), 1),
        status=JobStatus.SUCCEEDED,
        created_at=now,
        updated_at=now,
        next_run_at=now,
        tasks=tasks,
    )


def trusting(server: Server, *, max_bytes: int = 2**30, deadline: float = 30.0) -> FetchPolicy:
    """A policy trusting ``server``'s origin, as ``result_policy`` trusts the Keevx base URL."""
    return FetchPolicy(
        trusted_origins=frozenset({origin(server.url)}), max_bytes=max_bytes, deadline=deadline
    )


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    # As the runtime builds it: redirects on by default, which the fetcher must not use.
    async with httpx.AsyncClient(follow_redirects=True, trust_env=False) as client:
        yield client


@pytest.fixture
async def internal() -> AsyncIterator[Server]:
    """An internal service on another loopback port: nothing may ever reach it."""
    async with serve({"/admin": body(INTERNAL), "/v.mp4": body(INTERNAL)}) as server:
        yield server


# --- the cases, through deliver_results -------------------------------------------------


async def test_a_video_on_another_loopback_port_is_refused(
    http: httpx.AsyncClient, internal: Server
) -> None:
    adapter = RecordingAdapter()
    async with serve({"/v.mp4": body(MP4)}) as keevx:
        job = job_for(f"{internal.url}/v.mp4")
        with pytest.raises(ResultRefused) as caught:
            await deliver_results(job, adapter, http, policy=result_policy(keevx.url + "/v1"))
    assert caught.value.reason is Refusal.ADDRESS
    assert internal.total() == 0 and adapter.delivered == []
    # What the requester would read names no address, URL or code.
    assert str(caught.value) == "Keevx returned a video link the bot may not download"


async def test_by_default_no_loopback_link_is_fetched(
    http: httpx.AsyncClient, internal: Server
) -> None:
    adapter = RecordingAdapter()
    with pytest.raises(ResultRefused):
        await deliver_results(job_for(f"{internal.url}/v.mp4"), adapter, http)
    assert internal.total() == 0 and adapter.delivered == []


async def test_a_redirect_from_the_trusted_origin_to_another_loopback_port_is_refused(
    http: httpx.AsyncClient, internal: Server
) -> None:
    adapter = RecordingAdapter()
    async with serve({"/v.mp4": redirect(f"{internal.url}/admin")}) as keevx:
        with pytest.raises(ResultRefused) as caught:
            await deliver_results(
                job_for(f"{keevx.url}/v.mp4"), adapter, http, policy=trusting(keevx)
            )
        assert keevx.hits == {"/v.mp4": 1}
    assert caught.value.reason is Refusal.ADDRESS
    assert internal.total() == 0 and adapter.delivered == []


async def test_a_redirect_to_a_name_for_the_metadata_address_is_refused_before_connecting(
    http: httpx.AsyncClient, tmp_path: Path
) -> None:
    """Each hop is resolved and checked: here the name resolves to 169.254.169.254."""
    asked: list[str] = []

    async def resolve(host: str, port: int) -> Sequence[str]:
        asked.append(host)
        return ["169.254.169.254"]

    async with serve({"/v.mp4": redirect("http://metadata.test/latest/meta-data/")}) as keevx:
        with pytest.raises(FetchRefused) as caught:
            await fetch_to_file(
                http, f"{keevx.url}/v.mp4", tmp_path / "v", trusting(keevx), resolve=resolve
            )
    assert caught.value.reason is Refusal.ADDRESS and asked == ["metadata.test"]


async def test_a_redirect_loop_stops_after_three(http: httpx.AsyncClient, tmp_path: Path) -> None:
    routes = {"/loop": redirect("/loop"), "/r1": redirect("/v.mp4"), "/v.mp4": body(MP4)}
    routes |= {"/r2": redirect("/r1"), "/r3": redirect("/r2"), "/r4": redirect("/r3")}
    adapter = RecordingAdapter()
    async with serve(routes) as keevx:
        with pytest.raises(ResultRefused) as caught:
            await deliver_results(
                job_for(f"{keevx.url}/loop"), adapter, http, policy=trusting(keevx)
            )
        assert keevx.hits == {"/loop": 4}  # the link and three redirects, no more
        assert caught.value.reason is Refusal.REDIRECTS
        # Three redirects are followed; a fourth is one too many.
        got = await fetch_to_file(http, f"{keevx.url}/r3", tmp_path / "ok.mp4", trusting(keevx))
        assert got.path.read_bytes() == MP4 and got.url == f"{keevx.url}/v.mp4"
        with pytest.raises(FetchRefused, match="redirects"):
            await fetch_to_file(http, f"{keevx.url}/r4", tmp_path / "no.mp4", trusting(keevx))
    assert not (tmp_path / "no.mp4").exists() and adapter.delivered == []


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://127.0.0.1/v.mp4", "gopher://127.0.0.1:70/x", "attach://v"],
)
async def test_non_http_schemes_are_refused(http: httpx.AsyncClient, url: str) -> None:
    adapter = RecordingAdapter()
    policy = FetchPolicy(allow_private=True)  # even with every address allowed
    with pytest.raises(ResultRefused) as caught:
        await deliver_results(job_for(url), adapter, http, policy=policy)
    assert caught.value.reason is Refusal.SCHEME and adapter.delivered == []


async def test_credentials_in_a_link_are_refused(http: httpx.AsyncClient) -> None:
    async with serve({"/v.mp4": body(MP4)}) as keevx:
        url = keevx.url.replace("://", "://user:pw@") + "/v.mp4"
        with pytest.raises(ResultRefused) as caught:
            await deliver_results(
                job_for(url), RecordingAdapter(), http, policy=FetchPolicy(allow_private=True)
            )
        assert keevx.total() == 0
    assert caught.value.reason is Refusal.URL


async def test_the_trusted_origin_is_fetched_in_the_normal_sandbox_flow(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    keevx = KeevxClient(API_KEY, sandbox.base_url, http=http)
    image = await keevx.upload(SAMPLE_IMAGE, content_type="image/jpeg")
    (task_id,) = await keevx.create(
        {"model": "V", "prompt": "waves", "image_url": image.url, "aspect_ratio": "16:9"}
        | {"aspect_resolution": "720p", "duration": 4}
    )
    sandbox.finish_now(task_id)
    await asyncio.wait_for(sandbox.wait(task_id), 20)
    status = await keevx.query(task_id)
    job = job_for(status.video_url, thumbnail_url=status.thumbnail_url)
    adapter = RecordingAdapter()
    ids = await deliver_results(job, adapter, http, policy=result_policy(sandbox.base_url))
    assert ids == ["video-7-0"]
    ((_, video),) = adapter.delivered
    assert adapter.video_bytes == [video.size] and video.size and video.size > 1000
    assert video.url == status.video_url and video.thumbnail_url == status.thumbnail_url
    # The same link without the operator's origin trusted is a loopback address: refused.
    with pytest.raises(ResultRefused):
        await deliver_results(job, RecordingAdapter(), http)


# --- size cap and deadline ----------------------------------------------------------------------


async def test_a_body_over_the_cap_stops_and_is_removed(
    http: httpx.AsyncClient, tmp_path: Path
) -> None:
    """No Content-Length: the fetcher stops reading once past the cap, and the server sees it."""
    sent: list[int] = []
    ended = asyncio.Event()
    endless = 64 * 1024 * 1024

    async def flood(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        sent.append(0)
        try:
            while sent[0] < endless:
                await response.write(bytes(64 * 1024))
                sent[0] += 64 * 1024
        except ConnectionError:
            pass  # the client hung up: what this test wants
        finally:
            ended.set()
        return response

    async with serve({"/v.mp4": flood}) as keevx:
        target = tmp_path / "v.mp4"
        with pytest.raises(FetchTooLarge) as caught:
            await fetch_to_file(http, f"{keevx.url}/v.mp4", target, trusting(keevx, max_bytes=1000))
        await asyncio.wait_for(ended.wait(), 30)
    assert caught.value.size is None and not target.exists()
    assert sent[0] < endless  # the download was cut, not read to the end


async def test_over_the_upload_limit_the_video_goes_as_a_link(http: httpx.AsyncClient) -> None:
    adapter = RecordingAdapter(limit=1000)
    async with serve({"/v.mp4": body(MP4), "/t.webp": body(b"RIFF")}) as keevx:
        job = job_for(f"{keevx.url}/v.mp4", thumbnail_url=f"{keevx.url}/t.webp")
        await deliver_results(job, adapter, http, policy=trusting(keevx))
        assert keevx.hits == {"/v.mp4": 1}  # the thumbnail is the platform's to fetch
    ((_, video),) = adapter.delivered
    assert video.path is None and video.size == len(MP4)
    assert video.url == f"{keevx.url}/v.mp4" and video.thumbnail_url == f"{keevx.url}/t.webp"


async def test_a_thumbnail_that_is_not_a_web_link_is_dropped(http: httpx.AsyncClient) -> None:
    adapter = RecordingAdapter(limit=1000)
    async with serve({"/v.mp4": body(MP4)}) as keevx:
        job = job_for(f"{keevx.url}/v.mp4", thumbnail_url="attach://file")
        await deliver_results(job, adapter, http, policy=trusting(keevx))
    ((_, video),) = adapter.delivered
    assert video.path is None and video.thumbnail_url is None


async def test_a_trickling_server_hits_the_total_deadline(
    http: httpx.AsyncClient, tmp_path: Path
) -> None:
    """Each byte comes well within any read timeout; only the total deadline stops it."""

    async def trickle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(600):
            await response.write(b"x")
            await asyncio.sleep(0.05)
        return response

    adapter = RecordingAdapter()
    async with serve({"/v.mp4": trickle}) as keevx:
        target = tmp_path / "v.mp4"
        with pytest.raises(FetchTimeout):
            await fetch_to_file(http, f"{keevx.url}/v.mp4", target, trusting(keevx, deadline=0.3))
        assert not target.exists()
        # Through delivery it is a passing failure (retried later), not a refusal.
        with pytest.raises(DeliveryError) as caught:
            await deliver_results(
                job_for(f"{keevx.url}/v.mp4"), adapter, http, policy=trusting(keevx, deadline=0.3)
            )
    assert not isinstance(caught.value, ResultRefused) and adapter.delivered == []


async def test_a_compressed_body_is_refused(http: httpx.AsyncClient, tmp_path: Path) -> None:
    async def gzipped(request: web.Request) -> web.Response:
        assert request.headers["Accept-Encoding"] == "identity"
        return web.Response(body=b"\x1f\x8b" + bytes(64), headers={"Content-Encoding": "gzip"})

    async with serve({"/v.mp4": gzipped}) as keevx:
        with pytest.raises(FetchRefused) as caught:
            await fetch_to_file(http, f"{keevx.url}/v.mp4", tmp_path / "v", trusting(keevx))
    assert caught.value.reason is Refusal.ENCODING


# --- addresses: checked after DNS, connection bound to the checked address ----------------------


async def test_a_name_with_any_private_address_is_refused(
    http: httpx.AsyncClient, internal: Server, tmp_path: Path
) -> None:
    async def resolve(host: str, port: int) -> Sequence[str]:
        return ["93.184.216.34", "127.0.0.1"]  # one public answer does not launder the other

    with pytest.raises(FetchRefused) as caught:
        await fetch_to_file(
            http,
            f"http://cdn.test:{internal.port}/admin",
            tmp_path / "v",
            RESULT_POLICY,
            resolve=resolve,
        )
    assert caught.value.reason is Refusal.ADDRESS and internal.total() == 0


async def test_localhost_by_name_is_refused(
    http: httpx.AsyncClient, internal: Server, tmp_path: Path
) -> None:
    with pytest.raises(FetchRefused) as caught:
        await fetch_to_file(
            http, f"http://localhost:{internal.port}/admin", tmp_path / "v", RESULT_POLICY
        )
    assert caught.value.reason is Refusal.ADDRESS and internal.total() == 0


async def test_the_connection_goes_to_the_address_that_was_checked(
    http: httpx.AsyncClient, tmp_path: Path
) -> None:
    """``media.test`` exists only in this resolver: fetching works only if the connection is
    made to its answer (not to a second lookup), and the server still sees the name."""
    asked: list[str] = []

    async def resolve(host: str, port: int) -> Sequence[str]:
        asked.append(host)
        return ["127.0.0.1"]

    async with serve({"/v.mp4": body(MP4)}) as cdn:
        got = await fetch_to_file(
            http,
            f"http://media.test:{cdn.port}/v.mp4",
            tmp_path / "v.mp4",
            FetchPolicy(allow_private=True),
            resolve=resolve,
        )
        assert cdn.hosts == [f"media.test:{cdn.port}"]
    assert asked == ["media.test"] and got.path.read_bytes() == MP4


def _certificate(folder: Path, name: str) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", f"/CN={name}"),
            *("-addext", f"subjectAltName=DNS:{name}"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
async def test_https_to_the_checked_address_still_verifies_the_name(tmp_path: Path) -> None:
    """Pinned to an address, TLS still sends the name (SNI) and checks the certificate for it."""
    cert, key = _certificate(tmp_path, "media.test")
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    client_tls = ssl.create_default_context(cafile=str(cert))

    async def resolve(host: str, port: int) -> Sequence[str]:
        return ["127.0.0.1"]

    policy = FetchPolicy(allow_private=True)
    async with (
        serve({"/v.mp4": body(MP4)}, ssl_context=server_tls) as cdn,
        httpx.AsyncClient(verify=client_tls, trust_env=False) as http,
    ):
        url = f"https://media.test:{cdn.port}/v.mp4"
        got = await fetch_to_file(http, url, tmp_path / "v.mp4", policy, resolve=resolve)
        assert got.path.read_bytes() == MP4
        # A name the certificate does not hold fails verification, though the address is the same.
        with pytest.raises(DeliveryError):
            await deliver_results(
                job_for(f"https://other.test:{cdn.port}/v.mp4"),
                RecordingAdapter(),
                http,
                policy=policy,
            )


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "2002:7f00:1::1",
        "64:ff9b::a9fe:a9fe",
        "2001:db8::1",
    ],
)
def test_non_public_addresses(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"]
)
def test_public_addresses(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


def test_origins_are_normalised() -> None:
    assert origin("http://127.0.0.1:8080/v1") == "http://127.0.0.1:8080"
    assert origin("HTTPS://API.Keevx.com/v1") == "https://api.keevx.com:443"
    assert origin("http://[::1]/x") == "http://[::1]:80"
    policy = result_policy("https://api.keevx.com/v1")
    assert policy.trusts(httpx.URL("https://api.keevx.com:443/media/v.mp4"))
    assert not policy.trusts(httpx.URL("http://api.keevx.com/media/v.mp4"))
    assert not policy.trusts(httpx.URL("https://api.keevx.com:8443/media/v.mp4"))
    with pytest.raises(ValueError):
        FetchPolicy(trusted_origins=frozenset({"/v1"}))  # a path is not an origin
