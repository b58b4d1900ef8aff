"""Per-controller credentials, as kube-controller-manager runs with --use-service-account-credentials (as
kubeadm runs it): the manager keeps its own identity for its informers and its Lease, and each controller
acts as a ServiceAccount of kube-system named for it (system:serviceaccount:kube-system:replicaset-controller
...), which RBAC's bootstrap policy grants just what that controller needs.

A controller's client gets its token through TokenRequest when it first needs one, making the account if
it is missing, and a new one when 80% of the token's life is over or when the server refused it (the
account was deleted and made again): upstream's dynamic client builder and its cached token source."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from timoneiro.client import ApiError, Client, ClientConfig
from timoneiro.client.resources import SERVICE_ACCOUNTS
from timoneiro.controllers.clock import Clock

NAMESPACE = "kube-system"
EXPIRATION_SECONDS = 3600
LEEWAY = 0.2  # of a token's life left when it is renewed
MIN_LIFETIME = 600.0  # a shorter answered life means clocks disagree: count on the minimum TokenRequest gives


class ServiceAccountToken:
    """A TokenSource for one kube-system ServiceAccount, obtained with the manager's client."""

    def __init__(self, client: Client, name: str, namespace: str = NAMESPACE, clock: Clock | None = None) -> None:
        self.client = client
        self.name = name
        self.namespace = namespace
        self.clock = clock or Clock()
        self._token: str | None = None
        self._renew_at = datetime.min.replace(tzinfo=UTC)
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        if self._stale():
            async with self._lock:  # one request for a new token, however many requests wait for it
                if self._stale():
                    await self._renew()
        assert self._token is not None
        return self._token

    def _stale(self) -> bool:
        return self._token is None or self.clock.now() >= self._renew_at

    def reset(self) -> None:
        self._token = None

    async def _renew(self) -> None:
        await self._ensure_account()
        answer = await self.client.request("POST", SERVICE_ACCOUNTS.path(self.namespace, self.name, "token"), body={
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"expirationSeconds": EXPIRATION_SECONDS}})
        now = self.clock.now()
        expires = datetime.fromisoformat(answer["status"]["expirationTimestamp"].replace("Z", "+00:00"))
        lifetime = max((expires - now).total_seconds(), MIN_LIFETIME)
        self._token = answer["status"]["token"]
        self._renew_at = now + timedelta(seconds=lifetime * (1 - LEEWAY))

    async def _ensure_account(self) -> None:
        try:
            await self.client.get(SERVICE_ACCOUNTS, self.name, self.namespace)
        except ApiError as e:
            if e.code != 404:
                raise
            try:
                await self.client.create(SERVICE_ACCOUNTS, {"metadata": {"name": self.name}}, self.namespace)
            except ApiError as exists:
                if exists.code != 409:
                    raise


class Credentials:
    """The clients of a manager's controllers: one per ServiceAccount (controllers that share an account,
    as the node lifecycle and taint eviction controllers share node-controller, share its client)."""

    def __init__(self, manager_client: Client) -> None:
        self.manager_client = manager_client
        self._clients: dict[str, Client] = {}

    def client_for(self, service_account: str) -> Client:
        """The manager's own client if the controller names no account, else one that authenticates with
        the account's tokens only: the manager's server and CA, no client certificate, and upstream's user
        agent suffix naming the account."""
        if not service_account:
            return self.manager_client
        client = self._clients.get(service_account)
        if client is None:
            base = self.manager_client.config
            config = ClientConfig(
                server=base.server, ca_data=base.ca_data, ca_file=base.ca_file,
                insecure_skip_tls_verify=base.insecure_skip_tls_verify, namespace=base.namespace,
                user_agent=f"{base.user_agent}/system:serviceaccount:{NAMESPACE}:{service_account}",
                timeout=base.timeout, token_source=ServiceAccountToken(self.manager_client, service_account))
            client = self._clients[service_account] = Client(config)
        return client

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()
