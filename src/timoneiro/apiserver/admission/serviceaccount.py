"""ServiceAccount admission: every new pod runs as a ServiceAccount that exists (`default` unless it names
one), and unless automounting is off (the pod's automountServiceAccountToken, else the account's) gets
upstream's projected `kube-api-access-XXXXX` volume (a bound token, the cluster CA, its namespace) mounted
read-only at /var/run/secrets/kubernetes.io/serviceaccount in each of its containers. Mirror pods are left
alone but may not reference accounts, secrets or tokens.

Upstream waits a little for a namespace's `default` account, which a controller makes after the namespace:
it looks it up ten times 100-200ms apart before refusing the pod. A hook that waits must be asynchronous,
and those run after validation here: so the mutating hook does the work when the account is already known
(nearly always), and the asynchronous one waits for it if need be and completes the same, idempotent,
mutation before refusing or admitting the pod."""

from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING

import orjson

from timoneiro.api.kinds import Kind
from timoneiro.apiserver import errors
from timoneiro.apiserver.authn.serviceaccount import WARN_ONLY_EXPIRATION
from timoneiro.apiserver.generic import Context
from timoneiro.apiserver.meta import generate_name

if TYPE_CHECKING:
    from timoneiro.apiserver.generic import GenericStore
    from timoneiro.storage.cache import WatchCache

DEFAULT_ACCOUNT = "default"
VOLUME_PREFIX = "kube-api-access-"
MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
ENFORCE_MOUNTABLE_SECRETS = "kubernetes.io/enforce-mountable-secrets"
DEFAULT_LOOKUPS = 10
TRUE = ("1", "t", "T", "TRUE", "true", "True")  # Go's strconv.ParseBool
CONTAINER_KINDS = (("initContainers", "init container"), ("containers", "container"))
# volume sources that name a secret in a `secretRef` (upstream's VisitPodSecretNames)
SECRET_REF_SOURCES = ("cephfs", "cinder", "flexVolume", "rbd", "scaleIO", "iscsi", "storageos")


