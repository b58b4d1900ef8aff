"""PodSpec defaulting, shared by Pods, PodTemplates and the pod template of every workload.

SetDefaults_PodSpec and the container, probe and volume defaulters of core/v1 run on every PodSpec.
SetDefaults_Pod adds what only Pod objects get (enableServiceLinks, requests copied from limits,
host ports under hostNetwork), which is why a Deployment's template never shows those fields.
"""

from __future__ import annotations

from timoneiro.api.defaults import fill, image, quantity, volumes

CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
PROBES = ("livenessProbe", "readinessProbe", "startupProbe")


def pod(obj: dict) -> None:
    """SetDefaults_Pod, then the PodSpec defaults."""
    spec = fill.ensure(obj, "spec")
    for key in ("containers", "initContainers"):
        for container in fill.dicts(spec, key):
            _requests_from_limits(container)
    fill.if_nil(spec, "enableServiceLinks", True)
    if spec.get("hostNetwork"):
        for key in ("containers", "initContainers"):
            for container in fill.dicts(spec, key):
                for port in fill.dicts(container, "ports"):
                    if not port.get("hostPort") and port.get("containerPort"):
                        port["hostPort"] = port["containerPort"]
    pod_spec(spec)


def template(tmpl: dict | None) -> None:
    """A PodTemplateSpec: its metadata as Go writes it, and its PodSpec."""
    if tmpl is not None:
        fill.embedded_metadata(tmpl)
        pod_spec(fill.ensure(tmpl, "spec"))


def pod_spec(spec: dict) -> None:
    """SetDefaults_PodSpec and everything nested in a PodSpec."""
    fill.if_zero(spec, "dnsPolicy", "ClusterFirst")
    fill.if_zero(spec, "restartPolicy", "Always")
    fill.if_nil(spec, "securityContext", {})
    fill.if_nil(spec, "terminationGracePeriodSeconds", 30)
    fill.if_zero(spec, "schedulerName", "default-scheduler")
    for vol in fill.dicts(spec, "volumes"):
        volumes.volume(vol)
    for key in CONTAINER_LISTS:
        for container in fill.dicts(spec, key):
            _container(container)
    quantity.resource_list(spec, "overhead")


def _container(container: dict) -> None:
    if not container.get("imagePullPolicy"):
        container["imagePullPolicy"] = image.pull_policy(container.get("image") or "")
    fill.if_zero(container, "terminationMessagePath", "/dev/termination-log")
    fill.if_zero(container, "terminationMessagePolicy", "File")
    for port in fill.dicts(container, "ports"):
        fill.if_zero(port, "protocol", "TCP")
    for env in fill.dicts(container, "env"):
        volumes.field_ref(fill.child(fill.child(env, "valueFrom"), "fieldRef"))
    quantity.requirements(fill.ensure(container, "resources"))
    for key in PROBES:
        if (probe := fill.child(container, key)) is not None:
            _probe(probe)
    lifecycle = fill.child(container, "lifecycle")
    for hook in ("postStart", "preStop"):
        _http_get(fill.child(fill.child(lifecycle, hook), "httpGet"))


def _probe(probe: dict) -> None:
    fill.if_zero(probe, "timeoutSeconds", 1)
    fill.if_zero(probe, "periodSeconds", 10)
    fill.if_zero(probe, "successThreshold", 1)
    fill.if_zero(probe, "failureThreshold", 3)
    _http_get(fill.child(probe, "httpGet"))
    if (grpc := fill.child(probe, "grpc")) is not None:
        fill.if_nil(grpc, "service", "")


def _http_get(action: dict | None) -> None:
    if action is not None:
        fill.if_zero(action, "path", "/")
        fill.if_zero(action, "scheme", "HTTP")


def _requests_from_limits(container: dict) -> None:
    resources = fill.child(container, "resources")
    limits = fill.child(resources, "limits")
    if resources is None or limits is None:
        return
    requests = fill.child(resources, "requests") or {}
    for name, value in limits.items():
        requests.setdefault(name, value)
    if requests:
        resources["requests"] = requests
