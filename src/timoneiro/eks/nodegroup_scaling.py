"""Bringing a node group's instances to its Auto Scaling group's desired capacity, one level-based step at
a time: wait for pending instances' nodes to be Ready (then InService), drain and remove instances taken out
of service, launch the missing ones (in the zones with the fewest), take out the extra ones (as the default
termination policy picks them). Each step is recorded in the group (instances, activities) before the next.

A node is a kubelet of the group's node agent (nodeagent.py) with EKS's labels, taints, capacity (the
instance type's), provider ID and addresses, and a client certificate for system:node:NAME signed by the
cluster's CA (the credentials an EKS node gets through its IAM role, as system:nodes)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import time
import weakref
from collections.abc import Awaitable, Callable

from timoneiro.client import ApiError, Client
from timoneiro.client.resources import NODES
from timoneiro.cluster.names import RUNTIME_LABEL, SIMULATED
from timoneiro.eks import asg, drain, ec2, instances
from timoneiro.eks import nodegroup_config as config
from timoneiro.eks.nodeagent import AgentProcess, NodeSpec
from timoneiro.eks.service import Eks
from timoneiro.kubelet.node_status import is_ready
from timoneiro.pki.cluster import node_user

JOIN_TIMEOUT = 300.0  # for a launched instance's node to be Ready, before it is a NodeCreationFailure
WATCH_PERIOD = 5  # seconds a watch for Ready nodes runs before the agent is looked after again
NODEGROUP_LABEL = "eks.amazonaws.com/nodegroup"

# per service (each runs its own event loop), by (cluster, node group)
_locks: weakref.WeakKeyDictionary[Eks, dict[tuple[str, str], asyncio.Lock]] = weakref.WeakKeyDictionary()


class NodesFailedToJoin(Exception):
    def __init__(self, instance_ids: list[str]) -> None:
        super().__init__("Instances failed to join the kubernetes cluster")
        self.detail = {"errorCode": "NodeCreationFailure", "errorMessage": str(self), "resourceIds": instance_ids}


def nodegroup_dir(eks: Eks, cluster: str, name: str) -> str:
    """Absolute: the agent runs elsewhere (cwd /) and reads the paths the service writes."""
    return os.path.abspath(os.path.join(eks.store.cluster_dir(cluster), "nodegroups", name))


def agent(eks: Eks, cluster: str, name: str) -> AgentProcess:
    return AgentProcess(nodegroup_dir(eks, cluster, name))


def group_of(eks: Eks, cluster: str, name: str) -> dict:
    doc = eks.doc(cluster)
    return doc["autoScalingGroups"][doc["nodegroups"][name]["resources"]["autoScalingGroups"][0]["name"]]


def nodegroup_zones(eks: Eks, cluster: str, nodegroup: dict) -> dict[str, str]:
    """subnet -> zone for a node group's subnets (see ec2.py)."""
    layout = _layout(eks, cluster, nodegroup)
    return {subnet: zone for subnet, (zone, _) in layout.items()}


def _layout(eks: Eks, cluster: str, nodegroup: dict) -> dict[str, tuple[str, int]]:
    cluster_subnets = eks.doc(cluster)["cluster"].get("resourcesVpcConfig", {}).get("subnetIds") or []
    return ec2.subnet_layout(cluster_subnets, nodegroup["subnets"], eks.region)


def kube_taints(taints: list[dict]) -> list[dict]:
    """EKS's taints (effect NO_SCHEDULE...) as Kubernetes has them (NoSchedule...)."""
    return [{"key": t["key"], **({"value": t["value"]} if t.get("value") else {}),
             "effect": config.TAINT_EFFECTS[t["effect"]]} for t in taints]


async def converge(eks: Eks, cluster: str, name: str) -> None:
    """Scale the node group to its group's desired capacity; one at a time per node group. Raises
    NodesFailedToJoin (after recording the health issue) if launched nodes never got Ready."""
    lock = _locks.setdefault(eks, {}).setdefault((cluster, name), asyncio.Lock())
    async with lock:
        await _Scaler(eks, cluster, name).run()


def forget(eks: Eks, cluster: str, name: str) -> None:
    _locks.get(eks, {}).pop((cluster, name), None)


