"""autoscaling: HorizontalPodAutoscalers, validated in their v2 form (v1 objects are converted first)."""

from __future__ import annotations

from timoneiro.api import quantity
from timoneiro.api.field import FieldError, forbidden, invalid, not_supported, required
from timoneiro.api.validation import golit, meta
from timoneiro.api.validation.meta import child, each_message, index
from timoneiro.api.validation.names import is_valid_path_segment_name, name_is_dns_subdomain
from timoneiro.api.validation.rules import Rules, spec_of, with_meta

MAX_PERIOD_SECONDS = 1800
MAX_STABILIZATION_WINDOW = 3600
METRIC_TYPES = ["ContainerResource", "External", "Object", "Pods", "Resource"]
_SOURCES = {
    "Object": "object",
    "Pods": "pods",
    "Resource": "resource",
    "ContainerResource": "containerResource",
    "External": "external",
}


def cross_version_reference(ref: dict, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for name in ("kind", "name"):
        value = ref.get(name, "")
        errs += (
            [required(child(path, name), "")]
            if not value
            else each_message(child(path, name), value, is_valid_path_segment_name(value))
        )
    return errs


def _positive_quantity(value: object, path: str) -> list[FieldError]:
    try:
        q = quantity.parse(value)  # type: ignore[arg-type]
    except (quantity.QuantityError, TypeError):
        return [invalid(path, value, quantity.ERR_FORMAT)]
    return [] if q.sign() == 1 else [invalid(path, golit.quantity_struct(value), "must be positive")]


def _target(target: dict, path: str) -> list[FieldError]:
    kind = target.get("type", "")
    errs = [] if kind else [required(child(path, "type"), "must specify a metric target type")]
    if kind not in ("Utilization", "Value", "AverageValue"):
        errs.append(invalid(child(path, "type"), kind, "must be either Utilization, Value, or AverageValue"))
    for name in ("value", "averageValue"):
        if target.get(name) is not None:
            errs += _positive_quantity(target[name], child(path, name))
    utilization = target.get("averageUtilization")
    if utilization is not None and utilization < 1:
        errs.append(invalid(child(path, "averageUtilization"), utilization, "must be greater than 0"))
    return errs


def _metric_identifier(metric: dict, path: str) -> list[FieldError]:
    name = metric.get("name", "")
    if not name:
        return [required(child(path, "name"), "must specify a metric name")]
    errs = each_message(child(path, "name"), name, is_valid_path_segment_name(name))
    if metric.get("selector") is not None:
        errs += meta.label_selector(metric["selector"], child(path, "selector"))
    return errs


def _source(kind: str, source: dict, path: str) -> list[FieldError]:
    target = source.get("target") or {}
    target_path = child(path, "target")
    errs: list[FieldError] = []
    if kind == "Object":
        errs += cross_version_reference(source.get("describedObject") or {}, child(path, "describedObject"))
    if kind in ("Object", "Pods", "External"):
        errs += _metric_identifier(source.get("metric") or {}, child(path, "metric"))
    else:
        if not source.get("name"):
            errs.append(required(child(path, "name"), "must specify a resource name"))
        if kind == "ContainerResource":
            container = source.get("container", "")
            errs += (
                [required(child(path, "container"), "must specify a container")]
                if not container
                else meta.dns1123_label(container, child(path, "container"))
            )
    errs += _target(target, target_path)
    value, average, utilization = (
        target.get("value"),
        target.get("averageValue"),
        target.get("averageUtilization"),
    )
    if kind == "Object" and value is None and average is None:
        errs.append(
            required(child(target_path, "averageValue"), "must set either a target value or averageValue")
        )
    elif kind == "External":
        if value is None and average is None:
            errs.append(
                required(
                    child(target_path, "averageValue"),
                    "must set either a target value for metric or a per-pod target",
                )
            )
        if value is not None and average is not None:
            errs.append(
                forbidden(
                    child(target_path, "value"),
                    "may not set both a target value for metric and a per-pod target",
                )
            )
    elif kind == "Pods" and average is None:
        errs.append(
            required(child(target_path, "averageValue"), "must specify a positive target averageValue")
        )
    elif kind in ("Resource", "ContainerResource"):
        if utilization is None and average is None:
            errs.append(
                required(
                    child(target_path, "averageUtilization"),
                    "must set either a target raw value or a target utilization",
                )
            )
        if utilization is not None and average is not None:
            errs.append(
                forbidden(
                    child(target_path, "averageValue"),
                    "may not set both a target raw value and a target utilization",
                )
            )
    return errs


def _metric(metric: dict, path: str) -> list[FieldError]:
    kind = metric.get("type", "")
    errs = [] if kind else [required(child(path, "type"), "must specify a metric source type")]
    if kind not in METRIC_TYPES:
        errs.append(not_supported(child(path, "type"), kind, METRIC_TYPES))
    present = [name for name in _SOURCES.values() if metric.get(name) is not None]
    if present:
        source_kind = next(k for k, v in _SOURCES.items() if v == present[0])
        errs += _source(source_kind, metric[present[0]], child(path, present[0]))
    expected = _SOURCES.get(kind)
    if expected is not None and metric.get(expected) is None:
        errs.append(required(child(path, expected), "must populate information for the given metric source"))
    if len(present) != 1:
        errs += [
            forbidden(child(path, name), "must populate the given metric source only")
            for name in present
            if name != expected
        ]
    return errs


def _scaling_rules(rules: dict | None, path: str) -> list[FieldError]:
    if rules is None:
        return []
    errs: list[FieldError] = []
    window = rules.get("stabilizationWindowSeconds")
    if window is not None and window < 0:
        errs.append(
            invalid(
                child(path, "stabilizationWindowSeconds"), window, "must be greater than or equal to zero"
            )
        )
    if window is not None and window > MAX_STABILIZATION_WINDOW:
        errs.append(
            invalid(
                child(path, "stabilizationWindowSeconds"),
                window,
                f"must be less than or equal to {MAX_STABILIZATION_WINDOW}",
            )
        )
    select = rules.get("selectPolicy")
    if select is not None:
        errs += meta.supported(select, ["Disabled", "Max", "Min"], child(path, "selectPolicy"))
    policies = rules.get("policies") or []
    if not policies:
        errs.append(required(child(path, "policies"), "must specify at least one Policy"))
    for i, policy in enumerate(policies):
        p = index(child(path, "policies"), i)
        errs += meta.supported(policy.get("type", ""), ["Percent", "Pods"], child(p, "type"))
        if policy.get("value", 0) <= 0:
            errs.append(invalid(child(p, "value"), policy.get("value", 0), "must be greater than zero"))
        period = policy.get("periodSeconds", 0)
        if period <= 0:
            errs.append(invalid(child(p, "periodSeconds"), period, "must be greater than zero"))
        if period > MAX_PERIOD_SECONDS:
            errs.append(
                invalid(
                    child(p, "periodSeconds"), period, f"must be less than or equal to {MAX_PERIOD_SECONDS}"
                )
            )
    return errs


def _hpa(obj: dict) -> list[FieldError]:
    spec, path = spec_of(obj), "spec"
    errs: list[FieldError] = []
    low, high = spec.get("minReplicas"), spec.get("maxReplicas", 0)
    if low is not None and low < 1:
        errs.append(invalid(child(path, "minReplicas"), low, "must be greater than or equal to 1"))
    if high < 1:
        errs.append(invalid(child(path, "maxReplicas"), high, "must be greater than 0"))
    if low is not None and high < low:
        errs.append(
            invalid(child(path, "maxReplicas"), high, "must be greater than or equal to `minReplicas`")
        )
    errs += cross_version_reference(spec.get("scaleTargetRef") or {}, child(path, "scaleTargetRef"))
    for i, metric in enumerate(spec.get("metrics") or []):
        errs += _metric(metric, index(child(path, "metrics"), i))
    behavior = spec.get("behavior") or {}
    for name in ("scaleUp", "scaleDown"):
        errs += _scaling_rules(behavior.get(name), child(path, "behavior", name))
    return errs


RULES: dict[str, Rules] = {"HorizontalPodAutoscaler": with_meta(True, name_is_dns_subdomain, _hpa)}
