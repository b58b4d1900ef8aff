"""Resource names and quantities: container requests/limits, LimitRange and ResourceQuota entries."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from timoneiro.api import quantity
from timoneiro.api.field import FieldError, forbidden, invalid, required
from timoneiro.api.quantity import Quantity
from timoneiro.api.validation import golit
from timoneiro.api.validation.meta import child, each_message, key
from timoneiro.api.validation.names import is_qualified_name

STANDARD_CONTAINER = {"cpu", "memory", "ephemeral-storage"}
# the object counts: integer resources
INTEGER = {
    "pods",
    "resourcequotas",
    "services",
    "replicationcontrollers",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "services.nodeports",
    "services.loadbalancers",
}
STANDARD = (
    STANDARD_CONTAINER
    | INTEGER
    | {
        "requests.cpu",
        "requests.memory",
        "requests.ephemeral-storage",
        "limits.cpu",
        "limits.memory",
        "limits.ephemeral-storage",
        "storage",
        "requests.storage",
    }
)
STANDARD_QUOTA = STANDARD - {"storage"}
HUGEPAGES_PREFIX = "hugepages-"
NOT_INTEGER = "must be an integer"
NOT_POSITIVE = "must be greater than zero"


def is_native(name: str) -> bool:
    return "/" not in name or "kubernetes.io/" in name


def is_hugepages(name: str) -> bool:
    return name.startswith(HUGEPAGES_PREFIX)


def is_extended(name: str) -> bool:
    if is_native(name) or name.startswith("requests."):
        return False
    return not is_qualified_name("requests." + name)


def overcommit_allowed(name: str) -> bool:
    return is_native(name) and not is_hugepages(name)


def is_integer_resource(name: str) -> bool:
    return name in INTEGER or is_extended(name)


def parsed(value: Any, path: str) -> tuple[Quantity | None, list[FieldError]]:
    """A quantity from an object; the decoder's complaint when it is not one."""
    try:
        return quantity.parse(value), []
    except (quantity.QuantityError, TypeError) as e:
        return None, [
            invalid(path, value, str(e) if isinstance(e, quantity.QuantityError) else quantity.ERR_FORMAT)
        ]


def quantity_value(name: str, value: Quantity, text: Any, path: str) -> list[FieldError]:
    """ValidateResourceQuantityValue: not negative, and whole for countable resources."""
    errs = nonnegative_quantity(value, path)
    if is_integer_resource(name) and value.milli_value() % 1000 != 0:
        errs.append(invalid(path, golit.quantity_struct(text), NOT_INTEGER))
    return errs


def nonnegative_quantity(value: Quantity, path: str) -> list[FieldError]:
    return [invalid(path, str(value), "must be greater than or equal to 0")] if value.sign() < 0 else []


def positive_quantity(value: Quantity, path: str) -> list[FieldError]:
    return [invalid(path, str(value), NOT_POSITIVE)] if value.sign() <= 0 else []


def resource_name(name: str, path: str) -> list[FieldError]:
    errs = each_message(path, name, is_qualified_name(name))
    if not errs and "/" not in name and name not in STANDARD and not _is_quota_hugepages(name):
        errs.append(invalid(path, name, "must be a standard resource type or fully qualified"))
    return errs


def _is_quota_hugepages(name: str) -> bool:
    return is_hugepages(name) or name.startswith("requests." + HUGEPAGES_PREFIX)


def container_resource_name(name: str, path: str) -> list[FieldError]:
    errs = resource_name(name, path)
    if "/" not in name:
        if name not in STANDARD_CONTAINER and not is_hugepages(name):
            errs.append(invalid(path, name, "must be a standard resource for containers"))
    elif not is_native(name) and not is_extended(name):
        errs.append(invalid(path, name, "doesn't follow extended resource name standard"))
    return errs


def quota_resource_name(name: str, path: str) -> list[FieldError]:
    errs = resource_name(name, path)
    if "/" not in name and name not in STANDARD_QUOTA and not _is_quota_hugepages(name):
        errs.append(invalid(path, name, "must be a standard resource for quota"))
    return errs


def _hugepage_errors(name: str, value: Quantity, path: str) -> list[FieldError]:
    """A hugepages-<size> amount must be a whole number of pages."""
    msg = _hugepage_error(name, value) if is_hugepages(name) else None
    return [invalid(path, str(value), msg)] if msg else []


