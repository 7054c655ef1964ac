"""Benchmarks of the whole core against the Keevx sandbox on loopback (see BENCHMARKS.md).

Each module runs one benchmark with ``python -m bench.<name>``; ``python -m bench``
runs all four (``--quick`` for the reduced set behind ``make bench``).
"""
