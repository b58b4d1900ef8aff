"""apps/v1: Deployments, ReplicaSets, DaemonSets, StatefulSets and ControllerRevisions."""

from __future__ import annotations

from typing import Any

from timoneiro.api.field import FieldError, Rendered, forbidden, invalid, not_supported, required
from timoneiro.api.validation import golit, meta, pods
from timoneiro.api.validation.meta import child
from timoneiro.api.validation.names import is_valid_percent, name_is_dns_label, name_is_dns_subdomain
from timoneiro.api.validation.rules import Rules, spec_of, with_meta


def int_or_string(value: Any) -> Rendered:
    """An intstr.IntOrString value as %#v shows it."""
    if isinstance(value, str):
        return Rendered(f"intstr.IntOrString{{Type:1, IntVal:0, StrVal:{golit.go_string(value)}}}")
    return Rendered(f'intstr.IntOrString{{Type:0, IntVal:{value or 0}, StrVal:""}}')


def positive_int_or_percent(value: Any, path: str) -> list[FieldError]:
    if isinstance(value, str):
        return [invalid(path, int_or_string(value), msg) for msg in is_valid_percent(value)]
    return meta.nonnegative(value or 0, path)


def _percent(value: Any) -> int | None:
    return int(value[:-1]) if isinstance(value, str) and not is_valid_percent(value) else None


def _int_or_percent_value(value: Any) -> int:
    percent = _percent(value)
    if percent is not None:
        return percent
    if isinstance(value, str):
        return int(value) if value.lstrip("-").isdigit() else 0
    return value or 0


def not_more_than_100_percent(value: Any, path: str) -> list[FieldError]:
    percent = _percent(value)
    if percent is None or percent <= 100:
        return []
    return [invalid(path, int_or_string(value), "must not be greater than 100%")]


def _required_selector(selector: dict | None, path: str, empty_owner: str) -> tuple[list[FieldError], bool]:
    """A workload's required, non-empty spec.selector: its errors, and whether it parsed (a missing one
    counts as parsed; `empty_owner` names the workload in the message)."""
    if selector is None:
        return [required(child(path, "selector"), "")], True
    selector_errs = meta.label_selector(selector, child(path, "selector"))
    errs = list(selector_errs)
    if meta.selector_is_empty(selector):
        errs.append(
            invalid(
                child(path, "selector"),
                golit.label_selector(selector),
                f"empty selector is invalid for {empty_owner}",
            )
        )
    return errs, not selector_errs


def selector_and_template(spec: dict, path: str, owner: str, empty_owner: str) -> list[FieldError]:
    """A required, non-empty selector that selects the pod template's labels."""
    selector = spec.get("selector")
    errs, parsed = _required_selector(selector, path, empty_owner)
    if not parsed:
        return errs + [
            invalid(child(path, "selector"), golit.label_selector(selector), "invalid label selector")
        ]
    template = spec.get("template") or {}
    # a missing selector selects nothing, an empty one everything
    matches = selector is not None and (
        meta.selector_is_empty(selector)
        or meta.selector_matches(selector, (template.get("metadata") or {}).get("labels"))
    )
    return errs + pods.workload_template(template, matches, child(path, "template"), owner)


def _selector_immutable(new: dict, old: dict) -> list[FieldError]:
    new_sel, old_sel = spec_of(new).get("selector"), spec_of(old).get("selector")
    return meta.immutable(new_sel, old_sel, "spec.selector", golit.label_selector(new_sel))


# --- Deployment


def _rolling_update_deployment(rolling: dict, path: str) -> list[FieldError]:
    unavailable, surge = rolling.get("maxUnavailable"), rolling.get("maxSurge")
    errs = positive_int_or_percent(unavailable, child(path, "maxUnavailable"))
    errs += positive_int_or_percent(surge, child(path, "maxSurge"))
    if _int_or_percent_value(unavailable) == 0 and _int_or_percent_value(surge) == 0:
        errs.append(
            invalid(
                child(path, "maxUnavailable"), int_or_string(unavailable), "may not be 0 when `maxSurge` is 0"
            )
        )
    return errs + not_more_than_100_percent(unavailable, child(path, "maxUnavailable"))


