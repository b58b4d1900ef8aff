"""Horizontal pod autoscalers, autoscaling/v2 objects and autoscaling/v1 ones read as upstream converts them."""

from __future__ import annotations

from datetime import datetime

from timoneiro.api import conversion
from timoneiro.api.printers.age import since
from timoneiro.api.printers.columns import AGE, NAME, Printer, column, created, name, spec, status, with_more
from timoneiro.api.printers.quantity import quantity, quantity_or_nil

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
    """Spec and current metrics in the v2 shape; a v1 object is read as upstream converts it (its
    annotated metrics, then its CPU target, or 80% CPU when it names none)."""
    api_version = hpa.get("apiVersion")
    if api_version == "autoscaling/v1" or (api_version is None and "metrics" not in spec(hpa)):
        hpa = conversion.hpa_v1_to_v2(hpa)
    return spec(hpa).get("metrics") or [], status(hpa).get("currentMetrics") or []


def format_metrics(specs: list, statuses: list) -> str:
    """formatHPAMetrics: "current/target" per metric, the first two shown."""
    if not specs:
        return "<none>"
    shown = [_format_metric(metric, statuses[i] if i < len(statuses) else {}) for i, metric in enumerate(specs)]
    return with_more(", ".join(shown[:_METRICS_MAX]), len(shown), _METRICS_MAX)


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
