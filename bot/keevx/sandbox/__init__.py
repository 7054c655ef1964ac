"""A loopback emulation of the Keevx image-to-video API, for tests, demos and dry runs.

``KEEVX_SANDBOX=1`` points the whole bot at it, so nothing spends credits.
"""

from pathlib import Path

from bot.keevx.sandbox.models import RecordedCall, SandboxConfig, SandboxTask, UploadedFile
from bot.keevx.sandbox.server import Sandbox
from bot.keevx.sandbox.video import render_thumbnail, render_video

SAMPLE_IMAGE = Path(__file__).with_name("sample.jpg")
"""A bundled sunset photo (1280x853 JPEG) for the demo command."""

__all__ = [
    "SAMPLE_IMAGE",
    "RecordedCall",
    "Sandbox",
    "SandboxConfig",
    "SandboxTask",
    "UploadedFile",
    "render_thumbnail",
    "render_video",
]
