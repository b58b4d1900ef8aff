"""Completion indexes of Indexed Jobs: sets of indexes kept as ordered intervals, and printed the way
status.completedIndexes carries them ("1,3-5,7")."""

from __future__ import annotations

from collections.abc import Iterable

COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"  # annotation and label
UNKNOWN = -1

Intervals = list[tuple[int, int]]  # ordered, disjoint, not touching: (first, last)


def completion_index(pod: dict) -> int:
    """The pod's index from its annotation, or UNKNOWN."""
    value = ((pod.get("metadata") or {}).get("annotations") or {}).get(COMPLETION_INDEX)
    try:
        index = int(value)
    except (TypeError, ValueError):
        return UNKNOWN
    return index if index >= 0 else UNKNOWN


def parse(text: str | None, completions: int) -> Intervals:
    """Intervals from their printed form, dropping what is not below completions; corrupt parts skipped."""
    out: Intervals = []
    for part in (text or "").split(","):
        if not part:
            continue
        first_s, _, last_s = part.partition("-")
        try:
            first = int(first_s)
            last = int(last_s) if last_s else first
        except ValueError:
            continue
        if first >= completions:
            break
        last = min(last, completions - 1)
        if out and out[-1][1] == first - 1:
            out[-1] = (out[-1][0], last)
        else:
            out.append((first, last))
    return out


def merge(a: Intervals, b: Intervals) -> Intervals:
    out: Intervals = []
    for first, last in sorted(a + b):
        if out and first <= out[-1][1] + 1:
            if last > out[-1][1]:
                out[-1] = (out[-1][0], last)
        else:
            out.append((first, last))
    return out


def with_indexes(intervals: Intervals, indexes: Iterable[int]) -> Intervals:
    return merge(intervals, [(i, i) for i in sorted(set(indexes))])


def total(intervals: Intervals) -> int:
    return sum(last - first + 1 for first, last in intervals)


def has(intervals: Intervals, index: int) -> bool:
    return any(first <= index <= last for first, last in intervals)


def members(intervals: Intervals) -> set[int]:
    return {i for first, last in intervals for i in range(first, last + 1)}


def to_string(intervals: Intervals) -> str:
    parts = []
    for first, last in intervals:
        if last == first:
            parts.append(str(first))
        elif last == first + 1:
            parts.append(f"{first},{last}")
        else:
            parts.append(f"{first}-{last}")
    return ",".join(parts)


def first_pending(count: int, completions: int, non_pending: Intervals) -> list[int]:
    """The lowest `count` indexes below completions that are not in non_pending."""
    out: list[int] = []
    candidate = 0
    for first, last in non_pending:
        while candidate < completions and len(out) < count and candidate < first:
            out.append(candidate)
            candidate += 1
        candidate = max(candidate, last + 1)
    while candidate < completions and len(out) < count:
        out.append(candidate)
        candidate += 1
    return out
