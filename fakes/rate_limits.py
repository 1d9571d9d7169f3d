"""Token buckets by key, the fakes' rate limits (a bucket ``burst`` deep refills at ``rate``/s)."""

from __future__ import annotations

from collections import OrderedDict


class TokenBuckets:
    """Token buckets by key (bounded: the least recently used key is dropped)."""

    def __init__(self, max_keys: int = 10_000) -> None:
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._max_keys = max_keys

    def take(self, key: str, rate: float, burst: float, now: float) -> float:
        """0.0 when a request is allowed, else the seconds until one will be."""
        tokens, last = self._buckets.get(key, (burst, now))
        tokens = min(burst, tokens + (now - last) * rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            wait = 0.0
        else:
            self._buckets[key] = (tokens, now)
            wait = (1.0 - tokens) / rate
        self._buckets.move_to_end(key)
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        return wait

    def clear(self) -> None:
        self._buckets.clear()
