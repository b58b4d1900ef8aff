"""Leader election on a coordination.k8s.io Lease, as client-go's leaderelection package does it for
kube-controller-manager and kube-scheduler: several instances may run, the one holding the Lease acts, and
another takes over once the holder stops renewing it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from timoneiro.client import ApiError, Client, TransportError
from timoneiro.client.resources import LEASES

log = logging.getLogger("timoneiro.client.leaderelection")


def _micro_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(self, client: Client, name: str, namespace: str = "kube-system", *, identity: str | None = None,
                 lease_seconds: int = 15, renew_deadline: float = 10.0, retry_period: float = 2.0) -> None:
        self.client = client
        self.name = name
        self.namespace = namespace
        self.identity = identity or f"{socket.gethostname()}_{uuid.uuid4()}"
        self.lease_seconds = lease_seconds
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self._observed: tuple[str, str] | None = None  # (holder, renewTime) last seen
        self._observed_at = 0.0  # when it was seen: expiry is judged by our clock, never by the holder's

    async def acquire(self) -> None:
        """Return once this manager holds the Lease."""
        while not await self._try():
            await asyncio.sleep(self.retry_period)
        log.info("%s acquired lease %s/%s", self.identity, self.namespace, self.name)

    async def keep(self, on_lost: Callable[[], object]) -> None:
        """Renew every retry period; call on_lost once renewing has failed for the renew deadline."""
        last = time.monotonic()
        while True:
            await asyncio.sleep(self.retry_period)
            try:
                renewed = await self._try()
            except Exception:  # the API server may be briefly unreachable: judged by the deadline below
                log.exception("renewing lease %s/%s failed", self.namespace, self.name)
                renewed = False
            if renewed:
                last = time.monotonic()
            elif time.monotonic() - last > self.renew_deadline:
                log.error("%s lost lease %s/%s", self.identity, self.namespace, self.name)
                on_lost()
                return

    async def release(self) -> None:
        """Give the Lease up at once (on a clean stop), so that a standby need not wait for it to expire; a
        server that cannot be reached lets it expire instead."""
        with contextlib.suppress(ApiError, TransportError):
            lease = await self.client.get(LEASES, self.name, self.namespace)
            spec = lease.get("spec") or {}
            if spec.get("holderIdentity") == self.identity:
                spec.update(holderIdentity="", leaseDurationSeconds=1, renewTime=_micro_now())
                lease["spec"] = spec
                await self.client.update(LEASES, lease)

    async def _try(self) -> bool:
        """One attempt to take or renew the Lease; False when another holder's Lease is still live."""
        now = _micro_now()
        try:
            lease = await self.client.get(LEASES, self.name, self.namespace)
        except ApiError as e:
            if e.code != 404:
                raise
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": self.name, "namespace": self.namespace},
                    "spec": {"holderIdentity": self.identity, "leaseDurationSeconds": self.lease_seconds,
                             "acquireTime": now, "renewTime": now, "leaseTransitions": 0}}
            try:
                await self.client.create(LEASES, body, self.namespace)
            except ApiError as err:
                if err.code == 409:
                    return False
                raise
            return True
        spec = lease.setdefault("spec", {})
        holder = spec.get("holderIdentity") or ""
        record = (holder, spec.get("renewTime") or "")
        if record != self._observed:
            self._observed, self._observed_at = record, time.monotonic()
        duration = spec.get("leaseDurationSeconds") or self.lease_seconds
        if holder and holder != self.identity and time.monotonic() < self._observed_at + duration:
            return False
        if holder != self.identity:
            spec["acquireTime"] = now
            spec["leaseTransitions"] = (spec.get("leaseTransitions") or 0) + 1
        spec.update(holderIdentity=self.identity, leaseDurationSeconds=self.lease_seconds, renewTime=now)
        try:
            await self.client.update(LEASES, lease)  # its resourceVersion makes this a compare-and-swap
        except ApiError as e:
            if e.code == 409:
                return False
            raise
        return True
