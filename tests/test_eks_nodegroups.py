"""EKS managed node groups through boto3 and the real `aws` CLI: a node group is a set of real timoneiro
nodes (kubelets of its node agent) with EKS's names, labels, taints, capacity and provider IDs, CREATING
until they are Ready; it scales up (launching nodes in the zones with the fewest) and down (cordoning and
draining nodes with evictions that respect PodDisruptionBudgets before removing them), also through its
Auto Scaling group, whose instances and activities Auto Scaling describes; updates of its labels, taints
and version are Updates; it is deleted (DELETING, then gone, nodes and all); the service's stop stops its
nodes and a restarted service brings them back."""

from __future__ import annotations

import json
import re
import subprocess
import time

import pytest
from botocore.exceptions import ClientError

from eks_testing import EksService
from timoneiro.cluster.procs import Proc
from timoneiro.eks import asg, drain, ec2
from timoneiro.eks import nodegroup_config as config
from timoneiro.eks.errors import AwsError
from timoneiro.eks.nodeagent import AgentProcess
from timoneiro.eks.nodegroup_scaling import agent
from timoneiro.kubelet.node_status import is_ready

ROLE = "arn:aws:iam::111122223333:role/eksClusterRole"
NODE_ROLE = "arn:aws:iam::111122223333:role/eksNodeRole"
SUBNETS = ["subnet-0a1", "subnet-0b2"]
FAST = {"Delay": 1, "MaxAttempts": 120}
NODE_NAME = re.compile(r"^ip-10-0-(\d+)-(\d+)\.ec2\.internal$")
INSTANCE_ID = re.compile(r"^i-0[0-9a-f]{16}$")


# helpers


def cluster(svc, name: str = "demo") -> None:
    client = svc.client()
    client.create_cluster(name=name, roleArn=ROLE, resourcesVpcConfig={"subnetIds": SUBNETS})
    client.get_waiter("cluster_active").wait(name=name, WaiterConfig=FAST)


def nodegroup(svc, name: str, cluster_name: str = "demo", **extra) -> dict:
    client = svc.client()
    made = client.create_nodegroup(clusterName=cluster_name, nodegroupName=name, nodeRole=NODE_ROLE,
                                   subnets=SUBNETS, **extra)["nodegroup"]
    assert made["status"] == "CREATING"
    return active(svc, name, cluster_name)


def active(svc, name: str, cluster_name: str = "demo") -> dict:
    client = svc.client()
    client.get_waiter("nodegroup_active").wait(clusterName=cluster_name, nodegroupName=name, WaiterConfig=FAST)
    return client.describe_nodegroup(clusterName=cluster_name, nodegroupName=name)["nodegroup"]


def kubectl(svc, *args: str, cluster_name: str = "demo", stdin: str | None = None) -> str:
    admin = f"{svc.eks.control_plane(cluster_name).data_dir}/admin.conf"
    proc = subprocess.run(["kubectl", "--kubeconfig", admin, *args], capture_output=True, text=True, input=stdin,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def nodes(svc, cluster_name: str = "demo") -> dict[str, dict]:
    listing = json.loads(kubectl(svc, "get", "nodes", "-o", "json", cluster_name=cluster_name))
    return {n["metadata"]["name"]: n for n in listing["items"]}


def group(svc, nodegroup_name: str, cluster_name: str = "demo") -> dict:
    described = svc.client().describe_nodegroup(clusterName=cluster_name, nodegroupName=nodegroup_name)
    name = described["nodegroup"]["resources"]["autoScalingGroups"][0]["name"]
    return svc.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
        "AutoScalingGroups"][0]


def activities(svc, group_name: str) -> list[dict]:
    return svc.client("autoscaling").describe_scaling_activities(AutoScalingGroupName=group_name)["Activities"]


