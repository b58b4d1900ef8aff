"""The root CA publisher: a "kube-root-ca.crt" ConfigMap in every namespace holding, under "ca.crt", the
CA that signs the API server's serving certificate, so that pods can verify kubernetes.default.svc.

The CA published is the one the controller manager itself trusts for the API server. With none (a server
spoken to over plain http) there is nothing true to publish, and the publisher does nothing.
"""

from __future__ import annotations

from pathlib import Path

from timoneiro.client.resources import CONFIGMAPS, NAMESPACES
from timoneiro.controllers.base import Controller
from timoneiro.controllers.serviceaccount import create_unless_present, namespace_active

NAME = "kube-root-ca.crt"
DESCRIPTION_ANNOTATION = "kubernetes.io/description"
DESCRIPTION = ("Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints "
               "such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across "
               "distributions of Kubernetes clusters.")


def cluster_ca(config) -> str | None:
    """The PEM bundle the client verifies the API server with, if it has one."""
    if config.ca_data:
        return config.ca_data.decode()
    if config.ca_file:
        return Path(config.ca_file).read_text()
    return None


class RootCAPublisher(Controller):
    name = "root-ca-cert-publisher"
    service_account = "root-ca-cert-publisher"
    workers = 3

    def __init__(self, client, informers) -> None:
        super().__init__(client, informers)
        self.ca = cluster_ca(client.config)
        if self.ca is None:
            return
        self.namespaces = informers.informer(NAMESPACES)
        self.namespaces.add_handler(on_add=self.enqueue, on_update=lambda _old, new: self.enqueue(new))
        self.configmaps = informers.informer(CONFIGMAPS)
        self.configmaps.add_handler(on_update=lambda _old, new: self.configmap_changed(new),
                                    on_delete=self.configmap_changed)

    def configmap_changed(self, cm: dict) -> None:
        if cm["metadata"]["name"] == NAME:
            self.queue.add(cm["metadata"]["namespace"])

    async def run(self) -> None:
        if self.ca is not None:
            await super().run()

    async def sync(self, key: str) -> None:
        if not namespace_active(self.namespaces.store.get(key)):
            return
        data = {"ca.crt": self.ca}
        cm = self.configmaps.store.get(f"{key}/{NAME}")
        if cm is None:
            await create_unless_present(self.client, CONFIGMAPS, {
                "apiVersion": "v1", "kind": "ConfigMap", "data": data,
                "metadata": {"name": NAME, "namespace": key, "annotations": {DESCRIPTION_ANNOTATION: DESCRIPTION}}})
            return
        annotations = cm["metadata"].get("annotations") or {}
        if cm.get("data") == data and annotations.get(DESCRIPTION_ANNOTATION):
            return
        body = {**cm, "data": data,
                "metadata": {**cm["metadata"], "annotations": {**annotations, DESCRIPTION_ANNOTATION: DESCRIPTION}}}
        await self.client.update(CONFIGMAPS, body)
