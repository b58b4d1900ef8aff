"""The Auto Scaling group behind a managed node group, kept in the cluster's document as Auto Scaling
describes it (botocore's AutoScalingGroup shape, its scaling activities under "_activities"), and the
choices Auto Scaling makes for it: which zone a new instance goes to (the one with the fewest, to keep the
zones balanced) and which instances go when it shrinks (its default termination policy: from the zone with
the most, the oldest launch template version first, then the oldest instance).

An instance's own bookkeeping rides along under "_" keys: the node it is ("_node"), its subnet and private
address, the AMI release it runs, when it was launched and the activity that launches or terminates it."""

from __future__ import annotations

import json
import time
import uuid

from timoneiro.eks.service import Eks

TERMINATION_POLICIES = ["AllocationStrategy", "OldestLaunchTemplate", "OldestInstance"]  # as EKS sets them
HEALTH_CHECK_GRACE = 15
DEFAULT_COOLDOWN = 300
PENDING, IN_SERVICE, TERMINATING = "Pending", "InService", "Terminating:Wait"


def group_name(nodegroup: str, nodegroup_uuid: str) -> str:
    return f"eks-{nodegroup}-{nodegroup_uuid}"


def new_group(eks: Eks, cluster: str, nodegroup: dict, zones: dict[str, str], launch_template: dict) -> dict:
    """The group EKS makes for a new node group: its sizes, zones and subnets, the launch template and
    instance types as a mixed instances policy, the tags the Cluster Autoscaler discovers it by."""
    name = nodegroup["resources"]["autoScalingGroups"][0]["name"]
    scaling, spot = nodegroup["scalingConfig"], nodegroup["capacityType"] == "SPOT"
    tags = {"eks:cluster-name": cluster, "eks:nodegroup-name": nodegroup["nodegroupName"],
            "k8s.io/cluster-autoscaler/enabled": "true", f"k8s.io/cluster-autoscaler/{cluster}": "owned",
            f"kubernetes.io/cluster/{cluster}": "owned"}
    return {
        "AutoScalingGroupName": name,
        "AutoScalingGroupARN": f"arn:aws:autoscaling:{eks.region}:{eks.account}:autoScalingGroup:"
                               f"{uuid.uuid4()}:autoScalingGroupName/{name}",
        "MixedInstancesPolicy": {
            "LaunchTemplate": {"LaunchTemplateSpecification": launch_template,
                               "Overrides": [{"InstanceType": t} for t in nodegroup["instanceTypes"]]},
            "InstancesDistribution": {"OnDemandAllocationStrategy": "prioritized", "OnDemandBaseCapacity": 0,
                                      "OnDemandPercentageAboveBaseCapacity": 0 if spot else 100,
                                      "SpotAllocationStrategy": "capacity-optimized"}},
        "MinSize": scaling["minSize"], "MaxSize": scaling["maxSize"], "DesiredCapacity": scaling["desiredSize"],
        "DefaultCooldown": DEFAULT_COOLDOWN, "AvailabilityZones": sorted(set(zones.values())),
        "LoadBalancerNames": [], "TargetGroupARNs": [], "HealthCheckType": "EC2",
        "HealthCheckGracePeriod": HEALTH_CHECK_GRACE, "Instances": [], "CreatedTime": time.time(),
        "SuspendedProcesses": [], "VPCZoneIdentifier": ",".join(zones), "EnabledMetrics": [],
        "Tags": [{"ResourceId": name, "ResourceType": "auto-scaling-group", "Key": k, "Value": v,
                  "PropagateAtLaunch": True} for k, v in tags.items()],
        "TerminationPolicies": TERMINATION_POLICIES, "NewInstancesProtectedFromScaleIn": False,
        "ServiceLinkedRoleARN": f"arn:aws:iam::{eks.account}:role/aws-service-role/autoscaling.amazonaws.com/"
                                "AWSServiceRoleForAutoScaling",
        "CapacityRebalance": spot,
        "_activities": [],
        "_cause": _cause_at(f"a user request created an AutoScalingGroup changing the desired capacity from 0 "
                            f"to {scaling['desiredSize']}"),
    }


def _cause_at(text: str) -> dict:
    return {"at": time.time(), "text": text}


def _iso(moment: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))


