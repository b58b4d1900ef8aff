"""The controller manager: shared informers and the controllers that use them, in one task group."""

from __future__ import annotations

import asyncio
import contextlib

from timoneiro.client import Client, ClientConfig
from timoneiro.client.informer import InformerFactory
from timoneiro.controllers.base import Controller
from timoneiro.controllers.cronjob import CronJobController
from timoneiro.controllers.daemonset import DaemonSetController
from timoneiro.controllers.deployment import DeploymentController
from timoneiro.controllers.disruption import DisruptionController
from timoneiro.controllers.endpoints import EndpointsController
from timoneiro.controllers.endpointslice import EndpointSliceController, KubernetesEndpointSlice
from timoneiro.controllers.garbagecollector import GarbageCollector
from timoneiro.controllers.job import JobController
from timoneiro.controllers.namespace import NamespaceController
from timoneiro.controllers.nodelifecycle import NodeLifecycleController
from timoneiro.controllers.podgc import PodGCController
from timoneiro.controllers.replicaset import ReplicaSetController
from timoneiro.controllers.replicationcontroller import ReplicationControllerController
from timoneiro.controllers.rootca import RootCAPublisher
from timoneiro.controllers.serviceaccount import ServiceAccountsController
from timoneiro.controllers.statefulset import StatefulSetController
from timoneiro.controllers.taint_eviction import TaintEvictionController
from timoneiro.controllers.ttl_after_finished import TTLAfterFinishedController

CONTROLLERS: tuple[type[Controller], ...] = (NamespaceController, GarbageCollector, EndpointsController,
                                                EndpointSliceController, KubernetesEndpointSlice,
                                                ServiceAccountsController, RootCAPublisher, NodeLifecycleController,
                                                TaintEvictionController, DisruptionController, PodGCController,
                                                JobController,
                                                TTLAfterFinishedController, CronJobController,
                                                DaemonSetController, StatefulSetController, ReplicaSetController,
                                                ReplicationControllerController, DeploymentController)


class ControllerManager:
    def __init__(self, config: ClientConfig | str) -> None:
        self.client = Client(config)
        self.informers = InformerFactory(self.client)
        self.controllers = [cls(self.client, self.informers) for cls in CONTROLLERS]
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        self.informers.start()
        await self.informers.wait_for_sync()
        self._tasks = [asyncio.get_running_loop().create_task(c.run(), name=c.name) for c in self.controllers]

    async def stop(self) -> None:
        if not self._tasks and self.client is None:
            return
        for c in self.controllers:
            c.queue.shutdown()
        for t in self._tasks:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks = []
        await self.informers.stop()
        await self.client.close()
