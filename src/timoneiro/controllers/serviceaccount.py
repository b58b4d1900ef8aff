"""The service accounts controller: every active namespace has a "default" ServiceAccount, made again if
it is deleted (pods that name no service account run as it)."""

from __future__ import annotations

from timoneiro.client import ApiError, Resource
from timoneiro.client.resources import NAMESPACES, SERVICE_ACCOUNTS
from timoneiro.controllers.base import Controller

DEFAULT = "default"


def namespace_active(namespace: dict | None) -> bool:
    return namespace is not None and not namespace["metadata"].get("deletionTimestamp") and \
        (namespace.get("status") or {}).get("phase", "Active") == "Active"


async def create_unless_present(client, resource: Resource, body: dict) -> None:
    """Create, taking "already there" and "its namespace is gone or going" for done."""
    try:
        await client.create(resource, body)
    except ApiError as e:
        if e.code in (404, 409) or (e.code == 403 and e.has_cause("NamespaceTerminating")):
            return
        raise


class ServiceAccountsController(Controller):
    name = "serviceaccount"
    service_account = "service-account-controller"
    workers = 3

    def __init__(self, client, informers) -> None:
        super().__init__(client, informers)
        self.namespaces = informers.informer(NAMESPACES)
        self.namespaces.add_handler(on_add=self.enqueue, on_update=lambda _old, new: self.enqueue(new))
        self.accounts = informers.informer(SERVICE_ACCOUNTS)
        self.accounts.add_handler(on_delete=self.account_deleted)

    def account_deleted(self, account: dict) -> None:
        if account["metadata"]["name"] == DEFAULT:
            self.queue.add(account["metadata"]["namespace"])

    async def sync(self, key: str) -> None:
        if not namespace_active(self.namespaces.store.get(key)) or self.accounts.store.get(f"{key}/{DEFAULT}"):
            return
        await create_unless_present(self.client, SERVICE_ACCOUNTS, {
            "apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": DEFAULT, "namespace": key}})
