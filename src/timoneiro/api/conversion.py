"""Conversions between API versions that share one storage version, as upstream's conversion.go do.

autoscaling/v1 HorizontalPodAutoscalers are stored as autoscaling/v2. v1 has only a CPU target, so
it carries everything else in autoscaling.alpha.kubernetes.io/* annotations (pkg/apis/autoscaling/v1
/conversion.go), which lets a v1 client's read-modify-write keep v2-only metrics, status and
behavior. Those annotations are written with Go's field order and compact JSON, as upstream writes
them; ones that do not parse are ignored.

events.k8s.io/v1 Events are stored as core/v1 Events; the two differ in field names only.
Each conversion writes the fields Go always serializes for the target type (nulls included).
"""

from __future__ import annotations

import copy
import json

import orjson

from timoneiro.api import quantity
from timoneiro.api.defaults import autoscaling

METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/metrics"
CURRENT_METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/current-metrics"
CONDITIONS_ANNOTATION = "autoscaling.alpha.kubernetes.io/conditions"
BEHAVIOR_ANNOTATION = "autoscaling.alpha.kubernetes.io/behavior"
ROUND_TRIP_ANNOTATIONS = (
    METRICS_ANNOTATION,
    CURRENT_METRICS_ANNOTATION,
    CONDITIONS_ANNOTATION,
    BEHAVIOR_ANNOTATION,
)


# -- autoscaling/v1 <-> autoscaling/v2 HorizontalPodAutoscaler --------------------------------------


def hpa_v1_to_v2(obj: dict) -> dict:
    """A v1 HPA as stored (v2), with what its annotations carry moved back into fields."""
    spec, status = _object(obj.get("spec")), _object(obj.get("status"))
    meta = copy.deepcopy(_object(obj.get("metadata")))
    annotations = _object(meta.get("annotations"))

    metrics = []
    if spec.get("targetCPUUtilizationPercentage") is not None:
        metrics = [autoscaling.cpu_utilization_metric(spec["targetCPUUtilizationPercentage"])]
    if (carried := _decoded_list(annotations, METRICS_ANNOTATION)) is not None:
        metrics = [_metric_to_v2(m) for m in carried] + metrics[:1]
    if not metrics:
        metrics = [autoscaling.cpu_utilization_metric(autoscaling.DEFAULT_CPU_UTILIZATION)]

    current = None
    if status.get("currentCPUUtilizationPercentage") is not None:
        cpu = {"averageUtilization": status["currentCPUUtilizationPercentage"]}
        current = [{"type": "Resource", "resource": {"name": "cpu", "current": cpu}}]
    if (carried := _decoded_list(annotations, CURRENT_METRICS_ANNOTATION)) is not None:
        current = [_metric_status_to_v2(m) for m in carried]

    out_spec = _present(
        scaleTargetRef=copy.deepcopy(spec.get("scaleTargetRef", {})),
        minReplicas=spec.get("minReplicas"),
        maxReplicas=spec.get("maxReplicas") or 0,
        metrics=metrics,
        behavior=_behavior_from_annotation(annotations.get(BEHAVIOR_ANNOTATION)),
    )
    out_status = _present(
        observedGeneration=status.get("observedGeneration"),
        lastScaleTime=status.get("lastScaleTime"),
        currentReplicas=status.get("currentReplicas") or None,
        desiredReplicas=status.get("desiredReplicas") or 0,
    )
    out_status["currentMetrics"] = current
    if (conditions := _decoded_list(annotations, CONDITIONS_ANNOTATION)) is not None:
        out_status["conditions"] = [_condition(c) for c in conditions]

    _set_annotations(meta, _without_round_trip(annotations))
    out = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": meta}
    out["spec"], out["status"] = out_spec, out_status
    # upstream defaults the v2 object again whenever it decodes it from storage
    autoscaling.horizontal_pod_autoscaler_v2(out)
    return out


