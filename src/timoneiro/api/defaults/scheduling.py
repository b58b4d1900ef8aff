"""Defaults of scheduling.k8s.io/v1 PriorityClasses (pkg/apis/scheduling/v1/defaults.go)."""

from __future__ import annotations

from collections.abc import Callable

from timoneiro.api.defaults import fill


def priority_class(obj: dict) -> None:
    fill.if_nil(obj, "preemptionPolicy", "PreemptLowerPriority")


DEFAULTERS: dict[str, Callable[[dict], None]] = {
    "PriorityClass": priority_class,
}