class _Scaler:
    def __init__(self, eks: Eks, cluster: str, name: str) -> None:
        self.eks, self.cluster, self.name = eks, cluster, name
        doc = eks.doc(cluster)
        self.nodegroup = doc["nodegroups"][name]
        self.group = group_of(eks, cluster, name)
        self.layout = _layout(eks, cluster, self.nodegroup)
        self.zones = nodegroup_zones(eks, cluster, self.nodegroup)
        self.plane = eks.control_plane(cluster)
        self.agent = agent(eks, cluster, name)
        self.dir = nodegroup_dir(eks, cluster, name)

    def save(self) -> None:
        self.eks.store.save(self.cluster)

    async def run(self) -> None:
        group = self.group
        while True:
            if pending := asg.in_state(group, asg.PENDING):
                await self._join(pending)
            elif leaving := asg.in_state(group, asg.TERMINATING):
                await self._remove(leaving)
            elif (gap := group["DesiredCapacity"] - len(asg.live(group))) > 0:
                await self._launch(gap)
            elif gap < 0:
                self._take_out(asg.select_for_termination(group, -gap))
            else:
                return

    # launching

    async def _launch(self, count: int) -> None:
        group, nodegroup = self.group, self.nodegroup
        before = len(asg.live(group))
        others = [i for g in self.eks.doc(self.cluster)["autoScalingGroups"].values() for i in g["Instances"]]
        taken = {i["_ip"] for i in others} | {str(a) for i in others if i.get("_pods")
                                               for a in ipaddress.ip_network(i["_pods"])}
        kind = instances.lookup(nodegroup["instanceTypes"][0], nodegroup["amiType"])
        runtime = (nodegroup.get("labels") or {}).get(RUNTIME_LABEL) or self.eks.node_runtime
        template = group["MixedInstancesPolicy"]["LaunchTemplate"]["LaunchTemplateSpecification"]
        launched = []
        for _ in range(count):
            subnet = asg.launch_subnet(group, self.zones)
            zone, index = self.layout[subnet]
            ip = ec2.private_ip(index, taken)
            taken.add(ip)
            pods = ec2.pod_range(index, kind.max_pods, taken)
            taken.update(str(a) for a in ipaddress.ip_network(pods))
            # the first instance type: the prioritized allocation of on-demand capacity, and the one type
            # this service always has capacity of for spot
            instance = {"InstanceId": ec2.instance_id(), "InstanceType": nodegroup["instanceTypes"][0],
                        "AvailabilityZone": zone, "LifecycleState": asg.PENDING, "HealthStatus": "Healthy",
                        "ProtectedFromScaleIn": False, "LaunchTemplate": dict(template),
                        "_node": ec2.private_dns_name(ip, self.eks.region), "_subnet": subnet, "_ip": ip,
                        "_launched": time.time(), "_release": group["_release"], "_pods": pods,
                        "_runtime": runtime}
            asg.start_launch(group, instance, before, before + count)
            launched.append(instance)
        self.save()
        await asyncio.to_thread(self._write_kubeconfigs, [i["_node"] for i in launched])
        await self._apply_spec()

    def _write_kubeconfigs(self, nodes: list[str]) -> None:
        for node in nodes:
            self.plane.pki.write_kubeconfig(self._kubeconfig(node), self.plane.url, *node_user(node))

    def _kubeconfig(self, node: str) -> str:
        return os.path.join(self.dir, "kubeconfigs", f"{node}.conf")

    async def _apply_spec(self) -> None:
        """Tell the agent the nodes it should run now: every instance the group has."""
        nodes = [self._node_spec(i) for i in self.group["Instances"]]
        await asyncio.to_thread(self.agent.apply, nodes)

    def _node_spec(self, instance: dict) -> NodeSpec:
        nodegroup, node = self.nodegroup, instance["_node"]
        kind = instances.lookup(instance["InstanceType"], nodegroup["amiType"])
        capacity = {**instances.capacity(kind), "ephemeral-storage": f"{nodegroup.get('diskSize') or config.DEFAULT_DISK_GIB}Gi"}
        return NodeSpec(
            name=node, kubeconfig=self._kubeconfig(node), labels=self._labels(instance),
            taints=kube_taints(nodegroup.get("taints") or []), capacity=capacity,
            reserved=instances.kube_reserved(kind),
            provider_id=f"aws:///{instance['AvailabilityZone']}/{instance['InstanceId']}",
            addresses=[{"type": "InternalIP", "address": instance["_ip"]},
                       {"type": "InternalDNS", "address": node}, {"type": "Hostname", "address": node}],
            runtime=instance.get("_runtime") or SIMULATED, pod_cidr=instance.get("_pods"),
            client_ca=self.plane.pki.path("ca.crt"))

    def _labels(self, instance: dict) -> dict[str, str]:
        """The user's labels, and those EKS and the cloud provider give a managed node."""
        nodegroup, region, zone = self.nodegroup, self.eks.region, instance["AvailabilityZone"]
        labels = {**(nodegroup.get("labels") or {}),
                  NODEGROUP_LABEL: self.name,
                  "eks.amazonaws.com/capacityType": nodegroup["capacityType"],
                  "eks.amazonaws.com/nodegroup-image": ec2.ami_id(region, nodegroup["amiType"], instance["_release"]),
                  "node.kubernetes.io/instance-type": instance["InstanceType"],
                  "beta.kubernetes.io/instance-type": instance["InstanceType"],
                  "topology.kubernetes.io/region": region, "topology.kubernetes.io/zone": zone,
                  "failure-domain.beta.kubernetes.io/region": region,
                  "failure-domain.beta.kubernetes.io/zone": zone}
        if nodegroup.get("launchTemplate"):  # only a node group made from the user's launch template says so
            labels["eks.amazonaws.com/sourceLaunchTemplateId"] = instance["LaunchTemplate"]["LaunchTemplateId"]
            labels["eks.amazonaws.com/sourceLaunchTemplateVersion"] = instance["LaunchTemplate"]["Version"]
        return labels

    async def _join(self, pending: list[dict]) -> None:
        """Wait for the pending instances' nodes to be Ready (starting the agent again if it is not running,
        as after a restart); InService either way, but a node that never got Ready is a health issue."""
        by_node = {i["_node"]: i for i in pending}
        async with Client(self.plane.admin) as client:
            ready = await wait_ready(client, self.name, set(by_node), JOIN_TIMEOUT,
                                     lambda: asyncio.to_thread(self.agent.start))
        failed = [i["InstanceId"] for node, i in by_node.items() if node not in ready]
        for instance in pending:
            instance["LifecycleState"] = asg.IN_SERVICE
            if instance["InstanceId"] in failed:
                instance["HealthStatus"] = "Unhealthy"
            asg.finish(self.group, instance)
        if failed:
            self.nodegroup["health"]["issues"].append({"code": "NodeCreationFailure",
                                                       "message": "Instances failed to join the kubernetes cluster",
                                                       "resourceIds": failed})
        self.save()
        if failed:
            raise NodesFailedToJoin(failed)

    # removing

    def _take_out(self, victims: list[dict]) -> None:
        before = len(asg.live(self.group))
        for instance in victims:
            asg.start_termination(self.group, instance, before, self.group["DesiredCapacity"])
            instance["_drain"] = drain.SCALE_IN_TIMEOUT
        self.save()

    async def _remove(self, leaving: list[dict]) -> None:
        """Drain the nodes of instances taken out of service (each for as long as it was given), then stop
        their kubelets, delete their Node objects and let the instances go."""
        async with Client(self.plane.admin) as client:
            await asyncio.gather(*(drain.drain(client, i["_node"], i.get("_drain", drain.SCALE_IN_TIMEOUT))
                                   for i in leaving))
            for instance in leaving:
                self.group["Instances"].remove(instance)
            self.save()
            await self._apply_spec()
            for instance in leaving:
                with contextlib.suppress(ApiError):
                    await client.delete(NODES, instance["_node"])
        for instance in leaving:
            asg.finish(self.group, instance)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._kubeconfig(instance["_node"]))
        self.save()


async def wait_ready(client: Client, nodegroup: str, names: set[str], timeout: float,
                     keep_up: Callable[[], Awaitable[None]]) -> set[str]:
    """Which of the nodes `names` were Ready by `timeout`; `keep_up` is awaited every WATCH_PERIOD."""
    deadline = time.monotonic() + timeout
    selector = f"{NODEGROUP_LABEL}={nodegroup}"
    ready: set[str] = set()
    while True:
        await keep_up()
        listing = await client.list(NODES, label_selector=selector)
        ready |= {n["metadata"]["name"] for n in listing.get("items") or () if is_ready(n)} & names
        left = deadline - time.monotonic()
        if ready == names or left <= 0:
            return ready
        with contextlib.suppress(ApiError, asyncio.TimeoutError):
            async with client.watch(NODES, resource_version=listing["metadata"]["resourceVersion"],
                                    label_selector=selector,
                                    timeout_seconds=max(1, min(WATCH_PERIOD, int(left)))) as events:
                async for event in events:
                    name = (event.object.get("metadata") or {}).get("name")
                    if name in names and event.type in ("ADDED", "MODIFIED") and is_ready(event.object):
                        ready.add(name)
                        if ready == names:
                            return ready
