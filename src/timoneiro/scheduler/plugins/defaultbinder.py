"""DefaultBinder: bind the pod through the API server's pods/binding subresource."""

from __future__ import annotations

from typing import Any

from timoneiro.client import ApiError, TransportError
from timoneiro.client.resources import PODS
from timoneiro.scheduler.framework import CycleState
from timoneiro.scheduler.podinfo import PodInfo
from timoneiro.scheduler.status import Status, error

NAME = "DefaultBinder"


class DefaultBinder:
    name = NAME

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    async def bind(self, state: CycleState, pod: PodInfo, node: str) -> Status | None:
        body = {"apiVersion": "v1", "kind": "Binding",
                "metadata": {"name": pod.name, "namespace": pod.namespace, "uid": pod.uid},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node}}
        try:
            await self.handle.client.request("POST", PODS.path(pod.namespace, pod.name, "binding"), body=body)
        except ApiError as e:
            return error(e.message, NAME)
        except TransportError as e:
            return error(str(e), NAME)
        return None
