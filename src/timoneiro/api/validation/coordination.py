"""coordination.k8s.io/v1: Leases."""

from __future__ import annotations

from timoneiro.api.field import FieldError, forbidden, invalid
from timoneiro.api.validation import meta
from timoneiro.api.validation.names import name_is_dns_subdomain
from timoneiro.api.validation.rules import Rules, spec_of, with_meta


def _lease(obj: dict) -> list[FieldError]:
    spec = spec_of(obj)
    errs: list[FieldError] = []
    duration, transitions = spec.get("leaseDurationSeconds"), spec.get("leaseTransitions")
    if duration is not None and duration <= 0:
        errs.append(invalid("spec.leaseDurationSeconds", duration, "must be greater than 0"))
    if transitions is not None and transitions < 0:
        errs.append(invalid("spec.leaseTransitions", transitions, "must be greater than or equal to 0"))
    strategy = spec.get("strategy")
    if strategy:
        # a strategy is either Kubernetes-defined or qualified with the domain of who defines it
        if "/" in strategy:
            errs += meta.qualified_name(strategy, "spec.strategy")
        else:
            errs += meta.supported(strategy, ["OldestEmulationVersion"], "spec.strategy")
    if spec.get("preferredHolder") and not strategy:
        errs.append(forbidden("spec.preferredHolder", "may only be specified if `strategy` is defined"))
    return errs


RULES: dict[str, Rules] = {"Lease": with_meta(True, name_is_dns_subdomain, _lease)}
