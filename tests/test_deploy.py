"""The container files against the code: Dockerfile, compose.yaml, .env.example, deploy/.

This machine has no container engine, so nothing here builds an image or starts compose.
What can be checked is: the files name only variables the bot reads (and .env.example all
of them), compose's bot service can scale and reaches its PostgreSQL, and the image's own
command (ENTRYPOINT + CMD, with the image's ENV) starts the bot outside a container, where
its HEALTHCHECK command then passes.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import signal
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml

from bot import metrics
from bot.model.database_url import database_kind
from bot.settings import Settings
from tests.fakes.telegram import FakeTelegram
from tests.support import free_port
from tests.test_telegram_adapter import until

ROOT = Path(__file__).resolve().parent.parent
SECRETS = {"KEEVX_API_KEY", "TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET", "DISCORD_BOT_TOKEN"}
_ENV_READ = re.compile(r"""os\.(?:environ\.get\(|environ\[|getenv\()\s*["']([A-Z][A-Z0-9_]*)["']""")


class _Recorder(Mapping[str, str]):
    """An empty environment that remembers every name asked of it."""

    def __init__(self) -> None:
        self.asked: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def bot_variables() -> set[str]:
    """Every variable the bot reads: what ``Settings.from_env`` asks for, and the direct
    ``os.environ`` reads anywhere in the code (the CLI's LOG_LEVEL and LOG_FORMAT)."""
    recorder = _Recorder()
    Settings.from_env(recorder)
    direct = {
        name
        for top in ("bot", "adapters", "storage")
        for path in (ROOT / top).rglob("*.py")
        for name in _ENV_READ.findall(path.read_text())
    }
    return recorder.asked | direct


def env_example() -> dict[str, str]:
    """``NAME=value`` lines of .env.example, commented (``# NAME=default``) or not."""
    found: dict[str, str] = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = re.fullmatch(r"(?:# )?([A-Z][A-Z0-9_]*)=(.*)", line)
        if match:
            assert match[1] not in found, f"{match[1]} twice"
            found[match[1]] = match[2]
    return found


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return data


def interpolate(value: str) -> str:
    """Compose's ``${VAR:-default}`` with nothing set: the default."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    lines = [ln for ln in (ROOT / "Dockerfile").read_text().splitlines() if not ln.startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    pairs = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def image_env() -> dict[str, str]:
    """The final stage's ENV (``KEY=value`` pairs)."""
    env: dict[str, str] = {}
    for word, rest in dockerfile():
        if word == "FROM":
            env = {}
        elif word == "ENV":
            env.update(part.split("=", 1) for part in shlex.split(rest))  # type: ignore[misc]
    return env


def exec_form(instruction: str) -> list[str]:
    """The JSON-array arguments of the last ``instruction`` (ENTRYPOINT, CMD, HEALTHCHECK)."""
    rest = [r for w, r in dockerfile() if w == instruction][-1]
    command: list[str] = json.loads(rest[rest.index("[") :])
    return command


def test_the_variable_walk_finds_each_setting() -> None:
    names = bot_variables()
    assert {"KEEVX_API_KEY", "PORT", "DISCORD_GUILD_IDS", "LOG_LEVEL", "LOG_FORMAT"} <= names
    assert len(names - {"LOG_LEVEL", "LOG_FORMAT"}) == len(Settings.__dataclass_fields__)


def test_env_example_lists_exactly_the_variables_the_bot_reads() -> None:
    listed = env_example()
    assert set(listed) == bot_variables()
    assert all(listed[name] == "" for name in SECRETS)  # no secret, not even a fake one


def test_compose_bot_service_scales_on_postgres_with_known_variables() -> None:
    services = compose()["services"]
    assert {"postgres", "bot", "lb"} <= set(services)
    bot = services["bot"]
    assert bot["build"] == "."
    assert "ports" not in bot and "container_name" not in bot  # so --scale bot=3 works
    assert bot["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert [f["path"] for f in bot["env_file"]] == [".env"]
    environment = bot["environment"]
    assert set(environment) <= bot_variables() and not set(environment) & SECRETS
    url = interpolate(environment["DATABASE_URL"])
    assert database_kind(url) == "postgresql"
    parts = urlsplit(url)
    assert parts.hostname == "postgres"
    pg = services["postgres"]["environment"]
    assert parts.username == pg["POSTGRES_USER"] and parts.path == f"/{pg['POSTGRES_DB']}"
    assert parts.password == interpolate(pg["POSTGRES_PASSWORD"])
    port = environment["PORT"]
    assert port == image_env()["PORT"] and bot["expose"] == [port]
    assert f"bot:{port}" in (ROOT / "deploy/nginx.conf").read_text()
    prometheus = yaml.safe_load((ROOT / "deploy/prometheus.yml").read_text())
    [sd] = prometheus["scrape_configs"][0]["dns_sd_configs"]
    assert sd["names"] == ["bot"] and str(sd["port"]) == port
    assert services["prometheus"]["profiles"] == services["grafana"]["profiles"] == ["monitoring"]


def test_compose_needs_no_variable_and_mounts_only_files_in_the_repo() -> None:
    text = (ROOT / "compose.yaml").read_text()
    used = re.findall(r"\$\{([^}]*)\}", text)
    assert used and all(":-" in u for u in used), used  # `docker compose config` works bare
    for service in compose()["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), source


def test_dockerfile_is_multi_stage_slim_unprivileged_and_holds_no_secret() -> None:
    pairs = dockerfile()
    bases = [rest for word, rest in pairs if word == "FROM"]
    assert len(bases) >= 2 and all("-slim" in b for b in bases)
    last_stage = pairs[max(i for i, (w, _) in enumerate(pairs) if w == "FROM") :]
    users = [rest for word, rest in last_stage if word == "USER"]
    assert users and users[-1] not in ("root", "0")
    env = image_env()
    assert set(env) - {"PATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"} <= bot_variables()
    args = {rest.split("=")[0] for word, rest in pairs if word == "ARG"}
    assert not (set(env) | args) & SECRETS
    assert [rest for word, rest in pairs if word == "EXPOSE"] == [env["PORT"]]
    assert "/healthz" in " ".join(exec_form("HEALTHCHECK"))
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ".env" in ignored and ".git" in ignored


def dashboard_panels() -> list[dict[str, Any]]:
    board = json.loads((ROOT / "deploy/grafana/keevx-bot.json").read_text())
    return [p for p in board["panels"] if p["type"] != "row"]


def exported() -> set[str]:
    """Every sample name /metrics can show (``_total`` of counters, ``_bucket`` … of histograms)."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
    return {
        family.name + suffix
        for family in metrics.REGISTRY.collect()
        for suffix in suffixes.get(family.type, ("",))
    }


def test_the_dashboard_shows_every_metric_and_only_those() -> None:
    used = {
        name
        for panel in dashboard_panels()
        for target in panel["targets"]
        for name in re.findall(r"\b(?:keevx_bot|process)_[a-z_]+", target["expr"])
    }
    assert used <= exported(), used - exported()
    ours = {re.sub(r"_(total|bucket|sum|count)$", "", n) for n in exported() if "keevx_bot" in n}
    assert ours <= {re.sub(r"_(total|bucket|sum|count)$", "", n) for n in used}


def test_the_readme_says_what_each_panel_answers() -> None:
    readme = (ROOT / "README.md").read_text()
    for panel in dashboard_panels():
        assert f"| {panel['title']} | " in readme, panel["title"]
    for family in metrics.REGISTRY.collect():
        if family.name.startswith("keevx_bot_"):
            suffix = "_total" if family.type == "counter" else ""
            assert f"`{family.name}{suffix}`" in readme, family.name


async def test_the_image_command_runs_outside_a_container(tmp_path: Path) -> None:
    """ENTRYPOINT + CMD with the image's ENV start the bot; its HEALTHCHECK then passes,
    /readyz says ready, /metrics answers, and SIGTERM ends it cleanly."""
    token = "123456:ABCdefGHIjklMNOpqrSTUvwxYZ0123456789"
    port = str(free_port())
    venv_bin = str(Path(sys.executable).parent)  # where `keevx-bot` and `python` are installed
    async with FakeTelegram(token) as fake, httpx.AsyncClient() as http:
        env = {
            **image_env(),
            "PATH": f"{venv_bin}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(tmp_path),
            "PORT": port,
            "KEEVX_SANDBOX": "1",
            "TELEGRAM_BOT_TOKEN": token,
            "TELEGRAM_API_URL": fake.url,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
        }
        log = (tmp_path / "bot.log").open("wb")
        bot = await asyncio.create_subprocess_exec(
            *exec_form("ENTRYPOINT"),
            *exec_form("CMD"),
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:

            async def healthy() -> bool:
                check = await asyncio.create_subprocess_exec(
                    *exec_form("HEALTHCHECK"), env=env, stderr=asyncio.subprocess.DEVNULL
                )
                return await check.wait() == 0

            await until(healthy, within=30)
            ready = await until(
                lambda: _status(http, f"http://127.0.0.1:{port}/readyz", 200), within=30
            )
            page = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
        finally:
            if bot.returncode is None:
                bot.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(bot.wait(), 30)
            log.close()
    output = (tmp_path / "bot.log").read_text()
    assert ready and code == 0, output[-3000:]
    assert "keevx_bot_ready 1.0" in page and 'keevx_bot_leader{role="telegram_poller"} 1.0' in page
    first = json.loads(output.splitlines()[0])  # LOG_FORMAT=json from the image
    assert first["message"] and token not in output


async def _status(http: httpx.AsyncClient, url: str, wanted: int) -> bool:
    try:
        return (await http.get(url)).status_code == wanted
    except httpx.TransportError:
        return False
