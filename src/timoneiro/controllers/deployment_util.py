"""What the Deployment controller computes without I/O (upstream's deployment/util): revisions and the
annotations carrying them, surge and unavailability fenceposts, which ReplicaSet is new, how many replicas
each gets, and the status and conditions a Deployment reports."""

from __future__ import annotations

import copy
import math
from datetime import datetime, timedelta

from timoneiro.api.printers.age import parse_time
from timoneiro.controllers.clock import rfc3339
from timoneiro.controllers.template_hash import spew

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
HASH_LABEL = "pod-template-hash"
# annotations of a Deployment that are not copied to its ReplicaSets (nor back on a rollback)
SKIPPED_ANNOTATIONS = frozenset({"kubectl.kubernetes.io/last-applied-configuration", REVISION,
                                 REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS,
                                 "deprecated.deployment.rollback.to"})
MAX_REVISION_HISTORY_CHARS = 2000
MAX_INT32 = 2**31 - 1

# condition types and reasons
AVAILABLE = "Available"
PROGRESSING = "Progressing"
REPLICA_FAILURE = "ReplicaFailure"
MINIMUM_AVAILABLE = "MinimumReplicasAvailable"
MINIMUM_UNAVAILABLE = "MinimumReplicasUnavailable"
REPLICA_SET_UPDATED = "ReplicaSetUpdated"
FAILED_RS_CREATE = "ReplicaSetCreateError"
NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"


def replicas(obj: dict) -> int:
    return (obj.get("spec") or {}).get("replicas", 1)


def status_count(obj: dict, field: str) -> int:
    return (obj.get("status") or {}).get(field) or 0


def total(rss: list[dict | None], field: str | None = None) -> int:
    """Sum of spec.replicas, or of a status count, over the sets that exist."""
    return sum(replicas(rs) if field is None else status_count(rs, field) for rs in rss if rs is not None)


def active(rss: list[dict | None]) -> list[dict]:
    return [rs for rs in rss if rs is not None and replicas(rs) > 0]


# rolling update fenceposts


def is_rolling(d: dict) -> bool:
    return ((d["spec"].get("strategy") or {}).get("type") or "RollingUpdate") == "RollingUpdate"


def scaled_value(value: int | str | None, of: int, round_up: bool) -> int:
    """An IntOrString that is a count, or a percentage of `of` rounded up or down."""
    if isinstance(value, int):
        return value
    if not isinstance(value, str) or not value.endswith("%"):
        raise ValueError(f"invalid value for IntOrString: invalid type: string is not a percentage: {value!r}")
    percent = int(value[:-1])
    return math.ceil(percent * of / 100) if round_up else math.floor(percent * of / 100)