def until(check, what: str, timeout: float = 120.0):
    """Poll `check` until it answers something true; fail naming `what` if it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def error_of(call, **kwargs) -> dict:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return caught.value.response["Error"]


# the rules, without a cluster


def _instance(instance_id: str, zone: str, launched: float, version: str = "1") -> dict:
    return {"InstanceId": instance_id, "AvailabilityZone": zone, "LifecycleState": asg.IN_SERVICE,
            "LaunchTemplate": {"Version": version}, "_launched": launched, "_subnet": "subnet-" + zone[-1]}


def test_zones_stay_balanced_and_the_oldest_go_first():
    zones = {"subnet-a": "us-east-1a", "subnet-b": "us-east-1b", "subnet-c": "us-east-1c"}
    group_ = {"Instances": [_instance("i-1", "us-east-1a", 1), _instance("i-2", "us-east-1a", 2),
                            _instance("i-3", "us-east-1b", 3)]}
    assert asg.launch_subnet(group_, zones) == "subnet-c"
    group_["Instances"].append(_instance("i-4", "us-east-1c", 4))
    assert asg.launch_subnet(group_, zones) == "subnet-b"
    # the zone with the most first (a has two), then the oldest; then the zones are even again
    assert [i["InstanceId"] for i in asg.select_for_termination(group_, 2)] == ["i-1", "i-2"]
    # an older launch template version goes before an older instance
    group_["Instances"].append(_instance("i-5", "us-east-1b", 5, version="0"))
    assert [i["InstanceId"] for i in asg.select_for_termination(group_, 1)] == ["i-5"]


def test_activities_say_what_auto_scaling_says():
    group_ = {"AutoScalingGroupName": "eks-ng-1", "AutoScalingGroupARN": "arn", "DesiredCapacity": 1,
              "MinSize": 1, "MaxSize": 3, "Instances": [], "_activities": []}
    asg.resize(group_, 0, 3, 2)
    instance = _instance("i-0123", "us-east-1a", 1)
    asg.start_launch(group_, instance, 1, 2)
    launch = group_["_activities"][-1]
    assert launch["Description"] == "Launching a new EC2 instance: i-0123"
    assert re.fullmatch(r"At \S+Z a user request update of AutoScalingGroup constraints to min: 0, max: 3, "
                        r"desired: 2 changing the desired capacity from 1 to 2\.  At \S+Z an instance was started "
                        r"in response to a difference between desired and actual capacity, increasing the "
                        r"capacity from 1 to 2\.", launch["Cause"]), launch["Cause"]
    assert json.loads(launch["Details"]) == {"Subnet ID": "subnet-a", "Availability Zone": "us-east-1a"}
    assert (launch["StatusCode"], launch["Progress"]) == ("InProgress", 0)
    asg.finish(group_, instance)
    assert (launch["StatusCode"], launch["Progress"]) == ("Successful", 100) and launch["EndTime"]
    asg.start_termination(group_, instance, 2, 1)
    leaving = group_["_activities"][-1]
    assert leaving["Description"] == "Terminating EC2 instance: i-0123"
    assert re.fullmatch(r"At \S+Z a user request update of AutoScalingGroup constraints to min: 0, max: 3, "
                        r"desired: 2 changing the desired capacity from 1 to 2\.  At \S+Z an instance was taken out "
                        r"of service in response to a difference between desired and actual capacity, shrinking "
                        r"the capacity from 2 to 1\.  At \S+Z instance i-0123 was selected for termination\.",
                        leaving["Cause"]), leaving["Cause"]
    assert instance["LifecycleState"] == "Terminating:Wait" and leaving["StatusCode"] == "MidLifecycleAction"


def test_names_and_addresses_are_ec2s():
    assert ec2.private_dns_name("10.0.3.7", "us-east-1") == "ip-10-0-3-7.ec2.internal"
    assert ec2.private_dns_name("10.0.3.7", "eu-west-1") == "ip-10-0-3-7.eu-west-1.compute.internal"
    assert INSTANCE_ID.match(ec2.instance_id())
    assert ec2.subnet_layout(["subnet-x", "subnet-y"], ["subnet-y", "subnet-z"], "eu-west-1") == {
        "subnet-y": ("eu-west-1b", 1), "subnet-z": ("eu-west-1c", 2)}
    taken = {str(a) for a in ec2.subnet_cidr(1).hosts()} - {"10.0.16.77"}
    assert ec2.private_ip(1, taken) == "10.0.16.77"


def _refused(call, *args) -> str:
    with pytest.raises(AwsError) as e:
        call(*args)
    assert e.value.code == "InvalidParameterException"
    return e.value.message


def test_configuration_is_checked_as_eks_checks_it():
    assert config.new_scaling(None, "c", "n") == {"minSize": 2, "maxSize": 2, "desiredSize": 2}
    assert _refused(config.new_scaling, {"minSize": 3, "maxSize": 2, "desiredSize": 2}, "c", "n") == \
        "minSize can't be greater than maxSize"
    assert _refused(config.new_scaling, {"minSize": 1, "maxSize": 2, "desiredSize": 3}, "c", "n") == \
        "desiredSize can't be greater than maxSize"
    assert _refused(config.changed_scaling, {"minSize": 1, "maxSize": 4, "desiredSize": 2}, {"minSize": 3},
                    "c", "n") == "Minimum capacity 3 can't be greater than desired size 2"
    assert _refused(config.check_labels, {"eks.amazonaws.com/x": "y"}, "c", "n").startswith(
        "Label cannot contain reserved prefixes")
    assert _refused(config.check_labels, {"node.kubernetes.io/x": "y"}, "c", "n").startswith("Label cannot")
    assert _refused(config.check_taints, [{"key": "k", "effect": "NoSchedule"}], "c", "n").startswith(
        "Taint effect NoSchedule is invalid")
    assert _refused(config.update_config, {"maxUnavailable": 3}, {"maxSize": 2}, "c", "n") == \
        "max-unavailable must be within the range 1 and max size of the node group"
    assert config.default_ami_type("1.32", "t3.medium") == "AL2023_x86_64_STANDARD"
    assert config.default_ami_type("1.32", "m6g.large") == "AL2023_ARM_64_STANDARD"
    assert config.default_ami_type("1.29", "t3.medium") == "AL2_x86_64"
    assert config.merge_taints([{"key": "a", "effect": "NO_SCHEDULE"}, {"key": "b", "effect": "NO_EXECUTE"}],
                               [{"key": "a", "value": "2", "effect": "NO_SCHEDULE"}],
                               [{"key": "b", "effect": "NO_EXECUTE"}]) == [
        {"key": "a", "value": "2", "effect": "NO_SCHEDULE"}]


# with clusters


def test_nodes_join_with_eks_labels_taints_and_capacity(eks):
    cluster(eks)
    client = eks.client()
    made = nodegroup(eks, "gpu", instanceTypes=["t3.large"], labels={"team": "ml"},
                     taints=[{"key": "dedicated", "value": "gpu", "effect": "NO_SCHEDULE"}],
                     scalingConfig={"minSize": 1, "maxSize": 3, "desiredSize": 2}, tags={"owner": "ml"})
    assert (made["status"], made["amiType"], made["capacityType"], made["diskSize"]) == (
        "ACTIVE", "AL2023_x86_64_STANDARD", "ON_DEMAND", 20)
    assert made["version"] == "1.32" and made["releaseVersion"].startswith("1.32.")
    assert made["updateConfig"] == {"maxUnavailable": 1} and made["health"] == {"issues": []}
    assert re.fullmatch(rf"arn:aws:eks:us-east-1:{eks.eks.account}:nodegroup/demo/gpu/[0-9a-f-]{{36}}",
                        made["nodegroupArn"])
    group_name = made["resources"]["autoScalingGroups"][0]["name"]
    assert group_name == "eks-gpu-" + made["nodegroupArn"].rsplit("/", 1)[1]
    assert client.list_nodegroups(clusterName="demo")["nodegroups"] == ["gpu"]

    found = nodes(eks)
    assert len(found) == 2 and all(is_ready(n) for n in found.values())
    image = ec2.ami_id("us-east-1", "AL2023_x86_64_STANDARD", made["releaseVersion"])
    zones = set()
    described = group(eks, "gpu")
    ids = {i["InstanceId"]: i for i in described["Instances"]}
    for name, node in found.items():
        x, y = NODE_NAME.match(name).groups()
        labels, zone = node["metadata"]["labels"], node["metadata"]["labels"]["topology.kubernetes.io/zone"]
        zones.add(zone)
        assert {k: labels[k] for k in ("eks.amazonaws.com/nodegroup", "eks.amazonaws.com/capacityType",
                                       "eks.amazonaws.com/nodegroup-image", "node.kubernetes.io/instance-type",
                                       "topology.kubernetes.io/region", "team")} == {
            "eks.amazonaws.com/nodegroup": "gpu", "eks.amazonaws.com/capacityType": "ON_DEMAND",
            "eks.amazonaws.com/nodegroup-image": image, "node.kubernetes.io/instance-type": "t3.large",
            "topology.kubernetes.io/region": "us-east-1", "team": "ml"}
        assert node["spec"]["taints"] == [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]
        capacity, allocatable = node["status"]["capacity"], node["status"]["allocatable"]
        assert (capacity["cpu"], capacity["memory"], capacity["pods"], capacity["ephemeral-storage"]) == (
            "2", "8Gi", "35", "20Gi")
        assert (allocatable["cpu"], allocatable["memory"]) == ("1930m", "7452Mi")  # 8192Mi less 255Mi + 11Mi a pod, less 100Mi
        zone_of, instance_id = re.fullmatch(r"aws:///(us-east-1[ab])/(i-0[0-9a-f]{16})",
                                            node["spec"]["providerID"]).groups()
        assert zone_of == zone and ids[instance_id]["AvailabilityZone"] == zone
        assert {a["type"]: a["address"] for a in node["status"]["addresses"]} == {
            "InternalIP": f"10.0.{x}.{y}", "InternalDNS": name, "Hostname": name}
    assert zones == {"us-east-1a", "us-east-1b"}  # spread over the subnets' zones

    assert (described["AutoScalingGroupName"], described["MinSize"], described["MaxSize"],
            described["DesiredCapacity"]) == (group_name, 1, 3, 2)
    assert described["VPCZoneIdentifier"] == ",".join(SUBNETS)
    assert described["AvailabilityZones"] == ["us-east-1a", "us-east-1b"]
    assert {t["Key"]: t["Value"] for t in described["Tags"]}["eks:nodegroup-name"] == "gpu"
    assert all(i["LifecycleState"] == "InService" and i["HealthStatus"] == "Healthy" for i in ids.values())
    launched = activities(eks, group_name)
    assert sorted(a["Description"] for a in launched) == sorted(
        f"Launching a new EC2 instance: {i}" for i in ids)
    assert all(a["StatusCode"] == "Successful" and a["Progress"] == 100 for a in launched)
    assert "a user request created an AutoScalingGroup changing the desired capacity from 0 to 2" in \
        launched[0]["Cause"]

    # the wrong ways, answered as EKS answers them
    assert error_of(client.create_nodegroup, clusterName="demo", nodegroupName="gpu", nodeRole=NODE_ROLE,
                    subnets=SUBNETS) == {
        "Code": "ResourceInUseException",
        "Message": "NodeGroup already exists with name gpu and cluster name demo"}
    assert error_of(client.create_nodegroup, clusterName="demo", nodegroupName="x", nodeRole=NODE_ROLE,
                    subnets=SUBNETS, scalingConfig={"minSize": 3, "maxSize": 2, "desiredSize": 2}) == {
        "Code": "InvalidParameterException", "Message": "minSize can't be greater than maxSize"}
    assert error_of(client.create_nodegroup, clusterName="demo", nodegroupName="x", nodeRole="not-a-role",
                    subnets=SUBNETS)["Code"] == "InvalidParameterException"
    assert error_of(client.create_nodegroup, clusterName="demo", nodegroupName="x", nodeRole=NODE_ROLE,
                    subnets=SUBNETS, instanceTypes=["m5.huge"]) == {
        "Code": "InvalidParameterException",
        "Message": "[m5.huge] is not a valid instance type for requested amiType AL2023_x86_64_STANDARD"}
    assert error_of(client.create_nodegroup, clusterName="nope", nodegroupName="x", nodeRole=NODE_ROLE,
                    subnets=SUBNETS) == {"Code": "ResourceNotFoundException",
                                         "Message": "No cluster found for name: nope."}
    assert error_of(client.describe_nodegroup, clusterName="demo", nodegroupName="nope") == {
        "Code": "ResourceNotFoundException", "Message": "No node group found for name: nope."}
    assert error_of(client.delete_cluster, name="demo")["Code"] == "ResourceInUseException"

    # labels and taints changed on the running nodes
    update = client.update_nodegroup_config(
        clusterName="demo", nodegroupName="gpu",
        labels={"addOrUpdateLabels": {"tier": "batch"}, "removeLabels": ["team"]},
        taints={"addOrUpdateTaints": [{"key": "spot", "value": "yes", "effect": "PREFER_NO_SCHEDULE"}],
                "removeTaints": [{"key": "dedicated", "value": "gpu", "effect": "NO_SCHEDULE"}]})["update"]
    assert (update["type"], update["status"]) == ("ConfigUpdate", "InProgress")
    assert {p["type"]: json.loads(p["value"]) for p in update["params"]} == {
        "LabelsToAdd": {"tier": "batch"}, "LabelsToRemove": ["team"],
        "TaintsToAdd": [{"key": "spot", "value": "yes", "effect": "PREFER_NO_SCHEDULE"}],
        "TaintsToRemove": [{"key": "dedicated", "value": "gpu", "effect": "NO_SCHEDULE"}]}
    updated = active(eks, "gpu")
    assert updated["labels"] == {"tier": "batch"}
    assert updated["taints"] == [{"key": "spot", "value": "yes", "effect": "PREFER_NO_SCHEDULE"}]
    done = client.describe_update(name="demo", updateId=update["id"], nodegroupName="gpu")["update"]
    assert done["status"] == "Successful"
    assert client.list_updates(name="demo", nodegroupName="gpu")["updateIds"] == [update["id"]]
    for node in nodes(eks).values():
        assert node["metadata"]["labels"]["tier"] == "batch" and "team" not in node["metadata"]["labels"]
        assert node["spec"]["taints"] == [{"key": "spot", "value": "yes", "effect": "PreferNoSchedule"}]

    # deleted: its nodes drained and gone, then its Auto Scaling group and agent
    record = agent(eks.eks, "demo", "gpu").proc()
    assert record is not None and record.alive()
    assert client.delete_nodegroup(clusterName="demo", nodegroupName="gpu")["nodegroup"]["status"] == "DELETING"
    client.get_waiter("nodegroup_deleted").wait(clusterName="demo", nodegroupName="gpu", WaiterConfig=FAST)
    assert nodes(eks) == {} and not record.alive()
    assert eks.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"] == []
    assert client.list_nodegroups(clusterName="demo")["nodegroups"] == []



def pods_by_node(svc, app: str = "web") -> dict[str, list[str]]:
    listing = json.loads(kubectl(svc, "get", "pods", "-l", f"app={app}", "-o", "json"))
    out: dict[str, list[str]] = {}
    for pod in listing["items"]:
        if not pod["metadata"].get("deletionTimestamp") and pod["spec"].get("nodeName"):
            out.setdefault(pod["spec"]["nodeName"], []).append(pod["metadata"]["name"])
    return out


def guarded(svc, name: str, replicas: int, spread: bool = False) -> None:
    """A Deployment and a PodDisruptionBudget that lets none of its pods go (minAvailable: all of them),
    once the budget counts them all healthy. `spread`: one pod a node."""
    labels = {"app": name}
    pod: dict = {"containers": [{"name": name, "image": "nginx"}]}
    if spread:
        pod["affinity"] = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": labels}, "topologyKey": "kubernetes.io/hostname"}]}}
    meta = {"name": name, "namespace": "default"}
    kubectl(svc, "apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
         "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels}, "spec": pod}}},
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta,
         "spec": {"minAvailable": replicas, "selector": {"matchLabels": labels}}}]}))
    until(lambda: json.loads(kubectl(svc, "get", "pdb", name, "-o", "json")).get("status", {}).get(
        "currentHealthy") == replicas, f"{replicas} healthy pods of {name}")


def test_scaling_launches_and_drains_respecting_disruption_budgets(eks):
    cluster(eks)
    client = eks.client()
    nodegroup(eks, "workers", scalingConfig={"minSize": 0, "maxSize": 3, "desiredSize": 2})
    group_name = group(eks, "workers")["AutoScalingGroupName"]

    client.update_nodegroup_config(clusterName="demo", nodegroupName="workers", scalingConfig={"desiredSize": 3})
    assert active(eks, "workers")["scalingConfig"] == {"minSize": 0, "maxSize": 3, "desiredSize": 3}
    found = nodes(eks)
    assert len(found) == 3 and all(is_ready(n) for n in found.values())
    assert {n["metadata"]["labels"]["topology.kubernetes.io/zone"] for n in found.values()} == {
        "us-east-1a", "us-east-1b"}
    third = next(a for a in activities(eks, group_name) if "increasing the capacity from 2 to 3" in a["Cause"])
    assert "a user request update of AutoScalingGroup constraints to min: 0, max: 3, desired: 3 changing " \
           "the desired capacity from 2 to 3" in third["Cause"] and third["StatusCode"] == "Successful"

    # one pod per node, and a budget that allows none of them to go
    guarded(eks, "web", 3, spread=True)
    assert len(pods_by_node(eks)) == 3
    # UPDATING while the two nodes taken out of service wait for their pods to go
    update = client.update_nodegroup_config(clusterName="demo", nodegroupName="workers",
                                            scalingConfig={"desiredSize": 1})["update"]
    until(lambda: len([n for n, node in nodes(eks).items() if node["spec"].get("unschedulable")]) == 2,
          "two nodes cordoned")
    leaving = [n for n, node in nodes(eks).items() if node["spec"].get("unschedulable")]
    waiting = [i for i in group(eks, "workers")["Instances"] if i["LifecycleState"] == "Terminating:Wait"]
    assert len(waiting) == 2
    assert {a["StatusCode"] for a in activities(eks, group_name) if a["Description"].startswith("Terminating")} \
        == {"MidLifecycleAction"}
    assert client.describe_nodegroup(clusterName="demo", nodegroupName="workers")["nodegroup"]["status"] == \
        "UPDATING"
    on_nodes = pods_by_node(eks)
    assert all(on_nodes.get(n) for n in leaving)  # the budget keeps the pods where they are
    refused = error_of(client.update_nodegroup_config, clusterName="demo", nodegroupName="workers",
                       scalingConfig={"desiredSize": 2})
    assert refused == {"Code": "ResourceInUseException",
                       "Message": "Nodegroup cannot be updated as it is currently not in Active State"}

    kubectl(eks, "patch", "pdb", "web", "--type", "merge", "-p", '{"spec": {"minAvailable": 1}}')
    active(eks, "workers")
    left = nodes(eks)
    assert len(left) == 1 and not set(left) & set(leaving)
    assert client.describe_update(name="demo", updateId=update["id"], nodegroupName="workers")["update"][
        "status"] == "Successful"
    terminated = [a for a in activities(eks, group_name) if a["Description"].startswith("Terminating")]
    assert len(terminated) == 2 and {a["StatusCode"] for a in terminated} == {"Successful"}
    assert all("shrinking the capacity from 3 to 1" in a["Cause"] for a in terminated)

    # to zero (the budget would keep the last pod: it goes first), then back to one through Auto Scaling
    kubectl(eks, "delete", "pdb", "web")
    client.update_nodegroup_config(clusterName="demo", nodegroupName="workers", scalingConfig={"desiredSize": 0})
    active(eks, "workers")
    assert nodes(eks) == {} and group(eks, "workers")["Instances"] == []
    eks.client("autoscaling").set_desired_capacity(AutoScalingGroupName=group_name, DesiredCapacity=1)
    assert client.describe_nodegroup(clusterName="demo", nodegroupName="workers")["nodegroup"][
        "scalingConfig"]["desiredSize"] == 1
    until(lambda: [i for i in group(eks, "workers")["Instances"] if i["LifecycleState"] == "InService"],
          "an instance in service")
    assert [is_ready(n) for n in nodes(eks).values()] == [True]


def test_version_update_replaces_every_node(eks):
    cluster(eks)
    client = eks.client()
    old = nodegroup(eks, "workers", releaseVersion="1.32.0-20241201",
                    scalingConfig={"minSize": 2, "maxSize": 2, "desiredSize": 2})
    before = set(nodes(eks))
    update = client.update_nodegroup_version(clusterName="demo", nodegroupName="workers")["update"]
    assert {p["type"]: p["value"] for p in update["params"]} == {"Version": "1.32",
                                                                  "ReleaseVersion": ec2.release_version("1.32")}
    upgraded = active(eks, "workers")
    assert (old["releaseVersion"], upgraded["releaseVersion"]) == ("1.32.0-20241201", ec2.release_version("1.32"))
    after = nodes(eks)
    assert len(after) == 2 and not before & set(after)
    image = ec2.ami_id("us-east-1", "AL2023_x86_64_STANDARD", upgraded["releaseVersion"])
    assert {n["metadata"]["labels"]["eks.amazonaws.com/nodegroup-image"] for n in after.values()} == {image}
    described = group(eks, "workers")
    assert described["MaxSize"] == 2 and len(described["Instances"]) == 2
    assert {i["LaunchTemplate"]["Version"] for i in described["Instances"]} == {"2"}
    assert client.describe_update(name="demo", updateId=update["id"], nodegroupName="workers")["update"][
        "status"] == "Successful"
    assert error_of(client.update_nodegroup_version, clusterName="demo", nodegroupName="workers")["Code"] == \
        "InvalidParameterException"



def test_version_update_fails_on_a_budget_unless_forced(eks, monkeypatch):
    monkeypatch.setattr(drain, "UPDATE_TIMEOUT", 2.0)  # EKS gives a node 15 minutes
    cluster(eks)
    client = eks.client()
    nodegroup(eks, "db", releaseVersion="1.32.0-20241201", scalingConfig={"minSize": 1, "maxSize": 1,
                                                                          "desiredSize": 1})
    (old_node,) = nodes(eks)
    guarded(eks, "db", 1)

    update = client.update_nodegroup_version(clusterName="demo", nodegroupName="db")["update"]
    failed = active(eks, "db")
    assert failed["releaseVersion"] == "1.32.0-20241201"
    detail = client.describe_update(name="demo", updateId=update["id"], nodegroupName="db")["update"]
    assert detail["status"] == "Failed" and detail["errors"] == [{
        "errorCode": "PodEvictionFailure", "resourceIds": [old_node],
        "errorMessage": "Reached max retries while trying to evict pods from nodes in node group db"}]
    left = nodes(eks)
    assert list(left) == [old_node] and not left[old_node]["spec"].get("unschedulable")  # as it was
    assert len(group(eks, "db")["Instances"]) == 1

    forced = client.update_nodegroup_version(clusterName="demo", nodegroupName="db", force=True)["update"]
    assert active(eks, "db")["releaseVersion"] == ec2.release_version("1.32")
    assert client.describe_update(name="demo", updateId=forced["id"], nodegroupName="db")["update"][
        "status"] == "Successful"
    (new_node,) = nodes(eks)
    assert new_node != old_node
    until(lambda: pods_by_node(eks, "db").keys() == {new_node}, "the pod on the new node")


def test_aws_cli_flow_and_restart(tmp_path):
    home = tmp_path / "eks"
    with EksService(home) as svc:
        cluster(svc, "seed")
        svc.aws("eks", "create-nodegroup", "--cluster-name", "seed", "--nodegroup-name", "cli",
                    "--node-role", NODE_ROLE, "--subnets", *SUBNETS, "--instance-types", "m5.large",
                    "--scaling-config", "minSize=0,maxSize=2,desiredSize=1", "--labels", "role=web")
        status = lambda: svc.aws("eks", "describe-nodegroup", "--cluster-name", "seed",  # noqa: E731
                                     "--nodegroup-name", "cli", "--query", "nodegroup.status",
                                     "--output", "text").stdout.strip()
        until(lambda: status() == "ACTIVE", "the node group ACTIVE")
        svc.aws("eks", "update-nodegroup-config", "--cluster-name", "seed", "--nodegroup-name", "cli",
                    "--scaling-config", "desiredSize=2")
        until(lambda: status() == "ACTIVE", "the node group ACTIVE again")
        group_name = svc.aws_json("eks", "describe-nodegroup", "--cluster-name", "seed", "--nodegroup-name",
                                      "cli")["nodegroup"]["resources"]["autoScalingGroups"][0]["name"]
        described = svc.aws_json("autoscaling", "describe-auto-scaling-groups",
                                     "--auto-scaling-group-names", group_name)["AutoScalingGroups"][0]
        assert [i["LifecycleState"] for i in described["Instances"]] == ["InService", "InService"]
        history = svc.aws_json("autoscaling", "describe-scaling-activities", "--auto-scaling-group-name",
                                   group_name)["Activities"]
        assert [a["Description"].split(":")[0] for a in history] == ["Launching a new EC2 instance"] * 2
        assert all(a["StatusCode"] == "Successful" for a in history)
        names = set(nodes(svc, "seed"))
        record = agent(svc.eks, "seed", "cli").proc()
        assert record is not None and record.alive()
    assert not record.alive()  # the service's stop stops the nodes

    with EksService(home) as svc:  # and its start brings them back
        assert agent(svc.eks, "seed", "cli").running()
        until(lambda: (found := nodes(svc, "seed")) and set(found) == names and all(map(is_ready, found.values())),
              "the nodes Ready again")
        svc.aws("eks", "delete-nodegroup", "--cluster-name", "seed", "--nodegroup-name", "cli")
        until(lambda: svc.aws("eks", "describe-nodegroup", "--cluster-name", "seed", "--nodegroup-name", "cli",
                                  check=False).returncode != 0, "the node group gone")
        assert "No node group found for name: cli." in svc.aws(
            "eks", "describe-nodegroup", "--cluster-name", "seed", "--nodegroup-name", "cli", check=False).stderr
        assert nodes(svc, "seed") == {}


def test_record_names_only_the_agent(tmp_path):
    """The agent's record is its pid and start time, so that a reused pid is never signalled."""
    process = AgentProcess(str(tmp_path))
    assert process.proc() is None and not process.running()
    (tmp_path / "agent.json").write_text(json.dumps({"role": "eks-nodes", "pid": 1, "start": -1}))
    assert process.proc() == Proc("eks-nodes", 1, -1) and not process.running()
