"""Node selectors and pod affinity terms, parsed once per pod so that matching a node or a pod is cheap.

Malformed terms match nothing, as upstream's lazy-error selectors do: the API server does not validate
every detail of them and the scheduler must not fail on them.
"""

from __future__ import annotations

from dataclasses import dataclass

from timoneiro.api.selectors import Selector, SelectorError, from_label_selector, matches

LABEL_HOSTNAME = "kubernetes.io/hostname"
LABEL_ZONE = "topology.kubernetes.io/zone"
LABEL_REGION = "topology.kubernetes.io/region"


# node selectors

def _requirement_matches(expr: dict, value: str | None) -> bool:
    op, values = expr.get("operator"), expr.get("values") or ()
    if op == "In":
        return value is not None and value in values
    if op == "NotIn":
        return value is None or value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt") and value is not None and len(values) == 1:
        try:
            have, want = int(value), int(values[0])
        except ValueError:
            return False
        return have > want if op == "Gt" else have < want
    return False


def term_matches(term: dict, labels: dict, name: str) -> bool:
    """One NodeSelectorTerm: every expression and field requirement holds; an empty term selects nothing."""
    expressions = term.get("matchExpressions") or ()
    fields = term.get("matchFields") or ()
    if not expressions and not fields:
        return False
    for expr in expressions:
        if not _requirement_matches(expr, labels.get(expr.get("key", ""))):
            return False
    for expr in fields:
        if expr.get("key") != "metadata.name" or not _requirement_matches(expr, name):
            return False
    return True


@dataclass(frozen=True, slots=True)
class RequiredNodeAffinity:
    """spec.nodeSelector and requiredDuringSchedulingIgnoredDuringExecution together: both must hold."""

    node_selector: dict | None
    terms: tuple[dict, ...] | None  # None: no required node affinity; (): one that selects nothing

    @classmethod
    def of(cls, spec: dict) -> RequiredNodeAffinity:
        required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                    .get("requiredDuringSchedulingIgnoredDuringExecution"))
        terms = None if required is None else tuple(required.get("nodeSelectorTerms") or ())
        return cls(spec.get("nodeSelector") or None, terms)

    @property
    def empty(self) -> bool:
        return self.node_selector is None and self.terms is None

    def matches(self, labels: dict, name: str) -> bool:
        if self.node_selector is not None:
            for key, value in self.node_selector.items():
                if labels.get(key) != value:
                    return False
        if self.terms is not None:
            return any(term_matches(t, labels, name) for t in self.terms)
        return True


# pod affinity terms

@dataclass(frozen=True, slots=True)
class AffinityTerm:
    namespaces: frozenset[str]
    selector: Selector | None  # None selects no pod
    topology_key: str
    namespace_selector: Selector | None  # None: only `namespaces`; () selects every namespace

    def matches(self, namespace: str, labels: dict, namespace_labels: dict | None) -> bool:
        """Whether a pod (its namespace and labels) is one this term is about; namespace_labels are those of
        the pod's namespace, None where the term's selector was already resolved into `namespaces`."""
        if namespace not in self.namespaces and not (
                self.namespace_selector is not None and matches(self.namespace_selector, namespace_labels or {})):
            return False
        return matches(self.selector, labels)

    def resolved(self, names: frozenset[str]) -> AffinityTerm:
        """This term with its (non-empty) namespace selector replaced by the namespaces it selects now."""
        return AffinityTerm(self.namespaces | names, self.selector, self.topology_key, None)


@dataclass(frozen=True, slots=True)
class WeightedAffinityTerm:
    term: AffinityTerm
    weight: int


def _selector(obj: dict | None) -> Selector | None:
    try:
        return from_label_selector(obj)
    except SelectorError:
        return None


def affinity_term(namespace: str, term: dict) -> AffinityTerm:
    names = term.get("namespaces") or ()
    ns_selector = term.get("namespaceSelector")
    namespaces = frozenset(names) if names or ns_selector is not None else frozenset((namespace,))
    return AffinityTerm(namespaces, _selector(term.get("labelSelector")), term.get("topologyKey", ""),
                        _selector(ns_selector) if ns_selector is not None else None)


def affinity_terms(namespace: str, terms: list | None) -> tuple[AffinityTerm, ...]:
    return tuple(affinity_term(namespace, t) for t in terms or ())


def weighted_terms(namespace: str, terms: list | None) -> tuple[WeightedAffinityTerm, ...]:
    return tuple(WeightedAffinityTerm(affinity_term(namespace, t.get("podAffinityTerm") or {}), t.get("weight", 0))
                 for t in terms or () if t.get("weight"))
