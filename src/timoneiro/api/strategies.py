"""Strategies of the kinds whose create, update or delete differ from the generic ones."""

from __future__ import annotations

import base64

from timoneiro.api.certificates import CertificateSigningRequestStrategy
from timoneiro.api.kinds import Kind, Strategy, _validation


def qos_class(pod: dict) -> str:
    """Guaranteed, Burstable or BestEffort from the containers' requests and limits, as upstream computes."""
    containers = (pod.get("spec") or {}).get("containers") or []
    containers = containers + ((pod.get("spec") or {}).get("initContainers") or [])
    any_set, guaranteed = False, True
    for c in containers:
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        if req or lim:
            any_set = True
        for r in ("cpu", "memory"):
            if r not in lim or req.get(r, lim.get(r)) != lim.get(r):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


class PodStrategy(Strategy):
    def initial_status(self, kind: Kind, obj: dict) -> dict:
        return {"phase": "Pending", "qosClass": qos_class(obj)}

    def prepare_for_create(self, kind: Kind, obj: dict) -> None:
        super().prepare_for_create(kind, obj)
        obj["status"]["qosClass"] = qos_class(obj)

    def grace_period(self, kind: Kind, obj: dict, requested: int | None) -> int:
        """Pods bound to a node linger for the kubelet to stop them; unbound or finished pods go at once."""
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
            return 0
        if requested is not None:
            return max(0, requested)
        return spec.get("terminationGracePeriodSeconds", 30) or 0


class NamespaceStrategy(Strategy):
    def initial_status(self, kind: Kind, obj: dict) -> dict:
        return {"phase": "Active"}

    def prepare_for_create(self, kind: Kind, obj: dict) -> None:
        super().prepare_for_create(kind, obj)
        # the namespace controller empties a deleted namespace, then drops this finalizer
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])

    def prepare_for_update(self, kind: Kind, new: dict, old: dict) -> None:
        super().prepare_for_update(kind, new, old)
        # spec.finalizers changes only through the finalize subresource
        spec = old.get("spec")
        if spec is None:
            new.pop("spec", None)
        else:
            new["spec"] = spec

    def holds_deletion(self, kind: Kind, obj: dict) -> bool:
        return bool((obj.get("spec") or {}).get("finalizers"))

    def prepare_for_delete(self, kind: Kind, obj: dict) -> None:
        obj.setdefault("status", {})["phase"] = "Terminating"


class SecretStrategy(Strategy):
    def default(self, kind: Kind, obj: dict) -> None:
        """stringData is write-only: its values join data, base64-encoded, as the v1 conversion does."""
        string_data = obj.pop("stringData", None)
        if isinstance(string_data, dict):
            data = obj.get("data") or {}
            for key, value in string_data.items():
                data[key] = base64.b64encode(str(value).encode()).decode()
            obj["data"] = data
        super().default(kind, obj)


class ServiceStrategy(Strategy):
    def initial_status(self, kind: Kind, obj: dict) -> dict:
        return {"loadBalancer": {}}


class PendingPhaseStrategy(Strategy):
    """PersistentVolumes and claims start Pending until bound."""

    def initial_status(self, kind: Kind, obj: dict) -> dict:
        return {"phase": "Pending"}


class DeploymentStrategy(Strategy):
    def spec_changed(self, new: dict, old: dict) -> bool:
        """Annotations count too: they are copied to the ReplicaSets (upstream's deployment strategy)."""
        return super().spec_changed(new, old) or \
            new["metadata"].get("annotations") != old["metadata"].get("annotations")


class JobStrategy(Strategy):
    def prepare_for_create(self, kind: Kind, obj: dict) -> None:
        """Unless spec.manualSelector, a Job selects its pods by its own uid (upstream's job strategy)."""
        super().prepare_for_create(kind, obj)
        spec = obj.setdefault("spec", {})
        if spec.get("manualSelector"):
            return
        meta = obj["metadata"]
        uid, name = meta["uid"], meta.get("name", "")
        spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
        template_meta = spec.setdefault("template", {}).setdefault("metadata", {})
        labels = template_meta.setdefault("labels", {})
        labels.update({"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
                       "controller-uid": uid, "job-name": name})


class DaemonSetStrategy(Strategy):
    """Upstream counts template changes in an annotation that older clients read."""

    ANNOTATION = "deprecated.daemonset.template.generation"

    def prepare_for_create(self, kind: Kind, obj: dict) -> None:
        super().prepare_for_create(kind, obj)
        obj["metadata"].setdefault("annotations", {})[self.ANNOTATION] = "1"

    def prepare_for_update(self, kind: Kind, new: dict, old: dict) -> None:
        super().prepare_for_update(kind, new, old)
        current = (old["metadata"].get("annotations") or {}).get(self.ANNOTATION, "1")
        template_changed = (new.get("spec") or {}).get("template") != (old.get("spec") or {}).get("template")
        value = str(int(current) + 1) if template_changed else current
        new["metadata"].setdefault("annotations", {})[self.ANNOTATION] = value


class CustomResourceStrategy(Strategy):
    """Custom objects: metadata checks here; schema pruning, defaults and validation by the CRD's schema."""

    def default(self, kind: Kind, obj: dict) -> None:
        pass

    def validate(self, kind: Kind, obj: dict):
        return _validation().validate(kind, obj) + self._schema_errors(kind, obj, None)

    def validate_update(self, kind: Kind, new: dict, old: dict):
        return _validation().validate_update(kind, new, old) + self._schema_errors(kind, new, old)

    def _schema_errors(self, kind: Kind, obj: dict, old: dict | None):
        """Prune, default and validate by the CRD's schema (ratcheting unchanged values on update)."""
        from timoneiro.api.crd_schema import prune_default_validate

        schema = kind.object_schema()
        if not schema:
            return []
        pruned, errs, _unknown = prune_default_validate(obj, schema, old)
        obj.clear()
        obj.update(pruned)
        return errs


STRATEGIES: dict[tuple[str, str], Strategy] = {
    ("", "Pod"): PodStrategy(),
    ("", "Namespace"): NamespaceStrategy(),
    ("", "Service"): ServiceStrategy(),
    ("", "Secret"): SecretStrategy(),
    ("", "PersistentVolume"): PendingPhaseStrategy(),
    ("", "PersistentVolumeClaim"): PendingPhaseStrategy(),
    ("apps", "Deployment"): DeploymentStrategy(),
    ("apps", "DaemonSet"): DaemonSetStrategy(),
    ("batch", "Job"): JobStrategy(),
    ("certificates.k8s.io", "CertificateSigningRequest"): CertificateSigningRequestStrategy(),
}


def with_strategies(kinds: list[Kind]) -> list[Kind]:
    for k in kinds:
        k.strategy = STRATEGIES.get((k.group, k.kind), k.strategy)
    return kinds
