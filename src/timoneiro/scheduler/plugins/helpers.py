"""Score arithmetic several plugins share."""

from __future__ import annotations

from timoneiro.scheduler.framework import MAX_NODE_SCORE


def default_normalize_score(scores: list[int], reverse: bool = False) -> None:
    """Scale scores in place so the highest becomes MAX_NODE_SCORE (reverse: so the highest becomes 0)."""
    highest = max(scores, default=0)
    if highest == 0:
        if reverse:
            scores[:] = [MAX_NODE_SCORE] * len(scores)
        return
    for i, score in enumerate(scores):
        score = MAX_NODE_SCORE * score // highest
        scores[i] = MAX_NODE_SCORE - score if reverse else score
