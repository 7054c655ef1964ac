"""The job engine: from a stored request to a delivered video.

``service`` is what adapters call (validate, keep the images, store); ``ports`` the store's
interfaces, owned here and implemented in :mod:`storage`; ``poller`` claims due jobs
under leases and ``pipeline`` moves each one a status further (``delivery`` posts
results, ``schedule`` and ``durations`` time the status checks, ``callbacks`` take
Keevx's nudges); ``images``, ``links``, ``limits`` and ``safe_fetch`` guard what comes in.
Imports :mod:`bot.model`, :mod:`bot.keevx`, :mod:`bot.settings`, :mod:`bot.errors`
and ``adapters.base`` (the chat port); never a store or a platform.
"""
