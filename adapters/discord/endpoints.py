"""The one place that points discord.py at another REST base and gateway.

discord.py has no public setting for either: REST URLs are built from the
class attribute :attr:`discord.http.Route.BASE` (read each time a ``Route``
is made), and a plain :class:`discord.Client` opens its websocket at
:attr:`discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY` (READY's
``resume_gateway_url`` is then used for resumes). Both are process-wide, so
every client in the process talks to the same Discord; that is the case for
this bot (one token, one client).
"""

from __future__ import annotations

import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

__all__ = ["DEFAULT_API_URL", "DEFAULT_GATEWAY_URL", "point_at"]

DEFAULT_API_URL = "https://discord.com/api/v10"
DEFAULT_GATEWAY_URL = "wss://gateway.discord.gg/"


def point_at(api_url: str = "", gateway_url: str = "") -> None:
    """Send discord.py's REST calls to ``api_url`` and its gateway to ``gateway_url``.

    Empty values restore Discord's own endpoints. ``api_url`` includes the
    version, e.g. ``https://discord.com/api/v10`` (as ``DISCORD_API_URL``).
    """
    Route.BASE = (api_url or DEFAULT_API_URL).rstrip("/")
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url or DEFAULT_GATEWAY_URL)
