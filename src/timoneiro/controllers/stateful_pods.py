"""A StatefulSet's pods: named by ordinal, with a stable hostname and their own claims, stamped with the
revision they were made from; and the pod states the controller waits on."""

from __future__ import annotations

import copy
import re
from datetime import datetime

from timoneiro.controllers.history import HASH_LABEL
from timoneiro.controllers.pods import from_template, is_available, is_deleted, is_ready, phase

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
_ORDINAL = re.compile(r"(.*)-([0-9]+)$")


def parent_and_ordinal(pod: dict) -> tuple[str, int]:
    """("web", 2) for "web-2"; ordinal -1 if the name has none."""
    m = _ORDINAL.fullmatch(pod["metadata"]["name"])
    return (m.group(1), int(m.group(2))) if m else ("", -1)


def ordinal(pod: dict) -> int:
    return parent_and_ordinal(pod)[1]


def start_ordinal(sts: dict) -> int:
    return (sts["spec"].get("ordinals") or {}).get("start", 0)


def end_ordinal(sts: dict) -> int:
    return start_ordinal(sts) + sts["spec"].get("replicas", 1) - 1


def in_range(pod: dict, sts: dict) -> bool:
    return start_ordinal(sts) <= ordinal(pod) <= end_ordinal(sts)


def is_member(sts: dict, pod: dict) -> bool:
    return parent_and_ordinal(pod)[0] == sts["metadata"]["name"]


def revision_of(pod: dict) -> str:
    return (pod["metadata"].get("labels") or {}).get(HASH_LABEL, "")


def is_created(pod: dict) -> bool:
    """Whether the pod exists: one only planned has no phase yet."""
    return bool(phase(pod))


def is_running_and_ready(pod: dict) -> bool:
    return phase(pod) == "Running" and is_ready(pod)


def is_running_and_available(pod: dict, min_ready_seconds: int, now: datetime) -> bool:
    return phase(pod) == "Running" and is_available(pod, min_ready_seconds, now)


def is_healthy(pod: dict) -> bool:
    return is_running_and_ready(pod) and not is_deleted(pod)


def claims(sts: dict, ordinal_: int) -> dict[str, dict]:
    """The claims the pod with that ordinal mounts, by template name: "<template>-<set>-<ordinal>",
    labelled with the set's selector."""
    out = {}
    match_labels = (sts["spec"].get("selector") or {}).get("matchLabels") or {}
    for template in sts["spec"].get("volumeClaimTemplates") or ():
        claim = copy.deepcopy(template)
        name = template["metadata"]["name"]
        meta = claim.setdefault("metadata", {})
        meta.update(name=f"{name}-{sts['metadata']['name']}-{ordinal_}", namespace=sts["metadata"]["namespace"])
        meta["labels"] = {**(meta.get("labels") or {}), **match_labels}
        claim.update(apiVersion="v1", kind="PersistentVolumeClaim")
        claim.pop("status", None)
        out[name] = claim
    return out


def _set_identity(sts: dict, pod: dict, ordinal_: int) -> None:
    meta = pod["metadata"]
    meta["name"] = f"{sts['metadata']['name']}-{ordinal_}"
    meta["namespace"] = sts["metadata"]["namespace"]
    labels = meta.setdefault("labels", {})
    labels[POD_NAME_LABEL] = meta["name"]
    labels[POD_INDEX_LABEL] = str(ordinal_)


def _set_storage(sts: dict, pod: dict, ordinal_: int) -> None:
    wanted = claims(sts, ordinal_)
    volumes = [{"name": name, "persistentVolumeClaim": {"claimName": claim["metadata"]["name"]}}
               for name, claim in wanted.items()]
    spec = pod.setdefault("spec", {})
    spec["volumes"] = volumes + [v for v in spec.get("volumes") or () if v.get("name") not in wanted]


def identity_matches(sts: dict, pod: dict) -> bool:
    parent, n = parent_and_ordinal(pod)
    labels = pod["metadata"].get("labels") or {}
    return (n >= 0 and parent == sts["metadata"]["name"] and pod["metadata"].get("namespace") == sts["metadata"]["namespace"]
            and labels.get(POD_NAME_LABEL) == pod["metadata"]["name"] and labels.get(POD_INDEX_LABEL) == str(n))


def storage_matches(sts: dict, pod: dict) -> bool:
    volumes = {v.get("name"): v for v in (pod.get("spec") or {}).get("volumes") or ()}
    for name, claim in claims(sts, ordinal(pod)).items():
        volume = volumes.get(name)
        if volume is None or (volume.get("persistentVolumeClaim") or {}).get("claimName") != claim["metadata"]["name"]:
            return False
    return True


def repair_identity_and_storage(sts: dict, pod: dict) -> dict:
    """The pod with the labels and claim volumes its ordinal calls for (a copy)."""
    pod = copy.deepcopy(pod)
    _set_identity(sts, pod, ordinal(pod))
    _set_storage(sts, pod, ordinal(pod))
    return pod


def new_pod(sts: dict, template: dict, ordinal_: int, revision: str, owner_ref: dict) -> dict:
    """The pod for an ordinal, made from the template of a revision."""
    pod = from_template(template, sts["metadata"]["name"], owner_ref)
    del pod["metadata"]["generateName"]
    _set_identity(sts, pod, ordinal_)
    pod["spec"]["hostname"] = pod["metadata"]["name"]
    if sts["spec"].get("serviceName"):
        pod["spec"]["subdomain"] = sts["spec"]["serviceName"]
    _set_storage(sts, pod, ordinal_)
    pod["metadata"]["labels"][HASH_LABEL] = revision
    return pod
