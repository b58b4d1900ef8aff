"""Upstream's defaulting (SetDefaults_*) for built-in kinds."""

from __future__ import annotations


def apply(group: str, kind: str, obj: dict) -> None:
    """Fill in the defaults kube-apiserver sets for an object of this kind, in place."""
