"""The PodSecurity admission plugin (k8s.io/pod-security-admission/admission, as kube-apiserver builds it
in): a namespace's labels choose the Pod Security Standards level its pods are held to.

- enforce: a pod that violates the level is refused (403).
- warn: the write goes through with a Warning header that names what the pod would violate.
- audit: upstream adds audit annotations; this server keeps no audit log, so audit labels are parsed and
  validated but have no effect.

Pods are checked on create and on updates that change an image or add containers; pod controllers'
templates (Deployments, Jobs, ...) only get warnings. A namespace whose enforce level gets stricter is
answered with warnings naming its existing pods that would violate it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from timoneiro.api.kinds import Kind
from timoneiro.apiserver import errors
from timoneiro.apiserver.admission.podsecurity.levels import (
    PRIVILEGED,
    LevelVersion,
    Policy,
    policy_from_labels,
    stricter,
)
from timoneiro.apiserver.admission.podsecurity.messages import details, reasons
from timoneiro.apiserver.admission.podsecurity.registry import evaluate
from timoneiro.apiserver.generic import Context, decode

if TYPE_CHECKING:
    from timoneiro.storage.cache import WatchCache

# (group, resource) of the kinds with a pod template, and where it is
TEMPLATES = {
    ("", "replicationcontrollers"): ("spec", "template"),
    ("", "podtemplates"): ("template",),
    ("apps", "replicasets"): ("spec", "template"),
    ("apps", "deployments"): ("spec", "template"),
    ("apps", "statefulsets"): ("spec", "template"),
    ("apps", "daemonsets"): ("spec", "template"),
    ("batch", "jobs"): ("spec", "template"),
    ("batch", "cronjobs"): ("spec", "jobTemplate", "spec", "template"),
}
# pod subresources that cannot change what the pod runs
IGNORED_POD_SUBRESOURCES = frozenset(("exec", "attach", "binding", "eviction", "log", "portforward", "proxy", "status"))
MAX_PODS_TO_CHECK = 3000


@dataclass(frozen=True)
class Exemptions:
    """Requests upstream's PodSecurityConfiguration exempts: by user, by the pod's runtime class, by namespace."""

    usernames: frozenset[str] = frozenset()
    runtime_classes: frozenset[str] = frozenset()
    namespaces: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Configuration:
    """kube-apiserver's defaults: privileged:latest for every mode, and no exemptions."""

    defaults: Policy = Policy()
    exemptions: Exemptions = field(default_factory=Exemptions)


