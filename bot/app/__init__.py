"""The application: wiring and operator tools.

``runtime`` is the composition root (it alone builds the stores and, lazily, the
adapters whose token is set); ``web`` the bot's own HTTP server, ``logs`` logging
with secrets redacted, ``cli`` the ``keevx-bot`` command with its ``demo`` and
``doctor``. May import anything; nothing in the core imports it.
"""
