"""policy/v1: PodDisruptionBudgets.

Upstream validates only the spec here; the name and other metadata get the generic checks every
kind gets once its own checks pass.
"""

from __future__ import annotations

from timoneiro.api.field import FieldError, invalid
from timoneiro.api.validation import meta
from timoneiro.api.validation.apps import not_more_than_100_percent, positive_int_or_percent
from timoneiro.api.validation.rules import Rules, spec_of


def _pdb(obj: dict) -> list[FieldError]:
    spec, path = spec_of(obj), "spec"
    errs: list[FieldError] = []
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        errs.append(invalid(path, spec, "minAvailable and maxUnavailable cannot be both set"))
    for name in ("minAvailable", "maxUnavailable"):
        if spec.get(name) is not None:
            errs += positive_int_or_percent(spec[name], f"{path}.{name}")
            errs += not_more_than_100_percent(spec[name], f"{path}.{name}")
    errs += meta.label_selector(spec.get("selector"), f"{path}.selector")
    policy = spec.get("unhealthyPodEvictionPolicy")
    if policy is not None:
        errs += meta.supported(
            policy, ["AlwaysAllow", "IfHealthyBudget"], f"{path}.unhealthyPodEvictionPolicy"
        )
    return errs


def _pdb_update(new: dict, old: dict) -> list[FieldError]:
    return _pdb(new)


RULES: dict[str, Rules] = {"PodDisruptionBudget": Rules(_pdb, _pdb_update)}
