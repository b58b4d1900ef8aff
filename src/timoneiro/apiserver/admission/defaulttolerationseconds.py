"""DefaultTolerationSeconds (plugin/pkg/admission/defaulttolerationseconds): pods that do not tolerate the
not-ready and unreachable NoExecute taints get tolerations of them for 300 seconds, so that the taint
eviction controller moves them off a failed node after five minutes rather than at once."""

from __future__ import annotations

from timoneiro.api.kinds import Kind
from timoneiro.apiserver.generic import Context

NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
NO_EXECUTE = "NoExecute"


class DefaultTolerationSeconds:
    """Mutating admission of pods, on create and update (not their subresources)."""

    not_ready_seconds = 300  # kube-apiserver's --default-not-ready-toleration-seconds
    unreachable_seconds = 300  # and --default-unreachable-toleration-seconds

    def __call__(self, ctx: Context, kind: Kind, new: dict, old: dict | None) -> None:
        if ctx.subresource or (kind.group, kind.plural) != ("", "pods"):
            return
        spec = new.setdefault("spec", {})
        tolerations = spec.get("tolerations") or []
        added = [{"key": key, "operator": "Exists", "effect": NO_EXECUTE, "tolerationSeconds": seconds}
                 for key, seconds in ((NOT_READY, self.not_ready_seconds), (UNREACHABLE, self.unreachable_seconds))
                 if not any(t.get("key") in (key, None, "") and t.get("effect") in (NO_EXECUTE, None, "")
                            for t in tolerations)]
        if added:
            spec["tolerations"] = tolerations + added
