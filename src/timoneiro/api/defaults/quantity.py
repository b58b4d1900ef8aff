"""Resource quantities in the canonical form kube-apiserver writes them back in.

The apiserver decodes every quantity into resource.Quantity and re-encodes it canonically, so "0.5"
reads back as "500m", "1000" as "1k" and "1.5Gi" as "1536Mi". SetDefaults_ResourceList also rounds
resource lists up to milli precision. Values that do not parse are left for validation to reject.
The quantity arithmetic itself is timoneiro.api.quantity's.
"""

from __future__ import annotations

from timoneiro.api.quantity import canonicalize


def canonical(value: object, milli: bool = False) -> object:
    """A quantity (string or JSON number) in canonical form, rounded up to milli when asked."""
    return canonicalize(value, milli)


def resource_list(obj: dict | None, key: str) -> None:
    """SetDefaults_ResourceList: every quantity of a resource list rounded up to milli, canonical."""
    resources = obj.get(key) if isinstance(obj, dict) else None
    if isinstance(resources, dict):
        for name, value in resources.items():
            resources[name] = canonicalize(value, milli=True)


def requirements(resources: dict) -> None:
    """The limits and requests of a ResourceRequirements."""
    resource_list(resources, "limits")
    resource_list(resources, "requests")
