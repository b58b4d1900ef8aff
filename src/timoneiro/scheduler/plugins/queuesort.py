"""PrioritySort: higher priority first, then the pod that has waited longest."""

from __future__ import annotations

from typing import Any

NAME = "PrioritySort"


class PrioritySort:
    name = NAME

    def __init__(self, handle: Any) -> None:
        pass

    def sort_key(self, queued: Any) -> tuple:
        return (-queued.info.priority, queued.timestamp)
