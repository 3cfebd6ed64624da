"""Benchmarks: each prints its figures beside those of its floor or a peer, measured in one run.

Run one with ``python -m bench NAME`` (for example ``python -m bench ingest``); every module
``bench/NAME.py`` with a ``main(argv)`` function is a benchmark.
"""