def _deployment_strategy(strategy: dict, path: str) -> list[FieldError]:
    kind, rolling = strategy.get("type", ""), strategy.get("rollingUpdate")
    if kind == "Recreate":
        return (
            [
                forbidden(
                    child(path, "rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'"
                )
            ]
            if rolling is not None
            else []
        )
    if kind == "RollingUpdate":
        if rolling is None:
            return [required(child(path, "rollingUpdate"), "this should be defaulted and never be nil")]
        return _rolling_update_deployment(rolling, child(path, "rollingUpdate"))
    shown = golit.struct(
        "apps.DeploymentStrategy",
        [
            ("Type", golit.go_string(kind)),
            (
                "RollingUpdate",
                "(*apps.RollingUpdateDeployment)(nil)"
                if rolling is None
                else "&apps.RollingUpdateDeployment{...}",
            ),
        ],
    )
    return [not_supported(path, shown, ["Recreate", "RollingUpdate"])]


def _deployment(obj: dict) -> list[FieldError]:
    spec, path = spec_of(obj), "spec"
    errs = meta.nonnegative(spec.get("replicas", 0), child(path, "replicas"))
    errs += selector_and_template(spec, path, "ReplicaSet", "deployment")
    errs += _deployment_strategy(spec.get("strategy") or {}, child(path, "strategy"))
    min_ready = spec.get("minReadySeconds", 0)
    errs += meta.nonnegative(min_ready, child(path, "minReadySeconds"))
    if spec.get("revisionHistoryLimit") is not None:
        errs += meta.nonnegative(spec["revisionHistoryLimit"], child(path, "revisionHistoryLimit"))
    deadline = spec.get("progressDeadlineSeconds")
    if deadline is not None:
        errs += meta.nonnegative(deadline, child(path, "progressDeadlineSeconds"))
        if deadline <= min_ready:
            errs.append(
                invalid(
                    child(path, "progressDeadlineSeconds"), deadline, "must be greater than minReadySeconds"
                )
            )
    return errs


def _replica_set(obj: dict) -> list[FieldError]:
    spec, path = spec_of(obj), "spec"
    errs = meta.nonnegative(spec.get("replicas", 0), child(path, "replicas"))
    errs += meta.nonnegative(spec.get("minReadySeconds", 0), child(path, "minReadySeconds"))
    return errs + selector_and_template(spec, path, "ReplicaSet", "deployment")


# --- DaemonSet


def _daemon_set(obj: dict) -> list[FieldError]:
    spec, path = spec_of(obj), "spec"
    selector = spec.get("selector")
    errs = meta.label_selector(selector, child(path, "selector"))
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels")
    if not errs and (selector is None or not meta.selector_matches(selector, labels)):
        errs.append(pods.selector_mismatch(child(path, "template"), labels))
    if selector is not None and meta.selector_is_empty(selector):
        errs.append(
            invalid(
                child(path, "selector"),
                golit.label_selector(selector),
                "empty selector is invalid for daemonset",
            )
        )
    errs += pods.template_spec(template, child(path, "template"))
    errs += pods.always_restarted(template.get("spec") or {}, child(path, "template"), "DaemonSet")
    errs += meta.nonnegative(spec.get("minReadySeconds", 0), child(path, "minReadySeconds"))
    errs += _daemon_set_strategy(spec.get("updateStrategy") or {}, child(path, "updateStrategy"))
    if spec.get("revisionHistoryLimit") is not None:
        errs += meta.nonnegative(spec["revisionHistoryLimit"], child(path, "revisionHistoryLimit"))
    return errs


def _daemon_set_strategy(strategy: dict, path: str) -> list[FieldError]:
    kind = strategy.get("type", "")
    if kind == "OnDelete":
        return []
    if kind != "RollingUpdate":
        shown = golit.struct(
            "apps.DaemonSetUpdateStrategy",
            [("Type", golit.go_string(kind)), ("RollingUpdate", "(*apps.RollingUpdateDaemonSet)(nil)")],
        )
        return [not_supported(path, shown, ["RollingUpdate", "OnDelete"])]
    rolling = strategy.get("rollingUpdate")
    if rolling is None:
        return [required(child(path, "rollingUpdate"), "")]
    p = child(path, "rollingUpdate")
    unavailable, surge = rolling.get("maxUnavailable"), rolling.get("maxSurge")
    errs = positive_int_or_percent(unavailable, child(p, "maxUnavailable"))
    errs += positive_int_or_percent(surge, child(p, "maxSurge"))
    errs += not_more_than_100_percent(unavailable, child(p, "maxUnavailable"))
    errs += not_more_than_100_percent(surge, child(p, "maxSurge"))
    has_unavailable, has_surge = _int_or_percent_value(unavailable) != 0, _int_or_percent_value(surge) != 0
    if has_unavailable and has_surge:
        errs.append(
            invalid(
                child(p, "maxSurge"), int_or_string(surge), "may not be set when maxUnavailable is non-zero"
            )
        )
    elif not has_unavailable and not has_surge:
        errs.append(required(child(p, "maxUnavailable"), "cannot be 0 when maxSurge is 0"))
    return errs


# --- StatefulSet


def _stateful_set(obj: dict) -> list[FieldError]:
    spec, path = spec_of(obj), "spec"
    errs: list[FieldError] = []
    policy = spec.get("podManagementPolicy", "")
    if not policy:
        errs.append(required(child(path, "podManagementPolicy"), ""))
    elif policy not in ("OrderedReady", "Parallel"):
        errs.append(
            invalid(child(path, "podManagementPolicy"), policy, "must be 'OrderedReady' or 'Parallel'")
        )
    errs += _stateful_set_strategy(spec.get("updateStrategy") or {}, child(path, "updateStrategy"))
    retention = spec.get("persistentVolumeClaimRetentionPolicy")
    if retention is not None:
        for name in ("whenDeleted", "whenScaled"):
            errs += meta.supported(
                retention.get(name, ""),
                ["Retain", "Delete"],
                child(path, "persistentVolumeClaimRetentionPolicy", name),
            )
    errs += meta.nonnegative(spec.get("replicas", 0), child(path, "replicas"))
    errs += meta.nonnegative(spec.get("minReadySeconds", 0), child(path, "minReadySeconds"))
    if spec.get("ordinals") is not None:
        errs += meta.nonnegative(spec["ordinals"].get("start", 0), child(path, "ordinals.start"))
    selector = spec.get("selector")
    selector_errs, parsed = _required_selector(selector, path, "statefulset")
    errs += selector_errs
    template = spec.get("template") or {}
    if not parsed:
        errs.append(invalid(child(path, "selector"), golit.label_selector(selector), ""))
    else:
        labels = (template.get("metadata") or {}).get("labels")
        if selector is None or not meta.selector_matches(selector, labels):
            errs.append(pods.selector_mismatch(child(path, "template"), labels))
        errs += meta.labels(labels, child(path, "template", "labels"))
        annotations = (template.get("metadata") or {}).get("annotations")
        errs += meta.annotations(annotations, child(path, "template", "annotations"))
        errs += pods.pod_annotations(
            annotations, template.get("spec") or {}, child(path, "template", "annotations")
        )
    return errs + pods.always_restarted(template.get("spec") or {}, child(path, "template"), "StatefulSet")


def _stateful_set_strategy(strategy: dict, path: str) -> list[FieldError]:
    kind, rolling = strategy.get("type", ""), strategy.get("rollingUpdate")
    if not kind:
        return [required(path, "")]
    if kind == "OnDelete":
        return (
            [
                invalid(
                    child(path, "rollingUpdate"), rolling, "only allowed for updateStrategy 'RollingUpdate'"
                )
            ]
            if rolling is not None
            else []
        )
    if kind != "RollingUpdate":
        return [invalid(path, strategy, "must be 'RollingUpdate' or 'OnDelete'")]
    if rolling is None:
        return []
    p = child(path, "rollingUpdate")
    errs = meta.nonnegative(rolling.get("partition", 0), child(p, "partition"))
    unavailable = rolling.get("maxUnavailable")
    if unavailable is not None:
        errs += positive_int_or_percent(unavailable, child(p, "maxUnavailable"))
        if _int_or_percent_value(unavailable) == 0:
            errs.append(invalid(child(p, "maxUnavailable"), int_or_string(unavailable), "cannot be 0"))
        errs += not_more_than_100_percent(unavailable, child(p, "maxUnavailable"))
    return errs


_STATEFUL_SET_MUTABLE = (
    "replicas",
    "template",
    "updateStrategy",
    "minReadySeconds",
    "ordinals",
    "persistentVolumeClaimRetentionPolicy",
)


def _stateful_set_update(new: dict, old: dict) -> list[FieldError]:
    rest_new = {k: v for k, v in spec_of(new).items() if k not in _STATEFUL_SET_MUTABLE}
    rest_old = {k: v for k, v in spec_of(old).items() if k not in _STATEFUL_SET_MUTABLE}
    if rest_new == rest_old:
        return []
    return [
        forbidden(
            "spec",
            "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
            "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
        )
    ]


# --- ControllerRevision


def _controller_revision(obj: dict) -> list[FieldError]:
    errs = [] if obj.get("data") is not None else [required("data", "data is mandatory")]
    return errs + meta.nonnegative(obj.get("revision", 0), "revision")


def _controller_revision_update(new: dict, old: dict) -> list[FieldError]:
    return meta.immutable(new.get("data"), old.get("data"), "data")


def _stateful_set_rules() -> Rules:
    base = with_meta(True, name_is_dns_label, _stateful_set, _stateful_set_update)

    def update(new: dict, old: dict) -> list[FieldError]:
        # the name is not checked again: older servers allowed DNS subdomains here
        errs = meta.object_meta_update(new.get("metadata") or {}, old.get("metadata") or {})
        return errs + _stateful_set(new) + _stateful_set_update(new, old)

    return Rules(base.create, update)


RULES: dict[str, Rules] = {
    "Deployment": with_meta(True, name_is_dns_subdomain, _deployment, _selector_immutable),
    "ReplicaSet": with_meta(True, name_is_dns_subdomain, _replica_set, _selector_immutable),
    "DaemonSet": with_meta(True, name_is_dns_subdomain, _daemon_set, _selector_immutable),
    "StatefulSet": _stateful_set_rules(),
    "ControllerRevision": with_meta(
        True, name_is_dns_subdomain, _controller_revision, _controller_revision_update, update_first=True
    ),
}
