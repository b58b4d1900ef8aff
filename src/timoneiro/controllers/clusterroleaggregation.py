"""The ClusterRole aggregation controller: a ClusterRole with an aggregationRule has as rules the union of
the rules of the other ClusterRoles its selectors match (in name order, each rule once), so that e.g. a
role labelled rbac.authorization.k8s.io/aggregate-to-view=true extends `view`."""

from __future__ import annotations

from timoneiro.api.validation.meta import selector_matches
from timoneiro.client import ApiError
from timoneiro.client.resources import Resource
from timoneiro.controllers.base import Controller

CLUSTER_ROLES = Resource("rbac.authorization.k8s.io", "v1", "clusterroles", namespaced=False)


def aggregated_rules(role: dict, roles: list[dict]) -> list[dict]:
    rules: list[dict] = []
    for selector in (role.get("aggregationRule") or {}).get("clusterRoleSelectors") or []:
        for other in sorted(roles, key=lambda r: r["metadata"]["name"]):
            if other["metadata"]["name"] == role["metadata"]["name"] or \
                    not selector_matches(selector, other["metadata"].get("labels")):
                continue
            rules += [rule for rule in other.get("rules") or [] if rule not in rules]
    return rules


class ClusterRoleAggregationController(Controller):
    name = "clusterrole-aggregation"
    service_account = "clusterrole-aggregation-controller"

    def __init__(self, client, informers) -> None:
        super().__init__(client, informers)
        self.roles = informers.informer(CLUSTER_ROLES)
        self.roles.add_handler(on_add=self.changed, on_update=lambda _old, new: self.changed(new),
                               on_delete=self.changed)

    def changed(self, _role: dict) -> None:
        """Any ClusterRole may be selected by any aggregated one: look at all of those again."""
        for role in self.roles.store.list():
            if role.get("aggregationRule"):
                self.enqueue(role)

    async def sync(self, key: str) -> None:
        role = self.roles.store.get(key)
        if role is None or not role.get("aggregationRule"):
            return
        rules = aggregated_rules(role, self.roles.store.list())
        if (role.get("rules") or []) == rules:
            return
        # unconditional, as upstream's forced apply: the rules are this controller's to set
        metadata = {k: v for k, v in role["metadata"].items() if k != "resourceVersion"}
        try:
            await self.client.update(CLUSTER_ROLES, {**role, "metadata": metadata, "rules": rules})
        except ApiError as e:
            if e.code != 404:
                raise
