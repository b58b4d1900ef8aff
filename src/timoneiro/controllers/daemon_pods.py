"""What a DaemonSet's pods look like and where they belong: the tolerations every daemon pod gets, the node
affinity that pins it to its node, which nodes should run one, and which pod runs the current template."""

from __future__ import annotations

import copy

from timoneiro.controllers.history import HASH_LABEL
from timoneiro.scheduler.affinity import RequiredNodeAffinity
from timoneiro.scheduler.taints import NO_EXECUTE, NO_SCHEDULE, first_untolerated

TEMPLATE_GENERATION_LABEL = "pod-template-generation"
TEMPLATE_GENERATION_ANNOTATION = "deprecated.daemonset.template.generation"

# Daemon pods survive node problems: the node controller's taints do not evict or keep them out.
_ALWAYS_TOLERATED = (
    ("node.kubernetes.io/not-ready", NO_EXECUTE),
    ("node.kubernetes.io/unreachable", NO_EXECUTE),
    ("node.kubernetes.io/disk-pressure", NO_SCHEDULE),
    ("node.kubernetes.io/memory-pressure", NO_SCHEDULE),
    ("node.kubernetes.io/pid-pressure", NO_SCHEDULE),
    ("node.kubernetes.io/unschedulable", NO_SCHEDULE),
)
_HOST_NETWORK_TOLERATED = ("node.kubernetes.io/network-unavailable", NO_SCHEDULE)


def add_daemon_tolerations(spec: dict) -> None:
    """Add (or replace equal ones with) the tolerations upstream gives every daemon pod."""
    wanted = list(_ALWAYS_TOLERATED) + ([_HOST_NETWORK_TOLERATED] if spec.get("hostNetwork") else [])
    tolerations = spec.setdefault("tolerations", [])
    for key, effect in wanted:
        toleration = {"key": key, "operator": "Exists", "effect": effect}
        for i, t in enumerate(tolerations):
            if (t.get("key", ""), t.get("operator") or "Equal", t.get("value", ""), t.get("effect", "")) == \
                    (key, "Exists", "", effect):
                tolerations[i] = toleration
                break
        else:
            tolerations.append(toleration)


def pin_to_node(spec: dict, node_name: str) -> None:
    """Replace the required node affinity by one naming the node (the scheduler then binds it there)."""
    term = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}
    node_affinity = spec.setdefault("affinity", {}).setdefault("nodeAffinity", {})
    node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": [term]}


def template_generation(ds: dict) -> str | None:
    return (ds["metadata"].get("annotations") or {}).get(TEMPLATE_GENERATION_ANNOTATION)


def pod_template(ds: dict, hash_: str) -> dict:
    """The DaemonSet's template with the daemon tolerations, its generation and the revision hash."""
    template = copy.deepcopy(ds["spec"]["template"])
    add_daemon_tolerations(template.setdefault("spec", {}))
    labels = template.setdefault("metadata", {}).setdefault("labels", {})
    generation = template_generation(ds)
    if generation is not None:
        labels[TEMPLATE_GENERATION_LABEL] = generation
    if hash_:
        labels[HASH_LABEL] = hash_
    return template


def should_run(node: dict, ds: dict) -> tuple[bool, bool]:
    """(whether a daemon pod should be on the node, whether one already there may stay): its node name,
    selector and required affinity must fit; a NoSchedule or NoExecute taint it does not tolerate keeps a
    new pod out, and only a NoExecute one evicts a running pod."""
    spec = copy.deepcopy(ds["spec"]["template"].get("spec") or {})
    name = node["metadata"]["name"]
    if spec.get("nodeName") and spec["nodeName"] != name:
        return False, False
    if not RequiredNodeAffinity.of(spec).matches(node["metadata"].get("labels") or {}, name):
        return False, False
    add_daemon_tolerations(spec)
    taints = (node.get("spec") or {}).get("taints") or []
    blocking = [t for t in taints if t.get("effect") in (NO_SCHEDULE, NO_EXECUTE)]
    if first_untolerated(blocking, spec["tolerations"]) is None:
        return True, True
    evicting = [t for t in taints if t.get("effect") == NO_EXECUTE]
    return False, first_untolerated(evicting, spec["tolerations"]) is None


def target_node(pod: dict) -> str | None:
    """The node a daemon pod is on, or is pinned to by its node affinity."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return spec["nodeName"]
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    for term in required.get("nodeSelectorTerms") or ():
        for req in term.get("matchFields") or ():
            if req.get("key") == "metadata.name" and req.get("operator") == "In":
                values = req.get("values") or []
                return values[0] if len(values) == 1 else None
    return None


def is_updated(pod: dict, hash_: str, generation: str | None) -> bool:
    """Whether the pod runs the current template: by revision hash, or by the older generation label."""
    labels = pod["metadata"].get("labels") or {}
    return bool(hash_) and labels.get(HASH_LABEL) == hash_ or \
        generation is not None and labels.get(TEMPLATE_GENERATION_LABEL) == generation


def oldest_first(pod: dict) -> tuple:
    """Sort key: scheduled pods first, then by creation, then name."""
    return (not (pod.get("spec") or {}).get("nodeName"), pod["metadata"].get("creationTimestamp") or "",
            pod["metadata"]["name"])
