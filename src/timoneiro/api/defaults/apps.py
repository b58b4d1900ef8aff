"""Defaults of apps/v1 workloads (pkg/apis/apps/v1/defaults.go), pod templates included.

Not here: a DaemonSet's deprecated.daemonset.template.generation annotation, which upstream writes
from the templateGeneration its strategy keeps.
"""

from __future__ import annotations

from collections.abc import Callable

from timoneiro.api.defaults import fill, podspec, volumes

REVISION_HISTORY_LIMIT = 10


def deployment(obj: dict) -> None:
    spec = fill.ensure(obj, "spec")
    fill.if_nil(spec, "replicas", 1)
    strategy = fill.ensure(spec, "strategy")
    fill.if_zero(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = fill.ensure(strategy, "rollingUpdate")
        fill.if_nil(rolling, "maxUnavailable", "25%")
        fill.if_nil(rolling, "maxSurge", "25%")
    fill.if_nil(spec, "revisionHistoryLimit", REVISION_HISTORY_LIMIT)
    fill.if_nil(spec, "progressDeadlineSeconds", 600)
    podspec.template(fill.ensure(spec, "template"))


def daemon_set(obj: dict) -> None:
    spec = fill.ensure(obj, "spec")
    strategy = fill.ensure(spec, "updateStrategy")
    fill.if_zero(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = fill.ensure(strategy, "rollingUpdate")
        fill.if_nil(rolling, "maxUnavailable", 1)
        fill.if_nil(rolling, "maxSurge", 0)
    fill.if_nil(spec, "revisionHistoryLimit", REVISION_HISTORY_LIMIT)
    podspec.template(fill.ensure(spec, "template"))


def stateful_set(obj: dict) -> None:
    """Also the claim templates, which upstream always writes back as v1 PersistentVolumeClaims."""
    spec = fill.ensure(obj, "spec")
    fill.if_zero(spec, "podManagementPolicy", "OrderedReady")
    strategy = fill.ensure(spec, "updateStrategy")
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
        fill.ensure(strategy, "rollingUpdate")
    rolling = fill.child(strategy, "rollingUpdate")
    if strategy["type"] == "RollingUpdate" and rolling is not None:
        fill.if_nil(rolling, "partition", 0)
    retention = fill.ensure(spec, "persistentVolumeClaimRetentionPolicy")
    fill.if_zero(retention, "whenDeleted", "Retain")
    fill.if_zero(retention, "whenScaled", "Retain")
    fill.if_nil(spec, "replicas", 1)
    fill.if_nil(spec, "revisionHistoryLimit", REVISION_HISTORY_LIMIT)
    podspec.template(fill.ensure(spec, "template"))
    for claim in fill.dicts(spec, "volumeClaimTemplates"):
        claim["apiVersion"], claim["kind"] = "v1", "PersistentVolumeClaim"
        fill.embedded_metadata(claim)
        volumes.claim(claim)


def replica_set(obj: dict) -> None:
    spec = fill.ensure(obj, "spec")
    fill.if_nil(spec, "replicas", 1)
    podspec.template(fill.ensure(spec, "template"))


DEFAULTERS: dict[str, Callable[[dict], None]] = {
    "DaemonSet": daemon_set,
    "Deployment": deployment,
    "ReplicaSet": replica_set,
    "StatefulSet": stateful_set,
}
