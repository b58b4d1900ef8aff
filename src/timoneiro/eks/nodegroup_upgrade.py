"""A node group's version update, as EKS rolls it: the group's launch template gets a new version (the new
AMI release); then, maxUnavailable old nodes at a time, the group grows by as many new nodes, the old ones
are cordoned and drained (up to 15 minutes each, respecting PodDisruptionBudgets; forced, a pod a budget
protects is deleted instead) and
terminated, shrinking the group back. A node that cannot be drained in time fails the update
(PodEvictionFailure): its node is uncordoned, the new nodes of that round go, and the old release stays."""

from __future__ import annotations

import asyncio
import math

from timoneiro.client import Client
from timoneiro.client.resources import NODES
from timoneiro.eks import asg, drain
from timoneiro.eks.nodegroup_scaling import converge, group_of
from timoneiro.eks.service import Eks


class UpdateFailed(Exception):
    def __init__(self, code: str, message: str, resource_ids: list[str]) -> None:
        super().__init__(message)
        self.detail = {"errorCode": code, "errorMessage": message, "resourceIds": resource_ids}


def batch_size(update_config: dict, nodes: int) -> int:
    if "maxUnavailablePercentage" in update_config:
        return max(1, min(100, math.floor(nodes * update_config["maxUnavailablePercentage"] / 100)))
    return max(1, update_config.get("maxUnavailable", 1))


async def roll(eks: Eks, cluster: str, name: str, release: str, template_version: str, force: bool) -> None:
    """Replace every node not of `release` and launch template version `template_version`."""
    nodegroup = eks.doc(cluster)["nodegroups"][name]
    group = group_of(eks, cluster, name)
    template = group["MixedInstancesPolicy"]["LaunchTemplate"]["LaunchTemplateSpecification"]
    # what to go back to if a round cannot drain (kept across a restart that resumes the update)
    before = tuple(group.setdefault("_previous", [group["_release"], template["Version"]]))
    group["_release"], template["Version"] = release, template_version
    eks.store.save(cluster)
    try:
        while old := [i for i in asg.live(group)
                      if (i["_release"], i["LaunchTemplate"]["Version"]) != (release, template_version)]:
            await _replace(eks, cluster, name, old[:batch_size(nodegroup["updateConfig"], len(old))], force,
                           before)
        scaling = nodegroup["scalingConfig"]
        if group["DesiredCapacity"] != scaling["desiredSize"]:  # a round surged twice, across a restart
            asg.resize(group, scaling["minSize"], scaling["maxSize"], scaling["desiredSize"])
            await converge(eks, cluster, name)
    finally:
        group["MaxSize"] = nodegroup["scalingConfig"]["maxSize"]  # back from the rounds' surges
        if not asyncio.current_task().cancelling():  # done (or failed), not stopped with the service
            del group["_previous"]
        eks.store.save(cluster)


async def _replace(eks: Eks, cluster: str, name: str, batch: list[dict], force: bool,
                   before: tuple[str, str]) -> None:
    """One round: as many new nodes as old ones in `batch`, then the old ones drained and terminated."""
    group = group_of(eks, cluster, name)
    desired = group["DesiredCapacity"] + len(batch)
    asg.resize(group, group["MinSize"], max(group["MaxSize"], desired), desired)
    eks.store.save(cluster)
    await converge(eks, cluster, name)
    async with Client(eks.control_plane(cluster).admin) as client:
        left = await asyncio.gather(*(drain.drain(client, i["_node"], drain.UPDATE_TIMEOUT, force)
                                      for i in batch))
        stuck = [i["_node"] for i, pods in zip(batch, left, strict=True) if pods]
        if stuck:
            await _give_up(eks, cluster, name, client, batch, before)
            raise UpdateFailed("PodEvictionFailure", "Reached max retries while trying to evict pods from "
                               f"nodes in node group {name}", stuck)
    _terminate(group, batch, drained=True)
    eks.store.save(cluster)
    await converge(eks, cluster, name)


def _terminate(group: dict, instances: list[dict], drained: bool) -> None:
    """Terminate these instances as by TerminateInstanceInAutoScalingGroup, decrementing the desired
    capacity; their nodes need no more draining if `drained`."""
    size = len(asg.live(group))
    for instance in instances:
        asg.start_termination(group, instance, size, size - 1, user_request=True)
        instance["_drain"] = 0.0 if drained else drain.SCALE_IN_TIMEOUT
        size -= 1
    group["DesiredCapacity"] -= len(instances)


async def _give_up(eks: Eks, cluster: str, name: str, client: Client, batch: list[dict],
                   before: tuple[str, str]) -> None:
    """Undo a round that could not drain: the old nodes schedulable again, the round's new nodes gone,
    the old release and template version the group's again."""
    group = group_of(eks, cluster, name)
    for instance in batch:
        await client.patch(NODES, instance["_node"], {"spec": {"unschedulable": None}})
    newest = sorted(asg.live(group), key=lambda i: i["_launched"])[-len(batch):]
    template = group["MixedInstancesPolicy"]["LaunchTemplate"]["LaunchTemplateSpecification"]
    group["_release"], template["Version"] = before
    _terminate(group, newest, drained=False)
    eks.store.save(cluster)
    await converge(eks, cluster, name)