class PodSecurity:
    """Validating admission of pods, pod controllers and namespaces."""

    def __init__(self, cache: WatchCache, pods: Kind, namespaces: Kind, config: Configuration | None = None) -> None:
        self.cache = cache
        self.pods = pods
        self.namespaces = namespaces
        self.config = config or Configuration()

    def __call__(self, ctx: Context, kind: Kind, new: dict, old: dict | None) -> None:
        resource = (kind.group, kind.plural)
        if resource == ("", "namespaces"):
            self._namespace(ctx, kind, new, old)
        elif resource == ("", "pods"):
            self._pod(ctx, kind, new, old)
        elif resource in TEMPLATES and not ctx.subresource:
            self._controller(ctx, kind, new, TEMPLATES[resource])

    # pods and templates

    def _pod(self, ctx: Context, kind: Kind, new: dict, old: dict | None) -> None:
        if ctx.subresource in IGNORED_POD_SUBRESOURCES or self._exempt(ctx):
            return
        policy = self.policy(ctx.namespace or "")
        if policy is None:
            raise errors.internal(f'failed to lookup namespace "{ctx.namespace}"')
        if policy.fully_privileged() or (old is not None and not significant_update(new, old)):
            return
        self._evaluate(ctx, kind, new, policy, new.get("metadata") or {}, new.get("spec") or {}, enforce=True)

    def _controller(self, ctx: Context, kind: Kind, new: dict, path: tuple[str, ...]) -> None:
        if self._exempt(ctx):
            return
        policy = self.policy(ctx.namespace or "")
        template = new
        for step in path:
            template = (template or {}).get(step)
        if policy is None or policy.warn.level == PRIVILEGED or template is None:
            return
        self._evaluate(ctx, kind, new, policy, template.get("metadata") or {}, template.get("spec") or {},
                       enforce=False)

    def _evaluate(self, ctx: Context, kind: Kind, obj: dict, policy: Policy, meta: dict, spec: dict,
                  enforce: bool) -> None:
        if spec.get("runtimeClassName") in self.config.exemptions.runtime_classes:
            return
        if enforce:
            violations = evaluate(policy.enforce, meta, spec)
            if violations:
                raise errors.forbidden(kind, obj["metadata"].get("name", ""),
                                       f'violates PodSecurity "{policy.enforce}": {details(violations)}')
            if policy.warn == policy.enforce:
                return
        violations = evaluate(policy.warn, meta, spec)
        if violations:
            ctx.warnings.append(f'would violate PodSecurity "{policy.warn}": {details(violations)}')

    def _exempt(self, ctx: Context) -> bool:
        user = getattr(ctx.user, "name", "")
        return ctx.namespace in self.config.exemptions.namespaces or user in self.config.exemptions.usernames

    def policy(self, namespace: str) -> Policy | None:
        """The policy of the namespace as stored (a label's error falls back as upstream's parsing does);
        None if there is no such namespace."""
        entry = self.cache.get(self.namespaces.key(None, namespace))
        if entry is None:
            return None
        return policy_from_labels(decode(entry)["metadata"].get("labels") or {}, self.config.defaults)[0]

    # namespaces

    def _namespace(self, ctx: Context, kind: Kind, new: dict, old: dict | None) -> None:
        if ctx.subresource:
            return
        name = new["metadata"].get("name", "")
        policy, errs = policy_from_labels(new["metadata"].get("labels") or {}, self.config.defaults)
        if old is None:
            if errs:
                raise errors.invalid(kind, name, errs)
            if name in self.config.exemptions.namespaces:
                self._warn_exempt(ctx, name, policy, new["metadata"].get("labels") or {})
            return
        old_policy, old_errs = policy_from_labels(old["metadata"].get("labels") or {}, self.config.defaults)
        if errs and errs != old_errs:
            raise errors.invalid(kind, name, errs)
        if policy.enforce == old_policy.enforce or policy.enforce.level == PRIVILEGED:
            return
        if policy.enforce.minor == old_policy.enforce.minor and stricter(policy.enforce.level,
                                                                         old_policy.enforce.level) <= 0:
            return
        if name in self.config.exemptions.namespaces:
            self._warn_exempt(ctx, name, policy, new["metadata"].get("labels") or {})
            return
        ctx.warnings.extend(self.existing_pod_warnings(name, policy.enforce))

    def existing_pod_warnings(self, namespace: str, enforce: LevelVersion) -> list[str]:
        """Which existing pods the new enforce level would refuse: one warning per set of reasons, naming
        the first pod by name and how many others; one pod per controller is checked before the rest."""
        pods = self._prioritized([decode(e) for e in self.cache.list(self.pods.list_prefix(namespace))])
        found: dict[str, tuple[str, int]] = {}  # reasons -> (first pod name, count)
        for pod in pods[:MAX_PODS_TO_CHECK]:
            violations = evaluate(enforce, pod.get("metadata") or {}, pod.get("spec") or {})
            if violations:
                name = pod["metadata"]["name"]
                first, count = found.get(reasons(violations), (name, 0))
                found[reasons(violations)] = (min(first, name), count + 1)
        warnings = []
        if len(pods) > MAX_PODS_TO_CHECK:
            warnings.append(f"new PodSecurity enforce level only checked against the first {MAX_PODS_TO_CHECK} "
                            f"of {len(pods)} existing pods")
        if found:
            warnings.append(f'existing pods in namespace "{namespace}" violate the new PodSecurity enforce level '
                            f'"{enforce}"')
        return warnings + sorted(_with_pods(why, *found[why]) for why in found)

    def _prioritized(self, pods: list[dict]) -> list[dict]:
        """Pods without a controller and one per controller first, then their siblings; exempt runtime
        classes left out."""
        first, rest, seen = [], [], set()
        for pod in pods:
            if (pod.get("spec") or {}).get("runtimeClassName") in self.config.exemptions.runtime_classes:
                continue
            owner = next((o.get("uid") for o in pod["metadata"].get("ownerReferences") or () if o.get("controller")),
                         None)
            (rest if owner is not None and owner in seen else first).append(pod)
            seen.add(owner)
        return first + rest

    def _warn_exempt(self, ctx: Context, name: str, policy: Policy, labels: dict[str, str]) -> None:
        if policy.fully_privileged() or policy.equivalent(self.config.defaults):
            return
        shown = [f"{mode}={getattr(policy, mode)}" for mode in ("enforce", "audit", "warn")
                 if getattr(policy, mode).level != PRIVILEGED
                 and any(f"pod-security.kubernetes.io/{mode}{suffix}" in labels for suffix in ("", "-version"))]
        ctx.warnings.append(f'namespace "{name}" is exempt from Pod Security, and the policy ({", ".join(shown)}) '
                            "will be ignored")


def _with_pods(why: str, first: str, count: int) -> str:
    if count == 1:
        return f"{first}: {why}"
    others = "1 other pod" if count == 2 else f"{count - 1} other pods"
    return f"{first} (and {others}): {why}"


def significant_update(new: dict, old: dict) -> bool:
    """Whether a pod update can change what the pod runs: containers added or removed, an image changed,
    an ephemeral container added or changed."""
    spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    for field_name in ("containers", "initContainers"):
        now, before = spec.get(field_name) or [], old_spec.get(field_name) or []
        if len(now) != len(before) or any(a.get("image") != b.get("image") for a, b in zip(now, before, strict=True)):
            return True
    previous = {c.get("name"): c for c in old_spec.get("ephemeralContainers") or ()}
    return any(c.get("name") not in previous or c.get("image") != previous[c.get("name")].get("image")
               for c in spec.get("ephemeralContainers") or ())
