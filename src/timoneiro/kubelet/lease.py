"""The node's heartbeat: its Lease in kube-node-lease, renewed every quarter of its duration (10s of 40s),
owned by the Node so that it goes with it. The node lifecycle controller reads renewTime."""

from __future__ import annotations

import asyncio
import logging

from timoneiro.client import ApiError, Client, TransportError
from timoneiro.client.resources import LEASES
from timoneiro.kubelet.times import rfc3339_micro

log = logging.getLogger("timoneiro.kubelet.lease")
NAMESPACE = "kube-node-lease"
UPDATE_RETRIES = 5  # as upstream's lease controller: conflicts re-read the lease and try again


class NodeLease:
    def __init__(self, client: Client, node_name: str, duration: int = 40, *, retry_initial: float = 0.2,
                 retry_max: float = 7.0) -> None:
        self.client = client
        self.node_name = node_name
        self.duration = duration
        self.interval = duration / 4
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.node_uid: str | None = None
        self._lease: dict | None = None  # the lease as the last write answered it

    async def renew(self) -> dict:
        """Write renewTime = now, creating the lease if there is none."""
        for _ in range(UPDATE_RETRIES):
            try:
                if self._lease is None:
                    self._lease = await self._create()
                    if self._lease is not None:
                        return self._lease
                    self._lease = await self.client.get(LEASES, self.node_name, NAMESPACE)
                self._lease = await self.client.update(LEASES, self._renewed(self._lease))
                return self._lease
            except ApiError as e:
                if e.code not in (404, 409):
                    raise
                self._lease = None  # gone or changed under us: read it again
        raise ApiError({"code": 409, "reason": "Conflict",
                        "message": f"lease {self.node_name}: {UPDATE_RETRIES} conflicting updates in a row"})

    async def run(self) -> None:
        """Renew until cancelled; failures are retried sooner, with back-off up to the renew interval."""
        failures = 0
        while True:
            try:
                await self.renew()
                failures = 0
                delay = self.interval
            except (ApiError, TransportError) as e:
                failures += 1
                delay = min(self.retry_initial * 2 ** (failures - 1), self.retry_max, self.interval)
                log.warning("renewing the lease of node %s failed: %s; again in %.1fs", self.node_name, e, delay)
            await asyncio.sleep(delay)

    async def _create(self) -> dict | None:
        """The lease, renewed now; None if it exists already."""
        try:
            return await self.client.create(LEASES, self._renewed({
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.node_name, "namespace": NAMESPACE}}), NAMESPACE)
        except ApiError as e:
            if e.code != 409:
                raise
        return None

    def _renewed(self, lease: dict) -> dict:
        meta = dict(lease["metadata"])
        if self.node_uid and not meta.get("ownerReferences"):
            meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": self.node_name,
                                        "uid": self.node_uid}]
        spec = {**(lease.get("spec") or {}), "holderIdentity": self.node_name,
                "leaseDurationSeconds": self.duration, "renewTime": rfc3339_micro()}
        return {**lease, "metadata": meta, "spec": spec}