def _hugepage_error(name: str, value: Quantity) -> str | None:
    try:
        page = quantity.parse(name[len(HUGEPAGES_PREFIX) :])
    except quantity.QuantityError:
        page = None
    if (
        page is not None
        and page.sign() > 0
        and page.value.denominator == 1
        and value.int_value() % page.int_value() == 0
    ):
        return None
    return f"{value} is not positive integer multiple of {name}"


def requirements(
    req: dict | None,
    path: str,
    pod_claims: set[str],
    name_fn: Callable[[str, str], list[FieldError]] = container_resource_name,
) -> list[FieldError]:
    """ValidateContainerResourceRequirements: names, values, requests within limits, hugepages, claims."""
    req = req or {}
    lim_path, req_path = child(path, "limits"), child(path, "requests")
    errs: list[FieldError] = []
    limits: dict[str, Quantity] = {}
    compute_set = False
    hugepages_set = False
    for name, q, p, entry_errs in _entries(req.get("limits"), lim_path, name_fn):
        errs += entry_errs
        if q is None:
            continue
        limits[name] = q
        errs += _hugepage_errors(name, q, p)
        hugepages_set |= is_hugepages(name)
        compute_set |= name in ("cpu", "memory")
    for name, q, p, entry_errs in _entries(req.get("requests"), req_path, name_fn):
        errs += entry_errs
        if q is None:
            continue
        limit = limits.get(name)
        if limit is not None:
            if q != limit and not overcommit_allowed(name):
                errs.append(invalid(req_path, str(q), f"must be equal to {name} limit of {limit}"))
            elif q > limit:
                errs.append(
                    invalid(req_path, str(q), f"must be less than or equal to {name} limit of {limit}")
                )
        elif not overcommit_allowed(name) and name not in (req.get("limits") or {}):
            errs.append(required(lim_path, "Limit must be set for non overcommitable resources"))
        errs += _hugepage_errors(name, q, p)
        hugepages_set |= is_hugepages(name)
        compute_set |= name in ("cpu", "memory")
    if hugepages_set and not compute_set:
        errs.append(forbidden(path, "HugePages require cpu or memory"))
    errs += _claims(req.get("claims"), pod_claims, child(path, "claims"))
    return errs