def hpa_v2_to_v1(obj: dict) -> dict:
    """A stored (v2) HPA as v1: a CPU utilization target in fields, everything else in annotations."""
    spec, status = _object(obj.get("spec")), _object(obj.get("status"))
    meta = copy.deepcopy(_object(obj.get("metadata")))
    annotations = _without_round_trip(_object(meta.get("annotations")))

    metrics = [m for m in spec.get("metrics") or [] if isinstance(m, dict)]
    others = [_metric_to_v1(m) for m in metrics if not _is_cpu_utilization(m)]
    current = [m for m in status.get("currentMetrics") or [] if isinstance(m, dict)]
    conditions = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
    if others:
        annotations[METRICS_ANNOTATION] = _go_json(others)
    if current:
        annotations[CURRENT_METRICS_ANNOTATION] = _go_json([_metric_status_to_v1(m) for m in current])
    if conditions:
        annotations[CONDITIONS_ANNOTATION] = _go_json([_condition(c) for c in conditions])
    if isinstance(spec.get("behavior"), dict):
        annotations[BEHAVIOR_ANNOTATION] = _go_json(_behavior_to_annotation(spec["behavior"]))
    _set_annotations(meta, annotations)

    target_cpu = None
    for m in metrics:
        resource = _object(m.get("resource"))
        if m.get("type") == "Resource" and resource.get("name") == "cpu":
            target_cpu = _object(resource.get("target")).get("averageUtilization")
            break
    current_cpu = None
    for m in current:
        resource = _object(m.get("resource"))
        utilization = _object(resource.get("current")).get("averageUtilization")
        if m.get("type") == "Resource" and resource.get("name") == "cpu" and utilization is not None:
            current_cpu = utilization

    out = {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": meta}
    out["spec"] = _present(
        scaleTargetRef=copy.deepcopy(spec.get("scaleTargetRef", {})),
        minReplicas=spec.get("minReplicas"),
        maxReplicas=spec.get("maxReplicas") or 0,
        targetCPUUtilizationPercentage=target_cpu,
    )
    out["status"] = _present(
        observedGeneration=status.get("observedGeneration"),
        lastScaleTime=status.get("lastScaleTime"),
        currentReplicas=status.get("currentReplicas") or 0,
        desiredReplicas=status.get("desiredReplicas") or 0,
        currentCPUUtilizationPercentage=current_cpu,
    )
    return out


def _is_cpu_utilization(metric: dict) -> bool:
    """The metrics v1's targetCPUUtilizationPercentage stands for (all of them, not just the first)."""
    resource = _object(metric.get("resource"))
    target = _object(resource.get("target"))
    return (
        metric.get("type") == "Resource"
        and resource.get("name") == "cpu"
        and target.get("averageUtilization") is not None
    )


def _metric_to_v1(metric: dict) -> dict:
    """A v2 MetricSpec in v1's (v2beta1-like) shape, for the metrics annotation."""
    out: dict = {"type": metric.get("type", "")}
    if (src := _source(metric, "object")) is not None:
        target, ident = _object(src.get("target")), _object(src.get("metric"))
        out["object"] = _present(
            target=_reference(src.get("describedObject")),
            metricName=ident.get("name", ""),
            targetValue=_quantity(target.get("value")),
            selector=_selector(ident.get("selector")),
            averageValue=_optional_quantity(target.get("averageValue")),
        )
    if (src := _source(metric, "pods")) is not None:
        target, ident = _object(src.get("target")), _object(src.get("metric"))
        out["pods"] = _present(
            metricName=ident.get("name", ""),
            targetAverageValue=_quantity(target.get("averageValue")),
            selector=_selector(ident.get("selector")),
        )
    for key in ("resource", "containerResource"):
        if (src := _source(metric, key)) is not None:
            target = _object(src.get("target"))
            out[key] = _present(
                name=src.get("name", ""),
                targetAverageUtilization=target.get("averageUtilization"),
                targetAverageValue=_optional_quantity(target.get("averageValue")),
                container=src.get("container", "") if key == "containerResource" else None,
            )
    if (src := _source(metric, "external")) is not None:
        target, ident = _object(src.get("target")), _object(src.get("metric"))
        out["external"] = _present(
            metricName=ident.get("name", ""),
            metricSelector=_selector(ident.get("selector")),
            targetValue=_optional_quantity(target.get("value")),
            targetAverageValue=_optional_quantity(target.get("averageValue")),
        )
    return out


def _metric_to_v2(metric: dict) -> dict:
    """A metric from the v1 annotation as a v2 MetricSpec."""
    out: dict = {"type": metric.get("type", "")}
    if (src := _source(metric, "object")) is not None:
        average = src.get("averageValue")
        out["object"] = {
            "describedObject": _reference(src.get("target")),
            "target": _present(
                type="Value" if average is None else "AverageValue",
                value=_quantity(src.get("targetValue")),
                averageValue=_optional_quantity(average),
            ),
            "metric": _identifier(src.get("metricName"), src.get("selector")),
        }
    if (src := _source(metric, "pods")) is not None:
        out["pods"] = {
            "metric": _identifier(src.get("metricName"), src.get("selector")),
            "target": {"type": "AverageValue", "averageValue": _quantity(src.get("targetAverageValue"))},
        }
    for key in ("resource", "containerResource"):
        if (src := _source(metric, key)) is not None:
            utilization = src.get("targetAverageUtilization")
            out[key] = _present(
                name=src.get("name", ""),
                target=_present(
                    type="AverageValue" if utilization is None else "Utilization",
                    averageValue=_optional_quantity(src.get("targetAverageValue")),
                    averageUtilization=utilization,
                ),
                container=src.get("container", "") if key == "containerResource" else None,
            )
    if (src := _source(metric, "external")) is not None:
        value = src.get("targetValue")
        out["external"] = {
            "metric": _identifier(src.get("metricName"), src.get("metricSelector")),
            "target": _present(
                type="AverageValue" if value is None else "Value",
                value=_optional_quantity(value),
                averageValue=_optional_quantity(src.get("targetAverageValue")),
            ),
        }
    return out


def _metric_status_to_v1(metric: dict) -> dict:
    """A v2 MetricStatus in v1's shape, for the current-metrics annotation."""
    out: dict = {"type": metric.get("type", "")}
    if (src := _source(metric, "object")) is not None:
        current, ident = _object(src.get("current")), _object(src.get("metric"))
        out["object"] = _present(
            target=_reference(src.get("describedObject")),
            metricName=ident.get("name", ""),
            currentValue=_quantity(current.get("value")),
            selector=_selector(ident.get("selector")),
            averageValue=_optional_quantity(current.get("averageValue")),
        )
    if (src := _source(metric, "pods")) is not None:
        current, ident = _object(src.get("current")), _object(src.get("metric"))
        out["pods"] = _present(
            metricName=ident.get("name", ""),
            currentAverageValue=_quantity(current.get("averageValue")),
            selector=_selector(ident.get("selector")),
        )
    for key in ("resource", "containerResource"):
        if (src := _source(metric, key)) is not None:
            current = _object(src.get("current"))
            out[key] = _present(
                name=src.get("name", ""),
                currentAverageUtilization=current.get("averageUtilization"),
                currentAverageValue=_quantity(current.get("averageValue")),
                container=src.get("container", "") if key == "containerResource" else None,
            )
    if (src := _source(metric, "external")) is not None:
        current, ident = _object(src.get("current")), _object(src.get("metric"))
        out["external"] = _present(
            metricName=ident.get("name", ""),
            metricSelector=_selector(ident.get("selector")),
            currentValue=_quantity(current.get("value")),
            currentAverageValue=_optional_quantity(current.get("averageValue")),
        )
    return out


def _metric_status_to_v2(metric: dict) -> dict:
    """A metric status from the v1 annotation as a v2 MetricStatus."""
    out: dict = {"type": metric.get("type", "")}
    if (src := _source(metric, "object")) is not None:
        out["object"] = {
            "metric": _identifier(src.get("metricName"), src.get("selector")),
            "current": _present(
                value=_quantity(src.get("currentValue")),
                averageValue=_optional_quantity(src.get("averageValue")),
            ),
            "describedObject": _reference(src.get("target")),
        }
    if (src := _source(metric, "pods")) is not None:
        out["pods"] = {
            "metric": _identifier(src.get("metricName"), src.get("selector")),
            "current": {"averageValue": _quantity(src.get("currentAverageValue"))},
        }
    for key in ("resource", "containerResource"):
        if (src := _source(metric, key)) is not None:
            out[key] = _present(
                name=src.get("name", ""),
                current=_present(
                    averageValue=_quantity(src.get("currentAverageValue")),
                    averageUtilization=src.get("currentAverageUtilization"),
                ),
                container=src.get("container", "") if key == "containerResource" else None,
            )
    if (src := _source(metric, "external")) is not None:
        out["external"] = {
            "metric": _identifier(src.get("metricName"), src.get("metricSelector")),
            "current": _present(
                value=_quantity(src.get("currentValue")),
                averageValue=_optional_quantity(src.get("currentAverageValue")),
            ),
        }
    return out


def _condition(condition: dict) -> dict:
    """An HPA condition; v1 and v2 spell it alike, with a null lastTransitionTime when unset."""
    out = {
        "type": condition.get("type", ""),
        "status": condition.get("status", ""),
        "lastTransitionTime": condition.get("lastTransitionTime"),
    }
    return out | _present(reason=condition.get("reason") or None, message=condition.get("message") or None)


_BEHAVIOR_FIELDS = (("ScaleUp", "scaleUp"), ("ScaleDown", "scaleDown"))
_RULES_FIELDS = (
    ("StabilizationWindowSeconds", "stabilizationWindowSeconds"),
    ("SelectPolicy", "selectPolicy"),
    ("Policies", "policies"),
)
_POLICY_FIELDS = (("Type", "type", ""), ("Value", "value", 0), ("PeriodSeconds", "periodSeconds", 0))


def _behavior_to_annotation(behavior: dict) -> dict:
    """Upstream marshals its internal behavior type, which has no JSON tags: Go field names, nulls kept."""
    out = {}
    for go_name, name in _BEHAVIOR_FIELDS:
        rules = behavior.get(name)
        if not isinstance(rules, dict):
            out[go_name] = None
            continue
        out[go_name] = {go: rules.get(field) for go, field in _RULES_FIELDS}
        if isinstance(rules.get("policies"), list):
            out[go_name]["Policies"] = [
                {go: p.get(field, zero) for go, field, zero in _POLICY_FIELDS}
                for p in rules["policies"]
                if isinstance(p, dict)
            ]
    return out


def _behavior_from_annotation(raw: object) -> dict | None:
    """The behavior annotation back as a v2 behavior; Go matches its field names case-insensitively."""
    data = _lower_keys(_decoded(raw))
    if not isinstance(data, dict):
        return None
    behavior = {}
    for go_name, name in _BEHAVIOR_FIELDS:
        rules = data.get(go_name.lower())
        if isinstance(rules, dict):
            behavior[name] = _present(**{field: rules.get(go.lower()) for go, field in _RULES_FIELDS})
            if isinstance(behavior[name].get("policies"), list):
                behavior[name]["policies"] = [
                    {field: p.get(go.lower(), zero) for go, field, zero in _POLICY_FIELDS}
                    for p in behavior[name]["policies"]
                    if isinstance(p, dict)
                ]
    return behavior or None


# -- events.k8s.io/v1 <-> core/v1 Event ------------------------------------------------------------


def event_events_to_core(obj: dict) -> dict:
    """An events.k8s.io/v1 Event as the core/v1 Event it is stored as."""
    src = _json_copy(obj)
    out = {"apiVersion": "v1", "kind": "Event", "metadata": src.get("metadata", {})}
    out["involvedObject"] = src.get("regarding") or {}
    out |= _present(reason=src.get("reason") or None, message=src.get("note") or None)
    out["source"] = src.get("deprecatedSource") or {}
    out["firstTimestamp"] = src.get("deprecatedFirstTimestamp")
    out["lastTimestamp"] = src.get("deprecatedLastTimestamp")
    out |= _present(count=src.get("deprecatedCount") or None, type=src.get("type") or None)
    out["eventTime"] = src.get("eventTime")
    out |= _present(
        series=_series(src.get("series"), count_always=False),
        action=src.get("action") or None,
        related=src.get("related"),
    )
    out["reportingComponent"] = src.get("reportingController") or ""
    out["reportingInstance"] = src.get("reportingInstance") or ""
    return out


def event_core_to_events(obj: dict) -> dict:
    """A stored core/v1 Event as events.k8s.io/v1 sees it."""
    src = _json_copy(obj)
    out = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": src.get("metadata", {})}
    out["eventTime"] = src.get("eventTime")
    out |= _present(
        series=_series(src.get("series"), count_always=True),
        reportingController=src.get("reportingComponent") or None,
        reportingInstance=src.get("reportingInstance") or None,
        action=src.get("action") or None,
        reason=src.get("reason") or None,
    )
    out["regarding"] = src.get("involvedObject") or {}
    out |= _present(related=src.get("related"), note=src.get("message") or None, type=src.get("type") or None)
    out["deprecatedSource"] = src.get("source") or {}
    out["deprecatedFirstTimestamp"] = src.get("firstTimestamp")
    out["deprecatedLastTimestamp"] = src.get("lastTimestamp")
    return out | _present(deprecatedCount=src.get("count") or None)


def _series(series: object, count_always: bool) -> dict | None:
    """EventSeries: events.k8s.io always writes its count, core/v1 omits a zero one."""
    if not isinstance(series, dict):
        return None
    count = series.get("count") or 0
    out = {"count": count} if count or count_always else {}
    return out | {"lastObservedTime": series.get("lastObservedTime")}


# -- helpers ---------------------------------------------------------------------------------------


def _json_copy(obj: dict) -> dict:
    """A deep copy of a JSON object: a round trip through orjson costs a fraction of copy.deepcopy (every
    events.k8s.io write and read converts)."""
    return orjson.loads(orjson.dumps(obj))


def _present(**fields: object) -> dict:
    """The fields that are set, in the order given: what Go writes for omitempty fields."""
    return {k: v for k, v in fields.items() if v is not None}


def _object(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _source(metric: dict, key: str) -> dict | None:
    value = metric.get(key)
    return value if isinstance(value, dict) else None


def _reference(ref: object) -> dict:
    """A CrossVersionObjectReference as Go writes it: kind and name always, apiVersion when set."""
    ref = _object(ref)
    return _present(
        kind=ref.get("kind", ""), name=ref.get("name", ""), apiVersion=ref.get("apiVersion") or None
    )


def _identifier(name: object, selector: object) -> dict:
    return _present(name=name or "", selector=_selector(selector))


def _selector(selector: object) -> dict | None:
    """A LabelSelector in Go's field order, matchLabels sorted as Go sorts map keys."""
    if not isinstance(selector, dict):
        return None
    labels = selector.get("matchLabels") or None
    expressions = [
        _present(key=e.get("key", ""), operator=e.get("operator", ""), values=e.get("values") or None)
        for e in selector.get("matchExpressions") or []
        if isinstance(e, dict)
    ]
    return _present(
        matchLabels=dict(sorted(labels.items())) if labels else None, matchExpressions=expressions or None
    )


def _quantity(value: object) -> object:
    """A Quantity field that is not a pointer: zero when unset."""
    return quantity.canonicalize(value) if value is not None else "0"


def _optional_quantity(value: object) -> object:
    return quantity.canonicalize(value) if value is not None else None


def _decoded(raw: object) -> object:
    try:
        return json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        return None


def _decoded_list(annotations: dict, key: str) -> list[dict] | None:
    """An annotation holding a JSON list of objects, or None when absent or malformed."""
    data = _decoded(annotations.get(key))
    return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else None


def _lower_keys(data: object) -> object:
    if isinstance(data, dict):
        return {str(k).lower(): _lower_keys(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_lower_keys(v) for v in data]
    return data


def _without_round_trip(annotations: dict) -> dict:
    return {k: v for k, v in annotations.items() if k not in ROUND_TRIP_ANNOTATIONS}


def _set_annotations(meta: dict, annotations: dict) -> None:
    """Go omits an empty annotations map."""
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)


_GO_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def _go_json(value: object) -> str:
    """JSON as Go's encoding/json writes it: compact, non-ASCII kept, HTML characters escaped."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).translate(_GO_ESCAPES)
