"""The model: plain values and the rules they obey, with no I/O.

A job and its target, the models' rules table, a video request and the chat syntax
that builds one (image links included), and the help text written from the rules.
Everything else builds on these; they import nothing of the project but each other
and :mod:`bot.errors`.
"""
