"""Auto Scaling (service "autoscaling", the Query protocol): the groups behind managed node groups, as
`aws autoscaling describe-auto-scaling-groups`, `describe-scaling-activities` and
`describe-auto-scaling-instances` show them, and their sizes changed as SetDesiredCapacity and
UpdateAutoScalingGroup change them.

The groups live in their clusters' documents (doc["autoScalingGroups"][name], the AutoScalingGroup shape,
its scaling activities under "_activities"), kept by the node groups. As on AWS, where the Cluster
Autoscaler sizes a managed node group through its Auto Scaling group and EKS then reports the group's sizes
as the node group's scalingConfig, a size set here is the node group's new size: it is handed to the node
group, which launches or drains and removes nodes and records the activities. Only the sizes may be updated:
the launch template, zones and policies of these groups are EKS's, and a call changing them is refused."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence

from timoneiro.eks.errors import AwsError
from timoneiro.eks.operations import Request, operation
from timoneiro.eks.ops.nodegroups import set_desired
from timoneiro.eks.protocol.shapes import Invalid, epoch
from timoneiro.eks.service import Eks

# the members of UpdateAutoScalingGroup it takes: the group's name and its sizes
_RESIZING = ("AutoScalingGroupName", "MinSize", "MaxSize", "DesiredCapacity")


def validation(message: str) -> AwsError:
    return AwsError("ValidationError", message, 400)


def groups(eks: Eks) -> list[tuple[str, dict]]:
    """(cluster name, group) for every group, by group name as Auto Scaling lists them."""
    found = [(cluster, group) for cluster, doc in eks.store.clusters.items()
             for group in doc.get("autoScalingGroups", {}).values()]
    return sorted(found, key=lambda item: item[1]["AutoScalingGroupName"])


def find(eks: Eks, name: str) -> tuple[str, dict]:
    for cluster, doc in eks.store.clusters.items():
        group = doc.get("autoScalingGroups", {}).get(name)
        if group is not None:
            return cluster, group
    raise _not_found(name)


def _not_found(name: str) -> AwsError:
    return validation(f"AutoScalingGroup name not found - AutoScalingGroup: {name} not found")


@operation("DescribeAutoScalingGroups", service="autoscaling")
async def describe_auto_scaling_groups(eks: Eks, request: Request) -> dict:
    p = request.params
    names = set(p.get("AutoScalingGroupNames") or ())
    filters = p.get("Filters") or []
    chosen = [g for _, g in groups(eks)
              if (not names or g["AutoScalingGroupName"] in names) and _tags_match(g, filters)]
    items, token = _page(chosen, p, lambda g: g["AutoScalingGroupName"], default=50, limit=100)
    include_instances = p.get("IncludeInstances", True)
    return {"AutoScalingGroups": [_public(g, include_instances) for g in items], "NextToken": token}


def _tags_match(group: dict, filters: list[dict]) -> bool:
    """Every filter must match (AND), each by any of its values (OR): tag-key, tag-value, tag:KEY."""
    tags = {t["Key"]: t.get("Value", "") for t in group.get("Tags", [])}
    for f in filters:
        name, values = f.get("Name", ""), f.get("Values") or []
        if name == "tag-key":
            matched = any(v in tags for v in values)
        elif name == "tag-value":
            matched = any(v in tags.values() for v in values)
        elif name.startswith("tag:"):
            matched = tags.get(name[4:]) in values
        else:
            raise validation(f"The filter name {name!r} is not valid: DescribeAutoScalingGroups filters on "
                             "tag-key, tag-value or tag:<key>.")
        if not matched:
            return False
    return True


def _public(group: dict, include_instances: bool = True) -> dict:
    return {k: v for k, v in group.items()
            if not k.startswith("_") and (include_instances or k != "Instances")}


@operation("DescribeScalingActivities", service="autoscaling")
async def describe_scaling_activities(eks: Eks, request: Request) -> dict:
    """Newest first, as Auto Scaling lists them; a group name that is not there gives no activities (not an
    error), as on AWS. Activities of deleted groups are gone with them (IncludeDeletedGroups finds none)."""
    p = request.params
    name = p.get("AutoScalingGroupName")
    wanted = set(p.get("ActivityIds") or ())
    keep = _activity_filter(p.get("Filters") or [], bool(name))
    activities = [_activity(group, a) for _, group in groups(eks)
                  if not name or group["AutoScalingGroupName"] == name
                  for a in reversed(group.get("_activities", []))  # the later of two at one time first
                  if (not wanted or a["ActivityId"] in wanted) and keep(a)]
    activities.sort(key=lambda a: a["StartTime"], reverse=True)
    items, token = _page(activities, p, lambda a: a["ActivityId"], default=100, limit=100)
    return {"Activities": items, "NextToken": token}


def _activity(group: dict, activity: dict) -> dict:
    return {"AutoScalingGroupName": group["AutoScalingGroupName"],
            "AutoScalingGroupARN": group.get("AutoScalingGroupARN"), **activity}


def _activity_filter(filters: list[dict], one_group: bool) -> Callable[[dict], bool]:
    """StartTimeLowerBound / StartTimeUpperBound (ISO 8601) and Status (only with a group's name)."""
    lower, upper, statuses = None, None, None
    for f in filters:
        name, values = f.get("Name", ""), f.get("Values") or []
        if name in ("StartTimeLowerBound", "StartTimeUpperBound"):
            try:
                moments = [epoch(v) for v in values]
            except ValueError:
                raise validation(f"The {name} filter takes an ISO 8601 timestamp, got {values}.") from None
            if name == "StartTimeLowerBound":
                lower = max(moments, default=None)
            else:
                upper = min(moments, default=None)
        elif name == "Status":
            if not one_group:
                raise validation("The Status filter can only be used with an AutoScalingGroupName.")
            statuses = set(values)
        else:
            raise validation(f"The filter name {name!r} is not valid: DescribeScalingActivities filters on "
                             "StartTimeLowerBound, StartTimeUpperBound or Status.")

    def keep(activity: dict) -> bool:
        start = activity["StartTime"]
        return ((lower is None or start >= lower) and (upper is None or start <= upper)
                and (statuses is None or activity["StatusCode"] in statuses))
    return keep


@operation("DescribeAutoScalingInstances", service="autoscaling")
async def describe_auto_scaling_instances(eks: Eks, request: Request) -> dict:
    p = request.params
    wanted = set(p.get("InstanceIds") or ())
    instances = [{**instance, "AutoScalingGroupName": group["AutoScalingGroupName"]}
                 for _, group in groups(eks) for instance in group.get("Instances", [])
                 if not wanted or instance["InstanceId"] in wanted]
    items, token = _page(instances, p, lambda i: i["InstanceId"], default=50, limit=50)
    return {"AutoScalingInstances": items, "NextToken": token}


@operation("SetDesiredCapacity", service="autoscaling")
async def set_desired_capacity(eks: Eks, request: Request) -> dict:
    """HonorCooldown has nothing to honour: these groups have no cooldown between scaling activities."""
    p = request.params
    cluster, group = find(eks, p["AutoScalingGroupName"])
    desired = p["DesiredCapacity"]
    if desired > group["MaxSize"]:
        raise validation(f"New SetDesiredCapacity value {desired} is above max value {group['MaxSize']} "
                         "for the AutoScalingGroup.")
    if desired < group["MinSize"]:
        raise validation(f"New SetDesiredCapacity value {desired} is below min value {group['MinSize']} "
                         "for the AutoScalingGroup.")
    await _resize(eks, cluster, group, desired)
    return {}


@operation("UpdateAutoScalingGroup", service="autoscaling")
async def update_auto_scaling_group(eks: Eks, request: Request) -> dict:
    """Sizes left out keep their values; a desired capacity left out follows a new minimum up or a new
    maximum down, as Auto Scaling moves it."""
    p = request.params
    cluster, group = find(eks, p["AutoScalingGroupName"])
    others = sorted(k for k, v in p.items() if k not in _RESIZING and v is not None)
    if others:
        raise validation(f"The Auto Scaling groups of EKS managed node groups can only be resized here; "
                         f"{', '.join(others)} cannot be updated.")
    low = p.get("MinSize", group["MinSize"])
    high = p.get("MaxSize", group["MaxSize"])
    if high < low:
        raise validation(f"Max bound, {high}, must be greater than or equal to min bound, {low}")
    desired = p.get("DesiredCapacity")
    if desired is None:
        desired = min(max(group["DesiredCapacity"], low), high)
    elif not low <= desired <= high:
        raise validation(f"Desired capacity:{desired} must be between the specified min size:{low} "
                         f"and max size:{high}")
    await _resize(eks, cluster, group, desired, low, high)
    return {}


async def _resize(eks: Eks, cluster: str, group: dict, desired: int, low: int | None = None,
                  high: int | None = None) -> None:
    """Hand the sizes to the node group behind the group, which scales and records the activities; bounds
    left None stay (SetDesiredCapacity changes only the desired capacity)."""
    if desired == group["DesiredCapacity"] and low in (None, group["MinSize"]) and high in (None, group["MaxSize"]):
        return
    await set_desired(eks, cluster, _nodegroup(eks, cluster, group), desired, min=low, max=high)


def _nodegroup(eks: Eks, cluster: str, group: dict) -> str:
    name = group["AutoScalingGroupName"]
    for nodegroup, ng in eks.doc(cluster)["nodegroups"].items():
        if any(g.get("name") == name for g in (ng.get("resources") or {}).get("autoScalingGroups", [])):
            return nodegroup
    raise _not_found(name)


def _page(items: Sequence[dict], params: dict, key: Callable[[dict], str], *, default: int,
          limit: int) -> tuple[list[dict], str | None]:
    """MaxRecords items from where NextToken says; the token names the first item of the next page, so
    that a page stays right when items come or go between calls."""
    size = params.get("MaxRecords", default)
    if not 1 <= size <= limit:
        bound = f"less than or equal to {limit}" if size > limit else "greater than or equal to 1"
        raise validation(str(Invalid("maxRecords", size, f"Member must have value {bound}")))
    start = 0
    token = params.get("NextToken")
    if token:
        try:
            first = base64.urlsafe_b64decode(token.encode()).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            first = None
        start = next((i for i, item in enumerate(items) if key(item) == first), -1)
        if start < 0:
            raise AwsError("InvalidNextToken", "The NextToken value is not valid.", 400)
    end = start + size
    following = base64.urlsafe_b64encode(key(items[end]).encode()).decode() if end < len(items) else None
    return list(items[start:end]), following
