"""What the kubelet tells about pods and its node as Events: upstream's reasons (pkg/kubelet/events), and
the references it records them on. An event about a container names it by field path
(`spec.containers{app}`), so that kubectl shows which one; events about the node name it by the node's
name as its uid, which is where `kubectl describe node` looks."""

from __future__ import annotations

from timoneiro.client.events import reference

COMPONENT = "kubelet"

# containers
CREATED = "Created"
STARTED = "Started"
FAILED = "Failed"  # a container failed to be created or started, or its image to be pulled
KILLING = "Killing"
BACK_OFF = "BackOff"  # restarting a failed container, or pulling an image, waits for its back-off
UNHEALTHY = "Unhealthy"
FAILED_POST_START_HOOK = "FailedPostStartHook"
FAILED_PRE_STOP_HOOK = "FailedPreStopHook"
# images
PULLING = "Pulling"
PULLED = "Pulled"
NEVER_PULL = "ErrImageNeverPull"
# pods
SANDBOX_CHANGED = "SandboxChanged"
FAILED_MOUNT = "FailedMount"  # a volume of the pod could not be set up
FAILED_SANDBOX = "FailedCreatePodSandBox"  # (DeadlineExceeded is active_deadline's)
# the node
STARTING = "Starting"
ALLOCATABLE_ENFORCED = "NodeAllocatableEnforced"


def pod_ref(pod: dict) -> dict:
    return reference({"kind": "Pod", "apiVersion": "v1", **pod})


def container_ref(pod: dict, name: str) -> dict:
    """The pod with the field path of one of its containers, as kubecontainer.GenerateContainerRef."""
    spec = pod.get("spec") or {}
    init = any(c.get("name") == name for c in spec.get("initContainers") or ())
    return reference({"kind": "Pod", "apiVersion": "v1", **pod},
                     f"spec.{'initContainers' if init else 'containers'}{{{name}}}")


def node_ref(node_name: str) -> dict:
    return {"kind": "Node", "name": node_name, "uid": node_name}