def fenceposts(d: dict) -> tuple[int, int]:
    """(max surge, max unavailable), never both zero: a rollout must be able to move."""
    rolling = d["spec"].get("strategy", {}).get("rollingUpdate") or {}
    desired = replicas(d)
    surge = scaled_value(rolling.get("maxSurge", "25%"), desired, True)
    unavailable = scaled_value(rolling.get("maxUnavailable", "25%"), desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def max_surge(d: dict) -> int:
    return fenceposts(d)[0] if is_rolling(d) else 0


def max_unavailable(d: dict) -> int:
    if not is_rolling(d) or replicas(d) == 0:
        return 0
    return min(fenceposts(d)[1], replicas(d))


# revisions and annotations


def annotations(obj: dict) -> dict:
    return obj["metadata"].get("annotations") or {}


def revision(obj: dict) -> int:
    try:
        return int(annotations(obj).get(REVISION, "0"))
    except ValueError:
        return 0


def max_revision(rss: list[dict]) -> int:
    return max((revision(rs) for rs in rss), default=0)


def set_new_rs_annotations(d: dict, rs: dict, new_revision: int, exists: bool) -> bool:
    """Copy the Deployment's annotations onto its new ReplicaSet and raise the set's revision to
    new_revision, keeping the revisions it had (a rollback) in revision-history; whether anything changed."""
    meta = rs["metadata"]
    ann = meta.setdefault("annotations", {})
    changed = False
    for k, v in annotations(d).items():
        if k not in SKIPPED_ANNOTATIONS and ann.get(k) != v:
            ann[k] = v
            changed = True
    old_text = ann.get(REVISION)
    try:
        old = int(old_text) if old_text is not None else 0
    except ValueError:
        return changed
    if old < new_revision:
        ann[REVISION] = str(new_revision)
        changed = True
        if old_text is not None:
            history = ann.get(REVISION_HISTORY, "")
            revisions = history.split(",") if history else []
            while revisions and len(",".join([*revisions, old_text])) > MAX_REVISION_HISTORY_CHARS:
                revisions.pop(0)
            ann[REVISION_HISTORY] = ",".join([*revisions, old_text])
    if not exists and set_replicas_annotations(rs, replicas(d), replicas(d) + max_surge(d)):
        changed = True
    return changed


def set_replicas_annotations(rs: dict, desired: int, most: int) -> bool:
    ann = rs["metadata"].setdefault("annotations", {})
    if ann.get(DESIRED_REPLICAS) == str(desired) and ann.get(MAX_REPLICAS) == str(most):
        return False
    ann[DESIRED_REPLICAS] = str(desired)
    ann[MAX_REPLICAS] = str(most)
    return True


def replicas_annotations_need_update(rs: dict, desired: int, most: int) -> bool:
    ann = annotations(rs)
    return ann.get(DESIRED_REPLICAS) != str(desired) or ann.get(MAX_REPLICAS) != str(most)


def _int_annotation(rs: dict, key: str) -> int | None:
    try:
        return int(annotations(rs)[key])
    except (KeyError, ValueError):
        return None


# which sets are new and old


def by_creation(rs: dict) -> tuple[str, str]:
    """Older first, then by name (timestamps are whole seconds, so RFC 3339 text sorts as time)."""
    return rs["metadata"].get("creationTimestamp") or "", rs["metadata"]["name"]


def by_revision(rs: dict) -> tuple[int, tuple[str, str]]:
    return revision(rs), by_creation(rs)


def without_hash(template: dict) -> str:
    """A template as compared for equality: the hash label left out, as upstream's EqualIgnoreHash."""
    t = copy.deepcopy(template or {})
    labels = (t.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(HASH_LABEL, None)
    return spew("v1.PodTemplateSpec", t)


def find_new(d: dict, rss: list[dict]) -> dict | None:
    """The oldest set whose template is the Deployment's (there may be several after a hash collision)."""
    want = without_hash(d["spec"]["template"])
    for rs in sorted(rss, key=by_creation):
        if without_hash(rs["spec"]["template"]) == want:
            return rs
    return None


def find_old(rss: list[dict], new_rs: dict | None) -> list[dict]:
    new_uid = new_rs["metadata"]["uid"] if new_rs is not None else None
    return [rs for rs in rss if rs["metadata"]["uid"] != new_uid]


def find_active_or_latest(new_rs: dict | None, old_rss: list[dict]) -> dict | None:
    """The one set with replicas, or the newest if none has any; None while several have replicas."""
    if new_rs is None and not old_rss:
        return None
    newest_first = sorted(old_rss, key=by_creation, reverse=True)
    live = active([*newest_first, new_rs])
    if not live:
        return new_rs if new_rs is not None else newest_first[0]
    return live[0] if len(live) == 1 else None


def is_saturated(d: dict, rs: dict | None) -> bool:
    """The new set runs all the Deployment wants, all of it available."""
    if rs is None:
        return False
    return (replicas(rs) == replicas(d) and _int_annotation(rs, DESIRED_REPLICAS) == replicas(d)
            and status_count(rs, "availableReplicas") == replicas(d))


def new_rs_replicas(d: dict, all_rss: list[dict | None], new_rs: dict) -> int:
    """How far the new set may grow now: to the surge limit under RollingUpdate, at once under Recreate."""
    if not is_rolling(d):
        return replicas(d)
    rolling = d["spec"].get("strategy", {}).get("rollingUpdate") or {}
    most = replicas(d) + scaled_value(rolling.get("maxSurge", "25%"), replicas(d), True)
    current = total(all_rss)
    if current >= most:
        return replicas(new_rs)
    return replicas(new_rs) + min(most - current, replicas(d) - replicas(new_rs))


def proportion(rs: dict, d: dict, to_add: int, added: int) -> int:
    """This set's share of a scaling of the whole Deployment by to_add (upstream's GetProportion)."""
    if replicas(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    allowed = to_add - added
    fraction = _fraction(rs, d)
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def _fraction(rs: dict, d: dict) -> int:
    if replicas(d) == 0:
        return -replicas(rs)
    most = replicas(d) + max_surge(d)
    annotated = _int_annotation(rs, MAX_REPLICAS)
    if annotated is None:
        annotated = status_count(d, "replicas")
    size = replicas(rs) * most / annotated
    rounded = int(size + 0.5) if size >= 0 else int(size - 0.5)
    return rounded - replicas(rs)


# conditions and status


def condition(status: dict, type_: str) -> dict | None:
    return next((c for c in status.get("conditions") or () if c.get("type") == type_), None)


def new_condition(type_: str, status: str, reason: str, message: str, now: datetime) -> dict:
    at = rfc3339(now)
    return {"type": type_, "status": status, "lastUpdateTime": at, "lastTransitionTime": at, "reason": reason,
            "message": message}


def set_condition(status: dict, cond: dict) -> None:
    """Add or replace the condition of its type; same status and reason leave it alone, and the same
    status keeps its lastTransitionTime."""
    current = condition(status, cond["type"])
    if current is not None and current.get("status") == cond["status"] and current.get("reason") == cond["reason"]:
        return
    if current is not None and current.get("status") == cond["status"]:
        cond = {**cond, "lastTransitionTime": current.get("lastTransitionTime")}
    remove_condition(status, cond["type"])
    status.setdefault("conditions", []).append(cond)


def remove_condition(status: dict, type_: str) -> None:
    kept = [c for c in status.get("conditions") or () if c.get("type") != type_]
    if kept:
        status["conditions"] = kept
    else:
        status.pop("conditions", None)


def has_progress_deadline(d: dict) -> bool:
    deadline = d["spec"].get("progressDeadlineSeconds")
    return deadline is not None and deadline != MAX_INT32


def has_revision_history_limit(d: dict) -> bool:
    limit = d["spec"].get("revisionHistoryLimit")
    return limit is not None and limit != MAX_INT32


def complete(d: dict, status: dict) -> bool:
    want = replicas(d)
    return (status.get("updatedReplicas", 0) == want and status.get("replicas", 0) == want
            and status.get("availableReplicas", 0) == want
            and status.get("observedGeneration", 0) >= d["metadata"].get("generation", 0))


def progressing(d: dict, status: dict) -> bool:
    """More updated, fewer old, or more ready or available pods than the Deployment's status says."""
    old = d.get("status") or {}
    old_old = old.get("replicas", 0) - old.get("updatedReplicas", 0)
    new_old = status.get("replicas", 0) - status.get("updatedReplicas", 0)
    return (status.get("updatedReplicas", 0) > old.get("updatedReplicas", 0) or new_old < old_old
            or status.get("readyReplicas", 0) > old.get("readyReplicas", 0)
            or status.get("availableReplicas", 0) > old.get("availableReplicas", 0))


def timed_out(d: dict, status: dict, now: datetime) -> bool:
    if not has_progress_deadline(d):
        return False
    cond = condition(status, PROGRESSING)
    if cond is None or cond.get("reason") == NEW_RS_AVAILABLE:
        return False
    if cond.get("reason") == TIMED_OUT:
        return True
    since = parse_time(cond.get("lastUpdateTime"))
    return since is not None and since + timedelta(seconds=d["spec"]["progressDeadlineSeconds"]) < now


def calculate_status(all_rss: list[dict | None], new_rs: dict | None, d: dict, now: datetime) -> dict:
    """Counts over the Deployment's sets, its conditions carried over, and Available set from them."""
    available = total(all_rss, "availableReplicas")
    counts = {
        "observedGeneration": d["metadata"].get("generation", 0),
        "replicas": total(all_rss, "replicas"),
        "updatedReplicas": total([new_rs], "replicas"),
        "readyReplicas": total(all_rss, "readyReplicas"),
        "availableReplicas": available,
        "unavailableReplicas": max(total(all_rss) - available, 0),
    }
    # every count in apps/v1 DeploymentStatus is omitempty: a zero is absent on the wire upstream
    status: dict = {k: v for k, v in counts.items() if v}
    old = d.get("status") or {}
    if old.get("collisionCount") is not None:
        status["collisionCount"] = old["collisionCount"]
    if old.get("conditions"):
        status["conditions"] = copy.deepcopy(old["conditions"])
    if available >= replicas(d) - max_unavailable(d):
        set_condition(status, new_condition(AVAILABLE, "True", MINIMUM_AVAILABLE,
                                            "Deployment has minimum availability.", now))
    else:
        set_condition(status, new_condition(AVAILABLE, "False", MINIMUM_UNAVAILABLE,
                                            "Deployment does not have minimum availability.", now))
    return status


def wire_status(status: dict) -> dict:
    """Status as the API server answers it: zero counts left out (omitempty), for comparing."""
    return {k: v for k, v in status.items() if v not in (0, None, [])}

