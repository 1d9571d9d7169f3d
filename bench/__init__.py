"""Benchmarks (never part of the test suite): ``python -m bench [--quick] [NAME…]``.

Each benchmark prints one JSON line per measure:
``{"name", "value", "unit", "baseline", "ratio"}``, with its baseline measured
in the same run (these machines are noisy: compare ratios, not absolutes).
"""
