"""``python -m bot``: the same as ``keevx-bot``."""

import sys

from bot.app.cli import main

sys.exit(main())