def _claims(claims: list | None, pod_claims: set[str], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    seen: set[str] = set()
    for i, claim in enumerate(claims or []):
        p = f"{path}[{i}]"
        name = claim.get("name", "")
        if not name:
            errs.append(required(p, ""))
            continue
        entry = f"{name}/{claim['request']}" if claim.get("request") else name
        if name in seen or entry in seen:
            errs.append(FieldError("Duplicate", p, "", entry))
        seen.add(entry)
        if name not in pod_claims:
            names = ", ".join(sorted(pod_claims))
            detail = "must be one of the names in pod.spec.resourceClaims" + (
                f": {names}" if names else " which is empty"
            )
            errs.append(FieldError("NotFound", p, detail, name))
    return errs


def quantity_map(
    values: dict | None,
    path: str,
    name_fn: Callable[[str, str], list[FieldError]],
    check_values: bool = True,
) -> tuple[dict[str, Quantity], list[FieldError]]:
    """Check the names and values of a ResourceList (the values only parse unless check_values);
    returns the parsed quantities too."""
    out: dict[str, Quantity] = {}
    errs: list[FieldError] = []
    for name, q, _, entry_errs in _entries(values, path, name_fn, check_values):
        errs += entry_errs
        if q is not None:
            out[name] = q
    return out, errs


def _entries(
    values: dict | None,
    path: str,
    name_fn: Callable[[str, str], list[FieldError]],
    check_values: bool = True,
) -> Iterator[tuple[str, Quantity | None, str, list[FieldError]]]:
    """Each entry of a ResourceList as (name, quantity or None when it does not parse, path, errors):
    the name's errors, the decoder's, and (with check_values) ValidateResourceQuantityValue's."""
    for name, text in (values or {}).items():
        p = key(path, name)
        name_errs = name_fn(name, p)
        q, parse_errs = parsed(text, p)
        errs = name_errs + parse_errs
        if q is not None and check_values:
            errs += quantity_value(name, q, text, p)
        yield name, q, p, errs


def limit_range(spec: dict, path: str) -> list[FieldError]:
    """The spec.limits of a LimitRange: known types, names, and min <= default(Request) <= max."""
    errs: list[FieldError] = []
    types: set[str] = set()
    limits_path = child(path, "limits")
    for i, item in enumerate(spec.get("limits") or []):
        p = f"{limits_path}[{i}]"
        kind = item.get("type", "")
        errs += _limit_type(kind, child(p, "type"))
        if kind in types:
            errs.append(FieldError("Duplicate", child(p, "type"), "", kind))
        types.add(kind)

        def name_fn(name: str, at: str, kind: str = kind) -> list[FieldError]:
            return (
                container_resource_name(name, at) if kind in ("Pod", "Container") else resource_name(name, at)
            )

        maxes, e = _names_only(item.get("max"), child(p, "max"), name_fn)
        errs += e
        mins, e = _names_only(item.get("min"), child(p, "min"), name_fn)
        errs += e
        defaults: dict[str, Quantity] = {}
        default_requests: dict[str, Quantity] = {}
        if kind == "Pod":
            if item.get("default"):
                errs.append(forbidden(child(p, "default"), "may not be specified when `type` is 'Pod'"))
            if item.get("defaultRequest"):
                errs.append(
                    forbidden(child(p, "defaultRequest"), "may not be specified when `type` is 'Pod'")
                )
        else:
            defaults, e = _names_only(item.get("default"), child(p, "default"), name_fn)
            errs += e
            default_requests, e = _names_only(item.get("defaultRequest"), child(p, "defaultRequest"), name_fn)
            errs += e
        if (
            kind == "PersistentVolumeClaim"
            and "storage" not in (item.get("min") or {})
            and "storage" not in (item.get("max") or {})
        ):
            errs.append(
                required(
                    child(p, "limits"),
                    "either minimum or maximum storage value is required, but neither was provided",
                )
            )
        ratios, e = _names_only(item.get("maxLimitRequestRatio"), child(p, "maxLimitRequestRatio"), name_fn)
        errs += e
        errs += _limit_bounds(p, mins, maxes, defaults, default_requests, ratios)
    return errs


def _limit_type(kind: str, path: str) -> list[FieldError]:
    errs = each_message(path, kind, is_qualified_name(kind))
    if not errs and "/" not in kind and kind not in ("Pod", "Container", "PersistentVolumeClaim"):
        errs.append(invalid(path, kind, "must be a standard limit type or fully qualified"))
    return errs


def _names_only(
    values: dict | None, path: str, name_fn: Callable[[str, str], list[FieldError]]
) -> tuple[dict[str, Quantity], list[FieldError]]:
    """A LimitRange's quantities: names checked and values parsed, their ranges left to _limit_bounds."""
    return quantity_map(values, path, name_fn, check_values=False)


def _limit_bounds(
    p: str, mins: dict, maxes: dict, defaults: dict, requests: dict, ratios: dict
) -> list[FieldError]:
    errs: list[FieldError] = []
    for name in sorted(set(mins) | set(maxes) | set(defaults) | set(requests) | set(ratios)):
        lo, hi, default, request, ratio = (d.get(name) for d in (mins, maxes, defaults, requests, ratios))

        def bad(field_name: str, shown: Quantity, msg: str, name: str = name) -> FieldError:
            return invalid(key(child(p, field_name), name), golit.quantity_struct(str(shown)), msg)

        if lo is not None and hi is not None and lo > hi:
            errs.append(bad("min", lo, f"min value {lo} is greater than max value {hi}"))
        if request is not None and lo is not None and lo > request:
            errs.append(
                bad(
                    "defaultRequest",
                    request,
                    f"min value {lo} is greater than default request value {request}",
                )
            )
        if request is not None and hi is not None and request > hi:
            errs.append(
                bad(
                    "defaultRequest",
                    request,
                    f"default request value {request} is greater than max value {hi}",
                )
            )
        if request is not None and default is not None and request > default:
            errs.append(
                bad(
                    "defaultRequest",
                    request,
                    f"default request value {request} is greater than default limit value {default}",
                )
            )
        if default is not None and lo is not None and lo > default:
            errs.append(bad("default", lo, f"min value {lo} is greater than default value {default}"))
        if default is not None and hi is not None and default > hi:
            errs.append(bad("default", hi, f"default value {default} is greater than max value {hi}"))
        if ratio is not None and ratio.value < 1:
            errs.append(bad("maxLimitRequestRatio", ratio, f"ratio {ratio} is less than 1"))
        if ratio is not None and lo is not None and hi is not None and lo.value > 0:
            limit = hi.value / lo.value
            if ratio.value > limit:
                errs.append(
                    bad(
                        "maxLimitRequestRatio",
                        ratio,
                        f"ratio {ratio} is greater than max/min = {float(limit):f}",
                    )
                )
        if (
            not overcommit_allowed(name)
            and default is not None
            and request is not None
            and default != request
        ):
            errs.append(
                bad(
                    "defaultRequest",
                    request,
                    f"default value {default} must equal to defaultRequest value {request} in {name}",
                )
            )
    return errs


QUOTA_SCOPES = {
    "Terminating",
    "NotTerminating",
    "BestEffort",
    "NotBestEffort",
    "PriorityClass",
    "CrossNamespacePodAffinity",
    "VolumeAttributesClass",
}
_POD_SCOPE_RESOURCES = {
    "pods",
    "cpu",
    "memory",
    "requests.cpu",
    "requests.memory",
    "limits.cpu",
    "limits.memory",
    "ephemeral-storage",
    "requests.ephemeral-storage",
    "limits.ephemeral-storage",
}
_BEST_EFFORT_RESOURCES = {"pods"}
_SCOPE_RESOURCES = {
    "Terminating": _POD_SCOPE_RESOURCES,
    "NotTerminating": _POD_SCOPE_RESOURCES,
    "BestEffort": _BEST_EFFORT_RESOURCES,
    "NotBestEffort": _POD_SCOPE_RESOURCES,
    "PriorityClass": _POD_SCOPE_RESOURCES,
    "CrossNamespacePodAffinity": _POD_SCOPE_RESOURCES,
    "VolumeAttributesClass": {"persistentvolumeclaims", "requests.storage"},
}
_CONFLICTING_SCOPES = ({"BestEffort", "NotBestEffort"}, {"Terminating", "NotTerminating"})


def quota_spec(spec: dict, path: str) -> list[FieldError]:
    """ValidateResourceQuotaSpec: hard limits, scopes and the scope selector."""
    _, errs = quantity_map(spec.get("hard"), child(path, "hard"), quota_resource_name)
    hard = sorted((spec.get("hard") or {}).keys())
    scopes = spec.get("scopes") or []
    scopes_path = child(path, "scopes")
    shown_scopes = golit.string_slice(scopes, "core.ResourceQuotaScope")
    for scope in scopes:
        if scope not in QUOTA_SCOPES:
            errs.append(invalid(scopes_path, shown_scopes, "unsupported scope"))
        errs += [
            invalid(scopes_path, shown_scopes, "unsupported scope applied to resource")
            for name in hard
            if _scope_forbids(scope, name)
        ]
    errs += [
        invalid(scopes_path, shown_scopes, "conflicting scopes")
        for pair in _CONFLICTING_SCOPES
        if pair <= set(scopes)
    ]
    selector = spec.get("scopeSelector")
    if selector is not None:
        errs += _scope_selector(selector, hard, child(path, "scopeSelector", "matchExpressions"))
    return errs


def _scope_forbids(scope: str, name: str) -> bool:
    return name in STANDARD_QUOTA and scope in _SCOPE_RESOURCES and name not in _SCOPE_RESOURCES[scope]


def _scope_selector(selector: dict, hard: list[str], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    seen: set[str] = set()
    for req in selector.get("matchExpressions") or []:
        scope, op, values = req.get("scopeName", ""), req.get("operator", ""), req.get("values") or []
        if scope not in QUOTA_SCOPES:
            errs.append(invalid(child(path, "scopeName"), scope, "unsupported scope"))
        errs += [
            invalid(path, selector, "unsupported scope applied to resource")
            for name in hard
            if _scope_forbids(scope, name)
        ]
        if (
            scope
            in ("BestEffort", "NotBestEffort", "Terminating", "NotTerminating", "CrossNamespacePodAffinity")
            and op != "Exists"
        ):
            errs.append(
                invalid(
                    child(path, "operator"),
                    op,
                    "must be 'Exists' when scope is any of ResourceQuotaScopeTerminating, "
                    "ResourceQuotaScopeNotTerminating, ResourceQuotaScopeBestEffort, "
                    "ResourceQuotaScopeNotBestEffort or ResourceQuotaScopeCrossNamespacePodAffinity",
                )
            )
        if op in ("In", "NotIn"):
            if not values:
                errs.append(
                    required(
                        child(path, "values"),
                        "must be at least one value when `operator` is 'In' or 'NotIn' for scope selector",
                    )
                )
        elif op in ("Exists", "DoesNotExist"):
            if values:
                errs.append(
                    invalid(
                        child(path, "values"),
                        golit.string_slice(values),
                        "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope selector",
                    )
                )
        else:
            errs.append(invalid(child(path, "operator"), op, "not a valid selector operator"))
        seen.add(scope)
    errs += [
        invalid(path, golit.string_slice(None, "core.ResourceQuotaScope"), "conflicting scopes")
        for pair in _CONFLICTING_SCOPES
        if pair <= seen
    ]
    return errs
