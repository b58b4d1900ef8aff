"""Cluster changes that can make a rejected pod schedulable, and how plugins say which ones concern them.

A plugin registers the events that could undo its rejections, each with an optional hint: a function that
looks at the change and says whether this pod is worth retrying. Pods rejected only by plugins whose
registrations do not match a change stay where they are, so a busy cluster does not retry every pod on
every event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntFlag

from timoneiro.scheduler.podinfo import PodInfo
from timoneiro.scheduler.resources import Resource


class Action(IntFlag):
    ADD = 1
    DELETE = 2
    UPDATE_NODE_ALLOCATABLE = 4
    UPDATE_NODE_LABEL = 8
    UPDATE_NODE_TAINT = 16
    UPDATE_NODE_CONDITION = 32
    UPDATE_NODE_ANNOTATION = 64
    UPDATE_POD_LABEL = 128
    UPDATE_POD_SCALE_DOWN = 256
    UPDATE_POD_TOLERATION = 512
    UPDATE_POD_SCHEDULING_GATES_ELIMINATED = 1024
    UPDATE_POD_OTHER = 2048  # an update none of the above describes: only a plain UPDATE registration matches
    UPDATE = 4 | 8 | 16 | 32 | 64 | 128 | 256 | 512 | 1024 | 2048
    ALL = ADD | DELETE | UPDATE


POD, ASSIGNED_POD, UNSCHEDULED_POD, NODE = "Pod", "AssignedPod", "UnscheduledPod", "Node"


@dataclass(frozen=True, slots=True)
class ClusterEvent:
    resource: str  # POD in registrations covers both ASSIGNED_POD and UNSCHEDULED_POD
    action: Action

    def matches(self, incoming: ClusterEvent) -> bool:
        """Whether this registration covers an incoming event."""
        if self.resource != incoming.resource and not (
                self.resource == POD and incoming.resource in (ASSIGNED_POD, UNSCHEDULED_POD)):
            return False
        return bool(self.action & incoming.action)


# a hint: (the rejected pod, the object before, the object after) -> worth retrying the pod?
# Node events carry Node dicts, pod events PodInfos; None stands for "did not exist".
Hint = Callable[[PodInfo, object, object], bool]


@dataclass(frozen=True, slots=True)
class Registration:
    event: ClusterEvent
    hint: Hint | None = None


NODE_ADD = ClusterEvent(NODE, Action.ADD)
ASSIGNED_POD_ADD = ClusterEvent(ASSIGNED_POD, Action.ADD)
ASSIGNED_POD_DELETE = ClusterEvent(ASSIGNED_POD, Action.DELETE)


def node_changes(old: dict, new: dict) -> Action:
    """What changed between two versions of a node, as far as scheduling goes (0: nothing that matters)."""
    action = Action(0)
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    if old_spec.get("unschedulable") and not new_spec.get("unschedulable"):
        action |= Action.UPDATE_NODE_TAINT
    old_status, new_status = old.get("status") or {}, new.get("status") or {}
    if old_status.get("allocatable") != new_status.get("allocatable"):
        action |= Action.UPDATE_NODE_ALLOCATABLE
    old_meta, new_meta = old.get("metadata") or {}, new.get("metadata") or {}
    if (old_meta.get("labels") or {}) != (new_meta.get("labels") or {}):
        action |= Action.UPDATE_NODE_LABEL
    if (old_spec.get("taints") or []) != (new_spec.get("taints") or []):
        action |= Action.UPDATE_NODE_TAINT
    if _conditions(old_status) != _conditions(new_status):
        action |= Action.UPDATE_NODE_CONDITION
    if (old_meta.get("annotations") or {}) != (new_meta.get("annotations") or {}):
        action |= Action.UPDATE_NODE_ANNOTATION
    return action


def _conditions(status: dict) -> dict:
    return {c.get("type"): c.get("status") for c in status.get("conditions") or ()}


def pod_changes(old: PodInfo, new: PodInfo) -> Action:
    """What an update to a pod changed that a plugin may care about."""
    action = Action(0)
    if old.labels != new.labels:
        action |= Action.UPDATE_POD_LABEL
    if _scaled_down(old.requests, new.requests):
        action |= Action.UPDATE_POD_SCALE_DOWN
    if old.tolerations != new.tolerations:
        action |= Action.UPDATE_POD_TOLERATION
    if old.spec.get("schedulingGates") and not new.spec.get("schedulingGates"):
        action |= Action.UPDATE_POD_SCHEDULING_GATES_ELIMINATED
    return action or Action.UPDATE_POD_OTHER


def _scaled_down(old: Resource, new: Resource) -> bool:
    if new.milli_cpu < old.milli_cpu or new.memory < old.memory or new.ephemeral_storage < old.ephemeral_storage:
        return True
    return any(new.scalar.get(name, 0) < value for name, value in old.scalar.items())


def own_update(pod: PodInfo, old: object, new: object) -> bool:
    """A hint for updates a plugin only cares about when they are to the rejected pod itself."""
    return isinstance(new, PodInfo) and new.uid == pod.uid
