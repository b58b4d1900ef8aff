"""The garbage collector's picture of ownership: every watched object by uid, with its owners and dependents.

As upstream's GraphBuilder, informer events update the graph and say which nodes need a look from the
collector's workers: an owner that is gone (its dependents), an owner deleted in the foreground (its
dependents and itself), an owner deleted with the orphan finalizer. An owner named by a dependent but not
seen yet is a "virtual" node until an informer shows it or a worker proves it absent. Everything here runs
in the event loop's one thread, so nothing is locked.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"


@dataclass(frozen=True)
class Identity:
    """Where an object lives and which one it is; namespace is "" for cluster-scoped objects."""

    api_version: str
    kind: str
    name: str
    uid: str
    namespace: str = ""

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]


def owner_identity(ref: dict, namespace: str) -> Identity:
    """An owner as a dependent in `namespace` names it (a cluster-scoped owner's namespace is fixed once seen)."""
    return Identity(ref.get("apiVersion", ""), ref.get("kind", ""), ref.get("name", ""), ref.get("uid", ""),
                    namespace)


def matches_coordinates(ref: dict, owner: Identity) -> bool:
    """Whether an ownerReference names this object: same uid, name, kind and group (any version)."""
    return (ref.get("uid") == owner.uid and ref.get("name") == owner.name and ref.get("kind") == owner.kind
            and ref.get("apiVersion", "").rpartition("/")[0] == owner.group)


def identity_of(api_version: str, kind: str, obj: dict) -> Identity:
    m = obj["metadata"]
    return Identity(api_version, kind, m.get("name", ""), m.get("uid", ""), m.get("namespace") or "")


@dataclass(eq=False)
class Node:
    identity: Identity
    owners: list[dict] = field(default_factory=list)  # the object's ownerReferences
    dependents: set[str] = field(default_factory=set)  # uids
    observed: bool = True  # False: a virtual node, known only from a dependent's reference
    being_deleted: bool = False
    deleting_dependents: bool = False  # being deleted in the foreground

    @property
    def uid(self) -> str:
        return self.identity.uid


class AbsentOwners:
    """Owners proved absent, by uid and coordinates, so that their many dependents cost one lookup (an LRU)."""

    def __init__(self, size: int = 500) -> None:
        self.size = size
        self._items: OrderedDict[Identity, None] = OrderedDict()

    def add(self, identity: Identity) -> None:
        self._items[identity] = None
        self._items.move_to_end(identity)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def has(self, identity: Identity) -> bool:
        return identity in self._items


def starts_deletion_with(old: dict | None, new: dict, finalizer: str) -> bool:
    """The object is now being deleted with the finalizer, and was not before."""
    def holds(obj: dict | None) -> bool:
        m = (obj or {}).get("metadata") or {}
        return bool(m.get("deletionTimestamp")) and finalizer in (m.get("finalizers") or ())
    return holds(new) and not holds(old)


class Graph:
    """Nodes by uid; to_delete and to_orphan receive uids that the collector's workers should look at."""

    def __init__(self, to_delete: Callable[[str], None], to_orphan: Callable[[str], None],
                 to_recheck: Callable[[str], None]) -> None:
        self.nodes: dict[str, Node] = {}
        self.absent = AbsentOwners()
        self.to_delete = to_delete
        self.to_orphan = to_orphan
        self.to_recheck = to_recheck  # later, with back-off: a virtual node given another identity

    def dependents(self, node: Node) -> list[Node]:
        return [self.nodes[uid] for uid in node.dependents if uid in self.nodes]

    def blocking_dependents(self, node: Node) -> list[Node]:
        """Dependents whose reference to node has blockOwnerDeletion: a foreground deletion waits for them."""
        return [d for d in self.dependents(node)
                if any(r.get("uid") == node.uid and r.get("blockOwnerDeletion") for r in d.owners)]

    # informer events

    def observe(self, api_version: str, kind: str, old: dict | None, new: dict) -> None:
        """An add or update event; an "update" to another uid (recreated while the watch was down, seen on a
        relist) is the old object's deletion and the new one's addition."""
        if old is not None and old["metadata"].get("uid") != new["metadata"].get("uid"):
            self.forget(old)
            old = None
        identity = identity_of(api_version, kind, new)
        m = new["metadata"]
        node = self.nodes.get(identity.uid)
        if node is not None and not node.observed:
            self._replace_virtual(node, identity)
        if node is None:
            node = Node(identity, list(m.get("ownerReferences") or ()),
                        being_deleted=bool(m.get("deletionTimestamp")),
                        deleting_dependents=bool(m.get("deletionTimestamp"))
                        and FOREGROUND in (m.get("finalizers") or ()))
            self.nodes[node.uid] = node
            self._add_to_owners(node, node.owners)
            if any(o.deleting_dependents for o in map(self.nodes.get, (r.get("uid") for r in node.owners)) if o):
                # first seen after its owner's foreground deletion began (an informer's first list can come
                # after both): it is one of the dependents that deletion waits on or removes
                self.to_delete(node.uid)
        else:
            self._update_owners(node, list(m.get("ownerReferences") or ()))
            node.being_deleted = node.being_deleted or bool(m.get("deletionTimestamp"))
        self._transitions(old, new, node)

    def forget(self, obj: dict) -> None:
        """A delete event seen by an informer."""
        node = self.nodes.get(obj["metadata"].get("uid", ""))
        if node is not None:
            self._remove(node)

    def virtual_delete(self, gone: Identity) -> None:
        """A worker found no object with this uid at these coordinates."""
        node = self.nodes.get(gone.uid)
        if node is None:
            return
        matching, other = self._partition(node, gone)
        if node.observed and node.identity != gone:
            # the object is real (an informer saw it); only dependents that name it wrongly lost their owner
            self._absent(gone, matching)
            return
        if not node.observed and other:
            # dependents disagree on where this owner is: keep looking under another of their names
            self._absent(gone, matching)
            if node.identity == gone:
                node.identity = owner_identity(next(r for d in other for r in d.owners if r.get("uid") == gone.uid),
                                               other[0].identity.namespace)
                self.to_recheck(node.uid)
            return
        self._remove(node)

    # internals

    def _replace_virtual(self, node: Node, observed: Identity) -> None:
        """A virtual node is seen at last; dependents that named it by other coordinates get a look."""
        if observed != node.identity:
            for dep in self._partition(node, observed)[1]:
                self.to_delete(dep.uid)
            node.identity = observed
        node.observed = True

    def _partition(self, node: Node, owner: Identity) -> tuple[list[Node], list[Node]]:
        """Dependents whose reference matches the owner's coordinates, and those whose reference does not
        (a dependent in another namespace than a namespaced owner never matches)."""
        matching, other = [], []
        for dep in self.dependents(node):
            refs = [r for r in dep.owners if r.get("uid") == owner.uid]
            if owner.namespace and dep.identity.namespace != owner.namespace:
                other.append(dep)
                continue
            if any(matches_coordinates(r, owner) for r in refs):
                matching.append(dep)
            if any(not matches_coordinates(r, owner) for r in refs):
                other.append(dep)
        return matching, other

    def _absent(self, gone: Identity, dependents: list[Node]) -> None:
        if dependents:
            self.absent.add(gone)
        for dep in dependents:
            self.to_delete(dep.uid)

    def _add_to_owners(self, node: Node, refs: list[dict]) -> None:
        for ref in refs:
            owner = self.nodes.get(ref.get("uid", ""))
            if owner is None:
                owner = Node(owner_identity(ref, node.identity.namespace), observed=False)
                self.nodes[owner.uid] = owner
                self.to_delete(owner.uid)  # find out whether it exists
            elif owner.observed and (not matches_coordinates(ref, owner.identity) or (
                    owner.identity.namespace and owner.identity.namespace != node.identity.namespace)):
                self.to_delete(node.uid)  # a reference that does not name the real owner
            owner.dependents.add(node.uid)

    def _update_owners(self, node: Node, refs: list[dict]) -> None:
        old = {r.get("uid"): r for r in node.owners}
        new = {r.get("uid"): r for r in refs}
        if old == new:
            return
        for uid, ref in old.items():
            # an owner waiting for this dependent's deletion may go once the dependent stops blocking it
            unblocked = ref.get("blockOwnerDeletion") and not (new.get(uid) or {}).get("blockOwnerDeletion")
            if unblocked and uid in self.nodes:
                self.to_delete(uid)
        node.owners = refs
        self._add_to_owners(node, [r for uid, r in new.items() if uid not in old])
        for uid in old.keys() - new.keys():
            owner = self.nodes.get(uid)
            if owner is not None:
                owner.dependents.discard(node.uid)

    def _transitions(self, old: dict | None, new: dict, node: Node) -> None:
        if starts_deletion_with(old, new, ORPHAN):
            self.to_orphan(node.uid)
            return
        if starts_deletion_with(old, new, FOREGROUND):
            node.deleting_dependents = True
            for uid in node.dependents:
                self.to_delete(uid)
            self.to_delete(node.uid)

    def _remove(self, node: Node) -> None:
        del self.nodes[node.uid]
        for ref in node.owners:
            owner = self.nodes.get(ref.get("uid", ""))
            if owner is not None:
                owner.dependents.discard(node.uid)
        if node.dependents:
            self.absent.add(node.identity)
        for uid in node.dependents:
            self.to_delete(uid)
        for ref in node.owners:
            owner = self.nodes.get(ref.get("uid", ""))
            if owner is not None and owner.deleting_dependents:
                self.to_delete(owner.uid)  # its foreground deletion may be able to finish now
