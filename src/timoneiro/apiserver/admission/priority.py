"""Priority (plugin/pkg/admission/priority): a new pod's spec.priority and spec.preemptionPolicy come from
its PriorityClass, or from the global default class when it names none; a pod naming a class that does not
exist, or setting a priority or policy other than its class's, is refused. Updates keep what creation set.
Only one PriorityClass may be the global default. The two system classes exist from the server's start."""

from __future__ import annotations

from typing import TYPE_CHECKING

from timoneiro.api.kinds import Kind
from timoneiro.api.validation.scheduling import SYSTEM_CLASSES
from timoneiro.apiserver import errors
from timoneiro.apiserver.generic import Context, decode

if TYPE_CHECKING:
    from timoneiro.storage.cache import WatchCache

DEFAULT_PREEMPTION_POLICY = "PreemptLowerPriority"
SYSTEM_CLASS_DESCRIPTIONS = {
    "system-node-critical": "Used for system critical pods that must not be moved from their current node.",
    "system-cluster-critical": "Used for system critical pods that must run in the cluster, but can be moved to "
                               "another node if necessary.",
}


def system_priority_classes() -> list[dict]:
    """The classes kube-apiserver creates at start (its scheduling/bootstrap-system-priority-classes hook)."""
    return [{"metadata": {"name": name}, "value": value, "globalDefault": default,
             "description": SYSTEM_CLASS_DESCRIPTIONS[name]} for name, (value, default) in SYSTEM_CLASSES.items()]


class Priority:
    """`admit` (mutating) resolves pods' priorities; `validate` keeps PriorityClasses to one global default."""

    def __init__(self, cache: WatchCache, priority_classes: Kind) -> None:
        self.cache = cache
        self.priority_classes = priority_classes

    def admit(self, ctx: Context, kind: Kind, new: dict, old: dict | None) -> None:
        if ctx.subresource or (kind.group, kind.plural) != ("", "pods"):
            return
        spec = new.setdefault("spec", {})
        if old is not None:
            for field in ("priority", "preemptionPolicy"):
                if spec.get(field) is None and (old.get("spec") or {}).get(field) is not None:
                    spec[field] = old["spec"][field]
            return
        name = new["metadata"].get("name", "")
        wanted = spec.get("priorityClassName")
        if wanted:
            entry = self.cache.get(self.priority_classes.key(None, wanted))
            if entry is None:
                raise errors.forbidden(kind, name, f"no PriorityClass with name {wanted} was found")
            pc = decode(entry)
            priority, policy = pc.get("value", 0), pc.get("preemptionPolicy")
        else:
            pc = self.global_default()
            priority = pc.get("value", 0) if pc else 0
            policy = pc.get("preemptionPolicy") if pc else DEFAULT_PREEMPTION_POLICY
            if pc:
                spec["priorityClassName"] = pc["metadata"]["name"]
        if spec.get("priority") is not None and spec["priority"] != priority:
            raise errors.forbidden(kind, name, f"the integer value of priority ({spec['priority']}) must not be "
                                   f"provided in pod spec; priority admission controller computed {priority} from "
                                   "the given PriorityClass name")
        spec["priority"] = priority
        if policy is not None:
            if spec.get("preemptionPolicy") is not None and spec["preemptionPolicy"] != policy:
                raise errors.forbidden(kind, name, f"the string value of PreemptionPolicy ({spec['preemptionPolicy']}) "
                                       f"must not be provided in pod spec; priority admission controller computed "
                                       f"{policy} from the given PriorityClass name")
            spec["preemptionPolicy"] = policy

    def validate(self, ctx: Context, kind: Kind, new: dict, old: dict | None) -> None:
        if ctx.subresource or (kind.group, kind.plural) != ("scheduling.k8s.io", "priorityclasses"):
            return
        if not new.get("globalDefault"):
            return
        current = self.global_default()
        name = new["metadata"].get("name", "")
        if current is not None and (old is None or current["metadata"]["name"] != name):
            raise errors.forbidden(kind, name, f"PriorityClass {current['metadata']['name']} is already marked as "
                                   "default. Only one default can exist")

    def global_default(self) -> dict | None:
        """The global default class; should a race have made several, the one of lowest value."""
        defaults = [pc for pc in map(decode, self.cache.list(self.priority_classes.list_prefix(None)))
                    if pc.get("globalDefault")]
        return min(defaults, key=lambda pc: pc.get("value", 0), default=None)
