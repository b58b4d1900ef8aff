"""The controller manager: shared informers and the controllers that use them, in one task group."""

from __future__ import annotations

import asyncio
import contextlib

from timoneiro.client import Client, ClientConfig
from timoneiro.client.informer import InformerFactory, without_managed_fields
from timoneiro.client.leaderelection import LeaderElector
from timoneiro.controllers.base import Controller
from timoneiro.controllers.bootstrapsigner import BootstrapSigner
from timoneiro.controllers.certificates.csrapprover import CSRApprover
from timoneiro.controllers.certificates.csrsigning import CSRSigner
from timoneiro.controllers.certificates.kubeletserving import KubeletServingApprover
from timoneiro.controllers.clusterroleaggregation import ClusterRoleAggregationController
from timoneiro.controllers.credentials import Credentials
from timoneiro.controllers.cronjob import CronJobController
from timoneiro.controllers.daemonset import DaemonSetController
from timoneiro.controllers.deployment import DeploymentController
from timoneiro.controllers.disruption import DisruptionController
from timoneiro.controllers.endpoints import EndpointsController
from timoneiro.controllers.endpointslice import EndpointSliceController, KubernetesEndpointSlice
from timoneiro.controllers.garbagecollector import GarbageCollector
from timoneiro.controllers.job import JobController
from timoneiro.controllers.namespace import NamespaceController
from timoneiro.controllers.nodeipam import NodeIpamController
from timoneiro.controllers.nodelifecycle import NodeLifecycleController
from timoneiro.controllers.podgc import PodGCController
from timoneiro.controllers.replicaset import ReplicaSetController
from timoneiro.controllers.replicationcontroller import ReplicationControllerController
from timoneiro.controllers.resourcequota import ResourceQuotaController
from timoneiro.controllers.rootca import RootCAPublisher
from timoneiro.controllers.serviceaccount import ServiceAccountsController
from timoneiro.controllers.statefulset import StatefulSetController
from timoneiro.controllers.taint_eviction import TaintEvictionController
from timoneiro.controllers.tokencleaner import TokenCleaner
from timoneiro.controllers.ttl_after_finished import TTLAfterFinishedController
from timoneiro.pki.certs import KeyPair

CONTROLLERS: tuple[type[Controller], ...] = (NamespaceController, GarbageCollector, EndpointsController,
                                                EndpointSliceController, KubernetesEndpointSlice,
                                                ServiceAccountsController, RootCAPublisher, NodeLifecycleController,
                                                TaintEvictionController, DisruptionController, PodGCController,
                                                JobController,
                                                TTLAfterFinishedController, CronJobController,
                                                DaemonSetController, StatefulSetController, ReplicaSetController,
                                                ReplicationControllerController, DeploymentController,
                                                ResourceQuotaController, BootstrapSigner, TokenCleaner,
                                                CSRApprover, KubeletServingApprover, CSRSigner,
                                                ClusterRoleAggregationController)


class ControllerManager:
    """Runs the controllers while it holds the kube-controller-manager Lease, so that several managers can
    run and exactly one acts; a manager that loses the Lease stops its controllers."""

    def __init__(self, config: ClientConfig | str, *, identity: str | None = None,
                 lease_seconds: int = 15, retry_period: float = 2.0, cluster_signing: KeyPair | None = None,
                 cluster_cidr: str | None = None) -> None:
        """`cluster_signing`: the CA the CSR signer issues certificates with (kube-controller-manager's
        --cluster-signing-cert-file and key-file); without it no request is signed. `cluster_cidr`: the pod
        network nodes get their ranges from (--cluster-cidr with --allocate-node-cidrs); without it, none."""
        self.client = Client(config)
        self.informers = InformerFactory(self.client, transform=without_managed_fields)  # as kube-controller-manager
        options: dict[type[Controller], dict] = {CSRSigner: {"ca": cluster_signing},
                                                 NodeIpamController: {"cluster_cidr": cluster_cidr}}
        self.credentials = Credentials(self.client)  # each controller acts as its own ServiceAccount
        chosen = CONTROLLERS + ((NodeIpamController,) if cluster_cidr else ())
        self.controllers = [cls(self.credentials.client_for(cls.service_account), self.informers,
                                **options.get(cls, {})) for cls in chosen]
        self.elector = LeaderElector(self.client, "kube-controller-manager", identity=identity,
                                     lease_seconds=lease_seconds, renew_deadline=lease_seconds * 2 / 3,
                                     retry_period=retry_period)
        self._tasks: list[asyncio.Task] = []
        self._stopped = False

    async def start(self) -> None:
        """Return once this manager leads and its controllers run (waiting while another one leads)."""
        await self.elector.acquire()
        self.informers.start()
        await self.informers.wait_for_sync()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(c.run(), name=c.name) for c in self.controllers]
        self._tasks.append(loop.create_task(self.elector.keep(self._lost), name="leader-election"))

    def _lost(self) -> None:
        for c in self.controllers:
            c.queue.shutdown()

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        for c in self.controllers:
            c.queue.shutdown()
        for t in self._tasks:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks = []
        await self.informers.stop()
        await self.elector.release()  # a no-op unless this manager holds the Lease
        await self.credentials.close()
        await self.client.close()
