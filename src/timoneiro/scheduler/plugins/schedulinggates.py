"""SchedulingGates: a pod with spec.schedulingGates is held out of the active queue until they are all removed."""

from __future__ import annotations

from typing import Any

from timoneiro.scheduler.events import POD, Action, ClusterEvent, Registration, own_update
from timoneiro.scheduler.podinfo import PodInfo
from timoneiro.scheduler.status import Code, Status

NAME = "SchedulingGates"


class SchedulingGates:
    name = NAME

    def __init__(self, handle: Any) -> None:
        pass

    def pre_enqueue(self, pod: PodInfo) -> Status | None:
        gates = [g.get("name", "") for g in pod.spec.get("schedulingGates") or ()]
        if not gates:
            return None
        return Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, f"waiting for scheduling gates: [{' '.join(gates)}]",
                      plugin=NAME)

    def events_to_register(self) -> list[Registration]:
        return [Registration(ClusterEvent(POD, Action.UPDATE_POD_SCHEDULING_GATES_ELIMINATED), own_update)]