def resize(group: dict, low: int, high: int, desired: int, explicit: bool = False) -> None:
    """New sizes, as a user request to update the group's constraints, or (`explicit`, SetDesiredCapacity)
    to set its desired capacity alone; later activities name it as their cause."""
    text = ("a user request explicitly set group desired capacity" if explicit else
            f"a user request update of AutoScalingGroup constraints to min: {low}, max: {high}, desired: {desired}")
    if desired != group["DesiredCapacity"]:
        text += f" changing the desired capacity from {group['DesiredCapacity']} to {desired}"
    group.update(MinSize=low, MaxSize=high, DesiredCapacity=desired)
    group["_cause"] = _cause_at(text)


def live(group: dict) -> list[dict]:
    """The instances that count toward the desired capacity: those not on their way out."""
    return [i for i in group["Instances"] if i["LifecycleState"] != TERMINATING]


def in_state(group: dict, state: str) -> list[dict]:
    return [i for i in group["Instances"] if i["LifecycleState"] == state]


def launch_subnet(group: dict, zones: dict[str, str]) -> str:
    """The subnet of the zone with the fewest live instances (the first such in the group's order)."""
    counts = {zone: 0 for zone in zones.values()}
    for instance in live(group):
        counts[instance["AvailabilityZone"]] = counts.get(instance["AvailabilityZone"], 0) + 1
    return min(zones, key=lambda subnet: counts[zones[subnet]])


def select_for_termination(group: dict, count: int) -> list[dict]:
    """`count` live instances, one at a time from the zone that has the most left, as the default
    termination policy picks them."""
    left, chosen = list(live(group)), []
    for _ in range(min(count, len(left))):
        zones: dict[str, int] = {}
        for instance in left:
            zones[instance["AvailabilityZone"]] = zones.get(instance["AvailabilityZone"], 0) + 1
        busiest = max(zones.values())
        candidates = [i for i in left if zones[i["AvailabilityZone"]] == busiest]
        victim = min(candidates, key=lambda i: (int(i["LaunchTemplate"]["Version"]), i["_launched"]))
        left.remove(victim)
        chosen.append(victim)
    return chosen


def start_launch(group: dict, instance: dict, before: int, after: int) -> None:
    """Add a pending instance and its launch activity, InProgress until its node is Ready."""
    cause = group["_cause"]
    group["Instances"].append(instance)
    _begin(group, instance, f"Launching a new EC2 instance: {instance['InstanceId']}",
           f"At {_iso(cause['at'])} {cause['text']}.  At {_iso(time.time())} an instance was started in response "
           f"to a difference between desired and actual capacity, increasing the capacity from {before} to "
           f"{after}.", "InProgress", 0)


def start_termination(group: dict, instance: dict, before: int, after: int, user_request: bool = False) -> None:
    """Take an instance out of service; its activity waits (as on a lifecycle hook) while its node drains.
    `user_request`: taken out by a request to terminate it (a node replaced by an update), not by a smaller
    desired capacity."""
    now, cause = _iso(time.time()), group["_cause"]
    instance["LifecycleState"] = TERMINATING
    if user_request:
        text = (f"At {now} instance {instance['InstanceId']} was taken out of service in response to a user "
                f"request, shrinking the capacity from {before} to {after}.")
    else:
        text = (f"At {_iso(cause['at'])} {cause['text']}.  At {now} an instance was taken out of service in "
                f"response to a difference between desired and actual capacity, shrinking the capacity from "
                f"{before} to {after}.  At {now} instance {instance['InstanceId']} was selected for termination.")
    _begin(group, instance, f"Terminating EC2 instance: {instance['InstanceId']}", text, "MidLifecycleAction", 50)


def _begin(group: dict, instance: dict, description: str, cause: str, status: str, progress: int) -> None:
    activity = {"ActivityId": str(uuid.uuid4()), "AutoScalingGroupName": group["AutoScalingGroupName"],
                "AutoScalingGroupARN": group["AutoScalingGroupARN"], "Description": description, "Cause": cause,
                "StartTime": time.time(), "StatusCode": status, "Progress": progress,
                "Details": json.dumps({"Subnet ID": instance["_subnet"],
                                       "Availability Zone": instance["AvailabilityZone"]}, separators=(",", ":"))}
    group["_activities"].append(activity)
    instance["_activity"] = activity["ActivityId"]


def finish(group: dict, instance: dict, status: str = "Successful", message: str = "") -> None:
    """End the activity of an instance's launch or termination."""
    for activity in group["_activities"]:
        if activity["ActivityId"] == instance.get("_activity") and "EndTime" not in activity:
            activity.update(StatusCode=status, Progress=100, EndTime=time.time())
            if message:
                activity["StatusMessage"] = message