def token_volume_source() -> dict:
    """The projected volume upstream's admission adds (defaultMode set explicitly, as upstream does)."""
    return {"sources": [
        {"serviceAccountToken": {"expirationSeconds": WARN_ONLY_EXPIRATION, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace",
                                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
    ], "defaultMode": 420}


def _pod_create(ctx: Context, kind: Kind, old: dict | None) -> bool:
    return old is None and not kind.group and kind.plural == "pods" and not ctx.subresource


class ServiceAccountAdmission:
    def __init__(self, cache: WatchCache) -> None:
        self.cache = cache

    def install(self, generic: GenericStore) -> None:
        generic.mutators.append(self.admit)
        generic.async_validators.append(self.validate)

    def admit(self, ctx: Context, kind: Kind, new: dict, old: dict | None) -> None:
        if not _pod_create(ctx, kind, old):
            return
        spec = new.setdefault("spec", {})
        if MIRROR_ANNOTATION in (new["metadata"].get("annotations") or {}):
            self._check_mirror(kind, new)
            return
        # the deprecated `serviceAccount` is an alias that v1 clients are given back (upstream's conversion)
        spec["serviceAccountName"] = spec.get("serviceAccountName") or spec.get("serviceAccount") or DEFAULT_ACCOUNT
        spec["serviceAccount"] = spec["serviceAccountName"]
        namespace, name = ctx.namespace or "", spec["serviceAccountName"]
        account = self._account(namespace, name)
        if account is not None:
            mutate(new, account)
        elif name != DEFAULT_ACCOUNT and self.cache.rev >= self.cache.store.revision:
            # surely missing: refused now, as upstream refuses it while mutating (the rest is left to validate)
            raise _missing(kind, new, namespace, name)

    async def validate(self, ctx: Context, kind: Kind, new: dict, old: dict | None) -> None:
        if not _pod_create(ctx, kind, old) or MIRROR_ANNOTATION in (new["metadata"].get("annotations") or {}):
            return
        namespace, name = ctx.namespace or "", new["spec"]["serviceAccountName"]
        account = await self._wait_for(namespace, name)
        if account is None:
            raise _missing(kind, new, namespace, name)
        mutate(new, account)
        if (account["metadata"].get("annotations") or {}).get(ENFORCE_MOUNTABLE_SECRETS) in TRUE:
            refused = unmountable_secret(account, new["spec"])
            if refused:
                raise errors.forbidden(kind, new["metadata"].get("name", ""), refused)

    def _account(self, namespace: str, name: str) -> dict | None:
        entry = self.cache.get(f"/core/serviceaccounts/{namespace}/{name}")
        return orjson.loads(entry.data) if entry is not None else None

    async def _wait_for(self, namespace: str, name: str) -> dict | None:
        interval = random.uniform(0.1, 0.2)
        for attempt in range(DEFAULT_LOOKUPS if name == DEFAULT_ACCOUNT else 1):
            if attempt:
                await asyncio.sleep(interval)
            await self.cache.fresh()
            account = self._account(namespace, name)
            if account is not None:
                return account
        return None

    @staticmethod
    def _check_mirror(kind: Kind, pod: dict) -> None:
        spec, name = pod["spec"], pod["metadata"].get("name", "")
        if spec.get("serviceAccountName"):
            raise errors.forbidden(kind, name, "a mirror pod may not reference service accounts")
        if any(True for _ in secret_names(spec)):
            raise errors.forbidden(kind, name, "a mirror pod may not reference secrets")
        for volume in spec.get("volumes") or ():
            if any("serviceAccountToken" in s for s in (volume.get("projected") or {}).get("sources") or ()):
                raise errors.forbidden(kind, name, "a mirror pod may not use ServiceAccountToken volume projections")


def _missing(kind: Kind, pod: dict, namespace: str, name: str) -> errors.APIError:
    return errors.forbidden(kind, pod["metadata"].get("name", ""), f"error looking up service account "
                            f'{namespace}/{name}: serviceaccount "{name}" not found')


def should_automount(account: dict, spec: dict) -> bool:
    """The pod's preference, else the account's, else yes."""
    for preference in (spec.get("automountServiceAccountToken"), account.get("automountServiceAccountToken")):
        if preference is not None:
            return bool(preference)
    return True


def mutate(pod: dict, account: dict) -> None:
    """Mount the account's token if it should be, and take the account's image pull secrets if the pod has
    none. Applying it twice changes nothing more."""
    spec = pod["spec"]
    if should_automount(account, spec):
        mount_token(spec)
    if not spec.get("imagePullSecrets") and account.get("imagePullSecrets"):
        spec["imagePullSecrets"] = [{"name": s["name"]} if s.get("name") else {} for s in account["imagePullSecrets"]]


def mount_token(spec: dict) -> None:
    volumes = spec.get("volumes") or []
    existing = next((v.get("name") for v in volumes if (v.get("name") or "").startswith(VOLUME_PREFIX)), None)
    name = existing or generate_name(VOLUME_PREFIX)
    needed = False
    for key, _ in CONTAINER_KINDS:
        for container in spec.get(key) or ():
            mounts = container.get("volumeMounts") or []
            if any(m.get("mountPath") == MOUNT_PATH for m in mounts):
                continue  # a mount of the pod's own at that path wins
            container["volumeMounts"] = [*mounts, {"name": name, "readOnly": True, "mountPath": MOUNT_PATH}]
            needed = True
    if needed and existing is None:
        spec["volumes"] = [*volumes, {"name": name, "projected": token_volume_source()}]


def secret_names(spec: dict):
    """Every secret a pod spec references (upstream's VisitPodSecretNames over all containers)."""
    for ref in spec.get("imagePullSecrets") or ():
        yield ref.get("name", "")
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(key) or ():
            for source in container.get("envFrom") or ():
                if source.get("secretRef"):
                    yield source["secretRef"].get("name", "")
            for env in container.get("env") or ():
                if ((env.get("valueFrom") or {}).get("secretKeyRef")):
                    yield env["valueFrom"]["secretKeyRef"].get("name", "")
    for volume in spec.get("volumes") or ():
        if volume.get("secret"):
            yield volume["secret"].get("secretName", "")
        if volume.get("azureFile"):
            yield volume["azureFile"].get("secretName", "")
        if (volume.get("csi") or {}).get("nodePublishSecretRef"):
            yield volume["csi"]["nodePublishSecretRef"].get("name", "")
        for source in (volume.get("projected") or {}).get("sources") or ():
            if source.get("secret"):
                yield source["secret"].get("name", "")
        for plugin in SECRET_REF_SOURCES:
            if (volume.get(plugin) or {}).get("secretRef"):
                yield volume[plugin]["secretRef"].get("name", "")


def unmountable_secret(account: dict, spec: dict) -> str:
    """Why a pod may not run as an account that limits it to the secrets it lists, or ""."""
    name = account["metadata"]["name"]
    mountable = {s.get("name") for s in account.get("secrets") or ()}
    why = f"is not allowed because service account {name} does not reference that secret"
    for volume in spec.get("volumes") or ():
        secret = (volume.get("secret") or {}).get("secretName")
        if volume.get("secret") is not None and secret not in mountable:
            return f'volume with secret.secretName="{secret}" {why}'
    for key, what in CONTAINER_KINDS:
        for container in spec.get(key) or ():
            for env in container.get("env") or ():
                ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                if ref and ref.get("name") not in mountable:
                    return (f"{what} {container.get('name')} with envVar {env.get('name')} referencing "
                            f'secret.secretName="{ref.get("name")}" {why}')
            for source in container.get("envFrom") or ():
                ref = source.get("secretRef")
                if ref and ref.get("name") not in mountable:
                    return f'{what} {container.get("name")} with envFrom referencing secret.secretName="{ref.get("name")}" {why}'
    pull_secrets = {s.get("name") for s in account.get("imagePullSecrets") or ()}
    for i, ref in enumerate(spec.get("imagePullSecrets") or ()):
        if ref.get("name") not in pull_secrets:
            return (f'imagePullSecrets[{i}].name="{ref.get("name")}" is not allowed because service account {name} '
                    "does not reference that imagePullSecret")
    return ""
