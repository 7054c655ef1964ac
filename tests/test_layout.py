"""The shape of the code: a platform-free core and a pinned public surface."""

from __future__ import annotations

import subprocess
import sys

import bot


def test_core_imports_no_platform_library() -> None:
    code = (
        "import sys, bot, bot.app.cli, bot.app.runtime, bot.jobs.service, bot.jobs.poller, "
        "bot.jobs.pipeline, bot.jobs.delivery, bot.keevx.client, bot.model.request, "
        "bot.jobs.images, bot.keevx.sandbox, bot.app.demo, storage, "
        "adapters.base\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('telegram', 'discord'))\n"
        "print(loaded)\n"
        "assert not loaded, loaded"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_any_module_can_be_imported_first() -> None:
    for module in (
        "adapters.base",
        "storage",
        "bot.model.job",
        "bot.jobs.pipeline",
        "bot.app.runtime",
    ):
        result = subprocess.run(
            [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, f"{module}: {result.stderr}"


def test_public_names_are_pinned() -> None:
    assert bot.__all__ == sorted(bot.__all__)
    assert set(bot.__all__) == {
        "ApiProtocolError",
        "ApiRejected",
        "ApiTimeout",
        "ApiUnavailable",
        "BotError",
        "ConfigError",
        "DeliveryError",
        "Job",
        "JobService",
        "JobStatus",
        "KeevxClient",
        "KeevxError",
        "Options",
        "RateLimited",
        "RecipientGone",
        "RequestInvalid",
        "Settings",
        "StoreError",
        "Target",
        "TooLarge",
        "VideoRequest",
        "build_request",
        "parse_command",
    }
    for name in bot.__all__:
        assert getattr(bot, name) is not None
