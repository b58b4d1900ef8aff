"""Garbage-collector settings for long-running timoneiro processes (the API server, the components).

Their heaps hold every object of the cluster (the watch cache, informer caches), and CPython's default
thresholds run a collection every 700 allocations: decoding one watch event then pays for scanning that
heap, which measured 164 µs per 2 KB event in the scheduler instead of 7 µs. Larger thresholds keep young
collections cheap and rare; nothing in these processes relies on prompt collection of reference cycles."""

from __future__ import annotations

import gc

THRESHOLDS = (50_000, 20, 100)


def tune_for_service() -> None:
    """Raise the collection thresholds, and leave what start-up imported out of every future collection."""
    gc.set_threshold(*THRESHOLDS)
    gc.freeze()
