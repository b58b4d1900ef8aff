"""The bootstrap signer (upstream's pkg/controller/bootstrap): keeps on kube-public/cluster-info one detached
JWS signature of its kubeconfig, `jws-kubeconfig-ID`, per bootstrap token that may sign (valid, unexpired,
usage-bootstrap-signing), and none for any other. A joining node that knows a token checks with it that
the cluster-info it read anonymously is the cluster's.

Upstream's controller manager runs it only when asked (`--controllers=*,bootstrapsigner,tokencleaner`);
kubeadm asks, and so every timoneiro cluster runs it."""

from __future__ import annotations

from timoneiro.client import ApiError
from timoneiro.client.resources import CONFIGMAPS, SECRETS
from timoneiro.controllers.clock import Clocked
from timoneiro.pki import bootstrap_token as bt

CLUSTER_INFO_KEY = f"{bt.CLUSTER_INFO_NAMESPACE}/{bt.CLUSTER_INFO}"


def token_secrets(informers):
    """The shared informer of bootstrap token Secrets (by type: the cluster's other Secrets stay out)."""
    return informers.informer(SECRETS, field_selector=f"type={bt.SECRET_TYPE}")


def is_token_secret(secret: dict) -> bool:
    return secret.get("type") == bt.SECRET_TYPE and secret["metadata"].get("namespace") == bt.NAMESPACE


class BootstrapSigner(Clocked):
    name = "bootstrapsigner"
    service_account = "bootstrap-signer"

    def __init__(self, client, informers) -> None:
        super().__init__(client, informers)
        self.configmaps = informers.informer(CONFIGMAPS)
        self.secrets = token_secrets(informers)
        self.configmaps.add_handler(on_add=self._configmap, on_update=lambda _old, new: self._configmap(new))
        self.secrets.add_handler(on_add=self._secret, on_update=lambda _old, new: self._secret(new),
                                 on_delete=self._secret)

    def _configmap(self, cm: dict) -> None:
        if f'{cm["metadata"].get("namespace")}/{cm["metadata"]["name"]}' == CLUSTER_INFO_KEY:
            self.queue.add(CLUSTER_INFO_KEY)

    def _secret(self, secret: dict) -> None:
        if is_token_secret(secret):
            self.queue.add(CLUSTER_INFO_KEY)

    def on_clock_step(self) -> None:
        self.queue.add(CLUSTER_INFO_KEY)

    def signatures(self, content: str) -> dict[str, str]:
        """jws-kubeconfig-ID -> signature, for every token that may sign now (the first Secret of an id)."""
        now = self.clock.now()
        tokens: dict[str, str] = {}
        for secret in self.secrets.store.list():
            token = bt.signing_token(secret, now) if is_token_secret(secret) else None
            if token is not None:
                tokens.setdefault(*token)
        return {bt.JWS_PREFIX + token_id: bt.detached_signature(content, token_id, value)
                for token_id, value in tokens.items()}

    async def sync(self, key: str) -> None:
        cm = self.configmaps.store.get(key)
        content = (cm.get("data") or {}).get(bt.KUBECONFIG_KEY) if cm else None
        if content is None:
            return
        data = {k: v for k, v in cm["data"].items() if not k.startswith(bt.JWS_PREFIX)}
        data.update(self.signatures(content))
        if data == cm["data"]:
            return
        try:
            await self.client.update(CONFIGMAPS, {**cm, "data": data})
        except ApiError as e:
            if e.code not in (404, 409):  # gone, or changed since: the event of that change requeues it
                raise
