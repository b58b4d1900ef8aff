"""Defaults of HorizontalPodAutoscalers, per version (pkg/apis/autoscaling/v1 and v2).

v1 only defaults minReplicas: its implied 80% CPU target is added when converting to v2, where the
annotations that may carry other metrics are at hand (see timoneiro.api.conversion).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from timoneiro.api.defaults import fill

DEFAULT_CPU_UTILIZATION = 80
SCALE_UP_RULES = {
    "stabilizationWindowSeconds": 0,
    "selectPolicy": "Max",
    "policies": [
        {"type": "Pods", "value": 4, "periodSeconds": 15},
        {"type": "Percent", "value": 100, "periodSeconds": 15},
    ],
}
# no stabilization window: the controller's --horizontal-pod-autoscaler-downscale-stabilization applies
SCALE_DOWN_RULES = {
    "selectPolicy": "Max",
    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
}


def cpu_utilization_metric(percent: int) -> dict:
    """A v2 Resource metric targeting an average CPU utilization."""
    return {
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": percent}},
    }


def horizontal_pod_autoscaler(obj: dict) -> None:
    if obj.get("apiVersion") == "autoscaling/v1":
        fill.if_nil(fill.ensure(obj, "spec"), "minReplicas", 1)
    else:
        horizontal_pod_autoscaler_v2(obj)


def horizontal_pod_autoscaler_v2(obj: dict) -> None:
    """minReplicas 1, an 80% CPU target when no metric is given, and any behavior filled in."""
    spec = fill.ensure(obj, "spec")
    fill.if_nil(spec, "minReplicas", 1)
    if not spec.get("metrics"):
        spec["metrics"] = [cpu_utilization_metric(DEFAULT_CPU_UTILIZATION)]
    behavior = fill.child(spec, "behavior")
    if behavior is not None:
        behavior["scaleUp"] = _rules(fill.child(behavior, "scaleUp"), SCALE_UP_RULES)
        behavior["scaleDown"] = _rules(fill.child(behavior, "scaleDown"), SCALE_DOWN_RULES)


def _rules(given: dict | None, defaults: dict) -> dict:
    """The defaults, with every field the user set taking their place."""
    rules = copy.deepcopy(defaults)
    for key in ("selectPolicy", "stabilizationWindowSeconds", "policies"):
        if given is not None and given.get(key) is not None:
            rules[key] = given[key]
    return rules


DEFAULTERS: dict[str, Callable[[dict], None]] = {
    "HorizontalPodAutoscaler": horizontal_pod_autoscaler,
}
