"""Keevx: the image-to-video API's client and an emulator of it.

``client`` speaks Keevx's three endpoints with its retry advice and a deadline per
call, mapping every failure to :mod:`bot.errors`; ``sandbox`` is a Keevx on loopback
for the demo, the tests and the benchmarks. Imports only :mod:`bot.model` and
:mod:`bot.errors`.
"""
