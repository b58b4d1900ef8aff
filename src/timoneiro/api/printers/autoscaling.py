"""Horizontal pod autoscalers, autoscaling/v2 objects and autoscaling/v1 ones read as upstream converts them."""

from __future__ import annotations

import json
from datetime import datetime

from timoneiro.api.printers.age import since
from timoneiro.api.printers.columns import AGE, NAME, Printer, column, created, meta, name, spec, status
from timoneiro.api.printers.quantity import quantity, quantity_or_nil

_METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/metrics"
_CURRENT_METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/current-metrics"
_DEFAULT_CPU_UTILIZATION = 80
_METRICS_MAX = 2
_SOURCES = {"Resource": "resource", "ContainerResource": "containerResource", "Pods": "pods",
            "Object": "object", "External": "external"}


def hpa_cells(hpa: dict, now: datetime) -> list:
    metrics, current = _metrics(hpa)
    hpa_spec = spec(hpa)
    target = hpa_spec.get("scaleTargetRef") or {}
    min_replicas = hpa_spec.get("minReplicas")
    return [
        name(hpa),
        f"{target.get('kind', '')}/{target.get('name', '')}",
        format_metrics(metrics, current),
        "<unset>" if min_replicas is None else str(min_replicas),
        hpa_spec.get("maxReplicas", 0),
        status(hpa).get("currentReplicas", 0),
        since(created(hpa), now),
    ]


def _metrics(hpa: dict) -> tuple[list, list]:
    """Spec metrics and current metrics in the v2 shape, whichever version the object is in."""
    api_version = hpa.get("apiVersion")
    if api_version == "autoscaling/v1" or (api_version is None and "metrics" not in spec(hpa)):
        return _v1_metrics(hpa)
    return spec(hpa).get("metrics") or [], status(hpa).get("currentMetrics") or []


def format_metrics(specs: list, statuses: list) -> str:
    """formatHPAMetrics: "current/target" per metric, the first two shown."""
    if not specs:
        return "<none>"
    shown = [_format_metric(metric, statuses[i] if i < len(statuses) else {}) for i, metric in enumerate(specs)]
    text = ", ".join(shown[:_METRICS_MAX])
    return f"{text} + {len(shown) - _METRICS_MAX} more..." if len(shown) > _METRICS_MAX else text


def _format_metric(metric: dict, current_status: dict) -> str:
    type_ = metric.get("type")
    if type_ not in _SOURCES:
        return "<unknown type>"
    field = _SOURCES[type_]
    source = metric.get(field) or {}
    target = source.get("target") or {}
    observed = current_status.get(field)
    current = (observed or {}).get("current") or {}
    unknown = "<unknown>"
    if type_ in ("External", "Object"):
        if target.get("averageValue") is not None:
            value = quantity(current["averageValue"]) if current.get("averageValue") is not None else unknown
            return f"{value}/{quantity(target['averageValue'])} (avg)"
        value = quantity_or_nil(current.get("value")) if observed is not None else unknown
        return f"{value}/{quantity_or_nil(target.get('value'))}"
    if type_ == "Pods":
        value = quantity_or_nil(current.get("averageValue")) if observed is not None else unknown
        return f"{value}/{quantity_or_nil(target.get('averageValue'))}"
    resource = source.get("name", "")
    if target.get("averageValue") is not None:
        value = quantity_or_nil(current.get("averageValue")) if observed is not None else unknown
        return f"{resource}: {value}/{quantity(target['averageValue'])}"
    utilization = current.get("averageUtilization")
    value = f"{utilization}%" if observed is not None and utilization is not None else unknown
    wanted = target.get("averageUtilization")
    return f"{resource}: {value}/{'<auto>' if wanted is None else f'{wanted}%'}"


def _v1_metrics(hpa: dict) -> tuple[list, list]:
    """Convert_v1_HorizontalPodAutoscaler_To_autoscaling: annotated metrics, then the CPU target (80% if none)."""
    annotations = meta(hpa).get("annotations") or {}
    metrics = [_v1_spec_metric(m) for m in _annotated(annotations, _METRICS_ANNOTATION)]
    cpu = spec(hpa).get("targetCPUUtilizationPercentage")
    if cpu is not None:
        metrics.append(_cpu({"target": {"type": "Utilization", "averageUtilization": cpu}}))
    if not metrics:
        metrics = [_cpu({"target": {"type": "Utilization", "averageUtilization": _DEFAULT_CPU_UTILIZATION}})]
    if _CURRENT_METRICS_ANNOTATION in annotations:
        current = [_v1_status_metric(m) for m in _annotated(annotations, _CURRENT_METRICS_ANNOTATION)]
    elif status(hpa).get("currentCPUUtilizationPercentage") is not None:
        current = [_cpu({"current": {"averageUtilization": status(hpa)["currentCPUUtilizationPercentage"]}})]
    else:
        current = []
    return metrics, current


def _cpu(body: dict) -> dict:
    return {"type": "Resource", "resource": {"name": "cpu", **body}}


def _annotated(annotations: dict, key: str) -> list:
    try:
        value = json.loads(annotations.get(key) or "[]")
    except ValueError:
        return []
    return value if isinstance(value, list) else []


def _v1_spec_metric(metric: dict) -> dict:
    """A v1 (annotation) MetricSpec as the v2 shape: only what the printer reads."""
    type_ = metric.get("type")
    field = _SOURCES.get(type_, "")
    source = metric.get(field) or {}
    if type_ in ("Resource", "ContainerResource"):
        target = {"averageValue": source.get("targetAverageValue"),
                  "averageUtilization": source.get("targetAverageUtilization")}
        return {"type": type_, field: {"name": source.get("name", ""), "target": target}}
    if type_ == "Pods":
        target = {"averageValue": source.get("targetAverageValue") or "0"}
    elif type_ == "Object":
        target = {"value": source.get("targetValue") or "0", "averageValue": source.get("averageValue")}
    elif type_ == "External":
        target = {"value": source.get("targetValue"), "averageValue": source.get("targetAverageValue")}
    else:
        return {"type": type_}
    return {"type": type_, field: {"target": target}}


def _v1_status_metric(metric: dict) -> dict:
    """A v1 (annotation) MetricStatus as the v2 shape: only what the printer reads."""
    type_ = metric.get("type")
    field = _SOURCES.get(type_, "")
    source = metric.get(field) or {}
    if type_ in ("Resource", "ContainerResource"):
        current = {"averageValue": source.get("currentAverageValue") or "0",
                   "averageUtilization": source.get("currentAverageUtilization")}
    elif type_ == "Pods":
        current = {"averageValue": source.get("currentAverageValue") or "0"}
    elif type_ == "Object":
        current = {"value": source.get("currentValue") or "0", "averageValue": source.get("averageValue")}
    elif type_ == "External":
        current = {"value": source.get("currentValue") or "0", "averageValue": source.get("currentAverageValue")}
    else:
        return {"type": type_}
    return {"type": type_, field: {"current": current}}


PRINTERS = {
    ("autoscaling", "HorizontalPodAutoscaler"): Printer(
        (
            NAME,
            column("Reference", "The workload the autoscaler scales."),
            column("Targets", "Current and target values of each metric."),
            column("MinPods", "The fewest replicas the autoscaler scales to."),
            column("MaxPods", "The most replicas the autoscaler scales to."),
            column("Replicas", "Replicas the autoscaler currently sees."),
            AGE,
        ),
        hpa_cells,
    ),
}
