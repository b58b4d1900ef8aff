"""What a plugin answers at an extension point: a code, and the reasons that end up in FailedScheduling messages.

Success is `None` on the hot paths (filter, score) so that a passing node costs no allocation.
"""

from __future__ import annotations

from enum import IntEnum


class Code(IntEnum):
    SUCCESS = 0
    ERROR = 1  # an internal failure: retried after back-off, whatever the cluster does
    UNSCHEDULABLE = 2  # preemption may help
    UNSCHEDULABLE_AND_UNRESOLVABLE = 3  # preemption will not help
    WAIT = 4
    SKIP = 5  # pre-filter / pre-score: this plugin has nothing to say about the pod
    PENDING = 6


REJECTED = frozenset({Code.UNSCHEDULABLE, Code.UNSCHEDULABLE_AND_UNRESOLVABLE, Code.PENDING})


class Status:
    """Plugins keep their rejections as module constants: a Status is never changed once made."""

    __slots__ = ("code", "reasons", "plugin")

    def __init__(self, code: Code, *reasons: str, plugin: str = "") -> None:
        self.code = code
        self.reasons = reasons
        self.plugin = plugin

    @property
    def message(self) -> str:
        return ", ".join(self.reasons)

    @property
    def success(self) -> bool:
        return self.code == Code.SUCCESS

    @property
    def rejected(self) -> bool:
        return self.code in REJECTED

    def __repr__(self) -> str:
        return f"Status({self.code.name}, {self.message!r}, plugin={self.plugin!r})"


SKIP = Status(Code.SKIP)
SUCCESS = Status(Code.SUCCESS)


def error(message: str, plugin: str = "") -> Status:
    return Status(Code.ERROR, message, plugin=plugin)
