"""What a container gets from its pod spec beyond its image and command, worked out by the kubelet as
upstream's kuberuntime does: its environment (value with $(VAR) references, valueFrom fieldRef,
resourceFieldRef, configMapKeyRef and secretKeyRef, envFrom), its Linux resources from requests and
limits (cgroup cpu shares, CFS quota and period, memory limit), and the pod's host ports.

A ConfigMap or Secret that is missing (and not optional) fails the container with
CreateContainerConfigError and upstream's message, and the kubelet tries again later.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable
from fractions import Fraction

from timoneiro.api.quantity import parse
from timoneiro.client import ApiError, Client
from timoneiro.client.resources import CONFIGMAPS, SECRETS
from timoneiro.kubelet.expansion import expand, keeping_unknown
from timoneiro.kubelet.runtime.base import ContainerResources, PortMapping, RuntimeFailure

CONFIG_ERROR = "CreateContainerConfigError"
CPU_PERIOD = 100_000  # microseconds: upstream's default CFS period
MIN_SHARES, MAX_SHARES = 2, 262_144
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


def _go_quote(text: str) -> str:
    """A string as Go's %q prints it (what the downward API's label and annotation files hold)."""
    escapes = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
               '"': '\\"', "\\": "\\\\"}
    return '"' + "".join(escapes.get(c) or (c if c.isprintable() else
                                            f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")
                         for c in text) + '"'


def format_map(values: dict[str, str]) -> str:
    """Labels or annotations as the downward API writes them: key="value" lines, sorted by key."""
    return "\n".join(f"{key}={_go_quote(values[key])}" for key in sorted(values))


def metadata_field(pod: dict, path: str) -> str:
    """A metadata field of the pod (upstream's ExtractFieldPathAsString): what downwardAPI volumes show."""
    meta = pod["metadata"]
    subscript = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if subscript:
        return (meta.get(subscript.group(1)) or {}).get(subscript.group(2), "")
    if path in ("metadata.labels", "metadata.annotations"):
        return format_map(meta.get(path.partition(".")[2]) or {})
    if path in ("metadata.name", "metadata.namespace", "metadata.uid"):
        return meta.get(path.partition(".")[2]) or ""
    raise ValueError(f"unsupported fieldPath: {path}")


def _field(pod: dict, path: str, pod_ip: str | None, host_ip: str) -> str:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    values = {"spec.nodeName": spec.get("nodeName"), "spec.serviceAccountName": spec.get("serviceAccountName"),
              "status.hostIP": host_ip, "status.hostIPs": host_ip, "status.podIP": pod_ip or status.get("podIP"),
              "status.podIPs": pod_ip or status.get("podIP")}
    if path in values:
        return values[path] or ""
    try:
        return metadata_field(pod, path)
    except ValueError:
        return ""


def resource_value(spec: dict, ref: dict, allocatable: dict) -> str:
    """requests.cpu, limits.memory... of the container, in units of the divisor, rounded up; a limit not
    set is the node's allocatable, as upstream's kubelet has it."""
    name = ref.get("resource", "")
    kind, _, resource = name.partition(".")
    value = ((spec.get("resources") or {}).get(kind) or {}).get(resource)
    if value is None and kind == "limits":
        value = allocatable.get(resource)
    if value is None and kind == "requests" and resource in ("cpu", "memory", "ephemeral-storage"):
        value = "0"
    divisor = parse(ref.get("divisor") or "1").value or Fraction(1)
    return str(math.ceil(parse(value).value / divisor)) if value is not None else ""


class ContainerEnv:
    """Resolves containers' environments against the API (ConfigMaps and Secrets read as the node)."""

    def __init__(self, client: Client, host_ip: str, node: Callable[[], dict]) -> None:
        self.client = client
        self.host_ip = host_ip
        self.node = node  # the Node as last read: its allocatable, for limits not set

    async def _object(self, kind: str, namespace: str, name: str, optional: bool) -> dict | None:
        resource = CONFIGMAPS if kind == "configmap" else SECRETS
        try:
            return await self.client.get(resource, name, namespace=namespace)
        except ApiError as e:
            if e.code == 404 and optional:
                return None
            if e.code == 404:
                raise RuntimeFailure(CONFIG_ERROR, f'{kind} "{name}" not found') from e
            raise RuntimeFailure(CONFIG_ERROR, str(e)) from e

    async def _data(self, kind: str, namespace: str, name: str, optional: bool) -> dict[str, str] | None:
        found = await self._object(kind, namespace, name, optional)
        if found is None:
            return None
        if kind == "configmap":
            return dict(found.get("data") or {})
        return {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in (found.get("data") or {}).items()}

    async def resolve(self, pod: dict, spec: dict, pod_ip: str | None) -> list[tuple[str, str]]:
        """The container's environment in order: envFrom first, then env (later names win)."""
        namespace = pod["metadata"]["namespace"]
        variables: dict[str, str] = {}
        for source in spec.get("envFrom") or ():
            kind, ref = ("configmap", source["configMapRef"]) if source.get("configMapRef") \
                else ("secret", source.get("secretRef") or {})
            data = await self._data(kind, namespace, ref.get("name", ""), bool(ref.get("optional")))
            for key, value in (data or {}).items():
                name = (source.get("prefix") or "") + key
                if _ENV_NAME.match(name):  # upstream skips keys that are not valid names (an event says so)
                    variables[name] = value
        for env in spec.get("env") or ():
            variables[env["name"]] = await self._value(pod, spec, env, variables, pod_ip)
        return list(variables.items())

    async def _value(self, pod: dict, spec: dict, env: dict, variables: dict[str, str], pod_ip: str | None
                     ) -> str:
        source = env.get("valueFrom")
        if not source:
            return expand(env.get("value") or "", keeping_unknown(variables))
        if "fieldRef" in source:
            return _field(pod, source["fieldRef"].get("fieldPath", ""), pod_ip, self.host_ip)
        if "resourceFieldRef" in source:
            return resource_value(spec, source["resourceFieldRef"],
                             (self.node().get("status") or {}).get("allocatable") or {})
        kind, ref = ("configmap", source["configMapKeyRef"]) if "configMapKeyRef" in source \
            else ("secret", source.get("secretKeyRef") or {})
        optional = bool(ref.get("optional"))
        data = await self._data(kind, pod["metadata"]["namespace"], ref.get("name", ""), optional)
        if data is None:
            return ""
        if ref.get("key") not in data:
            if optional:
                return ""
            raise RuntimeFailure(CONFIG_ERROR, f"couldn't find key {ref.get('key')} in {_kind_name(kind)} "
                                               f"{pod['metadata']['namespace']}/{ref.get('name')}")
        return data[ref["key"]]


def _kind_name(kind: str) -> str:
    return "ConfigMap" if kind == "configmap" else "Secret"


def linux_resources(spec: dict) -> ContainerResources:
    """cpu shares from the cpu request (the limit if only that is set), CFS quota from the cpu limit,
    memory limit in bytes, as upstream's kuberuntime converts them."""
    resources = spec.get("resources") or {}
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    cpu_request = requests.get("cpu", limits.get("cpu"))
    milli = math.ceil(parse(cpu_request).value * 1000) if cpu_request is not None else 0
    shares = min(MAX_SHARES, max(MIN_SHARES, milli * 1024 // 1000))
    quota = 0
    if limits.get("cpu") is not None:
        quota = max(1000, math.ceil(parse(limits["cpu"]).value * CPU_PERIOD))
    memory = int(parse(limits["memory"]).value) if limits.get("memory") is not None else 0
    return ContainerResources(cpu_shares=shares, cpu_quota=quota, cpu_period=CPU_PERIOD if quota else 0,
                              memory_limit=memory)


def port_mappings(pod: dict) -> list[PortMapping]:
    """The pod's containers' ports that ask for a host port."""
    return [PortMapping(int(port["containerPort"]), int(port["hostPort"]), port.get("protocol") or "TCP",
                        port.get("hostIP") or "")
            for container in (pod.get("spec") or {}).get("containers") or ()
            for port in container.get("ports") or () if port.get("hostPort")]
