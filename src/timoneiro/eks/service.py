"""The service's state and machinery: its account and users, the clusters' documents, their control planes,
and the background work (a cluster coming up, a node group scaling) that outlives the call that began it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine

from timoneiro.cluster.names import SIMULATED
from timoneiro.eks.controlplane import ControlPlane
from timoneiro.eks.errors import not_found
from timoneiro.eks.iam import IAM
from timoneiro.eks.state import Store

DEFAULT_REGION = "us-east-1"
Hook = Callable[["Eks"], Awaitable[None]]
# run, in order of registration, when the service starts (after the control planes of clusters that were
# running are back) and when it stops (before they are stopped): node groups resume or stop their nodes
STARTUP: list[Hook] = []
SHUTDOWN: list[Hook] = []

log = logging.getLogger("timoneiro.eks")


class Eks:
    def __init__(self, data_dir: str, region: str = DEFAULT_REGION, node_runtime: str = SIMULATED) -> None:
        """`node_runtime`: the container runtime of node groups whose labels do not name one in
        timoneiro.io/container-runtime (names.RUNTIMES)."""
        self.data_dir, self.region, self.node_runtime = data_dir, region, node_runtime
        self.iam = IAM(data_dir)
        self.store = Store(data_dir)
        self.url: str | None = None  # the service's own base URL, once it listens (clusters call back to it)
        self._tasks: set[asyncio.Task] = set()

    @property
    def account(self) -> str:
        return self.iam.account

    # clusters

    def doc(self, name: str) -> dict:
        """A cluster's document (see state.new_doc), or EKS's ResourceNotFoundException."""
        doc = self.store.clusters.get(name)
        if doc is None:
            raise not_found(f"No cluster found for name: {name}.", clusterName=name)
        return doc

    def control_plane(self, name: str) -> ControlPlane:
        doc = self.doc(name)
        return ControlPlane(self.store.cluster_dir(name), name, doc["cluster"]["_port"])

    def arn(self, resource: str) -> str:
        """arn:aws:eks:REGION:ACCOUNT:RESOURCE, e.g. resource "cluster/NAME"."""
        return f"arn:aws:eks:{self.region}:{self.account}:{resource}"

    # background work

    def spawn(self, work: Coroutine[None, None, None], what: str) -> asyncio.Task:
        """Run `work` after the call that began it has answered; a failure is logged (the work itself records
        what the API should report, e.g. a FAILED status)."""
        task = asyncio.get_running_loop().create_task(work, name=what)
        self._tasks.add(task)

        def done(t: asyncio.Task) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("%s failed", what, exc_info=t.exception())

        task.add_done_callback(done)
        return task

    async def start(self) -> None:
        """Bring back what was running before a restart: every cluster's control plane that should run (those
        still being created or deleted go on in the background), then whatever the hooks resume."""
        from timoneiro.eks.ops.clusters import resume

        await resume(self)
        for hook in STARTUP:
            await hook(self)

    async def stop(self) -> None:
        """Stop the background work, then the nodes (hooks), then the control planes; the documents stay,
        so that the next start finds everything again."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        for hook in SHUTDOWN:
            with contextlib.suppress(Exception):
                await hook(self)
        await asyncio.gather(*(self.control_plane(name).stop() for name in list(self.store.clusters)),
                             return_exceptions=True)
